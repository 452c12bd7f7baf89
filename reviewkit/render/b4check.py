"""The protocol of b4's per-patch check command (``b4.review-perpatch-check-cmd``).

b4 feeds one patch message on stdin and reads a JSON list on stdout of
``{"tool", "status": "pass"|"warn"|"fail", "summary", "url", "details"}``;
``details`` is itself a JSON list of ``{"status", "description"}`` entries,
which b4's review screen shows one per line (as it does for checkpatch).
Series-level rules are left to the series check: one patch alone would look
like a series with its other patches missing.
"""

from __future__ import annotations

import json

from reviewkit.report import Report
from reviewkit.render.terse import location

TOOL = "reviewkit"
_STATUS = {"error": "fail", "warning": "warn", "info": "pass"}


def failure(summary: str) -> str:
    from reviewkit.render.safe import terminal_safe

    return json.dumps([{"tool": TOOL, "status": "fail", "summary": terminal_safe(summary),
                        "url": "",
                        "details": ""}]) + "\n"


def result(report: Report) -> list[dict]:
    findings = [f for f in report.findings if not f.rule.startswith("internal/stale")]
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    infos = sum(f.severity == "info" for f in findings)
    status = "fail" if errors else "warn" if warnings else "pass"
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in
             ((errors, "error"), (warnings, "warning"), (infos, "note")) if n]
    summary = ", ".join(parts) if parts else "no findings"
    from reviewkit.render.safe import terminal_safe

    # b4 shows these on a terminal: text from mail escaped as in reviewkit's own output
    details = [{"status": _STATUS[f.severity],
                "description": terminal_safe(f"{f.severity.upper()}:{f.rule}: "
                                             f"{location(f, report)}: "
                                             + " ".join(f.message.split()))}
               for f in findings]
    patches = report.series.patches
    url = report.link(patches[0].message_id) if patches else None
    return [{"tool": TOOL, "status": status, "summary": f"{summary} ({report.mode})",
             "url": url or "", "details": json.dumps(details) if details else ""}]


def output(report: Report) -> str:
    return json.dumps(result(report)) + "\n"


def not_reviewed(reason: str) -> str:
    return json.dumps([{"tool": TOOL, "status": "pass", "summary": f"not reviewed: {reason}",
                        "url": "", "details": ""}]) + "\n"
