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

import hashlib
import json
from bisect import bisect_left
import re
import sys
from array import array
from dataclasses import dataclass, field
from email.utils import parseaddr, parsedate_tz, mktime_tz
from typing import Callable, Iterable, Sequence

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


_PATCH, _COVER, _REPLY = 0, 1, 2
_KIND_CODE = {"patch": _PATCH, "cover": _COVER, "reply": _REPLY}


def _norm(title: str) -> str:
    return " ".join(title.lower().split())


def title_key(title: str) -> int:
    """A title as grouping compares it (case and spacing ignored), in eight bytes: the
    same in every process, so that an index can be kept between runs."""
    return int.from_bytes(hashlib.blake2b(_norm(title).encode(), digest_size=8).digest(),
                          "little", signed=True)


def id_key(msgid: str) -> int:
    """A Message-ID in eight bytes (never 0), the same in every process: grouping
    compares ids by these (two ids of one archive sharing a key is a chance of about
    one in 10^10 for a million messages)."""
    return int.from_bytes(hashlib.blake2b(msgid.encode(), digest_size=8).digest(),
                          "little", signed=True) or 1


class Index:
    """Only what grouping reads of each message, one column per key: Message-IDs as
    eight-byte keys (and their text, packed, for naming a series), titles as
    eight-byte keys, addresses as shared strings, numbers in arrays.  An archive's
    index is all held while it is grouped: a couple of hundred bytes a message,
    against some kilobytes for its envelopes, in a few large blocks rather than in
    small objects."""

    def __init__(self) -> None:
        self.mid = array("q")  # id_key, 0: none
        self.mid_text = bytearray()  # every Message-ID, one after the other
        self.mid_end = array("q")  # where each one ends in mid_text
        self.irt = array("q")  # id_key of In-Reply-To, else of the last reference; 0: none
        self.ref = array("q")  # id_key of every reference, message after message
        self.ref_end = array("q")  # where each message's end in ref
        self.author: list[str] = []  # shared strings
        self.change: list[str | None] = []
        self.title = array("q")  # title_key
        self.version = array("q")
        self.number = array("q")  # N of N/M, -1: none
        self.total = array("q")  # M of N/M, -1: none
        self.date = array("d")  # nan: none
        self.kind = bytearray()  # _PATCH, _COVER, _REPLY

    def __len__(self) -> int:
        return len(self.kind)

    def message_id(self, i: int) -> str | None:
        if not self.mid[i]:
            return None
        start = self.mid_end[i - 1] if i else 0
        return self.mid_text[start:self.mid_end[i]].decode("utf-8", "surrogateescape")

    def refs(self, i: int):
        return self.ref[self.ref_end[i - 1] if i else 0:self.ref_end[i]]

    def add(self, e: Envelope) -> None:
        s = e.subject
        mid = e.message_id
        self.mid.append(id_key(mid) if mid else 0)
        if mid:
            self.mid_text += mid.encode("utf-8", "surrogateescape")
        self.mid_end.append(len(self.mid_text))
        self.irt.append(id_key(e.in_reply_to) if e.in_reply_to else 0)
        self.ref.extend(id_key(r) for r in e.references)
        self.ref_end.append(len(self.ref))
        self.author.append(e.author)
        self.change.append(e.change_id)
        self.title.append(title_key(s.title))
        self.version.append(s.version)
        self.number.append(-1 if s.index is None else s.index)
        self.total.append(-1 if s.total is None else s.total)
        self.date.append(_NAN if e.date is None else e.date)
        self.kind.append(_KIND_CODE[e.kind])

    _PLAIN = ("mid", "irt", "author", "change", "title", "version", "number", "total",
              "date", "kind")  # one item a message

    def extend(self, other: "Index") -> None:
        text, refs = len(self.mid_text), len(self.ref)
        for name in self._PLAIN:
            getattr(self, name).extend(getattr(other, name))
        self.mid_text += other.mid_text
        self.mid_end.extend(text + n for n in other.mid_end)
        self.ref.extend(other.ref)
        self.ref_end.extend(refs + n for n in other.ref_end)

    def part(self, first: int, end: int) -> "Index":
        """Messages FIRST..END as an index of their own."""
        out = Index()
        for name in self._PLAIN:
            getattr(out, name).extend(getattr(self, name)[first:end])
        text = self.mid_end[first - 1] if first else 0
        refs = self.ref_end[first - 1] if first else 0
        out.mid_text += self.mid_text[text:self.mid_end[end - 1] if end else 0]
        out.mid_end.extend(n - text for n in self.mid_end[first:end])
        out.ref.extend(self.ref[refs:self.ref_end[end - 1] if end else 0])
        out.ref_end.extend(n - refs for n in self.ref_end[first:end])
        return out

    def truncate(self, n: int) -> None:
        """Forget messages N.."""
        text = self.mid_end[n - 1] if n else 0
        refs = self.ref_end[n - 1] if n else 0
        for name in self._PLAIN + ("mid_end", "ref_end"):
            del getattr(self, name)[n:]
        del self.mid_text[text:]
        del self.ref[refs:]

    @classmethod
    def of(cls, envelopes: Iterable[Envelope]) -> "Index":
        ix = cls()
        for e in envelopes:
            ix.add(e)
        return ix

    _ARRAYS = ("mid", "mid_end", "irt", "ref_end", "title", "version", "number", "total",
               "date")

    def pack(self) -> bytes:
        """The index as bytes (JSON and the arrays' bytes: data, never code)."""
        head = json.dumps([self.author, self.change, len(self.mid_text), len(self.ref)],
                          separators=(",", ":")).encode()
        return b"".join([len(head).to_bytes(8, "little"), head]
                        + [getattr(self, a).tobytes() for a in self._ARRAYS]
                        + [bytes(self.kind), bytes(self.mid_text), self.ref.tobytes()])

    @classmethod
    def unpack(cls, data: bytes) -> "Index":
        ix = cls()
        n = int.from_bytes(data[:8], "little")
        author, change, text, refs = json.loads(data[8:8 + n])
        ix.author = [sys.intern(a) for a in author]  # shared, as when scanned
        ix.change = change
        count = len(author)
        pos = 8 + n
        for name in cls._ARRAYS:
            a = getattr(ix, name)
            a.frombytes(data[pos:pos + 8 * count])
            pos += 8 * count
        ix.kind = bytearray(data[pos:pos + count])
        pos += count
        ix.mid_text = bytearray(data[pos:pos + text])
        pos += text
        ix.ref.frombytes(data[pos:pos + 8 * refs])
        pos += 8 * refs
        if pos != len(data) or len(ix.kind) != count or len(ix.mid_text) != text:
            raise ValueError("truncated index")
        return ix


