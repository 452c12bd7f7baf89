"""Review every series of an inbox, an archive or a lore search: a dashboard.

The input is read once into a compact index (what grouping needs of each
message's headers, its digest and byte range: an mbox file's messages are
re-read when their series is reviewed), grouped into series, and each series
is parsed, reviewed and rendered on its own — in a pool of worker processes,
whole series at a time, each task made as the pool takes it — so memory
follows the largest series, not the archive.

A SQLite state file in the output directory remembers, per series (keyed by
the Message-ID of its newest revision), the hash of its messages and of the
rule pack, and the row it got: a rerun reviews only what is new or changed.
Every page is written beside and renamed into place before the state records
it (in batches, one transaction each; what a killed run did not record is
reviewed again), so an interrupted run leaves the directory and the state
consistent and the next run finishes the work.  The index is written from the
state, row by row: the main process holds no row of it.  What the scan of an
mbox file found is kept in the state too, so an unchanged file among changed
inputs is not scanned again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from reviewkit.errors import ReviewkitError

STATE_NAME = ".reviewkit-state.sqlite3"
STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    key      TEXT PRIMARY KEY,
    content  TEXT NOT NULL,
    rules    TEXT NOT NULL,
    page     TEXT,
    row      TEXT NOT NULL,
    reviewed REAL NOT NULL,
    stamp    REAL NOT NULL DEFAULT 0  -- the series' date: the index's order
);
CREATE TABLE IF NOT EXISTS scans (
    key  TEXT PRIMARY KEY,  -- code version, label and fingerprint of an mbox file
    data BLOB NOT NULL      -- how many parts its scan has
);
CREATE TABLE IF NOT EXISTS scan_parts (
    key  TEXT NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,     -- the index of some of its messages (Messages.pack)
    PRIMARY KEY (key, part)
);
CREATE TABLE IF NOT EXISTS inputs (
    fingerprint TEXT PRIMARY KEY,
    rules       TEXT NOT NULL,
    series      TEXT NOT NULL,
    orphans     INTEGER NOT NULL
);
"""


@dataclass
class Outcome:
    total: int = 0  # series in the input
    reviewed: int = 0  # reviewed in this run
    unchanged: int = 0  # taken from the state
    failed: int = 0  # series that could not be reviewed (their row says why)
    patches: int = 0  # patches reviewed in this run
    seconds: float = 0.0
    interrupted: bool = False
    shown: int = 0  # rows in the index (the rest is pending)
    orphans: int = 0  # messages that belong to no series
    notes: list[str] = field(default_factory=list)


def page_name(key: str) -> str:
    """A file name for a series page: readable, safe, unique per Message-ID."""
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:60] or "series"
    return f"{safe}-{hashlib.blake2b(key.encode(), digest_size=4).hexdigest()}.html"


def rules_version(options, template_dir: Path | None = None) -> str:
    """What a series' row and page depend on besides its messages: reviewkit's version,
    its code, the rule manifests, the templates, and the options that change
    findings."""
    import hashlib

    from reviewkit import __version__

    h = hashlib.blake2b(digest_size=16)
    h.update(__version__.encode())
    pkg = Path(__file__).resolve().parent
    roots = [pkg]  # the code of the rules and of everything that shapes a page
    from importlib import resources

    rules = Path(options.rules_dir) if options.rules_dir else None
    if rules is None:
        rules = Path(str(resources.files("reviewkit.rules")))
    files = sorted(p for r in roots if r.is_dir() for p in r.rglob("*.py"))
    files += sorted(p for p in rules.rglob("*.yaml"))
    templates = Path(str(resources.files("reviewkit.templates")))
    files += sorted(templates.rglob("*.j2"))
    if template_dir is not None and Path(template_dir).is_dir():
        files += sorted(Path(template_dir).rglob("*.j2"))
    for p in files:
        try:
            h.update(str(p.name).encode() + b"\0" + p.read_bytes())
        except OSError:
            continue
    for extra in (options.select, options.ignore, str(options.tree or ""),
                  options.waivers.read_bytes() if options.waivers else b"",
                  options.lore_url):
        h.update(repr(extra).encode())
    return h.hexdigest()


