"""One raw mail message -> a MailMessage, with mail-parser doing the MIME work.

mail-parser decodes quoted-printable and base64 transfer encodings and the
body's charset; here the result is normalised (CRLF -> LF) and reduced to
what the series model needs.  A text attachment that carries a patch is
appended to the body, as ``git am`` would read it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
import email
from email.utils import getaddresses, parsedate_to_datetime

import mailparser

from reviewkit.model import Person

logging.getLogger("mailparser").setLevel(logging.CRITICAL)

_MSGID = re.compile(r"<([^<>\s]+)>")
_PATCH_ATTACHMENT = re.compile(r"\.(patch|diff)$|^text/x-(patch|diff)$", re.I)


class NotMailError(ValueError):
    """The bytes are not a mail message."""


@dataclass(frozen=True)
class MailMessage:
    message_id: str  # without angle brackets
    subject: str
    author: Person
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    to: tuple[Person, ...]
    cc: tuple[Person, ...]
    body: str
    problems: tuple[str, ...] = ()  # header values that could not be used, and why


# Every value taken from a header is checked before it is used: what fails is
# dropped (or cut) and said in ``problems``, which become input/bad-header findings.
MAX_HEADER_BYTES = 64 << 10
MAX_ADDRESSES = 2000
MAX_ID = 998  # RFC 5322's line length: no real Message-ID is longer
_ANY_ID = re.compile(r"<([^<>]*)>")
_ID_OK = re.compile(r"[!-;=?-~\u00a0-\U0010ffff]+")
_ADDR_OK = re.compile(r"[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f-\x9f]+@"
                      r"[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f-\x9f]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _id_ok(value: str) -> bool:
    BIDI = _BIDI
    return (0 < len(value) <= MAX_ID and _ID_OK.fullmatch(value) is not None
            and not any(c in BIDI for c in value))


def _ids(value: str | None, what: str = "", problems: list | None = None) -> list[str]:
    """Message-IDs in a header value.  Whitespace folded into an id is removed (a
    folded ``<a@exa\n\tmple.org>`` is ``a@example.org``); an id that is still unusable
    (control characters, over-long) is dropped and noted."""
    if not value:
        return []
    found = _ANY_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    out = []
    for raw in found:
        mid = "".join(raw.split())
        if _id_ok(mid):
            out.append(mid)
        elif problems is not None and mid:
            problems.append(f"{what}: unusable Message-ID {_shown(mid)} dropped")
    return out


def _shown(text: str, limit: int = 60) -> str:
    text = text if len(text) <= limit else text[:limit] + "..."
    return repr(text)


def _person(name: str, email: str, what: str, problems: list | None) -> Person | None:
    """A checked Person: control characters (a CR/LF decoded from an encoded-word)
    out of the name, an address that is one address or nothing."""
    name, email = str(name or ""), str(email or "").strip()
    if "=?" in name:  # an encoded-word mail-parser left alone (it decodes to a line break ...)
        name = _decode_header(name)
    if _CONTROLS.search(name):
        if problems is not None:
            problems.append(f"{what}: the name {_shown(name)} holds control characters "
                            "(shown as spaces)")
        name = " ".join(_CONTROLS.sub(" ", name).split())
    if email and _ADDR_OK.fullmatch(email) is None:
        if problems is not None:
            problems.append(f"{what}: unusable address {_shown(email)} dropped")
        email = ""
        if not name:
            return None
    if not (email or name):
        return None
    return Person(name=name.strip(), email=email.lower())


def _people(pairs, what: str = "From", problems: list | None = None) -> tuple[Person, ...]:
    """mail-parser's decoded (name, address) pairs -> Persons."""
    out = []
    for pair in pairs or ():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            continue
        p = _person(pair[0], pair[1], what, problems)
        if p is not None:
            out.append(p)
    return tuple(out)


_NOT_FOR_MAILPARSER = ("To", "Cc", "Bcc", "Date", "Received", "Resent-Date", "Delivered-To",
                       "Reply-To")
# what mail-parser is given of the message's own header: the sender and the MIME
# structure (the parts keep theirs); the rest is read here, before it is removed
_FOR_MAILPARSER = frozenset({"from", "mime-version", "content-type",
                             "content-transfer-encoding", "content-disposition"})
