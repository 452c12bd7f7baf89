"""mm_gupflow rules: which line fires, which code stays quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit.engine import load_ruleset
from reviewkit.engine.examples import run_example
from reviewkit.engine.manifest import Example

CORPUS = Path(__file__).parent.parent / "corpus"
LOCKED = "mm/gup-locked-flag-before-fallible-lock"


def fired(rule_id: str, diff: str) -> list[tuple[int, str]]:
    ruleset = load_ruleset()
    rule = next(r for r in ruleset.rules if r.id == rule_id)
    run = run_example(rule, ruleset, Example(name="t", expect="fire", diff=diff))
    return sorted((f.line, f.confidence) for f in run.findings)


def _fn(body: str, params: str = "struct mm_struct *mm, int *locked") -> str:
    lines = [f"+static long demo_fn({params})", "+{"] + [
        "+" + ln for ln in body.strip("\n").splitlines()] + ["+}"]
    return "--- a/mm/demo.c\n+++ b/mm/demo.c\n@@ -10 +10 @@\n" + "\n".join(lines) + "\n"


def test_the_killable_retake_fires_on_the_acquisition():
    diff = _fn("""
    long ret;

    *locked = 1;
    ret = down_read_killable(&mm->mmap_sem);
    if (ret) {
        if (!ret)
            ret = -EINTR;
        return ret;
    }
    return 0;
""")
    assert fired(LOCKED, diff) == [(15, "medium")]


def test_a_trylock_tested_in_the_if_fires():
    diff = _fn("""
    *locked = true;
    if (!mmap_read_trylock(mm))
        return -EAGAIN;
    return 0;
""", params="struct mm_struct *mm, bool *locked")
    assert fired(LOCKED, diff) == [(13, "medium")]


@pytest.mark.parametrize("body", [
    # the store after the acquisition (the fix)
    """
    if (mmap_read_lock_killable(mm))
        return -EINTR;
    *locked = 1;
    return 0;
""",
    # cleared again on the failure branch
    """
    *locked = 1;
    if (mmap_read_lock_killable(mm)) {
        *locked = 0;
        return -EINTR;
    }
    return 0;
""",
    # the flag says the lock is not held
    """
    *locked = 0;
    if (mmap_read_lock_killable(mm))
        return -EINTR;
    return 0;
""",
    # a lock that cannot fail
    """
    *locked = 1;
    mmap_read_lock(mm);
    return 0;
""",
    # the result is never tested here
    """
    *locked = 1;
    return mmap_read_lock_killable(mm);
""",
    # a later store decides, after the earlier one
    """
    *locked = 1;
    *locked = 0;
    if (mmap_read_lock_killable(mm))
        return -EINTR;
    return 0;
""",
])
def test_correct_code_is_quiet(body):
    assert fired(LOCKED, _fn(body)) == []


def test_a_local_flag_is_not_an_out_flag():
    diff = _fn("""
    int held = 0, *p = &held;

    *p = 1;
    if (mmap_read_lock_killable(mm))
        return -EINTR;
    return held;
""", params="struct mm_struct *mm")
    assert fired(LOCKED, diff) == []


def test_untouched_code_is_not_reported():
    diff = ("--- a/mm/demo.c\n+++ b/mm/demo.c\n@@ -10 +10 @@\n"
            " static long demo_fn(struct mm_struct *mm, int *locked)\n"
            " {\n"
            " \t*locked = 1;\n"
            " \tif (mmap_read_lock_killable(mm))\n"
            " \t\treturn -EINTR;\n"
            "+\tdemo_note(mm);\n"
            " \treturn 0;\n"
            " }\n")
    assert fired(LOCKED, diff) == []


def test_the_real_posting_and_its_fix():
    from reviewkit import api
    rep = api.review(str(CORPUS / "buggy" / "gup-killable-locked-flag.eml"),
                     api.Options(select=(LOCKED,), offline=True))
    assert [(f.path, f.line) for f in rep.findings] == [("mm/gup.c", 1116)]
    rep = api.review(str(CORPUS / "fix" / "gup-killable-locked-flag.eml"),
                     api.Options(select=(LOCKED,), offline=True))
    assert rep.findings == [] or all(f.rule != LOCKED for f in rep.findings)


RETRY = "mm/gup-retry-ends-on-tried"

_RETRY_HEAD = ("--- a/mm/demo.c\n+++ b/mm/demo.c\n"
               "@@ -100,11 +100,10 @@ int demo_fixup(struct mm_struct *mm, unsigned int fault_flags)\n")


def test_the_tried_test_fires_when_allow_retry_is_no_longer_cleared():
    diff = _RETRY_HEAD + (
        " {\n"
        " retry:\n"
        " \tret = handle_mm_fault(vma, address, fault_flags, NULL);\n"
        " \tif (ret & VM_FAULT_RETRY) {\n"
        " \t\tmmap_read_lock(mm);\n"
        " \t\tif (!(fault_flags & FAULT_FLAG_TRIED)) {\n"
        "-\t\t\tfault_flags &= ~FAULT_FLAG_ALLOW_RETRY;\n"
        " \t\t\tfault_flags |= FAULT_FLAG_TRIED;\n"
        " \t\t\tgoto retry;\n"
        " \t\t}\n"
        " \t}\n"
        " \treturn 0;\n"
        " }\n")
    assert fired(RETRY, diff) == [(105, "medium")]


def test_a_tried_test_that_does_not_retry_is_quiet():
    diff = _RETRY_HEAD + (
        " {\n"
        " retry:\n"
        " \tret = handle_mm_fault(vma, address, fault_flags, NULL);\n"
        " \tif (ret & VM_FAULT_RETRY) {\n"
        " \t\tmmap_read_lock(mm);\n"
        " \t\tif (!(fault_flags & FAULT_FLAG_TRIED))\n"
        "-\t\t\tfault_flags &= ~FAULT_FLAG_ALLOW_RETRY;\n"
        " \t\t\tpr_warn(\"again\");\n"
        " \t\tfault_flags |= FAULT_FLAG_TRIED;\n"
        " \t\tgoto retry;\n"
        " \t}\n"
        " \treturn 0;\n"
        " }\n")
    assert fired(RETRY, diff) == []


def test_the_real_retry_posting_and_its_fix():
    from reviewkit import api
    rep = api.review(str(CORPUS / "buggy" / "gup-fixup-user-fault-retry.eml"),
                     api.Options(select=(RETRY,), offline=True))
    assert [(f.path, f.line) for f in rep.findings] == [("mm/gup.c", 1016)]
    rep = api.review(str(CORPUS / "fix" / "gup-fixup-user-fault-retry.eml"),
                     api.Options(select=(RETRY,), offline=True))
    assert [f for f in rep.findings if f.rule == RETRY] == []
