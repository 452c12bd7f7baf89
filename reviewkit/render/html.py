"""One self-contained HTML report: CSS inline, no scripts, fonts, images or fetches.

Everything that comes from the patches (subjects, names, diff lines, messages)
is untrusted and goes through jinja2's autoescaping.  The page works without
scripts: clean patches are folded with <details>, every finding links to the
previous and next one, and each carries the reply text about it, selectable
with one click.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from reviewkit import __version__
from reviewkit.model import Hunk, Line, Patch
from reviewkit.report import SEVERITIES, Finding, Report


def _anchor(f: Finding, n: int) -> str:
    return f"f{f.patch if f.patch is not None else 's'}-{n}"


@dataclass
class Chunk:
    """A run of diff lines, then the findings on its last line (if any)."""

    lines: list[Line] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _on_line(f: Finding, path: str, ln: Line) -> bool:
    if f.path != path:
        return False
    if ln.kind != "-" and f.line is not None:
        return f.line == ln.new_no
    return ln.kind == "-" and f.line is None and f.old_line == ln.old_no


def _chunks(hunk: Hunk, path: str, mine: list[Finding]) -> list[Chunk]:
    out = [Chunk()]
    for ln in hunk.lines:
        out[-1].lines.append(ln)
        here = [f for f in mine if _on_line(f, path, ln)]
        if here:
            out[-1].findings = here
            out.append(Chunk())
    if not out[-1].lines:
        out.pop()
    return out


_KIND_CLASS = {"+": "add", "-": "del", " ": "ctx"}
_HTML_SPECIAL = re.compile(r"[&<>\"']")


def _code_lines(env, p: Patch, fd, chunk: Chunk):
    """The diff lines of one chunk as HTML, one ``<span class="l ...">`` each: what the
    template's line loop writes, built here because a report has thousands of lines
    and each would cost several template expressions.  Every value goes through the
    environment's finalize (controls made visible) and escaping, as in the template."""
    from markupsafe import Markup, escape

    fin = env.finalize or (lambda v: v)
    last = len(chunk.lines) - 1 if chunk.findings else -1
    out = []
    for i, ln in enumerate(chunk.lines):
        text = ln.text
        if type(text) is not str or not (text.isascii() and (
                text.isprintable() or text.replace("\t", " ").isprintable())):
            text = fin(text)  # only a control or non-ASCII character needs it (tabs are kept)
        old = "" if ln.old_no is None else ln.old_no
        new = "" if ln.new_no is None else ln.new_no
        if i == last:
            where = ln.new_no if ln.kind != "-" else f"o{ln.old_no}"
            out.append(f'<span class="l {_KIND_CLASS[ln.kind]} flagged" id="l{p.index}-'
                       f'{escape(fin(fd.path.replace("/", "-")))}-{escape(fin(where))}">')
        else:
            out.append(f'<span class="l {_KIND_CLASS[ln.kind]}">')
        # what escape() gives, without its call for the many lines it leaves as they are
        shown = escape(text) if type(text) is not str or _HTML_SPECIAL.search(text) else text
        out.append(f'<span class="n">{old}</span><span class="n">{new}</span>'
                   f'<span class="k">{ln.kind}</span>{shown}</span>')  # kind: + - or space
    return Markup("".join(out))


def render(report: Report, *, template_dir: Path | None = None) -> str:
    from reviewkit.render.email_reply import snippet
    from reviewkit.render.templating import environment

    env = environment(template_dir, autoescape=True)
    s = report.series
    by_patch: dict[int | None, list[Finding]] = {}
    for f in report.findings:
        by_patch.setdefault(f.patch, []).append(f)

    # the diff of each file, cut after every line that has findings
    chunks: dict[tuple[int, str, int], list[Chunk]] = {}
    unplaced: dict[int, list[Finding]] = {}
    for p in s.patches:
        mine = by_patch.get(p.index, [])
        placed: set[int] = set()
        for fd in p.files:
            for k, h in enumerate(fd.hunks):
                cs = _chunks(h, fd.path, mine)
                chunks[(p.index, fd.path, k)] = cs
                placed.update(id(f) for c in cs for f in c.findings)
        unplaced[p.index] = [f for f in mine if id(f) not in placed]

    # the order findings appear on the page, for the previous/next links
    order: list[Finding] = list(by_patch.get(None, [])) + list(by_patch.get(0, []))
    for p in s.patches:
        order.extend(unplaced[p.index])
        for fd in p.files:
            for k in range(len(fd.hunks)):
                for c in chunks[(p.index, fd.path, k)]:
                    order.extend(c.findings)
    anchors = {id(f): _anchor(f, n) for n, f in enumerate(order)}
    prev = {id(f): anchors[id(order[n - 1])] if n else None for n, f in enumerate(order)}
    nxt = {id(f): anchors[id(order[n + 1])] if n + 1 < len(order) else None
           for n, f in enumerate(order)}
    patches = {p.index: p for p in s.patches}
    if s.cover is not None:
        patches[0] = s.cover

    def counts(index) -> dict[str, int]:
        out = {sev: 0 for sev in SEVERITIES}
        for f in by_patch.get(index, []):
            out[f.severity] += 1
        return out

    def reply_text(f: Finding) -> str:
        return snippet(patches.get(f.patch) if f.patch is not None else None, f)

    points = report.extra.get("review_points", {})
    unanswered = report.extra.get("unanswered_review_points", {})
    rules = report.extra.get("rules", {})
    fired = sorted({f.rule for f in report.findings})
    return env.get_template("report.html.j2").render(
        report=report, series=s, patches=s.patches, cover=s.cover,
        series_findings=by_patch.get(None, []), cover_findings=by_patch.get(0, []),
        chunks=lambda p, fd, k: chunks[(p.index, fd.path, k)],
        code_lines=lambda p, fd, c: _code_lines(env, p, fd, c),
        unplaced=lambda p: unplaced[p.index], counts=counts,
        anchor=lambda f: anchors[id(f)], prev=lambda f: prev[id(f)],
        next=lambda f: nxt[id(f)], first=anchors[id(order[0])] if order else None,
        reply_text=reply_text,
        points=lambda p: points.get(p.index, []),
        unanswered=lambda p: unanswered.get(p.index, []),
        link=report.link, fired=[(rid, rules.get(rid)) for rid in fired],
        comparison=report.extra.get("comparison"), version=__version__,
        severities=SEVERITIES, total=s.total or len(s.patches))
