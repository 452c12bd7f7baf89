"""Fuzz benchmark: N mutated inputs (and the hostile corpus at full size) through
parse -> rules -> every renderer, each with a time budget.  Prints the internal
errors, the slowest ten inputs, peak RSS, and inputs over budget.  Asserts nothing.

    .venv/bin/python benchmarks/fuzz.py [-n 10000] [--seed 1] [--budget 2] [--jobs 2]
                                        [--corpus] [--save DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fuzzing  # noqa: E402


class OverBudget(Exception):
    pass


def _alarm(*_):
    raise OverBudget()


def one(job):
    """(label, seconds, outcome, rss_mb) of one input, in a worker process."""
    label, data, budget = job
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, budget * 5)  # hard stop at five budgets
    t0 = time.perf_counter()
    try:
        outcome = fuzzing.run(data)
    except fuzzing.InternalError as exc:
        outcome = f"INTERNAL {exc}"[:300]
    except OverBudget:
        outcome = "STOPPED"
    except RecursionError as exc:
        outcome = f"INTERNAL RecursionError {exc}"[:300]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    took = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return label, took, outcome, rss, len(data)


def warm() -> None:
    """Each worker imports reviewkit and compiles the templates before it is timed."""
    fuzzing.run(fuzzing.corpus(0.001)["date-year"])


def inputs(n: int, seed: int, budget: float, corpus: bool):
    if corpus:
        for name, data in fuzzing.corpus(1.0).items():
            yield f"corpus:{name}", data, budget
    for i in range(n):
        rnd = random.Random(seed * 1_000_003 + i)
        yield f"mutation:{seed}:{i}", fuzzing.mutate(rnd), budget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per input")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--corpus", action="store_true", help="also the hostile corpus, full size")
    ap.add_argument("--save", type=Path, help="write inputs that failed here")
    args = ap.parse_args()
    fuzzing._load()  # read the fixtures once, before the workers fork
    t0 = time.perf_counter()
    results = []
    # a fresh worker every 200 inputs: peak RSS per worker stays meaningful
    with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=200,
                                                  initializer=warm) as pool:
        for k, r in enumerate(pool.imap_unordered(
                one, inputs(args.n, args.seed, args.budget, args.corpus), chunksize=4), 1):
            results.append(r)
            if k % 1000 == 0:
                print(f"  {k} inputs, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    wall = time.perf_counter() - t0
    internal = [r for r in results if r[2].startswith(("INTERNAL", "STOPPED"))]
    over = [r for r in results if r[1] > args.budget]
    outcomes: dict[str, int] = {}
    for r in results:
        key = r[2] if not r[2].startswith(("INTERNAL", "STOPPED")) else "internal error"
        outcomes[key] = outcomes.get(key, 0) + 1
    print(f"inputs: {len(results)} in {wall:.0f} s with {args.jobs} workers "
          f"(seed {args.seed}); outcomes: {outcomes}")
    print(f"internal errors: {len(internal)}")
    for label, took, outcome, _, size in internal[:20]:
        print(f"  {label} ({size} bytes, {took:.2f} s): {outcome}")
    print(f"over the {args.budget:g} s budget: {len(over)}")
    print(f"peak RSS of a worker: {max(r[3] for r in results):.0f} MB")
    print("slowest ten:")
    for label, took, outcome, rss, size in sorted(results, key=lambda r: -r[1])[:10]:
        print(f"  {took:7.2f} s  {size:>10} bytes  {rss:6.0f} MB  {label}  ({outcome[:60]})")
    if args.save and internal:
        args.save.mkdir(parents=True, exist_ok=True)
        wanted = {r[0] for r in internal}
        for label, data, _ in inputs(args.n, args.seed, args.budget, args.corpus):
            if label in wanted:
                (args.save / (label.replace(":", "_").replace("/", "_") + ".mbox")).write_bytes(data)


if __name__ == "__main__":
    main()
