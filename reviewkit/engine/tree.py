"""Tree mode: the exact pre-image of every file a series touches, and its post-image.

``--tree`` names a kernel git repository (with a work tree, or bare) or a plain
directory.  For each file of each patch the pre-image is, in this order:

1. the post-image of an earlier patch of the series that touched the file;
2. the blob the patch's ``index abc1234..def5678`` line names (as ``git am -3``
   finds it);
3. the file at the series' ``base-commit:``, after the ``prerequisite-patch-id:``
   patches that are in the input;
4. the file at the repository's HEAD, then in its work tree (or the plain
   directory's file);
5. with ``guess_base``, the file at a recent commit that changed it (newest
   first, bounded in commits and seconds), as ``b4 am --guess-base`` looks.

A candidate counts only when every hunk applies to it exactly (every context and
removed line as the patch says, at any offset): no fuzz, no reduced context.  A
patch with a file that has no exact pre-image is reviewed from its diff, and a
note says why.  Patches are applied in memory; the user's tree and repository
are only read, and a path that would leave the tree is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from reviewkit.model import FileDiff, Patch, Series

# the context sources, most exact first
SOURCES = ("blob", "base-commit", "worktree", "guessed", "diff")
GUESS_COMMITS = 1000  # at most this many recent commits are tried by guess_base
GUESS_SECONDS = 10.0  # and for at most this long
GUESS_DAYS = 120  # commits older than the patch date by more than this are not tried


@dataclass(frozen=True)
class PatchSource:
    """Where a patch's pre-images came from: one of SOURCES, and the commit when known."""

    source: str
    base: str | None = None

    def to_json(self) -> dict:
        return {"source": self.source, "base": self.base}

    def describe(self) -> str:
        return self.source + (f" {self.base[:12]}" if self.base else "")


DIFF = PatchSource("diff")


@dataclass
class TreeImages:
    images: dict[int, dict[str, tuple[str | None, str | None]]] = field(default_factory=dict)
    applied: set[int] = field(default_factory=set)  # patch indexes reviewed in tree mode
    notes: list[str] = field(default_factory=list)
    contexts: dict[int, PatchSource] = field(default_factory=dict)
    # where the rest of the tree (files the series does not touch) is read from
    world: "World | None" = None
    # per applied patch: (pre, post) texts of every path the series touched so far
    overlays: dict[int, tuple[dict, dict]] = field(default_factory=dict)
    cross: object | None = None  # engine.xref.CrossFile: the cross-file call graph


@dataclass(frozen=True)
class World:
    """The tree around the series: a git commit, or a plain directory."""

    repo: object | None  # sources.gitrepo.GitRepo
    commit: str | None
    directory: Path | None


def unified_diff(files: tuple[FileDiff, ...]) -> str:
    """A git-style diff text rebuilt from the model (binary files left out)."""
    out: list[str] = []
    for fd in files:
        if fd.is_binary and not fd.hunks:
            continue
        old = fd.old_path or fd.path
        new = fd.new_path or fd.path
        out.append(f"diff --git a/{old} b/{new}")
        if fd.status == "added":
            out.append("new file mode 100644")
        elif fd.status == "deleted":
            out.append("deleted file mode 100644")
        elif fd.status == "renamed":
            out += [f"rename from {old}", f"rename to {new}"]
        out.append("--- /dev/null" if fd.status == "added" else f"--- a/{old}")
        out.append("+++ /dev/null" if fd.status == "deleted" else f"+++ b/{new}")
        for h in fd.hunks:
            section = f" {h.section}" if h.section else ""
            out.append(f"@@ -{h.old_start},{h.old_len} +{h.new_start},{h.new_len} @@{section}")
            out.extend(ln.kind + ln.text for ln in h.lines
                       if ln.old_no is not None or ln.new_no is not None)
    return "\n".join(out) + "\n"


# the path check is the sources layer's; kept importable from here
from reviewkit.sources.paths import safe_relpath  # noqa: E402,F401


def _paths(patch: Patch) -> set[str]:
    out = set()
    for fd in patch.files:
        for p in (fd.old_path, fd.new_path):
            if p:
                out.add(p)
    return out


# --- applying a diff exactly, in memory ---------------------------------------------

_MISS = object()


