"""Precision: mature Linux 6.1 code, reviewed as if every line were newly added.

Code read by that many reviewers should draw (almost) no mm warning.  Three
sets of files, all unpacked by scripts/fetch-linux-source.sh:

- TUNED_32: the mm core and the users of GUP and pinning the rules were first
  written against (about 77,000 lines).  It must stay at 0 findings.
- FRESH: about 150,000 more lines of drivers, fs, kernel, io_uring, mm and
  header code that pins pages, walks page tables or uses shmem, added after
  the rules were written.  It is split in two by a fixed rule decided before
  any of it was reviewed: a file is *held aside* when the CRC-32 of its path
  is odd, *tuned* otherwise.  The held-aside part was not looked at while
  the rules were written; both parts must stay at or under 1 warning per
  100,000 lines.
"""

from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path

from reviewkit import api

from conftest import REPO
from test_tree_mode import linux_tree

TUNED_32 = """
mm/gup.c mm/memory.c mm/shmem.c mm/userfaultfd.c include/linux/mm.h
mm/huge_memory.c mm/hugetlb.c mm/mremap.c mm/rmap.c mm/migrate.c mm/madvise.c
mm/mprotect.c mm/khugepaged.c mm/ksm.c mm/swapfile.c mm/filemap.c mm/truncate.c
mm/mmap.c mm/pagewalk.c mm/memory-failure.c mm/page_io.c mm/gup_test.c
fs/userfaultfd.c fs/proc/task_mmu.c fs/direct-io.c block/bio.c lib/iov_iter.c
io_uring/rsrc.c drivers/vfio/vfio_iommu_type1.c drivers/infiniband/core/umem.c
drivers/gpu/drm/drm_gem.c drivers/media/common/videobuf2/frame_vector.c
""".split()

FRESH = """
mm/mlock.c mm/mempolicy.c mm/migrate_device.c mm/hmm.c mm/page_vma_mapped.c
mm/memfd.c mm/process_vm_access.c mm/mincore.c mm/pgtable-generic.c
mm/mapping_dirty_helpers.c mm/page_idle.c mm/damon/vaddr.c mm/swap_state.c
mm/debug_vm_pgtable.c mm/hugetlb_vmemmap.c mm/secretmem.c mm/vmscan.c
mm/memremap.c mm/memcontrol.c mm/vmalloc.c mm/highmem.c mm/sparse-vmemmap.c
mm/page_table_check.c mm/mmu_gather.c mm/swap.c mm/page-writeback.c
mm/readahead.c mm/oom_kill.c mm/compaction.c mm/util.c mm/internal.h
fs/exec.c fs/dax.c fs/hugetlbfs/inode.c fs/proc/base.c fs/fuse/dev.c
fs/nfs/direct.c fs/splice.c fs/orangefs/orangefs-bufmap.c fs/buffer.c fs/aio.c
kernel/events/uprobes.c kernel/futex/core.c kernel/fork.c virt/kvm/kvm_main.c
io_uring/kbuf.c net/xdp/xdp_umem.c net/rds/rdma.c
arch/x86/mm/pat/memtype.c arch/x86/mm/fault.c arch/x86/mm/init_64.c
arch/x86/kvm/mmu/mmu.c arch/x86/include/asm/pgtable.h
drivers/infiniband/hw/hfi1/user_pages.c drivers/infiniband/hw/qib/qib_user_pages.c
drivers/infiniband/core/umem_odp.c drivers/infiniband/hw/usnic/usnic_uiom.c
drivers/misc/genwqe/card_utils.c drivers/misc/vmw_vmci/vmci_queue_pair.c
drivers/misc/sgi-gru/grufault.c drivers/misc/habanalabs/common/memory.c
drivers/media/v4l2-core/videobuf-dma-sg.c drivers/gpu/drm/i915/gem/i915_gem_userptr.c
drivers/gpu/drm/i915/gem/i915_gem_shmem.c drivers/gpu/drm/drm_gem_shmem_helper.c
drivers/gpu/drm/etnaviv/etnaviv_gem.c drivers/gpu/drm/amd/amdgpu/amdgpu_ttm.c
drivers/xen/privcmd.c drivers/platform/goldfish/goldfish_pipe.c
drivers/fpga/dfl-afu-dma-region.c drivers/vdpa/vdpa_user/vduse_dev.c
drivers/vhost/vhost.c drivers/vfio/vfio_iommu_spapr_tce.c drivers/virt/acrn/mm.c
drivers/tee/tee_shm.c drivers/dma-buf/udmabuf.c
include/linux/pgtable.h include/linux/page-flags.h include/linux/highmem.h
include/linux/highmem-internal.h include/linux/page_ref.h include/linux/rmap.h
include/linux/swapops.h include/linux/mm_types.h include/linux/huge_mm.h
include/linux/hugetlb.h include/linux/pagemap.h include/linux/mmap_lock.h
include/linux/spinlock.h include/linux/uaccess.h include/linux/compiler.h
include/linux/mm_inline.h include/linux/uio.h include/linux/fs.h
""".split()


