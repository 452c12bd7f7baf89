"""The machine-readable report.  ``schema`` changes only when a field changes meaning."""

from __future__ import annotations

import json
from typing import IO, Callable, Iterable

from reviewkit import __version__
from reviewkit.model import Patch, persons_json
from reviewkit.report import Report

SCHEMA = 1


def _patch(p: Patch, report: Report) -> dict:
    return {
        "index": p.index,
        "total": p.total,
        "subject": p.subject.title,
        "raw_subject": p.subject.raw,
        "prefixes": list(p.subject.prefixes),
        "version": p.version,
        "message_id": p.message_id,
        "link": report.link(p.message_id),
        "author": p.author.to_json(),
        "date": p.date.isoformat() if p.date else None,
        "in_reply_to": p.in_reply_to,
        "to": persons_json(p.to),
        "cc": persons_json(p.cc),
        "commit_message": p.commit_message,
        "notes": p.notes,
        "diffstat": p.diffstat,
        "trailers": [t.to_json() for t in p.trailers],
        "replies": [r.to_json() for r in p.replies],
        "files": [f.to_json() for f in p.files],
    }


def to_dict(report: Report) -> dict:
    s = report.series
    return {
        "schema": SCHEMA,
        "tool": {"name": "reviewkit", "version": __version__},
        "source": report.source,
        "mode": report.mode,
        "notes": list(report.notes),
        "series": {
            "subject": s.subject,
            "version": s.version,
            "versions": list(s.versions),
            "message_id": s.message_id,
            "link": report.link(s.message_id),
            "author": s.author.to_json() if s.author else None,
            "date": s.date.isoformat() if s.date else None,
            "total": s.total,
            "missing": list(s.missing),
            "duplicates": list(s.duplicates),
            "cover": _patch(s.cover, report) if s.cover else None,
            "patches": _Lazy(s.patches, lambda p: _patch(p, report)),
            "replies": [r.to_json() for r in s.replies],
        },
        "findings": [f.to_json() for f in report.findings],
        "counts": report.counts(),
    }


class _Lazy(list):
    """A list the JSON encoder walks without all items existing at once.

    A 5,000-patch series would otherwise hold every patch dict and the whole
    encoded text in memory together.
    """

    def __init__(self, items: Iterable, convert: Callable):
        super().__init__()
        self._items = tuple(items)
        self._convert = convert

    def __iter__(self):
        return (self._convert(x) for x in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)


def write(report: Report, fp: IO[str]) -> None:
    encoder = json.JSONEncoder(indent=2, ensure_ascii=False)
    for chunk in encoder.iterencode(to_dict(report)):
        fp.write(chunk)
    fp.write("\n")


def render(report: Report) -> str:
    import io

    buf = io.StringIO()
    write(report, buf)
    return buf.getvalue()