def _find(lines: list[str], block: list[str], want: int, lo: int) -> int | None:
    """Where ``block`` stands in ``lines`` at or after ``lo``, nearest to ``want``."""
    n = len(block)
    hi = len(lines) - n
    if hi < lo:
        return None
    want = min(max(want, lo), hi)
    if not block:
        return want
    first = block[0]
    for d in range(0, max(want - lo, hi - want) + 1):
        for at in ((want + d, want - d) if d else (want,)):
            if lo <= at <= hi and lines[at] == first and lines[at:at + n] == block:
                return at
    return None


def apply_exact(pre: str | None, fd: FileDiff, trim: int = 0):
    """The post-image of ``pre`` under ``fd`` (None for a deleted file), or _MISS
    when a hunk does not apply exactly.  ``trim`` drops that many context lines at
    each end of every hunk (only to tell "would apply with reduced context")."""
    if fd.status == "added":
        if pre is not None:
            return _MISS  # the file is already there
        pre = ""
    elif pre is None:
        return _MISS
    final_nl = pre.endswith("\n")
    lines = pre.split("\n")
    if final_nl or lines == [""]:
        lines.pop()
    out: list[str] = []
    pos = 0
    offset = 0
    for h in fd.hunks:
        hl = [ln for ln in h.lines if ln.old_no is not None or ln.new_no is not None]
        lead = 0
        while lead < trim and lead < len(hl) and hl[lead].kind == " ":
            lead += 1
        tail = 0
        while tail < trim and tail < len(hl) - lead and hl[len(hl) - 1 - tail].kind == " ":
            tail += 1
        core = hl[lead:len(hl) - tail]
        old = [ln.text for ln in core if ln.kind != "+"]
        new = [ln.text for ln in core if ln.kind != "-"]
        start = (h.old_start - 1 if h.old_len else h.old_start) + lead
        at = _find(lines, old, start + offset, pos)
        if at is None:
            return _MISS
        offset = at - start
        out.extend(lines[pos:at])
        out.extend(new)
        pos = at + len(old)
    out.extend(lines[pos:])
    if fd.status == "deleted":
        return None if not out else _MISS
    if not out:
        return ""
    return "\n".join(out) + ("\n" if final_nl or fd.status == "added" or not pre else "")


# --- pre-image sources ----------------------------------------------------------------

@dataclass
class _Candidate:
    source: PatchSource
    text: str | None  # None: the file is absent there
    what: str  # for notes: "blob 72e01b8", "HEAD", "base-commit 1234abcd"


