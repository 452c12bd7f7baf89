"""Paths a patch names, checked against the tree they would be read from or written to."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


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
