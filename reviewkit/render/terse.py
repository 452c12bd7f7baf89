"""One line per finding, checkpatch-style, for editors and CI.

    mm/shmem.c:2427: WARNING:mm/dirty-page-dirty-removed: message
    patch 1/4: ERROR:commit/signed-off-by-missing: message
    series: WARNING:series/missing-patches: message
    total: 1 errors, 2 warnings, 0 infos
"""

from __future__ import annotations

from reviewkit.report import Finding, Report


def location(f: Finding, report: Report) -> str:
    line = f.line if f.line is not None else f.old_line
    if f.path:
        return f"{f.path}:{line}" if line is not None else f.path
    if f.patch is None:
        return "series"
    total = report.series.total or len(report.series.patches)
    return "cover letter" if f.patch == 0 else f"patch {f.patch}/{total}"


def line_of(f: Finding, report: Report) -> str:
    message = " ".join(f.message.split())
    return f"{location(f, report)}: {f.severity.upper()}:{f.rule}: {message}"


def render(report: Report) -> str:
    """The finding lines, then checkpatch's summary line (``total: ...``)."""
    return "".join(line_of(f, report) + "\n" for f in report.findings) + report.summary_line() + "\n"