class _Resolver:
    def __init__(self, series: Series, tree: Path, repo, guess_base: bool,
                 base_override: str | None, prerequisites: tuple[Patch, ...]):
        self.series = series
        self.tree = tree
        self.repo = repo  # GitRepo or None (a plain directory)
        self.guess_base = guess_base
        self.notes: list[str] = []
        self.state: dict[str, tuple[str | None, PatchSource]] = {}
        self.unknown: set[str] = set()
        self.base: str | None = None
        self.base_files: dict[str, str | None] = {}  # prerequisite post-images at base
        self._head_files: dict[str, bytes | None] = {}
        self._base_cache: dict[str, bytes | None] = {}
        self._setup_base(base_override, prerequisites)

    # the series' base and its prerequisites
    def _setup_base(self, override: str | None, prerequisites: tuple[Patch, ...]) -> None:
        named = override or series_base(self.series)
        if named is None:
            return
        if self.repo is None:
            if override is None:
                self.notes.append(f"base-commit {named[:12]}: {self.tree} is not a git "
                                  "repository, so only its files as they are were tried")
            return
        self.base = self.repo.resolve(named)
        if self.base is None:
            if override is None:
                self.notes.append(f"base-commit {named[:12]} is not in {self.repo.label}"
                                  + (" (a shallow clone)" if self.repo.shallow else "")
                                  + "; fetch it for exact context")
            return
        wanted = series_prerequisites(self.series)
        have = {}
        if wanted:
            from reviewkit.sources.gitrepo import patch_id

            for p in prerequisites:
                pid = patch_id(unified_diff(p.files))
                if pid in wanted:
                    have.setdefault(pid, p)
        for pid in wanted:
            p = have.get(pid)
            if p is None:
                self.notes.append(f"prerequisite-patch-id {pid[:12]} is not in the input; "
                                  f"base-commit {self.base[:12]} is used without it")
                continue
            ok = True
            staged: dict[str, str | None] = {}
            for fd in p.files:
                old = fd.old_path
                pre = (staged[old] if old in staged else self.base_files[old]
                       if old in self.base_files else self._at_base(old)) if old else None
                post = apply_exact(pre, fd)
                if post is _MISS:
                    ok = False
                    break
                if old and old != fd.new_path:
                    staged[old] = None
                if fd.new_path:
                    staged[fd.new_path] = post
            if ok:
                self.base_files.update(staged)
            else:
                self.notes.append(f"prerequisite {p.subject.title!r} does not apply exactly "
                                  f"at base-commit {self.base[:12]}; left out")

    def _at_base(self, path: str) -> str | None:
        from reviewkit.sources.gitrepo import decode

        if path not in self._base_cache:
            self._base_cache.update(self.repo.files_at(self.base, [path]))
        data = self._base_cache.get(path)
        return decode(data) if data is not None else None

    def _base_if_same(self, path: str, data: bytes) -> str | None:
        """The series' base commit when its file is this very blob (else None)."""
        if self.base is None or path in self.base_files:
            return None
        from reviewkit.sources.gitrepo import encode

        text = self._at_base(path)
        return self.base if text is not None and encode(text) == data else None

    def _head(self, path: str) -> bytes | None:
        if path not in self._head_files:
            head = self.repo.head()
            self._head_files.update(self.repo.files_at(head, [path]) if head else {path: None})
        return self._head_files.get(path)

    def candidates(self, fd: FileDiff):
        from reviewkit.sources.gitrepo import blob_id, decode, encode, is_null_id

        old = fd.old_path
        added = fd.status == "added"
        if old is not None and old in self.state:
            text, src = self.state[old]
            if fd.old_blob and text is not None and blob_id(encode(text)).startswith(fd.old_blob):
                src = PatchSource("blob", src.base if src.source == "blob" else None)
            yield _Candidate(src, text, "the earlier patch's result")
            return
        if old is not None and old in self.unknown:
            # an earlier patch of the series changed this file and could not be applied:
            # only the exact blob the index line names can stand for it
            if self.repo is not None and fd.old_blob and not is_null_id(fd.old_blob):
                data = self.repo.blobs([fd.old_blob])[fd.old_blob]
                if data is not None:
                    yield _Candidate(PatchSource("blob"), decode(data), f"blob {fd.old_blob}")
            return
        if fd.old_blob and (added or old is not None):
            if is_null_id(fd.old_blob):
                if added:
                    yield _Candidate(PatchSource("blob"), None, "no file")
            elif self.repo is not None:
                data = self.repo.blobs([fd.old_blob])[fd.old_blob]
                if data is not None:
                    yield _Candidate(PatchSource("blob", self._base_if_same(old, data)),
                                     decode(data), f"blob {fd.old_blob}")
        path = old or fd.path
        if self.repo is not None and self.base is not None:
            text = self.base_files[path] if path in self.base_files else self._at_base(path)
            yield _Candidate(PatchSource("base-commit", self.base), text,
                             f"base-commit {self.base[:12]}")
        if self.repo is not None:
            head = self.repo.head()
            head_data = self._head(path) if head else None
            if head:
                yield _Candidate(PatchSource("worktree", head),
                                 decode(head_data) if head_data is not None else None, "HEAD")
            if self.repo.work_tree is not None:
                data = self.repo.worktree_file(path)
                if head is None or data != head_data:
                    yield _Candidate(PatchSource("worktree"),
                                     decode(data) if data is not None else None, "the work tree")
        else:
            data = _read_plain(self.tree, path)
            yield _Candidate(PatchSource("worktree"), data, "the tree")

    def miss_reason(self, fd: FileDiff, tried: list[_Candidate], reduced: bool) -> str:
        from reviewkit.sources.gitrepo import is_null_id

        parts = []
        if (self.repo is not None and fd.old_blob and not is_null_id(fd.old_blob)
                and not any(c.what == f"blob {fd.old_blob}" for c in tried)
                and (fd.old_path or fd.path) not in self.state):
            parts.append(f"blob {fd.old_blob} is not in {self.repo.label}"
                         + (" (a shallow clone)" if self.repo.shallow else ""))
        applied_to = [c.what for c in tried]
        if applied_to:
            parts.append("it does not apply exactly to " + ", ".join(dict.fromkeys(applied_to)))
        if reduced:
            parts.append("it would apply only with reduced context")
        return f"{fd.path}: " + "; ".join(parts) if parts else fd.path

    def resolve(self, fd: FileDiff):
        """(PatchSource, pre, post) for one file, or (None, reason, None)."""
        tried: list[_Candidate] = []
        reduced = False
        for cand in self.candidates(fd):
            post = apply_exact(cand.text, fd)
            if post is not _MISS:
                return cand.source, cand.text, post
            tried.append(cand)
            if not reduced and cand.text is not None and fd.status != "added" and (
                    apply_exact(cand.text, fd, trim=2) is not _MISS):
                reduced = True
        return None, self.miss_reason(fd, tried, reduced), None

    def guess(self, patch: Patch, fds: list[FileDiff], deadline: float):
        """A recent commit at which every file of ``fds`` applies exactly."""
        from reviewkit.sources.gitrepo import decode

        paths = sorted({fd.old_path for fd in fds if fd.old_path} | {fd.path for fd in fds})
        from reviewkit.errors import ReviewkitError

        before = int(patch.date.timestamp()) + 86400 if patch.date else None
        try:
            commits = self.repo.recent_commits(paths, GUESS_COMMITS, before,
                                               GUESS_DAYS if patch.date else None,
                                               timeout=max(1.0, deadline - time.monotonic()))
        except ReviewkitError:
            self.notes.append(f"patch {patch.index}/{patch.total}: --guess-base stopped "
                              f"after {GUESS_SECONDS:.0f} s")
            return None
        if not commits:
            return None
        ids = self.repo.blob_ids_at(commits, paths)
        tried: dict[tuple, object] = {}
        for commit in commits:
            if time.monotonic() > deadline:
                self.notes.append(f"patch {patch.index}/{patch.total}: --guess-base stopped "
                                  f"after {GUESS_SECONDS:.0f} s")
                return None
            key = tuple(ids.get((commit, p)) for p in paths)
            if key in tried:
                continue
            blobs = self.repo.blobs([i for i in key if i])
            results = []
            for fd in fds:
                oid = ids.get((commit, fd.old_path or fd.path))
                data = blobs.get(oid) if oid else None
                text = decode(data) if data is not None else None
                post = apply_exact(text, fd)
                if post is _MISS:
                    break
                results.append((fd, text, post))
            tried[key] = True
            if len(results) == len(fds):
                return commit, results
        return None