_NAN = float("nan")


@dataclass(slots=True)
class Revision:
    version: int
    at: int  # the index of its head: the cover letter, else patch 1 (else the first patch)
    date: float  # the head's (0.0 when it has none)
    members: Sequence[int]  # message indices: cover and patches
    head: Envelope | None = None  # the head's envelope, when grouped from envelopes

    @property
    def title(self) -> str:
        return self.head.subject.title if self.head is not None else ""


@dataclass(slots=True)
class Group:
    """One series: its revisions, newest first, and every message that belongs to it."""

    revisions: list[Revision]
    key: str = ""  # the series' identity: the Message-ID of its newest revision's head
    members: Sequence[int] = field(default_factory=lambda: array("q"))  # input order

    @property
    def newest(self) -> Revision:
        return self.revisions[0]

    def message_ids(self, envelopes) -> set[str]:
        """The Message-IDs of its messages (ENVELOPES: a list of them, or an Index)."""
        if isinstance(envelopes, Index):
            return {m for i in self.members if (m := envelopes.message_id(i))}
        return {envelopes[i].message_id for i in self.members if envelopes[i].message_id}


class _Union:
    def __init__(self, n: int):
        self.parent = array("q", range(n))

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group(envelopes: list[Envelope]) -> tuple[list[Group], list[int]]:
    """(series, newest first by date; indices of messages that belong to none)."""
    groups, orphans = group_index(Index.of(envelopes), lambda i: envelopes[i].origin)
    for g in groups:
        for rev in g.revisions:
            rev.head = envelopes[rev.at]
    return groups, orphans


def _subject_key(title: int, version: int):
    """(title, version) as one int (no tuple to hold) when the version allows."""
    return title * 65536 + version if 0 <= version < 65536 else (title, version)


class _Ids:
    """The first message of each Message-ID key: two sorted arrays, looked up by
    bisection (a dict of them would hold two int objects a message)."""

    def __init__(self, mids: array):
        order = sorted((i for i, m in enumerate(mids) if m), key=mids.__getitem__)
        self.index = array("q", order)  # stable: the first of equal keys comes first
        del order
        self.keys = array("q", (mids[i] for i in self.index))

    def _find(self, key: int) -> int:
        p = bisect_left(self.keys, key)
        return self.index[p] if p < len(self.keys) and self.keys[p] == key else -1

    def __contains__(self, key) -> bool:
        return bool(key) and self._find(key) >= 0

    def __getitem__(self, key: int) -> int:
        return self._find(key)

    def get(self, key: int, default=None):
        j = self._find(key) if key else -1
        return default if j < 0 else j


