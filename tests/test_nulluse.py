"""mm/null-result-reaches-use: which line fires and which does not.

Real postings (tests/fixtures/nulluse/README.md): v1 of "mm: add device
coherent vma selection for memory migration" passed vm_normal_page()'s result
to is_zone_device_page() untested (Alistair Popple: "vm_normal_page() can
return NULL so you need to add a check for page == NULL"); v3 tests it first.
Hugh Dickins' "mm/various: give up if pte_offset_map[_lock]() fails" adds the
6.5 tests and stays quiet.  pte_offset_map() and pte_offset_map_lock() fail
only from 6.5 on: an unchecked map is silent in a file written for 6.1 and
found in one written for 6.5 (its other maps tested, a 6.5 name, or a tree
that has 6.5's __pte_offset_map()).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reviewkit import api

from test_tree_mode import linux_tree

RULE = "mm/null-result-reaches-use"
FIXTURES = Path(__file__).parent / "fixtures" / "nulluse"
MARK = "/* use */"


def review_file(tmp_path: Path, text: str, base: dict[str, str] | None = None):
    """``text`` committed as a new file mm/demo.c on top of ``base`` (path ->
    text) and reviewed with the rule: (function, line, severity) of each finding."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)

    def git(*args):
        subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.org", *args],
                       cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    for rel, body in (base or {}).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(body)
    git("add", "-A")
    git("commit", "-q", "--allow-empty", "-m", "base")
    (repo / "mm").mkdir(exist_ok=True)
    (repo / "mm" / "demo.c").write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", "mm: add\n\nSigned-off-by: A <a@example.org>")
    # with a base, the repository is the tree (--tree): its other files are read
    rep = api.review("HEAD", api.Options(cwd=repo, select=(RULE,),
                                         tree=repo if base else None))
    return [(f.function, f.line, f.severity) for f in rep.findings]


def marked(text: str) -> list[int]:
    return [n for n, line in enumerate(text.split("\n"), 1) if MARK in line]


def lines_of(found) -> list[int]:
    return [line for _, line, _ in found]


# -- real postings ------------------------------------------------------------------

def test_the_unchecked_vm_normal_page_of_the_v1_posting_is_found():
    rep = api.review(str(FIXTURES / "device-coherent-select-v1.eml"),
                     api.Options(select=(RULE,)))
    # the function is shown in part (the engine caps that at medium), the path whole
    assert [(f.path, f.line, f.function, f.severity, f.confidence) for f in rep.findings] == [
        ("mm/migrate.c", 2350, "migrate_vma_collect_pmd", "warning", "medium")]
    assert "is_zone_device_page()" in rep.findings[0].message


@pytest.mark.parametrize("name", ["device-coherent-select-v3.eml",
                                  "mm-various-give-up-if-pte-offset-map-fails.eml"])
def test_the_fixes_are_quiet(name):
    rep = api.review(str(FIXTURES / name), api.Options(select=(RULE,)))
    assert rep.findings == ()


# -- what a test on the way proves ----------------------------------------------------

WALK = """\
static int demo_entry(pte_t *pte, unsigned long addr, struct mm_walk *walk)
{
	struct folio *folio;

	folio = vm_normal_folio(walk->vma, addr, ptep_get(pte));
	BODY
	return 0;
}
"""

SILENT = {
    "exit test": "if (!folio)\n\t\treturn 0;\n\tfolio_mark_accessed(folio);",
    "goto": "if (unlikely(!folio))\n\t\tgoto out;\n\tfolio_get(folio);\nout:",
    "branch": "if (folio) {\n\t\tfolio_get(folio);\n\t\tfolio_put(folio);\n\t}",
    "and": "if (folio && folio_test_large(folio))\n\t\treturn 1;",
    "or": "if (!folio || folio_test_anon(folio))\n\t\treturn 1;",
    "ternary": "walk->private = folio ? folio_mapping(folio) : NULL;",
    "bug on": "VM_BUG_ON(!folio);\n\tfolio_lock(folio);",
    "warn": "if (WARN_ON_ONCE(!folio))\n\t\treturn -EINVAL;\n\tfolio_lock(folio);",
    "helper": "demo_check(folio);\n\tfolio_lock(folio);",
    "reassigned": "folio = page_folio(ZERO_PAGE(0));\n\tfolio_get(folio);",
    "returned": "walk->private = folio;\n\tfolio_get(walk->private);",
    "predicate": "if (IS_ERR_OR_NULL(folio))\n\t\treturn 0;\n\tfolio_lock(folio);",
    "a copy made later": "{\n\t\tstruct folio *held = walk->private;\n\n"
                         "\t\tfolio_get(held);\n\t\tif (folio)\n\t\t\theld = folio;\n"
                         "\t\twalk->private = held;\n\t}",
    "elvis": "folio = folio ?: page_folio(ZERO_PAGE(0));\n\tfolio_get(folio);",
}

