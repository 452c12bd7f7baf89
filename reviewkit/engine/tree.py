"""Tree mode: apply the series to a scratch copy of a source tree.

Only the files the series touches are copied out of the user's tree into a
temporary directory, which is where ``git apply`` runs; the user's tree is
only ever read.  A path that would leave the tree (absolute, ``..``, or a
symlink pointing outside) is refused.  A patch that does not apply is
reviewed from its diff alone, with a note saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from reviewkit.model import FileDiff, Patch, Series


@dataclass
class TreeImages:
    images: dict[int, dict[str, tuple[str | None, str | None]]] = field(default_factory=dict)
    applied: set[int] = field(default_factory=set)  # patch indexes reviewed in tree mode
    notes: list[str] = field(default_factory=list)


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
            out.extend(ln.kind + ln.text for ln in h.lines)
    return "\n".join(out) + "\n"


def safe_relpath(path: str, root: Path) -> str | None:
    """``path`` if it names a place inside ``root`` (after symlinks), else None."""
    if not path or "\0" in path:
        return None
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        return None
    real = (root / p).resolve()
    try:
        real.relative_to(root.resolve())
    except ValueError:
        return None
    return str(p)


def _paths(patch: Patch) -> set[str]:
    out = set()
    for fd in patch.files:
        for p in (fd.old_path, fd.new_path):
            if p:
                out.add(p)
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return None


def build_images(series: Series, tree: Path, timeout: float = 60.0) -> TreeImages:
    result = TreeImages()
    all_paths: set[str] = set()
    refused: set[str] = set()
    for p in series.patches:
        for path in _paths(p):
            if safe_relpath(path, tree) is None:
                refused.add(path)
            else:
                all_paths.add(path)
    if refused:
        result.notes.append("paths outside the tree refused: " + ", ".join(sorted(refused)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    with tempfile.TemporaryDirectory(prefix="reviewkit-tree-") as tmp:
        scratch = Path(tmp) / "tree"
        scratch.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=scratch, env=env, check=False,
                       capture_output=True, timeout=timeout)
        for path in sorted(all_paths):
            src = tree / path
            if src.is_file():
                dst = scratch / path
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
        for p in series.patches:
            paths = _paths(p)
            if paths & refused:
                result.notes.append(f"patch {p.index}/{p.total}: reviewed from the diff alone "
                                    "(it names a path outside the tree)")
                continue
            pre = {path: _read(scratch / path) for path in paths}
            diff = unified_diff(p.files)
            ok, err = _apply(scratch, diff, env, timeout)
            if not ok:
                first = err.strip().splitlines()[0] if err.strip() else "git apply failed"
                result.notes.append(f"patch {p.index}/{p.total} does not apply to the tree "
                                    f"({first}); reviewed from the diff alone")
                continue
            post = {path: _read(scratch / path) for path in paths}
            result.images[p.index] = {path: (pre[path], post[path]) for path in paths}
            result.applied.add(p.index)
    return result


def _apply(scratch: Path, diff: str, env: dict, timeout: float) -> tuple[bool, str]:
    err = ""
    for extra in ([], ["-C1"]):
        proc = subprocess.run(["git", "apply", "--whitespace=nowarn", "--recount", *extra, "-"],
                              cwd=scratch, input=diff.encode("utf-8"), capture_output=True,
                              env=env, timeout=timeout)
        if proc.returncode == 0:
            return True, ""
        err = err or proc.stderr.decode("utf-8", "replace")
    return False, err
