"""mm/vma-used-after-mmap-unlock: which line fires, which code stays silent.

Real code from Linux 6.1 (madvise_remove(), which takes the file before it
drops the mmap lock) is reviewed as added code: it stays silent; moved so that
it reads the VMA after the unlock — the mistake the aufs mmap patch made there
— it fires on that line, under any names for the locals.
"""

from __future__ import annotations

import re
from pathlib import Path


from ruletest import line_of, linux_function, review_added

RULE = "mm/vma-used-after-mmap-unlock"






def review(tmp_path: Path, text: str, rel: str = "mm/demo.c"):
    return review_added(tmp_path, text, RULE, rel, confidence=True)


def _madvise_remove() -> str:
    return linux_function("mm/madvise.c", "static long madvise_remove(")


def test_real_madvise_remove_is_silent(tmp_path):
    fn = _madvise_remove()
    assert "mmap_read_unlock(mm);" in fn and "get_file(f);" in fn
    assert review(tmp_path, fn) == []


def _offset_after_unlock(fn: str) -> str:
    """The offset computed from the VMA after the unlock, not before."""
    m = re.search(r"\n\toffset = \(loff_t\)\(start - vma->vm_start\)\n[^\n]*\n", fn)
    assert m
    moved = fn[:m.start()] + "\n" + fn[m.end():]
    return moved.replace("\terror = vfs_fallocate(", m.group(0).lstrip("\n") +
                         "\terror = vfs_fallocate(", 1)


def test_real_madvise_remove_reading_the_vma_after_the_unlock_fires(tmp_path):
    text = _offset_after_unlock(_madvise_remove())
    got = review(tmp_path, text)
    assert got == [("madvise_remove", line_of(text, "\toffset = (loff_t)(start - vma"),
                    "warning", "high")]


def test_renaming_the_locals_changes_nothing(tmp_path):
    text = _offset_after_unlock(_madvise_remove())
    renamed = re.sub(r"\bvma\b", "area", text)
    renamed = re.sub(r"\bmm\b", "owner", renamed)
    renamed = renamed.replace("madvise_remove", "punch_range")
    got = review(tmp_path, renamed)
    assert got == [("punch_range", line_of(renamed, "\toffset = (loff_t)(start - area"),
                    "warning", "high")]


OLD_RWSEM = """\
static int demo_sync(struct mm_struct *mm, unsigned long start)
{
	struct vm_area_struct *vma;
	struct file *file;

	down_read(&mm->mmap_sem);
	vma = find_vma(mm, start);
	file = vma->vm_file;
	get_file(file);
	up_read(&mm->mmap_sem);
	vfs_fsync(file, 0);
	if (vma->vm_flags & VM_SHARED)
		start = vma->vm_end;
	fput(file);
	return 0;
}
"""


def test_before_5_8_the_mmap_sem_rwsem_is_the_mmap_lock(tmp_path):
    got = review(tmp_path, OLD_RWSEM)
    assert got == [("demo_sync", line_of(OLD_RWSEM, "if (vma->vm_flags"), "warning", "high")]


def test_another_rwsem_is_not_the_mmap_lock(tmp_path):
    text = OLD_RWSEM.replace("&mm->mmap_sem", "&mm->other_sem")
    assert review(tmp_path, text) == []


VMA_LOCK = """\
static void demo_vma_unlock(struct vm_area_struct *vma)
{
	vma_end_read(vma);
	wake_up(&vma->vm_mm->vma_writer_wait);
}
"""


def test_vma_touched_after_its_own_read_lock_is_dropped(tmp_path):
    got = review(tmp_path, VMA_LOCK)
    assert got == [("demo_vma_unlock", 4, "warning", "high")]


def test_mm_taken_before_the_vma_read_unlock_is_silent(tmp_path):
    text = VMA_LOCK.replace("\tvma_end_read(vma);\n\twake_up(&vma->vm_mm->vma_writer_wait);",
                            "\tstruct mm_struct *mm = vma->vm_mm;\n\n\tvma_end_read(vma);\n"
                            "\twake_up(&mm->vma_writer_wait);")
    assert review(tmp_path, text) == []


RETRY = """\
static int demo_fault_in(struct mm_struct *mm, unsigned long addr)
{
	struct vm_area_struct *vma;
	int ret;

retry:
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma) {
		mmap_read_unlock(mm);
		return -EFAULT;
	}
	ret = demo_handle(vma, addr);
	if (ret == -EAGAIN) {
		mmap_read_unlock(mm);
		demo_wait(addr);
		goto retry;
	}
	mmap_read_unlock(mm);
	return ret;
}
"""


def test_unlock_then_retry_with_a_new_lookup_is_silent(tmp_path):
    assert review(tmp_path, RETRY) == []


