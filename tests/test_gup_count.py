"""mm/gup-count-tested-for-zero on real kernel code: __access_remote_vm() of
Linux 6.1 tests get_user_pages_remote()'s count with ``ret <= 0`` and stays
quiet; with the test turned into ``!ret`` an -EFAULT would go on to kmap() a
page never filled in, and the finding sits on that test."""

from __future__ import annotations

import pytest

from test_err_ptr import _source, review_file

RULE = ("mm/gup-count-tested-for-zero",)
_TEST = "\t\t\t\tgup_flags, &page, &vma, NULL);\n\t\tif (ret <= 0) {"


def _remote_vm() -> str:
    text = _source("mm/memory.c")
    start = text.index("int __access_remote_vm(struct mm_struct *mm, unsigned long addr,")
    end = text.index("\n}\n", start) + 3
    return text[start:end]


def test_access_remote_vm_of_6_1_is_quiet(tmp_path):
    assert _TEST in _remote_vm()
    assert review_file(tmp_path, "memory.c", _remote_vm(), RULE) == []


@pytest.mark.parametrize("renamed", [False, True])
def test_a_zero_test_of_the_count_is_found(tmp_path, renamed):
    text = _remote_vm().replace(_TEST, _TEST.replace("ret <= 0", "!ret"))
    if renamed:
        text = text.replace("ret", "got").replace("__access_remote_vm", "demo_access")
    line = text[:text.index("if (!got)" if renamed else "if (!ret)")].count("\n") + 1
    assert review_file(tmp_path, "memory.c", text, RULE) == [
        ("mm/gup-count-tested-for-zero", "demo_access" if renamed else "__access_remote_vm",
         line, "warning")]
