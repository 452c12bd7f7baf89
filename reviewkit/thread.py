"""Findings in the light of the thread: what reviewers already said, and what no rule saw.

A reviewer answers a patch inline: quotes some of its lines and writes under
them.  Each reply is cut into (quote, comment) segments
(``reviewkit.parse.quotes``); the quoted diff lines are aligned with the
patch's own lines (text compared without whitespace, runs kept in order, so a
line that occurs twice is placed by its neighbours).  A finding was *already
raised* by a comment when

- the comment is written directly under quoted lines that include the
  finding's line (or the changed lines next to it): matched by ``line``; or
- the comment is written directly under quoted changed lines of the finding's
  function: matched by ``function``; or
- the comment is written under the commit message (or above every quote)
  and names the finding's function, in a reply that quotes the finding's
  lines further down (the whole-patch review style): matched by ``function``.

With an earlier revision in the input, comments on it count too, for a
finding whose line (its text, whitespace aside) is in that revision's patch.

Who wrote a reply is never looked at, except that the patch's own author
answering is not a review.  A comment on the patch's lines or commit message
that no finding took is a *review point*.  A reply that gives a review tag
and writes nothing under the diff is an ack, not a review point.  With an
earlier revision in the input, a review point made on it whose quoted
changed lines are all still in the matching patch (or, for a comment on the
patch as a whole, whose patch did not change) is an *unanswered review point*.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from typing import Iterable

from reviewkit.model import Line, Patch, Reply, Series
from reviewkit.parse.quotes import Segment, excerpt, segments
from reviewkit.report import Finding, Remark

# a quoted line found more often than this in the patch is placed only by the
# line quoted before it (keeps a hostile quote of many repeated lines linear)
_AMBIGUOUS = 64


def _norm(text: str) -> str:
    return "".join(text.split())


def _significant(text: str) -> bool:
    return bool(re.search(r"[A-Za-z0-9_]", text))


@dataclass
class _Row:
    path: str
    hunk: int  # running hunk number over the patch
    line: Line


class PatchLines:
    """The patch's diff lines, flattened, indexed by (kind, text without spaces)."""

    def __init__(self, patch: Patch):
        self.patch = patch
        self.rows: list[_Row] = []
        self.by_key: dict[tuple[str, str], list[int]] = {}
        n = 0
        for fd in patch.files:
            for h in fd.hunks:
                for ln in h.lines:
                    self.by_key.setdefault((ln.kind, _norm(ln.text)), []).append(len(self.rows))
                    self.rows.append(_Row(fd.path, n, ln))
                n += 1
        prose = patch.commit_message + "\n" + patch.notes + "\n" + patch.diffstat
        self.prose = {_norm(ln) for ln in prose.split("\n") if len(_norm(ln)) >= 8}
        self._funcs: dict[tuple[str, str], object] = {}

    def align(self, quote: Iterable[str]) -> list[int]:
        """Row numbers of the patch lines a quote shows, in quote order."""
        out: list[int] = []
        prev: int | None = None
        path: str | None = None
        lines = list(quote)
        keys = [_quoted_key(q) for q in lines]
        for i, q in enumerate(lines):
            if q.startswith("diff --git "):
                path = q.rsplit(" b/", 1)[-1].strip()
                prev = None
                continue
            if q.startswith("+++ "):
                path = q[4:].strip().removeprefix("b/")
                prev = None
                continue
            if q.startswith(("--- ", "@@ ")) or keys[i] is None:
                prev = None if q.startswith("@@ ") else prev
                continue
            cands = self.by_key.get(keys[i], [])
            if path is not None and len(cands) <= _AMBIGUOUS:
                cands = [c for c in cands if self.rows[c].path == path]
            pick = None
            if prev is not None:  # the first candidate after the previous line, same hunk
                k = bisect.bisect_right(cands, prev)
                if k < len(cands) and self.rows[cands[k]].hunk == self.rows[prev].hunk:
                    pick = cands[k]
            if pick is None and _significant(keys[i][1]):
                if len(cands) == 1:
                    pick = cands[0]
                elif 1 < len(cands) <= _AMBIGUOUS and i + 1 < len(lines) \
                        and keys[i + 1] is not None:
                    nxt = self.by_key.get(keys[i + 1], [])
                    ahead = [c for c in cands if _has(nxt, c + 1)]
                    if len(ahead) == 1:
                        pick = ahead[0]
            if pick is not None:
                out.append(pick)
                prev = pick
            else:
                prev = None
        return out

    def quotes_prose(self, quote: Iterable[str]) -> bool:
        """Whether a quote shows the patch's commit message, notes or diffstat."""
        return any(_norm(q) in self.prose for q in quote)

    def function_of(self, row: int) -> str | None:
        """The name of the function a diff line is in (post image; pre for a removed line)."""
        r = self.rows[row]
        side = "pre" if r.line.kind == "-" else "post"
        number = r.line.old_no if side == "pre" else r.line.new_no
        key = (r.path, side)
        if key not in self._funcs:
            from reviewkit.engine.context import FileImage

            fd = next(f for f in self.patch.files if f.path == r.path)
            self._funcs[key] = FileImage.from_hunks(r.path, fd.hunks, side)
        func = self._funcs[key].function_at(number) if number is not None else None
        return func.name if func is not None else None

    def own_row(self, f: Finding) -> int | None:
        """The row of the finding's own line."""
        for n, r in enumerate(self.rows):
            if r.path != f.path:
                continue
            if f.line is not None and r.line.new_no == f.line and r.line.kind != "-":
                return n
            if f.line is None and f.old_line is not None and r.line.old_no == f.old_line \
                    and r.line.kind != "+":
                return n
        return None

    def rows_of(self, f: Finding) -> set[int]:
        """The finding's own line and the run of changed lines around it."""
        own = self.own_row(f)
        if own is None:
            return set()
        out = {own}
        if self.rows[own].line.kind != " ":
            k = own - 1
            while k >= 0 and self.rows[k].hunk == self.rows[own].hunk \
                    and self.rows[k].line.kind != " ":
                out.add(k)
                k -= 1
            k = own + 1
            while k < len(self.rows) and self.rows[k].hunk == self.rows[own].hunk \
                    and self.rows[k].line.kind != " ":
                out.add(k)
                k += 1
        return out


