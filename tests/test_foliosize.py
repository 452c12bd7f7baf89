"""mm/large-folio-assumed-pmd and mm/fault-result-type-mixed: which line fires,
on real postings and on variants of them, and what stays silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit import api

from conftest import REPO

FIX = REPO / "tests" / "fixtures" / "foliosize"
PMD = "mm/large-folio-assumed-pmd"
FAULT = "mm/fault-result-type-mixed"


def findings(path: Path, rule: str):
    rep = api.review(str(path), api.Options(select=(rule,)))
    return [(f.path, f.line, str(f.severity), str(f.confidence))
            for f in rep.findings if f.rule == rule]


def patch(tmp_path: Path, body: str, name: str = "demo.c",
          date: str = "Mon, 1 Jul 2024 00:00:00 +0000", context: str = "",
          section: str = "") -> Path:
    """A one-hunk patch adding ``body`` (after unchanged ``context`` lines)."""
    ctx_lines = context.strip("\n").split("\n") if context else []
    lines = body.strip("\n").split("\n")
    diff = "\n".join([" " + ln for ln in ctx_lines] + ["+" + ln for ln in lines])
    text = (
        "From: A <a@example.org>\n"
        "Subject: [PATCH] mm: demo\n"
        f"Date: {date}\n"
        "Message-ID: <demo@example.org>\n\n"
        "demo\n\nSigned-off-by: A <a@example.org>\n---\n"
        f"diff --git a/mm/{name} b/mm/{name}\n"
        f"--- a/mm/{name}\n+++ b/mm/{name}\n"
        f"@@ -10,{len(ctx_lines)} +10,{len(ctx_lines) + len(lines)} @@{section}\n{diff}\n"
    )
    p = tmp_path / "demo.eml"
    p.write_text(text)
    return p


def line_of(body: str, needle: str, first: int = 10) -> int:
    return first + next(i for i, ln in enumerate(body.strip("\n").split("\n")) if needle in ln)


# -- mm/large-folio-assumed-pmd: real postings --------------------------------------------

def test_the_swpout_event_counted_for_any_large_folio_fires():
    # [PATCH 5/6] mm/page_io: convert count_swpout_vm_event() to take in a folio
    # (July 2023): PageTransHuge() became folio_test_large() over THP_SWPOUT;
    # Matthew Wilcox asked for folio_test_pmd_mappable()
    got = findings(FIX / "page-io-swpout-event-large.eml", PMD)
    assert got == [("mm/page_io.c", 215, "warning", "medium")]


def test_the_nr_file_thps_fix_is_quiet():
    assert findings(FIX / "split-nr-file-thps-pmd-mappable-fix.eml", PMD) == []


# -- variants -------------------------------------------------------------------------------

COUNT = """
static unsigned long demo_count(struct list_head *list)
{
	struct folio *folio;
	unsigned long nr = 0;

	list_for_each_entry(folio, list, lru) {
		if (folio_test_large(folio))
			nr += HPAGE_PMD_NR;
		else
			nr++;
	}
	return nr;
}
"""


def test_a_counter_of_pmd_pages_for_a_large_folio_fires(tmp_path):
    assert findings(patch(tmp_path, COUNT), PMD) == [
        ("mm/demo.c", line_of(COUNT, "nr += HPAGE_PMD_NR"), "warning", "medium")]


def test_names_do_not_matter(tmp_path):
    body = (COUNT.replace("folio,", "f,").replace("(folio)", "(f)")
            .replace("nr", "total").replace("demo_count", "tally_things"))
    assert "folio_test_large(f)" in body
    assert findings(patch(tmp_path, body), PMD) == [
        ("mm/demo.c", line_of(body, "+= HPAGE_PMD_NR"), "warning", "medium")]


LOOP = """
static void demo_clear(struct folio *folio, unsigned long addr)
{
	int i;

	if (folio_order(folio) > 0) {
		unsigned long haddr = ALIGN_DOWN(addr, HPAGE_PMD_SIZE);

		for (i = 0; i < HPAGE_PMD_NR; i++)
			demo_clear_one(folio_page(folio, i), haddr + i * PAGE_SIZE);
		return;
	}
	demo_clear_one(&folio->page, addr);
}
"""


def test_an_order_test_with_an_alignment_and_a_loop_bound_fires(tmp_path):
    got = findings(patch(tmp_path, LOOP), PMD)
    assert got == [("mm/demo.c", line_of(LOOP, "ALIGN_DOWN"), "warning", "medium"),
                   ("mm/demo.c", line_of(LOOP, "i < HPAGE_PMD_NR"), "warning", "medium")]


def test_a_local_and_an_early_return_carry_the_largeness_test(tmp_path):
    body = """
