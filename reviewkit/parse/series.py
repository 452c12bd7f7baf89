"""Raw messages -> Series: classify each message, thread replies, pick a revision.

Patches are recognised by their diff, the cover letter by ``0/N``, replies by
``Re:`` or by having no diff.  Replies are attached to the patch they answer
by following In-Reply-To / References up the thread (not by guessing from
Message-ID numbering: a series may be sent in several git-send-email runs),
falling back to the subject.  Each message is parsed on its own; one that
fails becomes a diagnostic and the others are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from reviewkit.model import Diagnostic, Patch, Person, Reply, Series, Trailer
from reviewkit.parse.body import base_info, split_body
from reviewkit.parse.diff import DiffError, parse_diff
from reviewkit.parse.message import MailMessage, NotMailError, parse_message
from reviewkit.parse.subject import parse_subject
from reviewkit.parse.trailers import commit_trailers, parse_person, reply_trailers


@dataclass(frozen=True)
class RawMessage:
    origin: str  # where it came from: "series.mbox:120", "0001-foo.patch", "<stdin>:1"
    data: bytes


class NoPatchesError(ValueError):
    """The input holds no usable patch."""


def parse_patch(msg: MailMessage) -> Patch:
    """A patch or cover letter message -> Patch.  Raises DiffError on a broken diff."""
    subject = parse_subject(msg.subject)
    parts = split_body(msg.body)
    author = msg.author
    if "From" in parts.in_body:
        person = parse_person(parts.in_body["From"])
        if person is not None:
            author = person
    if "Subject" in parts.in_body:
        in_body_subject = parse_subject(parts.in_body["Subject"])
        subject = replace(subject, title=in_body_subject.title)
    files: tuple = ()
    diagnostics: tuple = ()
    if parts.diff:
        files, diagnostics = parse_diff(parts.diff)
    index = subject.index if subject.index is not None else (0 if not files else 1)
    diagnostics = tuple(replace(d, patch=index, message_id=msg.message_id) for d in diagnostics)
    base_commit, prerequisites = base_info(msg.body)
    return Patch(
        message_id=msg.message_id,
        subject=subject,
        author=author,
        date=msg.date,
        commit_message=parts.commit_message,
        trailers=commit_trailers(parts.commit_message) if files else (),
        notes=parts.notes,
        diffstat=parts.diffstat,
        files=files,
        in_reply_to=msg.in_reply_to,
        references=msg.references,
        to=msg.to,
        cc=msg.cc,
        diagnostics=diagnostics,
        base_commit=base_commit,
        prerequisite_patch_ids=prerequisites,
    )


def _reply(msg: MailMessage) -> Reply:
    return Reply(message_id=msg.message_id, author=msg.author, date=msg.date,
                 subject=msg.subject, in_reply_to=msg.in_reply_to,
                 trailers=reply_trailers(msg.body, msg.message_id), body=msg.body,
                 references=msg.references)


@dataclass(frozen=True)
class Classified:
    """One message, parsed and sorted: a patch, a cover letter, a reply, or broken."""

    kind: str  # patch | cover | reply | broken
    patch: Patch | None = None
    reply: Reply | None = None
    diagnostic: Diagnostic | None = None


_MADE_UP = ("reviewkit.", "@local")


def made_up_id(message_id: str) -> bool:
    """Whether a Message-ID was made up here for a message that had none."""
    return message_id.startswith(_MADE_UP[0]) and message_id.endswith(_MADE_UP[1])


def classify(raw: RawMessage) -> Classified:
    """Parse one raw message on its own (pure: safe to run in a worker process)."""
    fallback = _MADE_UP[0] + "".join(c if c.isalnum() else "." for c in raw.origin) + _MADE_UP[1]
    try:
        msg = parse_message(raw.data, fallback_id=fallback)
    except NotMailError as exc:
        return Classified("broken", diagnostic=Diagnostic(
            code="broken-message", message=f"{raw.origin}: {exc}"))
    subject = parse_subject(msg.subject)
    if subject.is_reply:
        return Classified("reply", reply=_reply(msg))
    try:
        patch = parse_patch(msg)
    except DiffError as exc:
        return Classified("broken", diagnostic=Diagnostic(
            code="broken-message", message=f"{raw.origin}: {msg.subject or msg.message_id}: {exc}",
            message_id=msg.message_id, patch=subject.index, version=_version_of(subject)))
    if patch.files:
        return Classified("patch", patch=patch)
    if subject.index == 0 or (subject.is_patch and subject.total is not None
                              and msg.in_reply_to is None):
        return Classified("cover", patch=patch)
    if subject.is_patch:
        return Classified("broken", diagnostic=Diagnostic(
            code="broken-message",
            message=f"{raw.origin}: {msg.subject or msg.message_id}: no diff found",
            message_id=msg.message_id, patch=subject.index, version=_version_of(subject)))
    return Classified("reply", reply=_reply(msg))


def _version_of(subject) -> int | None:
    """The revision a broken message belongs to, when its subject is a patch's."""
    return subject.version if subject.is_patch or subject.index is not None else None


