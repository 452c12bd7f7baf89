"""mm/resource-held-on-error-return over the wider pairs of the vocabulary:
mutexes and rwsems, mm references, the TLB gather, a notifier range, the
hugetlb VMA lock.  One error return skipping the release fires on that
return; the same function releasing on the way stays silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit import api

from conftest import commit_as_added

RULE = "mm/resource-held-on-error-return"

TEMPLATE = """\
static int demo_op(struct demo *d, struct mm_struct *mm, struct vm_area_struct *vma)
{
	int err;

	ACQUIRE;
	err = demo_step();
	if (err)
		return -EINVAL;
	demo_more();
	RELEASE;
	return 0;
}
"""

CASES = [
    ("mutex_lock(&d->lock)", "mutex_unlock(&d->lock)"),
    ("down_write(&d->sem)", "up_write(&d->sem)"),
    ("mmget(mm)", "mmput(mm)"),
    ("mmgrab(mm)", "mmdrop(mm)"),
    ("tlb_gather_mmu(&d->tlb, mm)", "tlb_finish_mmu(&d->tlb)"),
    ("mmu_notifier_invalidate_range_start(&d->range)", "mmu_notifier_invalidate_range_end(&d->range)"),
    ("hugetlb_vma_lock_read(vma)", "hugetlb_vma_unlock_read(vma)"),
    ("xas_lock_irq(&d->xas)", "xas_unlock_irq(&d->xas)"),
]


def review(tmp_path: Path, text: str):
    repo = commit_as_added(tmp_path, {"mm/demo.c": text})
    rep = api.review("HEAD", api.Options(cwd=repo, select=(RULE,)))
    return [(f.function, f.line) for f in rep.findings]


@pytest.mark.parametrize("acquire,release", CASES, ids=[a.split("(")[0] for a, _ in CASES])
def test_an_error_return_skipping_the_release_fires(tmp_path, acquire, release):
    text = TEMPLATE.replace("ACQUIRE", acquire).replace("RELEASE", release)
    assert review(tmp_path, text) == [("demo_op", 8)]


@pytest.mark.parametrize("acquire,release", CASES, ids=[a.split("(")[0] for a, _ in CASES])
def test_released_on_the_error_path_is_silent(tmp_path, acquire, release):
    text = TEMPLATE.replace("ACQUIRE", acquire).replace("RELEASE", release).replace(
        "\tif (err)\n\t\treturn -EINVAL;\n", f"\tif (err) {{\n\t\t{release};\n\t\treturn -EINVAL;\n\t}}\n")
    assert review(tmp_path, text) == []


ALLOC = """\
static int demo_fill(struct demo *d, const void __user *src)
{
	struct page *page = alloc_page(GFP_KERNEL);

	if (!page)
		return -ENOMEM;
	if (copy_from_user(page_address(page), src, PAGE_SIZE))
		return -EFAULT;
	demo_use(page_address(page));
	__free_page(page);
	return 0;
}
"""


def test_a_page_allocation_leaked_on_an_error_return_fires(tmp_path):
    assert review(tmp_path, ALLOC) == [("demo_fill", 8)]


def test_a_warned_allocation_failure_holds_nothing(tmp_path):
    text = ALLOC.replace("\tif (!page)\n", "\tif (WARN_ON_ONCE(!page))\n").replace(
        "\t\treturn -EFAULT;\n", "\t\tgoto out;\n").replace(
        "\t__free_page(page);\n\treturn 0;\n", "\t__free_page(page);\n\treturn 0;\nout:\n"
        "\t__free_page(page);\n\treturn -EFAULT;\n")
    assert review(tmp_path, text) == []


def test_an_allocation_stored_for_the_caller_is_handed_off(tmp_path):
    text = ALLOC.replace("\tstruct page *page = alloc_page(GFP_KERNEL);\n",
                         "\tstruct page *page;\n\n\td->page = alloc_page(GFP_KERNEL);\n"
                         "\tpage = d->page;\n")
    assert review(tmp_path, text) == []
