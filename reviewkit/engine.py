"""Turns a Series into findings: input diagnostics first, then the rules."""

from __future__ import annotations

from reviewkit.model import Diagnostic, Series
from reviewkit.report import Finding

# diagnostic code -> (rule id, severity, confidence)
_DIAGNOSTIC_RULES = {
    "broken-message": ("input/broken-message", "error", "high"),
    "whitespace-damaged": ("input/whitespace-damaged", "warning", "high"),
    "duplicate-patch": ("input/duplicate-patch", "warning", "high"),
    "missing-patch": ("input/missing-patch", "warning", "high"),
}


def diagnostic_finding(d: Diagnostic) -> Finding:
    rule, severity, confidence = _DIAGNOSTIC_RULES.get(d.code, (f"input/{d.code}", "warning",
                                                                 "high"))
    return Finding(rule=rule, severity=severity, confidence=confidence, message=d.message,
                   patch=d.patch, path=d.path, line=d.line, message_id=d.message_id)


def run(series: Series) -> tuple[Finding, ...]:
    findings = [diagnostic_finding(d) for d in series.all_diagnostics()]
    return tuple(sorted(set(findings), key=Finding.sort_key))
