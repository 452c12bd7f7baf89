"""The lore adapter: the only module that knows b4.

b4 (pinned) fetches the thread from a public-inbox archive through its lore
node, splits and de-duplicates it, keeps the strict thread of the message
asked for, and sorts it into revisions and follow-up trailers, including the
code-review trailers its archive search finds for the same patch-id.

b4 keeps global state (configuration, a lore node, an HTTP session) and reads
git configuration and cache directories.  Every call here runs b4 in an
isolated environment: a throw-away git configuration that names the archive,
turns attestation off and bounds every request's time, throw-away cache and
data directories, and b4's globals reset before and restored after.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import ReviewkitError

DEFAULT_ARCHIVE = "https://lore.kernel.org/all"
LINK_HOSTS = ("patch.msgid.link", "lkml.kernel.org", "msgid.link")
_MSGID = re.compile(r"^<?(?:id:|rfc822msgid:)?([^\s<>/]+@[^\s<>/]+)>?$")


class LoreError(ReviewkitError):
    """Fetching failed: names the Message-ID and the URL tried."""

    def __init__(self, msgid: str, problem: str, url: str | None = None):
        super().__init__(msgid, problem + (f" ({url})" if url else ""))


@dataclass(frozen=True)
class Target:
    msgid: str
    archive: str  # https://host/list, no trailing slash

    @property
    def thread_url(self) -> str:
        return f"{self.archive}/{urllib.parse.quote(self.msgid, safe='@')}/t.mbox.gz"


def normalise_archive(url: str, label: str = "--lore-url") -> str:
    url = url.strip()
    if url.endswith("%s"):
        url = url[:-2]
    url = url.rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ReviewkitError(label, f"{url!r} is not an http(s) archive URL")
    if not parts.path.strip("/"):
        url += "/all"  # as b4 does for a bare host
    return url


def git_midmask(cwd: Path | None = None) -> str | None:
    """b4.midmask from the user's own git configuration, when set."""
    try:
        out = subprocess.run(["git", "config", "--get", "b4.midmask"], cwd=cwd,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def choose_archive(cli: str | None, config_url: str | None, cwd: Path | None = None) -> str:
    """--lore-url, then $REVIEWKIT_LORE_URL, then the config file, then b4.midmask."""
    for label, value in (("--lore-url", cli), ("REVIEWKIT_LORE_URL",
                                               os.environ.get("REVIEWKIT_LORE_URL")),
                         ("lore-url", config_url)):
        if value:
            return normalise_archive(value, label)
    midmask = git_midmask(cwd)
    if midmask:
        return normalise_archive(midmask, "b4.midmask")
    return DEFAULT_ARCHIVE


def parse_target(source: str, archive: str) -> Target | None:
    """A Message-ID, a lore-style URL on any host, or a msgid.link URL; else None."""
    s = source.strip()
    if s.startswith(("http://", "https://")):
        u = urllib.parse.urlsplit(s)
        parts = [urllib.parse.unquote(p) for p in u.path.split("/") if p]
        at = next((i for i, p in enumerate(parts) if "@" in p), None)
        if at is None:
            return None
        msgid = parts[at]
        if u.netloc in LINK_HOSTS or (at >= 1 and parts[at - 1] in ("r", "p")):
            return Target(msgid=msgid, archive=archive)
        listname = parts[at - 1] if at >= 1 else "all"
        return Target(msgid=msgid, archive=f"{u.scheme}://{u.netloc}/{listname}")
    m = _MSGID.match(s)
    if m and "{" not in s:
        return Target(msgid=m.group(1), archive=archive)
    return None


@dataclass(frozen=True)
class Thread:
    target: Target
    mbox: bytes  # mboxrd, the strict thread of the message asked for
    revisions: tuple[int, ...]
    trailers: dict  # patch Message-ID -> [[kind, name, email, from Message-ID], ...] per b4
    cached_at: float | None = None  # when the cached copy used was fetched; None: fetched now


def _quiet_loggers() -> None:
    for name in ("b4", "liblore", "urllib3"):
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False


@contextlib.contextmanager
def isolated_b4(archive: str, timeout: float):
    """b4 configured for one archive, with nothing read from or left in the user's setup."""
    import b4

    _quiet_loggers()
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(archive))
    with tempfile.TemporaryDirectory(prefix="reviewkit-b4-") as tmp:
        gitconfig = Path(tmp) / "gitconfig"
        gitconfig.write_text(
            "[b4]\n"
            f"\tmidmask = {archive}/%s\n"
            f"\tlinkmask = {archive}/%s\n"
            "\tattestation-policy = off\n"
            "\tattestation-check-dkim = no\n"
            "\tcache-expire = 0\n"
            f'[liblore "{origin}"]\n'
            f"\trequesttimeout = {timeout},{timeout}\n"
            f"\tprobetimeout = {timeout}\n"
            "\tautoprobe = false\n"
            "\tfollowupstream = false\n"
            "[user]\n\tname = reviewkit\n\temail = reviewkit@localhost\n")
        env = {"GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
               "XDG_CACHE_HOME": f"{tmp}/cache", "XDG_DATA_HOME": f"{tmp}/data",
               "XDG_CONFIG_HOME": f"{tmp}/config"}
        dropped = ("GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
                   "GIT_CONFIG_COUNT")
        saved_env = {k: os.environ.get(k) for k in (*env, *dropped)}
        saved = (b4.MAIN_CONFIG, b4.USER_CONFIG, b4.LORENODE, b4.REQSESSION, b4.can_network)
        os.environ.update(env)
        for k in dropped:
            os.environ.pop(k, None)
        b4.MAIN_CONFIG, b4.USER_CONFIG = {}, {}
        b4.LORENODE, b4.REQSESSION, b4.can_network = None, None, True
        try:
            b4.setup_config(argparse.Namespace(config={}), topdir=tmp)
            yield b4
        finally:
            node = b4.LORENODE
            if node is not None:
                with contextlib.suppress(Exception):
                    node.close()
            (b4.MAIN_CONFIG, b4.USER_CONFIG, b4.LORENODE, b4.REQSESSION,
             b4.can_network) = saved
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _why(exc: BaseException, timeout: float) -> str:
    """What went wrong under a liblore RemoteError, in a few words."""
    import requests

    status = getattr(exc, "status_code", None)
    if status == 404:
        return "no such message on the archive (HTTP 404)"
    if status is not None:
        return f"the archive answered HTTP {status}"
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        text = str(cause)
        if isinstance(cause, requests.Timeout) or "timed out" in text.lower():
            return f"timed out after {timeout:g} s"
        if "Name or service not known" in text or "NameResolution" in text \
                or "getaddrinfo" in text or "Temporary failure in name resolution" in text:
            return "cannot resolve the archive's host name"
        if "Connection refused" in text or "ConnectionRefused" in text:
            return "connection refused"
        if "RemoteDisconnected" in text or "closed connection without response" in text \
                or "Connection reset" in text:
            return "the archive closed the connection without an answer"
        if isinstance(cause, requests.ConnectionError):
            return "cannot connect to the archive"
        cause = cause.__cause__ or cause.__context__
    return f"fetch failed: {exc}"


