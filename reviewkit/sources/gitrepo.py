"""A kernel git repository, only ever read: blobs by id, files at a commit, HEAD.

Every git command here is a reader (``rev-parse``, ``cat-file``, ``rev-list``,
``ls-tree``): no checkout, no index, no refs, no configuration and no objects
are written.  Git runs with the caller's ``GIT_*`` variables removed, optional
locks off (``GIT_OPTIONAL_LOCKS=0``), no fsmonitor and no lazy fetching from a
promisor remote, so a partial or shallow clone answers "missing" instead of
going to the network.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import InputError

# ids of the ``index`` line: abbreviated, 4 to 64 hex digits; all zeros is "no file"
_NULL = frozenset("0")


def is_null_id(oid: str | None) -> bool:
    return oid is None or set(oid) <= _NULL


def blob_id(data: bytes) -> str:
    """The SHA-1 object id git gives ``data`` as a blob (computed, never written)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_OPTIONAL_LOCKS": "0", "GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0",
                "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C", "GIT_NO_REPLACE_OBJECTS": "1"})
    return env


_READ_ONLY = ("-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false",
              "-c", "gc.auto=0", "-c", "maintenance.auto=false")


def probe(path: Path) -> "GitRepo | None":
    """The repository whose top (or git directory, when bare) is ``path``; None when
    ``path`` is a plain directory.  A directory that only lies inside some other
    repository is a plain directory too."""
    env = _env()
    env["GIT_CEILING_DIRECTORIES"] = str(path.parent)
    def rev_parse(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(["git", *_READ_ONLY, "-C", str(path), "rev-parse", *args],
                                  capture_output=True, env=env, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None

    out = rev_parse("--is-bare-repository", "--absolute-git-dir")
    if out is None:
        return None
    if out.returncode != 0:
        err = out.stderr.decode("utf-8", "replace").strip()
        if "dubious ownership" in err:
            raise InputError(str(path), "git refuses to read this repository (it belongs to "
                                        "another user; see git's safe.directory)")
        if (path / ".git").exists():
            first = next((ln for ln in err.splitlines() if ln.strip()), "git cannot read it")
            raise InputError(str(path), "has a .git but is not a readable git repository ("
                             + first.removeprefix("fatal: ").strip() + ")")
        return None
    lines = out.stdout.decode("utf-8", "replace").splitlines()
    if len(lines) < 2:
        return None
    git_dir = Path(lines[1].strip())
    if lines[0].strip() == "true":
        if git_dir.resolve() != path.resolve():
            return None
        return GitRepo(path=path, git_dir=git_dir, work_tree=None)
    top = rev_parse("--show-toplevel")
    if top is None or top.returncode != 0:
        return None
    top_dir = Path(top.stdout.decode("utf-8", "replace").strip())
    if top_dir.resolve() != path.resolve():
        return None
    return GitRepo(path=path, git_dir=git_dir, work_tree=top_dir)


@dataclass
class GitRepo:
    path: Path
    git_dir: Path
    work_tree: Path | None  # None: a bare repository

    def __post_init__(self) -> None:
        self._env = _env()
        self._blobs: dict[str, bytes | None] = {}
        self._head: str | None | bool = False
        self._shallow: bool | None = None

    @property
    def label(self) -> str:
        return str(self.path)

    def git(self, *args: str, input: bytes | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess:
        cmd = ["git", *_READ_ONLY, f"--git-dir={self.git_dir}"]
        if self.work_tree is not None:
            cmd.append(f"--work-tree={self.work_tree}")
        try:
            return subprocess.run([*cmd, *args], input=input, capture_output=True,
                                  env=self._env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise InputError(self.label, f"git {args[0]} took longer than {timeout:.0f} s") from None

    @property
    def shallow(self) -> bool:
        if self._shallow is None:
            out = self.git("rev-parse", "--is-shallow-repository")
            self._shallow = out.stdout.decode().strip() == "true"
        return self._shallow

    def resolve(self, rev: str) -> str | None:
        """The full commit id ``rev`` names, or None when it is not in the repository."""
        if not rev or rev.startswith("-"):
            return None
        out = self.git("rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}")
        sha = out.stdout.decode().strip()
        return sha if out.returncode == 0 and sha else None

    def head(self) -> str | None:
        if self._head is False:
            self._head = self.resolve("HEAD")
        return self._head  # type: ignore[return-value]

    def _batch(self, requests: list[str]) -> list[tuple[str, str | None, bytes | None]]:
        """(request, full id or None, blob bytes or None) per request, through one
        ``git cat-file --batch``.  Ambiguous or missing ids, and objects that are not
        blobs, give None."""
        if not requests:
            return []
        data = "".join(r + "\n" for r in requests).encode("utf-8", "surrogateescape")
        out = self.git("cat-file", "--batch", input=data, timeout=300).stdout
        pos = 0
        result = []
        for req in requests:
            nl = out.find(b"\n", pos)
            if nl < 0:
                result.append((req, None, None))
                continue
            header = out[pos:nl].decode("utf-8", "replace").split()
            pos = nl + 1
            # "<id> <type> <size>", or "<request> missing|ambiguous"
            if len(header) == 3 and header[1].isalpha() and header[2].isdigit():
                size = int(header[2])
                body = out[pos:pos + size]
                pos += size + 1
                result.append((req, header[0], body) if header[1] == "blob" else (req, None, None))
            else:
                result.append((req, None, None))
        return result

    def blobs(self, ids: list[str]) -> dict[str, bytes | None]:
        """Blob contents for (abbreviated) ids; None for absent, ambiguous or non-blob ids."""
        want = [i for i in dict.fromkeys(ids) if i not in self._blobs]
        for req, _, body in self._batch(want):
            self._blobs[req] = body
        return {i: self._blobs.get(i) for i in ids}

    def read_blobs(self, ids: list[str]) -> dict[str, bytes | None]:
        """Like blobs(), without keeping them (for reading many files once)."""
        return {req: body for req, _, body in self._batch(ids)}

    def files_at(self, commit: str, paths: list[str]) -> dict[str, bytes | None]:
        """The contents of ``paths`` at ``commit`` (None where the path is absent)."""
        reqs = [f"{commit}:{p}" for p in paths]
        return {p: body for p, (_, _, body) in zip(paths, self._batch(reqs))}

    def blob_ids_at(self, commits: list[str], paths: list[str]) -> dict[tuple[str, str], str | None]:
        """(commit, path) -> full blob id at that commit, through one
        ``cat-file --batch-check``."""
        reqs = [(c, p) for c in commits for p in paths]
        if not reqs:
            return {}
        data = "".join(f"{c}:{p}\n" for c, p in reqs).encode("utf-8", "surrogateescape")
        out = self.git("cat-file", "--batch-check=%(objectname) %(objecttype)", input=data,
                       timeout=300).stdout.decode("utf-8", "replace").splitlines()
        result: dict[tuple[str, str], str | None] = {}
        for key, line in zip(reqs, out):
            parts = line.split()
            result[key] = parts[0] if len(parts) == 2 and parts[1] == "blob" else None
        return result

    def tree_listing(self, commit: str, dirs: list[str]) -> list[tuple[str, str]]:
        """(path, blob id) of every file under ``dirs`` at ``commit``."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", commit, "--", *dirs, timeout=300)
        rows = []
        for entry in out.stdout.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == b"blob":
                rows.append((path.decode("utf-8", "surrogateescape"), parts[2].decode()))
        return rows

    def worktree_file(self, path: str) -> bytes | None:
        if self.work_tree is None:
            return None
        from reviewkit.sources.paths import safe_relpath

        if safe_relpath(path, self.work_tree) is None:
            return None
        try:
            return (self.work_tree / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            return None

    def recent_commits(self, paths: list[str], limit: int, before: int | None,
                       days: int | None = None, timeout: float = 120.0) -> list[str]:
        """Commits on any branch that changed ``paths``, newest first: at most ``limit``,
        none after ``before`` (a timestamp) nor more than ``days`` before it."""
        args = ["rev-list", "--all", "--date-order", f"--max-count={limit}"]
        if before is not None:
            args.append(f"--before={before}")
            if days is not None:
                args.append(f"--since={before - days * 86400}")
        out = self.git(*args, "--", *paths, timeout=timeout)
        return out.stdout.decode().split()


def patch_id(diff: str) -> str | None:
    """``git patch-id --stable`` of a diff text (git needs no repository for it)."""
    try:
        out = subprocess.run(["git", "patch-id", "--stable"], input=encode(diff),
                             capture_output=True, env=_env(), timeout=60, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.stdout.decode().split()
    return words[0] if out.returncode == 0 and words else None
