"""Trailers (``Key: value`` lines) in commit messages and review replies."""

from __future__ import annotations

import re
from email.utils import parseaddr

from reviewkit.model import Person, Trailer

# canonical spellings; matched case-insensitively
KNOWN = {
    k.lower(): k
    for k in (
        "Signed-off-by", "Reviewed-by", "Acked-by", "Tested-by", "Reported-by",
        "Suggested-by", "Co-developed-by", "Cc", "Fixes", "Link", "Closes",
        "Reported-and-tested-by", "Debugged-by", "Requested-by", "Originally-by",
        "Message-ID", "Nacked-by", "Helped-by",
    )
}
PERSON_KINDS = frozenset(
    k for k in KNOWN.values() if k.endswith("-by") or k == "Cc"
)

_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])\s*:\s+(\S.*?)\s*$")
# trailers a reviewer gives in a reply; other Key: lines in a reply are prose
_REPLY_KINDS = frozenset({"Reviewed-by", "Acked-by", "Tested-by", "Nacked-by",
                          "Reported-and-tested-by"})


def parse_person(value: str) -> Person | None:
    # "Name <email>", "email", "Name <email> # v5.10+", "<stable@vger.kernel.org> # 5.10"
    value = value.split(" #", 1)[0].strip()
    name, email = parseaddr(value)
    if "@" not in email:
        return None
    return Person(name=name.strip().strip('"'), email=email.strip().lower())


def trailer_from_line(line: str, *, source: str = "patch", message_id: str | None = None,
                      known_only: bool = False) -> Trailer | None:
    m = _TRAILER.match(line)
    if not m:
        return None
    key, value = m.group(1), m.group(2)
    kind = KNOWN.get(key.lower())
    if kind is None:
        if known_only or not key.endswith("-by"):
            return None
        kind = key
    person = parse_person(value) if kind in PERSON_KINDS or kind.endswith("-by") else None
    return Trailer(kind=kind, value=value, person=person, source=source, message_id=message_id)


def commit_trailers(commit_message: str) -> tuple[Trailer, ...]:
    """Trailers of a commit message: the ``Key: value`` lines of its last paragraph.

    A trailer block may hold other lines (``[ rebased ]`` notes, wrapped Fixes);
    it counts when at least one known trailer is in it.
    """
    paragraphs = re.split(r"\n\s*\n", commit_message.strip())
    if not paragraphs:
        return ()
    block = paragraphs[-1].splitlines()
    found = [t for ln in block if (t := trailer_from_line(ln.strip()))]
    if not any(t.kind in KNOWN.values() for t in found):
        return ()
    return tuple(found)


def reply_trailers(body: str, message_id: str | None) -> tuple[Trailer, ...]:
    """Review tags a reply gives: unquoted lines such as ``Acked-by: Name <e>``."""
    out = []
    for ln in body.splitlines():
        if ln.startswith(">"):
            continue
        t = trailer_from_line(ln.rstrip(), source="reply", message_id=message_id, known_only=True)
        if t is not None and t.kind in _REPLY_KINDS and t.person is not None:
            out.append(t)
    return tuple(out)
