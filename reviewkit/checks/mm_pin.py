"""Pin balance: FOLL_PIN pages go back with unpin_user_page*(), FOLL_GET ones with put_page().

From the long-term pinning discussions (put_user_page(), later unpin_user_page()):
a pinned page released with put_page() leaves its pin count raised for ever;
pages a device wrote into must be dirtied as they are unpinned.
"""

from __future__ import annotations

import re

from reviewkit.checks._c import code
from reviewkit.engine.cfunc import Call
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check

_PIN = re.compile(r"^(pin_user_pages(_fast|_remote|_unlocked|_fast_only)?|pin_user_page|"
                  r"iov_iter_extract_pages)$")
_GET = re.compile(r"^(get_user_pages(_fast|_remote|_unlocked|_fast_only|_locked)?|"
                  r"get_user_page_vma_remote)$")
_PUT = re.compile(r"^(put_page|folio_put|put_user_page|release_pages|put_pages_list)$")
_UNPIN = re.compile(r"^(unpin_user_pages?|unpin_user_page_range_dirty_lock|unpin_folio|"
                    r"unpin_folios|unpin_user_pages_dirty_lock)$")
_UNPIN_CLEAN = re.compile(r"^(unpin_user_pages?|unpin_folios?)$")


def _pages_arg(call: Call) -> set[str]:
    """Identifiers that name the page array in a GUP/pin call."""
    out = set()
    for a in call.args:
        m = re.match(r"^&?\s*([A-Za-z_][\w.>-]*)", a)
        if m and "page" in m.group(1):
            out.add(m.group(1))
    return out


def _refers(call: Call, names: set[str]) -> bool:
    if not names:
        return True
    return any(re.search(rf"(?<![\w>.]){re.escape(n)}\b", a) for a in call.args for n in names)


def _changed(fc) -> set[int]:
    return {ln.new_no for ln in fc.added if code(ln.text).strip()}


def _wrong_release(ctx: PatchContext, acquires, releases, skip=lambda f: False):
    """Calls of ``releases`` on pages a call of ``acquires`` took, in one function,
    where the patch adds either side."""
    for fc, f in ctx.with_post():
        if skip(f):
            continue
        taken = [c for c in f.calls if acquires(c)]
        if not taken:
            continue
        names = set().union(*(_pages_arg(c) for c in taken))
        changed = _changed(fc)
        touched = any(c.line in changed for c in taken)
        first = min(c.line for c in taken)
        for c in f.calls:
            if releases.match(c.name) and c.line > first and _refers(c, names) \
                    and (touched or c.line in changed):
                yield Hit(line=c.line, path=fc.path, function=f.name,
                          args={"func": f.name, "release": c.name, "acquire": taken[0].name})


def _pins(c: Call) -> bool:
    return bool(_PIN.match(c.name)) or (
        bool(_GET.match(c.name)) and any("FOLL_PIN" in a for a in c.args))


def _gets(c: Call) -> bool:
    return bool(_GET.match(c.name)) and not any("FOLL_PIN" in a for a in c.args)


@check("mm/pin-released-with-put-page")
def released_with_put_page(ctx: PatchContext):
    yield from _wrong_release(ctx, _pins, _PUT)


@check("mm/pin-get-released-with-unpin")
def get_released_with_unpin(ctx: PatchContext):
    yield from _wrong_release(ctx, _gets, _UNPIN,
                              skip=lambda f: any(_PIN.match(c.name) for c in f.calls))


def _handed_over(f, names: set[str], start: int, end: int) -> bool:
    """A call between the pin and the release takes the page array itself (for I/O:
    a scatterlist, a DMA mapping, a device), not just one page to look at."""
    for c in f.calls:
        if start < c.line < end and not _PIN.match(c.name) and not _UNPIN.match(c.name):
            for a in c.args:
                if re.fullmatch(r"&?\s*([\w.>-]+)(\s*\+\s*\w+)?", a) and \
                        re.sub(r"^&\s*|\s*\+.*$", "", a) in names:
                    return True
    return False


@check("mm/pin-dma-write-without-dirty")
def dma_write_without_dirty(ctx: PatchContext):
    for fc, f in ctx.with_post():
        pins = [c for c in f.calls if _PIN.match(c.name)]
        if not pins:
            continue
        text = "\n".join(code(t) for _, t in f.lines)
        writes = any("FOLL_WRITE" in a for c in pins for a in c.args) or re.search(
            r"\b(gup_flags|flags)\s*\|=\s*FOLL_WRITE\b", text)
        if not writes:
            continue
        changed = _changed(fc)
        touched = any(c.line in changed for c in pins)
        names = set().union(*(_pages_arg(c) for c in pins))
        first = min(c.line for c in pins)
        for c in f.calls:
            if not _UNPIN_CLEAN.match(c.name) or not (touched or c.line in changed):
                continue
            if not _handed_over(f, names, first, c.line):
                continue  # released before any I/O (an error path): nothing was written
            before = [d for d in f.calls if d.line < c.line and re.match(
                r"^(set_page_dirty(_lock)?|folio_mark_dirty(_lock)?|SetPageDirty)$", d.name)]
            if before:
                continue
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "release": c.name, "acquire": pins[0].name})