def _read_plain(root: Path, path: str) -> str | None:
    from reviewkit.sources.gitrepo import decode

    if safe_relpath(path, root) is None:
        return None
    try:
        return decode((root / path).read_bytes())
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def series_base(series: Series) -> str | None:
    for p in ((series.cover,) if series.cover else ()) + tuple(reversed(series.patches)):
        if p.base_commit:
            return p.base_commit
    return None


def series_prerequisites(series: Series) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for p in ((series.cover,) if series.cover else ()) + series.patches:
        for pid in p.prerequisite_patch_ids:
            out[pid] = None
    return tuple(out)


def _weakest(sources: list[PatchSource]) -> PatchSource:
    worst = max(sources, key=lambda s: SOURCES.index(s.source))
    bases = {s.base for s in sources if s.source == worst.source}
    base = worst.base if len(bases) == 1 else None
    return PatchSource(worst.source, base)


def open_tree(tree: Path):
    """The git repository ``tree`` is (bare or not), or None for a plain directory."""
    from reviewkit.sources.gitrepo import probe

    return probe(tree)


def build_images(series: Series, tree: Path, *, repo=None, guess_base: bool = False,
                 base: str | None = None, prerequisites: tuple[Patch, ...] = ()
                 ) -> TreeImages:
    """Pre- and post-images of every patch of ``series`` against ``tree``.

    ``repo`` is the repository ``tree`` is (see open_tree; None: a plain
    directory).  ``base`` names the commit the series applies to when the caller
    knows it (self-review); otherwise the series' own ``base-commit:`` is used.
    ``prerequisites`` are other patches of the input, for
    ``prerequisite-patch-id:``.
    """
    result = TreeImages()
    refused = sorted({path for p in series.patches for path in _paths(p)
                      if safe_relpath(path, tree) is None})
    if refused:
        result.notes.append("paths outside the tree refused: " + ", ".join(refused))
    if guess_base and repo is None:
        result.notes.append(f"--guess-base needs a git repository; {tree} is not one")
    res = _Resolver(series, tree, repo, guess_base and repo is not None, base, prerequisites)
    result.notes.extend(res.notes)
    res.notes = result.notes
    deadline = time.monotonic() + GUESS_SECONDS
    for p in series.patches:
        where = f"patch {p.index}/{p.total}"
        paths = _paths(p)
        if paths & set(refused):
            result.notes.append(f"{where}: reviewed from the diff alone "
                                "(it names a path outside the tree)")
            result.contexts[p.index] = DIFF
            res.unknown |= paths
            continue
        fds = [fd for fd in p.files if not (fd.is_binary and not fd.hunks)]
        resolved: list[tuple[FileDiff, PatchSource, str | None, str | None]] = []
        missing: list[tuple[FileDiff, str]] = []
        for fd in fds:
            src, pre, post = res.resolve(fd)
            if src is None:
                missing.append((fd, pre))
            else:
                resolved.append((fd, src, pre, post))
        if missing and res.guess_base:
            found = res.guess(p, [fd for fd, _ in missing], deadline)
            if found is not None:
                commit, results = found
                resolved += [(fd, PatchSource("guessed", commit), pre, post)
                             for fd, pre, post in results]
                missing = []
        if missing:
            reason = "; ".join(r for _, r in missing[:2])
            result.notes.append(f"{where} does not apply to the tree exactly ({reason}); "
                                "reviewed from the diff alone")
            result.contexts[p.index] = DIFF
            for fd in p.files:
                for path in (fd.old_path, fd.new_path):
                    if path:
                        res.unknown.add(path)
                        res.state.pop(path, None)
            continue
        images: dict[str, tuple[str | None, str | None]] = {}
        before = {path: text for path, (text, _) in res.state.items()}
        for fd, src, pre, post in resolved:
            if fd.old_path:
                images[fd.old_path] = (pre, post if fd.old_path == fd.new_path else None)
                if fd.old_path != fd.new_path:
                    res.state[fd.old_path] = (None, src)
            if fd.new_path:
                images[fd.new_path] = (pre if fd.new_path == fd.old_path else None, post)
                res.state[fd.new_path] = (post, src)
        for fd in p.files:
            if fd.is_binary and not fd.hunks:  # contents unknown from here on
                for path in (fd.old_path, fd.new_path):
                    if path:
                        res.unknown.add(path)
                        res.state.pop(path, None)
        if not resolved:  # only binary files
            result.contexts[p.index] = DIFF
            continue
        result.images[p.index] = images
        result.overlays[p.index] = (
            {**before, **{path: pre for path, (pre, _) in images.items() if pre is not None
                          or path not in before}},
            {path: text for path, (text, _) in res.state.items()})
        result.applied.add(p.index)
        result.contexts[p.index] = _weakest([src for _, src, _, _ in resolved])
    if repo is not None:
        commit = res.base or next((c.base for c in result.contexts.values()
                                   if c.source == "guessed" and c.base), None) or repo.head()
        result.world = World(repo=repo, commit=commit, directory=None)
    else:
        result.world = World(repo=None, commit=None, directory=tree)
    if result.applied:
        result.cross = cross_file(result.world, sorted({path for p in series.patches
                                                         for path in _paths(p)}))
    return result


def cross_file(world: World, series_paths: list[str]):
    """The cross-file call graph around the series (None without a tree to read)."""
    from reviewkit.engine.xref import CrossFile, index_dirs

    dirs = list(index_dirs(series_paths))
    if world.repo is not None:
        repo, commit = world.repo, world.commit
        if commit is None:
            return None
        return CrossFile(lambda: repo.tree_listing(commit, dirs), repo.read_blobs)
    root = world.directory
    store: dict[str, bytes] = {}

    def listing() -> list[tuple[str, str]]:
        from reviewkit.sources.gitrepo import blob_id

        out = []
        for d in dirs:
            base = root / d
            if safe_relpath(d, root) is None or not base.is_dir():
                continue
            for p in sorted(base.rglob("*")):
                if p.suffix not in (".c", ".h") or not p.is_file() or p.is_symlink():
                    continue
                rel = p.relative_to(root).as_posix()
                if safe_relpath(rel, root) is None:
                    continue
                data = p.read_bytes()
                oid = blob_id(data)
                store[oid] = data
                out.append((rel, oid))
        return out

    def read(ids: list[str]) -> dict:
        return {i: store.pop(i, None) for i in ids}

    return CrossFile(listing, read)
