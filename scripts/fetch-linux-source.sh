#!/usr/bin/env bash
# Fetch Debian's linux-source-6.1 package and extract the few files reviewkit's
# --tree tests review against.  Prints the directory holding them.
#
#   scripts/fetch-linux-source.sh [DEST]
#
# DEST defaults to $XDG_CACHE_HOME/reviewkit-tests/linux-6.1 (~/.cache/...).
# Nothing of the kernel source is ever added to this repository.
set -euo pipefail

dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/reviewkit-tests/linux-6.1}
files=(mm/gup.c mm/memory.c mm/shmem.c mm/userfaultfd.c include/linux/mm.h)

have_all() {
  for f in "${files[@]}"; do [ -f "$dest/$f" ] || return 1; done
}
if have_all; then
  echo "$dest"
  exit 0
fi

for tool in apt-get dpkg-deb tar xz; do
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
tar -xJf usr/src/linux-source-6.1.tar.xz -C extract --strip-components=1 \
  "${files[@]/#/linux-source-6.1/}"
echo "${deb%_all.deb}" > extract/DEBIAN-PACKAGE
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp.$$"
mv extract "$dest.tmp.$$"
rm -rf "$dest"
mv "$dest.tmp.$$" "$dest"
echo "$dest"
