"""Trouble with the input itself: broken messages, mangled whitespace, duplicates."""

from __future__ import annotations

from reviewkit.engine.context import SeriesContext
from reviewkit.engine.registry import Hit, check


def _from_diagnostics(ctx: SeriesContext, code: str):
    for d in ctx.series.all_diagnostics():
        if d.code == code:
            yield Hit(patch=d.patch, path=d.path, line=d.line, args={"detail": d.message},
                      message_id=d.message_id)


@check("input/broken-message")
def broken_message(ctx: SeriesContext):
    yield from _from_diagnostics(ctx, "broken-message")


@check("input/whitespace-damaged")
def whitespace_damaged(ctx: SeriesContext):
    yield from _from_diagnostics(ctx, "whitespace-damaged")


@check("input/duplicate-patch")
def duplicate_patch(ctx: SeriesContext):
    yield from _from_diagnostics(ctx, "duplicate-patch")


@check("input/bad-header")
def bad_header(ctx: SeriesContext):
    yield from _from_diagnostics(ctx, "bad-header")