def _has(sorted_rows: list[int], row: int) -> bool:
    k = bisect.bisect_left(sorted_rows, row)
    return k < len(sorted_rows) and sorted_rows[k] == row


def _quoted_key(q: str) -> tuple[str, str] | None:
    """(kind, text) of a quoted line that may be a diff line."""
    if q.startswith(("+++ ", "--- ")) or q == "---":
        return None
    if not q:
        return (" ", "")
    if q[0] in "+- ":
        return (q[0], _norm(q[1:]))
    if q[0] == "\t":  # a context line whose leading space a mailer ate
        return (" ", _norm(q))
    return None


@dataclass
class _Comment:
    reply: Reply
    seg: Segment
    rows: list[int]  # patch lines the quote directly above shows
    on_prose: bool  # on the patch as a whole: under its commit message, at the top, ...


def _comments(patch: Patch, lines: PatchLines, reply: Reply) -> tuple[list[_Comment], set[int]]:
    """The reply's comments on the patch, and every patch line the reply quotes."""
    out = []
    everything: set[int] = set()
    direct = reply.in_reply_to == patch.message_id
    for n, seg in enumerate(segments(reply.body)):
        rows = lines.align(seg.quote)
        everything.update(rows)
        if seg.words < 3:
            continue
        if seg.quote:  # the commit message, or diff lines that could not be placed
            on_prose = lines.quotes_prose(seg.quote) or (not rows and any(
                (k := _quoted_key(q)) is not None and k[0] in "+-" and _significant(k[1])
                for q in seg.quote))
        else:  # above every quote, in a direct reply
            on_prose = direct and n == 0
        out.append(_Comment(reply, seg, rows, on_prose))
    return out, everything


def _by_author(patch: Patch, reply: Reply) -> bool:
    return bool(reply.author.email) and reply.author.email.lower() == patch.author.email.lower()


def _remark(c: _Comment, lines: PatchLines, version: int, *, matched_by: str = "",
            start: int = 0) -> Remark:
    paras = c.seg.paragraphs
    text = [ln for p in paras[start:] for ln in p + [""]]
    changed = [r for r in c.rows if lines.rows[r].line.kind != " "]
    first = lines.rows[changed[0]] if changed else (lines.rows[c.rows[0]] if c.rows else None)
    return Remark(
        author=c.reply.author, date=c.reply.date, message_id=c.reply.message_id,
        excerpt=excerpt(text), matched_by=matched_by,
        path=first.path if first else None,
        line=first.line.new_no if first and first.line.kind != "-" else None,
        old_line=first.line.old_no if first and first.line.kind == "-" else None,
        function=lines.function_of(changed[0] if changed else c.rows[0]) if first else None,
        quoted=tuple(lines.rows[r].line.kind + lines.rows[r].line.text for r in changed),
        version=version)


@dataclass
class ThreadView:
    findings: tuple[Finding, ...]
    review_points: dict[int, list[Remark]]
    unanswered: dict[int, list[Remark]]


def _patch_view(patch: Patch, findings: list[Finding], version: int
                ) -> tuple[dict[int, list[Remark]], list[Remark]]:
    """(finding position -> comments that raised it, review points) for one patch."""
    lines = PatchLines(patch)
    own = {i: lines.rows_of(f) for i, f in enumerate(findings)}
    raised: dict[int, list[Remark]] = {}
    points: list[Remark] = []
    for reply in patch.replies:
        if _by_author(patch, reply):
            continue
        comments, quoted = _comments(patch, lines, reply)
        tagged = any(t.is_review_tag for t in reply.trailers)
        for c in comments:
            took = False
            for i, f in enumerate(findings):
                how, start = _raises(c, f, own[i], quoted, lines)
                if how:
                    took = True
                    if all(r.message_id != reply.message_id for r in raised.get(i, [])):
                        raised.setdefault(i, []).append(
                            _remark(c, lines, version, matched_by=how, start=start))
            if took:
                continue
            if c.rows:
                points.append(_remark(c, lines, version))
            elif c.on_prose and not tagged and not c.rows:
                points.append(_remark(c, lines, version))
    return raised, points


