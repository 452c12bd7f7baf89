"""mm/lock-released-twice: which line fires, which code stays silent.

Real code from Linux 6.1 (do_anonymous_page(), whose exits share an
``unlock:`` label; wp_page_copy() and do_swap_page(), with several unlocks on
separate paths) is reviewed as added code and stays silent.  Given an early
unlock before a jump that still reaches the shared label — the shape double
unlocks arrive in — it fires on the label's unlock, under any names for the
locals and the function.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruletest import line_of, linux_function, review_added

RULE = "mm/lock-released-twice"


def review(tmp_path: Path, text: str, rel: str = "mm/demo.c"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return review_added(tmp_path, text, RULE, rel, confidence=True)


def _anon() -> str:
    return linux_function("mm/memory.c", "static vm_fault_t do_anonymous_page(")


EARLY = ("\tret = check_stable_address_space(vma->vm_mm);\n\tif (ret)\n\t\tgoto release;\n")


def _early_unlock(fn: str) -> str:
    """The unlock moved up into the check_stable_address_space() exit, which
    still jumps to release: and from there to unlock:."""
    assert fn.count(EARLY) == 1
    return fn.replace(EARLY, "\tret = check_stable_address_space(vma->vm_mm);\n\tif (ret) {\n"
                             "\t\tpte_unmap_unlock(vmf->pte, vmf->ptl);\n"
                             "\t\tgoto release;\n\t}\n")


@pytest.mark.parametrize("rel, head", [
    ("mm/memory.c", "static vm_fault_t do_anonymous_page("),
    ("mm/memory.c", "vm_fault_t do_swap_page("),
    ("mm/memory.c", "copy_pte_range(struct vm_area_struct *dst_vma"),
    ("mm/mremap.c", "static void move_ptes("),
    ("mm/huge_memory.c", "vm_fault_t do_huge_pmd_wp_page("),
    ("mm/userfaultfd.c", "static int mcontinue_atomic_pte("),
    ("mm/gup.c", "static struct page *follow_page_pte("),
])
def test_real_functions_with_several_unlocks_are_silent(tmp_path, rel, head):
    fn = linux_function(rel, head)
    assert fn.count("unlock(") >= 2
    assert review(tmp_path, fn) == []


def test_an_early_unlock_before_the_shared_label_fires_there(tmp_path):
    text = _early_unlock(_anon())
    got = review(tmp_path, text)
    assert got == [("do_anonymous_page", line_of(text, "unlock:\n\tpte_unmap_unlock") + 1,
                    "warning", "high")]


def test_renaming_the_locals_and_the_function_changes_nothing(tmp_path):
    text = _early_unlock(_anon())
    renamed = re.sub(r"\bvmf\b", "fault", text)
    renamed = re.sub(r"\bvma\b", "area", renamed)
    renamed = renamed.replace("do_anonymous_page", "fault_in_anon")
    got = review(tmp_path, renamed)
    assert got == [("fault_in_anon", line_of(renamed, "unlock:\n\tpte_unmap_unlock") + 1,
                    "warning", "high")]


def test_the_early_unlock_with_its_own_exit_is_silent(tmp_path):
    fn = _anon()
    text = fn.replace(EARLY, "\tret = check_stable_address_space(vma->vm_mm);\n\tif (ret) {\n"
                             "\t\tpte_unmap_unlock(vmf->pte, vmf->ptl);\n"
                             "\t\tput_page(page);\n\t\treturn ret;\n\t}\n")
    assert text != fn
    assert review(tmp_path, text) == []


def test_a_panic_ends_the_path(tmp_path):
    text = ("static void demo(spinlock_t *lock, int bad)\n{\n\tspin_lock(lock);\n"
            "\tif (bad) {\n\t\tspin_unlock(lock);\n\t\tpanic(\"demo\");\n\t}\n"
            "\tspin_unlock(lock);\n}\n")
    assert review(tmp_path / "a", text) == []
    fires = text.replace("\t\tpanic(\"demo\");\n", "\t\tpr_err(\"demo\");\n")
    assert review(tmp_path / "b", fires) == [("demo", line_of(fires, "\tspin_unlock(lock);\n}"),
                                        "warning", "high")]


def test_a_relock_in_a_helper_the_patch_defines_stops_the_path(tmp_path):
    text = ("static void relock(spinlock_t *l)\n{\n\tspin_lock(l);\n}\n\n"
            "static void demo(spinlock_t *lock)\n{\n\tspin_lock(lock);\n"
            "\tspin_unlock(lock);\n\trelock(lock);\n\tspin_unlock(lock);\n}\n")
    assert review(tmp_path, text) == []


def test_the_mmap_lock_unlocked_after_a_retry_result_fires(tmp_path):
    text = ("static int demo(struct mm_struct *mm, unsigned long addr)\n{\n"
            "\tstruct vm_area_struct *vma;\n\tvm_fault_t ret;\n\n\tmmap_read_lock(mm);\n"
            "\tvma = find_vma(mm, addr);\n"
            "\tret = handle_mm_fault(vma, addr, FAULT_FLAG_ALLOW_RETRY, NULL);\n"
            "\tif (ret & VM_FAULT_RETRY)\n\t\tgoto out;\n\tdemo_account(ret);\nout:\n"
            "\tmmap_read_unlock(mm);\n\treturn 0;\n}\n")
    assert review(tmp_path / "a", text) == [("demo", line_of(text, "\tmmap_read_unlock(mm);"),
                                       "warning", "high")]
    retried = text.replace("\t\tgoto out;\n", "\t\treturn -EAGAIN;\n")
    assert review(tmp_path / "b", retried) == []


def test_a_lock_taken_under_a_test_and_released_under_the_same_test_is_silent(tmp_path):
    text = ("static void demo(struct demo_ctl *ctl, struct demo_ring *ring)\n{\n"
            "\twhile (demo_next(ctl)) {\n\t\tif (ctl->rev == 4)\n\t\t\tspin_lock(&ring->lock);\n"
            "\t\tif (demo_busy(ctl)) {\n\t\t\tif (ctl->rev == 4)\n"
            "\t\t\t\tspin_unlock(&ring->lock);\n\t\t\tcontinue;\n\t\t}\n"
            "\t\tif (ctl->rev == 4)\n\t\t\tspin_unlock(&ring->lock);\n\t}\n}\n")
    assert review(tmp_path, text) == []


def test_unlocked_in_the_loop_and_again_after_it_fires(tmp_path):
    # demo_next() is defined here and takes no lock; one out of view might
    text = ("static bool demo_next(struct demo_ctl *ctl)\n{\n\treturn ctl->left-- > 0;\n}\n\n"
            "static void demo(struct demo_ctl *ctl)\n{\n"
            "\twhile (demo_next(ctl)) {\n\t\tspin_lock(&ctl->lock);\n\t\tctl->done++;\n"
            "\t\tspin_unlock(&ctl->lock);\n\t}\n\tspin_unlock(&ctl->lock);\n}\n")
    assert review(tmp_path / "a", text) == [("demo", line_of(text, "\tspin_unlock(&ctl->lock);\n}"),
                                       "warning", "high")]
    unseen = text.replace("static bool demo_next(struct demo_ctl *ctl)\n{\n\treturn ctl->left-- > 0;\n}\n\n", "")
    assert review(tmp_path / "b", unseen) == []


def test_elements_of_an_array_are_not_one_lock(tmp_path):
    text = ("static void demo(struct folio **folio)\n{\n\tfolio_lock(folio[0]);\n"
            "\tfolio_lock(folio[1]);\n\tfolio_unlock(folio[0]);\n\tfolio_unlock(folio[1]);\n}\n")
    assert review(tmp_path, text) == []


def test_a_lock_taken_when_a_state_is_clear_and_released_when_it_is_set_is_silent(tmp_path):
    # the two tests read the same state (gfs2's current->journal_info): they agree
    text = ("static int demo(struct demo_inode *ip)\n{\n\tif (current->journal_info == NULL) {\n"
            "\t\tdemo_begin(ip);\n\t\tdown_write(&ip->rw);\n\t}\n\tdemo_change(ip);\n"
            "\tup_write(&ip->rw);\n\tif (current->journal_info)\n\t\tup_write(&ip->rw);\n"
            "\treturn 0;\n}\n")
    assert review(tmp_path, text) == []
