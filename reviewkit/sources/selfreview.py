"""Self-review input: which commits of the current repository to review, read as
mail, their base, and the repository's top, which is the tree for function context.

Only I/O lives here (git); reviewing them is the command's business
(``api.review_commits``).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import InputError
from reviewkit.sources.local import is_git_repo, read_git_range

ZERO_SHA = re.compile(r"^0+$")
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


@dataclass(frozen=True)
class Selection:
    """Commits to review: ``label`` names them to the user; ``commits`` oldest first."""

    label: str
    commits: tuple[str, ...]
    base: str | None  # the parent of the first commit (None: a root commit)

    @property
    def rev_range(self) -> str:
        tip = self.commits[-1]
        return f"{self.base}..{tip}" if self.base else tip


def _git(cwd: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input, timeout=120)


def require_repo(cwd: Path) -> None:
    if not is_git_repo(cwd):
        raise InputError(str(cwd), "not a git repository (reviewkit check runs inside one)")


def select(label: str, rev_args: list[str], cwd: Path) -> Selection:
    """The non-merge commits ``git rev-list REV_ARGS`` names, oldest first."""
    out = _git(cwd, "rev-list", "--reverse", "--no-merges", *rev_args, "--")
    if out.returncode != 0:
        err = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(label, f"not a revision or range of this repository "
                                f"({err[-1] if err else 'git rev-list failed'})")
    commits = tuple(out.stdout.decode().split())
    base = None
    if commits:
        parent = _git(cwd, "rev-parse", "--verify", "--quiet", commits[0] + "^")
        base = parent.stdout.decode().strip() or None
    return Selection(label=label, commits=commits, base=base)


def select_range(rev_range: str, cwd: Path) -> Selection:
    """A RANGE given by the user: ``A..B``, ``A...B`` or one revision (that commit)."""
    require_repo(cwd)
    args = [rev_range] if ".." in rev_range else [rev_range, "-1"]
    return select(rev_range, args, cwd)


def default_selection(cwd: Path) -> tuple[Selection, str | None]:
    """The branch's commits not in its upstream, with the upstream's name; HEAD
    alone (and None) when the branch has no upstream."""
    require_repo(cwd)
    up = _git(cwd, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    if up.returncode == 0:
        name = up.stdout.decode().strip()
        return select(f"{name}..HEAD", ["@{upstream}..HEAD"], cwd), name
    return select("HEAD", ["HEAD", "-1"], cwd), None


@dataclass(frozen=True)
class PushedRef:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def deletes(self) -> bool:
        return bool(ZERO_SHA.match(self.local_sha))

    @property
    def creates(self) -> bool:
        return bool(ZERO_SHA.match(self.remote_sha))


def parse_pre_push(text: str) -> list[PushedRef]:
    """git's pre-push hook input: ``<local ref> SP <local sha> SP <remote ref> SP
    <remote sha> LF`` per ref being pushed."""
    refs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not all(_SHA.match(p) for p in (parts[1], parts[3])):
            raise InputError(f"<stdin>:{n}", "not a pre-push line (<local ref> <local sha> "
                                             "<remote ref> <remote sha>): " + line[:80])
        refs.append(PushedRef(*parts))
    return refs


def pushed_selection(ref: PushedRef, remote: str | None, cwd: Path) -> Selection | None:
    """Exactly the commits this push sends for REF (None for a deletion).

    An update sends ``remote_sha..local_sha``; a new branch sends what no
    remote-tracking branch (of REMOTE, when git names it) already has.
    """
    if ref.deletes:
        return None
    label = f"{ref.local_ref} -> {ref.remote_ref}"
    if not ref.creates and _git(cwd, "cat-file", "-e", ref.remote_sha + "^{commit}").returncode == 0:
        return select(label, [f"{ref.remote_sha}..{ref.local_sha}"], cwd)
    # a new branch, or a remote tip we never fetched (a forced push)
    known = f"--remotes={remote}" if remote and _has_remote_refs(remote, cwd) else "--remotes"
    return select(label, [ref.local_sha, "--not", known], cwd)


def _has_remote_refs(remote: str, cwd: Path) -> bool:
    out = _git(cwd, "for-each-ref", "--count=1", "--format=%(refname)", f"refs/remotes/{remote}/")
    return bool(out.stdout.strip())


def read_selection(sel: Selection, cwd: Path):
    """The selected commits as ``git format-patch`` mail (RawMessages)."""
    return read_git_range(sel.rev_range if sel.base else sel.commits[-1], cwd,
                          root=sel.base is None)


def toplevel(cwd: Path) -> Path:
    """The top of the work tree ``cwd`` is in (``cwd`` itself when git cannot say)."""
    top = _git(cwd, "rev-parse", "--show-toplevel").stdout.decode("utf-8", "replace").strip()
    return Path(top) if top else cwd
