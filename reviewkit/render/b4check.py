"""b4's check-command protocols, rendered from a Report.

``b4 review`` (``b4.review-perpatch-check-cmd``, ``b4.review-series-check-cmd``)
feeds one message on stdin and reads a JSON list on stdout of
``{"tool", "status": "pass"|"warn"|"fail", "summary", "url", "details"}``;
``details`` is itself a JSON list of ``{"status", "description"}`` entries,
which b4's review screen shows one per line (as it does for checkpatch).  The
per-patch check leaves series-level rules out (one patch alone would look like
a series with its other patches missing); the series check reports only them.

``b4 prep --check`` and ``b4 am --check`` (``b4.prep-perpatch-check-cmd``,
``b4.am-perpatch-check-cmd``) read checkpatch's terse lines instead: every
stdout line is a finding (a failure when it says ``ERROR:``), and no output
means the patch passed.

This module only renders; the commands run the review.
"""

from __future__ import annotations

import json
import shlex

from reviewkit.report import Finding, Report
from reviewkit.render.terse import line_of, location

TOOL = "reviewkit"
_STATUS = {"error": "fail", "warning": "warn", "info": "pass"}


def failure(summary: str, tool: str = TOOL) -> list[dict]:
    """A check that could not review its input: b4 shows it as failed, with why."""
    return [{"tool": tool, "status": "fail", "summary": summary, "url": "", "details": ""}]


def dumps(result: list[dict]) -> str:
    return json.dumps(result) + "\n"


def _shown(report: Report) -> list[Finding]:
    return [f for f in report.findings if not f.rule.startswith("internal/stale")]


def _entry(findings: list[Finding], report: Report, tool: str, url: str | None,
           clean: str = "no findings") -> dict:
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    infos = sum(f.severity == "info" for f in findings)
    status = "fail" if errors else "warn" if warnings else "pass"
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in
             ((errors, "error"), (warnings, "warning"), (infos, "note")) if n]
    summary = ", ".join(parts) if parts else clean
    details = [{"status": _STATUS[f.severity],
                "description": f"{f.severity.upper()}:{f.rule}: {location(f, report)}: "
                               + " ".join(f.message.split())}
               for f in findings]
    return {"tool": tool, "status": status, "summary": f"{summary} ({report.mode})",
            "url": url or "", "details": json.dumps(details) if details else ""}


def result(report: Report) -> list[dict]:
    """The per-patch check's answer for a report on one patch."""
    patches = report.series.patches
    url = report.link(patches[0].message_id) if patches else None
    return [_entry(_shown(report), report, TOOL, url)]


def series_result(report: Report) -> list[dict]:
    """The series check's answer: the findings about the series as a whole (and its
    cover letter); per-patch findings are the per-patch check's."""
    findings = [f for f in _shown(report) if f.patch in (None, 0)]
    n = len(report.series.patches)
    return [_entry(findings, report, f"{TOOL}-series", report.link(report.series.message_id),
                   clean=f"no series findings on {n} patch{'es' if n != 1 else ''}")]


def terse_result(report: Report) -> str:
    """checkpatch-style lines for ``b4 prep --check``/``b4 am --check``: warnings and
    errors only (b4 counts every line it gets as at least a warning)."""
    return "".join(line_of(f, report) + "\n" for f in _shown(report)
                   if f.severity in ("error", "warning"))


def terse_failure(reason: str) -> str:
    return f"ERROR:{TOOL}: {reason}\n"


# b4 runs this when b4.review-perpatch-check-cmd is unset and the tree has it; naming
# it keeps checkpatch when the key is set
BUILTIN_CHECKPATCH = "_builtin_checkpatch"
# what b4 runs for prep/am --check when their keys are unset (from the top of the tree)
CHECKPATCH = "./scripts/checkpatch.pl -q --terse --no-summary --mailback"


def git_config(command: list[str], scope: str = "--global") -> str:
    """Shell lines that configure b4 to run reviewkit (``command`` is the argv that
    starts this reviewkit) beside checkpatch, for b4 review, b4 prep and b4 am."""
    exe = " ".join(shlex.quote(a) for a in command)

    def lines(key: str, *values: str) -> list[str]:
        first, *rest = values
        out = [f"git config {scope} --replace-all b4.{key} {shlex.quote(first)}"]
        out += [f"git config {scope} --add b4.{key} {shlex.quote(v)}" for v in rest]
        return out

    return "\n".join([
        "# b4 review: checkpatch (b4's built-in, kept by naming it) and reviewkit per patch,",
        "# and reviewkit's series-level rules on the cover letter",
        *lines("review-perpatch-check-cmd", BUILTIN_CHECKPATCH, f"{exe} b4-check"),
        *lines("review-series-check-cmd", f"{exe} b4-check --series"),
        "# b4 prep --check and b4 am --check: checkpatch and reviewkit, checkpatch-style lines",
        *lines("prep-perpatch-check-cmd", CHECKPATCH + " --showfile",
               f"{exe} b4-check --format terse"),
        *lines("am-perpatch-check-cmd", CHECKPATCH, f"{exe} b4-check --format terse"),
    ]) + "\n"
