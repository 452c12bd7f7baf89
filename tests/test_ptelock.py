"""mm/pte-unlock-stale-map and mm/pte-set-by-store on real kernel code: the
6.1 functions, which are correct, stay quiet; the same functions with the bug
put back (the re-map result dropped, set_pte_at() turned into a store) draw the
finding on the line that has it, whatever the locals are called."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reviewkit import api

from conftest import commit_as_added
from test_tree_mode import linux_tree

STALE = "mm/pte-unlock-stale-map"
STORE = "mm/pte-set-by-store"


def review_file(tmp_path: Path, rel: str, text: str, rule: str):
    """``text`` committed as the new file REL and reviewed, ``rule`` only."""
    repo = commit_as_added(tmp_path, {rel: text})
    rep = api.review("HEAD", api.Options(cwd=repo, select=(rule,)))
    return [(f.function, f.line, f.severity) for f in rep.findings]


def _source(rel: str) -> str:
    p = linux_tree() / rel
    if not p.is_file():
        pytest.skip(f"re-run scripts/fetch-linux-source.sh: {rel} is missing")
    return p.read_text()


def _line(text: str, needle: str, after: str) -> int:
    start = text.index(after)
    return text[:text.index(needle, start)].count("\n") + 1


def _rename(text: str, pairs: dict[str, str]) -> str:
    for old, new in pairs.items():
        text = re.sub(rf"\b{old}\b", new, text)
    return text


# -- mm/pte-unlock-stale-map ------------------------------------------------------------

FREE = "static int madvise_free_pte_range("


def test_madvise_as_released_is_quiet(tmp_path):
    assert review_file(tmp_path, "mm/madvise.c", _source("mm/madvise.c"), STALE) == []


@pytest.mark.parametrize("renamed", [False, True])
def test_a_re_map_kept_in_pte_only_draws_the_finding_on_the_re_map(tmp_path, renamed):
    # madvise_free_pte_range() before "mm/madvise: fix potential pte_unmap_unlock pte error"
    src = _source("mm/madvise.c")
    start = src.index(FREE)
    body = src[start:]
    body = body.replace("\t\t\torig_pte = pte = pte_offset_map_lock(mm, pmd, addr, &ptl);",
                        "\t\t\tpte = pte_offset_map_lock(mm, pmd, addr, &ptl);", 1)
    body = body.replace("\t\t\t\torig_pte = pte_offset_map_lock(mm, pmd, addr, &ptl);",
                        "\t\t\t\tpte_offset_map_lock(mm, pmd, addr, &ptl);", 1)
    src = src[:start] + body
    want = sorted([_line(src, "\t\t\t\tpte_offset_map_lock(mm, pmd", FREE),
                   _line(src, "\t\t\tpte = pte_offset_map_lock(mm, pmd", FREE)])
    if renamed:
        src = _rename(src, {"orig_pte": "first", "ptl": "lk", "pte": "p"})
    got = review_file(tmp_path, "mm/madvise.c", src, STALE)
    assert sorted(line for _, line, _ in got) == want
    assert {(fn, sev) for fn, _, sev in got} == {("madvise_free_pte_range", "warning")}


# -- mm/pte-set-by-store ----------------------------------------------------------------

def test_a_store_into_an_apply_to_page_range_callback_is_information(tmp_path):
    # vmap_pfn_apply() in 6.1: "mm: vmalloc must set pte via arch code" (v6.5,
    # Fixes: 3e9a9e256b1e "mm: add a vmap_pfn function") made it set_pte_at()
    src = _source("mm/vmalloc.c")
    got = review_file(tmp_path, "mm/vmalloc.c", src, STORE)
    assert got == [("vmap_pfn_apply", _line(src, "\t*pte = pte_mkspecial(",
                                            "static int vmap_pfn_apply("), "info")]


def test_the_fixed_callback_is_quiet(tmp_path):
    src = _source("mm/vmalloc.c").replace(
        "\t*pte = pte_mkspecial(pfn_pte(data->pfns[data->idx++], data->prot));",
        "\tset_pte_at(&init_mm, addr, pte,"
        " pte_mkspecial(pfn_pte(data->pfns[data->idx++], data->prot)));")
    assert review_file(tmp_path, "mm/vmalloc.c", src, STORE) == []


def test_an_out_parameter_for_a_pte_value_is_quiet(tmp_path):
    # write_protect_page() hands the entry it saw back through "pte_t *orig_pte"
    assert review_file(tmp_path, "mm/ksm.c", _source("mm/ksm.c"), STORE) == []


@pytest.mark.parametrize("renamed", [False, True])
def test_set_pte_at_turned_into_a_store_draws_the_finding(tmp_path, renamed):
    # mm/madvise.c's MADV_COLD/PAGEOUT young-bit clearing, with set_pte_at() undone
    src = _source("mm/madvise.c")
    old = "\t\t\tset_pte_at(mm, addr, pte, ptent);"
    assert old in src
    src = src.replace(old, "\t\t\t*pte = ptent;", 1)
    want = _line(src, "\t\t\t*pte = ptent;", "static int madvise_cold_or_pageout_pte_range(")
    if renamed:
        src = _rename(src, {"ptent": "val", "pte": "slot"})
    got = review_file(tmp_path, "mm/madvise.c", src, STORE)
    assert got == [("madvise_cold_or_pageout_pte_range", want, "warning")]
