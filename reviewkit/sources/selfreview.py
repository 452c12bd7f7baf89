"""Self-review: the commits of a range in the current repository, with the
repository at the range's base as the tree for function context."""

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


def materialize(cwd: Path, base: str, paths: set[str], dest: Path) -> None:
    """Write ``paths`` as they are at ``base`` under ``dest`` (missing ones are skipped)."""
    from reviewkit.engine.tree import safe_relpath

    wanted = sorted(p for p in paths if safe_relpath(p, dest) is not None)
    if not wanted:
        return
    request = "".join(f"{base}:{p}\n" for p in wanted).encode()
    out = _git(cwd, "cat-file", "--batch", input=request).stdout
    pos = 0
    for path in wanted:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode(errors="replace").split()
        pos = nl + 1
        if len(header) < 3 or header[1] != "blob":
            continue  # missing at base: an added file
        size = int(header[2])
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[pos:pos + size])
        pos += size + 1