def group_index(ix: Index, origin: Callable[[int], str]) -> tuple[list[Group], list[int]]:
    """``group`` of an index; ORIGIN(i) names message i when it has no Message-ID."""
    mids, irts, refs, kinds = ix.mid, ix.irt, ix.refs, ix.kind
    versions = ix.version
    by_id = _Ids(mids)
    patchy = array("q", (i for i, k in enumerate(kinds) if k != _REPLY))

    def ancestors(i: int):
        """Messages this one answers, nearest first (In-Reply-To chain, then References)."""
        seen = {i}
        cur = irts[i]
        while cur:
            j = by_id.get(cur)
            if j is None or j in seen:
                break
            seen.add(j)
            yield j
            cur = irts[j]
        for ref in reversed(refs(i)):
            j = by_id.get(ref)
            if j is not None and j not in seen:
                seen.add(j)
                yield j

    # 1. revisions: patches under the cover letter (or patch 1) of their version
    uf = _Union(len(ix))
    threaded = bytearray(len(ix))
    for i in patchy:
        v = versions[i]
        for j in ancestors(i):
            if kinds[j] != _REPLY and versions[j] == v:
                uf.union(i, j)
                threaded[i] = threaded[j] = 1
                break
    loose: dict[tuple, int] = {}
    for i in patchy:
        if threaded[i] or ix.total[i] < 0:
            continue
        # unthreaded, or threaded under a cover letter the input does not hold
        mine = refs(i)
        root = mine[0] if mine else irts[i]
        k = (ix.author[i], versions[i], ix.total[i], root)
        if k in loose:
            uf.union(i, loose[k])
        else:
            loose[k] = i
    del threaded, loose
    comps: dict[int, array] = {}
    for i in patchy:
        root = uf.find(i)
        if root in comps:
            comps[root].append(i)
        else:
            comps[root] = array("q", (i,))
    del uf
    revisions: list[Revision] = []
    rev_of = array("q", b"\xff" * (8 * len(ix)))  # -1: in no revision

    def rank(i: int) -> tuple:
        n = ix.number[i]
        return (0 if kinds[i] == _COVER else 1, n if n >= 0 else 1, i)

    for members in comps.values():
        head = min(members, key=rank)
        version = max(versions[i] for i in members)
        for i in members:
            rev_of[i] = len(revisions)
        d = ix.date[head]
        revisions.append(Revision(version=version, at=head, date=0.0 if d != d else d,
                                  members=members))
    del comps

    # 2. series: revisions that continue each other
    su = _Union(len(revisions))
    by_change: dict[str, int] = {}
    by_title: dict[tuple, int] = {}
    for r, rev in enumerate(revisions):
        cid = next((ix.change[i] for i in rev.members if ix.change[i]), None)
        if cid:
            if cid in by_change:
                su.union(r, by_change[cid])
            else:
                by_change[cid] = r
        tk = (ix.author[rev.at], ix.title[rev.at])
        if tk in by_title:
            su.union(r, by_title[tk])
        else:
            by_title[tk] = r
        head_index = by_id.get(mids[rev.at], -1)
        if head_index >= 0:
            for j in ancestors(head_index):
                if rev_of[j] >= 0 and rev_of[j] != r:
                    su.union(r, rev_of[j])
                    break
    del by_change, by_title
    series: dict[int, list[int]] = {}
    for r in range(len(revisions)):
        series.setdefault(su.find(r), []).append(r)
    groups: list[Group] = []
    group_of_rev = array("q", bytes(8 * len(revisions)))
    for revs in series.values():
        ordered = sorted(revs, key=lambda r: (revisions[r].version, revisions[r].date),
                         reverse=True)
        kept: list[Revision] = []
        seen_versions: set[int] = set()
        for r in ordered:  # the same version posted twice (RESEND): the newest posting
            if revisions[r].version in seen_versions:
                continue
            seen_versions.add(revisions[r].version)
            kept.append(revisions[r])
        for r in revs:
            group_of_rev[r] = len(groups)
        head = kept[0].at
        groups.append(Group(revisions=kept, key=ix.message_id(head) or origin(head)))
    del series

    # 3. replies: to the series of the message they answer, else by subject
    owner = array("q", b"\xff" * (8 * len(ix)))  # -1: none yet
    by_subject: dict = {}
    for g_index, g in enumerate(groups):
        for rev in g.revisions:
            for i in rev.members:
                owner[i] = group_of_rev[rev_of[i]]
                by_subject.setdefault(_subject_key(ix.title[i], rev.version), g_index)
    del rev_of, revisions, group_of_rev
    orphans: list[int] = []
    for i, k in enumerate(kinds):
        if k != _REPLY:
            continue
        found = next((owner[j] for j in ancestors(i) if owner[j] >= 0), None)
        if found is None:
            found = by_subject.get(_subject_key(ix.title[i], versions[i]))
        if found is None:
            orphans.append(i)
        else:
            owner[i] = found
    if len(groups) == 1:
        for i in orphans:
            owner[i] = 0
        orphans = []
    for i, g_index in enumerate(owner):
        if g_index >= 0:
            groups[g_index].members.append(i)
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
