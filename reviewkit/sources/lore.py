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
import tempfile
import time
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import ReviewkitError

from reviewkit.sources.archive import DEFAULT_ARCHIVE, choose_archive, git_midmask  # noqa: F401
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


_LISTNAME = re.compile(r"^[A-Za-z0-9._-]+$")
_HOSTNAME = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$|^\[[0-9A-Fa-f:.]+\]$")
_MSGID_CHARS = re.compile(r"^[^\s<>/\\\x00-\x1f\x7f\u0080-\u009f\u200b-\u200f\u202a-\u202e"
                          r"\u2066-\u2069\ufeff]{1,500}$")


def _origin(label: str, url: str, parts: urllib.parse.SplitResult) -> str:
    """scheme://host[:port] of a URL, after checking it is a plain http(s) host."""
    from reviewkit.render.safe import terminal_safe

    shown = terminal_safe(url if len(url) <= 200 else url[:200] + "...")
    if parts.scheme not in ("http", "https"):
        raise ReviewkitError(label, f"{shown!r} is not an http(s) archive URL")
    netloc = parts.netloc
    if not netloc or "@" in netloc or not netloc.isascii():
        raise ReviewkitError(label, f"{shown!r} has no plain host name (user names and "
                                    "non-ASCII hosts are refused)")
    host, _, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if not host:
        host, port = netloc, ""
    if not _HOSTNAME.match(host) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ReviewkitError(label, f"{shown!r} has no valid host[:port]")
    return f"{parts.scheme}://{netloc.lower()}"


def check_list_name(label: str, name: str) -> str:
    if not _LISTNAME.match(name) or set(name) == {"."}:
        from reviewkit.render.safe import terminal_safe

        raise ReviewkitError(label, f"{terminal_safe(name[:80])!r} is not an archive list name "
                                    "(letters, digits, '.', '_' and '-' only)")
    return name


def check_msgid(label: str, msgid: str) -> str:
    if not _MSGID_CHARS.match(msgid) or "@" not in msgid:
        from reviewkit.render.safe import terminal_safe

        raise ReviewkitError(label, f"{terminal_safe(msgid[:80])!r} is not a usable Message-ID")
    return msgid


def normalise_archive(url: str, label: str = "--lore-url") -> str:
    """``scheme://host[:port]/list[/list...]`` from an archive URL, checked: http(s), a
    plain host, path segments that are list names; no query, fragment or user name."""
    url = url.strip()
    if url.endswith("%s"):
        url = url[:-2]
    url = url.rstrip("/")
    parts = urllib.parse.urlsplit(url)
    origin = _origin(label, url, parts)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ReviewkitError(label, f"{url!r} has a query or fragment; an archive URL is "
                                    "scheme://host/list")
    segments = [p for p in parts.path.split("/") if p]
    for seg in segments:
        check_list_name(label, seg)
    return origin + ("/" + "/".join(segments) if segments else "/all")  # as b4 does for a bare host


def parse_target(source: str, archive: str) -> Target | None:
    """A Message-ID, a lore-style URL on any host, or a msgid.link URL; else None.

    Raises ReviewkitError for a URL whose host, list name or Message-ID is unusable:
    a URL pasted from a mail is untrusted text."""
    s = source.strip()
    if s.startswith(("http://", "https://")):
        u = urllib.parse.urlsplit(s)
        origin = _origin(source, s, u)
        parts = [urllib.parse.unquote(p) for p in u.path.split("/") if p]
        at = next((i for i, p in enumerate(parts) if "@" in p), None)
        if at is None:
            return None
        msgid = check_msgid(source, parts[at])
        if u.netloc in LINK_HOSTS or (at >= 1 and parts[at - 1] in ("r", "p")):
            return Target(msgid=msgid, archive=archive)
        listname = check_list_name(source, parts[at - 1]) if at >= 1 else "all"
        return Target(msgid=msgid, archive=f"{origin}/{listname}")
    m = _MSGID.match(s)
    if m and "{" not in s:
        return Target(msgid=check_msgid(source, m.group(1)), archive=archive)
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


