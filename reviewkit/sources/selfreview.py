"""Self-review: the range of commits in the current repository, its base, and the
repository's top, which is the tree for function context."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reviewkit.errors import InputError
from reviewkit.sources.local import is_git_repo


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


def toplevel(cwd: Path) -> Path:
    """The top of the work tree ``cwd`` is in (``cwd`` itself when git cannot say)."""
    top = _git(cwd, "rev-parse", "--show-toplevel").stdout.decode("utf-8", "replace").strip()
    return Path(top) if top else cwd
