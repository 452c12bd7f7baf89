"""The messages of any input, sorted into series.

An inbox, a maildir, a lore query or a few mboxes concatenated hold many
series, several revisions of some, and the replies to them.  Before anything
is parsed in full, each message is reduced to an ``Envelope`` (its threading
headers, subject, author, date, whether it carries a diff) by a cheap scan of
its header block; the envelopes are grouped, and only then is each series
parsed and reviewed on its own, so a large archive is handled one series at
a time.

Grouping:

- a *revision* is a cover letter and the patches threaded under it (or, with
  no cover letter, under patch 1), all of one version; patches sent without
  threading (a ``git format-patch`` directory), or under a cover letter the
  input lacks, join the revision of the same author, version, patch count
  and thread root;
- revisions are the same *series* when they carry the same ``change-id:``,
  when one is posted in reply to the other, or when they have the same author
  and title; the newest revision comes first;
- a reply belongs to the series of the message it answers (followed up
  through other replies), else to the revision whose patch has its subject.

A message that is not mail at all, or a reply to nothing in the input, is
kept with the series when the input holds only one.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from email.utils import parseaddr, parsedate_tz, mktime_tz
from typing import Callable, Iterable

from reviewkit.model import Subject
from reviewkit.parse.subject import parse_subject

_MSGID = re.compile(r"<([^<>\s]+)>")
_ANY_ID = re.compile(r"<([^<>]*)>")
_CHANGE_ID = re.compile(rb"(?m)^change-id: *(\S+)")
_WANTED = {b"message-id", b"in-reply-to", b"references", b"subject", b"from", b"date",
           b"content-transfer-encoding", b"content-type"}


@dataclass(slots=True)
class Envelope:
    """What grouping needs of one message, and how to get the message back.

    An archive's envelopes are all held while it is grouped, so they are kept
    small: the subject without its raw text and prefixes, names and addresses
    shared between messages, the origin as its source and line."""

    source: str  # the input's label (one string for all its messages)
    message_id: str | None
    subject: Subject
    author: str  # lower-case address, or the name when there is none
    author_name: str
    date: float | None
    in_reply_to: str | None
    references: tuple[str, ...]
    has_diff: bool
    encoded: bool  # base64 / quoted-printable / multipart: the diff may be hidden
    change_id: str | None
    digest: bytes = b""
    load: Callable[[], bytes] | None = None  # the message's bytes
    data: bytes | None = None  # or the bytes themselves
    line: int | None = None  # of the message's separator in an mbox

    @property
    def origin(self) -> str:
        """Where the message came from: ``inbox.mbox:120``, ``0001-foo.patch``."""
        return self.source if self.line is None else f"{self.source}:{self.line}"

    def raw(self) -> bytes:
        if self.data is not None:
            return self.data
        return self.load() if self.load is not None else b""

    @property
    def kind(self) -> str:
        """patch | cover | reply (a guess from the headers; parsing decides for good)."""
        s = self.subject
        if s.is_reply or s.problem is not None:  # an unbelievable counter: parsing reports it
            return "reply"
        if s.index == 0 and not self.has_diff:
            return "cover"
        if self.has_diff:
            return "patch"
        if s.is_patch and s.total is not None and self.in_reply_to is None:
            return "cover"
        if s.is_patch or self.encoded:
            return "patch"
        return "reply"


def _headers(data: bytes) -> dict[bytes, bytes]:
    end = data.find(b"\n\n")
    crlf = data.find(b"\r\n\r\n")
    if crlf != -1 and (end == -1 or crlf < end):
        end = crlf
    block = data if end == -1 else data[:end]
    out: dict[bytes, bytes] = {}
    last = None
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if last is not None:
                out[last] += b" " + line.strip()
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            last = None
            continue
        key = name.strip().lower()
        if key in _WANTED and key not in out:
            out[key] = value.strip()
            last = key
        else:
            last = None
    return out


def _text(value: bytes | None) -> str:
    if not value:
        return ""
    text = value.decode("utf-8", "replace")
    if "=?" in text:
        from email.header import decode_header, make_header

        try:
            text = str(make_header(decode_header(text)))
        except (ValueError, LookupError, UnicodeDecodeError):
            pass
    return text


_FROM = re.compile(r'\s*(?:"([^"\\]*)"|([^<>"(),;:@]*?))\s*<([^<>\s"(),;:]+)>\s*$'
                   r'|\s*([^<>\s"(),;:]+@[^<>\s"(),;:]+)\s*$')


def _author(text: str) -> tuple[str, str]:
    """(name, address) of a From: value: the usual shapes by one regular expression,
    anything else by the stdlib's parser."""
    m = _FROM.match(text)
    if m is None:
        return parseaddr(text)
    if m.group(4) is not None:
        return "", m.group(4)
    return (m.group(1) if m.group(1) is not None else " ".join(m.group(2).split())), m.group(3)


