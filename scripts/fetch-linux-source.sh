#!/usr/bin/env bash
# Fetch Debian's linux-source-6.1 package and extract the files reviewkit's
# --tree and precision tests review against.  Prints the directory holding them.
#
#   scripts/fetch-linux-source.sh [DEST]
#
# DEST defaults to $XDG_CACHE_HOME/reviewkit-tests/linux-6.1 (~/.cache/...).
# Nothing of the kernel source is ever added to this repository.
set -euo pipefail

dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/reviewkit-tests/linux-6.1}
# the mm core the --tree tests apply to, and mature users of GUP, pinning and
# page tables that the rules must stay quiet on; checkpatch.pl and the files it
# reads, for the start-up benchmark
files=(mm/gup.c mm/memory.c mm/shmem.c mm/userfaultfd.c include/linux/mm.h
       mm/huge_memory.c mm/hugetlb.c mm/mremap.c mm/rmap.c mm/migrate.c mm/madvise.c
       mm/mprotect.c mm/khugepaged.c mm/ksm.c mm/swapfile.c mm/filemap.c mm/truncate.c
       mm/mmap.c mm/pagewalk.c mm/memory-failure.c mm/page_io.c mm/gup_test.c
       fs/userfaultfd.c fs/proc/task_mmu.c fs/direct-io.c block/bio.c lib/iov_iter.c
       io_uring/rsrc.c drivers/vfio/vfio_iommu_type1.c drivers/infiniband/core/umem.c
       drivers/gpu/drm/drm_gem.c drivers/media/common/videobuf2/frame_vector.c
       scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch)

have_all() {
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
python3 - usr/src/linux-source-6.1.tar.xz extract "${files[@]}" <<'PY'
import sys, tarfile
from pathlib import Path
src, dest, wanted = sys.argv[1], Path(sys.argv[2]), set(sys.argv[3:])
with tarfile.open(src, "r|xz") as tar:
    for member in tar:
        name = member.name.split("/", 1)[1] if "/" in member.name else ""
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
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp.$$"
mv extract "$dest.tmp.$$"
rm -rf "$dest"
mv "$dest.tmp.$$" "$dest"
echo "$dest"
