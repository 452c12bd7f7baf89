"""No connection leaves 127.0.0.1: sockets and name lookups are checked before the call.

Installed in the test process by conftest.py and in every child Python process
the tests start (this directory on PYTHONPATH runs sitecustomize.py).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NetworkGuardError(ConnectionRefusedError):
    """A test tried to reach beyond the loopback interface."""


def allowed(host) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    host = host.strip("[]").split("%", 1)[0]
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _record(what: str) -> None:
    log = os.environ.get("REVIEWKIT_NETGUARD_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fp:
            fp.write(what + "\n")


def install() -> None:
    if getattr(socket, "_reviewkit_guarded", False):
        return
    orig_connect = socket.socket.connect
    orig_connect_ex = socket.socket.connect_ex
    orig_getaddrinfo = socket.getaddrinfo

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not allowed(host):
                _record(f"connect {address!r}")
                raise NetworkGuardError(f"network guard: connection to {address!r} refused "
                                        "(tests reach 127.0.0.1 only)")

    def connect(self, address):
        check(self, address)
        return orig_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return orig_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not allowed(host):
            _record(f"resolve {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"network guard: no lookup of {host!r}")
        return orig_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket._reviewkit_guarded = True
    sys.modules[__name__].guarded_connect = connect
