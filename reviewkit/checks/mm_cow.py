"""COW reuse and pinned pages.

Linus, Hugh and Peter Xu on do_wp_page() and fork(): a write fault may reuse an
anonymous page only when it is exclusive to this process — page counts and
map counts alone mistake a GUP pin for sharing or miss one — and fork() must
copy, not share, an anonymous page that may be pinned for DMA.
"""

from __future__ import annotations

import re

from reviewkit.checks._c import code
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check

_WP_PATH = re.compile(r"wp|cow|reuse|unshare|write_fault|can_change_pte_writable|"
                      r"can_follow_write|do_swap_page")
_COUNT = re.compile(r"\b(page_count|folio_ref_count|page_mapcount|folio_mapcount|"
                    r"folio_estimated_sharers|total_mapcount|page_trans_huge_mapcount|"
                    r"folio_entire_mapcount|folio_large_mapcount|reuse_swap_page|"
                    r"page_ref_count)\s*\(")
_EXCLUSIVE = re.compile(r"\b(PageAnonExclusive|folio_maybe_dma_pinned|page_maybe_dma_pinned|"
                        r"PageAnonExclusive\w*|folio_test_anon_exclusive|"
                        r"page_anon_exclusive|wp_can_reuse_anon_folio)\s*\(")
_FORK_PATH = re.compile(r"^(copy_\w*(pte|pmd|pud|page)\w*|copy_hugetlb_page_range|"
                        r"copy_one_pte|__copy_present_ptes|copy_present_\w+)$")
_SHARE = re.compile(r"\b(get_page|folio_get|page_dup_rmap|page_dup_file_rmap|"
                    r"folio_dup_file_rmap\w*|folio_ref_add|page_ref_add|ptep_set_wrprotect|"
                    r"pte_wrprotect|page_dup_anon_rmap|folio_dup_anon_rmap\w*)\s*\(")
_DMA_CHECK = re.compile(r"\b((page|folio)_needs_cow_for_dma|page_try_dup_anon_rmap|"
                        r"folio_try_dup_anon_rmap\w*|page_maybe_dma_pinned|"
                        r"folio_maybe_dma_pinned|has_pinned|copy_present_page|"
                        r"copy_user_highpage|folio_copy)\s*\(|has_pinned\b")


@check("mm/cow-reuse-by-refcount")
def reuse_by_refcount(ctx: PatchContext):
    for fc, f in ctx.with_post():
        if fc.name is None or not _WP_PATH.search(fc.name):
            continue
        if any(_EXCLUSIVE.search(code(t)) for _, t in f.lines):
            continue
        for ln in fc.added:
            c = code(ln.text)
            m = _COUNT.search(c)
            if m and re.search(r"\bif\b|==|!=|<|>|\breturn\b|&&|\|\|", c):
                yield Hit(line=ln.new_no, path=fc.path, function=fc.name,
                          args={"func": fc.name, "count": m.group(1)})
                break


@check("mm/cow-fork-shares-pinned-page")
def fork_shares_pinned(ctx: PatchContext):
    for fc, f in ctx.with_post():
        if fc.name is None or not _FORK_PATH.match(fc.name):
            continue
        post = [code(t) for _, t in f.lines]
        if any(_DMA_CHECK.search(t) for t in post):
            continue
        dropped = [ln for ln in fc.removed if _DMA_CHECK.search(code(ln.text))]
        if not dropped and not f.complete:
            continue  # the check may sit outside what the hunk shows
        for ln in fc.added:
            m = _SHARE.search(code(ln.text))
            if m:
                yield Hit(line=ln.new_no, path=fc.path, function=fc.name,
                          args={"func": fc.name, "share": m.group(1)})
                break
        else:
            if dropped:
                ln = dropped[0]
                yield Hit(old_line=ln.old_no, path=fc.path, function=fc.name,
                          args={"func": fc.name, "share": "the page"})
