"""Precision: mature Linux 6.1 code, reviewed as if every line were newly added.

Code read by that many reviewers should draw (almost) no mm warning.  Three
sets of files, all unpacked by scripts/fetch-linux-source.sh:

- TUNED_32: the mm core and the users of GUP and pinning the rules were first
  written against (about 77,000 lines).  It must stay at 0 findings.
- FRESH: about 150,000 more lines of drivers, fs, kernel, io_uring, mm and
  header code that pins pages, walks page tables or uses shmem, added after
  the rules were written.  It is split in two by a fixed rule decided before
  any of it was reviewed: a file is *held aside* when the CRC-32 of its path
  is odd, *tuned* otherwise.  The held-aside part was not looked at while
  the rules were written; both parts must stay at or under 1 warning per
  100,000 lines.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from reviewkit import api

from conftest import REPO, commit_as_added
from test_tree_mode import linux_tree

PRECISION_FILES = REPO / "tests" / "precision-files.txt"


def _sets(text: str) -> dict[str, list[str]]:
    """The named sets of tests/precision-files.txt."""
    sets: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = sets.setdefault(line[1:-1], [])
        elif line and current is not None:
            current.extend(line.split())
    return sets


_SETS = _sets(PRECISION_FILES.read_text(encoding="utf-8"))
TUNED_32 = _SETS["tuned"]
FRESH = _SETS["fresh"]


def held_aside(path: str) -> bool:
    """The fixed split, decided before any of FRESH was reviewed."""
    return zlib.crc32(path.encode()) % 2 == 1


HELD = [p for p in FRESH if held_aside(p)]
TUNED_FRESH = [p for p in FRESH if not held_aside(p)]


def review_as_added(files: list[str], tmp_path: Path):
    src = linux_tree()
    for rel in files:
        assert (src / rel).is_file(), f"re-run scripts/fetch-linux-source.sh: {rel} is missing"
    repo = commit_as_added(tmp_path, {rel: (src / rel).read_bytes() for rel in files})
    rep = api.review("HEAD", api.Options(cwd=repo, select=("mm/*",)))
    added = sum(f.added_count for p in rep.series.patches for f in p.files)
    return rep, added


def test_every_precision_file_is_fetched():
    script = (REPO / "scripts" / "fetch-linux-source.sh").read_text()
    assert "tests/precision-files.txt" in script
    assert len(TUNED_32) == 32 and len(FRESH) > 90
    assert not set(TUNED_32) & set(FRESH)
    assert HELD and TUNED_FRESH


def test_rules_stay_quiet_on_the_code_they_were_tuned_on(tmp_path):
    rep, added = review_as_added(TUNED_32, tmp_path)
    assert added > 75_000  # every line of every file
    assert [(f.rule, f.path, f.line) for f in rep.findings] == []


def _per_100k(rep, added) -> float:
    warnings = [f for f in rep.findings if f.severity in ("warning", "error")]
    return len(warnings) * 100_000 / added


def test_fresh_code_tuned_part(tmp_path):
    rep, added = review_as_added(TUNED_FRESH, tmp_path)
    rate = _per_100k(rep, added)
    print(f"fresh, tuned part: {len(TUNED_FRESH)} files, {added} lines, "
          f"{rate:.2f} warnings per 100k lines")
    assert added > 50_000
    assert rate <= 1.0, [(f.rule, f.path, f.line) for f in rep.findings]


def test_fresh_code_held_aside_part(tmp_path):
    rep, added = review_as_added(HELD, tmp_path)
    warnings = [f for f in rep.findings if f.severity in ("warning", "error")]
    rate = _per_100k(rep, added)
    print(f"fresh, held aside: {len(HELD)} files, {added} lines, {len(warnings)} warnings, "
          f"{rate:.2f} per 100k lines")
    assert added > 50_000
    # the count only: this part is not read while rules are written
    assert rate <= 1.0, f"{len(warnings)} warnings on {added} held-aside lines"
