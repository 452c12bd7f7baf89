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

# git and checkpatch accept a trailer with no space after the colon ("Signed-off-by:Ada")
_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])\s*:\s*(\S.*?)\s*$")
# trailers a reviewer gives in a reply; other Key: lines in a reply are prose
_REPLY_KINDS = frozenset({"Reviewed-by", "Acked-by", "Tested-by", "Nacked-by",
                          "Reported-and-tested-by"})


# the shapes nearly every trailer has ("Name <a@b>", "<a@b>", "a@b"), read without the
# stdlib's character-by-character address lexer; they read as parseaddr reads them
# (anything with quotes, comments, brackets or odd characters goes to parseaddr)
_SIMPLE = re.compile(r"([^<>\"(),;:@\[\]\\]*?)\s*<([^<>\s\"(),;:@\[\]\\]+@[^<>\s\"(),;:@\[\]\\]+)>"
                     r"|([^<>\s\"(),;:@\[\]\\]+@[^<>\s\"(),;:@\[\]\\]+)")
_ADDR_PART = re.compile(r"[^.]+(?:\.[^.]+)*")  # no empty dot-separated part


def _simple_address(value: str) -> tuple[str, str] | None:
    m = _SIMPLE.fullmatch(value)
    if m is None:
        return None
    addr = m.group(2) if m.group(3) is None else m.group(3)
    local, _, domain = addr.partition("@")
    if _ADDR_PART.fullmatch(local) is None or _ADDR_PART.fullmatch(domain) is None:
        return None
    return (" ".join(m.group(1).split()) if m.group(3) is None else "", addr)


def parse_person(value: str) -> Person | None:
    # "Name <email>", "email", "Name <email> # v5.10+", "<stable@vger.kernel.org> # 5.10"
    value = value.split(" #", 1)[0].strip()
    name, email = _simple_address(value) or parseaddr(value)
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


def _trailers_of(paragraph: str) -> tuple[list[Trailer], int]:
    """(trailers, number of non-empty lines) of one paragraph."""
    lines = [ln.strip() for ln in paragraph.splitlines() if ln.strip()]
    return [t for ln in lines if (t := trailer_from_line(ln))], len(lines)


def _known(found: list[Trailer]) -> bool:
    return any(t.kind in KNOWN.values() for t in found)


def commit_trailers(commit_message: str) -> tuple[Trailer, ...]:
    """Trailers of a commit message, read as ``git interpret-trailers`` and
    checkpatch read them.

    The trailer block is the last paragraph holding a known trailer; other
    lines inside it (``[ rebased ]`` notes, a link, a corporate footer) do not
    hide the trailers around them.  Paragraphs after it that hold no trailer at
    all (a footer or signature a mail system appended) do not hide it either,
    and a paragraph of trailers just above it (``Fixes:`` and ``Cc:`` set apart
    from the sign-offs by a blank line) belongs to it.
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", commit_message.strip()) if p.strip()]
    k = len(paragraphs) - 1
    while k >= 0 and not _trailers_of(paragraphs[k])[0]:
        k -= 1  # trailing footers
    if k < 0:
        return ()
    blocks = []
    found, _ = _trailers_of(paragraphs[k])
    blocks.append(found)
    # trailing paragraphs of trailers below the block, and trailer paragraphs above it
    for j in range(k - 1, 0, -1):  # paragraph 0 is the body's first paragraph, never trailers
        above, lines = _trailers_of(paragraphs[j])
        if not above or len(above) * 2 < lines:
            break
        blocks.insert(0, above)
    out = [t for b in blocks for t in b]
    if not _known(out):
        return ()
    return tuple(out)


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