def held_aside(path: str) -> bool:
    """The fixed split, decided before any of FRESH was reviewed."""
    return zlib.crc32(path.encode()) % 2 == 1


HELD = [p for p in FRESH if held_aside(p)]
TUNED_FRESH = [p for p in FRESH if not held_aside(p)]


def review_as_added(files: list[str], tmp_path: Path):
    src = linux_tree()
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-q",
        "--allow-empty", "-m", "base")
    for rel in files:
        p = src / rel
        assert p.is_file(), f"re-run scripts/fetch-linux-source.sh: {rel} is missing"
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(p.read_bytes())
    git("add", "-A")
    git("-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-q", "-m",
        "mm: add\n\nSigned-off-by: A <a@example.org>")
    rep = api.review("HEAD", api.Options(cwd=repo, select=("mm/*",)))
    added = sum(f.added_count for p in rep.series.patches for f in p.files)
    return rep, added


def test_every_precision_file_is_fetched():
    script = (REPO / "scripts" / "fetch-linux-source.sh").read_text()
    listed = set(re.findall(r"[\w./-]+\.[ch]\b", script))
    assert set(TUNED_32) | set(FRESH) <= listed
    assert not set(TUNED_32) & set(FRESH)
    assert HELD and TUNED_FRESH


def test_rules_stay_quiet_on_the_code_they_were_tuned_on(tmp_path):
    rep, added = review_as_added(TUNED_32, tmp_path)
    assert added > 75_000  # every line of every file
    assert [(f.rule, f.path, f.line) for f in rep.findings] == []


def _per_100k(rep, added) -> float:
    warnings = [f for f in rep.findings if f.severity in ("warning", "error")]
    return len(warnings) * 100_000 / added


def test_fresh_code_tuned_part(tmp_path):
    rep, added = review_as_added(TUNED_FRESH, tmp_path)
    rate = _per_100k(rep, added)
    print(f"fresh, tuned part: {len(TUNED_FRESH)} files, {added} lines, "
          f"{rate:.2f} warnings per 100k lines")
    assert added > 50_000
    assert rate <= 1.0, [(f.rule, f.path, f.line) for f in rep.findings]


def test_fresh_code_held_aside_part(tmp_path):
    rep, added = review_as_added(HELD, tmp_path)
    warnings = [f for f in rep.findings if f.severity in ("warning", "error")]
    rate = _per_100k(rep, added)
    print(f"fresh, held aside: {len(HELD)} files, {added} lines, {len(warnings)} warnings, "
          f"{rate:.2f} per 100k lines")
    assert added > 50_000
    # the count only: this part is not read while rules are written
    assert rate <= 1.0, f"{len(warnings)} warnings on {added} held-aside lines"
