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


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = _MSGID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    return found


def _people(pairs) -> tuple[Person, ...]:
    """mail-parser's decoded (name, address) pairs -> Persons."""
    out = []
    for pair in pairs or ():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            continue
        name, email = (str(x or "") for x in pair)
        if email or name:
            out.append(Person(name=name.strip(), email=email.strip().lower()))
    return tuple(out)


_NOT_FOR_MAILPARSER = ("To", "Cc", "Bcc", "Date", "Received", "Resent-Date", "Delivered-To",
                       "Reply-To")


_SIMPLE_ADDRESS = re.compile(
    r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<>",;:()\\@]*?))\s*<([^<>\s",;:()\\]+)>\s*$'
    r'|\s*([^<>\s",;:()\\]+@[^<>\s",;:()\\]+)\s*$')


def _split_addresses(text: str) -> list[tuple[str, str]] | None:
    """The common shapes of a recipient list (``Name <a@b>``, ``"Last, First" <a@b>``,
    ``a@b``), parsed without the stdlib's character-by-character lexer; None for
    anything else (comments, groups, odd quoting), which getaddresses then reads."""
    out = []
    for piece in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', text):
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


def _addresses(values) -> tuple[Person, ...]:
    """Recipients of To:/Cc: header values, names decoded (RFC 2047)."""
    if not values:
        return ()
    text = ", ".join(" ".join(str(v).split()) for v in values)
    pairs = _split_addresses(text)
    if pairs is None:
        pairs = getaddresses([str(v) for v in values])
    out = []
    for name, addr in pairs:
        if "=?" in name:
            name = _decode_header(name)
        if addr or name:
            out.append(Person(name=name.strip(), email=addr.strip().lower()))
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
    except (ValueError, LookupError, UnicodeDecodeError):
        return value


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_message(data: bytes, *, fallback_id: str) -> MailMessage:
    """Parse one message.  Raises NotMailError when ``data`` is not mail."""
    if not data.strip():
        raise NotMailError("empty message")
    try:
        raw = email.message_from_bytes(data)
        # mail-parser parses every address header (with its own lexer, then the
        # stdlib's again), every Received: and Date: header when it is built; only
        # From: is wanted from it, the recipients are read once below, the date by
        # parsedate_to_datetime, the Received: chain never
        kept = {name: raw.get_all(name) for name in _NOT_FOR_MAILPARSER}
        for name in _NOT_FOR_MAILPARSER:
            del raw[name]
        mail = mailparser.MailParser(raw)
    except Exception as exc:  # mail-parser raises bare exceptions on odd input
        raise NotMailError(f"unparsable message: {type(exc).__name__}") from None
    subject_raw = _header(raw, "Subject")
    from_raw = _header(raw, "From")
    if subject_raw is None and from_raw is None:
        raise NotMailError("no mail headers (From:/Subject:)")
    subject = normalise_newlines(_decode_header(subject_raw))
    authors = _people(mail.from_) if from_raw else ()
    author = authors[0] if authors else Person(name="", email="")
    date = None
    date_raw = str(kept["Date"][0]) if kept["Date"] else None
    if date_raw:
        try:
            date = parsedate_to_datetime(date_raw)
        except (TypeError, ValueError, IndexError):
            date = None
    ids = _ids(_header(raw, "Message-ID"))
    message_id = ids[0] if ids else fallback_id
    irt = _ids(_header(raw, "In-Reply-To"))
    refs = tuple(_ids(_header(raw, "References")))
    to = _addresses(kept["To"])
    cc = _addresses(kept["Cc"])

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
    )
