"""mm/entry-tracking-bit-dropped: an entry rebuilt from another carries soft-dirty
or uffd-wp and drops the other bit of the pair (or sets soft-dirty in the other
entry form), on real postings and on the shapes of the conversions in mm/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reviewkit import api

from conftest import REPO

RULE = "mm/entry-tracking-bit-dropped"
FIX = REPO / "tests" / "fixtures" / "trackbits"


def _hits(path: Path):
    rep = api.review(str(path), api.Options(select=(RULE,)))
    return sorted((f.path, f.line, f.severity, f.confidence) for f in rep.findings
                  if f.rule == RULE)


def _mail(diff: str, *, date: str = "Mon, 3 Feb 2025 10:00:00 +0000",
          subject: str = "[PATCH] mm: demo") -> str:
    return (f"From: A <a@example.org>\nSubject: {subject}\nDate: {date}\n"
            "Message-Id: <demo@example.org>\n\nSigned-off-by: A <a@example.org>\n---\n" + diff)


def _new_function(path: str, body: str) -> str:
    """A diff adding ``body`` (a whole function) to ``path``."""
    lines = body.strip("\n").split("\n")
    return (f"--- a/{path}\n+++ b/{path}\n@@ -100,0 +100,{len(lines)} @@\n"
            + "".join(f"+{ln}\n" for ln in lines))


def _on(tmp_path: Path, text: str):
    p = tmp_path / "x.eml"
    p.write_text(text)
    return _hits(p)


def _line_of(body: str, needle: str, first: int = 100) -> int:
    lines = body.strip("\n").split("\n")
    return first + next(i for i, ln in enumerate(lines) if needle in ln)


# -- real postings -----------------------------------------------------------------------------

def test_the_device_private_branch_of_the_uffd_wp_migration_posting_is_info_on_its_line():
    # [PATCH v6 10/19] userfaultfd: wp: support swap and page migration: the device-private
    # branch of remove_migration_pte() (line 254) carries uffd-wp into the entry made by
    # swp_entry_to_pte() and not soft-dirty: info (device memory), the line Ralph
    # Campbell's fix below changed.  copy_one_pte() and change_pte_range() re-make the
    # device-private entry read-only in place, where soft-dirty is not kept on purpose.
    assert _hits(FIX / "uffd-wp-swap-migration-v6.eml") == [("mm/migrate.c", 254, "info", "low")]


def test_the_fix_that_carries_soft_dirty_in_that_branch_is_quiet():
    # [PATCH 2/2] mm/migrate: preserve soft dirty in remove_migration_pte()
    assert _hits(FIX / "remove-migration-pte-soft-dirty-fix.eml") == []


def test_soft_dirty_set_with_the_present_accessor_on_a_swap_entry_is_reported():
    # [HMM v16 10/15]: "pte = swp_entry_to_pte(entry); if (pte_swp_soft_dirty(*ptep))
    # pte = pte_mksoft_dirty(pte);" (line 257); the 2017 posting predates uffd-wp, so the
    # soft-dirty-only carry in try_to_unmap_one() is not a dropped uffd-wp bit
    assert _hits(FIX / "hmm-v16-device-migration.eml") == [
        ("mm/migrate.c", 257, "warning", "high")]


# the swap-out of "[RFC PATCH 2/4] fbmm: Add helper functions for FBMM MM Filesystems"
# (20241122203830.2381905-3-btabatabai@wisc.edu), mm/fbmm_helpers.c, as posted
FBMM = """
static bool fbmm_try_to_unmap_one(struct folio *folio, struct vm_area_struct *vma,
				unsigned long address, void *arg)
{
	struct mm_struct *mm = vma->vm_mm;
	DEFINE_FOLIO_VMA_WALK(pvmw, folio, vma, address, 0);
	pte_t pteval, swp_pte;
	swp_entry_t entry;
	struct page *page;
	bool ret = true;

	while (page_vma_mapped_walk(&pvmw)) {
		page = folio_page(folio, pte_pfn(*pvmw.pte) - folio_pfn(folio));
		address = pvmw.address;

		pteval = ptep_clear_flush(vma, address, pvmw.pte);

		if (pte_dirty(pteval))
			folio_mark_dirty(folio);

		entry.val = page_private(page);

		if (swap_duplicate(entry) < 0) {
			set_pte_at(mm, address, pvmw.pte, pteval);
			ret = false;
			page_vma_mapped_walk_done(&pvmw);
			break;
		}

		dec_mm_counter(mm, MM_FILEPAGES);
		inc_mm_counter(mm, MM_SWAPENTS);
		swp_pte = swp_entry_to_pte(entry);
		if (pte_soft_dirty(pteval))
			swp_pte = pte_swp_mksoft_dirty(swp_pte);

		set_pte_at(mm, address, pvmw.pte, swp_pte);

		folio_remove_rmap_pte(folio, page, vma);
		folio_put(folio);
	}
	return ret;
}
"""


def test_a_swap_out_that_carries_soft_dirty_and_not_uffd_wp_is_reported(tmp_path):
    line = _line_of(FBMM, "swp_pte = pte_swp_mksoft_dirty(swp_pte)")
    # dated after uffd-wp was merged, with no uffd-wp accessor in the patch: medium
    assert _on(tmp_path, _mail(_new_function("mm/fbmm_helpers.c", FBMM),
                               date="Fri, 22 Nov 2024 14:38:28 -0600")) == [
        ("mm/fbmm_helpers.c", line, "warning", "medium")]


def test_the_release_decides_whether_uffd_wp_exists(tmp_path):
    diff = _new_function("mm/fbmm_helpers.c", FBMM)
    # before 5.7 there is no uffd-wp bit to carry
    assert _on(tmp_path, _mail(diff, date="Thu, 12 Jan 2017 11:30:37 -0500")) == []
    # a backport to a stable release without uffd-wp
    assert _on(tmp_path, _mail(diff, subject="[PATCH 5.4 07/30] mm: demo")) == []
    # a patch that shows a uffd-wp accessor applies to a kernel that has them
    other = _new_function("mm/other.c", "static bool demo_other(pte_t pte)\n{\n"
                          "\treturn pte_swp_uffd_wp(pte);\n}")
    line = _line_of(FBMM, "swp_pte = pte_swp_mksoft_dirty(swp_pte)")
    assert _on(tmp_path, _mail(diff + other, date="Thu, 12 Jan 2017 11:30:37 -0500")) == [
        ("mm/fbmm_helpers.c", line, "warning", "high")]


def test_the_fixed_swap_out_is_quiet(tmp_path):
    fixed = FBMM.replace(
        "\t\t\tswp_pte = pte_swp_mksoft_dirty(swp_pte);\n",
        "\t\t\tswp_pte = pte_swp_mksoft_dirty(swp_pte);\n"
        "\t\tif (pte_uffd_wp(pteval))\n\t\t\tswp_pte = pte_swp_mkuffd_wp(swp_pte);\n")
    assert fixed != FBMM
    assert _on(tmp_path, _mail(_new_function("mm/fbmm_helpers.c", fixed))) == []


# a fragment of "[PATCH v2 13/15] mm: support GUP-triggered unsharing of anonymous pages"
# (20220315104741.63071-14-david@redhat.com): wp_page_copy() carrying both bits
UNSHARE = """\
--- a/mm/memory.c
+++ b/mm/memory.c
@@ -3033,7 +3035,14 @@ static vm_fault_t wp_page_copy(struct vm_fault *vmf)
 		flush_cache_page(vma, vmf->address, pte_pfn(vmf->orig_pte));
 		entry = mk_pte(new_page, vma->vm_page_prot);
 		entry = pte_sw_mkyoung(entry);
