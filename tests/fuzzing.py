"""The fuzz harness: hostile and mutated mail through the whole pipeline.

``run(data)`` parses one input (an mbox, or one message), runs every rule and
renders every output format — text (with and without colour), terse, JSON,
HTML, reply drafts and b4's check protocol — in this process.  An *internal
error* is any exception other than reviewkit's one-line input errors, or a rule
that crashed (``internal/rule-crashed``); a control character from mail in the
text, terse or error output is one too.

Inputs come from two places: ``mutate(rnd)`` applies random mutations to the
real fixtures (messages of the seed thread, the edge cases, the lore threads),
and ``CORPUS`` holds the size and complexity cases of hostile input — huge
counters, a subject of nested brackets, a 200k-line hunk, 100k Cc addresses,
a CR-only message, impossible dates, encoded-words that decode to CR/LF, folded
Message-IDs, non-ASCII addresses, escape sequences and bidi overrides.
``tests/test_fuzz.py`` runs a bounded share; ``benchmarks/fuzz.py`` runs many
with a time budget per input.
"""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timezone
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SENDER = ("Rita Reviewer", "rita@example.org")
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                          r"\u2066-\u2069]")


class InternalError(AssertionError):
    pass


def seeds() -> list[bytes]:
    """The real fixture messages and threads the mutations start from."""
    from reviewkit.parse.mbox import looks_like_mbox, split_bytes

    out = []
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file() or path.suffix not in (".eml", ".patch", ".mbox", ".txt"):
            continue
        if "linux-6.1" in path.parts or path.stat().st_size > 400_000:
            continue
        data = path.read_bytes()
        out.append(data)
        if looks_like_mbox(data[:4096]):
            out.extend(m for _, m in split_bytes(data))
    return out


