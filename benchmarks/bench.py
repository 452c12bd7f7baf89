#!/usr/bin/env python3
"""Time reviewkit on the bundled example and on a synthetic 5,000-patch series.

Prints figures; asserts nothing (machines are noisy).  Each review runs as a
separate ``python -m reviewkit`` process, so start-up and imports are counted
and peak RSS is that process's own.

    python benchmarks/bench.py [--patches 5000] [--runs 5] [--bulk-only]

Targets: example end to end <= 0.5 s; bulk >= 300 patches/s with peak RSS <= 300 MB;
the 6.1 series with --tree (a real kernel tree) <= 1.5 s.  The tree figure needs
scripts/fetch-linux-source.sh to have unpacked linux-source-6.1 (or
REVIEWKIT_LINUX_SRC pointing at a tree).
"""

from __future__ import annotations

import argparse
import email
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "zap-shmem-uffd-v4.mbox"
SEED = REPO / "tests" / "fixtures" / "seed-zap-shmem-uffd"
SERIES_61 = REPO / "tests" / "fixtures" / "linux-6.1" / "series.mbox"
SEP = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def run_review(path: Path, *extra: str, workers: list | None = None,
               cpu: list | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one review process (its parse workers' peak
    goes to ``workers``, its CPU seconds, user + system with its workers', to ``cpu``)."""
    wrapper = (
        "import resource, runpy, sys\n"
        "sys.argv = ['reviewkit'] + sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('reviewkit', run_name='__main__')\n"
        "finally:\n"
        "    me = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    kids = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "    sys.stderr.write('RSS_KB=%d WORKER_KB=%d CPU=%.3f\\n' % (me.ru_maxrss, kids.ru_maxrss,\n"
        "        me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime))\n"
    )
    # as installed for a user: byte-code caches are written and used
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, "review", str(path), "--format", "json",
         "--output", os.devnull, "--fail-on", "never", *extra],
        capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"review failed ({proc.returncode}): {proc.stderr.strip()}")
    m = re.search(r"RSS_KB=(\d+) WORKER_KB=(\d+) CPU=([\d.]+)", proc.stderr)
    if workers is not None:
        workers.append(int(m.group(2)) / 1024)
    if cpu is not None:
        cpu.append(float(m.group(3)))
    return wall, int(m.group(1)) / 1024


def build_bulk(n: int, out: Path) -> None:
    """n patches: the real 4 patches over and over, renumbered, with fresh Message-IDs."""
    patches = [p.read_bytes() for p in sorted(SEED.glob("0[1-4]_patch_*.eml"))]
    cover_id = b"bench-0@reviewkit.invalid"
    with out.open("wb") as fp:
        cover = (SEED / "00_cover_v4-0-4_zap-shmem-uffd-cleanups.eml").read_bytes()
        cover = re.sub(rb"\[PATCH v4 0/4\]", b"[PATCH v4 0/%d]" % n, cover)
        cover = re.sub(rb"(?mi)^Message-Id: <[^>]+>", b"Message-Id: <" + cover_id + b">", cover)
        fp.write(SEP + cover + b"\n")
        for k in range(1, n + 1):
            msg = patches[(k - 1) % len(patches)]
            msg = re.sub(rb"\[PATCH v4 \d/4\]", b"[PATCH v4 %d/%d]" % (k, n), msg)
            msg = re.sub(rb"(?mi)^Message-Id: <[^>]+>", b"Message-Id: <bench-%d@reviewkit.invalid>" % k, msg)
            msg = re.sub(rb"(?mi)^(In-Reply-To|References): <[^>]+>", rb"\1: <" + cover_id + b">", msg)
            msg = re.sub(rb"(?m)^From ", b">From ", msg)
            fp.write(SEP + msg + b"\n")


def stdlib_parse_seconds(path: Path) -> float:
    """The stdlib email parser alone on the same messages (split with reviewkit's splitter)."""
    sys.path.insert(0, str(REPO))
    from reviewkit.parse.mbox import split_file

    t0 = time.perf_counter()
    with path.open("rb") as fp:
        for _, data in split_file(fp):
            msg = email.message_from_bytes(data)
            msg.get_payload(decode=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bulk-only", action="store_true",
                    help="only the synthetic series (the example and tree runs are skipped)")
    args = ap.parse_args()

    run_review(EXAMPLE)  # warm-up: byte-code and template caches, page cache
    if args.bulk_only:
        bulk_run(args)
        return
    walls, rsss = zip(*(run_review(EXAMPLE) for _ in range(args.runs)))
    print(f"example series ({EXAMPLE.name}, 15 messages, 4 patches), {args.runs} runs:")
    print(f"  wall median {statistics.median(walls):.3f} s  min {min(walls):.3f} s  "
          f"max {max(walls):.3f} s   (target <= 0.5 s)")
    print(f"  peak RSS {max(rsss):.1f} MB")

    tree = Path(os.environ.get("REVIEWKIT_LINUX_SRC") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reviewkit-tests"
        / "linux-6.1")
    if (tree / "mm" / "gup.c").is_file():
        run_review(SERIES_61, "--tree", str(tree))
        walls, rsss = zip(*(run_review(SERIES_61, "--tree", str(tree))
                            for _ in range(args.runs)))
        print(f"6.1 series with --tree {tree} (3 patches, mm/gup.c mm/shmem.c mm/memory.c), "
              f"{args.runs} runs:")
        print(f"  wall median {statistics.median(walls):.3f} s  min {min(walls):.3f} s  "
              f"max {max(walls):.3f} s   (target <= 1.5 s), peak RSS {max(rsss):.1f} MB")
        walls = [run_review(SERIES_61)[0] for _ in range(args.runs)]
        print(f"  same series diff-only: wall median {statistics.median(walls):.3f} s")
    else:
        print(f"6.1 --tree benchmark skipped: no tree at {tree} "
              "(run scripts/fetch-linux-source.sh)")

    bulk_run(args)


def bulk_run(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bulk = Path(tmp) / "bulk.mbox"
        build_bulk(args.patches, bulk)
        size = bulk.stat().st_size / 1e6
        worker_rss: list[float] = []
        cpu: list[float] = []
        load = os.getloadavg()[0]
        wall, rss = run_review(bulk, workers=worker_rss, cpu=cpu)
        stdlib = stdlib_parse_seconds(bulk)
        print(f"synthetic series ({args.patches} patches + cover, {size:.1f} MB mbox):")
        print(f"  reviewkit review: wall {wall:.2f} s, {args.patches / wall:.0f} patches/s "
              f"(target >= 300), peak RSS {rss:.1f} MB (target <= 300); "
              f"each parse worker peaked at {worker_rss[0]:.1f} MB")
        print(f"  CPU {cpu[0]:.2f} s user+sys ({args.patches / cpu[0]:.0f} patches per CPU "
              f"second); load average {load:.2f} before, {os.getloadavg()[0]:.2f} after "
              f"(on a shared machine wall time follows the load, CPU time much less)")
        print(f"  stdlib email.message_from_bytes alone: {stdlib:.2f} s "
              f"({args.patches / stdlib:.0f} messages/s)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"maxrss unit KB (linux), ru_maxrss self {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
