"""mm/sleep-under-spinlock: which line fires, which code stays silent.

Linux 6.1's madvise_cold_or_pageout_pte_range() takes the page lock with
trylock_page() under the pte lock, and backs off when that fails: reviewed as
added code it is silent; with a sleeping lock_page() there instead it fires on
that line, under any names for the locals.  Loop macros with a braced body
(for_each_hstate(h) { ... }) are loops of the control-flow graph, so a lock
taken and released inside one is not held at the cond_resched() after it.
"""

from __future__ import annotations

import re
from pathlib import Path


from ruletest import line_of, linux_function, review_added

RULE = "mm/sleep-under-spinlock"
TRYLOCK = "\t\t\tif (!trylock_page(page)) {\n\t\t\t\tput_page(page);\n\t\t\t\tbreak;\n\t\t\t}\n"








def review(tmp_path: Path, text: str):
    return review_added(tmp_path, text, RULE)


def _cold() -> str:
    return linux_function("mm/madvise.c", "static int madvise_cold_or_pageout_pte_range(")


def test_real_cold_pageout_walk_is_silent(tmp_path):
    fn = _cold()
    assert TRYLOCK in fn
    assert review(tmp_path, fn) == []


def test_a_sleeping_page_lock_under_the_pte_lock_fires(tmp_path):
    fn = _cold().replace(TRYLOCK, "\t\t\tlock_page(page);\n")
    got = review(tmp_path, fn)
    assert got == [("madvise_cold_or_pageout_pte_range",
                    line_of(fn, "\t\t\tlock_page(page);\n\t\t\tpte_unmap_unlock("), "warning")]


def test_renaming_the_locals_changes_nothing(tmp_path):
    fn = _cold().replace(TRYLOCK, "\t\t\tlock_page(page);\n")
    for old, new in (("ptl", "lk"), ("orig_pte", "first"), ("page", "pg"), ("pmd", "dir"),
                     ("madvise_cold_or_pageout_pte_range", "cold_range")):
        fn = re.sub(rf"\b{old}\b", new, fn)
    got = review(tmp_path, fn)
    assert got == [("cold_range", line_of(fn, "\t\t\tlock_page(pg);\n\t\t\tpte_unmap_unlock("),
                    "warning")]


MACRO_LOOP = """\
static void demo_offline(struct demo_group *grp)
{
	struct hstate *h;
	struct page *page;

	do {
		for_each_hstate(h) {
			spin_lock_irq(&hugetlb_lock);
			list_for_each_entry(page, &h->hugepage_activelist, lru)
				demo_move_parent(h, grp, page);
			spin_unlock_irq(&hugetlb_lock);
		}
		cond_resched();
	} while (demo_have_usage(grp));
}
"""


def test_a_lock_released_inside_a_loop_macro_is_not_held_after_it(tmp_path):
    # the grammar reads "for_each_hstate(h) {" as a nested definition; the
    # graph makes it a loop, so the unlock in it comes before cond_resched()
    assert review(tmp_path, MACRO_LOOP) == []


def test_a_sleep_inside_a_loop_macro_body_fires(tmp_path):
    text = MACRO_LOOP.replace("\t\t\tspin_unlock_irq(&hugetlb_lock);\n",
                              "\t\t\tcond_resched();\n\t\t\tspin_unlock_irq(&hugetlb_lock);\n")
    assert review(tmp_path, text) == [("demo_offline", line_of(text, "\t\t\tcond_resched();"),
                                       "warning")]


ALLOC = """\
static int demo_add(struct demo_tree *tree, unsigned long key, bool atomic)
{
	gfp_t gfp = GFP_KERNEL;
	struct demo_node *node;

	spin_lock(&tree->lock);
	node = kmalloc(sizeof(*node), gfp);
	demo_insert(tree, node, key);
	spin_unlock(&tree->lock);
	return 0;
}
"""


def test_gfp_flags_followed_through_a_local(tmp_path):
    assert review(tmp_path, ALLOC) == [("demo_add", 7, "warning")]


def test_gfp_flags_changed_in_place_are_not_judged(tmp_path):
    text = ALLOC.replace("\tstruct demo_node *node;\n",
                         "\tstruct demo_node *node;\n\n\tif (atomic)\n"
                         "\t\tgfp &= ~__GFP_DIRECT_RECLAIM;\n")
    assert review(tmp_path, text) == []


def test_a_call_handed_the_lock_may_drop_it(tmp_path):
    text = ALLOC.replace("\tnode = kmalloc(", "\tdemo_drop_and_wait(&tree->lock);\n"
                         "\tnode = kmalloc(")
    assert review(tmp_path, text) == []


UACCESS = """\
static int demo_copy(struct page *page, const void __user *src)
{
	void *kaddr = kmap_atomic(page);
	unsigned long left;

	pagefault_disable();
	left = copy_from_user(kaddr, src, PAGE_SIZE);
	pagefault_enable();
	kunmap_atomic(kaddr);
	return left ? -EFAULT : 0;
}
"""


def test_user_copy_under_pagefault_disable_is_silent(tmp_path):
    assert review(tmp_path, UACCESS) == []


def test_user_copy_under_kmap_atomic_is_silent(tmp_path):
    # kmap_atomic() disables page faults itself: the copy fails, it does not sleep
    text = UACCESS.replace("\tpagefault_disable();\n", "").replace("\tpagefault_enable();\n", "")
    assert review(tmp_path, text) == []


def test_user_copy_under_a_spinlock_fires(tmp_path):
    text = UACCESS.replace("\tpagefault_disable();\n", "\tspin_lock(&page_lock);\n").replace(
        "\tpagefault_enable();\n", "\tspin_unlock(&page_lock);\n").replace(
        "kmap_atomic(page)", "page_address(page)").replace("\tkunmap_atomic(kaddr);\n", "")
    assert review(tmp_path, text) == [("demo_copy", line_of(text, "copy_from_user"), "warning")]


def test_a_helper_given_the_structure_holding_the_lock_may_drop_it(tmp_path):
    text = """\
static vm_fault_t demo_fault(struct vm_fault *vmf)
{
	vmf->pte = pte_offset_map_lock(vmf->vma->vm_mm, vmf->pmd, vmf->address, &vmf->ptl);
	demo_finish_and_unlock(vmf);
	folio_lock(vmf->folio);
	return 0;
}
"""
    assert review(tmp_path, text) == []
    held = text.replace("\tdemo_finish_and_unlock(vmf);\n", "\tdemo_note(vmf->address);\n")
    (tmp_path / "held").mkdir()
    assert review(tmp_path / "held", held) == [("demo_fault", 5, "warning")]
