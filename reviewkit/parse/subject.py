"""Subject lines: ``Re: [RFC PATCH net-next v2 03/07] mm/gup: title``."""

from __future__ import annotations

import re

from reviewkit.model import Subject

_REPLY = re.compile(r"^\s*((re|aw|sv|antw|vs|ref|odp)\s*(\[\d+\])?\s*:\s*)+", re.I)
_BRACKET = re.compile(r"^\s*\[([^\]]*)\]\s*")
_COUNTER = re.compile(r"^0*(\d+)/0*(\d+)$")
_VERSION = re.compile(r"^v(\d+)$", re.I)
_PATCH_TAG = re.compile(r"^(PATCH|PULL|GIT\s+PULL)$", re.I)


def parse_subject(raw: str) -> Subject:
    text = " ".join((raw or "").split())  # unfold header continuation lines
    is_reply = False
    m = _REPLY.match(text)
    if m:
        is_reply = True
        text = text[m.end():]
    prefixes: list[str] = []
    version = 1
    index = total = None
    is_patch = False
    while True:
        m = _BRACKET.match(text)
        if not m:
            break
        text = text[m.end():]
        # a reply may carry "Re:" again after a bracket: "[PATCH] Re: ..."
        for word in m.group(1).replace(",", " ").split():
            if _PATCH_TAG.match(word):
                is_patch = True
            elif word.upper() == "GIT":  # "[GIT PULL]"
                continue
            elif (c := _COUNTER.match(word)):
                index, total = int(c.group(1)), int(c.group(2))
            elif (v := _VERSION.match(word)):
                version = int(v.group(1))
            else:
                prefixes.append(word)
        r = _REPLY.match(text)
        if r:
            is_reply = True
            text = text[r.end():]
    if "PATCH" in [p.upper() for p in prefixes]:
        is_patch = True
    return Subject(
        raw=" ".join((raw or "").split()),
        title=text.strip(),
        prefixes=tuple(prefixes),
        version=version,
        index=index,
        total=total,
        is_reply=is_reply,
        is_patch=is_patch,
    )
