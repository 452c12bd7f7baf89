"""Self-review: the commits of a range in the current repository, with the
repository (its blobs, and the range's base) as the tree for function context."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from reviewkit.errors import InputError
from reviewkit.sources.local import is_git_repo, read_git_range


def _git(cwd: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input, timeout=120)


def default_range(cwd: Path) -> str:
    """The branch's commits not in its upstream; HEAD alone when there is no upstream."""
    if not is_git_repo(cwd):
        raise InputError(str(cwd), "not a git repository (reviewkit check runs inside one)")
    up = _git(cwd, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    if up.returncode == 0:
        count = _git(cwd, "rev-list", "--count", "@{upstream}..HEAD")
        if count.returncode == 0 and count.stdout.strip() not in (b"", b"0"):
            return "@{upstream}..HEAD"
    return "HEAD"


def base_of(rev_range: str, cwd: Path) -> str | None:
    """The commit the range's first patch applies to (None for a root commit)."""
    if "..." in rev_range:
        a, b = rev_range.split("...", 1)
        out = _git(cwd, "merge-base", a or "HEAD", b or "HEAD")
    elif ".." in rev_range:
        a, b = rev_range.split("..", 1)
        out = _git(cwd, "merge-base", a or "HEAD", b or "HEAD")
    else:
        out = _git(cwd, "rev-parse", "--verify", "--quiet", rev_range + "^")
    sha = out.stdout.decode().strip()
    return sha or None


def review_commits(rev_range: str, cwd: Path, options):
    from reviewkit import api
    from reviewkit.parse.series import NoPatchesError, build_series

    if not is_git_repo(cwd):
        raise InputError(str(cwd), "not a git repository (reviewkit check runs inside one)")
    label = f"git:{rev_range}"
    try:
        series = build_series(read_git_range(rev_range, cwd), source=label)
    except NoPatchesError as exc:
        raise InputError(label, str(exc)) from None
    base = base_of(rev_range, cwd)
    top = _git(cwd, "rev-parse", "--show-toplevel").stdout.decode("utf-8", "replace").strip()
    # the repository itself is the tree: pre-images by the blob ids of the commits,
    # the rest of the tree at the range's base (read, never written)
    tree = Path(top) if top else cwd
    return api.review_series(series, replace(options, tree=tree, tree_base=base), source=label)
