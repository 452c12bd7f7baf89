"""A reply's body as quotes and the comments written under them.

Reviewers on the lists answer inline: they quote a few lines of the patch
(``> ``) and write under them.  ``segments`` cuts a body into that shape: each
``Segment`` is a run of quoted lines (quote markers removed, at any depth) and
the reply's own text that follows it, up to the next quote.  Text before the
first quote is a segment with no quote.  Attribution lines ("On ..., X
wrote:"), the signature (after ``-- ``) and closing lines are left out of the
text.  Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# one or more quote markers: ">", "> >", ">>" (a single space after each is part of it)
_MARKERS = re.compile(r"^[ ]{0,2}((?:>[ ]?)+)")
_ATTRIBUTION = re.compile(r"(wrote|writes|said|a écrit|schrieb)\s*:\s*$", re.I)
_TRAILER = re.compile(r"^\s*[A-Z][A-Za-z-]*-by:\s+\S|^\s*(Cc|Fixes|Link|Closes):\s+\S")
_CLOSING = re.compile(r"^\s*(thanks|thank you|regards|cheers|best|br|ack|nak|nack)\b[ ,.!]*"
                      r"(\w+[ ,.!]*)?$", re.I)


@dataclass(frozen=True)
class Segment:
    quote: tuple[str, ...]  # the quoted lines directly above, markers removed
    text: tuple[str, ...]  # the reply's own lines under that quote

    @property
    def paragraphs(self) -> list[list[str]]:
        out: list[list[str]] = []
        cur: list[str] = []
        for ln in self.text:
            if ln.strip():
                cur.append(ln)
            elif cur:
                out.append(cur)
                cur = []
        if cur:
            out.append(cur)
        return out

    @property
    def words(self) -> int:
        return sum(len(ln.split()) for ln in self.text)


def unquote(line: str) -> tuple[int, str] | None:
    """(depth, text) of a quoted line, None for the reply's own text."""
    m = _MARKERS.match(line)
    if not m:
        return None
    return m.group(1).count(">"), line[m.end():]


def _clean(text: list[str]) -> tuple[str, ...]:
    """The reply's own words: no trailers, attribution, greeting or closing."""
    lines = [ln.rstrip() for ln in text if not _TRAILER.match(ln)]
    # attribution of the quote that follows: the last paragraph ending in "wrote:"
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and _ATTRIBUTION.search(lines[-1]):
        k = len(lines) - 1
        while k > 0 and lines[k - 1].strip() and len(lines) - k < 3:
            k -= 1
        del lines[k:]
    paras: list[list[str]] = []
    cur: list[str] = []
    for ln in lines:
        if ln.strip():
            cur.append(ln)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    # a closing paragraph ("Thanks,\nDavid", "Hugh") and a greeting ("Hi, Hugh,")
    while paras and len(paras[-1]) <= 2 and sum(len(x.split()) for x in paras[-1]) <= 4 \
            and (len(paras[-1]) == 2 or _CLOSING.match(paras[-1][0])
                 or len(paras[-1][0].split()) <= 2):
        paras.pop()
    if paras and len(paras[0]) == 1 and re.match(r"^\s*(hi|hello|hey|dear)\b", paras[0][0], re.I) \
            and len(paras[0][0].split()) <= 4:
        paras.pop(0)
    out: list[str] = []
    for p in paras:
        if out:
            out.append("")
        out.extend(p)
    return tuple(out)


def segments(body: str) -> list[Segment]:
    """The body cut into (quote, own text) segments, in order."""
    out: list[Segment] = []
    quote: list[str] = []
    text: list[str] = []
    for raw in body.split("\n"):
        line = raw.rstrip("\r")
        q = unquote(line)
        if q is None and line in ("-- ", "--"):
            break  # the signature
        if q is not None:
            if any(t.strip() for t in text):
                out.append(Segment(tuple(quote), _clean(text)))
                quote = []
            text = []  # blank lines between two quotes belong to neither
            quote.append(q[1])
            continue
        text.append(line)
    if quote or text:
        out.append(Segment(tuple(quote), _clean(text)))
    return out


def excerpt(lines: list[str] | tuple[str, ...], max_lines: int = 3) -> str:
    """The first lines of a comment, as written."""
    picked = [ln.rstrip() for ln in lines if ln.strip()][:max_lines]
    return "\n".join(picked)