HOSTILE_VALUES = [
    "[PATCH 1/100000000000] mm: x", "[PATCH v99999999999999999999 2/4] mm: x",
    "[PATCH 1/" + "9" * 3000 + "] mm: x", "Re: " * 500 + "[PATCH] x", "[" * 3000,
    "mm: \x1b[2J\x1b[1A0 errors, all good", "mm: \u202e\u2066 evil \u2069",
    "=?utf-8?b?" + base64.b64encode(b"Eve\r\nBcc: x@evil.example").decode() + "?= <eve@ex.org>",
    "=?utf-8?q?a=0D=0Ab?= <a@b.c>", "=?bogus-charset?q?x?=", "=?utf-8?b?!!!?=",
    "Mon, 20 Sep 99999 10:00:00 +0000", "Mon, 20 Sep 2021 10:00:00 +9999", "Thu, 1 Jan 0 0:0:0",
    "<a@exa\n\tmple.org>", "<\x1b@x>", "<" + "a" * 5000 + "@b>", "Jörg <jörg@bücher.de>",
    "\"unterminated <a@b", "a@b, " * 2000, "(((((((((((((comment", "", " ", "\x00\x00",
]
HEADERS = ["Subject", "From", "To", "Cc", "Date", "Message-ID", "In-Reply-To", "References",
           "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
TEXTS = [b"\n", b"\r\n", b"\r", b"@@ -1,3 +1,3 @@\n", b"diff --git a/mm/x.c b/mm/x.c\n",
         b"--- a/mm/x.c\n+++ b/mm/x.c\n", b"From mboxrd@z Thu Jan  1 00:00:00 1970\n",
         b"-- \n", b"---\n", b"\\ No newline at end of file\n", b"\x1b[31m", "\u202e".encode(),
         b"\xff\xfe", b"\t", b" ", b"+", b"-", b"=?utf-8?b?", b"\n\n", b"Content-Type: multipart/"
         b"mixed; boundary=x\n", b"--x\n", b"@@ -0,0 +1,99999999999 @@\n"]


def _set_header(data: bytes, name: str, value: str) -> bytes:
    pattern = re.compile(rb"(?mi)^" + name.encode() + rb":.*(\n[ \t].*)*")
    line = f"{name}: {value}".encode("utf-8", "surrogateescape")
    if pattern.search(data):
        return pattern.sub(lambda _: line, data, count=1)
    return line + b"\n" + data


def mutate(rnd, base: bytes | None = None) -> bytes:
    """One mutation (or a few) of a real fixture, chosen by ``rnd`` (a random.Random)."""
    pool = _SEEDS or _load()
    data = base if base is not None else rnd.choice(pool)
    for _ in range(rnd.choice((1, 1, 1, 2, 3, 5))):
        op = rnd.randrange(10)
        n = len(data)
        if op == 0 and n:  # flip bytes
            b = bytearray(data)
            for _ in range(rnd.randint(1, 8)):
                b[rnd.randrange(n)] = rnd.randrange(256)
            data = bytes(b)
        elif op == 1:  # insert a piece of mail structure
            at = rnd.randint(0, n)
            data = data[:at] + rnd.choice(TEXTS) * rnd.choice((1, 1, 2, 50)) + data[at:]
        elif op == 2 and n:  # delete a range
            at = rnd.randrange(n)
            data = data[:at] + data[at + rnd.randint(1, max(1, n // 4)):]
        elif op == 3 and n:  # duplicate a range
            at = rnd.randrange(n)
            piece = data[at:at + rnd.randint(1, 2000)]
            data = data[:at] + piece * rnd.randint(2, 20) + data[at:]
        elif op in (4, 5):  # a hostile header value
            data = _set_header(data, rnd.choice(HEADERS), rnd.choice(HOSTILE_VALUES))
        elif op == 6:  # truncate
            data = data[:rnd.randint(0, n)]
        elif op == 7:  # line endings
            data = data.replace(b"\n", rnd.choice((b"\r\n", b"\r", b"\n\n")))
        elif op == 8:  # a blank line after the last hunk, or inside one
            data = data.replace(b"\n-- \n", b"\n\n-- \n", 1) if rnd.random() < 0.5 else \
                data.replace(b"\n \n", b"\n\n", 1)
        else:  # splice two fixtures
            other = rnd.choice(pool)
            data = data[:rnd.randint(0, n)] + other[rnd.randint(0, len(other)):]
    return data


_SEEDS: list[bytes] = []


def _load() -> list[bytes]:
    _SEEDS.extend(seeds())
    return _SEEDS


def _patch(n: int, total: int, subject: str | None = None, *, headers: str = "",
           diff: str | None = None, frm: str = "Ada Example <ada@example.org>",
           date: str = "Mon, 20 Sep 2021 10:00:00 +0000", mid: str | None = None) -> str:
    subject = subject or f"[PATCH {n}/{total}] mm: change {n}"
    diff = diff or (f"diff --git a/mm/a{n}.c b/mm/a{n}.c\n--- a/mm/a{n}.c\n+++ b/mm/a{n}.c\n"
                    f"@@ -1,3 +1,3 @@\n int f{n}(void)\n-{{ set_page_dirty(page); }}\n"
                    "+{ return 0; }\n /* end */\n")
    thread = "" if n == 1 else "In-Reply-To: <c1@example.org>\n"
    return (f"From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: {frm}\nSubject: {subject}\n"
            f"Date: {date}\nMessage-ID: {mid or f'<c{n}@example.org>'}\n{thread}{headers}"
            "Content-Type: text/plain; charset=utf-8\n\n"
            f"Change {n}.\n\nSigned-off-by: Ada Example <ada@example.org>\n---\n{diff}\n")


def _series(bad: int = 2, **kw) -> bytes:
    return "".join(_patch(n, 4, **(kw if n == bad else {})) for n in range(1, 5)).encode()


def _long_function(lines: int) -> bytes:
    body = "".join(f"+\tx{i % 97} = y + {i};\n" for i in range(lines))
    diff = (f"diff --git a/mm/memory.c b/mm/memory.c\n--- a/mm/memory.c\n+++ b/mm/memory.c\n"
            f"@@ -10,2 +10,{lines + 5} @@\n context_a;\n+static int huge(struct vm_area_struct "
            f"*vma)\n+{{\n{body}+}}\n context_b;\n")
    return _patch(1, 1, "[PATCH] mm: one huge function", diff=diff).encode()


def corpus(scale: float = 1.0) -> dict[str, bytes]:
    """The size and complexity cases, at ``scale`` of their full size."""
    def k(n: int) -> int:
        return max(1, int(n * scale))

    cc = ", ".join(f"User {i} <user{i}@example.org>" for i in range(k(100_000)))
    word = base64.b64encode(b"Eve\r\nBcc: x@evil.example").decode()
    return {
        "counter-1/100000000000": _series(subject="[PATCH 1/100000000000] mm: x"),
        "counter-1/20000000": _series(subject="[PATCH 1/20000000] mm: x"),
        "subject-nested-brackets": _series(subject="[" * k(2_000_000) + "]" * k(2_000_000)),
        "subject-many-prefixes": _series(subject="[a] " * k(1_000_000) + "mm: x"),
        "hunk-100k-lines": _long_function(k(100_000)),
        "hunk-200k-lines": _long_function(k(200_000)),
        "cc-100k": _series(headers=f"Cc: {cc}\n"),
        "cr-only-14MB": (_patch(1, 1).replace("\n", "\r") + "x" * k(14_000_000)).encode(),
        "date-year": _series(date="Mon, 20 Sep 99999 10:00:00 +0000"),
        "date-timezone": _series(date="Mon, 20 Sep 2021 10:00:00 +9999"),
        "from-crlf": _series(frm=f"=?utf-8?b?{word}?= <eve@example.org>"),
        "cc-crlf": _series(headers="Cc: =?utf-8?q?Eve=0D=0ABcc:_x@evil?= <eve@example.org>\n"),
        "folded-ids": _series(mid="<c2@exa\n\tmple.org>",
                              headers="References: <c1@exa\n\tmple.org>\n"),
        "non-ascii-address": _series(frm="Jörg <jörg@bücher.de>",
                                     headers="Cc: Zoë <zoë@example.org>\n"),
        "version-huge": _series(subject="[PATCH v99999999999999999999 2/4] mm: x"),
        "blank-after-last-hunk": _series(diff="diff --git a/mm/shmem.c b/mm/shmem.c\n"
                                              "--- a/mm/shmem.c\n+++ b/mm/shmem.c\n"
                                              "@@ -1,2 +1,2 @@\n x\n-a\n+b\n\n"),
        "escape-and-bidi": _series(subject="[PATCH 2/4] mm: \x1b[2J\x1b]0;owned\x07\u202eevil"),
        "hunk-count-huge": _series(diff="diff --git a/mm/a.c b/mm/a.c\n--- a/mm/a.c\n+++ b/mm/a.c"
                                        "\n@@ -1," + "9" * 5000 + " +1,2 @@\n x\n"),
        "mime-nesting": _series(headers="Content-Type: multipart/mixed; boundary=b\n")
                        .replace(b"Change 2.", b"--b\nContent-Type: multipart/mixed; boundary=b\n"
                                 * k(2000)),
    }


def run(data: bytes, *, check_controls: bool = True) -> str:
    """The whole pipeline on one input; returns how it ended (findings, input-error).
    Raises InternalError for anything a user must never see."""
    from reviewkit import api
    from reviewkit.errors import ReviewkitError
    from reviewkit.model import Person
    from reviewkit.parse.mbox import looks_like_mbox, split_bytes
    from reviewkit.parse.series import RawMessage
    from reviewkit.render import b4check, email_reply, html, json_report, terse, text
    from reviewkit.render.safe import terminal_safe

    options = api.Options()
    if looks_like_mbox(data[:4096]):
        msgs = [RawMessage(f"fuzz:{n}", d) for n, d in split_bytes(data)]
    else:
        msgs = [RawMessage("fuzz", data)]
    try:
        series = api.build("fuzz", msgs, options)
        report = api.review_series(series, options, source="fuzz")
    except ReviewkitError as exc:
        line = f"reviewkit: error: {terminal_safe(exc)}"
        if "\n" in line or (check_controls and _RAW_CONTROL.search(line)):
            raise InternalError(f"error line not one safe line: {line[:200]!r}") from None
        return "input-error"
    except Exception as exc:  # noqa: BLE001
        raise InternalError(f"{type(exc).__name__}: {exc}") from exc
    crashed = [f for f in report.findings if f.rule == "internal/rule-crashed"]
    if crashed:
        raise InternalError(f"rule crashed: {crashed[0].message[:300]}")
    try:
        outputs = {
            "text": text.render(report, colour=False),
            "text-colour": text.render(report, colour=True),
            "terse": terse.render(report),
        }
        fp = io.StringIO()
        json_report.write(report, fp)
        html.render(report)
        problems: list[str] = []
        drafts = email_reply.build_replies(
            report, Person(*SENDER), min_severity="info", confidences=("high", "medium", "low"),
            now=datetime(2026, 1, 1, tzinfo=timezone.utc), problems=problems)
        email_reply.to_mbox(drafts)
        b4check.dumps(b4check.result(report))
        b4check.terse_result(report)
    except Exception as exc:  # noqa: BLE001
        raise InternalError(f"render: {type(exc).__name__}: {exc}") from exc
    if check_controls:
        for name, out in outputs.items():
            if name == "text-colour":  # reviewkit's own colour codes, nothing else
                out = re.sub(r"\x1b\[(?:0|1;31|1;33|36)m", "", out)
            bad = _RAW_CONTROL.search(out)
            if bad:
                raise InternalError(f"{name}: raw control character {bad.group()!r} reached "
                                    "the output")
    return "findings" if report.findings else "clean"