# Most decompressed bytes one fetch may bring (the thread mbox, or b4's trailer search).
DEFAULT_FETCH_BYTES = 100 << 20


class FetchRefused(Exception):
    """A response reviewkit will not read: too big, or redirected off the archive's host."""

    def __init__(self, problem: str, url: str):
        super().__init__(problem)
        self.problem = problem
        self.url = url


class _Inflate:
    """Count (and optionally keep) what a chain of decompressors yields, never
    more than ``limit`` bytes: a gzip bomb stops at the limit, not in memory."""

    def __init__(self, encodings: list[str], limit: int, keep: bool = True):
        self.limit = limit
        self.keep = keep
        self.total = 0
        self.out: list[bytes] = []
        self.stages = [self._stage(e) for e in encodings]

    @staticmethod
    def _stage(encoding: str):
        if encoding in ("gzip", "x-gzip"):
            return ["gzip", zlib.decompressobj(47)]
        if encoding == "deflate":
            return ["deflate", zlib.decompressobj(47)]
        raise FetchRefused(f"the archive sent an unknown Content-Encoding {encoding!r}", "")

    def feed(self, data: bytes, url: str) -> None:
        for st in self.stages:
            data = self._run(st, data, url)
        self._emit(data, url)

    def _emit(self, data: bytes, url: str) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise FetchRefused(f"the answer is over {self.limit >> 20} MiB decompressed "
                               "(limits.fetch-bytes)", url)
        if self.keep and data:
            self.out.append(data)

    def _run(self, st, data: bytes, url: str) -> bytes:
        out: list[bytes] = []
        produced = 0
        d = st[1]
        while True:
            if d.eof:
                if not data.strip(b"\0"):  # padding after the last member
                    break
                d = st[1] = zlib.decompressobj(47)  # a further gzip member
            try:
                chunk = d.decompress(data, 1 << 20)
            except zlib.error:
                raise FetchRefused("the answer is not valid gzip", url) from None
            produced += len(chunk)
            if self.total + produced > self.limit:
                raise FetchRefused(f"the answer is over {self.limit >> 20} MiB decompressed "
                                   "(limits.fetch-bytes)", url)
            out.append(chunk)
            if d.unconsumed_tail:
                data = d.unconsumed_tail
            elif d.eof:
                data = d.unused_data
            elif chunk:
                data = b""  # drain output zlib still holds
            else:
                break
        return b"".join(out)


