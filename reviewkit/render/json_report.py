"""The machine-readable report.  ``schema`` changes only when a field changes meaning."""

from __future__ import annotations

import json
from typing import IO

from reviewkit import __version__
from reviewkit.model import Patch, persons_json
from reviewkit.report import Report

SCHEMA = 1


def _patch(p: Patch, report: Report) -> dict:
    out = {
        "index": p.index,
        "total": p.total,
        "subject": p.subject.title,
        "raw_subject": p.subject.raw,
        "prefixes": list(p.subject.prefixes),
        "version": p.version,
        "message_id": p.message_id,
        "link": report.link(p.message_id),
        "commit": p.commit,
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
        "review_points": _remarks(report, "review_points", p),
        "unanswered_review_points": _remarks(report, "unanswered_review_points", p),
    }
    if not p.is_cover:
        out["context"] = report.context_of(p.index)
    return out


def _remarks(report: Report, key: str, p: Patch) -> list[dict]:
    return [r.to_json(link=report.link(r.message_id))
            for r in report.extra.get(key, {}).get(p.index, ())]


def to_dict(report: Report, *, patches: bool = True) -> dict:
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
            "patches": [_patch(p, report) for p in s.patches] if patches else _PATCHES,
            "replies": [r.to_json() for r in s.replies],
        },
        "findings": [f.to_json(report.link) for f in report.findings],
        "counts": report.counts(),
        "comparison": report.extra.get("comparison"),
    }


_PATCHES = "\u0000reviewkit-patches\u0000"


def write(report: Report, fp: IO[str]) -> None:
    """Stream the report: the frame indented, each patch one compact line.

    Encoding patch by patch keeps a 5,000-patch series from holding every patch
    dict and the whole text at once, and uses the C encoder.
    """
    frame = to_dict(report, patches=False)
    head, tail = json.dumps(frame, indent=2, ensure_ascii=False).split(
        json.dumps(_PATCHES), 1)
    fp.write(head)
    patches = report.series.patches
    if not patches:
        fp.write("[]")
    else:
        fp.write("[\n")
        for n, p in enumerate(patches):
            fp.write("      " + json.dumps(_patch(p, report), ensure_ascii=False))
            fp.write(",\n" if n + 1 < len(patches) else "\n")
        fp.write("    ]")
    fp.write(tail)
    fp.write("\n")


def render(report: Report) -> str:
    import io

    buf = io.StringIO()
    write(report, buf)
    return buf.getvalue()
