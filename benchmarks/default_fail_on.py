"""How often the default --fail-on makes `reviewkit review FILE` exit 1 on real
patches that have nothing wrong with them.

Reviews, one message at a time and diff-only (what `reviewkit review FILE`
does), every clean patch and every fix of the labelled corpus (corpus/clean,
corpus/fix) and the real clean messages of tests/fixtures, and prints each one
the default threshold flags, with the rules that flag it, then the share.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/default_fail_on.py [--fail-on LEVEL[:CONFIDENCE]]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reviewkit import api  # noqa: E402
from reviewkit.report import DEFAULT_FAIL_ON  # noqa: E402

# real messages among the fixtures that are clean (merged, never blamed) or fixes,
# and not already in the corpus
FIXTURES = [
    "tests/fixtures/trailers/sob-then-cc-stable.eml",
    "tests/fixtures/trailers/footer-after-diff.eml",
    "tests/fixtures/trailers/stable-review-in-body-from.eml",
    "tests/fixtures/trailers/stable-quilt-secretmem.eml",
]


def messages() -> list[Path]:
    corpus = sorted((REPO / "corpus" / "clean").glob("*.eml")) + sorted(
        (REPO / "corpus" / "fix").glob("*.eml"))
    return corpus + [REPO / f for f in FIXTURES if (REPO / f).exists()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fail-on", default=DEFAULT_FAIL_ON)
    args = ap.parse_args()
    paths = messages()
    flagged = 0
    by_rule: Counter[str] = Counter()
    for path in paths:
        rep = api.review(str(path))
        hits = rep.at_or_above(args.fail_on)
        if not hits:
            continue
        flagged += 1
        rules = sorted({f"{f.severity}:{f.confidence} {f.rule}" for f in hits})
        by_rule.update({f.rule for f in hits})
        print(f"flagged  {path.relative_to(REPO)}: {', '.join(rules)}")
    share = 100.0 * flagged / len(paths) if paths else 0.0
    print(f"--fail-on {args.fail_on}: {flagged} of {len(paths)} real clean patches and "
          f"fixes flagged ({share:.1f}%)")
    if by_rule:
        print("by rule: " + ", ".join(f"{r} {n}" for r, n in by_rule.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
