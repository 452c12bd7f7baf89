"""Subject lines: ``Re: [RFC PATCH net-next v2 03/07] mm/gup: title``.

Linear in the length of the subject (the bracket prefixes are matched in
place, never re-sliced), and bounded: a subject is read to at most
``max_chars`` characters, and a counter or version above ``max_counter`` is
not believed — the Subject carries a ``problem`` instead, so the message is
reported rather than made "patch 1 of 100000000000" or "the newest revision".
"""

from __future__ import annotations

import re

from reviewkit.model import Subject

_REPLY = re.compile(r"\s*(?:(?:re|aw|sv|antw|vs|ref|odp)[ \t]*(?:\[\d{1,6}\])?[ \t]*:[ \t]*)+",
                    re.I)
_BRACKET = re.compile(r"\s*\[([^\]]*)\]\s*")
_COUNTER = re.compile(r"^(\d+)/(\d+)$")
_VERSION = re.compile(r"^v(\d+)$", re.I)
_PATCH_TAG = re.compile(r"^(PATCH|PULL|GIT\s+PULL)$", re.I)

MAX_CHARS = 2000
MAX_COUNTER = 10_000


def _number(digits: str, limit: int) -> int | None:
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(limit)):
        return None  # never int() of an attacker's thousand digits
    n = int(digits)
    return n if n <= limit else None


def parse_subject(raw: str, *, max_chars: int = MAX_CHARS,
                  max_counter: int = MAX_COUNTER) -> Subject:
    raw = raw or ""
    problem = None
    if len(raw) > max_chars * 4:  # whitespace beyond this cannot shrink it below the limit
        raw = raw[:max_chars * 4]
    text = " ".join(raw.split())  # unfold header continuation lines
    shown = text
    if len(text) > max_chars:
        problem = f"subject longer than {max_chars} characters (limits.subject-chars)"
        text = shown = text[:max_chars]
    is_reply = False
    pos = 0
    m = _REPLY.match(text, pos)
    if m and m.end() > pos:
        is_reply = True
        pos = m.end()
    prefixes: list[str] = []
    version = 1
    index = total = None
    is_patch = False
    while True:
        m = _BRACKET.match(text, pos)
        if not m:
            break
        pos = m.end()
        # a reply may carry "Re:" again after a bracket: "[PATCH] Re: ..."
        for word in m.group(1).replace(",", " ").split():
            if _PATCH_TAG.match(word):
                is_patch = True
            elif word.upper() == "GIT":  # "[GIT PULL]"
                continue
            elif (c := _COUNTER.match(word)):
                i, t = _number(c.group(1), max_counter), _number(c.group(2), max_counter)
                if i is None or t is None:
                    problem = problem or f"patch {word[:40]}: counter out of range"
                else:
                    index, total = i, t
            elif (v := _VERSION.match(word)):
                n = _number(v.group(1), max_counter)
                if n is None:
                    problem = problem or f"version {word[:40]}: out of range"
                else:
                    version = n
            else:
                prefixes.append(word)
        r = _REPLY.match(text, pos)
        if r and r.end() > pos:
            is_reply = True
            pos = r.end()
    if any(p.upper() == "PATCH" for p in prefixes):
        is_patch = True
    return Subject(
        raw=shown,
        title=text[pos:].strip(),
        prefixes=tuple(prefixes),
        version=version,
        index=index,
        total=total,
        is_reply=is_reply,
        is_patch=is_patch,
        problem=problem,
    )