FIRE = {
    "untested": "folio_mark_accessed(folio); " + MARK,
    "used, then tested": "if (folio_test_large(folio)) " + MARK + "\n\t\treturn 1;\n"
                         "\tif (!folio)\n\t\treturn 0;",
    "the NULL branch": "if (!folio)\n\t\tfolio_put(folio); " + MARK,
    "dereferenced": "walk->private = folio->mapping; " + MARK,
    "stored": "((struct folio **)walk->private)[0] = folio; " + MARK,
    "through a copy": "{\n\t\tstruct folio *held = folio;\n\n"
                      "\t\tfolio_get(held); " + MARK + "\n\t}",
    "after a test of something else": "if (!pte_dirty(ptep_get(pte)))\n\t\treturn 0;\n"
                                      "\tfolio_mark_dirty(folio); " + MARK,
}


@pytest.mark.parametrize("case", sorted(SILENT))
def test_a_use_a_test_protects_is_quiet(tmp_path, case):
    assert review_file(tmp_path, WALK.replace("BODY", SILENT[case])) == []


@pytest.mark.parametrize("case", sorted(FIRE))
def test_an_unprotected_use_is_found_on_its_line(tmp_path, case):
    text = WALK.replace("BODY", FIRE[case])
    assert review_file(tmp_path, text) == [("demo_entry", marked(text)[0], "warning")]


def test_a_value_used_in_place_is_found(tmp_path):
    text = ("static bool demo(struct vm_area_struct *vma, unsigned long addr, pte_t pte)\n{\n"
            "\treturn folio_test_anon(page_folio(vm_normal_page(vma, addr, pte))); " + MARK +
            "\n}\n")
    assert review_file(tmp_path, text) == [("demo", marked(text)[0], "warning")]


def test_an_allocation_that_cannot_fail_is_quiet(tmp_path):
    text = ("static void *demo(void)\n{\n\tstruct page *page = alloc_page(GFP_KERNEL);\n"
            "\tstruct page *fixed = alloc_page(GFP_KERNEL | __GFP_NOFAIL);\n\n"
            "\tget_page(fixed);\n\tif (!page)\n\t\treturn NULL;\n"
            "\treturn page_address(page);\n}\n")
    assert review_file(tmp_path, text) == []


RENAMED = """\
static int qq_visit(pte_t *p0, unsigned long va, struct mm_walk *w)
{
	struct folio *f0;

	f0 = vm_normal_folio(w->vma, va, ptep_get(p0));
	if (folio_test_large(f0)) /* use */
		return 1;
	if (!f0)
		return 0;
	return 0;
}
"""


def test_flags_the_caller_passes_may_ask_not_to_fail(tmp_path):
    text = ("static void *demo(gfp_t gfp)\n{\n\tgfp_t mine = GFP_KERNEL | __GFP_NOFAIL;\n"
            "\tstruct page *a = alloc_page(gfp);\n\tstruct page *b = alloc_page(mine);\n\n"
            "\tget_page(b);\n\treturn page_address(a);\n}\n")
    assert review_file(tmp_path, text) == []


def test_renamed_locals_change_nothing(tmp_path):
    text = WALK.replace("BODY", FIRE["used, then tested"])
    assert len(text.split("\n")) == len(RENAMED.split("\n"))
    a = review_file(tmp_path / "a", text)
    b = review_file(tmp_path / "b", RENAMED)
    assert lines_of(a) == lines_of(b) == marked(text) == marked(RENAMED)


# -- release awareness: pte_offset_map[_lock]() fail from 6.5 on -----------------------

UNCHECKED = """\
static void demo_old(struct vm_area_struct *vma, pmd_t *pmd, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *pte = pte_offset_map_lock(vma->vm_mm, pmd, addr, &ptl);

	ptep_test_and_clear_young(vma, addr, pte); /* use */
	pte_unmap_unlock(pte, ptl);
}
"""

