"""The series model: frozen dataclasses built by the parsers, read by the rules.

Nothing here does I/O.  Every object is immutable so that rules cannot change
what the next rule sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str

    def __str__(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or self.email

    def to_json(self) -> dict:
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True, slots=True)
class Subject:
    """A patch subject split into its parts: ``[RFC PATCH net-next v2 3/7] title``."""

    raw: str
    title: str
    prefixes: tuple[str, ...] = ()  # every bracketed word but PATCH, vN and N/M: RFC, RESEND, net-next
    version: int = 1
    index: int | None = None  # N of N/M
    total: int | None = None  # M of N/M
    is_reply: bool = False  # Re:, Aw:, Sv: ...
    is_patch: bool = False  # has a PATCH (or PULL) tag


@dataclass(frozen=True, slots=True)
class Trailer:
    """A ``Key: value`` trailer, from the commit message or from a reply."""

    kind: str  # canonical spelling: Signed-off-by, Reviewed-by, Fixes, Cc ...
    value: str
    person: Person | None = None  # for person trailers (Signed-off-by, Acked-by, Cc ...)
    source: str = "patch"  # patch: in the commit message; reply: given in a follow-up
    message_id: str | None = None  # where a reply trailer was given
    given_on: str = "patch"  # what the reply answered: this patch, or the cover letter

    @property
    def is_review_tag(self) -> bool:
        return self.kind in REVIEW_TAGS

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "value": self.value,
            "name": self.person.name if self.person else None,
            "email": self.person.email if self.person else None,
            "source": self.source,
            "given_on": self.given_on,
            "message_id": self.message_id,
        }


REVIEW_TAGS = frozenset({"Reviewed-by", "Acked-by", "Tested-by"})


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # "+", "-" or " "
    text: str  # without the leading kind character and without the newline
    old_no: int | None
    new_no: int | None
    damaged: bool = False  # a context line whose leading space was lost in transit


@dataclass(frozen=True, slots=True)
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str  # the text after the second @@ (not a reliable function name)
    lines: tuple[Line, ...]

    @property
    def added(self) -> Iterator[Line]:
        return (ln for ln in self.lines if ln.kind == "+")

    @property
    def removed(self) -> Iterator[Line]:
        return (ln for ln in self.lines if ln.kind == "-")


@dataclass(frozen=True, slots=True)
class FileDiff:
    old_path: str | None  # None for an added file
    new_path: str | None  # None for a deleted file
    status: str  # added | deleted | modified | renamed | copied | binary
    hunks: tuple[Hunk, ...] = ()
    is_binary: bool = False
    # the abbreviated blob ids of the ``index abc1234..def5678`` line, when there is one
    old_blob: str | None = None
    new_blob: str | None = None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def added_count(self) -> int:
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind == "+")

    @property
    def removed_count(self) -> int:
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind == "-")

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "old_path": self.old_path,
            "new_path": self.new_path,
            "status": self.status,
            "binary": self.is_binary,
            "added": self.added_count,
            "removed": self.removed_count,
            "hunks": [
                {"old_start": h.old_start, "old_len": h.old_len, "new_start": h.new_start,
                 "new_len": h.new_len, "section": h.section}
                for h in self.hunks
            ],
        }


@dataclass(frozen=True, slots=True)
class Reply:
    """A message in the thread that is not a patch: review, ack, question."""

    message_id: str
    author: Person
    date: datetime | None
    subject: str
    in_reply_to: str | None
    trailers: tuple[Trailer, ...] = ()
    body: str = ""
    references: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "message_id": self.message_id,
            "author": self.author.to_json(),
            "date": self.date.isoformat() if self.date else None,
            "subject": self.subject,
            "in_reply_to": self.in_reply_to,
            "trailers": [t.to_json() for t in self.trailers],
        }


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something wrong with the input itself, kept so the rest can be reviewed."""

    code: str  # e.g. broken-message, whitespace-damaged
    message: str
    patch: int | None = None  # 1-based patch index, 0 = cover letter, None = series
    path: str | None = None
    line: int | None = None
    message_id: str | None = None
    version: int | None = None  # the revision of the message, when its subject says


@dataclass(frozen=True, slots=True)
class Patch:
    """One message of a series: a patch (index >= 1) or the cover letter (index 0)."""

    message_id: str
    subject: Subject
    author: Person
    date: datetime | None
    commit_message: str  # the body above the '---' line, without in-body headers
    trailers: tuple[Trailer, ...] = ()
    notes: str = ""  # below '---', without the diffstat
    diffstat: str = ""
    files: tuple[FileDiff, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    to: tuple[Person, ...] = ()
    cc: tuple[Person, ...] = ()
    replies: tuple[Reply, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    commit: str | None = None  # the git commit it was made from (self-review of a range)
    # what the series applies to, as b4 and ``git format-patch --base`` write it
    base_commit: str | None = None
    prerequisite_patch_ids: tuple[str, ...] = ()

    @property
    def index(self) -> int:
        if self.subject.index is not None:
            return self.subject.index
        return 0 if self.is_cover else 1

    @property
    def total(self) -> int:
        return self.subject.total if self.subject.total is not None else 1

    @property
    def version(self) -> int:
        return self.subject.version

    @property
    def is_cover(self) -> bool:
        return not self.files and self.subject.index == 0

    def trailers_of(self, *kinds: str) -> list[Trailer]:
        return [t for t in self.trailers if t.kind in kinds]


@dataclass(frozen=True, slots=True)
class Series:
    patches: tuple[Patch, ...]
    cover: Patch | None = None
    version: int = 1
    total: int | None = None  # M of N/M as announced by the subjects
    missing: tuple[int, ...] = ()  # patch numbers 1..M that did not arrive
    duplicates: tuple[int, ...] = ()  # patch numbers that arrived more than once
    replies: tuple[Reply, ...] = ()  # replies that answer no particular patch
    diagnostics: tuple[Diagnostic, ...] = ()  # broken messages and other input trouble
    versions: tuple[int, ...] = ()  # every revision seen in the input
    source: str = ""
    previous: "Series | None" = None  # the earlier revision this one is compared with
    # patches elsewhere in the input that the series' prerequisite-patch-id: lines name
    prerequisites: tuple[Patch, ...] = ()
    # fetched from a public-inbox archive: the thread as the archive holds it, so
    # what is absent from it was not sent (a local file may hold part of a thread)
    from_archive: bool = False

    @property
    def subject(self) -> str:
        if self.cover is not None:
            return self.cover.subject.title
        return self.patches[0].subject.title if self.patches else ""

    @property
    def message_id(self) -> str | None:
        if self.cover is not None:
            return self.cover.message_id
        return self.patches[0].message_id if self.patches else None

    @property
    def author(self) -> Person | None:
        first = self.cover or (self.patches[0] if self.patches else None)
        return first.author if first else None

    @property
    def date(self) -> datetime | None:
        first = self.cover or (self.patches[0] if self.patches else None)
        return first.date if first else None

    def all_diagnostics(self) -> Iterator[Diagnostic]:
        yield from self.diagnostics
        for p in ((self.cover,) if self.cover else ()) + self.patches:
            yield from p.diagnostics


def persons_json(persons: tuple[Person, ...]) -> list[dict]:
    return [p.to_json() for p in persons]


__all__ = [
    "Diagnostic", "FileDiff", "Hunk", "Line", "Patch", "Person", "Reply", "REVIEW_TAGS",
    "Series", "Subject", "Trailer", "persons_json",
]
