"""A loopback server that answers like public-inbox for the paths b4 asks for.

    GET  /<list>/<msgid>/t.mbox.gz    the whole thread holding <msgid>, gzipped mboxrd
    HEAD /<msgid>/                    302 to /<list>/<msgid>/ when known, else 404
    POST /<list>/?x=m[&t=1]&q=...     archive search: the hits (t=1: their whole threads) as a
                                      gzipped mboxrd, or 404 when nothing matches.  Queries are
                                      terms joined by AND: dfn:PATH (the diff touches PATH),
                                      s:WORDS (subject), f:ADDR (From), a bare word (anywhere
                                      in the message); a term of any other kind matches nothing
    anything else                     404

Faults can be set per Message-ID: "404", "500", "503", "slow" (answers after
the client has given up), "truncated" (a gzip cut in half), "reset" (the
connection is closed without an answer).  Every request is recorded.

Hostile answers, for the bounds on a fetch: "bomb" (a small gzip that inflates
to ``bomb_bytes``), "encoded-bomb" (the same behind Content-Encoding: gzip),
"endless" (a body that never ends), "drip" (one byte a second), "slow-headers"
(the status line one byte a second), "redirect-away" (302 to another host),
"redirect-here" (302 to another path on this host, which is then a 404).
The search answers with ``search_fault``, any of the above.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import threading
import time
import urllib.parse
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reviewkit.parse.mbox import join_messages, split_bytes


def _ids(value: str | None) -> list[str]:
    import re

    return re.findall(r"<([^<>\s]+)>", value or "")


@functools.lru_cache(maxsize=4)
def _bomb(size: int) -> bytes:
    """A gzip member of ``size`` zero bytes, built without holding them."""
    import zlib

    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    parts = [comp.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + comp.flush()


class Archive:
    """Threads by Message-ID, built from raw messages (each a bytes object)."""

    def __init__(self, listname: str = "linux-mm"):
        self.listname = listname
        self.messages: dict[str, bytes] = {}
        self.parent: dict[str, str | None] = {}

    def add_mbox(self, data: bytes) -> None:
        for _, raw in split_bytes(data):
            msg = message_from_bytes(raw)
            mid = _ids(msg.get("Message-ID"))[0]
            refs = _ids(msg.get("References"))
            irt = _ids(msg.get("In-Reply-To"))
            self.messages[mid] = raw
            self.parent[mid] = (irt or refs[-1:] or [None])[0]

    def search(self, query: str, whole_threads: bool) -> bytes | None:
        hits = [mid for mid, raw in self.messages.items() if _matches(raw, query)]
        if not hits:
            return None
        if whole_threads:
            roots = {self.root(mid) for mid in hits}
            hits = [mid for mid in self.messages if self.root(mid) in roots]
        return join_messages(self.messages[mid] for mid in hits)

    def root(self, mid: str) -> str:
        seen = set()
        while self.parent.get(mid) in self.messages and mid not in seen:
            seen.add(mid)
            mid = self.parent[mid]
        return mid

    def thread(self, mid: str) -> bytes | None:
        if mid not in self.messages:
            return None
        root = self.root(mid)
        return join_messages(raw for other, raw in self.messages.items()
                             if self.root(other) == root)


def _matches(raw: bytes, query: str) -> bool:
    msg = message_from_bytes(raw)
    text = raw.decode("utf-8", "replace")
    for term in (t.strip() for t in query.split(" AND ")):
        prefix, sep, value = term.partition(":")
        value = value.strip().strip('"')
        if not sep:
            prefix, value = "", term.strip('"')
        if prefix == "dfn":
            ok = f"diff --git a/{value} " in text or f"\n+++ b/{value}\n" in text
        elif prefix == "s":
            ok = value.lower() in str(msg.get("Subject", "")).lower()
        elif prefix == "f":
            ok = value.lower() in str(msg.get("From", "")).lower()
        elif prefix == "":
            ok = value.lower() in text.lower()
        else:
            ok = False
        if not ok:
            return False
    return True


class LoreServer:
    def __init__(self, archive: Archive, slow_seconds: float = 8.0,
                 bomb_bytes: int = 400 << 20):
        self.archive = archive
        self.bomb_bytes = bomb_bytes
        self.faults: dict[str, str] = {}
        self.search_fault: str | None = None
        self.requests: list[tuple[str, str]] = []
        self.slow_seconds = slow_seconds
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain",
                      headers: dict | None = None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _fault(self, name: str) -> bool:
                if name in ("404", "500", "503"):
                    self._send(int(name), b"fault\n")
                elif name == "slow":
                    time.sleep(outer.slow_seconds)
                    self._send(500, b"too late\n")
                elif name == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif name in ("bomb", "encoded-bomb"):
                    body = _bomb(outer.bomb_bytes)
                    headers = {"Content-Encoding": "gzip"} if name == "encoded-bomb" else {}
                    if name == "encoded-bomb":
                        body = gzip.compress(body, compresslevel=1)
                    self._send(200, body, "application/gzip", headers)
                elif name in ("endless", "drip"):
                    self.close_connection = True
                    self.send_response(200)
                    self.send_header("Content-Type", "application/gzip")
                    self.end_headers()
                    piece = b"\x1f" if name == "drip" else b"\0" * 65536
                    with contextlib.suppress(OSError):
                        while True:
                            self.wfile.write(piece)
                            self.wfile.flush()
                            if name == "drip":
                                time.sleep(1)
                elif name == "slow-headers":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 10000:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(1)
                elif name == "redirect-away":
                    self._send(302, headers={"Location": "http://archive.example.net/x/t.mbox.gz"})
                elif name == "redirect-here":
                    self._send(302, headers={"Location": "/elsewhere/t.mbox.gz"})
                else:
                    return False
                return True

            def do_GET(self):
                outer.requests.append(("GET", self.path))
                parts = [urllib.parse.unquote(p) for p in
                         urllib.parse.urlsplit(self.path).path.split("/") if p]
                if len(parts) == 3 and parts[2] == "t.mbox.gz":
                    mid = parts[1]
                    fault = outer.faults.get(mid)
                    if fault == "truncated":
                        data = gzip.compress(outer.archive.thread(mid) or b"x" * 4096)
                        self._send(200, data[: len(data) // 2], "application/gzip")
                        return
                    if fault and self._fault(fault):
                        return
                    thread = outer.archive.thread(mid)
                    if thread is None:
                        self._send(404, b"not found\n")
                        return
                    self._send(200, gzip.compress(thread), "application/gzip")
                    return
                self._send(404, b"not found\n")

            def do_HEAD(self):
                outer.requests.append(("HEAD", self.path))
                parts = [urllib.parse.unquote(p) for p in
                         urllib.parse.urlsplit(self.path).path.split("/") if p]
                if len(parts) == 1 and parts[0] in outer.archive.messages:
                    self._send(302, headers={"Location": f"/{outer.archive.listname}/"
                                                         f"{urllib.parse.quote(parts[0])}/"})
                    return
                self._send(404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(("POST", self.path + "|" + body.decode(errors="replace")))
                if outer.search_fault and self._fault(outer.search_fault):
                    return
                params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                found = outer.archive.search((params.get("q") or [""])[0],
                                             (params.get("t") or [""])[0] == "1")
                if found is None:
                    self._send(404, b"no results\n")
                    return
                self._send(200, gzip.compress(found), "application/gzip")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up (timeouts, resets) is part of the tests

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.archive.listname}"

    def start(self) -> "LoreServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
