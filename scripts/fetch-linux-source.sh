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
# the mm core the --tree tests apply to and the mature users of GUP, pinning
# and page tables the rules must stay quiet on (tests/precision-files.txt, which
# tests/test_precision.py reads too); checkpatch.pl and the files it reads, for
# the b4 wiring tests and the start-up benchmark
listed=$(sed -e 's/#.*//' -e '/^\[.*\]$/d' "$(dirname "$0")/../tests/precision-files.txt")
# shellcheck disable=SC2206  # the list is paths separated by white space
files=($listed scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch)

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
