"""A cross-file call graph for tree mode: the function definitions of ``mm/``,
``include/linux/`` and the arch directories a series touches, indexed once per
blob and kept in a SQLite file.

The index maps a function name to the files defining it, with each
definition's lines, signature, parameters and locals (with their types), calls
(with their arguments) and a summary.  It is keyed by blob id (git's, or the
same SHA-1 computed for a plain directory's file), so a second review against
the same tree parses nothing and a tree that moved on re-parses only the files
that changed.  The file is ``$XDG_CACHE_HOME/reviewkit/functions.sqlite3``; a
file that is not a readable index is moved aside and rebuilt.

The files a series touches are never taken from the index: a patch's own
pre- or post-images (and the results of earlier patches) stand in for them, so
the graph a rule follows is the tree as the patch leaves it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path

from reviewkit.engine.cfunc import Call, Function, Var

SCHEMA = "1"
INDEX_DIRS = ("mm", "include/linux")
C_SUFFIXES = (".c", ".h")
PARALLEL_FILES = 64  # a cold build of more files than this parses in worker processes
_BATCH = 256  # blobs read from git and stored per transaction


def summarize(f: Function) -> dict:
    """The summary stored with every definition: the hook where per-function facts
    computed once per blob go (what a helper dirties, releases, returns when NULL).
    Bump SUMMARY_VERSION when it changes, so stored summaries are recomputed."""
    return {"vma": any("vm_area_struct" in v.type for v in f.params + f.locals)}


SUMMARY_VERSION = "1"


def cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "reviewkit" / "functions.sqlite3"


def index_dirs(paths: Sequence[str]) -> tuple[str, ...]:
    """mm/, include/linux/, and the mm and asm-header directories of every arch the
    series touches."""
    out = dict.fromkeys(INDEX_DIRS)
    for p in paths:
        parts = p.split("/")
        if len(parts) > 2 and parts[0] == "arch":
            out[f"arch/{parts[1]}/mm"] = None
            out[f"arch/{parts[1]}/include/asm"] = None
    return tuple(out)


# --- storing functions ----------------------------------------------------------------

def _signature(f: Function) -> str:
    out = []
    for _, text in f.lines:
        head = text.split("{", 1)[0]
        out.append(head.strip())
        if "{" in text or len(out) > 8:
            break
    return " ".join(x for x in out if x)[:400]


def _pack(functions: list[Function]) -> tuple[str, str]:
    """(the graph part, the details part) of one file's functions, as JSON."""
    graph = [[f.name, f.start, f.end, sorted(f.callees())] for f in functions]
    details = [[_signature(f), [[v.type, v.name] for v in f.params],
                [[v.type, v.name] for v in f.locals],
                [[c.name, c.line, list(c.args)] for c in f.calls], summarize(f)]
               for f in functions]
    return (json.dumps(graph, separators=(",", ":")),
            json.dumps(details, separators=(",", ":")))


