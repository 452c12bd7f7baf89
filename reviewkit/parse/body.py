"""Split a patch mail body the way ``git am`` reads it.

    From: Real Author <a@b>        <- in-body headers (optional)
    Subject: ...
                                   
    commit message ...
    Signed-off-by: ...             <- trailers: last paragraph
    ---
    v2: changed X                  <- notes below '---'
     mm/gup.c | 3 ++-              <- diffstat
     1 file changed, ...
                                   
    diff --git a/mm/gup.c b/mm/gup.c   <- the diff
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reviewkit.parse.diff import find_diff_start, strip_signature

_IN_BODY_HEADER = re.compile(r"^(From|Subject|Date):\s*(.*)$")
_DIFFSTAT_FILE = re.compile(r"^\s*\S.*\|\s+(\d+\s*[+-]*|Bin\b.*)\s*$")
_DIFFSTAT_SUMMARY = re.compile(r"^\s*\d+ files? changed")
_RULE = re.compile(r"^-{10,}\s*$")
_MODE_LINE = re.compile(r"^\s*(create|delete) mode \d+ |^\s*(rename|copy) .* \(\d+%\)$|^\s*mode change ")


@dataclass(frozen=True)
class BodyParts:
    in_body: dict[str, str]
    commit_message: str
    notes: str
    diffstat: str
    diff: str  # empty when the body has no diff


def split_body(body: str) -> BodyParts:
    lines = body.split("\n")
    in_body: dict[str, str] = {}
    # in-body headers: only at the very top, ended by a blank line; mm-commits
    # mails put them after a "The patch titled ..." preamble and a dashed rule,
    # stable review mails after "N.N-stable review patch ..." and a shorter one
    i = 0
    for k, ln in enumerate(lines[:40]):
        if not _RULE.match(ln):
            continue
        n = k + 1
        while n < len(lines) and not lines[n].strip():
            n += 1
        if n < len(lines) and lines[n].startswith("From: "):
            i = n
            break
    while i < len(lines) and not lines[i].strip():
        i += 1
    j = i
    while j < len(lines):
        m = _IN_BODY_HEADER.match(lines[j])
        if not m:
            break
        in_body[m.group(1)] = m.group(2).strip()
        j += 1
    if in_body and (j >= len(lines) or not lines[j].strip()):
        i = j
    else:
        in_body = {}

    start = find_diff_start(lines)
    pre = lines[i:start] if start is not None else lines[i:]
    diff = "\n".join(lines[start:]) if start is not None else ""

    sep = next((k for k, ln in enumerate(pre) if ln.rstrip() == "---"), None)
    if sep is None:
        commit = "\n".join(pre)
        below: list[str] = []
    else:
        commit = "\n".join(pre[:sep])
        below = pre[sep + 1:]
    if start is None:
        if sep is None:
            commit = "\n".join(strip_signature(commit.split("\n")))
        below = strip_signature(below)

    stat: list[str] = []
    notes: list[str] = []
    for ln in below:
        if _DIFFSTAT_FILE.match(ln) or _DIFFSTAT_SUMMARY.match(ln) or _MODE_LINE.match(ln):
            stat.append(ln)
        else:
            notes.append(ln)
    return BodyParts(
        in_body=in_body,
        commit_message=commit.strip("\n"),
        notes="\n".join(notes).strip("\n"),
        diffstat="\n".join(stat),
        diff=diff,
    )


_BASE_COMMIT = re.compile(r"^base-commit: ([0-9a-f]{7,64})\s*$", re.M)
_PREREQ_PATCH = re.compile(r"^prerequisite-patch-id: ([0-9a-f]{40,64})\s*$", re.M)


def base_info(body: str) -> tuple[str | None, tuple[str, ...]]:
    """The ``base-commit:`` and ``prerequisite-patch-id:`` lines b4 and
    ``git format-patch --base`` write (in a cover letter, or after a lone patch's
    diff).  Diff lines never start in column 0 with these words."""
    if "base-commit:" not in body and "prerequisite-patch-id:" not in body:
        return None, ()
    base = _BASE_COMMIT.search(body)
    return (base.group(1) if base else None,
            tuple(dict.fromkeys(m.group(1) for m in _PREREQ_PATCH.finditer(body))))