def _raises(c: _Comment, f: Finding, own: set[int], quoted: set[int],
            lines: PatchLines) -> tuple[str, int]:
    """("line" | "function" | "", first paragraph of the comment to quote)."""
    if not own:
        return "", 0
    if own & set(c.rows):
        return "line", 0
    if f.function and any(lines.rows[r].line.kind != " " and lines.rows[r].path == f.path
                          and lines.function_of(r) == f.function for r in c.rows):
        return "function", 0
    if f.function and c.on_prose and not c.rows and own & quoted:
        named = re.compile(r"(?<![\w>.-])" + re.escape(f.function) + r"\b")
        for n, para in enumerate(c.seg.paragraphs):
            if named.search(" ".join(para)):
                return "function", n
    return "", 0


def view(series: Series, findings: Iterable[Finding]) -> ThreadView:
    """The findings with ``raised_in`` filled, and each patch's review points."""
    findings = list(findings)
    by_patch: dict[int, list[int]] = {}
    for n, f in enumerate(findings):
        if f.patch is not None and f.path:
            by_patch.setdefault(f.patch, []).append(n)
    points: dict[int, list[Remark]] = {}
    targets = ([series.cover] if series.cover else []) + list(series.patches)
    for p in targets:
        if not p.replies:
            continue
        mine = by_patch.get(p.index, []) if not p.is_cover else []
        raised, pts = _patch_view(p, [findings[n] for n in mine], series.version)
        for i, remarks in raised.items():
            n = mine[i]
            findings[n] = replace(findings[n], raised_in=findings[n].raised_in + tuple(remarks))
        if pts:
            points[p.index] = pts
    unanswered: dict[int, list[Remark]] = {}
    if series.previous is not None:
        _raised_earlier(series, findings)
        taken = {(r.message_id, r.excerpt) for f in findings for r in f.raised_in}
        for index, remarks in _unanswered(series).items():
            left = [r for r in remarks if (r.message_id, r.excerpt) not in taken]
            if left:
                unanswered[index] = left
    return ThreadView(tuple(findings), points, unanswered)


def _raised_earlier(series: Series, findings: list[Finding]) -> None:
    """Add to ``raised_in`` the comments on the earlier revision that made a
    finding's point on the same line there (its text, whitespace aside)."""
    from reviewkit.compare import match_patches

    old = series.previous
    matched = match_patches(series, old)
    for p in series.patches:
        o = matched.get(p.index)
        mine = [n for n, f in enumerate(findings) if f.patch == p.index and f.path]
        if o is None or not o.replies or not mine:
            continue
        now, then = PatchLines(p), PatchLines(o)
        moved, back = [], []
        for n in mine:
            g = _on_earlier(findings[n], now, then)
            if g is not None:
                moved.append(g)
                back.append(n)
        raised, _ = _patch_view(o, moved, old.version)
        for i, remarks in raised.items():
            n = back[i]
            findings[n] = replace(findings[n], raised_in=tuple(remarks) + findings[n].raised_in)


def _on_earlier(f: Finding, now: PatchLines, then: PatchLines) -> Finding | None:
    """The finding placed on the earlier revision's copy of its line, if it has one."""
    own = now.own_row(f)
    if own is None:
        return None
    ln = now.rows[own].line
    cands = [k for k in then.by_key.get((ln.kind, _norm(ln.text)), [])
             if then.rows[k].path == f.path]
    if not cands:
        return None
    number = (lambda line: line.old_no if line.kind == "-" else line.new_no)
    here = number(ln) or 0
    best = min(cands, key=lambda k: abs((number(then.rows[k].line) or 0) - here))
    b = then.rows[best].line
    return replace(f, line=None if b.kind == "-" else b.new_no,
                   old_line=b.old_no if b.kind == "-" else None, raised_in=())


def _unanswered(series: Series) -> dict[int, list[Remark]]:
    """Review points on the earlier revision that the new one leaves as they were."""
    from reviewkit.compare import changed, match_patches

    old = series.previous
    matched = match_patches(series, old)
    out: dict[int, list[Remark]] = {}
    for p in series.patches:
        o = matched.get(p.index)
        if o is None or not o.replies:
            continue
        _, pts = _patch_view(o, [], old.version)
        if not pts:
            continue
        now = PatchLines(p)
        keep = []
        for r in pts:
            if r.quoted:
                still = all((q[0], _norm(q[1:])) in now.by_key and any(
                    now.rows[k].path == r.path for k in now.by_key[(q[0], _norm(q[1:]))])
                    for q in r.quoted)
                if still:
                    keep.append(r)
            elif not changed(p, o):
                keep.append(r)
        if keep:
            out[p.index] = keep
    return out