static int demo_pages(struct folio *folio)
{
	long nr = folio_nr_pages(folio);

	if (nr == 1)
		return 1;
	return HPAGE_PMD_NR;
}
"""
    assert findings(patch(tmp_path, body), PMD) == [
        ("mm/demo.c", line_of(body, "return HPAGE_PMD_NR"), "warning", "medium")]


@pytest.mark.parametrize("fix", [
    ("if (folio_test_large(folio))", "if (folio_test_pmd_mappable(folio))"),
    ("nr += HPAGE_PMD_NR;", "nr += folio_nr_pages(folio);"),
    ("if (folio_test_large(folio))",
     "if (folio_test_large(folio) && folio_order(folio) == HPAGE_PMD_ORDER)"),
    ("nr += HPAGE_PMD_NR;", "nr += min(folio_nr_pages(folio), HPAGE_PMD_NR);"),
    ("if (folio_test_large(folio))", "if (folio_test_hugetlb(folio))"),
])
def test_a_pmd_test_or_the_folio_size_is_quiet(tmp_path, fix):
    body = COUNT.replace(*fix)
    assert body != COUNT
    assert findings(patch(tmp_path, body), PMD) == []


def test_a_comparison_with_the_pmd_size_is_the_pmd_test(tmp_path):
    body = """
static bool demo_is_thp(struct folio *folio)
{
	if (!folio_test_large(folio))
		return false;
	return folio_nr_pages(folio) == HPAGE_PMD_NR;
}
"""
    assert findings(patch(tmp_path, body), PMD) == []


def test_pmd_level_code_is_quiet(tmp_path):
    body = """
static void demo_zap_pmd(struct mm_struct *mm, pmd_t *pmd, struct folio *folio)
{
	if (pmd_trans_huge(*pmd) && folio_test_large(folio))
		add_mm_counter(mm, MM_ANONPAGES, -HPAGE_PMD_NR);
}
"""
    assert findings(patch(tmp_path, body), PMD) == []
    installs = """
static void demo_map_pmd(struct mm_struct *mm, pmd_t *pmd, unsigned long addr,
			 struct folio *folio, pmd_t entry)
{
	if (folio_test_large(folio))
		add_mm_counter(mm, MM_FILEPAGES, HPAGE_PMD_NR);
	set_pmd_at(mm, addr, pmd, entry);
}
"""
    assert findings(patch(tmp_path, installs), PMD) == []


def test_a_use_the_patch_does_not_change_stays_quiet(tmp_path):
    # the guard and the use are context: only added code triggers
    ctx = COUNT.strip("\n").split("\n")
    p = patch(tmp_path, "\t/* demo */", context="\n".join(ctx[:9]))
    assert findings(p, PMD) == []


def test_a_function_shown_in_part_is_low_confidence(tmp_path):
    body = """
	if (folio_test_large(folio))
		nr += HPAGE_PMD_NR;
