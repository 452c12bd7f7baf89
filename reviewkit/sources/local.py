"""Local sources: an mbox, one .eml/.patch, a format-patch directory, stdin, a git range.

This is the only place (with the lore adapter) that reads files or runs git.
Every source yields RawMessage objects lazily, so a large mbox is streamed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from reviewkit.errors import InputError
from reviewkit.parse.mbox import looks_like_mbox, split_file, split_bytes
from reviewkit.parse.series import RawMessage

_PATCH_FILE = re.compile(r"\.(patch|eml|mbox|mbx|diff|txt)$", re.I)


def read_path(path: Path, label: str) -> Iterator[RawMessage]:
    """Messages of an mbox or a single message file."""
    try:
        fp = path.open("rb")
    except OSError as exc:
        raise InputError(label, f"cannot read: {exc.strerror or exc}") from None
    with fp:
        head = fp.read(4096)
        if not head.strip():
            raise InputError(label, "empty file")
        fp.seek(0)
        if looks_like_mbox(head):
            for lineno, data in split_file(fp):
                yield RawMessage(f"{label}:{lineno}", data)
        else:
            yield RawMessage(label, fp.read())


def read_directory(path: Path, label: str) -> Iterator[RawMessage]:
    """A ``git format-patch`` output directory (with or without a cover letter)."""
    files = sorted(p for p in path.iterdir() if p.is_file() and _PATCH_FILE.search(p.name))
    if not files:
        raise InputError(label, "directory holds no .patch, .eml or .mbox file")
    for f in files:
        name = str(Path(label) / f.name)
        try:
            data = f.read_bytes()
        except OSError:
            # one unreadable file is a broken message of the series, not the end of the run
            yield RawMessage(name, b"")
            continue
        if looks_like_mbox(data[:4096]):
            for lineno, msg in split_bytes(data):
                yield RawMessage(f"{name}:{lineno}", msg)
        else:
            yield RawMessage(name, data)


def read_stdin(label: str = "<stdin>") -> Iterator[RawMessage]:
    data = sys.stdin.buffer.read()
    if not data.strip():
        raise InputError(label, "empty input")
    if looks_like_mbox(data[:4096]):
        for lineno, msg in split_bytes(data):
            yield RawMessage(f"{label}:{lineno}", msg)
    else:
        yield RawMessage(label, data)


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


_MSGID_LIKE = re.compile(r"^<?[^\s<>/]+@[^\s<>/]+>?$")


def looks_remote(source: str) -> bool:
    """A Message-ID or an archive URL: a lore source, not a local one."""
    return source.startswith(("http://", "https://")) or (
        "{" not in source and _MSGID_LIKE.match(source) is not None)


def open_local(source: str, cwd: Path | None = None) -> Iterator[RawMessage]:
    """Resolve SOURCE to local messages: path, ``-``, or a git revision range."""
    cwd = cwd or Path.cwd()
    if source == "-":
        return read_stdin()
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = cwd / path
    if path.is_dir():
        return read_directory(path, source)
    if path.exists():
        return read_path(path, source)
    if is_git_repo(cwd) and git_revision_exists(source, cwd):
        return read_git_range(source, cwd)
    raise InputError(source, "no such file, directory, git revision or Message-ID")
