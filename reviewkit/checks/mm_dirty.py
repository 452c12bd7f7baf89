"""Dirty-bit handling: page dirtiness removed, pte_mkdirty unguarded, dirty bit lost on clear.

The source is Hugh Dickins' review of "mm/shmem: Unconditionally set pte dirty
in mfill_atomic_install_pte" (v4 1/4): SetPageDirty belongs where the page
contents are written, and a dirty PTE in a mapping the user can never write
is wrong — the pattern later exploited as CVE-2022-2590.
"""

from __future__ import annotations

import re

from reviewkit.checks._c import (DIRTY_PAGE_CALL, MKDIRTY, WRITABILITY, code, function_lines,
                                 guards, index_of)
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check

_WRITES_CONTENTS = re.compile(
    r"\b(copy_from_user|__copy_from_user|copy_to_user|memcpy|memset|clear_highpage|"
    r"copy_highpage|copy_user_highpage|copy_mc_\w+|kmap\w*|clear_user_highpage|folio_zero\w*|"
    r"zero_user\w*|copy_page_from_iter\w*|copy_folio_from_iter\w*|iov_iter\w*|"
    r"folio_fill_tail|memcpy_to_page|memzero_page)\s*\(")
_CONTENT_PATH = re.compile(r"fill|copy|write|zero|install|continue|populate|poison|migrate")
_CLEAR = re.compile(
    r"\b(ptep_get_and_clear(_full)?|ptep_clear_flush|ptep_clear|huge_ptep_get_and_clear|"
    r"huge_ptep_clear_flush|pmdp_huge_get_and_clear(_full)?|pmdp_huge_clear_flush|"
    r"pudp_huge_get_and_clear(_full)?|ptep_modify_prot_start|get_and_clear_full_ptes|"
    r"clear_full_ptes)\s*\(")
_DIRTY_TRANSFER = re.compile(
    r"\b(pte_dirty|pmd_dirty|pud_dirty|huge_pte_dirty|folio_mark_dirty|set_page_dirty\w*|"
    r"SetPageDirty|__folio_mark_dirty|folio_set_dirty|pte_mkdirty|pmd_mkdirty|huge_pte_mkdirty|"
    r"swp_entry|make_\w+_entry|pte_to_swp_entry|softleaf_\w+)\s*\(")
_ZAP_PATH = re.compile(r"zap|unmap|move|remap|madvise_free|migrate|split|collapse|"
                       r"try_to_|clear_\w*pte|free_pte")


_UNMAP_PATH = re.compile(r"zap|unmap|madvise_free|try_to_")
_PAGE_REF = re.compile(r"\b(struct (page|folio) \*|\w*(page|folio)\w*\s*\()")
_SET_ENTRY = re.compile(r"\bset_(pte|pmd|pud|huge_pte)_at\s*\(|\bset_ptes\s*\(")


def _moved(clear_line: str, post_code: list[str]) -> bool:
    """The cleared entry is installed again (mremap-style moves keep its dirty bit)."""
    m = re.match(r"\s*(?:\w+\s+)?(\w+)\s*=", clear_line)
    if not m:
        return False
    var = m.group(1)
    return any(_SET_ENTRY.search(t) and re.search(rf"\b{var}\b", t.split("(", 1)[1])
               for t in post_code)


@check("mm/dirty-page-dirty-removed")
def page_dirty_removed(ctx: PatchContext):
    patch_mkdirty = [
        (fc.name, ln) for fc in ctx.functions for ln in fc.added if MKDIRTY.search(code(ln.text))]
    for fc in ctx.functions:
        if fc.name is None or fc.post is None:
            continue  # the function is gone altogether, or this is not code in a function
        gone = [ln for ln in fc.removed if DIRTY_PAGE_CALL.search(code(ln.text))]
        if not gone:
            continue
        if any(DIRTY_PAGE_CALL.search(code(t)) for _, t in fc.post.lines):
            continue  # an equivalent is still in the function
        evidence = bool(_CONTENT_PATH.search(fc.name)) or any(
            _WRITES_CONTENTS.search(code(t)) for f in (fc.pre, fc.post) if f for _, t in f.lines)
        where = "the caller"
        if patch_mkdirty:
            other, ln = patch_mkdirty[0]
            where = f"the PTE dirty bit this patch sets in {other or 'another function'}()"
        ln = gone[0]
        call = DIRTY_PAGE_CALL.search(code(ln.text)).group(1)
        yield Hit(old_line=ln.old_no, path=fc.path, function=fc.name,
                  args={"func": fc.name, "call": call, "where": where},
                  confidence=None if evidence else "low")


@check("mm/dirty-pte-mkdirty-unconditional")
def mkdirty_unconditional(ctx: PatchContext):
    for fc in ctx.functions:
        if fc.pre is None or fc.post is None:
            continue
        pre_lines = function_lines(fc.pre)
        guarded_before = []
        for ln in fc.removed:
            m = MKDIRTY.search(code(ln.text))
            if not m:
                continue
            i = index_of(pre_lines, ln.old_no)
            heads = guards(pre_lines, i) if i is not None else []
            writable_heads = [h for h in heads if WRITABILITY.search(h)]
            if writable_heads or _ternary_on_write(ln.text):
                guarded_before.append((m.group(1), writable_heads[0] if writable_heads
                                       else ln.text.strip()))
        if not guarded_before:
            continue
        post_lines = function_lines(fc.post)
        for ln in fc.added:
            m = MKDIRTY.search(code(ln.text))
            if not m or _ternary_on_write(ln.text):
                continue
            i = index_of(post_lines, ln.new_no)
            heads = guards(post_lines, i) if i is not None else []
            if any(WRITABILITY.search(h) for h in heads):
                continue
            kind, old_guard = next(((k, g) for k, g in guarded_before if k == m.group(1)),
                                   guarded_before[0])
            yield Hit(line=ln.new_no, path=fc.path, function=fc.name,
                      args={"func": fc.name, "call": f"{m.group(1)}_mkdirty",
                            "guard": old_guard})


def _ternary_on_write(text: str) -> bool:
    c = code(text)
    q = c.find("?")
    return q >= 0 and WRITABILITY.search(c[:q]) is not None and MKDIRTY.search(c[q:]) is not None


@check("mm/dirty-lost-on-clear")
def dirty_lost_on_clear(ctx: PatchContext):
    for fc in ctx.functions:
        if fc.name is None or fc.post is None or not _ZAP_PATH.search(fc.name):
            continue
        post_code = [code(t) for _, t in fc.post.lines]
        if any(_DIRTY_TRANSFER.search(t) for t in post_code):
            continue
        # (ii) the dirty transfer was removed while the clear stays
        dropped = [ln for ln in fc.removed if _DIRTY_TRANSFER.search(code(ln.text))]
        if dropped and any(_CLEAR.search(t) for t in post_code):
            ln = dropped[0]
            yield Hit(old_line=ln.old_no, path=fc.path, function=fc.name,
                      args={"func": fc.name, "what": "the dirty-bit transfer was removed"})
            continue
        # (i) a clear added in a zap/unmap path, known whole, with a page or folio the
        #     dirty bit should reach, and the old entry not moved to a new slot
        if not fc.post.complete or not _UNMAP_PATH.search(fc.name) \
                or not any(_PAGE_REF.search(t) for t in post_code):
            continue
        for ln in fc.added:
            c = code(ln.text)
            m = _CLEAR.search(c)
            if m and not _moved(c, post_code):
                yield Hit(line=ln.new_no, path=fc.path, function=fc.name,
                          args={"func": fc.name, "what": f"{m.group(1)}() was added"})
                break
