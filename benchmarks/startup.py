#!/usr/bin/env python3
"""reviewkit on the bundled example against checkpatch.pl on the same 4 patches.

Both whole processes, as a reviewer runs them before replying:

    reviewkit review examples/zap-shmem-uffd-v4.mbox          (text, to a pipe)
    perl scripts/checkpatch.pl --no-tree -q 1.patch .. 4.patch (linux-source-6.1)

run side by side, interleaved (reviewkit, checkpatch, reviewkit, ...), after
a warm-up of each; prints the median wall time of each and the ratio
reviewkit / checkpatch (target < 1.0), and the median CPU time (user + sys)
of each, which a loaded machine disturbs less than wall time.  checkpatch.pl, spelling.txt and
const_structs.checkpatch come from Debian's linux-source-6.1 through
scripts/fetch-linux-source.sh (or $REVIEWKIT_LINUX_SRC, when it holds them).

    python benchmarks/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "zap-shmem-uffd-v4.mbox"
SEED = REPO / "tests" / "fixtures" / "seed-zap-shmem-uffd"


def linux_source() -> Path:
    env = os.environ.get("REVIEWKIT_LINUX_SRC")
    if env and (Path(env) / "scripts" / "checkpatch.pl").is_file():
        return Path(env)
    out = subprocess.run(["bash", str(REPO / "scripts" / "fetch-linux-source.sh")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"fetch-linux-source.sh failed: {out.stderr.strip()}")
    return Path(out.stdout.strip().splitlines()[-1])


def _cpu() -> float:
    """User + sys time of the children waited for so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall, user + sys CPU) seconds of one whole run of CMD."""
    c0, t0 = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    if shutil.which("perl") is None:
        sys.exit("perl is not installed")
    src = linux_source()
    with tempfile.TemporaryDirectory(prefix="reviewkit-startup-") as tmp:
        scripts = Path(tmp) / "scripts"
        scripts.mkdir()
        for name in ("checkpatch.pl", "spelling.txt", "const_structs.checkpatch"):
            shutil.copy(src / "scripts" / name, scripts / name)
        patches = []
        for n, eml in enumerate(sorted(SEED.glob("0[1-4]_patch_*.eml")), 1):
            p = Path(tmp) / f"{n:04d}.patch"
            p.write_bytes(eml.read_bytes())
            patches.append(str(p))
        # as installed for a user: byte-code caches written and used, no colour, no pager
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(NO_COLOR="1", PAGER="cat")
        reviewkit = [sys.executable, "-m", "reviewkit", "review", str(EXAMPLE)]
        exe = Path(sys.executable).with_name("reviewkit")
        if exe.is_file():
            reviewkit = [str(exe), "review", str(EXAMPLE)]
        checkpatch = ["perl", str(scripts / "checkpatch.pl"), "--no-tree", "-q", *patches]
        for _ in range(2):  # warm-up: byte-code, caches, page cache
            timed(reviewkit, env)
            timed(checkpatch, env)
        rk, cp = [], []
        for _ in range(args.runs):
            rk.append(timed(reviewkit, env))
            cp.append(timed(checkpatch, env))
    def median(runs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    mr, mc = median(rk, 0), median(cp, 0)
    cr, cc = median(rk, 1), median(cp, 1)
    print(f"{args.runs} interleaved runs each, load average {os.getloadavg()[0]:.1f}")
    print(f"  reviewkit review {EXAMPLE.name} (15 messages, 4 patches): median {mr * 1000:.0f} ms "
          f"(min {min(r[0] for r in rk) * 1000:.0f}), CPU {cr * 1000:.0f} ms")
    print(f"  checkpatch.pl --no-tree on the 4 patches:  median {mc * 1000:.0f} ms "
          f"(min {min(c[0] for c in cp) * 1000:.0f}), CPU {cc * 1000:.0f} ms")
    print(f"  ratio reviewkit / checkpatch: wall {mr / mc:.2f} (target < 1.0), CPU {cr / cc:.2f}; "
          f"per-run wall ratios median "
          f"{statistics.median(r[0] / c[0] for r, c in zip(rk, cp)):.2f}")


if __name__ == "__main__":
    main()