-		entry = maybe_mkwrite(pte_mkdirty(entry), vma);
+		if (unlikely(unshare)) {
+			if (pte_soft_dirty(vmf->orig_pte))
+				entry = pte_mksoft_dirty(entry);
+			if (pte_uffd_wp(vmf->orig_pte))
+				entry = pte_mkuffd_wp(entry);
+		} else {
+			entry = maybe_mkwrite(pte_mkdirty(entry), vma);
+		}
 
 		/*
 		 * Clear the pte entry and flush it first, before updating the
"""

# "[PATCH v2 2/2] mm/rmap: Fixup copying of soft dirty and uffd ptes"
# (20200825064232.10023-2-alistair@popple.id.au)
ALISTAIR = """\
--- a/mm/migrate.c
+++ b/mm/migrate.c
@@ -2427,10 +2427,17 @@ static int migrate_vma_collect_pmd(pmd_t *pmdp,
 			entry = make_migration_entry(page, mpfn &
 						     MIGRATE_PFN_WRITE);
 			swp_pte = swp_entry_to_pte(entry);
-			if (pte_soft_dirty(pte))
-				swp_pte = pte_swp_mksoft_dirty(swp_pte);
-			if (pte_uffd_wp(pte))
-				swp_pte = pte_swp_mkuffd_wp(swp_pte);
+			if (pte_present(pte)) {
+				if (pte_soft_dirty(pte))
+					swp_pte = pte_swp_mksoft_dirty(swp_pte);
+				if (pte_uffd_wp(pte))
+					swp_pte = pte_swp_mkuffd_wp(swp_pte);
+			} else {
+				if (pte_swp_soft_dirty(pte))
+					swp_pte = pte_swp_mksoft_dirty(swp_pte);
+				if (pte_swp_uffd_wp(pte))
+					swp_pte = pte_swp_mkuffd_wp(swp_pte);
+			}
 			set_pte_at(mm, addr, ptep, swp_pte);
 
 			/*
"""


@pytest.mark.parametrize("diff", [UNSHARE, ALISTAIR], ids=["unshare", "rmap-fixup"])
def test_real_conversions_carrying_both_bits_are_quiet(tmp_path, diff):
    assert _on(tmp_path, _mail(diff)) == []


# -- the shapes of the conversions ------------------------------------------------------------

PMD_MIGRATION = """
static void demo_set_pmd_migration(struct demo_walk *w, struct page *page)
{
	pmd_t pmdval, pmdswp;
	swp_entry_t entry;

	pmdval = pmdp_invalidate(w->vma, w->address, w->pmd);
	if (pmd_write(pmdval))
		entry = make_writable_migration_entry(page_to_pfn(page));
	else
		entry = make_readable_migration_entry(page_to_pfn(page));
	pmdswp = swp_entry_to_pmd(entry);
	if (pmd_soft_dirty(pmdval))
		pmdswp = pmd_swp_mksoft_dirty(pmdswp);
	set_pmd_at(w->vma->vm_mm, w->address, w->pmd, pmdswp);
}
"""


def test_a_pmd_migration_entry_without_uffd_wp_is_reported(tmp_path):
    line = _line_of(PMD_MIGRATION, "pmd_swp_mksoft_dirty")
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", PMD_MIGRATION))) == [
        ("mm/huge_memory.c", line, "warning", "medium")]


def test_renaming_the_locals_and_parameters_changes_nothing(tmp_path):
    renamed = PMD_MIGRATION
    for old, new in (("pmdval", "q1"), ("pmdswp", "zz"), ("entry", "e7"), ("w", "x9"),
                     ("page", "pg"), ("demo_set_pmd_migration", "f0")):
        renamed = re.sub(rf"\b{old}\b", new, renamed)
    assert renamed != PMD_MIGRATION
    line = _line_of(renamed, "pmd_swp_mksoft_dirty")
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", renamed))) == [
        ("mm/huge_memory.c", line, "warning", "medium")]


RESTORE_PMD = """
static void demo_remove_pmd(struct demo_walk *w, struct page *new)
{
	pmd_t pmde;

	pmde = pmd_mkold(mk_huge_pmd(new, w->vma->vm_page_prot));
	if (pmd_swp_uffd_wp(*w->pmd))
		pmde = pmd_wrprotect(pmd_mkuffd_wp(pmde));
	set_pmd_at(w->vma->vm_mm, w->address, w->pmd, pmde);
}
"""


def test_a_restored_pmd_carrying_uffd_wp_and_not_soft_dirty_is_reported(tmp_path):
    line = _line_of(RESTORE_PMD, "pmd_mkuffd_wp")
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", RESTORE_PMD))) == [
        ("mm/huge_memory.c", line, "warning", "high")]
    both = RESTORE_PMD.replace(
        "\tif (pmd_swp_uffd_wp", "\tif (pmd_swp_soft_dirty(*w->pmd))\n"
        "\t\tpmde = pmd_mksoft_dirty(pmde);\n\tif (pmd_swp_uffd_wp")
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", both))) == []


SPLIT = """
static void demo_split(struct vm_area_struct *vma, pmd_t *pmd, pmd_t *table, bool migration,
		       unsigned long haddr, struct page *page)
{
	pmd_t old_pmd = *pmd;
	bool soft_dirty, uffd_wp = false;
	unsigned long addr;
	int i;

	if (migration) {
		soft_dirty = pmd_swp_soft_dirty(old_pmd);
	} else {
		soft_dirty = pmd_soft_dirty(old_pmd);
		uffd_wp = pmd_uffd_wp(old_pmd);
	}
	for (i = 0, addr = haddr; i < HPAGE_PMD_NR; i++, addr += PAGE_SIZE) {
		pte_t entry, *pte;

		if (migration) {
			swp_entry_t swp_entry;

			swp_entry = make_readable_migration_entry(page_to_pfn(page + i));
			entry = swp_entry_to_pte(swp_entry);
			if (soft_dirty)
				entry = pte_swp_mksoft_dirty(entry);
		} else {
			entry = mk_pte(page + i, READ_ONCE(vma->vm_page_prot));
			if (soft_dirty)
				entry = pte_mksoft_dirty(entry);
			if (uffd_wp)
				entry = pte_mkuffd_wp(entry);
		}
		pte = pte_offset_map(table, addr);
		set_pte_at(vma->vm_mm, addr, pte, entry);
		pte_unmap(pte);
	}
}
"""


def test_a_split_carrying_through_locals_is_judged_per_branch(tmp_path):
    # the migration branch carries soft-dirty alone; the present branch carries both
    line = _line_of(SPLIT, "pte_swp_mksoft_dirty")
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", SPLIT))) == [
        ("mm/huge_memory.c", line, "warning", "high")]
    fixed = SPLIT.replace(
        "\t\tsoft_dirty = pmd_swp_soft_dirty(old_pmd);\n",
        "\t\tsoft_dirty = pmd_swp_soft_dirty(old_pmd);\n\t\tuffd_wp = pmd_swp_uffd_wp(old_pmd);\n"
    ).replace("\t\t\t\tentry = pte_swp_mksoft_dirty(entry);\n",
              "\t\t\t\tentry = pte_swp_mksoft_dirty(entry);\n\t\t\tif (uffd_wp)\n"
              "\t\t\t\tentry = pte_swp_mkuffd_wp(entry);\n")
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", fixed))) == []


SWAPIN = """
static void demo_swapin(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep,
			pte_t orig, struct page *page)
{
	pte_t pte = mk_pte(page, vma->vm_page_prot);

	if (pte_swp_soft_dirty(orig))
		pte = pte_mksoft_dirty(pte);
	HELPER
	set_pte_at(vma->vm_mm, addr, ptep, pte);
}
"""


def test_a_helper_given_both_entries_may_carry_the_other_bit(tmp_path):
    both = SWAPIN.replace("HELPER", "pte = demo_carry(pte, orig);")
    assert _on(tmp_path, _mail(_new_function("mm/memory.c", both))) == []
    # one given only the new entry cannot know the old one's bit
    one = SWAPIN.replace("HELPER", "pte = demo_carry(pte, vma);")
    line = _line_of(one, "pte_mksoft_dirty")
    assert _on(tmp_path, _mail(_new_function("mm/memory.c", one))) == [
        ("mm/memory.c", line, "warning", "medium")]


def test_a_value_read_back_from_the_table_keeps_its_bits(tmp_path):
    moved = """
static void demo_move(struct mm_struct *mm, unsigned long addr, pte_t *old_ptep, pte_t *new_ptep)
{
	pte_t pte = ptep_get_and_clear(mm, addr, old_ptep);

	if (pte_soft_dirty(pte))
		pte = pte_mksoft_dirty(pte);
	set_pte_at(mm, addr, new_ptep, pte);
}
"""
    assert _on(tmp_path, _mail(_new_function("mm/mremap.c", moved))) == []


def test_hugetlb_entries_carry_uffd_wp_alone(tmp_path):
    huge = """
static void demo_huge(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep,
		      struct page *page)
{
	pte_t old = huge_ptep_get(ptep);
	pte_t pte = make_huge_pte(vma, page, 0);

	if (pte_swp_uffd_wp(old))
		pte = huge_pte_mkuffd_wp(pte);
	set_huge_pte_at(vma->vm_mm, addr, ptep, pte);
}
"""
    assert _on(tmp_path, _mail(_new_function("mm/hugetlb.c", huge))) == []


def test_the_zero_page_keeps_no_soft_dirty_of_its_own(tmp_path):
    zero = """
static void demo_zero(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep, pmd_t old)
{
	pte_t entry = pte_mkspecial(pfn_pte(my_zero_pfn(addr), vma->vm_page_prot));

	if (pmd_uffd_wp(old))
		entry = pte_mkuffd_wp(entry);
	set_pte_at(vma->vm_mm, addr, ptep, entry);
}
"""
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", zero))) == []


def test_only_added_carries_are_looked_at(tmp_path):
    diff = """\
--- a/mm/rmap.c
+++ b/mm/rmap.c
@@ -1460,4 +1460,5 @@ static bool demo_unmap_one(struct page *page, struct vm_area_struct *vma)
 			swp_pte = swp_entry_to_pte(entry);
 			if (pte_soft_dirty(pteval))
 				swp_pte = pte_swp_mksoft_dirty(swp_pte);
+			count++;
 			set_pte_at(mm, address, pvmw.pte, swp_pte);
"""
    assert _on(tmp_path, _mail(diff)) == []


def test_a_chain_the_hunk_does_not_close_is_info(tmp_path):
    # no install of the value in view after the carry: the other bit may be set below
    diff = """\
--- a/mm/rmap.c
+++ b/mm/rmap.c
@@ -1460,2 +1460,4 @@ static bool demo_unmap_one(struct page *page, struct vm_area_struct *vma)
 			entry = make_readable_migration_entry(page_to_pfn(page));
 			swp_pte = swp_entry_to_pte(entry);
+			if (pte_soft_dirty(pteval))
+				swp_pte = pte_swp_mksoft_dirty(swp_pte);
"""
    assert _on(tmp_path, _mail(diff)) == [("mm/rmap.c", 1463, "info", "low")]


def test_a_rebuild_on_some_paths_only_is_not_a_rebuild(tmp_path):
    # on the other path the value is the entry read back, which keeps its uffd-wp bit
    some = """
static void demo_some(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep,
		      struct page *page, bool fresh, pte_t old)
{
	pte_t pte = ptep_get(ptep);

	if (fresh)
		pte = mk_pte(page, vma->vm_page_prot);
	if (pte_soft_dirty(old))
		pte = pte_mksoft_dirty(pte);
	set_pte_at(vma->vm_mm, addr, ptep, pte);
}
"""
    assert _on(tmp_path, _mail(_new_function("mm/memory.c", some))) == []


def test_the_other_bit_carried_after_both_arms_counts(tmp_path):
    arms = """
static void demo_arms(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep,
		      struct page *page, swp_entry_t swp, bool migration, pmd_t old)
{
	pte_t entry;

	if (migration) {
		entry = swp_entry_to_pte(swp);
		if (pmd_swp_soft_dirty(old))
			entry = pte_swp_mksoft_dirty(entry);
	} else {
		entry = mk_pte(page, vma->vm_page_prot);
		if (pmd_soft_dirty(old))
			entry = pte_mksoft_dirty(entry);
	}
	if (demo_wp(old))
		entry = migration ? pte_swp_mkuffd_wp(entry) : pte_mkuffd_wp(entry);
	set_pte_at(vma->vm_mm, addr, ptep, entry);
}
"""
    assert _on(tmp_path, _mail(_new_function("mm/huge_memory.c", arms))) == []


def test_a_set_whose_result_is_only_tested_changes_no_entry(tmp_path):
    # the shape of mm/debug_vm_pgtable.c: accessors of either form applied on purpose
    selftest = """
static void __init demo_swap_soft_dirty_tests(unsigned long pfn, pgprot_t prot)
{
	pte_t pte = pfn_pte(pfn, prot);

	WARN_ON(!pte_swp_soft_dirty(pte_swp_mksoft_dirty(pte)));
}
"""
    assert _on(tmp_path, _mail(_new_function("mm/debug_vm_pgtable.c", selftest))) == []


FORK_DEVICE = """
static void demo_copy_device(struct mm_struct *dst_mm, struct mm_struct *src_mm,
			     pte_t *dst_pte, pte_t *src_pte, unsigned long addr, swp_entry_t entry)
{
	pte_t pte = *src_pte;

	entry = make_readable_device_private_entry(swp_offset(entry));
	pte = swp_entry_to_pte(entry);
	if (pte_swp_uffd_wp(*src_pte))
		pte = pte_swp_mkuffd_wp(pte);
	set_pte_at(src_mm, addr, src_pte, pte);
	set_pte_at(dst_mm, addr, dst_pte, pte);
}
"""


def test_device_private_entries_without_soft_dirty(tmp_path):
    # fork's (and mprotect's) read-only copy of a device-private entry, re-made from its
    # own offset, keeps no soft-dirty on purpose (6.1's copy_nonpresent_pte() says so)
    assert _on(tmp_path, _mail(_new_function("mm/memory.c", FORK_DEVICE))) == []
    # a page made device-private (a migration entry restored) without it is info
    restore = FORK_DEVICE.replace("swp_offset(entry)", "page_to_pfn(page)").replace(
        "swp_entry_t entry)", "swp_entry_t entry, struct page *page)")
    line = _line_of(restore, "pte_swp_mkuffd_wp")
    assert _on(tmp_path, _mail(_new_function("mm/memory.c", restore))) == [
        ("mm/memory.c", line, "info", "low")]


COLLECT = """
static int demo_collect(struct demo_walk *w, pte_t *ptep, unsigned long addr, struct page *page)
{
	pte_t pte = *ptep;
	pte_t swp_pte;
	swp_entry_t entry;

	if (pte_none(pte))
		return 0;
	if (!pte_present(pte)) {
		entry = pte_to_swp_entry(pte);
		if (!is_device_private_entry(entry))
			return 0;
	} else {
		demo_count(w, pte);
	}
	entry = make_readable_migration_entry(page_to_pfn(page));
	swp_pte = swp_entry_to_pte(entry);
	if (pte_soft_dirty(pte))
		swp_pte = pte_swp_mksoft_dirty(swp_pte);
	if (pte_uffd_wp(pte))
		swp_pte = pte_swp_mkuffd_wp(swp_pte);
	set_pte_at(w->mm, addr, ptep, swp_pte);
	return 1;
}
"""


def test_the_old_entry_tested_with_the_present_accessor_where_it_can_be_a_swap_entry(tmp_path):
    # the shape Alistair Popple's "mm/rmap: Fixup copying of soft dirty and uffd ptes"
    # fixed in migrate_vma_collect_pmd(): a device-private (swap) pte reaches the tests
    first = _line_of(COLLECT, "if (pte_soft_dirty(pte))")
    second = _line_of(COLLECT, "if (pte_uffd_wp(pte))")
    assert _on(tmp_path, _mail(_new_function("mm/migrate.c", COLLECT))) == [
        ("mm/migrate.c", first, "warning", "high"), ("mm/migrate.c", second, "warning", "high")]
    # a branch that leaves lets only present ptes through
    leaves = COLLECT.replace("\t\tif (!is_device_private_entry(entry))\n\t\t\treturn 0;\n",
                             "\t\treturn 0;\n")
    assert _on(tmp_path, _mail(_new_function("mm/migrate.c", leaves))) == []