"""
    p = patch(tmp_path, body, context="static void demo(struct folio *folio)\n{\n\tif (x) {")
    assert findings(p, PMD) == [("mm/demo.c", 14, "warning", "low")]
    # inside a block whose test the hunk does not show: info
    p = patch(tmp_path, "\t" + body.strip("\n").replace("\n", "\n\t"),
              context="\t\tfoo();", section=" static void demo(struct folio *folio)")
    assert findings(p, PMD) == [("mm/demo.c", 12, "info", "low")]


# -- release awareness ---------------------------------------------------------------------

def test_before_large_page_cache_folios_every_large_folio_was_pmd_sized(tmp_path):
    p = patch(tmp_path, COUNT, date="Mon, 1 Nov 2021 00:00:00 +0000")
    assert findings(p, PMD) == []


ANON = """
static void demo_swap_fallback(struct folio *folio)
{
	if (!folio_test_anon(folio))
		return;
	if (folio_test_large(folio))
		count_vm_event(THP_SWPOUT_FALLBACK);
}
"""


MTHP_ERA = """
static void demo_unmap(struct folio *folio, struct page *page, int nr,
		       struct vm_area_struct *vma)
{
	folio_remove_rmap_ptes(folio, page, nr, vma);
}
"""


def test_an_anonymous_folio_was_pmd_sized_until_mthp(tmp_path):
    early = patch(tmp_path, ANON + MTHP_ERA, date="Thu, 1 Jun 2023 00:00:00 +0000")
    assert findings(early, PMD) == []
    late = patch(tmp_path, ANON + MTHP_ERA, date="Mon, 1 Jul 2024 00:00:00 +0000")
    assert findings(late, PMD) == [
        ("mm/demo.c", line_of(ANON, "THP_SWPOUT_FALLBACK"), "warning", "medium")]
    # the hunks alone say nothing of the kernel the file is written for
    hunks = patch(tmp_path, ANON, date="Mon, 1 Jul 2024 00:00:00 +0000")
    assert findings(hunks, PMD) == [
        ("mm/demo.c", line_of(ANON, "THP_SWPOUT_FALLBACK"), "warning", "medium")]


def _review_added_file(tmp_path: Path, text: str):
    """Review a commit that adds ``text`` as mm/demo.c (the patch shows the file whole)."""
    import subprocess

    repo = tmp_path / "repo"
    (repo / "mm").mkdir(parents=True)

    def git(*a: str) -> None:
        subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.org", *a],
                       cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "base")
    (repo / "mm" / "demo.c").write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", "mm: demo\n\nSigned-off-by: A <a@example.org>")
    rep = api.review("HEAD", api.Options(cwd=repo, select=(PMD,)))
    return [(f.path, f.line, str(f.severity)) for f in rep.findings if f.rule == PMD]


def test_a_whole_file_without_mthp_era_api_is_written_for_an_older_kernel(tmp_path):
    # seen whole, a file that uses no API of 6.8 or later is written for a kernel
    # whose anonymous large folios are all PMD-sized (a backport, a stable tree)
    assert _review_added_file(tmp_path, ANON.lstrip("\n")) == []
    got = _review_added_file(tmp_path / "b", (ANON + MTHP_ERA).lstrip("\n"))
    assert got == [("mm/demo.c", line_of(ANON, "THP_SWPOUT_FALLBACK", first=1), "warning")]


def test_a_file_folio_was_not_pmd_sized_in_2023(tmp_path):
    body = ANON.replace("!folio_test_anon(folio)", "folio_test_anon(folio)")
    p = patch(tmp_path, body, date="Thu, 1 Jun 2023 00:00:00 +0000")
    assert findings(p, PMD) == [
        ("mm/demo.c", line_of(body, "THP_SWPOUT_FALLBACK"), "warning", "medium")]


# -- mm/fault-result-type-mixed: real postings -------------------------------------------

def test_the_uio_fault_handler_returning_an_errno_fires():
    # [PATCH] uio: Replace mutex info_lock with percpu_ref to improve performance
    # (February 2022): uio_vma_fault() gained `return -EINVAL;`; the kernel test
    # robot's sparse report flagged drivers/uio/uio.c:699
    got = findings(FIX / "uio-vma-fault-errno.eml", FAULT)
    # the function is shown in part (hunks), so medium; its signature is in view
    assert got == [("drivers/uio/uio.c", 699, "warning", "medium")]


def test_the_uio_v2_returning_sigbus_is_quiet():
    assert findings(FIX / "uio-vma-fault-sigbus-v2.eml", FAULT) == []


# -- variants -------------------------------------------------------------------------------

HANDLER = """
static vm_fault_t demo_fault(struct vm_fault *vmf)
{
	struct page *page;
	int err;

	err = demo_get_page(vmf, &page);
	if (err)
		return -ENOMEM;
	vmf->page = page;
	return VM_FAULT_LOCKED;
}
"""


def test_a_vm_fault_t_handler_returning_an_errno_fires(tmp_path):
    assert findings(patch(tmp_path, HANDLER, name="demo.c"), FAULT) == [
        ("mm/demo.c", line_of(HANDLER, "return -ENOMEM"), "warning", "high")]


def test_names_do_not_matter_for_fault_results(tmp_path):
    body = (HANDLER.replace("demo_fault", "xyz_handler").replace("err", "status")
            .replace("demo_get_page", "grab_it").replace("page", "pg"))
    assert findings(patch(tmp_path, body), FAULT) == [
        ("mm/demo.c", line_of(body, "return -ENOMEM"), "warning", "high")]


@pytest.mark.parametrize("fix", ["return vmf_error(err);", "return VM_FAULT_OOM;"])
def test_a_converted_errno_is_quiet(tmp_path, fix):
    body = HANDLER.replace("return -ENOMEM;", fix)
    assert findings(patch(tmp_path, body), FAULT) == []


def test_an_errno_in_a_variable_reaches_the_return(tmp_path):
    body = """