def _message_id(item: Classified) -> str | None:
    if item.patch is not None:
        return item.patch.message_id
    if item.reply is not None:
        return item.reply.message_id
    return item.diagnostic.message_id if item.diagnostic is not None else None


def unique_messages(items: Iterable[Classified]) -> list[Classified]:
    """One item per Message-ID: a message that arrived twice (cross-posted to two
    lists, or a thread merged with search results) is one message.  The first
    readable copy is kept; a broken copy gives way to a readable one."""
    out: list[Classified] = []
    where: dict[str, int] = {}
    for item in items:
        mid = _message_id(item)
        if mid is None:
            out.append(item)
            continue
        at = where.get(mid)
        if at is None:
            where[mid] = len(out)
            out.append(item)
        elif out[at].kind == "broken" and item.kind != "broken":
            out[at] = item
    return out


def build_series(raw_messages: Iterable[RawMessage], *, source: str = "",
                 revision: int | None = None, mapper=map,
                 compare_to: int | None = None) -> Series:
    """Assemble a Series from the messages of one series or thread.

    ``revision`` picks a version when the input holds several (default: newest).
    When the input also holds an earlier revision (the nearest older one, or
    ``compare_to``), it is assembled too and attached as ``previous``.
    ``mapper`` applies ``classify`` to the messages (the caller may pass a
    process pool's ``imap`` for a large input).  Raises NoPatchesError when
    nothing reviewable is found.
    """
    patches: list[Patch] = []
    covers: list[Patch] = []
    replies: list[Reply] = []
    diagnostics: list[Diagnostic] = []
    first_error: str | None = None
    items = unique_messages(mapper(classify, raw_messages))
    count = len(items)
    for item in items:
        if item.kind == "patch":
            patches.append(item.patch)
        elif item.kind == "cover":
            covers.append(item.patch)
        elif item.kind == "reply":
            replies.append(item.reply)
        else:
            diagnostics.append(item.diagnostic)
            first_error = first_error or item.diagnostic.message
    if count == 0:
        raise NoPatchesError("no mail message found")
    if not patches:
        raise NoPatchesError(first_error or "no patch found (no message carries a diff)")

    versions = sorted({p.version for p in patches})
    chosen = revision if revision is not None else versions[-1]
    for want in (chosen, compare_to):
        if want is not None and want not in versions:
            raise NoPatchesError(f"no revision v{want} in the input (found: "
                                 f"{', '.join(f'v{v}' for v in versions)})")
    series = _assemble(patches, covers, replies, diagnostics, chosen, versions, source)
    older = compare_to if compare_to is not None else max(
        (v for v in versions if v < chosen), default=None)
    if older is not None and older != chosen:
        own = [d for d in diagnostics if d.version is not None]  # the rest went to `chosen`
        previous = _assemble(patches, covers, replies, own, older, versions, source)
        series = replace(series, previous=previous)
    return series


