"""mm/pte-set-without-recheck: which line fires, which code stays silent.

Linux 6.1's do_swap_page() is reviewed as added code: with its re-check
under the page-table lock it is silent; with the "back out if somebody else
already faulted in this pte" test taken out it fires on the set_pte_at() that
would overwrite the racing fault's entry, under any names for the locals.
"""

from __future__ import annotations

import re
from pathlib import Path


from reviewkit import api

from ruletest import line_of, linux_function, review_added

RULE = "mm/pte-set-without-recheck"
RECHECK = ("\tif (unlikely(!pte_same(*vmf->pte, vmf->orig_pte)))\n\t\tgoto out_nomap;\n\n"
           "\tif (unlikely(!folio_test_uptodate(folio))) {")






def review(tmp_path: Path, text: str):
    return review_added(tmp_path, text, RULE)


def _do_swap_page() -> str:
    return linux_function("mm/memory.c", "vm_fault_t do_swap_page(struct vm_fault *vmf)\n{")


def test_real_do_swap_page_is_silent(tmp_path):
    fn = _do_swap_page()
    assert RECHECK in fn
    assert review(tmp_path, fn) == []


def test_without_the_recheck_the_install_fires(tmp_path):
    fn = _do_swap_page().replace(RECHECK, "\tif (unlikely(!folio_test_uptodate(folio))) {")
    got = review(tmp_path, fn)
    assert got == [("do_swap_page", line_of(fn, "\tset_pte_at(vma->vm_mm, vmf->address, vmf->pte"),
                    "warning")]


def test_renaming_the_locals_changes_nothing(tmp_path):
    fn = _do_swap_page().replace(RECHECK, "\tif (unlikely(!folio_test_uptodate(folio))) {")
    fn = re.sub(r"\bvmf\b", "fault", fn)
    fn = re.sub(r"\bvma\b", "area", fn)
    fn = fn.replace("do_swap_page", "swapin_fault")
    got = review(tmp_path, fn)
    assert got == [("swapin_fault", line_of(fn, "\tset_pte_at(area->vm_mm, fault->address"),
                    "warning")]


RELOCK = """\
static int demo_cold_range(struct mm_struct *mm, pmd_t *pmd, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	pte_t old = ptep_get(pte);

	pte_unmap_unlock(pte, ptl);
	demo_split(mm, addr);
	pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	set_pte_at(mm, addr, pte, pte_mkold(old));
	pte_unmap_unlock(pte, ptl);
	return 0;
}
"""


def test_a_value_read_before_the_lock_was_dropped_is_a_snapshot(tmp_path):
    got = review(tmp_path, RELOCK)
    assert got == [("demo_cold_range", line_of(RELOCK, "\tset_pte_at("), "warning")]


def test_read_again_under_the_new_lock_is_silent(tmp_path):
    text = RELOCK.replace("\tset_pte_at(mm, addr, pte, pte_mkold(old));\n",
                          "\tif (pte_same(ptep_get(pte), old))\n"
                          "\t\tset_pte_at(mm, addr, pte, pte_mkold(old));\n")
    assert review(tmp_path, text) == []


def test_spin_lock_of_the_lock_a_map_handed_back(tmp_path):
    text = RELOCK.replace("\tpte = pte_offset_map_lock(mm, pmd, addr, &ptl);\n\tset_pte_at",
                          "\tspin_lock(ptl);\n\tset_pte_at")
    got = review(tmp_path, text)
    assert got == [("demo_cold_range", line_of(text, "\tset_pte_at("), "warning")]


# -- mm/fault-install-no-mmu-update ----------------------------------------------------

UPDATE = ("\t\t/* no need to invalidate: a not-present page won't be cached */\n"
          "\t\tupdate_mmu_cache(vma, vmf->address, vmf->pte);\n")


def _finish_fault() -> str:
    return linux_function("mm/memory.c", "vm_fault_t finish_fault(struct vm_fault *vmf)\n{")


def _review_mmu(tmp_path: Path, text: str):
    return review_added(tmp_path, text, "mm/fault-install-no-mmu-update")


def test_real_finish_fault_is_silent(tmp_path):
    fn = _finish_fault()
    assert UPDATE in fn
    assert _review_mmu(tmp_path, fn) == []


def test_finish_fault_without_its_update_fires_on_the_install(tmp_path):
    fn = _finish_fault().replace(UPDATE, "")
    assert _review_mmu(tmp_path, fn) == [
        ("finish_fault", line_of(fn, "\t\tdo_set_pte(vmf, page, vmf->address);"), "warning")]


def test_the_posting_that_lost_it_fires_and_its_fix_does_not(tmp_path):
    from conftest import REPO
    buggy = REPO / "corpus" / "buggy" / "finish-fault-drops-update-mmu-cache.eml"
    fix = REPO / "corpus" / "fix" / "finish-fault-drops-update-mmu-cache.eml"
    got = api.review(str(buggy), api.Options(select=("mm/fault-install-no-mmu-update",)))
    assert [(f.path, f.function) for f in got.findings] == [("mm/memory.c", "finish_fault")]
    line = got.findings[0].line
    assert line is not None and 3801 - 5 <= line <= 3808 + 5
    again = api.review(str(fix), api.Options(select=("mm/fault-install-no-mmu-update",)))
    assert list(again.findings) == []
