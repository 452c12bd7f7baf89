"""Git as a source: a revision or range of the current repository, as mail."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Iterator

from reviewkit.errors import InputError
from reviewkit.parse.mbox import split_bytes
from reviewkit.parse.series import RawMessage


def is_git_repo(cwd: Path) -> bool:
    try:
        out = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=cwd, capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def git_revision_exists(rev_range: str, cwd: Path) -> bool:
    if rev_range.startswith("-"):
        return False
    ends = [e for e in re.split(r"\.\.\.?", rev_range) if e]
    if not ends:
        return False
    for end in ends:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", end + "^{commit}"],
                             cwd=cwd, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            return False
    return True


def read_git_range(rev_range: str, cwd: Path, root: bool = False) -> Iterator[RawMessage]:
    """The commits of ``rev_range`` as ``git format-patch --stdout`` mail.

    A single revision means that one commit (``-1``), as a reviewer expects;
    with ``root``, every commit from the root to it.
    """
    label = f"git:{rev_range}"
    args = ["git", "-c", "core.quotepath=off", "-c", "diff.noprefix=false",
            "format-patch", "--stdout", "--no-color", "--no-signature", "--thread=shallow"]
    if root:
        args += ["--root"]
    elif ".." not in rev_range:
        args += ["-1"]
    args += [rev_range, "--"]
    env = {**os.environ, "GIT_PAGER": "cat", "LC_ALL": "C"}
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, env=env, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(label, f"git format-patch failed: {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(label, f"git format-patch failed: {err[-1] if err else proc.returncode}")
    if not proc.stdout.strip():
        raise InputError(label, "the range holds no commit")
    for lineno, data in split_bytes(proc.stdout):
        yield RawMessage(f"{label}:{lineno}", data)
