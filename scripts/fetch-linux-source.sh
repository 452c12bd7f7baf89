#!/usr/bin/env bash
# Fetch Debian's linux-source-6.1 package and extract the files reviewkit's
# --tree and precision tests review against.  Prints the directory holding them.
#
#   scripts/fetch-linux-source.sh [DEST]
#   scripts/fetch-linux-source.sh --dirs [--dest DEST] DIR...
#
# DEST defaults to $XDG_CACHE_HOME/reviewkit-tests/linux-6.1 (~/.cache/...).
# The second form extracts whole directories (e.g. mm include/linux, for the
# benchmarks) into DEST, by default $XDG_CACHE_HOME/reviewkit-bench/linux-6.1.
# Nothing of the kernel source is ever added to this repository.
set -euo pipefail

mode=files
dirs=()
if [ "${1:-}" = "--dirs" ]; then
  mode=dirs
  shift
  dest=${XDG_CACHE_HOME:-$HOME/.cache}/reviewkit-bench/linux-6.1
  if [ "${1:-}" = "--dest" ]; then dest=$2; shift 2; fi
  [ $# -gt 0 ] || { echo "usage: fetch-linux-source.sh --dirs [--dest DEST] DIR..." >&2; exit 2; }
  dirs=("$@")
  repo=$(cd "$(dirname "$0")/.." && pwd -P)
  case "$(realpath -m "$dest")/" in
    "$repo"/*) echo "fetch-linux-source: $dest is inside the repository" >&2; exit 2 ;;
  esac
else
  dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/reviewkit-tests/linux-6.1}
fi
# the mm core the --tree tests apply to, and mature users of GUP, pinning and
# page tables that the rules must stay quiet on
files=(mm/gup.c mm/memory.c mm/shmem.c mm/userfaultfd.c include/linux/mm.h
       mm/huge_memory.c mm/hugetlb.c mm/mremap.c mm/rmap.c mm/migrate.c mm/madvise.c
       mm/mprotect.c mm/khugepaged.c mm/ksm.c mm/swapfile.c mm/filemap.c mm/truncate.c
       mm/mmap.c mm/pagewalk.c mm/memory-failure.c mm/page_io.c mm/gup_test.c
       fs/userfaultfd.c fs/proc/task_mmu.c fs/direct-io.c block/bio.c lib/iov_iter.c
       io_uring/rsrc.c drivers/vfio/vfio_iommu_type1.c drivers/infiniband/core/umem.c
       drivers/gpu/drm/drm_gem.c drivers/media/common/videobuf2/frame_vector.c
       # checkpatch, which the b4 wiring tests run beside reviewkit through b4's own runner
       scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch
       # more mature users of GUP, pins, page tables and shmem, none of which the
       # rules were written against: tests/test_precision.py, part held aside
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
       include/linux/mm_inline.h include/linux/uio.h include/linux/fs.h)

have_all() {
  if [ "$mode" = dirs ]; then
    for d in "${dirs[@]}"; do grep -qxF "$d" "$dest/.reviewkit-dirs" 2>/dev/null || return 1; done
    return 0
  fi
  for f in "${files[@]}"; do [ -f "$dest/$f" ] || return 1; done
}
if have_all; then
  echo "$dest"
  exit 0
fi

for tool in apt-get dpkg-deb tar python3; do
  command -v "$tool" >/dev/null || { echo "fetch-linux-source: $tool is not available" >&2; exit 3; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download linux-source-6.1 >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get download linux-source-6.1 >/dev/null
fi
deb=$(ls linux-source-6.1_*.deb)
dpkg-deb --fsys-tarfile "$deb" | tar -x ./usr/src/linux-source-6.1.tar.xz
mkdir -p extract
# stream the .tar.xz once and keep only the wanted members (no xz binary needed)
if [ "$mode" = dirs ]; then wanted=("${dirs[@]}"); else wanted=("${files[@]}"); fi
python3 - usr/src/linux-source-6.1.tar.xz extract "$mode" "${wanted[@]}" <<'PY'
import sys, tarfile
from pathlib import Path
src, dest, mode, wanted = sys.argv[1], Path(sys.argv[2]), sys.argv[3], set(sys.argv[4:])
prefixes = tuple(d.rstrip("/") + "/" for d in wanted)
with tarfile.open(src, "r|xz") as tar:
    for member in tar:
        name = member.name.split("/", 1)[1] if "/" in member.name else ""
        if mode == "dirs":
            if name.startswith(prefixes) and member.isfile() and ".." not in name.split("/"):
                out = dest / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(tar.extractfile(member).read())
                wanted -= {d for d in wanted if name.startswith(d.rstrip("/") + "/")}
            continue
        if name in wanted and member.isfile():
            out = dest / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(member).read())
            wanted.discard(name)
            if not wanted:
                break
if wanted:
    sys.exit("fetch-linux-source: missing from the archive: " + " ".join(sorted(wanted)))
PY
echo "${deb%_all.deb}" > extract/DEBIAN-PACKAGE
if [ "$mode" = dirs ]; then printf '%s\n' "${dirs[@]}" > extract/.reviewkit-dirs; fi
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp.$$"
mv extract "$dest.tmp.$$"
rm -rf "$dest"
mv "$dest.tmp.$$" "$dest"
echo "$dest"