def test_unlock_then_use_on_the_retry_path_fires(tmp_path):
    text = RETRY.replace("\t\tdemo_wait(addr);\n", "\t\tdemo_wait(vma->vm_start);\n")
    got = review(tmp_path, text)
    assert got == [("demo_fault_in", line_of(text, "demo_wait(vma->vm_start)"), "warning", "high")]


FLAGGED = """\
static int demo_collapse(struct vm_area_struct *vma, unsigned long start, unsigned long end)
{
	struct mm_struct *mm = vma->vm_mm;
	bool locked = true;
	unsigned long addr;
	int ret = 0;

	for (addr = start; addr < end; addr += PAGE_SIZE) {
		if (!locked) {
			mmap_read_lock(mm);
			locked = true;
			vma = vma_lookup(mm, addr);
			if (!vma)
				return -ENOMEM;
		}
		if (vma->vm_file) {
			struct file *file = get_file(vma->vm_file);

			mmap_read_unlock(mm);
			locked = false;
			ret = demo_scan_file(file, addr);
			fput(file);
		} else {
			ret = demo_scan(vma, addr);
		}
	}
	if (!locked)
		mmap_read_lock(mm);
	return ret;
}
"""


def test_a_relock_under_a_locked_flag_ends_the_path(tmp_path):
    # the loop comes round to vma->vm_file only through the test of the flag
    assert review(tmp_path, FLAGGED) == []


def test_a_use_before_the_flag_is_tested_still_fires(tmp_path):
    text = FLAGGED.replace("\t\t\tfput(file);\n", "\t\t\tfput(file);\n\t\t\tdemo_account(vma);\n")
    assert review(tmp_path, text) == [("demo_collapse", line_of(text, "demo_account(vma)"),
                                       "warning", "high")]


RMAP = """\
static void demo_retract(struct address_space *mapping, pgoff_t pgoff)
{
	struct vm_area_struct *vma;

	i_mmap_lock_write(mapping);
	vma_interval_tree_foreach(vma, &mapping->i_mmap, pgoff, pgoff) {
		struct mm_struct *mm = vma->vm_mm;

		if (!mmap_write_trylock(mm))
			continue;
		demo_collapse(mm, vma);
		mmap_write_unlock(mm);
		demo_account(vma);
	}
	i_mmap_unlock_write(mapping);
}
"""


def test_vmas_found_through_the_rmap_are_kept_alive_by_its_lock(tmp_path):
    assert review(tmp_path, RMAP) == []
    # without the i_mmap lock the same code has nothing keeping the VMA
    bare = RMAP.replace("\ti_mmap_lock_write(mapping);\n", "").replace(
        "\ti_mmap_unlock_write(mapping);\n", "")
    (tmp_path / "bare").mkdir()
    assert review(tmp_path / "bare", bare) == [("demo_retract", line_of(bare, "demo_account(vma)"),
                                               "warning", "high")]


RETRY_FAULT = """\
static int demo_fault_range(struct mm_struct *mm, unsigned long addr, unsigned int flags)
{
	struct vm_area_struct *vma;
	vm_fault_t ret;

retry:
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma) {
		mmap_read_unlock(mm);
		return -EFAULT;
	}
	ret = handle_mm_fault(vma, addr, flags | FAULT_FLAG_ALLOW_RETRY, NULL);
	if (ret & VM_FAULT_RETRY) {
		flags |= FAULT_FLAG_TRIED;
		goto retry;
	}
	mmap_read_unlock(mm);
	return ret & VM_FAULT_ERROR ? -EFAULT : 0;
}
"""


def test_a_fault_retried_with_a_new_lookup_is_silent(tmp_path):
    assert review(tmp_path, RETRY_FAULT) == []


def test_the_vma_used_after_handle_mm_fault_dropped_the_lock_fires(tmp_path):
    text = RETRY_FAULT.replace("\t\tflags |= FAULT_FLAG_TRIED;\n",
                               "\t\tflags |= FAULT_FLAG_TRIED;\n\t\tdemo_count(vma->vm_mm);\n")
    assert review(tmp_path, text) == [("demo_fault_range", line_of(text, "demo_count(vma->vm_mm)"),
                                       "warning", "high")]


def test_retry_nowait_keeps_the_lock(tmp_path):
    text = RETRY_FAULT.replace("\t\tflags |= FAULT_FLAG_TRIED;\n",
                               "\t\tflags |= FAULT_FLAG_TRIED;\n\t\tdemo_count(vma->vm_mm);\n"
                               ).replace("FAULT_FLAG_ALLOW_RETRY", "FAULT_FLAG_ALLOW_RETRY | "
                                         "FAULT_FLAG_RETRY_NOWAIT")
    assert review(tmp_path, text) == []