def bounded_session(origin: str, limit: int, progress=None):
    """A requests session that reads at most ``limit`` decompressed bytes per answer
    (a gzip archive body is measured decompressed too), and refuses a redirect off
    ``origin`` (scheme://host:port).  ``progress(url)`` is told each URL before it is
    requested, so a time-out can name the URL actually tried."""
    import requests

    def _origin_of(url: str) -> str:
        u = urllib.parse.urlsplit(url)
        return f"{u.scheme}://{u.netloc}".lower()

    class Session(requests.Session):
        def send(self, request, **kwargs):
            if _origin_of(request.url) != origin:
                raise FetchRefused(f"redirected off the archive's host, to {request.url}; "
                                   "refused", self._last or request.url)
            if request.method != "HEAD":  # HEAD is only liblore's look-up of the list name
                self._last = request.url
                if progress is not None:
                    progress(request.url)
            return super().send(request, **kwargs)

        _last = ""

    def read_body(resp, *args, **kwargs):
        url = resp.url
        encodings = [e.strip().lower() for e in
                     (resp.headers.get("Content-Encoding") or "").split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        length = resp.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > limit:
            raise FetchRefused(f"the answer is over {limit >> 20} MiB (limits.fetch-bytes)", url)
        outer = _Inflate(list(reversed(encodings)), limit)
        inner = None
        try:
            while True:
                chunk = resp.raw.read(1 << 16, decode_content=False)
                if not chunk:
                    break
                outer.feed(chunk, url)
                if inner is None and outer.out and outer.out[0][:2] == b"\x1f\x8b":
                    inner = _Inflate(["gzip"], limit, keep=False)
                    for piece in outer.out:
                        inner.feed(piece, url)
                elif inner is not None:
                    inner.feed(outer.out[-1], url)
        except FetchRefused:
            resp.close()
            raise
        resp._content = b"".join(outer.out)
        resp._content_consumed = True
        # already decoded: nothing for requests to decode again
        resp.headers.pop("Content-Encoding", None)
        return resp

    session = Session()
    session.hooks["response"].append(read_body)
    session.max_redirects = 5
    session.trust_env = False  # no proxy or .netrc from the environment
    return session


def _b4_settings(archive: str, timeout: float) -> dict[str, str]:
    """b4 and liblore settings naming the archive: passed to git through
    GIT_CONFIG_COUNT/KEY/VALUE, so no text from a URL is ever parsed as configuration."""
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(archive))
    per_origin = {"requesttimeout": f"{timeout:g},{timeout:g}", "probetimeout": f"{timeout:g}",
                  "autoprobe": "false", "followupstream": "false"}
    settings = {"b4.midmask": f"{archive}/%s", "b4.linkmask": f"{archive}/%s"}
    settings.update({f"liblore.{origin}.{k}": v for k, v in per_origin.items()})
    return settings


@contextlib.contextmanager
def isolated_b4(archive: str, timeout: float, session=None):
    """b4 configured for one archive, with nothing read from or left in the user's setup."""
    import b4

    _quiet_loggers()
    archive = normalise_archive(archive, "archive")  # never trust a caller's string either
    with tempfile.TemporaryDirectory(prefix="reviewkit-b4-") as tmp:
        gitconfig = Path(tmp) / "gitconfig"
        gitconfig.write_text(
            "[b4]\n"
            "\tattestation-policy = off\n"
            "\tattestation-check-dkim = no\n"
            "\tcache-expire = 0\n"
            "[user]\n\tname = reviewkit\n\temail = reviewkit@localhost\n")
        env = {"GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
               "XDG_CACHE_HOME": f"{tmp}/cache", "XDG_DATA_HOME": f"{tmp}/data",
               "XDG_CONFIG_HOME": f"{tmp}/config"}
        settings = _b4_settings(archive, timeout)
        env["GIT_CONFIG_COUNT"] = str(len(settings))
        for n, (k, v) in enumerate(settings.items()):
            env[f"GIT_CONFIG_KEY_{n}"] = k
            env[f"GIT_CONFIG_VALUE_{n}"] = v
        dropped = ("GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS")
        stale = [k for k in os.environ if k.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))]
        saved_env = {k: os.environ.get(k) for k in (*env, *dropped, *stale)}
        saved = (b4.MAIN_CONFIG, b4.USER_CONFIG, b4.LORENODE, b4.REQSESSION, b4.can_network)
        for k in (*dropped, *stale):
            os.environ.pop(k, None)
        os.environ.update(env)
        b4.MAIN_CONFIG, b4.USER_CONFIG = {}, {}
        b4.LORENODE, b4.REQSESSION, b4.can_network = None, session, True
        try:
            b4.setup_config(argparse.Namespace(config={}), topdir=tmp)
            if session is not None:
                b4.get_lore_node().set_requests_session(session)
            yield b4
        finally:
            node = b4.LORENODE
            if node is not None:
                with contextlib.suppress(Exception):
                    node.close()
            if session is not None:
                with contextlib.suppress(Exception):
                    session.close()
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
        if isinstance(cause, FetchRefused):
            return cause.problem
        if isinstance(cause, requests.TooManyRedirects):
            return "too many redirects"
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
                 offline: bool = False, ttl: float = 600.0,
                 max_bytes: int = DEFAULT_FETCH_BYTES, notes: list | None = None) -> Thread:
    """The thread of ``target``, from the cache or fetched with b4.

    The fetch runs in a child process: ``timeout`` bounds it as a whole (connecting,
    slow headers, a drip-fed body), and b4's archive search for more trailers gets
    ``timeout`` again; a search that runs out is dropped with a note.  At most
    ``max_bytes`` decompressed bytes are read from any answer."""
    if cache is not None and not refresh:
        entry = cache.get(target.archive, target.msgid)
        if entry is not None and (offline or time.time() - entry.fetched < ttl):
            return Thread(target=target, mbox=entry.mbox,
                          revisions=tuple(entry.meta.get("revisions", ())),
                          trailers=entry.meta.get("trailers", {}), cached_at=entry.fetched)
    if offline:
        raise LoreError(target.msgid, "not in the cache, and --offline forbids fetching",
                        target.thread_url)
    mbox, revisions, trailers = _fetch_in_child(target, timeout, max_bytes, notes)
    thread = Thread(target=target, mbox=mbox, revisions=revisions, trailers=trailers)
    if cache is not None:
        cache.put(target.archive, target.msgid, target.thread_url, thread.mbox,
                  {"revisions": list(revisions), "trailers": trailers})
    return thread