class State:
    """The dashboard's memory between runs (one SQLite file).  Rows are looked up one
    by one and written in batches, one transaction each; nothing of the state is held
    in memory, so a run costs the same whatever the state file holds."""

    def __init__(self, path: Path):
        self.path = path
        self.pending: list[tuple] = []  # rows not yet committed (their pages are written)
        try:
            self.conn = sqlite3.connect(path, timeout=15.0, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(STATE_SCHEMA)
            columns = {r[1] for r in self.conn.execute("PRAGMA table_info(series)")}
            if "stamp" not in columns:  # a state file written before rows were ordered here
                self.conn.execute("ALTER TABLE series ADD COLUMN stamp REAL NOT NULL DEFAULT 0")
                try:
                    self.conn.execute("UPDATE series SET stamp = "
                                      "coalesce(json_extract(row, '$.timestamp'), 0)")
                except sqlite3.OperationalError:  # no JSON functions: those rows sort last
                    pass
                self.conn.execute("DELETE FROM inputs")
            # this run's series (key, content hash): what the index shows, newest first
            self.conn.execute("CREATE TEMP TABLE run (key TEXT NOT NULL, content TEXT NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise ReviewkitError(str(path), f"the dashboard state is unreadable ({exc}); "
                                            "remove it to start afresh") from None

    def fresh(self, key: str, content: str, rules: str, directory: Path) -> bool:
        """Whether the state has the row of this series' very content (and its page)."""
        got = self.conn.execute("SELECT content, rules, page FROM series WHERE key = ?",
                                (key,)).fetchone()
        if got is None or got[0] != content or got[1] != rules:
            return False
        return not got[2] or (directory / got[2]).is_file()

    def put(self, key: str, content: str, rules: str, page: str | None, row: dict) -> None:
        """Remember a reviewed series (committed by the next ``flush``)."""
        # kept as index.json shows it, so that writing the index encodes nothing again
        self.pending.append((key, content, rules, page, json.dumps(row, indent=1),
                             time.time(), row["timestamp"]))

    def flush(self) -> None:
        if not self.pending:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany("INSERT OR REPLACE INTO series (key, content, rules, page, "
                                  "row, reviewed, stamp) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  self.pending)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.pending = []

    def set_run(self, series) -> None:
        """The (key, content hash) of every series of this run's input."""
        self.conn.execute("DELETE FROM run")
        self.conn.executemany("INSERT INTO run (key, content) VALUES (?, ?)", series)

    def run_rows(self, rules: str) -> "_Rows":
        """The rows of this run's series that are done, newest first (read lazily)."""
        return _Rows(self.conn, rules)

    def seen_input(self, fingerprint: str, rules: str) -> tuple[list, int] | None:
        """The series (key, content hash) an unchanged input was found to hold."""
        row = self.conn.execute("SELECT series, orphans FROM inputs WHERE fingerprint = ? "
                                "AND rules = ?", (fingerprint, rules)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0]), row[1]
        except ValueError:
            return None

    def put_input(self, fingerprint: str, rules: str, series: list, orphans: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("DELETE FROM inputs")  # only the last input is worth keeping
            self.conn.execute("INSERT INTO inputs (fingerprint, rules, series, orphans) "
                              "VALUES (?, ?, ?, ?)",
                              (fingerprint, rules, json.dumps(series), orphans))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def scan(self, key: str):
        """The parts of a file's scan, one at a time (None: not scanned, or not whole)."""
        row = self.conn.execute("SELECT data FROM scans WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            parts = int(row[0])
        except ValueError:
            return None
        numbers = [n for (n,) in self.conn.execute(
            "SELECT part FROM scan_parts WHERE key = ? ORDER BY part", (key,))]
        if numbers != list(range(1, parts + 1)):
            return None

        def read():
            for n in numbers:
                yield self.conn.execute("SELECT data FROM scan_parts WHERE key = ? AND part = ?",
                                        (key, n)).fetchone()[0]
        return read()

    def put_scan(self, key: str, parts) -> None:
        """Remember the scan of one file: PARTS, bytes each, written as they come."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("DELETE FROM scan_parts WHERE key = ?", (key,))
            n = 0
            for n, data in enumerate(parts, 1):
                self.conn.execute("INSERT INTO scan_parts (key, part, data) VALUES (?, ?, ?)",
                                  (key, n, data))
            self.conn.execute("INSERT OR REPLACE INTO scans (key, data) VALUES (?, ?)",
                              (key, str(n).encode()))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def keep_scans(self, keep: set[str]) -> None:
        """Forget the scans of files other than this run's."""
        gone = [key for (key,) in self.conn.execute("SELECT key FROM scans") if key not in keep]
        if not gone:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for key in gone:
                self.conn.execute("DELETE FROM scans WHERE key = ?", (key,))
                self.conn.execute("DELETE FROM scan_parts WHERE key = ?", (key,))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


_ROWS_SQL = ("FROM run JOIN series ON series.key = run.key AND series.content = run.content "
             "WHERE series.rules = ?")


class _Rows:
    """The index's rows, streamed from the state: ``len()`` and one pass, newest first
    (by date, then key, as the index has always been ordered)."""

    def __init__(self, conn, rules: str):
        self.conn, self.rules = conn, rules
        self.count = conn.execute(f"SELECT count(*) {_ROWS_SQL}", (rules,)).fetchone()[0]

    def __len__(self) -> int:
        return self.count

    def texts(self):
        """Each row as the JSON text the state holds."""
        for (text,) in self.conn.execute(f"SELECT series.row {_ROWS_SQL} ORDER BY "
                                         "series.stamp DESC, series.key DESC", (self.rules,)):
            yield text

    def __iter__(self):
        return (json.loads(t) for t in self.texts())


def write_atomic(path: Path, text) -> None:
    """Write TEXT (a string, or an iterable of strings) beside PATH, then rename it
    into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fp:
            if isinstance(text, str):
                fp.write(text)
            else:
                fp.writelines(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sweep(directory: Path) -> None:
    """Remove the half-written pages of processes that are gone (killed mid-write)."""
    for p in directory.glob(".*.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
        except OSError:
            pass


# -- reading the input -----------------------------------------------------------------

class Messages:
    """Every message of the input, as the main process holds it while the run lasts: the
    grouping index, and per message its digest and where to read it again (an mbox
    file's byte range; the bytes themselves only for inputs that are not files).  A few
    hundred bytes a message, whatever the message."""

    def __init__(self) -> None:
        from array import array

        from reviewkit.parse.grouping import Index

        self.index = Index()
        self.digest = bytearray()  # 16 bytes a message
        self.source = array("H")  # which of self.sources
        self.line = array("q")  # of its separator in an mbox, -1: none
        self.start = array("q")  # its byte range in the file, -1: held in self.data
        self.end = array("q")
        self.data: dict[int, bytes] = {}
        self.sources: list[tuple[str, Path | None]] = []  # (label, path)

    def __len__(self) -> int:
        return len(self.index)

    def add_source(self, label: str, path: Path | None) -> int:
        self.sources.append((label, path))
        return len(self.sources) - 1

    def add(self, e, source: int) -> None:
        from reviewkit.sources.resolve import _Span

        n = len(self.index)
        self.index.add(e)
        self.digest += e.digest
        self.source.append(source)
        self.line.append(-1 if e.line is None else e.line)
        if type(e.load) is _Span:
            self.start.append(e.load.start)
            self.end.append(e.load.end)
        else:
            self.start.append(-1)
            self.end.append(-1)
            self.data[n] = e.raw()

    def origin(self, i: int) -> str:
        label = self.sources[self.source[i]][0]
        return label if self.line[i] < 0 else f"{label}:{self.line[i]}"

    def loader(self, i: int):
        """(bytes, None) or (None, a loader of the bytes) of message I."""
        from reviewkit.sources.resolve import _Span

        if self.start[i] < 0:
            return self.data.get(i, b""), None
        return None, _Span(self.sources[self.source[i]][1], self.start[i], self.end[i])

    def envelope(self, i: int):
        from reviewkit.parse.grouping import envelope

        data, load = self.loader(i)
        return envelope(data if data is not None else load(), self.origin(i))

    def pack(self, first: int, end: int) -> bytes:
        """Messages FIRST..END (of one mbox file, all by byte range) for the state: their
        index and columns as bytes (data, never code)."""
        part = self.index.part(first, end)
        cols = [self.line[first:end], self.start[first:end], self.end[first:end]]
        index = part.pack()
        return b"".join([len(index).to_bytes(8, "little"), index,
                         bytes(self.digest[16 * first:16 * end])] + [c.tobytes() for c in cols])

    def truncate(self, n: int) -> None:
        """Forget messages N.. (a damaged scan read in part)."""
        self.index.truncate(n)
        del self.digest[16 * n:]
        for c in (self.source, self.line, self.start, self.end):
            del c[n:]

    def unpack(self, data: bytes, source: int) -> None:
        from array import array

        from reviewkit.parse.grouping import Index

        n = int.from_bytes(data[:8], "little")
        part = Index.unpack(data[8:8 + n])
        count, pos = len(part), 8 + n
        digest = data[pos:pos + 16 * count]
        pos += 16 * count
        cols = []
        for _ in range(3):
            c = array("q")
            c.frombytes(data[pos:pos + 8 * count])
            pos += 8 * count
            cols.append(c)
        if len(digest) != 16 * count or pos != len(data) or any(len(c) != count for c in cols):
            raise ValueError("truncated scan")
        self.index.extend(part)
        self.digest += digest
        self.source.extend([source] * count)
        self.line.extend(cols[0])
        self.start.extend(cols[1])
        self.end.extend(cols[2])


def read_messages(srcs: list, state: State, rules: str) -> Messages:
    """Every message of SRCS, digests included, left in their files.  An mbox file the
    last run scanned — the same file, size, modification time and inode, read by the
    same code — is not scanned again: its index comes from the state."""
    from reviewkit.sources.resolve import FileSource

    out = Messages()
    keep: set[str] = set()
    for src in srcs:
        source = out.add_source(src.label, getattr(src, "path", None))
        fingerprint = src.fingerprint() if isinstance(src, FileSource) else None
        key = f"{rules}\n{src.label}\n{fingerprint}" if fingerprint else None
        parts = state.scan(key) if key else None
        first = len(out)
        if parts is not None:
            try:
                for data in parts:
                    out.unpack(data, source)
                keep.add(key)
                continue
            except Exception:  # noqa: BLE001 - a damaged scan: the file is read again
                out.truncate(first)
        for e in src.envelopes(keep=False, digest=True):
            out.add(e, source)
        if key and len(out) > first and not any(i >= first for i in out.data):
            state.put_scan(key, (out.pack(a, min(a + SCAN_PART, len(out)))
                                 for a in range(first, len(out), SCAN_PART)))
            keep.add(key)
    state.keep_scans(keep)
    return out


SCAN_PART = 2000  # messages in one part of a file's scan in the state


# -- one series, in a worker process -------------------------------------------------

_JOB: dict = {}  # set before the pool forks: options, directory, templates


@dataclass(frozen=True)
class Task:
    """One series to review, self-contained (sent to a worker): its messages by origin
    and bytes or byte range, and what its row needs when it cannot be reviewed."""

    index: int
    key: str
    versions: tuple[int, ...]
    messages: tuple  # (origin, bytes or None, loader or None)
    trailers: dict
    head: dict


def _task(index: int, group, msgs: Messages, trailers: dict) -> Task:
    ids = group.message_ids(msgs.index)
    h = msgs.envelope(group.newest.at)  # read again: the index keeps no title or name
    return Task(
        index=index, key=group.key,
        versions=tuple(sorted({r.version for r in group.revisions}, reverse=True)),
        messages=tuple((msgs.origin(i), *msgs.loader(i)) for i in group.members),
        trailers={m: trailers[m] for m in ids if m in trailers},
        head={"title": h.subject.title, "name": h.author_name, "email": h.author,
              "date": h.date, "version": group.newest.version, "total": h.subject.total})


def _content_hash(group, msgs: Messages, trailers: dict) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    digest = msgs.digest
    for i in group.members:
        h.update(digest[16 * i:16 * i + 16])
    if trailers:
        ids = sorted(group.message_ids(msgs.index))
        h.update(json.dumps({m: trailers[m] for m in ids if m in trailers},
                            sort_keys=True).encode())
    return h.hexdigest()


def _tags(series) -> dict[str, int]:
    """Distinct people who gave each review tag, on any patch or the cover letter."""
    out = {"Reviewed-by": set(), "Acked-by": set(), "Tested-by": set()}
    for p in ((series.cover,) if series.cover else ()) + series.patches:
        for t in p.trailers:
            if t.kind in out:
                out[t.kind].add(t.person.email if t.person else t.value)
    return {k: len(v) for k, v in out.items()}


def _changes(report) -> dict | None:
    comp = report.extra.get("comparison")
    if not comp:
        return None
    states = [row["changed"] for row in comp["patches"]]
    return {"base_version": comp["base_version"],
            "changed": states.count("changed"), "unchanged": states.count("unchanged"),
            "added": states.count("new"), "dropped": len(comp["dropped"]),
            "new_findings": len(comp["new_findings"]),
            "fixed_findings": len(comp["fixed_findings"])}


def _row(task: Task, report, page: str | None) -> dict:
    s = report.series
    author = s.author
    return {
        "key": task.key,
        "subject": s.subject,
        "author": {"name": author.name, "email": author.email} if author else None,
        "date": s.date.isoformat() if s.date else None,
        "timestamp": s.date.timestamp() if s.date else 0.0,
        "version": s.version,
        "versions": list(task.versions),
        "patches": len(s.patches),
        "total": s.total or len(s.patches),
        "messages": len(task.messages),
        "tags": _tags(s),
        "findings": report.counts(),
        "changes": _changes(report),
        "link": report.link(s.message_id),
        "page": page,
        "error": None,
    }


def _failed_row(task: Task, problem: str) -> dict:
    h = task.head
    return {
        "key": task.key, "subject": h["title"],
        "author": {"name": h["name"], "email": h["email"]},
        "date": (time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(h["date"]))
                 if h["date"] else None),
        "timestamp": h["date"] or 0.0, "version": h["version"],
        "versions": list(task.versions),
        "patches": 0, "total": h["total"] or 0, "messages": len(task.messages),
        "tags": {"Reviewed-by": 0, "Acked-by": 0, "Tested-by": 0},
        "findings": {"error": 0, "warning": 0, "info": 0}, "changes": None,
        "link": None, "page": None, "error": problem,
    }


def review_task(task: Task) -> tuple[int, dict, str | None, int]:
    """Review one series and write its page: (index, row, page name or None, patches
    reviewed)."""
    from reviewkit import api
    from reviewkit.parse.series import RawMessage
    from reviewkit.render import html

    options, directory = _JOB["options"], _JOB["directory"]
    label = f"series {task.key}"
    try:
        messages = [RawMessage(origin, data if data is not None else load())
                    for origin, data, load in task.messages]
        series = api.build(label, messages, replace(options, compare_to=None),
                           trailers=task.trailers)
        report = api.review_series(series, options, source=label)
        name = page_name(task.key)
        write_atomic(directory / name, html.render(report, template_dir=_JOB["templates"]))
        return task.index, _row(task, report, name), name, len(series.patches)
    except ReviewkitError as exc:
        return task.index, _failed_row(task, exc.problem), None, 0
    except Exception as exc:  # noqa: BLE001 - one series never ends the run
        if os.environ.get("REVIEWKIT_DEBUG"):
            raise
        return task.index, _failed_row(task, f"internal error: {type(exc).__name__}: "
                                             f"{exc}"), None, 0


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# -- the run -------------------------------------------------------------------------

class Progress:
    """A bar on a terminal (series done / total, rate, ETA); nothing otherwise."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.patches = total, 0, 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self.last = 0.0

    def step(self, patches: int) -> None:
        self.done += 1
        self.patches += patches
        now = time.monotonic()
        if self.tty and (now - self.last > 0.1 or self.done == self.total):
            self.last = now
            elapsed = max(now - self.start, 1e-6)
            rate = self.done / elapsed
            eta = (self.total - self.done) / rate if rate else 0
            width = 28
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/"
                              f"{self.total} series  {rate:.1f}/s  {self.patches / elapsed:.0f} "
                              f"patches/s  ETA {int(eta) // 60}:{int(eta) % 60:02d} ")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()


def _pool(jobs: int):
    """A pool of JOBS forked workers: the stdlib's, except that its worker handler does
    not also wake whenever a result waits to be read (it then spins until the result
    handler has read it: about a millisecond of CPU per series).  Workers are never
    replaced here (no maxtasksperchild), so their exits and the pool's own state are
    all that handler needs to watch."""
    import multiprocessing
    from multiprocessing.pool import Pool

    class QuietPool(Pool):
        def _get_sentinels(self):
            return [self._change_notifier._reader]

    return QuietPool(jobs, initializer=_worker_init, context=multiprocessing.get_context("fork"))


class _Terminated(Exception):
    pass


def _on_term(signum, frame):
    raise _Terminated()


# state writes are committed in batches: at most this many rows or seconds apart
BATCH_ROWS = 200
BATCH_SECONDS = 0.5


def run(srcs: list, directory: Path, options, *, jobs: int | None = None,
        template_dir: Path | None = None, progress_stream=None) -> Outcome:
    """Review every series of SRCS into DIRECTORY (index.html, index.json, one page
    per series), reusing what the state says is unchanged."""
    from reviewkit import api

    started = time.monotonic()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReviewkitError(str(directory), f"cannot create: {exc.strerror or exc}") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise ReviewkitError(str(directory), "not a writable directory")
    sweep(directory)
    rules = rules_version(options, template_dir)
    state = State(directory / STATE_NAME)
    prints = [s.fingerprint() for s in srcs]
    fingerprint = None if None in prints else "\n\n".join(prints)
    if fingerprint is not None:
        try:
            done = _unchanged(state, fingerprint, rules, directory, template_dir)
        except BaseException:
            state.close()
            raise
        if done is not None:
            state.close()
            done.seconds = time.monotonic() - started
            return done
    api.ruleset(options)  # loaded once, before the workers fork
    _JOB.update(options=options, directory=directory, templates=template_dir)
    jobs = max(1, jobs or os.cpu_count() or 1)
    old_term = signal.signal(signal.SIGTERM, _on_term)
    pool = None
    out = Outcome()
    bar = None
    try:
        if jobs > 1:
            import gc

            # what is loaded now (modules, the rule set) lives as long as the run: the
            # workers' collector need not walk it again after every few series
            gc.freeze()
            # started before the input is read, so that no worker holds the archive's
            # header index: each gets its series' messages (byte ranges) in its task
            pool = _pool(jobs)
        from reviewkit.parse import grouping

        msgs = read_messages(srcs, state, rules)
        groups, orphans = grouping.group_index(msgs.index, msgs.origin)
        trailers: dict = {}
        for s in srcs:
            trailers.update(s.trailers or {})
            out.notes.extend(s.notes)
        out.total, out.orphans = len(groups), len(orphans)
        del orphans
        todo: list[int] = []
        series: list[tuple[str, str]] = []  # (key, content hash) of every series, in order
        for n, g in enumerate(groups):
            series.append((g.key, _content_hash(g, msgs, trailers)))
            if state.fresh(*series[n], rules, directory):
                out.unchanged += 1
            else:
                todo.append(n)
        state.set_run(series)
        # each task is made as the pool takes it: none waits in memory for its turn
        tasks = (_task(n, groups[n], msgs, trailers) for n in todo)
        bar = Progress(len(todo), progress_stream)
        if pool is None or len(todo) <= 1:
            results = map(review_task, tasks)
        else:
            results = pool.imap_unordered(review_task, tasks, chunksize=1)
        last = time.monotonic()
        for index, row, page, patches in results:
            state.put(*series[index], rules, page, row)
            out.reviewed += 1
            out.failed += row["error"] is not None
            out.patches += patches
            bar.step(patches)
            if len(state.pending) >= BATCH_ROWS or time.monotonic() - last > BATCH_SECONDS:
                state.flush()
                last = time.monotonic()
        state.flush()
        if fingerprint is not None:  # complete: the next run on the same input reads nothing
            state.put_input(fingerprint, rules, [list(x) for x in series], out.orphans)
    except (KeyboardInterrupt, _Terminated):
        out.interrupted = True
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if pool is not None:
            if out.interrupted:
                pool.terminate()
            else:
                pool.close()
            pool.join()
            import gc

            gc.unfreeze()
        try:
            if out.interrupted:  # what is done is kept: its pages are written
                state.flush()
            sweep(directory)
            if bar is not None:
                bar.close()
                # the input was read: the index says what is done
                out.shown = write_index(directory, state, rules, out, template_dir)
        finally:
            state.close()
            _JOB.clear()
    out.seconds = time.monotonic() - started
    return out


def _unchanged(state: State, fingerprint: str, rules: str, directory: Path,
               template_dir: Path | None) -> Outcome | None:
    """The outcome of a rerun on inputs that have not changed since the last complete
    run (same files, sizes, modification times): every row from the state, nothing
    read again.  None when anything differs."""
    seen = state.seen_input(fingerprint, rules)
    if seen is None:
        return None
    series, orphans = seen
    for key, content in series:
        if not state.fresh(key, content, rules, directory):
            return None
    out = Outcome(total=len(series), unchanged=len(series), orphans=orphans,
                  shown=len(series))
    # the index of the last complete run is this one: it is kept as it is
    if not ((directory / "index.html").is_file() and (directory / "index.json").is_file()):
        state.set_run(series)
        out.shown = write_index(directory, state, rules, out, template_dir)
    return out


def write_index(directory: Path, state: State, rules: str, out: Outcome,
                template_dir: Path | None = None) -> int:
    """index.json and index.html of this run's series that are done (streamed from the
    state, newest first); returns how many rows they show."""
    from reviewkit import __version__
    from reviewkit.render import dashboard as render

    rows = state.run_rows(rules)
    pending = out.total - len(rows)
    head = {"version": 1, "generator": f"reviewkit {__version__}",
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "series_count": out.total, "pending": pending, "orphan_messages": out.orphans}

    def index_json():
        # json.dumps(dict(head, series=rows), indent=1), a row at a time
        text = json.dumps(dict(head, series=[]), indent=1)
        if not len(rows):
            yield text + "\n"
            return
        yield text[:-len("[]\n}")] + "[\n"
        for n, row in enumerate(rows.texts()):
            if not row.startswith("{\n"):  # not in the index's layout (an older state)
                row = json.dumps(json.loads(row), indent=1)
            item = row.replace("\n", "\n  ")
            yield ("  " if n == 0 else ",\n  ") + item
        yield "\n ]\n}\n"

    write_atomic(directory / "index.json", index_json())
    write_atomic(directory / "index.html",
                 render.render(state.run_rows(rules), pending=pending, orphans=out.orphans,
                               notes=out.notes, template_dir=template_dir, stream=True))
    return len(rows)


def summary(out: Outcome, directory: Path) -> str:
    rate = out.patches / out.seconds if out.seconds else 0.0
    parts = [f"{out.total} series", f"{out.reviewed} reviewed", f"{out.unchanged} unchanged"]
    if out.failed:
        parts.append(f"{out.failed} not reviewable")
    text = (f"dashboard: {', '.join(parts)}; {out.patches} patches in {out.seconds:.1f} s "
            f"({rate:.0f} patches/s) -> {directory / 'index.html'}")
    if out.interrupted:
        text += f" (interrupted: {out.total - out.shown} series left for the next run)"
    return text