def _mbox(msgs) -> bytes:
    from reviewkit.parse.mbox import join_messages

    return join_messages(m.as_bytes(policy=m.policy.clone(linesep="\n")) for m in msgs)


def fetch_thread(target: Target, *, timeout: float = 5.0, cache=None, refresh: bool = False,
                 offline: bool = False, ttl: float = 600.0) -> Thread:
    if cache is not None and not refresh:
        entry = cache.get(target.archive, target.msgid)
        if entry is not None and (offline or time.time() - entry.fetched < ttl):
            return Thread(target=target, mbox=entry.mbox,
                          revisions=tuple(entry.meta.get("revisions", ())),
                          trailers=entry.meta.get("trailers", {}), cached_at=entry.fetched)
    if offline:
        raise LoreError(target.msgid, "not in the cache, and --offline forbids fetching",
                        target.thread_url)
    import liblore

    with isolated_b4(target.archive, timeout) as b4:
        node = b4.get_lore_node()
        try:
            raw = node.get_mbox_by_msgid(target.msgid, nocache=True)
        except liblore.RemoteError as exc:
            raise LoreError(target.msgid, _why(exc, timeout), target.thread_url) from None
        except (EOFError, zlib.error, OSError) as exc:
            raise LoreError(target.msgid, f"the thread mbox is truncated or not gzip ({exc})",
                            target.thread_url) from None
        except liblore.LibloreError as exc:
            raise LoreError(target.msgid, f"fetch failed: {exc}", target.thread_url) from None
        msgs = b4.split_and_dedupe_pi_results(raw) if raw else []
        strict = b4.get_strict_thread(msgs, target.msgid) if msgs else None
        if not strict:
            raise LoreError(target.msgid, "the archive returned no message of that thread",
                            target.thread_url)
        revisions, trailers = _what_b4_knows(b4, strict)
    thread = Thread(target=target, mbox=_mbox(strict), revisions=revisions, trailers=trailers)
    if cache is not None:
        cache.put(target.archive, target.msgid, target.thread_url, thread.mbox,
                  {"revisions": list(revisions), "trailers": trailers})
    return thread


