"""mm/batch-pte-accept-not-present and mm/fallback-input-realigned-in-place: which
line fires, on the real postings and on variants of them, and what stays silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit import api

from conftest import REPO

CORPUS = REPO / "corpus"
BATCH = "mm/batch-pte-accept-not-present"
FALLBACK = "mm/fallback-input-realigned-in-place"


def findings(path: Path, rule: str):
    rep = api.review(str(path), api.Options(select=(rule,)))
    return [(f.path, f.line, str(f.severity), str(f.confidence))
            for f in rep.findings if f.rule == rule]


def patch(tmp_path: Path, body: str, name: str = "demo.c") -> Path:
    lines = body.strip("\n").split("\n")
    diff = "\n".join("+" + ln for ln in lines)
    text = (
        "From: A <a@example.org>\n"
        "Subject: [PATCH] mm: demo\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
        "Message-ID: <demo@example.org>\n\n"
        "demo\n\nSigned-off-by: A <a@example.org>\n---\n"
        f"diff --git a/mm/{name} b/mm/{name}\n"
        f"--- a/mm/{name}\n+++ b/mm/{name}\n"
        f"@@ -10,0 +11,{len(lines)} @@\n{diff}\n"
    )
    p = tmp_path / "demo.eml"
    p.write_text(text)
    return p


def line_of(body: str, needle: str) -> int:
    return 11 + next(i for i, ln in enumerate(body.strip("\n").split("\n")) if needle in ln)


# -- the pte batch --------------------------------------------------------------------------

def test_the_fork_batch_helper_fires_on_its_pte_same_test():
    got = findings(CORPUS / "buggy/fork-pte-batch-past-folio.eml", BATCH)
    assert got == [("mm/memory.c", 975, "warning", "medium")]


@pytest.mark.parametrize("slug", ["fix/fork-pte-batch-past-folio", "fix/zap-pte-batch-overcount",
                                  "clean/folio-pte-batch-split", "clean/thp-split-set-ptes-batch"])
def test_the_fixed_and_clean_batches_are_quiet(slug):
    assert findings(CORPUS / f"{slug}.eml", BATCH) == []


BATCH_BODY = """
static int demo_batch(struct folio *folio, pte_t *ptep, pte_t pte, int max_nr)
{
	pte_t expected = pte_advance_pfn(pte, 1);
	int nr = 1;

	for (ptep++; nr < max_nr; nr++, ptep++) {
		pte_t cur = ptep_get(ptep);

		if (pte_val(cur) != pte_val(expected))
			break;
		expected = pte_advance_pfn(expected, 1);
	}
	return nr;
}
"""


def test_a_pte_val_comparison_with_an_advanced_pte_fires(tmp_path):
    got = findings(patch(tmp_path, BATCH_BODY), BATCH)
    assert got == [("mm/demo.c", line_of(BATCH_BODY, "pte_val(cur) !="), "warning", "medium")]


def test_a_none_test_on_the_entry_is_enough(tmp_path):
    body = BATCH_BODY.replace("\t\tif (pte_val(cur) !=",
                              "\t\tif (pte_none(cur))\n\t\t\tbreak;\n\t\tif (pte_val(cur) !=")
    assert findings(patch(tmp_path, body), BATCH) == []


def test_a_loop_bounded_by_the_folio_is_quiet(tmp_path):
    body = BATCH_BODY.replace(
        "\tint nr = 1;\n",
        "\tint nr = 1;\n\n\tmax_nr = min(max_nr, (int)(folio_pfn(folio) + "
        "folio_nr_pages(folio) - pte_pfn(pte)));\n")
    assert findings(patch(tmp_path, body), BATCH) == []


def test_a_comparison_of_two_table_entries_is_not_a_batch(tmp_path):
    body = BATCH_BODY.replace("pte_val(expected))", "pte_val(ptep_get(ptep - 1)))")
    assert findings(patch(tmp_path, body), BATCH) == []


def test_names_do_not_matter(tmp_path):
    body = (BATCH_BODY.replace("expected", "e").replace("cur", "x")
            .replace("demo_batch", "walk_things"))
    assert findings(patch(tmp_path, body), BATCH) == [
        ("mm/demo.c", line_of(body, "pte_val(x) !="), "warning", "medium")]


# -- the fallback loop ------------------------------------------------------------------------

def test_the_shmem_mthp_fallback_fires_on_the_in_place_round_down():
    got = findings(CORPUS / "buggy/shmem-mthp-fallback-index.eml", FALLBACK)
    # the same in-place rounding in shmem_suitable_orders(), fixed separately
    assert got == [("mm/shmem.c", 1690, "warning", "medium"),
                   ("mm/shmem.c", 1769, "warning", "medium")]


def test_the_fixed_fallback_is_quiet():
    assert findings(CORPUS / "fix/shmem-mthp-fallback-index.eml", FALLBACK) == []


FALLBACK_BODY = """
static struct folio *demo_alloc(gfp_t gfp, pgoff_t index, unsigned int order)
{
	struct folio *folio;

	for (; order > 0; order--) {
		index = ALIGN_DOWN(index, 1UL << order);
		folio = demo_alloc_folio(gfp, order, index);
		if (folio)
			return folio;
	}
	return NULL;
}
"""


def test_a_counted_down_order_fires_too(tmp_path):
    got = findings(patch(tmp_path, FALLBACK_BODY), FALLBACK)
    assert got == [("mm/demo.c", line_of(FALLBACK_BODY, "ALIGN_DOWN"), "warning", "medium")]


def test_a_fixed_size_is_not_a_fallback(tmp_path):
    body = FALLBACK_BODY.replace("1UL << order", "PMD_SIZE")
    assert findings(patch(tmp_path, body), FALLBACK) == []


def test_an_input_reset_at_the_top_of_each_pass_is_quiet(tmp_path):
    body = FALLBACK_BODY.replace("pgoff_t index,", "pgoff_t start,").replace(
        "\tstruct folio *folio;\n", "\tstruct folio *folio;\n\tpgoff_t index;\n").replace(
        "\t\tindex = ALIGN_DOWN(index,", "\t\tindex = start;\n\t\tindex = ALIGN_DOWN(index,")
    assert findings(patch(tmp_path, body), FALLBACK) == []


FIXTURES = REPO / "tests" / "fixtures" / "batch"


def _reversed(text: str) -> str:
    """The patch undone: its removed lines added, its hunk ranges swapped."""
    import re

    head, sep, diff = text.partition("\ndiff --git")
    out = []
    for ln in (sep + diff).split("\n"):
        m = re.match(r"@@ -(\S+) \+(\S+) @@(.*)", ln)
        if m:
            out.append(f"@@ -{m[2]} +{m[1]} @@{m[3]}")
        elif ln.startswith("+") and not ln.startswith("+++"):
            out.append("-" + ln[1:])
        elif ln.startswith("-") and not ln.startswith("---") and ln != "-- ":
            out.append("+" + ln[1:])
        else:
            out.append(ln)
    return head + "\n".join(out)


def test_another_real_fix_of_the_same_mistake_is_quiet_and_its_bug_fires(tmp_path):
    fix = FIXTURES / "shmem-suitable-orders-index-fix.eml"
    assert findings(fix, FALLBACK) == []
    undone = tmp_path / "undone.eml"
    undone.write_text(_reversed(fix.read_text()))
    # the index is also handed to xa_find() by address: that moves it further, never back
    assert findings(undone, FALLBACK) == [("mm/shmem.c", 1700, "warning", "medium")]