static vm_fault_t demo_fault(struct vm_fault *vmf)
{
	vm_fault_t ret = VM_FAULT_NOPAGE;

	if (!demo_ready(vmf))
		ret = PTR_ERR(demo_page(vmf));
	return ret;
}
"""
    assert findings(patch(tmp_path, body), FAULT) == [
        ("mm/demo.c", line_of(body, "ret = PTR_ERR"), "warning", "high")]


def test_an_errno_overwritten_before_the_return_is_quiet(tmp_path):
    body = """
static vm_fault_t demo_fault(struct vm_fault *vmf)
{
	int ret;

	ret = demo_copy(vmf);
	if (ret == -EAGAIN)
		ret = -EINTR;
	if (ret)
		ret = VM_FAULT_SIGBUS;
	else
		ret = VM_FAULT_NOPAGE;
	return ret;
}
"""
    assert findings(patch(tmp_path, body), FAULT) == []


def test_an_int_helper_returning_a_fault_code_fires(tmp_path):
    body = """
static int demo_map(struct vm_fault *vmf)
{
	if (!vmf->page)
		return VM_FAULT_SIGBUS;
	return 0;
}
"""
    assert findings(patch(tmp_path, body), FAULT) == [
        ("mm/demo.c", line_of(body, "VM_FAULT_SIGBUS"), "warning", "high")]
    # before vm_fault_t (and its conversions, 5.1) fault handlers were int
    old = patch(tmp_path, body, date="Mon, 2 Jul 2018 00:00:00 +0000")
    assert findings(old, FAULT) == []


@pytest.mark.parametrize("test", ["ret < 0", "IS_ERR_VALUE(ret)", "ret == -EFAULT"])
def test_a_fault_result_tested_as_an_errno_fires(tmp_path, test):
    body = f"""
static int demo_fixup(struct vm_area_struct *vma, unsigned long addr)
{{
	int ret = handle_mm_fault(vma, addr, FAULT_FLAG_WRITE, NULL);

	if ({test})
		return -EFAULT;
	return 0;
}}
"""
    assert findings(patch(tmp_path, body), FAULT) == [
        ("mm/demo.c", line_of(body, f"if ({test})"), "warning", "high")]


def test_a_result_of_a_function_the_patch_declares_vm_fault_t(tmp_path):
    body = """
static vm_fault_t demo_insert(struct vm_fault *vmf)
{
	return vmf_insert_pfn(vmf->vma, vmf->address, 0);
}

static int demo_prefault(struct vm_fault *vmf)
{
	if (demo_insert(vmf) < 0)
		return -EFAULT;
	return 0;
}
"""
    assert findings(patch(tmp_path, body), FAULT) == [
        ("mm/demo.c", line_of(body, "demo_insert(vmf) < 0"), "warning", "high")]


def test_a_reused_variable_holding_an_errno_at_the_test_is_quiet(tmp_path):
    body = """
