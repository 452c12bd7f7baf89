"""Reply drafts: one plain-text mail per patch with findings, in kernel style.

Each draft answers the patch's own message (In-Reply-To, References, raw), goes to
the author with the original recipients on Cc, quotes only the hunk lines the
remarks are about (``> ``, trimmed quotes marked ``[...]``) and puts each
remark under its lines, wrapped at 72 columns.  A draft never carries a
review tag and nothing here sends mail: the reviewer edits and sends.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

from reviewkit.model import FileDiff, Hunk, Patch, Person
from reviewkit.report import SEVERITY_RANK, Finding, Report

WIDTH = 72
_CONTEXT_BEFORE = 3


@dataclass
class Block:
    quote: list[str] = field(default_factory=list)  # already prefixed with "> "
    remarks: list[str] = field(default_factory=list)  # wrapped paragraphs


def wants(f: Finding, min_severity: str, confidences: tuple[str, ...]) -> bool:
    return (SEVERITY_RANK.get(f.severity, 0) >= SEVERITY_RANK[min_severity]
            and f.confidence in confidences)


def _wrap(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=WIDTH, break_long_words=False,
                         break_on_hyphens=False)


def _hunk_of(fd: FileDiff, f: Finding) -> tuple[Hunk, int] | None:
    for h in fd.hunks:
        for i, ln in enumerate(h.lines):
            if f.line is not None and ln.new_no == f.line and ln.kind != "-":
                return h, i
            if f.line is None and f.old_line is not None and ln.old_no == f.old_line \
                    and ln.kind != "+":
                return h, i
    return None


def _diff_blocks(patch: Patch, findings: list[Finding]) -> list[Block]:
    blocks: list[Block] = []
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.path, []).append(f)
    for fd in patch.files:
        mine = by_file.get(fd.path)
        if not mine:
            continue
        located = []
        loose = []
        for f in mine:
            where = _hunk_of(fd, f)
            (located if where else loose).append((f, where))
        header = [f"> diff --git a/{fd.old_path or fd.path} b/{fd.path}"]
        first_in_file = True
        shown: dict[int, int] = {}  # id(hunk) -> last line index quoted
        located.sort(key=lambda x: (fd.hunks.index(x[1][0]), x[1][1]))
        for f, (h, i) in located:
            block = Block()
            if first_in_file:
                block.quote.extend(header)
                first_in_file = False
            last = shown.get(id(h))
            start = max(0, i - _CONTEXT_BEFORE)
            if last is None:
                block.quote.append(f"> @@ -{h.old_start},{h.old_len} +{h.new_start},{h.new_len} @@"
                                   + (f" {h.section}" if h.section else ""))
                if start > 0:
                    block.quote.append("> [...]")
            else:
                start = max(start, last + 1)
                if start > last + 1:
                    block.quote.append("> [...]")
            end = i + 1
            while end < len(h.lines) and end - i <= 4 and h.lines[end].kind != " ":
                end += 1  # the changed lines right after belong to the same point
            for ln in h.lines[start:end]:
                block.quote.append((">" + (" " + ln.kind + ln.text)).rstrip())
            shown[id(h)] = end - 1
            if blocks and not block.quote:
                blocks[-1].remarks.append(_wrap(f.message))
                continue
            block.remarks.append(_wrap(f.message))
            blocks.append(block)
        if loose:
            block = Block(quote=header if first_in_file else [])
            block.remarks.extend(_wrap(f.message) for f, _ in loose)
            blocks.append(block)
    return blocks


_VALUE_QUOTE = re.compile(r'"([^"]{6,})"')


def _commit_blocks(patch: Patch, findings: list[Finding]) -> list[Block]:
    """Findings about the commit message: quote the line they are about, if found."""
    lines = patch.commit_message.split("\n")
    out = []
    for f in findings:
        block = Block()
        hit = None
        for value in _VALUE_QUOTE.findall(f.message):
            hit = next((ln for ln in lines if value.strip() in ln), None)
            if hit:
                break
        if hit is None and lines:
            tail = [ln for ln in lines if ln.strip()][-3:]
            block.quote = ["> [...]"] + [("> " + ln).rstrip() for ln in tail]
        elif hit is not None:
            block.quote = ["> [...]", ("> " + hit).rstrip()]
        block.remarks.append(_wrap(f.message))
        out.append(block)
    return out


def snippet(patch: Patch | None, f: Finding) -> str:
    """The part of a reply about one finding: the lines it is about, quoted, and
    the remark under them, ready to paste into a reply."""
    if patch is None or f.patch != patch.index:
        blocks = [Block(remarks=[_wrap(f.message)])]
    elif f.path:
        blocks = _diff_blocks(patch, [f])
    else:
        blocks = _commit_blocks(patch, [f])
    parts = []
    for b in blocks:
        if b.quote:
            parts.append("\n".join(b.quote))
        parts.extend(b.remarks)
    return "\n\n".join(parts) + "\n"


def _recipients(patch: Patch, sender: Person) -> tuple[list[Person], list[Person]]:
    skip = {patch.author.email.lower(), sender.email.lower()}
    cc: list[Person] = []
    seen = set(skip)
    for p in patch.to + patch.cc:
        if p.email and p.email.lower() not in seen:
            seen.add(p.email.lower())
            cc.append(p)
    return [patch.author], cc


def _subject(patch: Patch) -> str:
    raw = patch.subject.raw
    return raw if re.match(r"(?i)^re:", raw) else f"Re: {raw}"


def _merged(blocks: list[Block]) -> list[Block]:
    """Each quote once: remarks under the same quoted lines go under one quote."""
    def shown(b: Block) -> set[str]:
        return {q for q in b.quote if q != "> [...]"}

    out: list[Block] = []
    for b in blocks:
        same = next((o for o in out if b.quote and shown(b) <= shown(o)), None)
        if same is None:  # a later quote that shows more takes the earlier one's remarks
            wider = next((o for o in out if o.quote and shown(o) < shown(b)), None)
            if wider is not None:
                wider.quote = b.quote
                same = wider
        if same is not None:
            same.remarks.extend(r for r in b.remarks if r not in same.remarks)
        else:
            out.append(b)
    return out


# findings about how the series was collected and sent: worth a line to the
# cover letter, never a mail of their own to one patch's author
_HYGIENE = ("series/", "input/", "internal/")


def reviewer_would_write(f: Finding) -> bool:
    return not f.rule.startswith(_HYGIENE)


def msgid_ok(value: str | None) -> bool:
    """A Message-ID that can go raw into In-Reply-To/References: printable ASCII,
    no spaces, angle brackets or line breaks, a local part and a domain."""
    return bool(value) and len(value) <= 250 and re.fullmatch(r"[!-;=?-~]+@[!-;=?-~]+", value) \
        is not None


def _threading(patch: Patch) -> tuple[str, str] | None:
    """(In-Reply-To, References) for a reply to ``patch``, as raw header values;
    None when the patch has no Message-ID of its own (a format-patch file)."""
    from reviewkit.parse.series import made_up_id

    if not msgid_ok(patch.message_id) or made_up_id(patch.message_id):
        return None
    refs = [r for r in patch.references if r != patch.message_id and msgid_ok(r)]
    refs.append(patch.message_id)
    # one Message-ID per line: folded between ids, never inside one
    return f"<{patch.message_id}>", "\n ".join(f"<{r}>" for r in refs)


def build_reply(patch: Patch, findings: list[Finding], sender: Person, env,
                now: datetime | None = None) -> EmailMessage:
    general = [f for f in findings if not f.path and f.patch != patch.index]
    commit = [f for f in findings if not f.path and f.patch == patch.index]
    code = [f for f in findings if f.path]
    blocks = _merged(_commit_blocks(patch, commit) + _diff_blocks(patch, code))
    if general:
        blocks.append(Block(remarks=[_wrap(f.message) for f in general]))
    date = format_datetime(patch.date) if patch.date else "an unknown date"
    who = patch.author.name or patch.author.email
    body = env.get_template("email_reply.j2").render(
        attribution=f"On {date}, {who} wrote:", blocks=blocks, patch=patch)
    to, cc = _recipients(patch, sender)
    msg = EmailMessage()
    msg["From"] = formataddr((sender.name, sender.email))
    msg["To"] = ", ".join(formataddr((p.name, p.email)) for p in to)
    if cc:
        msg["Cc"] = ", ".join(formataddr((p.name, p.email)) for p in cc)
    msg["Subject"] = _subject(patch)
    msg["Date"] = format_datetime(now or datetime.now(timezone.utc))
    domain = sender.email.split("@", 1)[1] if "@" in sender.email else "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    threading = _threading(patch)
    if threading is not None:
        # raw, as mail clients thread on them: the email package would turn a long
        # Message-ID into RFC 2047 encoded words
        msg.set_raw("In-Reply-To", threading[0])
        msg.set_raw("References", threading[1])
    msg.set_content(body, subtype="plain", charset="utf-8", cte="8bit")
    return msg


def _whole_series(series) -> bool:
    """Whether the input plainly is the whole series, sent without a cover letter:
    every patch arrived and the first answers no other message.  Otherwise the
    cover letter may well exist, outside the input, and a remark about the series
    would be about what was collected, not about what was sent."""
    return bool(series.patches) and not series.missing and series.patches[0].in_reply_to is None


def build_replies(report: Report, sender: Person, *, min_severity: str = "warning",
                  confidences: tuple[str, ...] = ("high", "medium"),
                  template_dir: Path | None = None,
                  now: datetime | None = None) -> list[EmailMessage]:
    from reviewkit.render.templating import environment

    env = environment(template_dir)
    series = report.series
    picked = [f for f in report.findings if wants(f, min_severity, confidences)
              and not f.rule.startswith("internal/")]
    out = []
    series_level = [f for f in picked if f.patch in (None, 0)]
    per_patch = {p.index: [f for f in picked if f.patch == p.index] for p in series.patches}
    if series.cover is not None:
        if series_level:
            out.append(build_reply(series.cover, series_level, sender, env, now))
    elif series_level and _whole_series(series):
        # no cover letter to answer: the series-level remarks join the first
        # reply a reviewer writes anyway, and make no mail of their own
        first = next((p for p in series.patches
                      if any(reviewer_would_write(f) for f in per_patch[p.index])), None)
        if first is not None:
            per_patch[first.index] = per_patch[first.index] + series_level
    for p in series.patches:
        mine = per_patch[p.index]
        if any(reviewer_would_write(f) for f in mine):
            out.append(build_reply(p, mine, sender, env, now))
    return out


def _bytes(msg: EmailMessage) -> bytes:
    # refold_source="none": the raw threading headers are written as set
    return msg.as_bytes(policy=msg.policy.clone(linesep="\n", max_line_length=78,
                                                refold_source="none"))


def to_mbox(messages: list[EmailMessage]) -> bytes:
    """The drafts as one mboxrd file."""
    from reviewkit.parse.mbox import join_messages

    return join_messages((_bytes(m) for m in messages),
                         separator=b"From reviewkit Mon Sep 17 00:00:00 2001\n")


def draft_files(messages: list[EmailMessage]) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each draft: ``NNNN-<subject words>.eml``."""
    files = []
    for n, msg in enumerate(messages, 1):
        words = re.sub(r"[^a-z0-9]+", "-", str(msg["Subject"]).lower()).strip("-").split("-")
        slug = words[0]
        for w in words[1:]:  # whole words, at most 60 characters
            if len(slug) + 1 + len(w) > 60:
                break
            slug += "-" + w
        files.append((f"{n:04d}-{slug}.eml", _bytes(msg)))
    return files