def _fetch_in_child(target: Target, timeout: float, max_bytes: int, notes: list | None):
    mbox, revisions, trailers = _in_child(
        _child_fetch, (target, timeout, max_bytes), target.msgid, target.thread_url, timeout,
        notes=notes, late=f"b4's archive search for more trailers took longer than "
                         f"{timeout:g} s and was dropped")
    return mbox, revisions, trailers or {}


def _in_child(work, args: tuple, label: str, url: str, timeout: float,
              notes: list | None = None, late: str = ""):
    """Run ``work(conn, *args)`` in a forked child within ``timeout`` seconds.

    The child sends ("url", u) before each request, then ("thread", a, b) and
    ("done", c), or ("error", problem, url).  Returns (a, b, c); when "done" does not
    come within ``timeout`` more seconds, (a, b, None) with ``late`` noted."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(writer, work, args), daemon=True)
    proc.start()
    writer.close()
    tried = url
    first = None
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                ready = left > 0 and reader.poll(left)
                msg = reader.recv() if ready else None
            except (EOFError, OSError):
                raise LoreError(label, "the fetch ended without an answer (out of memory?)",
                                tried) from None
            if msg is None:
                if first is None:
                    raise LoreError(label, f"timed out after {timeout:g} s", tried)
                if notes is not None and late:
                    notes.append(late)
                return first[0], first[1], None
            kind = msg[0]
            if kind == "url":
                tried = msg[1].replace("%40", "@")
            elif kind == "error":
                raise LoreError(label, msg[1], (msg[2] or tried).replace("%40", "@"))
            elif kind == "thread":
                first = msg[1:]
                deadline = time.monotonic() + timeout  # what follows has its own bound
            elif kind == "done":
                return first[0], first[1], msg[1]
    finally:
        reader.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def _child(conn, work, args: tuple) -> None:
    """In the forked child: run the work, report any failure as one line."""
    try:
        work(conn, *args)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line
        with contextlib.suppress(Exception):
            conn.send(("error", f"fetch failed: {type(exc).__name__}: {exc}", ""))
    finally:
        conn.close()


def _child_fetch(conn, target: Target, timeout: float, max_bytes: int) -> None:
    import liblore

    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(target.archive)).lower()
    session = bounded_session(origin, max_bytes, progress=lambda u: conn.send(("url", u)))
    tried = target.thread_url
    with isolated_b4(target.archive, timeout, session=session) as b4:
        node = b4.get_lore_node()
        try:
            raw = node.get_mbox_by_msgid(target.msgid, nocache=True)
        except FetchRefused as exc:
            conn.send(("error", exc.problem, exc.url))
            return
        except liblore.RemoteError as exc:
            conn.send(("error", _why(exc, timeout), session._last or tried))
            return
        except (EOFError, zlib.error, OSError) as exc:
            conn.send(("error", f"the thread mbox is truncated or not gzip ({exc})",
                       session._last or tried))
            return
        except liblore.LibloreError as exc:
            conn.send(("error", f"fetch failed: {exc}", session._last or tried))
            return
        msgs = b4.split_and_dedupe_pi_results(raw) if raw else []
        strict = b4.get_strict_thread(msgs, target.msgid) if msgs else None
        if not strict:
            conn.send(("error", "the archive returned no message of that thread",
                       session._last or tried))
            return
        revisions = _revisions(b4, strict)
        conn.send(("thread", _mbox(strict), revisions))
        conn.send(("done", _what_b4_knows(b4, strict, revisions)))


def _revisions(b4, msgs) -> tuple[int, ...]:
    lmbx = b4.LoreMailbox()
    for m in msgs:
        lmbx.add_message(m)
    return tuple(sorted(lmbx.series))


def _what_b4_knows(b4, msgs, revisions) -> dict:
    """b4's follow-up trailers per patch (newest revision with its archive search for
    code-review trailers by patch-id)."""
    lmbx = b4.LoreMailbox()
    for m in msgs:
        lmbx.add_message(m)
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
    return trailers


@dataclass(frozen=True)
class SearchResult:
    query: str
    url: str
    mbox: bytes  # mboxrd: every message of every thread the search found
    cached_at: float | None = None


def search(query: str, archive: str, *, timeout: float = 5.0, cache=None,
           refresh: bool = False, offline: bool = False, ttl: float = 600.0,
           max_bytes: int = DEFAULT_FETCH_BYTES) -> SearchResult:
    """The whole threads of the messages a public-inbox search finds, with b4's
    search (cached like fetched threads).  No hit is an empty result, not an error.
    Bounded like a fetch: ``timeout`` for the whole search, ``max_bytes`` per answer."""
    archive = normalise_archive(archive, "archive")
    key = f"search:{query}"
    url = f"{archive}/?x=m&t=1&q={urllib.parse.quote_plus(query)}"
    if cache is not None and not refresh:
        entry = cache.get(archive, key)
        if entry is not None and (offline or time.time() - entry.fetched < ttl):
            return SearchResult(query, url, entry.mbox, cached_at=entry.fetched)
    label = f"query {query!r}"
    if offline:
        raise LoreError(label, "not in the cache, and --offline forbids searching", url)
    mbox, count, _ = _in_child(_child_search, (query, archive, timeout, max_bytes), label, url,
                            timeout)
    result = SearchResult(query, url, mbox)
    if cache is not None:
        cache.put(archive, key, url, result.mbox, {"query": query, "messages": count})
    return result


def _child_search(conn, query: str, archive: str, timeout: float, max_bytes: int) -> None:
    import liblore

    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(archive)).lower()
    session = bounded_session(origin, max_bytes, progress=lambda u: conn.send(("url", u)))
    with isolated_b4(archive, timeout, session=session) as b4:
        node = b4.get_lore_node()
        try:
            raw = node.get_mbox_by_query(query, full_threads=True, nocache=True)
        except FetchRefused as exc:
            conn.send(("error", exc.problem, exc.url))
            return
        except liblore.RemoteError as exc:
            if getattr(exc, "status_code", None) != 404:
                conn.send(("error", _why(exc, timeout), ""))
                return
            raw = b""
        except (EOFError, zlib.error, OSError) as exc:
            conn.send(("error", f"the search results are truncated or not gzip ({exc})", ""))
            return
        except liblore.LibloreError as exc:
            conn.send(("error", f"search failed: {exc}", ""))
            return
        msgs = b4.split_and_dedupe_pi_results(raw) if raw else []
        conn.send(("thread", _mbox(msgs), len(msgs)))
        conn.send(("done", None))