CHECKED = """
static int demo_young_%d(struct vm_area_struct *vma, pmd_t *pmd, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *pte = pte_offset_map_lock(vma->vm_mm, pmd, addr, &ptl);
	int young;

	if (!pte)
		return 0;
	young = pte_young(ptep_get(pte));
	pte_unmap_unlock(pte, ptl);
	return young;
}
"""

NOLOCK = """
static bool demo_none(struct mm_struct *mm, pmd_t *pmd, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *pte = pte_offset_map_nolock(mm, pmd, addr, &ptl);

	if (!pte)
		return true;
	pte_unmap(pte);
	return false;
}
"""


def test_an_unchecked_pte_map_is_quiet_for_a_6_1_file(tmp_path):
    assert review_file(tmp_path, UNCHECKED) == []


def test_one_defensive_test_does_not_make_a_file_6_5(tmp_path):
    # a stable backport brings one tested map into a file of older code
    text = UNCHECKED + CHECKED % 1 + UNCHECKED.replace("demo_old", "demo_older")
    assert review_file(tmp_path, text) == []


def test_an_unchecked_pte_map_is_found_where_the_file_tests_the_others(tmp_path):
    text = UNCHECKED + CHECKED % 1 + CHECKED % 2
    assert review_file(tmp_path, text) == [("demo_old", marked(text)[0], "warning")]


def test_an_unchecked_pte_map_is_found_beside_a_6_5_name(tmp_path):
    text = UNCHECKED + NOLOCK
    assert review_file(tmp_path, text) == [("demo_old", marked(text)[0], "warning")]


def test_the_tree_decides_the_release(tmp_path):
    assert review_file(tmp_path / "65", UNCHECKED,
                       base={"include/linux/pgtable.h": PGTABLE_6_5}) == [
        ("demo_old", marked(UNCHECKED)[0], "warning")]
    assert review_file(tmp_path / "61", UNCHECKED,
                       base={"include/linux/pgtable.h": "#define pte_offset_map(p, a) (p)\n"}) == []


def _mlock_pte_range() -> str:
    src = linux_tree() / "mm" / "mlock.c"
    if not src.is_file():
        pytest.skip("re-run scripts/fetch-linux-source.sh: mm/mlock.c is missing")
    text = src.read_text()
    start = text.index("static int mlock_pte_range(pmd_t *pmd,")
    return text[start:text.index("\n}\n", start) + 3]


PGTABLE_6_5 = ("pte_t *__pte_offset_map(pmd_t *pmd, unsigned long addr, pmd_t *pmdvalp)\n"
               "{\n\treturn NULL;\n}\n")


def test_a_6_1_walker_is_quiet_and_its_untested_map_found_against_a_6_5_tree(tmp_path):
    text = _mlock_pte_range()
    assert review_file(tmp_path / "61", text) == []
    first = next(n for n, line in enumerate(text.split("\n"), 1)
                 if "if (!pte_present(*pte))" in line)
    assert review_file(tmp_path / "65", text, base={"include/linux/pgtable.h": PGTABLE_6_5}) \
        == [("mlock_pte_range", first, "warning")]


def test_a_6_1_walker_without_its_zero_page_test_is_found(tmp_path):
    text = _mlock_pte_range()
    assert text.count("if (!page || is_zone_device_page(page))") == 1
    text = text.replace("if (!page || is_zone_device_page(page))",
                        "if (is_zone_device_page(page))")
    line = next(n for n, ln in enumerate(text.split("\n"), 1)
                if "if (is_zone_device_page(page))" in ln)
    assert review_file(tmp_path, text) == [("mlock_pte_range", line, "warning")]


# -- what the diff does not show --------------------------------------------------------

GAPPED = """\
From: A <a@example.org>
Subject: [PATCH] mm: demo
Message-ID: <gap@example.org>

Signed-off-by: A <a@example.org>
---
diff --git a/mm/demo.c b/mm/demo.c
--- a/mm/demo.c
+++ b/mm/demo.c
@@ -10,6 +10,7 @@ static int demo_entry(pte_t *pte, unsigned long addr, struct mm_walk *walk)
 	struct folio *folio;
 
 	folio = vm_normal_folio(walk->vma, addr, ptep_get(pte));
+	walk->private = NULL;
 	if (pte_dirty(ptep_get(pte)))
 		walk->action = 1;
 	folio_count++;
@@ -30,6 +31,7 @@ static int demo_entry(pte_t *pte, unsigned long addr, struct mm_walk *walk)
 	folio_count--;
 	walk->action = 0;
 	walk->private = walk;
+	folio_mark_accessed(folio);
 	return 0;
 }
 
"""


