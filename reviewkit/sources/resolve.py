"""Every SOURCE is resolved once, here, into a typed source.

``resolve`` decides what a SOURCE argument names — a file (an mbox or one
message), a directory (``git format-patch`` output, or a maildir), standard
input, a git revision or range, a lore thread (a Message-ID or an archive
URL), a lore search — and returns a ``Source`` that yields the raw messages
with their provenance.  Nothing downstream looks at the SOURCE string again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from reviewkit.errors import InputError

_PATCH_FILE = re.compile(r"\.(patch|eml|mbox|mbx|diff|txt)$", re.I)
_MSGID_LIKE = re.compile(r"^<?[^\s<>/]+@[^\s<>/]+>?$")


@dataclass(frozen=True)
class LoreSettings:
    """How lore sources are fetched."""

    archive: str = "https://lore.kernel.org/all"
    timeout: float = 5.0
    refresh: bool = False
    offline: bool = False
    ttl: float = 600.0
    max_bytes: int = 100 << 20  # decompressed bytes of one archive answer
    max_input: int = 512 << 20  # bytes read from standard input


@dataclass(eq=False)
class Source:
    """One input.  ``envelopes()`` or ``messages()`` read it (once each)."""

    label: str
    kind = "source"
    notes: list[str] = field(default_factory=list)  # where it came from, for the report
    trailers: dict | None = None  # follow-up trailers b4 found, per patch Message-ID

    def messages(self):
        """RawMessage objects, lazily, in input order."""
        raise NotImplementedError

    def envelopes(self, *, keep: bool = True, digest: bool = False):
        """An Envelope per message; ``keep=False`` lets a file source re-read a
        message's bytes on demand instead of holding them."""
        from reviewkit.parse.grouping import envelope

        for raw in self.messages():
            yield envelope(raw.data, raw.origin, keep=True, digest=digest)

    @property
    def remote(self) -> bool:
        return False

    def fingerprint(self) -> str | None:
        """Changes whenever what the source yields may have changed (None: cannot
        tell without reading it)."""
        return None


def _stat_line(p: Path) -> str:
    st = p.stat()
    return f"{p}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_dev}"


def _raw(origin: str, data: bytes):
    from reviewkit.parse.series import RawMessage

    return RawMessage(origin, data)


def _split(label: str, data: bytes):
    from reviewkit.parse.mbox import looks_like_mbox, split_bytes

    if looks_like_mbox(data[:4096]):
        for lineno, msg in split_bytes(data):
            yield _raw(f"{label}:{lineno}", msg)
    else:
        yield _raw(label, data)


@dataclass(eq=False)
class FileSource(Source):
    """An mbox (mboxo or mboxrd) or a single message file."""

    path: Path = Path()
    kind = "file"

    def fingerprint(self) -> str | None:
        try:
            return _stat_line(self.path)
        except OSError:
            return None

    def _open(self):
        try:
            fp = self.path.open("rb")
        except OSError as exc:
            raise InputError(self.label, f"cannot read: {exc.strerror or exc}") from None
        head = fp.read(4096)
        if not head.strip():
            fp.close()
            raise InputError(self.label, "empty file")
        fp.seek(0)
        return fp, head

    def messages(self):
        from reviewkit.parse.mbox import looks_like_mbox, split_file

        fp, head = self._open()
        with fp:
            if looks_like_mbox(head):
                for lineno, data in split_file(fp):
                    yield _raw(f"{self.label}:{lineno}", data)
            else:
                yield _raw(self.label, fp.read())

    def envelopes(self, *, keep: bool = True, digest: bool = False):
        from reviewkit.parse.grouping import envelope
        from reviewkit.parse.mbox import looks_like_mbox, split_spans

        fp, head = self._open()
        with fp:
            if not looks_like_mbox(head):
                yield envelope(fp.read(), self.label, keep=True, digest=digest)
                return
            for lineno, start, end, data in split_spans(fp):
                yield envelope(data, self.label, keep=keep, digest=digest, line=lineno,
                               load=None if keep else _Span(self.path, start, end))


