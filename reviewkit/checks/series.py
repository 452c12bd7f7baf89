"""Series-level rules: numbering, cover letter, changelog."""

from __future__ import annotations

import re

from reviewkit.engine.context import SeriesContext
from reviewkit.engine.registry import Hit, check

_CHANGELOG = re.compile(
    r"(?im)^\s*(?:[-*]\s*)?(?:v\d+\b\s*(?:->\s*v\d+\s*)?:?|changes\s+(?:since|in|from|for)\b|"
    r"changelog\b|since\s+v\d+|v\d+\s*->\s*v\d+)")


@check("series/missing-patches")
def missing_patches(ctx: SeriesContext):
    s = ctx.series
    if s.missing:
        nums = ", ".join(f"{n}/{s.total}" for n in s.missing)
        yield Hit(args={"missing": nums, "count": len(s.missing)})


@check("series/cover-letter-missing")
def cover_letter_missing(ctx: SeriesContext):
    s = ctx.series
    if s.cover is None and (s.total or len(s.patches)) > 1:
        yield Hit(args={"total": s.total or len(s.patches)})


@check("series/changelog-missing")
def changelog_missing(ctx: SeriesContext):
    s = ctx.series
    if s.version <= 1:
        return
    texts = [p.notes for p in s.patches]
    if s.cover is not None:
        texts.append(s.cover.commit_message)
    if any(_CHANGELOG.search(t or "") for t in texts):
        return
    yield Hit(patch=0 if s.cover is not None else None, args={"version": s.version})


@check("series/review-tag-on-changed-patch")
def review_tag_on_changed_patch(ctx: SeriesContext):
    prev = ctx.series.previous
    if prev is None:
        return
    for p in ctx.series.patches:
        earlier = ctx.earlier.get(p.index)
        if earlier is None or not earlier.changed:
            continue
        old = earlier.patch
        given = {(t.kind, t.person.email) for t in old.trailers
                 if t.is_review_tag and t.person is not None}
        for t in p.trailers:
            if t.source == "patch" and t.is_review_tag and t.person is not None \
                    and (t.kind, t.person.email) in given:
                yield Hit(patch=p.index, args={"tag": f"{t.kind}: {t.value}",
                                               "old": prev.version, "new": ctx.series.version})


# git format-patch --cover-letter's placeholders, and b4 prep's
_PLACEHOLDERS = ("*** SUBJECT HERE ***", "*** BLURB HERE ***", "EDITME:")


@check("series/cover-letter-unedited")
def cover_letter_unedited(ctx: SeriesContext):
    cover = ctx.series.cover
    if cover is None:
        return
    text = cover.subject.title + "\n" + cover.commit_message
    left = [p for p in _PLACEHOLDERS
            if any(line.strip().startswith(p) for line in text.splitlines())]
    if left:
        yield Hit(patch=0, args={"placeholder": left[0].rstrip(":")})