DROPPED = """\
From: A <a@example.org>
Subject: [PATCH] mm: demo
Message-ID: <drop@example.org>

Signed-off-by: A <a@example.org>
---
diff --git a/mm/demo.c b/mm/demo.c
--- a/mm/demo.c
+++ b/mm/demo.c
@@ -10,9 +10,7 @@ static int demo_entry(pte_t *pte, unsigned long addr, struct mm_walk *walk)
 	struct folio *folio;
 
 	folio = vm_normal_folio(walk->vma, addr, ptep_get(pte));
-	if (!folio)
-		return 0;
 	folio_mark_accessed(folio);
 	return 0;
 }
 
"""


def test_a_patch_that_drops_the_test_is_found_on_the_use_it_left_bare(tmp_path):
    p = tmp_path / "drop.eml"
    p.write_text(DROPPED)
    rep = api.review(str(p), api.Options(select=(RULE,)))
    assert [(f.line, f.severity) for f in rep.findings] == [(13, "warning")]
    kept = DROPPED.replace("-\tif (!folio)\n-\t\treturn 0;\n",
                           "-\tif (!folio)\n+\tif (!folio || folio_test_large(folio))\n"
                           " \t\treturn 0;\n").replace("-10,9 +10,7", "-10,9 +10,9")
    p.write_text(kept)
    assert api.review(str(p), api.Options(select=(RULE,))).findings == ()


def test_a_path_through_unseen_lines_is_info_at_low_confidence(tmp_path):
    p = tmp_path / "gap.eml"
    p.write_text(GAPPED)
    rep = api.review(str(p), api.Options(select=(RULE,)))
    assert [(f.line, f.severity, f.confidence) for f in rep.findings] == [
        (34, "info", "low")]


# -- the migrate_device.c hunks of "mm: Allow compound zone device pages" ----------------
#
# v8 (<5106a9ab1b2eaa8e6f1429fcb3cd1e86ecbb0a29.1739850794.git-series.apopple@nvidia.com>,
# 18 Feb 2025) reads page_pgmap(page) right after vm_normal_page(), before the
# `page && ...` tests; v9 (<67055d772e6102accf85161d0b57b0b3944292bf.1740713401
# .git-series.apopple@nvidia.com>, 28 Feb 2025) reads it inside the
# `page && is_device_coherent_page(page)` branch.  The hunks are quoted as posted.

V8_HUNKS = 'diff --git a/mm/migrate_device.c b/mm/migrate_device.c\nindex 5bd8882..6771893 100644\n--- a/mm/migrate_device.c\n+++ b/mm/migrate_device.c\n@@ -106,6 +106,7 @@ static int migrate_vma_collect_pmd(pmd_t *pmdp,\n \tarch_enter_lazy_mmu_mode();\n \n \tfor (; addr < end; addr += PAGE_SIZE, ptep++) {\n+\t\tstruct dev_pagemap *pgmap;\n \t\tunsigned long mpfn = 0, pfn;\n \t\tstruct folio *folio;\n \t\tstruct page *page;\n@@ -133,9 +134,10 @@ static int migrate_vma_collect_pmd(pmd_t *pmdp,\n \t\t\t\tgoto next;\n \n \t\t\tpage = pfn_swap_entry_to_page(entry);\n+\t\t\tpgmap = page_pgmap(page);\n \t\t\tif (!(migrate->flags &\n \t\t\t\tMIGRATE_VMA_SELECT_DEVICE_PRIVATE) ||\n-\t\t\t    page->pgmap->owner != migrate->pgmap_owner)\n+\t\t\t    pgmap->owner != migrate->pgmap_owner)\n \t\t\t\tgoto next;\n \n \t\t\tmpfn = migrate_pfn(page_to_pfn(page)) |\n@@ -151,12 +153,13 @@ static int migrate_vma_collect_pmd(pmd_t *pmdp,\n \t\t\t\tgoto next;\n \t\t\t}\n \t\t\tpage = vm_normal_page(migrate->vma, addr, pte);\n+\t\t\tpgmap = page_pgmap(page);\n \t\t\tif (page && !is_zone_device_page(page) &&\n \t\t\t    !(migrate->flags & MIGRATE_VMA_SELECT_SYSTEM))\n \t\t\t\tgoto next;\n \t\t\telse if (page && is_device_coherent_page(page) &&\n \t\t\t    (!(migrate->flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) ||\n-\t\t\t     page->pgmap->owner != migrate->pgmap_owner))\n+\t\t\t     pgmap->owner != migrate->pgmap_owner))\n \t\t\t\tgoto next;\n \t\t\tmpfn = migrate_pfn(pfn) | MIGRATE_PFN_MIGRATE;\n \t\t\tmpfn |= pte_write(pte) ? MIGRATE_PFN_WRITE : 0;\n'