def _ids(value: bytes | None) -> list[str]:
    if not value:
        return []
    text = value.decode("utf-8", "replace")
    found = ["".join(m.split()) for m in _ANY_ID.findall(text)]  # as parse.message reads them
    if not found and text.strip() and " " not in text.strip():
        found = [text.strip().strip("<>")]
    return [sys.intern(f) for f in found if f]  # the same ids recur in every reply's headers


def envelope(data: bytes, origin: str, *, keep: bool = True, digest: bool = False,
             load: Callable[[], bytes] | None = None, line: int | None = None) -> Envelope:
    """The envelope of one raw message (never fails: junk gets an empty envelope).
    ``line``: the message is at this line of the mbox ``origin`` names."""
    h = _headers(data)
    ids = _ids(h.get(b"message-id"))
    irt = _ids(h.get(b"in-reply-to"))
    refs = tuple(_ids(h.get(b"references")))
    name, addr = _author(_text(h.get(b"from")))
    date = None
    if b"date" in h:
        try:
            parsed = parsedate_tz(h[b"date"].decode("ascii", "replace"))
            date = float(mktime_tz(parsed)) if parsed else None
        except (TypeError, ValueError, OverflowError):
            date = None
    cte = h.get(b"content-transfer-encoding", b"").lower()
    encoded = (b"base64" in cte or b"quoted" in cte
               or b"multipart" in h.get(b"content-type", b"").lower())
    has_diff = (b"\ndiff --git " in data or (b"\n+++ " in data and b"\n@@ " in data))
    m = _CHANGE_ID.search(data) if b"change-id:" in data else None
    subject = parse_subject(_text(h.get(b"subject")))
    env = Envelope(
        source=origin, line=line, message_id=ids[0] if ids else None,
        subject=Subject(raw="", title=subject.title, version=subject.version,
                        index=subject.index, total=subject.total, is_reply=subject.is_reply,
                        is_patch=subject.is_patch, problem=subject.problem),
        author=sys.intern((addr or name).strip().lower()), author_name=sys.intern(name.strip()),
        date=date, in_reply_to=irt[0] if irt else (refs[-1] if refs else None),
        references=refs, has_diff=has_diff, encoded=encoded,
        change_id=m.group(1).decode("ascii", "replace") if m else None,
        data=data if keep else None, load=None if keep else load)
    if digest:
        import hashlib

        env.digest = hashlib.blake2b(data, digest_size=16).digest()
    return env


@dataclass
class Revision:
    version: int
    head: Envelope  # the cover letter, else patch 1 (else the first patch)
    members: list[int]  # envelope indices: cover and patches

    @property
    def title(self) -> str:
        return self.head.subject.title

    @property
    def date(self) -> float:
        return self.head.date or 0.0


@dataclass
class Group:
    """One series: its revisions, newest first, and every message that belongs to it."""

    revisions: list[Revision]
    members: list[int] = field(default_factory=list)  # envelope indices, input order

    @property
    def newest(self) -> Revision:
        return self.revisions[0]

    @property
    def key(self) -> str:
        """The series' identity: the Message-ID of its newest revision's head."""
        h = self.newest.head
        return h.message_id or h.origin

    def message_ids(self, envelopes: list[Envelope]) -> set[str]:
        return {envelopes[i].message_id for i in self.members if envelopes[i].message_id}


def _norm(title: str) -> str:
    return " ".join(title.lower().split())