def _parse_blob(item: tuple[str, bytes]) -> tuple[str, str, str]:
    from reviewkit.engine.cfunc import parse_functions

    blob, data = item
    try:
        functions = parse_functions(data.decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - one unparsable file leaves a hole, not a crash
        functions = []
    graph, details = _pack(functions)
    return blob, graph, details


class IndexCache:
    """The SQLite file of parsed blobs."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_path()
        self.notes: list[str] = []
        self._db = self._open()

    def _connect(self, target: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        if target != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS files (blob TEXT PRIMARY KEY, graph TEXT NOT NULL,"
                   " details TEXT NOT NULL)")
        version = SCHEMA + "/" + SUMMARY_VERSION
        row = db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        if row is None or row[0] != version:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM files")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (version,))
            db.execute("COMMIT")
        db.execute("SELECT count(*) FROM files").fetchone()
        return db

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return self._connect(":memory:")
        try:
            return self._connect(str(self.path))
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.broken-{int(time.time())}-{os.getpid()}")
            try:
                os.replace(self.path, aside)
                for suffix in ("-wal", "-shm"):
                    Path(str(self.path) + suffix).unlink(missing_ok=True)
            except OSError:
                return self._connect(":memory:")
            self.notes.append(f"function index {self.path} was unreadable ({exc}); moved to "
                              f"{aside.name} and rebuilt")
            return self._connect(str(self.path))
        except OSError:
            return self._connect(":memory:")

    def graphs(self, blobs: Sequence[str]) -> dict[str, list]:
        out: dict[str, list] = {}
        want = list(dict.fromkeys(blobs))
        for i in range(0, len(want), 500):
            chunk = want[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for blob, graph in self._db.execute(
                    f"SELECT blob, graph FROM files WHERE blob IN ({marks})", chunk):
                out[blob] = json.loads(graph)
        return out

    def details(self, blob: str) -> list | None:
        row = self._db.execute("SELECT details FROM files WHERE blob=?", (blob,)).fetchone()
        return json.loads(row[0]) if row else None

    def store(self, rows: list[tuple[str, str, str]]) -> None:
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()


# --- the index of one tree ---------------------------------------------------------------

class FunctionIndex:
    """Definitions by name over the files of one tree (a commit or a directory)."""

    def __init__(self, files: Mapping[str, str], graphs: Mapping[str, list],
                 details: Callable[[str], list | None]):
        self.files = dict(files)  # path -> blob
        self._graphs = graphs
        self._details = details
        self._named: dict[tuple[str, str], list[Function]] = {}
        self.parsed = 0  # files parsed (not found in the cache) to build this index
        self._details_cache: dict[str, list | None] = {}
        # name -> {path: (callees)}; name -> {path: {callers}}
        self.callees: dict[str, dict[str, frozenset[str]]] = {}
        self.callers: dict[str, dict[str, set[str]]] = {}
        self.where: dict[str, dict[str, None]] = {}  # name -> paths defining it
        for path, blob in self.files.items():
            for name, _start, _end, callees in graphs.get(blob, ()):
                self.where.setdefault(name, {})[path] = None
                mine = self.callees.setdefault(name, {})
                mine[path] = mine.get(path, frozenset()) | frozenset(callees)
                for c in callees:
                    self.callers.setdefault(c, {}).setdefault(path, set()).add(name)

    def named(self, path: str, name: str) -> list[Function]:
        """The definitions of ``name`` in one indexed file (only those are rebuilt)."""
        key = (path, name)
        if key in self._named:
            return self._named[key]
        graph = self._graph_of(path) or []
        rows = [i for i, g in enumerate(graph) if g[0] == name]
        out = []
        if rows:
            details = self._details_of(path)
            if details is not None:
                out = [_function(graph[i], details[i]) for i in rows if i < len(details)]
        self._named[key] = out
        return out

    def functions(self, path: str) -> list[Function]:
        """The definitions of one indexed file, rebuilt from the stored details."""
        graph = self._graph_of(path) or []
        details = self._details_of(path) or []
        return [_function(g, d) for g, d in zip(graph, details)]

    def _details_of(self, path: str) -> list | None:
        if path not in self._details_cache:
            blob = self.files.get(path)
            self._details_cache[path] = self._details(blob) if blob else None
        return self._details_cache[path]

    def _graph_of(self, path: str) -> list | None:
        return self._graphs.get(self.files[path]) if path in self.files else None

    def signature(self, name: str) -> list[tuple[str, str]]:
        """(path, signature) of every indexed definition of ``name``."""
        out = []
        for path in self.where.get(name, ()):
            blob = self.files[path]
            graph = self._graphs.get(blob) or []
            details = self._details(blob) or []
            for (fname, *_), d in zip(graph, details):
                if fname == name:
                    out.append((path, d[0]))
        return out


def _function(graph_row: list, details_row: list) -> Function:
    name, start, end, _ = graph_row
    _sig, params, locals_, calls, _summary = details_row
    return Function(name=name, start=start, end=end,
                    params=tuple(Var(type=t, name=n) for t, n in params),
                    locals=tuple(Var(type=t, name=n) for t, n in locals_),
                    calls=tuple(Call(name=c, line=ln, args=tuple(a),
                                     text=f"{c}({', '.join(a)})") for c, ln, a in calls),
                    lines=(), complete=True)


def build_index(listing: Sequence[tuple[str, str]], read: Callable[[list[str]], dict],
                cache: IndexCache | None = None) -> FunctionIndex:
    """Index the C files of ``listing`` ((path, blob id) pairs); ``read`` gives the
    contents of blobs the cache does not hold yet."""
    cache = cache or IndexCache()
    files = {p: b for p, b in listing if p.endswith(C_SUFFIXES)}
    graphs = cache.graphs(list(files.values()))
    missing = [b for b in dict.fromkeys(files.values()) if b not in graphs]
    parsed = 0
    for i in range(0, len(missing), _BATCH):
        chunk = missing[i:i + _BATCH]
        data = read(chunk)
        items = [(b, data[b]) for b in chunk if data.get(b) is not None]
        rows = _parse_many(items)
        parsed += len(rows)
        cache.store(rows)
        for blob, graph, _ in rows:
            graphs[blob] = json.loads(graph)
    index = FunctionIndex(files, graphs, cache.details)
    index.parsed = parsed
    return index


def _parse_many(items: list[tuple[str, bytes]]) -> list[tuple[str, str, str]]:
    workers = os.cpu_count() or 1
    if workers > 1 and len(items) > PARALLEL_FILES:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(min(workers, 8)) as pool:
            return pool.map(_parse_blob, items, chunksize=8)
    return [_parse_blob(it) for it in items]


# --- what a rule sees: the index with the series' own images laid over it ---------------

class View:
    """The call graph of the tree as one side of one patch leaves it.

    ``overrides`` maps the paths the series has touched so far to a callable
    giving their functions on this side (the patch's images); those paths are
    never read from the index.  Offers the graph protocol of the analysis layer
    (``definitions``, ``callees``, ``callers``, ``reaches``, ``reached_from``).
    """

    def __init__(self, tree: "CrossFile", overrides: Mapping[str, Callable[[], list]]):
        self.tree = tree
        self.overrides = dict(overrides)

    @property
    def index(self) -> FunctionIndex:
        return self.tree.index

    @cached_property
    def _local(self) -> dict[str, list[tuple[str, Function]]]:
        out: dict[str, list[tuple[str, Function]]] = {}
        for path, fns in self.overrides.items():
            for f in fns():
                out.setdefault(f.name, []).append((path, f))
        return out

    @cached_property
    def _definitions(self) -> dict[str, list[Function]]:
        return {}

    def definitions(self, name: str) -> list[Function]:
        known = self._definitions.get(name)
        if known is not None:
            return known
        out = [f for _, f in self._local.get(name, ())]
        if not out:
            for path in self.index.where.get(name, ()):
                if path not in self.overrides:
                    out.extend(self.index.named(path, name))
        self._definitions[name] = out
        return out

    def callees(self, name: str) -> set[str]:
        out: set[str] = set()
        for _, f in self._local.get(name, ()):
            out |= f.callees()
        for path, cs in self.index.callees.get(name, {}).items():
            if path not in self.overrides:
                out |= cs
        return out

    @cached_property
    def _local_callers(self) -> dict[str, set[str]]:
        rev: dict[str, set[str]] = {}
        for name, defs in self._local.items():
            for _, f in defs:
                for c in f.callees():
                    rev.setdefault(c, set()).add(name)
        return rev

    def callers(self, name: str) -> set[str]:
        out = set(self._local_callers.get(name, ()))
        for path, cs in self.index.callers.get(name, {}).items():
            if path not in self.overrides:
                out |= cs
        return out

    def reaches(self, start: str) -> set[str]:
        return _closure(self.callees, start)

    def reached_from(self, target: str) -> set[str]:
        return _closure(self.callers, target)

    def names(self) -> set[str]:
        return set(self._local) | {n for n, paths in self.index.where.items()
                                   if any(p not in self.overrides for p in paths)}


def _closure(step: Callable[[str], set[str]], start: str, limit: int = 20000) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo and len(seen) < limit:
        for nxt in step(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


class CrossFile:
    """The function index of one tree, built on first use (most reviews never ask)."""

    def __init__(self, listing: Callable[[], list[tuple[str, str]]],
                 read: Callable[[list[str]], dict], cache_file: Path | None = None):
        self._listing = listing
        self._read = read
        self._cache_file = cache_file
        self.notes: list[str] = []
        self.seconds = 0.0

    @cached_property
    def index(self) -> FunctionIndex:
        t0 = time.perf_counter()
        cache = IndexCache(self._cache_file)
        self.notes.extend(cache.notes)
        index = build_index(self._listing(), self._read, cache)
        self.seconds = time.perf_counter() - t0
        if index.parsed:
            self.notes.append(f"function index: {index.parsed} of {len(index.files)} files "
                              f"parsed in {self.seconds:.1f} s and kept in {cache.path} for the "
                              "next review")
        return index

    def view(self, overrides: Mapping[str, Callable[[], list]]) -> View:
        return View(self, overrides)

    @cached_property
    def _parsed(self) -> dict:
        return {}

    def attach(self, files: list, overlays: tuple[dict, dict]) -> None:
        """Give the whole images of one patch's file changes the cross-file graph of
        their side: ``overlays`` are (pre, post) texts of every path the series has
        touched so far, which stand in for the index's version of those files."""
        from reviewkit.engine.context import FileImage

        for side, overlay in zip(("pre", "post"), overlays):
            own = {}
            for fc in files:
                img = getattr(fc, side)
                if img is not None:
                    own[img.path] = img
            overrides: dict[str, Callable[[], list]] = {}
            for path, text in overlay.items():
                if path in own:
                    overrides[path] = (lambda img=own[path]: img.functions)
                elif text is None:
                    overrides[path] = list
                else:
                    def parsed(path=path, text=text):
                        key = (path, hash(text), len(text))
                        if key not in self._parsed:
                            self._parsed[key] = FileImage.from_text(path, text).functions
                        return self._parsed[key]
                    overrides[path] = parsed
            for path, img in own.items():
                overrides.setdefault(path, lambda img=img: img.functions)
            view = self.view(overrides)
            for img in own.values():
                if img.complete:
                    img.world = view
                    img.graph = view  # what the analysis layer's helper summaries follow
