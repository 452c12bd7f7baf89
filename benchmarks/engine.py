#!/usr/bin/env python3
"""Time the rule engine alone over the series of a dashboard archive.

The archive (benchmarks/archive.py, --patches N) is read and grouped as the
dashboard does, every series is built once, then the engine runs over all of
them REPEATS times in this process, every patch as if never seen (no sharing
of identical hunks): CPU seconds of each pass, their minimum and median (the
machine is shared: compare minima, and say the load).  With --per-rule, each
rule's own cost (alone, less a pass with no rule).  With --profile FILE, a
cProfile of one pass.  With --no-prefilter, rule prefilters are off
(REVIEWKIT_NO_PREFILTER=1), for the same figures without them.

    python benchmarks/engine.py [--patches 1000] [--repeats 3] [--per-rule]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def series_of(mbox: Path) -> list:
    """The Series the dashboard builds from MBOX, in its order."""
    from reviewkit import api, dashboard

    got: list = []
    review = api.review_series

    def keep(series, options=api.Options(), source=""):
        got.append(series)
        return review(series, options, source)

    api.review_series = keep
    try:
        with tempfile.TemporaryDirectory(prefix="reviewkit-engine-") as out:
            dashboard.run(api.sources([str(mbox)], api.Options()), Path(out), api.Options(),
                          jobs=1)
    finally:
        api.review_series = review
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--per-rule", action="store_true")
    ap.add_argument("--no-prefilter", action="store_true")
    ap.add_argument("--profile", metavar="FILE")
    args = ap.parse_args()
    os.environ["REVIEWKIT_NO_CONTENT_CACHE"] = "1"
    if args.no_prefilter:
        os.environ["REVIEWKIT_NO_PREFILTER"] = "1"
    import archive
    from reviewkit import api, engine

    with tempfile.TemporaryDirectory(prefix="reviewkit-engine-") as tmp:
        mbox = Path(tmp) / "archive.mbox"
        archive.build(args.patches, mbox)
        series = series_of(mbox)
    rs = api.ruleset()
    rules = engine.select_rules(rs)
    patches = sum(len(s.patches) for s in series)

    def one(selected) -> float:
        t = time.process_time()
        for s in series:
            engine.run(s, selected, rs)
        return time.process_time() - t

    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.runcall(one, rules)
        prof.dump_stats(args.profile)
    passes = [one(rules) for _ in range(args.repeats)]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{len(series)} series, {patches} patches, {len(rules)} rules"
          + (", no prefilter" if args.no_prefilter else ""))
    print(f"engine CPU per pass: min {min(passes):.2f} s, median "
          f"{sorted(passes)[len(passes) // 2]:.2f} s ({', '.join(f'{t:.2f}' for t in passes)}) "
          f"= {1000 * min(passes) / patches:.2f} s per 1,000 patches at load {load}")
    if args.per_rule:
        base = min(one([]) for _ in range(2))
        rows = sorted(((one([r]) - base, r.id) for r in rules), reverse=True)
        for t, rid in rows:
            print(f"  {t:6.2f} s  {rid}")


if __name__ == "__main__":
    main()