@dataclass(frozen=True, slots=True)
class _Span:
    """Re-reads one message of an mbox file by its byte range."""

    path: Path
    start: int
    end: int

    def __call__(self) -> bytes:
        from reviewkit.parse.mbox import unescape

        with self.path.open("rb") as fp:
            fp.seek(self.start)
            return unescape(fp.read(self.end - self.start))


@dataclass(eq=False)
class DirectorySource(Source):
    """A ``git format-patch`` output directory (with or without a cover letter)."""

    path: Path = Path()
    kind = "directory"

    def fingerprint(self) -> str | None:
        try:
            return "\n".join([_stat_line(self.path)] + sorted(
                _stat_line(p) for p in self.path.iterdir() if p.is_file()))
        except OSError:
            return None

    def messages(self):
        files = sorted(p for p in self.path.iterdir()
                       if p.is_file() and _PATCH_FILE.search(p.name))
        if not files:
            raise InputError(self.label, "directory holds no .patch, .eml or .mbox file")
        for f in files:
            name = str(Path(self.label) / f.name)
            try:
                data = f.read_bytes()
            except OSError:
                # one unreadable file is a broken message of the series, not the end of the run
                yield _raw(name, b"")
                continue
            yield from _split(name, data)


@dataclass(eq=False)
class MaildirSource(Source):
    """A maildir: one message per file in ``cur/`` and ``new/``."""

    path: Path = Path()
    kind = "maildir"

    def fingerprint(self) -> str | None:
        try:
            return "\n".join(sorted(_stat_line(p) for sub in ("cur", "new")
                                     for p in (self.path / sub).iterdir() if p.is_file())
                              + [_stat_line(self.path / "cur"), _stat_line(self.path / "new")])
        except OSError:
            return None

    def messages(self):
        files = sorted(p for sub in ("cur", "new") if (self.path / sub).is_dir()
                       for p in (self.path / sub).iterdir()
                       if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InputError(self.label, "the maildir holds no message")
        for f in files:
            name = str(Path(self.label) / f.parent.name / f.name)
            try:
                yield _raw(name, f.read_bytes())
            except OSError:
                yield _raw(name, b"")


@dataclass(eq=False)
class StdinSource(Source):
    """Standard input, streamed (an mbox is split as it is read, never held whole as
    well) and bounded: more than ``limit`` bytes is an error naming the limit."""

    kind = "stdin"
    limit: int = 512 << 20

    def messages(self):
        import sys

        from reviewkit.parse.mbox import looks_like_mbox, split_lines

        fp = sys.stdin.buffer
        head = fp.read(4096)
        if not head.strip():
            while head and not head.strip():  # blank lines before the mail
                more = fp.read(4096)
                if not more:
                    raise InputError(self.label, "empty input")
                head = more
            if not head:
                raise InputError(self.label, "empty input")
        lines = _bounded_lines(head, fp, self.limit, self.label)
        if looks_like_mbox(head):
            for lineno, msg in split_lines(lines):
                yield _raw(f"{self.label}:{lineno}", msg)
        else:
            yield _raw(self.label, b"".join(lines))


def _bounded_lines(head: bytes, fp, limit: int, label: str):
    """The lines of ``head`` and then of ``fp``, raising InputError past ``limit`` bytes."""
    total = 0
    parts = head.splitlines(keepends=True)
    if parts and not parts[-1].endswith((b"\n", b"\r")):
        parts[-1] += fp.readline(limit + 1)
    for line in _chain(parts, iter(lambda: fp.readline(1 << 20), b"")):
        total += len(line)
        if total > limit:
            raise InputError(label, f"input larger than {limit} bytes (limits.input-bytes)")
        yield line


def _chain(first, rest):
    yield from first
    yield from rest


@dataclass(eq=False)
class GitRangeSource(Source):
    """The commits of a revision range (one commit for a single revision), as
    ``git format-patch --stdout`` mail."""

    rev_range: str = ""
    cwd: Path = Path()
    kind = "git"

    def messages(self):
        from reviewkit.sources.local import read_git_range

        return read_git_range(self.rev_range, self.cwd)


@dataclass(eq=False)
class LoreThreadSource(Source):
    """A thread on a public-inbox archive, fetched with b4 (or from the cache)."""

    target: object = None  # sources.lore.Target
    settings: LoreSettings = LoreSettings()
    kind = "lore-thread"

    @property
    def remote(self) -> bool:
        return True

    def fetch(self):
        import time

        from reviewkit.sources.cache import ThreadCache
        from reviewkit.sources.lore import fetch_thread

        s = self.settings
        extra: list[str] = []  # a broken cache, a trailer search that ran out
        thread = fetch_thread(self.target, timeout=s.timeout, cache=ThreadCache(notes=extra),
                              refresh=s.refresh, offline=s.offline, ttl=s.ttl,
                              max_bytes=s.max_bytes, notes=extra)
        self.trailers = thread.trailers
        if thread.cached_at is None:
            self.notes = [f"fetched {thread.target.thread_url}"]
        else:
            minutes = max(0, int((time.time() - thread.cached_at) // 60))
            self.notes = [f"thread from the cache, fetched {minutes} min ago from "
                          f"{thread.target.thread_url} (--refresh fetches it again)"]
        self.notes += extra
        return thread

    def messages(self):
        from reviewkit.parse.mbox import split_bytes

        thread = self.fetch()
        for n, data in split_bytes(thread.mbox):
            yield _raw(f"{thread.target.msgid}:{n}", data)


@dataclass(eq=False)
class LoreQuerySource(Source):
    """The threads a public-inbox search finds (b4's search, whole threads)."""

    query: str = ""
    settings: LoreSettings = LoreSettings()
    kind = "lore-query"

    @property
    def remote(self) -> bool:
        return True

    def messages(self):
        import time

        from reviewkit.parse.mbox import split_bytes
        from reviewkit.sources.cache import ThreadCache
        from reviewkit.sources.lore import search

        s = self.settings
        extra: list[str] = []
        result = search(self.query, s.archive, timeout=s.timeout, cache=ThreadCache(notes=extra),
                        refresh=s.refresh, offline=s.offline, ttl=s.ttl, max_bytes=s.max_bytes)
        if result.cached_at is None:
            self.notes = [f"searched {result.url}"]
        else:
            minutes = max(0, int((time.time() - result.cached_at) // 60))
            self.notes = [f"search results from the cache, {minutes} min old ({result.url})"]
        self.notes += extra
        for n, data in split_bytes(result.mbox):
            yield _raw(f"query:{n}", data)


def looks_remote(source: str) -> bool:
    """A Message-ID or an archive URL: a lore source, not a local one."""
    return source.startswith(("http://", "https://")) or (
        "{" not in source and _MSGID_LIKE.match(source) is not None)


def resolve(source: str, *, cwd: Path | None = None,
            lore: LoreSettings = LoreSettings()) -> Source:
    """What SOURCE names, decided once.  Raises InputError when it names nothing."""
    cwd = cwd or Path.cwd()
    if source == "-":
        return StdinSource(label="<stdin>", limit=lore.max_input)
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = cwd / path
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return MaildirSource(label=source, path=path)
        return DirectorySource(label=source, path=path)
    if path.exists():
        return FileSource(label=source, path=path)
    if looks_remote(source):
        from reviewkit.sources.lore import parse_target

        target = parse_target(source, lore.archive)
        if target is not None:
            return LoreThreadSource(label=source, target=target, settings=lore)
    from reviewkit.sources.local import git_revision_exists, is_git_repo

    if is_git_repo(cwd) and git_revision_exists(source, cwd):
        return GitRangeSource(label=f"git:{source}", rev_range=source, cwd=cwd)
    if looks_remote(source):
        raise InputError(source, "not a Message-ID or an archive URL")
    raise InputError(source, "no such file, directory, git revision or Message-ID")


def query(text: str, lore: LoreSettings = LoreSettings()) -> Source:
    if not text.strip():
        raise InputError("--query", "empty query")
    return LoreQuerySource(label=f"query:{text}", query=text, settings=lore)


def read(sources: list[Source], *, keep: bool = True, digest: bool = False) -> Iterator:
    """The envelopes of several sources, one after the other."""
    for s in sources:
        yield from s.envelopes(keep=keep, digest=digest)
