"""Split an mbox into raw messages without the stdlib ``mailbox`` module.

Handles mboxo and mboxrd: a ``From `` line starts a message when it looks
like a separator (an address or id, then a date); writers that forget the
blank line before it are tolerated, since body lines starting ``From `` are
escaped by every mbox writer.  Inside a message, ``>From `` (and ``>>From `` ...) lines
lose one ``>``, which undoes both mboxrd quoting and the common mboxo case.
The splitter is a generator over lines so a large mbox is never held whole.
"""

from __future__ import annotations

import re
from typing import IO, Iterable, Iterator

# "From 20210915181456.10739-1-peterx@redhat.com Thu Jan  1 00:00:00 1970"
# "From 6f0b3c2... Mon Sep 17 00:00:00 2001", "From MAILER-DAEMON Fri Jul  8 12:08:34 2011"
_SEPARATOR = re.compile(rb"^From \S+\s+.*\d{1,2}:\d{2}(:\d{2})?.*\d{4}\s*$")
_ESCAPED_FROM = re.compile(rb"^>+From ")


def is_separator(line: bytes) -> bool:
    return line.startswith(b"From ") and _SEPARATOR.match(line.rstrip(b"\r\n")) is not None


def looks_like_mbox(head: bytes) -> bool:
    """True when the first line of ``head`` is an mbox ``From `` separator."""
    first = head.split(b"\n", 1)[0]
    return is_separator(first)


def split_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number_of_separator, message_bytes)`` for each message.

    Text before the first separator (if any) is yielded as a message of its
    own when it is not blank, so a single message without a separator still
    comes out.
    """
    current: list[bytes] = []
    start = 1
    for lineno, line in enumerate(lines, 1):
        if line.startswith(b"From ") and is_separator(line):
            if any(x.strip() for x in current):
                yield start, _finish(current)
            current = []
            start = lineno
            continue
        if line.startswith(b">") and _ESCAPED_FROM.match(line):
            line = line[1:]
        current.append(line)
    if any(x.strip() for x in current):
        yield start, _finish(current)


def _finish(lines: list[bytes]) -> bytes:
    data = b"".join(lines)
    # the blank line before the next separator belongs to the mbox, not the message
    if data.endswith(b"\n\n"):
        data = data[:-1]
    elif data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    return data


MBOXRD_SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def join_messages(messages: Iterable[bytes], separator: bytes = MBOXRD_SEPARATOR) -> bytes:
    """An mboxrd file of ``messages``, the inverse of ``split_bytes``: every line that
    starts ``From `` or ``>From `` (``>>From `` ...) gains one ``>``."""
    return b"".join(separator + _ESCAPE.sub(rb">\1", m).rstrip(b"\n") + b"\n\n"
                    for m in messages)


_ESCAPE = re.compile(rb"(?m)^(>*From )")


def split_file(fp: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    return split_lines(iter(fp.readline, b""))


def split_bytes(data: bytes) -> Iterator[tuple[int, bytes]]:
    return split_lines(data.splitlines(keepends=True))


_CANDIDATE = re.compile(rb"(?m)^From ")
_UNESCAPE = re.compile(rb"(?m)^>(>*From )")


def unescape(raw: bytes) -> bytes:
    """One message as cut from an mbox (separator line excluded) -> its bytes, as
    ``split_lines`` yields them."""
    if b">From " in raw:
        raw = _UNESCAPE.sub(rb"\1", raw)
    return _finish([raw])


def split_spans(fp: IO[bytes], chunk: int = 1 << 20) -> Iterator[tuple[int, int, int, bytes]]:
    """``(line_number_of_separator, start, end, message_bytes)`` for each message of
    an mbox file, read in chunks: ``start:end`` is the message's byte range in the
    file (after its separator line), for reading it again later with ``unescape``.
    The same messages as ``split_file``, found with one regular-expression scan per
    chunk instead of a Python loop per line."""
    buf = b""
    base = 0  # file offset of buf[0]
    buf_line = 1  # line number of buf[0]
    open_start: int | None = None  # file offset of the open message's first byte
    open_line = 1
    eof = False
    while not eof:
        more = fp.read(chunk)
        eof = not more
        buf += more
        limit = len(buf) if eof else buf.rfind(b"\n") + 1  # complete lines only
        counted, line = 0, buf_line
        for m in _CANDIDATE.finditer(buf, 0, limit):
            a = m.start()
            nl = buf.find(b"\n", a, limit)
            line_end = limit if nl == -1 else nl + 1
            if not is_separator(buf[a:line_end]):
                continue
            line += buf.count(b"\n", counted, a)
            counted = a
            if open_start is not None:
                yield from _emit(buf, base, open_line, open_start, base + a)
            elif a > 0:
                yield from _emit(buf, base, 1, base, base + a)
            open_start, open_line = base + line_end, line
        if eof:
            if open_start is None:
                yield from _emit(buf, base, 1, base, base + len(buf))
            else:
                yield from _emit(buf, base, open_line, open_start, base + len(buf))
            return
        keep = open_start - base if open_start is not None else 0
        buf_line += buf.count(b"\n", 0, keep)
        buf = buf[keep:]
        base += keep


def _emit(buf: bytes, base: int, line: int, start: int, end: int):
    raw = buf[start - base:end - base]
    if raw.strip():
        yield line, start, end, unescape(raw)