def _what_b4_knows(b4, msgs) -> tuple[tuple[int, ...], dict]:
    """Revisions in the thread, and b4's follow-up trailers per patch (newest revision
    with its archive search for code-review trailers by patch-id)."""
    lmbx = b4.LoreMailbox()
    for m in msgs:
        lmbx.add_message(m)
    revisions = tuple(sorted(lmbx.series))
    trailers: dict[str, list[list[str]]] = {}
    newest = lmbx.get_latest_revision()
    for rev in revisions:
        try:
            lser = lmbx.get_series(rev, codereview_trailers=(rev == newest))
        except Exception:  # noqa: BLE001 - b4's extras are a bonus, never a failure
            lser = None
        if lser is None:
            continue
        for lmsg in lser.patches[1:]:
            if lmsg is None:
                continue
            got = []
            for t in lmsg.followup_trailers:
                if getattr(t, "type", "") != "person" or not t.addr:
                    continue
                src = t.lmsg.msgid if getattr(t, "lmsg", None) is not None else ""
                got.append([t.name, t.addr[0], t.addr[1].lower(), src])
            trailers[lmsg.msgid] = got
    return revisions, trailers


@dataclass(frozen=True)
class SearchResult:
    query: str
    url: str
    mbox: bytes  # mboxrd: every message of every thread the search found
    cached_at: float | None = None


def search(query: str, archive: str, *, timeout: float = 5.0, cache=None,
           refresh: bool = False, offline: bool = False, ttl: float = 600.0) -> SearchResult:
    """The whole threads of the messages a public-inbox search finds, with b4's
    search (cached like fetched threads).  No hit is an empty result, not an error."""
    key = f"search:{query}"
    url = f"{archive}/?x=m&t=1&q={urllib.parse.quote_plus(query)}"
    if cache is not None and not refresh:
        entry = cache.get(archive, key)
        if entry is not None and (offline or time.time() - entry.fetched < ttl):
            return SearchResult(query, url, entry.mbox, cached_at=entry.fetched)
    if offline:
        raise LoreError(f"query {query!r}", "not in the cache, and --offline forbids searching",
                        url)
    import liblore

    with isolated_b4(archive, timeout) as b4:
        node = b4.get_lore_node()
        try:
            raw = node.get_mbox_by_query(query, full_threads=True, nocache=True)
        except liblore.RemoteError as exc:
            if getattr(exc, "status_code", None) != 404:
                raise LoreError(f"query {query!r}", _why(exc, timeout), url) from None
            raw = b""
        except (EOFError, zlib.error, OSError) as exc:
            raise LoreError(f"query {query!r}", f"the search results are truncated or not "
                                                f"gzip ({exc})", url) from None
        except liblore.LibloreError as exc:
            raise LoreError(f"query {query!r}", f"search failed: {exc}", url) from None
        msgs = b4.split_and_dedupe_pi_results(raw) if raw else []
    result = SearchResult(query, url, _mbox(msgs))
    if cache is not None:
        cache.put(archive, key, url, result.mbox, {"query": query, "messages": len(msgs)})
    return result