_READ_HERE = ("Subject", "From", "Message-ID", "In-Reply-To", "References")


_SIMPLE_ADDRESS = re.compile(
    r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<>",;:()\\@]*?))\s*<([^<>\s",;:()\\]+)>\s*$'
    r'|\s*([^<>\s",;:()\\]+@[^<>\s",;:()\\]+)\s*$')


def _split_addresses(text: str) -> list[tuple[str, str]] | None:
    """The common shapes of a recipient list (``Name <a@b>``, ``"Last, First" <a@b>``,
    ``a@b``), parsed without the stdlib's character-by-character lexer; None for
    anything else (comments, groups, odd quoting), which getaddresses then reads."""
    out = []
    for piece in _split_commas(text):
        if not piece.strip():
            continue
        m = _SIMPLE_ADDRESS.match(piece)
        if m is None:
            return None
        if m.group(4) is not None:
            out.append(("", m.group(4)))
        else:
            quoted = m.group(1)
            name = quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted is not None \
                else " ".join(m.group(2).split())
            out.append((name, m.group(3)))
    return out


def _utf8(value) -> str:
    """A header value as text: raw 8-bit bytes (which the email package keeps as
    surrogate escapes) read as UTF-8."""
    from email.header import Header, decode_header

    if isinstance(value, Header):  # compat32 wraps 8-bit values as unknown-8bit
        try:
            return "".join(b.decode("utf-8", "replace") if isinstance(b, bytes) else b
                           for b, _ in decode_header(value))
        except Exception:  # noqa: BLE001
            return str(value)
    text = str(value)
    if any("\udc80" <= c <= "\udcff" for c in text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _split_commas(text: str) -> list[str]:
    """``text`` split at the commas outside double quotes, in one pass."""
    pieces: list[str] = []
    current: list[str] = []
    for n, chunk in enumerate(re.split(r'("(?:[^"\\]|\\.)*")', text)):
        if n % 2:  # a quoted string: commas in it are the name's
            current.append(chunk)
            continue
        parts = chunk.split(",")
        current.append(parts[0])
        for part in parts[1:]:
            pieces.append("".join(current))
            current = [part]
    pieces.append("".join(current))
    return pieces


def _addresses(values, what: str = "Cc", problems: list | None = None,
               limit: int = MAX_ADDRESSES) -> tuple[Person, ...]:
    """Recipients of To:/Cc: header values, names decoded (RFC 2047), at most ``limit``."""
    if not values:
        return ()
    values = [_utf8(v) for v in values]
    text = ", ".join(" ".join(v.split()) for v in values)
    pairs = _split_addresses(text)
    if pairs is None:
        try:
            pairs = getaddresses([str(v) for v in values])
        except Exception:  # noqa: BLE001 - the stdlib lexer on hostile input
            pairs = []
            if problems is not None:
                problems.append(f"{what}: the header does not parse as addresses; ignored")
    out = []
    for name, addr in pairs:
        if len(out) >= limit:
            if problems is not None:
                problems.append(f"{what}: more than {limit} addresses; the rest ignored "
                                "(limits.addresses)")
            break
        if "=?" in name:
            name = _decode_header(name)
        p = _person(name, addr, what, problems)
        if p is not None:
            out.append(p)
    return tuple(out)


def _header(msg, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    return str(value)


def _decode_header(value: str | None) -> str:
    if not value:
        return ""
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001 - ValueError, LookupError, or worse on hostile input
        return value


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_EARLIEST, _LATEST = 1970, 2200


def _date(value: str | None, problems: list) -> datetime | None:
    if not value:
        return None
    try:
        date = parsedate_to_datetime(value)
        if not _EARLIEST <= date.year <= _LATEST:
            raise ValueError("year")
        date.timestamp()  # raises for what cannot be a moment (an offset past 24 h ...)
        date.utcoffset()
    except Exception:  # noqa: BLE001 - TypeError, ValueError, OverflowError, IndexError ...
        problems.append(f"Date: {_shown(' '.join(value.split()))} is not a usable date; "
                        "ignored")
        return None
    return date


def _cut_headers(data: bytes, limit: int, problems: list) -> bytes:
    """Header fields longer than ``limit`` bytes cut to it (at an address boundary
    when there is one), in one pass over the header block."""
    end = data.find(b"\n\n")
    end_crlf = data.find(b"\r\n\r\n")
    if end < 0 or (0 <= end_crlf < end):
        end = end_crlf
    head, body = (data, b"") if end < 0 else (data[:end], data[end:])
    if len(head) <= limit:
        return data
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    out = []
    for field in fields:
        size = sum(len(x) for x in field)
        if size <= limit:
            out.extend(field)
            continue
        joined = b"".join(field)
        name = joined.split(b":", 1)[0].decode("ascii", "replace")[:40]
        cut = joined[:limit]
        comma = cut.rfind(b",")
        if comma > limit // 2:
            cut = cut[:comma]
        problems.append(f"{name}: header of {size} bytes cut to {limit} "
                        "(limits.header-bytes)")
        out.append(cut.rstrip(b"\r\n") + b"\n")
    return b"".join(out) + body


def parse_message(data: bytes, *, fallback_id: str, max_header: int = MAX_HEADER_BYTES,
                  max_addresses: int = MAX_ADDRESSES) -> MailMessage:
    """Parse one message.  Raises NotMailError when ``data`` is not mail."""
    if not data.strip():
        raise NotMailError("empty message")
    problems: list[str] = []
    data = _cut_headers(data, max_header, problems)
    try:
        raw = email.message_from_bytes(data)
        # mail-parser parses every address header (with its own lexer, then the
        # stdlib's again), every Received: and Date: header when it is built; only
        # From: is wanted from it, the recipients are read once below, the date by
        # parsedate_to_datetime, the Received: chain never; and it decodes every
        # other header twice, for a dict of them that is not used either
        kept = {name: raw.get_all(name) for name in _NOT_FOR_MAILPARSER}
        own = {name: _header(raw, name) for name in _READ_HERE}
        for name in {k.lower() for k in raw.keys()} - _FOR_MAILPARSER:
            del raw[name]
        mail = mailparser.MailParser(raw)
    except Exception as exc:  # mail-parser raises bare exceptions on odd input
        raise NotMailError(f"unparsable message: {type(exc).__name__}") from None
    subject_raw = own["Subject"]
    from_raw = own["From"]
    if subject_raw is None and from_raw is None:
        raise NotMailError("no mail headers (From:/Subject:)")
    subject = normalise_newlines(_decode_header(subject_raw))
    try:
        authors = _people(mail.from_, "From", problems) if from_raw else ()
    except Exception:  # noqa: BLE001 - mail-parser's address parsing on hostile input
        authors = ()
        problems.append("From: the header does not parse as an address; ignored")
    author = authors[0] if authors else Person(name="", email="")
    date = _date(str(kept["Date"][0]) if kept["Date"] else None, problems)
    ids = _ids(own["Message-ID"], "Message-ID", problems)
    message_id = ids[0] if ids else fallback_id
    irt = _ids(own["In-Reply-To"], "In-Reply-To", problems)
    refs = tuple(_ids(own["References"], "References", problems))
    to = _addresses(kept["To"], "To", problems, max_addresses)
    cc = _addresses(kept["Cc"], "Cc", problems, max_addresses)

    parts = list(mail.text_plain)
    if not parts and not raw.is_multipart():
        parts = [mail.body]
    for att in mail.attachments:
        if att.get("binary"):
            continue
        name = att.get("filename") or ""
        ctype = att.get("mail_content_type") or ""
        if _PATCH_ATTACHMENT.search(name) or _PATCH_ATTACHMENT.search(ctype):
            parts.append(att.get("payload") or "")
    body = normalise_newlines("\n".join(p.rstrip("\n") + "\n" for p in parts if p))
    return MailMessage(
        message_id=message_id,
        subject=subject,
        author=author,
        date=date,
        in_reply_to=irt[0] if irt else (refs[-1] if refs else None),
        references=refs,
        to=to,
        cc=cc,
        body=body,
        problems=tuple(dict.fromkeys(problems)),
    )