static int demo_fixup(struct vm_area_struct *vma, unsigned long addr)
{
	int ret = handle_mm_fault(vma, addr, FAULT_FLAG_WRITE, NULL);

	if (ret & VM_FAULT_ERROR)
		return -EFAULT;
	ret = demo_after(vma);
	if (ret < 0)
		return ret;
	return 0;
}
"""
    assert findings(patch(tmp_path, body), FAULT) == []


def test_an_unchanged_errno_return_stays_quiet(tmp_path):
    ctx = HANDLER.strip("\n").split("\n")
    p = patch(tmp_path, "\t/* demo */", context="\n".join(ctx[:9]))
    assert findings(p, FAULT) == []


def test_a_return_type_changed_to_vm_fault_t_makes_the_old_errno_return_wrong(tmp_path):
    text = (
        "From: A <a@example.org>\nSubject: [PATCH] mm: demo\n"
        "Date: Mon, 1 Jul 2024 00:00:00 +0000\nMessage-ID: <demo@example.org>\n\n"
        "demo\n\nSigned-off-by: A <a@example.org>\n---\n"
        "diff --git a/mm/demo.c b/mm/demo.c\n--- a/mm/demo.c\n+++ b/mm/demo.c\n"
        "@@ -10,6 +10,6 @@\n"
        "-static int demo_fault(struct vm_fault *vmf)\n"
        "+static vm_fault_t demo_fault(struct vm_fault *vmf)\n"
        " {\n"
        " \tif (!vmf->page)\n"
        " \t\treturn -EFAULT;\n"
        " \treturn 0;\n"
        " }\n")
    p = tmp_path / "conv.eml"
    p.write_text(text)
    assert findings(p, FAULT) == [("mm/demo.c", 13, "warning", "high")]


def test_a_pmd_size_in_a_condition_is_a_test(tmp_path):
    body = """
static bool demo_can_map_pmd(struct folio *folio, unsigned long addr)
{
	if (folio_test_large(folio)) {
		if (IS_ALIGNED(addr, HPAGE_PMD_SIZE))
			return true;
	}
	return false;
}
"""
    assert findings(patch(tmp_path, body), PMD) == []


def test_an_errno_tested_then_converted_is_quiet(tmp_path):
    # the shape of guest_memfd's and secretmem's fault handlers
    body = """
static vm_fault_t demo_fault(struct vm_fault *vmf)
{
	struct folio *folio;
	vm_fault_t ret = VM_FAULT_LOCKED;

	if (vmf->pgoff >= demo_size(vmf))
		return vmf_error(-EINVAL);
	folio = demo_get_folio(vmf);
	if (IS_ERR(folio)) {
		int err = PTR_ERR(folio);

		if (err == -EAGAIN)
			ret = VM_FAULT_RETRY;
		else
			ret = vmf_error(err);
		goto out;
	}
	vmf->page = folio_file_page(folio, vmf->pgoff);
out:
	return ret;
}
"""
    assert findings(patch(tmp_path, body), FAULT) == []


def test_a_ternary_on_largeness_fires(tmp_path):
    body = """
static void demo_account(struct folio *folio, struct mm_struct *mm)
{
	long nr = folio_test_large(folio) ? HPAGE_PMD_NR : 1;

	add_mm_counter(mm, MM_ANONPAGES, nr);
}
"""
    assert findings(patch(tmp_path, body), PMD) == [
        ("mm/demo.c", line_of(body, "? HPAGE_PMD_NR"), "warning", "medium")]


def test_a_fault_callback_result_tested_as_an_errno_fires(tmp_path):
    body = """
static int demo_prefault(struct vm_area_struct *vma, struct vm_fault *vmf)
{
	vm_fault_t ret = vma->vm_ops->fault(vmf);

	if (ret < 0)
		return ret;
	return 0;
}
"""
    # and the int function hands the fault code back as if it were an errno
    assert findings(patch(tmp_path, body), FAULT) == [
        ("mm/demo.c", line_of(body, "vm_ops->fault"), "warning", "high"),
        ("mm/demo.c", line_of(body, "if (ret < 0)"), "warning", "high")]
