#!/usr/bin/env python3
"""How many changed functions get a parsed model in diff-only mode.

Reads every patch of corpus/*/*.eml and of tests/fixtures (.eml, .mbox,
.patch; a patch met twice is counted once), builds what a rule sees without a
tree, and counts, for every changed function and side (before / after the
patch):

- ``model``: reviewkit.analysis.of() gives an analysis (the function parsed);
- ``clean``: the parsed function holds no tree-sitter ERROR or MISSING node
  (the reconstruction made one well-formed function of what the hunks show);
- ``multi-hunk``: the same, for the functions whose lines come from more than
  one hunk.

With ``--review`` it also reviews every input as ``reviewkit review FILE``
does and counts the functions the review knew (every function of every image)
against those it parsed: a function no rule asks about is never parsed.

Prints figures; asserts nothing.

    python benchmarks/coverage.py [--list] [--review] [PATH...]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reviewkit.analysis import of  # noqa: E402
from reviewkit.engine.context import diff_only_changes  # noqa: E402
from reviewkit.parse.mbox import looks_like_mbox, split_bytes  # noqa: E402
from reviewkit.parse.series import RawMessage, classify  # noqa: E402


def inputs(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    out = sorted((REPO / "corpus").glob("*/*.eml"))
    for ext in ("eml", "mbox", "patch"):
        out.extend(sorted((REPO / "tests" / "fixtures").rglob(f"*.{ext}")))
    return out


def patches(path: Path):
    data = path.read_bytes()
    chunks = [m for _, m in split_bytes(data)] if looks_like_mbox(data[:1024]) else [data]
    for i, chunk in enumerate(chunks):
        item = classify(RawMessage(f"{path}:{i}", chunk))
        if item.kind == "patch" and item.patch is not None:
            yield item.patch


def has_error(node) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            return True
        if n.has_error:
            stack.extend(n.children)
    return False


def hunks_of(f, fd) -> int:
    shown = {n for n, _ in f.lines}
    return sum(1 for h in fd.hunks
               if any((ln.new_no if side == "post" else ln.old_no) in shown
                      for side in ("pre", "post") for ln in h.lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--list", action="store_true",
                    help="name every function side that has no clean model")
    ap.add_argument("--review", action="store_true",
                    help="also count the functions a whole review parses")
    args = ap.parse_args()
    seen: set[str] = set()
    total = model = clean = multi = multi_model = multi_clean = 0
    missing: list[str] = []
    for path in inputs(args.paths):
        for patch in patches(path):
            key = hashlib.sha256(repr([(fd.path, [(h.old_start, h.lines) for h in fd.hunks])
                                       for fd in patch.files]).encode()).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            for change in diff_only_changes(patch):
                if not change.path.endswith((".c", ".h")):
                    continue
                for fc in change.functions:
                    if fc.name is None:
                        continue
                    for side in ("pre", "post"):
                        f = getattr(fc, side)
                        if f is None:
                            continue
                        total += 1
                        fa = of(f)
                        ok = fa is not None and not has_error(fa.node)
                        model += fa is not None
                        clean += ok
                        many = hunks_of(f, change.diff) > 1
                        if many:
                            multi += 1
                            multi_model += fa is not None
                            multi_clean += ok
                        if not ok:
                            missing.append(f"{path.relative_to(REPO) if path.is_absolute() else path}"
                                           f": {change.path} {fc.name} ({side})"
                                           f"{' multi-hunk' if many else ''}"
                                           f"{' no model' if fa is None else ' errors'}")

    def pct(a: int, b: int) -> str:
        return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "0/0"

    print(f"patches: {len(seen)}  changed function sides: {total}")
    print(f"parsed model:            {pct(model, total)}")
    print(f"clean model (no ERROR):  {pct(clean, total)}")
    print(f"multi-hunk sides:        {multi}; parsed {pct(multi_model, multi)}, "
          f"clean {pct(multi_clean, multi)}")
    if args.list:
        for m in missing:
            print("  " + m)
    if args.review:
        known, built = review_parses(inputs(args.paths))
        print(f"functions a review knows / parses: {known} / {built} "
              f"({100 * built / known:.0f}% parsed)" if known else "no functions reviewed")


def review_parses(paths: list[Path]) -> tuple[int, int]:
    """(functions the reviews' images held, functions they parsed), over every input."""
    from functools import cached_property

    from reviewkit import api
    from reviewkit.engine import cfunc
    from reviewkit.engine.context import FileImage
    from reviewkit.errors import ReviewkitError

    made: list = []
    original = FileImage.__dict__["functions"]

    def functions(self):
        fs = original.func(self)
        made.extend(fs)
        return fs

    counting = cached_property(functions)
    counting.__set_name__(FileImage, "functions")
    FileImage.functions = counting  # type: ignore[assignment]
    known = built = 0
    try:
        for path in paths:
            made.clear()
            try:
                api.review(str(path), api.Options())
            except ReviewkitError:
                continue
            known += len(made)
            built += sum(cfunc.parsed(f) for f in made)
    finally:
        FileImage.functions = original  # type: ignore[assignment]
    return known, built


if __name__ == "__main__":
    main()
