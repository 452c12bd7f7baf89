"""Terminal summary: series header, per patch trailers, replies and findings."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

from reviewkit.report import Finding, Report

_COLOURS = {"error": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[36m"}
_RESET = "\033[0m"


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _excerpt_lines(f: Finding, limit: int = 4) -> list[str]:
    return list(f.excerpt[:limit])


def _review_tags(p) -> str:
    parts = []
    for t in p.trailers:
        if not t.is_review_tag:
            continue
        who = t.person.name if t.person and t.person.name else t.value
        where = "" if t.source == "patch" else (
            " (reply to the cover letter)" if t.given_on == "cover" else " (reply)")
        parts.append(f"{t.kind}: {who}{where}")
    return "; ".join(parts)


def ranges(numbers) -> str:
    """1, 2, 3, 5, 7, 8, 9 -> "1-3, 5, 7-9" (a patch of 91 saved alone stays readable)."""
    out: list[str] = []
    nums = sorted(numbers)
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else
                   f"{nums[i]}, {nums[j]}" if j == i + 1 else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(out)


def said(r, limit: int = 160) -> str:
    """A remark's first words on one line, quoted: "shmem_mfill_atomic_pte() does ..."."""
    from reviewkit.render.safe import terminal_safe

    words = " ".join(r.excerpt.split())
    if len(words) > limit:
        words = words[:limit].rsplit(" ", 1)[0] + " ..."
    return terminal_safe(f'"{words}"')


def who_when(r) -> str:
    from reviewkit.render.safe import terminal_safe

    who = terminal_safe(r.author.name or r.author.email)
    return f"{who}, {r.date.strftime('%Y-%m-%d')}" if r.date else who


def where(r) -> str:
    """Where a review point was written: a file line, or the patch as a whole."""
    if r.path is None:
        return "on the patch"
    n = f":{r.line}" if r.line is not None else (f":{r.old_line} (old)" if r.old_line else "")
    return f"on {r.path}{n}" + (f" in {r.function}()" if r.function else "")


def _repliers(p) -> str:
    return ", ".join(r.author.name or r.author.email for r in p.replies)


def render(report: Report, *, colour: bool = False, template_dir: Path | None = None) -> str:
    from reviewkit.render.templating import environment

    env = environment(template_dir)

    def sev(severity: str) -> str:
        word = severity.upper()
        if not colour:
            return word
        return f"{_COLOURS.get(severity, '')}{word}{_RESET}"

    env.filters["sev"] = sev
    s = report.series
    per_patch: dict[int | None, list[Finding]] = {}
    for f in report.findings:
        per_patch.setdefault(f.patch, []).append(f)
    counts = report.counts()
    comparison = report.extra.get("comparison")
    rows = {r["index"]: r for r in comparison["patches"]} if comparison else {}

    def since(p) -> str:
        row = rows.get(p.index)
        if row is None:
            return ""
        parts = [row["changed"]]
        for key in ("new", "fixed", "persisting"):
            if row[key]:
                counted = Counter(row[key])
                parts.append(f"{key}: " + ", ".join(
                    rule + (f" (x{n})" if n > 1 else "") for rule, n in sorted(counted.items())))
        return "; ".join(parts)

    return env.get_template("text.j2").render(
        comparison=comparison,
        since=since,
        report=report,
        series=s,
        cover=s.cover,
        patches=s.patches,
        series_findings=per_patch.get(None, []),
        cover_findings=per_patch.get(0, []),
        findings_of=lambda p: per_patch.get(p.index, []),
        excerpt=_excerpt_lines,
        review_tags=_review_tags,
        repliers=_repliers,
        counts=counts,
        summary=report.summary_line(),
        ranges=ranges,
        link=report.link,
        said=said,
        who_when=who_when,
        where=where,
        points_of=lambda p: report.extra.get("review_points", {}).get(p.index, []),
        unanswered_of=lambda p: report.extra.get("unanswered_review_points", {}).get(p.index, []),
    )