class _Union:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group(envelopes: list[Envelope]) -> tuple[list[Group], list[int]]:
    """(series, newest first by date; indices of messages that belong to none)."""
    by_id: dict[str, int] = {}
    for i, e in enumerate(envelopes):
        if e.message_id and e.message_id not in by_id:
            by_id[e.message_id] = i
    kinds = [e.kind for e in envelopes]
    patchy = [i for i, k in enumerate(kinds) if k in ("patch", "cover")]

    def ancestors(i: int):
        """Messages this one answers, nearest first (In-Reply-To chain, then References)."""
        seen = {i}
        cur = envelopes[i].in_reply_to
        while cur is not None and cur in by_id and by_id[cur] not in seen:
            j = by_id[cur]
            seen.add(j)
            yield j
            cur = envelopes[j].in_reply_to
        for ref in reversed(envelopes[i].references):
            j = by_id.get(ref)
            if j is not None and j not in seen:
                seen.add(j)
                yield j

    # 1. revisions: patches under the cover letter (or patch 1) of their version
    uf = _Union(len(envelopes))
    threaded: set[int] = set()
    for i in patchy:
        v = envelopes[i].subject.version
        for j in ancestors(i):
            if kinds[j] in ("patch", "cover") and envelopes[j].subject.version == v:
                uf.union(i, j)
                threaded.add(i)
                threaded.add(j)
                break
    loose: dict[tuple, int] = {}
    for i in patchy:
        e = envelopes[i]
        if i in threaded or e.subject.total is None:
            continue
        # unthreaded, or threaded under a cover letter the input does not hold
        root = e.references[0] if e.references else e.in_reply_to
        k = (e.author, e.subject.version, e.subject.total, root)
        if k in loose:
            uf.union(i, loose[k])
        else:
            loose[k] = i
    comps: dict[int, list[int]] = {}
    for i in patchy:
        comps.setdefault(uf.find(i), []).append(i)
    revisions: list[Revision] = []
    rev_of: dict[int, int] = {}
    for members in comps.values():
        def rank(i: int) -> tuple:
            e = envelopes[i]
            return (0 if kinds[i] == "cover" else 1,
                    e.subject.index if e.subject.index is not None else 1, i)
        head = envelopes[min(members, key=rank)]
        version = max(envelopes[i].subject.version for i in members)
        for i in members:
            rev_of[i] = len(revisions)
        revisions.append(Revision(version=version, head=head, members=members))

    # 2. series: revisions that continue each other
    su = _Union(len(revisions))
    by_change: dict[str, int] = {}
    by_title: dict[tuple, int] = {}
    for r, rev in enumerate(revisions):
        cid = next((envelopes[i].change_id for i in rev.members if envelopes[i].change_id), None)
        if cid:
            if cid in by_change:
                su.union(r, by_change[cid])
            else:
                by_change[cid] = r
        tk = (rev.head.author, _norm(rev.title))
        if tk in by_title:
            su.union(r, by_title[tk])
        else:
            by_title[tk] = r
        head_index = by_id.get(rev.head.message_id or "", -1)
        if head_index >= 0:
            for j in ancestors(head_index):
                if j in rev_of and rev_of[j] != r:
                    su.union(r, rev_of[j])
                    break
    series: dict[int, list[int]] = {}
    for r in range(len(revisions)):
        series.setdefault(su.find(r), []).append(r)
    groups: list[Group] = []
    group_of_rev: dict[int, int] = {}
    for revs in series.values():
        ordered = sorted(revs, key=lambda r: (revisions[r].version, revisions[r].date),
                         reverse=True)
        kept: list[int] = []
        seen_versions: set[int] = set()
        for r in ordered:  # the same version posted twice (RESEND): the newest posting
            if revisions[r].version in seen_versions:
                continue
            seen_versions.add(revisions[r].version)
            kept.append(r)
        for r in revs:
            group_of_rev[r] = len(groups)
        groups.append(Group(revisions=[revisions[r] for r in kept]))
    kept_msgs = {i for g in groups for rev in g.revisions for i in rev.members}

    # 3. replies: to the series of the message they answer, else by subject
    owner: dict[int, int] = {}
    for i in patchy:
        if i in kept_msgs:
            owner[i] = group_of_rev[rev_of[i]]
    by_subject: dict[tuple, int] = {}
    for g_index, g in enumerate(groups):
        for rev in g.revisions:
            for i in rev.members:
                by_subject.setdefault((_norm(envelopes[i].subject.title), rev.version), g_index)
    orphans: list[int] = []
    for i, k in enumerate(kinds):
        if k in ("patch", "cover"):
            continue
        found = next((owner[j] for j in ancestors(i) if j in owner), None)
        if found is None:
            s = envelopes[i].subject
            found = by_subject.get((_norm(s.title), s.version))
        if found is None:
            orphans.append(i)
        else:
            owner[i] = found
    if len(groups) == 1:
        for i in orphans:
            owner[i] = 0
        orphans = []
    for i in sorted(owner):
        groups[owner[i]].members.append(i)
    groups.sort(key=lambda g: (g.newest.date, g.key), reverse=True)
    return groups, orphans


def pick(groups: list[Group], envelopes: list[Envelope], msgid: str) -> Group | None:
    """The series holding the message ``msgid`` (any of its messages, any revision)."""
    want = msgid.strip().strip("<>")
    for g in groups:
        if want == g.key or want in g.message_ids(envelopes):
            return g
    return None


def members_of(groups: Iterable[Group]) -> set[int]:
    return {i for g in groups for i in g.members}
