"""mm/dirty-soft-dirty-test-inverted on the real posting it comes from and its fix."""

from __future__ import annotations

from reviewkit import api

from conftest import REPO

RULE = "mm/dirty-soft-dirty-test-inverted"
CORPUS = REPO / "corpus"


def _hits(path):
    rep = api.review(str(path), api.Options(select=(RULE,)))
    return [(f.path, f.line, f.severity, f.confidence) for f in rep.findings if f.rule == RULE]


def test_the_inverted_vm_softdirty_test_of_the_mprotect_posting_is_reported_on_its_line():
    # "if ((vma->vm_flags & VM_SOFTDIRTY) && !pte_soft_dirty(pte))" is line 52
    assert _hits(CORPUS / "buggy" / "mprotect-softdirty-inverted.eml") == [
        ("mm/mprotect.c", 52, "warning", "high")]


def test_the_fix_that_tests_vma_soft_dirty_enabled_is_quiet():
    assert _hits(CORPUS / "fix" / "mprotect-softdirty-inverted.eml") == []


def _diff(cond: str, decl: str = "") -> str:
    new = 4 if decl else 3
    return ("From: A <a@example.org>\nSubject: [PATCH] mm: demo\n\nSigned-off-by: A <a@example.org>\n"
            "---\n--- a/mm/demo.c\n+++ b/mm/demo.c\n"
            f"@@ -10 +10,{new} @@ static bool demo(struct vm_area_struct *vma, pte_t pte)\n"
            + (f"+\t{decl}\n" if decl else "")
            + f"+\tif ({cond})\n+\t\treturn false;\n \treturn true;\n")


def _on(tmp_path, text: str):
    p = tmp_path / "x.eml"
    p.write_text(text)
    return _hits(p)


def test_either_polarity_of_the_contradiction_is_reported(tmp_path):
    # the negation of "tracking is off or the entry is soft-dirty" asks the same
    assert _on(tmp_path, _diff("!(!(vma->vm_flags & VM_SOFTDIRTY) || pte_soft_dirty(pte))"))
    assert _on(tmp_path, _diff("!vma_soft_dirty_enabled(vma) && !pmd_soft_dirty(pmd)"))


def test_the_questions_with_a_use_are_quiet(tmp_path):
    assert _on(tmp_path, _diff("!(vma->vm_flags & VM_SOFTDIRTY) && !pte_soft_dirty(pte)")) == []
    assert _on(tmp_path, _diff("(vma->vm_flags & VM_SOFTDIRTY) || pte_soft_dirty(pte)")) == []
    assert _on(tmp_path, _diff("vma_soft_dirty_enabled(vma) && !pte_swp_soft_dirty(pte)")) == []
    # the flag tested on its own, or masked out of a comparison, says nothing of an entry
    assert _on(tmp_path, _diff("((a ^ b) & ~VM_SOFTDIRTY) && !pte_soft_dirty(pte)")) == []


def test_a_local_carrying_the_vma_test_is_followed_whatever_its_name(tmp_path):
    for name in ("all_dirty", "q"):
        assert _on(tmp_path, _diff(f"{name} && !pte_soft_dirty(pte)",
                                   f"bool {name} = vma->vm_flags & VM_SOFTDIRTY;"))