def _assemble(patches: list[Patch], covers: list[Patch], replies: list[Reply],
              diagnostics: list[Diagnostic], chosen: int, versions: list[int],
              source: str) -> Series:
    """The Series of one revision: ordered, gaps and duplicates noted, replies attached.

    A broken message counts against its own revision (one whose subject gives
    none counts against every revision), and a patch that arrived broken was
    not missing: it is reported as broken, not also as absent."""
    diagnostics = [d for d in diagnostics if d.version is None or d.version == chosen]
    arrived_broken = {d.patch for d in diagnostics
                      if d.code == "broken-message" and d.version is not None}
    selected = [p for p in patches if p.version == chosen]
    cover = next((c for c in covers if c.version == chosen), None)
    by_index: dict[int, Patch] = {}
    duplicates: list[int] = []
    for p in selected:
        if p.index in by_index:
            duplicates.append(p.index)
            diagnostics.append(Diagnostic(
                code="duplicate-patch", patch=p.index, message_id=p.message_id,
                message=f"patch {p.index}/{p.total} arrived more than once; reviewing the first "
                        f"({by_index[p.index].message_id})"))
            continue
        by_index[p.index] = p
    totals = [p.subject.total for p in selected if p.subject.total is not None]
    if cover is not None and cover.subject.total is not None:
        totals.append(cover.subject.total)
    total = max(totals) if totals else None
    missing = [n for n in range(1, (total or 0) + 1)
               if n not in by_index and n not in arrived_broken]

    ordered = [by_index[k] for k in sorted(by_index)]
    ordered, cover, loose = _attach_replies(ordered, cover, replies, chosen)
    return Series(
        patches=tuple(ordered),
        cover=cover,
        version=chosen,
        total=total,
        missing=tuple(missing),
        duplicates=tuple(sorted(set(duplicates))),
        replies=tuple(loose),
        diagnostics=tuple(diagnostics),
        versions=tuple(versions),
        source=source,
    )


def _attach_replies(patches: list[Patch], cover: Patch | None,
                    replies: list[Reply], version: int
                    ) -> tuple[list[Patch], Patch | None, list[Reply]]:
    targets: dict[str, Patch] = {p.message_id: p for p in patches}
    if cover is not None:
        targets[cover.message_id] = cover
    parent = {r.message_id: r.in_reply_to for r in replies}
    refs = {r.message_id: r.references for r in replies}
    by_subject = {p.subject.title: p for p in patches}

    def root_of(mid: str) -> Patch | None:
        seen = set()
        cur: str | None = mid
        while cur is not None and cur not in seen:
            seen.add(cur)
            if cur in targets:
                return targets[cur]
            cur = parent.get(cur)
        for ref in reversed(refs.get(mid, ())):
            if ref in targets:
                return targets[ref]
        return None

    per_target: dict[str, list[Reply]] = {}
    loose: list[Reply] = []
    for reply in replies:
        target = root_of(reply.message_id)
        if target is None:
            subj = parse_subject(reply.subject)
            candidate = by_subject.get(subj.title)
            if candidate is not None and subj.version == version:
                target = candidate
        if target is None:
            if subj.version == version:
                loose.append(reply)
            continue
        per_target.setdefault(target.message_id, []).append(reply)

    def key(r: Reply):
        return (r.date.timestamp() if r.date else 0.0, r.message_id)

    cover_replies = sorted(per_target.get(cover.message_id, []), key=key) if cover else []
    cover_tags = [t for r in cover_replies for t in r.trailers]
    if cover is not None:
        cover = replace(cover, replies=tuple(cover_replies),
                        trailers=cover.trailers + tuple(replace(t, given_on="cover")
                                                        for t in cover_tags))
    out = []
    for p in patches:
        mine = sorted(per_target.get(p.message_id, []), key=key)
        extra = [t for r in mine for t in r.trailers]
        extra += [replace(t, given_on="cover") for t in cover_tags]
        out.append(replace(p, replies=tuple(mine), trailers=p.trailers + _dedupe(p.trailers, extra)))
    return out, cover, sorted(loose, key=key)


def _dedupe(existing: tuple[Trailer, ...], extra: list[Trailer]) -> tuple[Trailer, ...]:
    """Follow-up trailers not already carried by the patch itself."""
    have = {(t.kind, _email(t.person)) for t in existing}
    out = []
    for t in extra:
        k = (t.kind, _email(t.person))
        if k in have:
            continue
        have.add(k)
        out.append(t)
    return tuple(out)


def _email(person: Person | None) -> str:
    return person.email if person else ""
