"""Series-level rules: numbering, cover letter, changelog, and what part of a
series the input holds."""

from __future__ import annotations

import re

from reviewkit.engine.context import SeriesContext
from reviewkit.engine.registry import Hit, check

_CHANGELOG = re.compile(
    r"(?im)^\s*(?:[-*]\s*)?(?:v\d+\b\s*(?:->\s*v\d+\s*)?:?|changes\s+(?:since|in|from|for)\b|"
    r"changelog\b|since\s+v\d+|v\d+\s*->\s*v\d+)")


def claims_whole(s) -> bool:
    """Whether the input claims to be the whole series: it carries the cover
    letter, or it is the thread as an archive holds it.  A local file with some
    patches of a series and no cover letter is one reviewer's selection."""
    return s.cover is not None or s.from_archive


def as_sent(s) -> bool:
    """Whether the input is the thread as it went to the list (fetched from an
    archive, or carrying its replies), not a set of patches collected for
    applying or sending (``b4 am`` output, ``git format-patch``, local commits):
    only then can a cover letter be known to be absent."""
    return s.from_archive or bool(s.replies) or any(p.replies for p in s.patches)


def _numbers(nums, total) -> str:
    return ", ".join(f"{n}/{total}" for n in nums)


@check("series/partial-input")
def partial_input(ctx: SeriesContext):
    s = ctx.series
    if not s.missing or claims_whole(s):
        return
    present = [p.index for p in s.patches]
    if len(present) == 1:
        what = f"{present[0]}/{s.total} alone"
    elif len(present) <= 3:
        what = f"{_numbers(present, s.total)} of {s.total}"
    else:
        what = f"{len(present)} of {s.total} patches (absent: {_numbers(s.missing, s.total)})"
    yield Hit(args={"what": what, "message_id": s.patches[0].message_id})


@check("series/missing-patches")
def missing_patches(ctx: SeriesContext):
    s = ctx.series
    if s.missing and claims_whole(s):
        yield Hit(args={"missing": _numbers(s.missing, s.total), "count": len(s.missing)})


@check("series/cover-letter-missing")
def cover_letter_missing(ctx: SeriesContext):
    s = ctx.series
    if s.cover is None and not s.missing and (s.total or len(s.patches)) > 1 and as_sent(s):
        yield Hit(args={"total": s.total or len(s.patches)})


@check("series/changelog-missing")
def changelog_missing(ctx: SeriesContext):
    s = ctx.series
    if s.version <= 1 or any(x.upper() == "RESEND" for x in s.patches[0].subject.prefixes):
        return
    # the changelog is expected in the cover letter, or below '---' of a patch
    # sent alone; in part of a series without its cover letter it cannot be seen
    alone = s.cover is None and len(s.patches) == 1 and (s.total or 1) == 1
    if s.cover is None and not alone:
        return
    texts = [p.notes for p in s.patches]
    if s.cover is not None:
        texts += [s.cover.commit_message, s.cover.notes]
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