V9_HUNKS = 'diff --git a/mm/migrate_device.c b/mm/migrate_device.c\nindex 5bd8882..6771893 100644\n--- a/mm/migrate_device.c\n+++ b/mm/migrate_device.c\n@@ -106,6 +106,7 @@ static int migrate_vma_collect_pmd(pmd_t *pmdp,\n \tarch_enter_lazy_mmu_mode();\n \n \tfor (; addr < end; addr += PAGE_SIZE, ptep++) {\n+\t\tstruct dev_pagemap *pgmap;\n \t\tunsigned long mpfn = 0, pfn;\n \t\tstruct folio *folio;\n \t\tstruct page *page;\n@@ -133,9 +134,10 @@ static int migrate_vma_collect_pmd(pmd_t *pmdp,\n \t\t\t\tgoto next;\n \n \t\t\tpage = pfn_swap_entry_to_page(entry);\n+\t\t\tpgmap = page_pgmap(page);\n \t\t\tif (!(migrate->flags &\n \t\t\t\tMIGRATE_VMA_SELECT_DEVICE_PRIVATE) ||\n-\t\t\t    page->pgmap->owner != migrate->pgmap_owner)\n+\t\t\t    pgmap->owner != migrate->pgmap_owner)\n \t\t\t\tgoto next;\n \n \t\t\tmpfn = migrate_pfn(page_to_pfn(page)) |\n@@ -152,12 +154,16 @@ static int migrate_vma_collect_pmd(pmd_t *pmdp,\n \t\t\t}\n \t\t\tpage = vm_normal_page(migrate->vma, addr, pte);\n \t\t\tif (page && !is_zone_device_page(page) &&\n-\t\t\t    !(migrate->flags & MIGRATE_VMA_SELECT_SYSTEM))\n-\t\t\t\tgoto next;\n-\t\t\telse if (page && is_device_coherent_page(page) &&\n-\t\t\t    (!(migrate->flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) ||\n-\t\t\t     page->pgmap->owner != migrate->pgmap_owner))\n+\t\t\t    !(migrate->flags & MIGRATE_VMA_SELECT_SYSTEM)) {\n \t\t\t\tgoto next;\n+\t\t\t} else if (page && is_device_coherent_page(page)) {\n+\t\t\t\tpgmap = page_pgmap(page);\n+\n+\t\t\t\tif (!(migrate->flags &\n+\t\t\t\t\tMIGRATE_VMA_SELECT_DEVICE_COHERENT) ||\n+\t\t\t\t\tpgmap->owner != migrate->pgmap_owner)\n+\t\t\t\t\tgoto next;\n+\t\t\t}\n \t\t\tmpfn = migrate_pfn(pfn) | MIGRATE_PFN_MIGRATE;\n \t\t\tmpfn |= pte_write(pte) ? MIGRATE_PFN_WRITE : 0;\n \t\t}\n'


@pytest.mark.parametrize("hunks,want", [(V8_HUNKS, [(156, "warning")]), (V9_HUNKS, [])])
def test_page_pgmap_before_the_test_and_inside_it(tmp_path, hunks, want):
    p = tmp_path / "pgmap.eml"
    p.write_text("From: A <a@example.org>\nSubject: [PATCH] mm: pgmap\n"
                 "Message-ID: <pgmap@example.org>\n\nSigned-off-by: A <a@example.org>\n---\n"
                 + hunks)
    rep = api.review(str(p), api.Options(select=(RULE,)))
    assert [(f.line, f.severity) for f in rep.findings] == want
