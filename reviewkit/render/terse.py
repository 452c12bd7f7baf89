"""One line per finding, checkpatch-style, for editors and CI.

    mm/shmem.c:2427: [1/4] WARNING:mm/dirty-page-dirty-removed: message
    mm/shmem.c:2424 (old): [1/4] WARNING:...: message on a removed line
    patch 1/4: ERROR:commit/signed-off-by-missing: message
    series: WARNING:series/missing-patches: message
    total: 1 errors, 2 warnings, 0 infos

A line that is about one patch names it: ``[N/M]``, or the commit's short SHA
when the patch was made from a commit (``reviewkit check``).  A line number
is the patched file's, unless marked ``(old)``: then it is the line's number
before the patch (a finding on a removed line).
"""

from __future__ import annotations

from reviewkit.report import Finding, Report


def _total(report: Report) -> int:
    return report.series.total or len(report.series.patches)


def location(f: Finding, report: Report) -> str:
    if f.path:
        if f.line is not None:
            return f"{f.path}:{f.line}"
        if f.old_line is not None:
            return f"{f.path}:{f.old_line} (old)"
        return f.path
    if f.patch is None:
        return "series"
    return "cover letter" if f.patch == 0 else f"patch {f.patch}/{_total(report)}"


def patch_label(f: Finding, report: Report) -> str | None:
    """``[2/3]``, or the commit's short SHA; None for a series-level finding."""
    if f.patch is None:
        return None
    for p in report.series.patches:
        if p.index == f.patch and p.commit:
            return p.commit[:12]
    return f"[{f.patch}/{_total(report)}]"


def line_of(f: Finding, report: Report) -> str:
    message = " ".join(f.message.split())
    where = location(f, report)
    label = patch_label(f, report) if f.path else None
    if f.path is None and f.patch and label and not label.startswith("["):
        where = f"patch {label}"  # a commit, not a mail: name it by its SHA
    prefix = f"{where}: {label} " if label else f"{where}: "
    return f"{prefix}{f.severity.upper()}:{f.rule}: {message}"


def render(report: Report) -> str:
    """The finding lines, then checkpatch's summary line (``total: ...``)."""
    return "".join(line_of(f, report) + "\n" for f in report.findings) + report.summary_line() + "\n"
