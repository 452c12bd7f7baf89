"""A ``b4 review`` branch: ``b4/review/<change-id>``, the series' patches as commits
on their base, topped by a tracking commit whose message is the cover letter,
a ``--- b4-review-tracking ---`` marker and a JSON block (the tracking data).

Reads the tracking data (from the branch, or from the file b4 names in
``$B4_TRACKING_FILE`` when it runs a check command), selects the patch
commits for review, and writes review files where ``b4 review`` picks them up:
``.git/b4-review/<tip-sha>/``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import InputError
from reviewkit.sources.selfreview import Selection, select

MARKER = "--- b4-review-tracking ---"
PREFIX = "b4/review/"


@dataclass(frozen=True)
class ReviewBranch:
    branch: str
    tip: str  # the tracking commit
    cover_text: str
    tracking: dict


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)


def parse_tracking(message: str, label: str) -> tuple[str, dict]:
    """(cover letter text, tracking data) of a tracking commit's message."""
    if MARKER not in message:
        raise InputError(label, f"not a b4 review branch (no '{MARKER}' in its tip commit)")
    cover, _, rest = message.partition(MARKER)
    body = "\n".join(ln for ln in rest.splitlines() if not ln.startswith("#"))
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InputError(label, f"unreadable b4 tracking data: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("series"), dict):
        raise InputError(label, "b4 tracking data without a 'series' section")
    return cover.strip(), data


def load(cwd: Path, branch: str | None = None) -> ReviewBranch:
    """The review branch BRANCH (default: the checked-out one)."""
    if branch is None:
        out = _git(cwd, "symbolic-ref", "--short", "HEAD")
        branch = out.stdout.decode().strip()
        if out.returncode != 0 or not branch:
            raise InputError(str(cwd), "HEAD is not on a branch; name the b4 review branch")
    tip = _git(cwd, "rev-parse", "--verify", "--quiet", branch + "^{commit}")
    if tip.returncode != 0:
        raise InputError(branch, "no such branch")
    msg = _git(cwd, "log", "-1", "--format=%B", branch)
    cover, tracking = parse_tracking(msg.stdout.decode("utf-8", "replace"), branch)
    return ReviewBranch(branch=branch, tip=tip.stdout.decode().strip(), cover_text=cover,
                        tracking=tracking)


def tracking_from_env() -> dict | None:
    """The tracking data b4 hands a check command in ``$B4_TRACKING_FILE``, if any."""
    path = os.environ.get("B4_TRACKING_FILE")
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable b4 tracking file: {exc}") from None
    return data if isinstance(data, dict) and isinstance(data.get("series"), dict) else None


def branch_of(tracking: dict) -> str | None:
    change_id = tracking["series"].get("change-id")
    return PREFIX + change_id if change_id else None


def selection(cwd: Path, tracking: dict, branch: str) -> Selection:
    """The series' patch commits on BRANCH, oldest first, without prerequisites
    and without the tracking commit."""
    series = tracking["series"]
    first = series.get("first-patch-commit") or ""
    base = series.get("base-commit") or ""
    start = f"{first}~1" if first else base
    if not start:
        raise InputError(branch, "b4 tracking data names no base or first patch commit")
    return select(branch, [f"{start}..{branch}~1"], cwd)


def skipped(tracking: dict) -> set[int]:
    """1-based numbers of the patches the maintainer marked to skip (0: the cover
    letter)."""
    out = set()
    for n, p in enumerate([tracking["series"], *(tracking.get("patches") or [])]):
        reviews = p.get("reviews") if isinstance(p, dict) else None
        if isinstance(reviews, dict) and any(
                isinstance(r, dict) and r.get("patch-state") == "skip" for r in reviews.values()):
            out.add(n)
    return out


def patch_diff(cwd: Path, commit: str) -> str:
    """``git diff <sha>~1 <sha>``, the diff b4 anchors review comments against."""
    out = _git(cwd, "-c", "diff.noprefix=false", "-c", "core.quotepath=off", "diff",
               "--no-color", "--no-ext-diff", f"{commit}~1", commit)
    if out.returncode != 0:
        raise InputError(commit, "git diff failed: "
                         + out.stderr.decode("utf-8", "replace").strip()[-200:])
    return out.stdout.decode("utf-8", "replace")


def review_dir(cwd: Path, tip: str) -> Path:
    top = _git(cwd, "rev-parse", "--show-toplevel").stdout.decode().strip()
    return Path(top) / ".git" / "b4-review" / tip


def write_review_files(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write the review files (name -> text), each one whole (written beside, then
    renamed), replacing an earlier run's."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        target = directory / name
        tmp = directory / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
    return written
