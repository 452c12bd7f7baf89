#!/usr/bin/env python3
"""Time ``reviewkit dashboard`` over archives of many real series.

For each size (default 5,000 and 20,000 patches) an archive is built with
benchmarks/archive.py (real threads from tests/fixtures, copied with fresh
Message-IDs), then:

- cold: a first run into an empty directory — wall time, patches/s (patches
  in the archive / wall), CPU seconds (user + sys, main process and workers)
  per 1,000 patches, which does not depend on how loaded the machine is, peak
  RSS of the main process and of the largest worker;
- rerun: the same input again, nothing new — wall time;
- one new series: the archive plus one more series — wall time, and how many
  series were reviewed (must be 1).

Prints figures; asserts nothing (machines are noisy; each figure comes with
the load average, as ``uptime`` prints it, when its run ended).  Targets:
cold >= 500 patches/s on 2 cores, peak RSS <= 300 MB for both sizes (not
growing with the archive), rerun <= 2 s.

With --no-content-cache the workers share nothing between patches with the
same hunks (REVIEWKIT_NO_CONTENT_CACHE=1): every patch costs what a patch
never seen before costs.  The archive repeats its real series over and over,
so the figures without that flag flatter the cache; report both.

    python benchmarks/dashboard.py [--patches 5000 20000] [--jobs N] [--no-content-cache]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import archive  # noqa: E402

WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = ['reviewkit'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('reviewkit', run_name='__main__')\n"
    "finally:\n"
    "    s = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    c = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    sys.stderr.write('RSS_KB=%d WORKER_KB=%d CPU=%.3f MAIN_CPU=%.3f\\n' % (\n"
    "        s.ru_maxrss, c.ru_maxrss, s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime,\n"
    "        s.ru_utime + s.ru_stime))\n"
)


def run(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, "dashboard", *args],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())  # 1, 5, 15 minutes, as uptime
    if proc.returncode != 0:
        sys.exit(f"dashboard failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    m = re.search(r"RSS_KB=(\d+) WORKER_KB=(\d+) CPU=([\d.]+) MAIN_CPU=([\d.]+)", proc.stderr)
    s = re.search(r"dashboard: (\d+) series, (\d+) reviewed, (\d+) unchanged", proc.stderr)
    return {"wall": wall, "load": load, "rss": int(m.group(1)) / 1024, "worker_rss": int(m.group(2)) / 1024,
            "cpu": float(m.group(3)), "main_cpu": float(m.group(4)), "series": int(s.group(1)), "reviewed": int(s.group(2)),
            "unchanged": int(s.group(3))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--no-content-cache", action="store_true",
                    help="review every patch as if never seen (no sharing of identical hunks)")
    args = ap.parse_args()
    if args.no_content_cache:
        os.environ["REVIEWKIT_NO_CONTENT_CACHE"] = "1"
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average "
          f"{os.getloadavg()[0]:.1f} at start"
          + (", no content cache" if args.no_content_cache else ""))
    for n in args.patches:
        with tempfile.TemporaryDirectory(prefix="reviewkit-bench-") as tmp:
            path = Path(tmp) / "archive.mbox"
            rounds, patches = archive.build(n, path)
            extra = Path(tmp) / "one-more.mbox"
            archive.build(1, extra, start=rounds + 1000)
            out = Path(tmp) / "dash"
            size = path.stat().st_size / 1e6
            cold = run(str(path), "-o", str(out), *jobs)
            rerun = run(str(path), "-o", str(out), *jobs)
            more = run(str(path), str(extra), "-o", str(out), *jobs)
            print(f"archive: {patches} patches, {cold['series']} series, {size:.1f} MB mbox")
            print(f"  cold:  wall {cold['wall']:.1f} s, {patches / cold['wall']:.0f} patches/s "
                  f"(target >= 500) at load {cold['load']}; CPU {cold['cpu']:.1f} s = "
                  f"{1000 * cold['cpu'] / patches:.2f} s per 1,000 patches (main process "
                  f"{1000 * cold['main_cpu'] / patches:.2f}); peak RSS main {cold['rss']:.0f} MB, "
                  f"largest worker {cold['worker_rss']:.0f} MB (target <= 300)")
            print(f"  rerun, nothing new: wall {rerun['wall']:.2f} s (target <= 2) at load "
                  f"{rerun['load']}, CPU {rerun['cpu']:.2f} s, {rerun['reviewed']} reviewed, "
                  f"{rerun['unchanged']} unchanged; peak RSS {rerun['rss']:.0f} MB")
            print(f"  one new series: wall {more['wall']:.2f} s at load {more['load']}, CPU "
                  f"{more['cpu']:.2f} s, {more['reviewed']} reviewed (must be 1), "
                  f"{more['unchanged']} unchanged; peak RSS {more['rss']:.0f} MB")

if __name__ == "__main__":
    main()
