"""One self-contained HTML report: CSS inline, no scripts, fonts, images or fetches.

Everything that comes from the patches (subjects, names, diff lines, messages)
is untrusted and goes through jinja2's autoescaping.
"""

from __future__ import annotations

from pathlib import Path

from reviewkit import __version__
from reviewkit.model import Patch
from reviewkit.report import SEVERITIES, Finding, Report


def _anchor(f: Finding, n: int) -> str:
    return f"f{f.patch if f.patch is not None else 's'}-{n}"


def render(report: Report, *, template_dir: Path | None = None) -> str:
    from reviewkit.render.templating import environment

    env = environment(template_dir, autoescape=True)
    s = report.series
    anchors: dict[Finding, str] = {}
    for n, f in enumerate(report.findings):
        anchors[f] = _anchor(f, n)
    by_patch: dict[int | None, list[Finding]] = {}
    for f in report.findings:
        by_patch.setdefault(f.patch, []).append(f)

    def at_line(p: Patch, path: str, ln) -> list[Finding]:
        out = []
        for f in by_patch.get(p.index, []):
            if f.path != path:
                continue
            if ln.kind != "-" and f.line is not None and f.line == ln.new_no:
                out.append(f)
            elif ln.kind == "-" and f.line is None and f.old_line == ln.old_no:
                out.append(f)
        return out

    def unplaced(p: Patch) -> list[Finding]:
        placed = set()
        for fd in p.files:
            for h in fd.hunks:
                for ln in h.lines:
                    placed.update(at_line(p, fd.path, ln))
        return [f for f in by_patch.get(p.index, []) if f not in placed]

    def counts(index) -> dict[str, int]:
        out = {sev: 0 for sev in SEVERITIES}
        for f in by_patch.get(index, []):
            out[f.severity] += 1
        return out

    rules = report.extra.get("rules", {})
    fired = sorted({f.rule for f in report.findings})
    return env.get_template("report.html.j2").render(
        report=report, series=s, patches=s.patches, cover=s.cover,
        series_findings=by_patch.get(None, []), cover_findings=by_patch.get(0, []),
        at_line=at_line, unplaced=unplaced, counts=counts, anchors=anchors,
        link=report.link, fired=[(rid, rules.get(rid)) for rid in fired],
        comparison=report.extra.get("comparison"), version=__version__,
        severities=SEVERITIES, total=s.total or len(s.patches))
