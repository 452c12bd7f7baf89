"""The corpus scoreboard: how each rule does on real mm patches.

    python -m reviewkit.corpus corpus/            # the table
    python -m reviewkit.corpus corpus/ --json     # the same figures as JSON
    python -m reviewkit.corpus corpus/ --update   # write corpus/scoreboard.json
    python -m reviewkit.corpus corpus/ --check    # exit 1 when a rule got worse

The corpus holds real list messages, one file per message, in three kinds:
``buggy/`` (a posting a later ``Fixes:`` tag blames), ``fix/`` (that fix, under
the same slug) and ``clean/`` (merged, never blamed).  Every ``<slug>.eml`` has a
``<slug>.yaml`` provenance file; a buggy one says where a reviewer should have
objected (``expect``: path and new-side line range, as in the posting).

Each message is reviewed alone, diff-only, through :mod:`reviewkit.api`, the
way a reviewer gets it.  A rule *hits* a buggy posting when one of its findings
of severity warning or higher is on an expected path and NEAR lines or fewer
outside an expected range.  A *false alarm* is a warning-or-higher finding of an
mm rule on a fix or a clean patch.  The split into a tuned part and a held-out
part is fixed by the buggy posting's Message-ID (see :func:`held_out`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("buggy", "fix", "clean")
NEAR = 5  # lines a finding may sit outside the expected range and still count
PARTS = ("tuned", "held-out")
SCOREBOARD = "scoreboard.json"
MM_PREFIX = "mm/"


def held_out(message_id: str) -> bool:
    """The fixed split: an item is held out when the SHA-256 of its key
    Message-ID (the buggy posting's for a pair, the patch's own for a clean
    patch; without angle brackets, lower case) is 0 modulo 3."""
    key = message_id.strip().strip("<>").lower().encode()
    return int(hashlib.sha256(key).hexdigest(), 16) % 3 == 0


@dataclass(frozen=True)
class Expect:
    path: str
    first: int
    last: int

    def near(self, path: str | None, line: int | None) -> bool:
        return (path == self.path and line is not None
                and self.first - NEAR <= line <= self.last + NEAR)


@dataclass
class Item:
    kind: str  # buggy | fix | clean
    slug: str
    path: Path
    meta: dict
    part: str = "tuned"
    expects: tuple[Expect, ...] = ()
    findings: list = field(default_factory=list)  # warning-or-higher findings
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.slug}"


class CorpusError(Exception):
    pass


def _expects(meta: dict, where: str) -> tuple[Expect, ...]:
    raw = meta.get("expect")
    if isinstance(raw, dict):
        raw = [raw]
    out = []
    for e in raw or []:
        try:
            first, last = (int(x) for x in e["lines"])
            out.append(Expect(str(e["path"]), first, last))
        except (KeyError, TypeError, ValueError):
            raise CorpusError(f"{where}: expect needs path and lines: [first, last]") from None
    if not out:
        raise CorpusError(f"{where}: a buggy posting needs an expect entry")
    return tuple(out)


def load(root: Path) -> list[Item]:
    import yaml

    items: list[Item] = []
    for kind in KINDS:
        for eml in sorted((root / kind).glob("*.eml")):
            prov = eml.with_suffix(".yaml")
            if not prov.is_file():
                raise CorpusError(f"{eml}: no provenance file {prov.name}")
            meta = yaml.safe_load(prov.read_text(encoding="utf-8")) or {}
            if meta.get("kind") != kind:
                raise CorpusError(f"{prov}: kind is {meta.get('kind')!r}, expected {kind!r}")
            item = Item(kind=kind, slug=eml.stem, path=eml, meta=meta)
            if kind == "buggy":
                item.expects = _expects(meta, str(prov))
            items.append(item)
    by_slug = {i.slug: i for i in items if i.kind == "buggy"}
    for i in items:
        if i.kind == "fix" and i.slug not in by_slug:
            raise CorpusError(f"{i.path}: no buggy posting with the slug {i.slug}")
    for i in items:
        key = by_slug[i.slug].meta["message_id"] if i.kind == "fix" else i.meta["message_id"]
        i.part = "held-out" if held_out(str(key)) else "tuned"
    return items


def review_items(items: list[Item]) -> None:
    """Review every message alone and keep the findings the default --fail-on
    counts (warning or higher, at medium confidence or higher)."""
    from reviewkit import api
    from reviewkit.errors import ReviewkitError
    from reviewkit.report import DEFAULT_FAIL_ON

    options = api.Options()
    for item in items:
        try:
            report = api.review(str(item.path), options)
        except ReviewkitError as exc:
            item.error = str(exc)
            continue
        item.findings = report.at_or_above(DEFAULT_FAIL_ON)


def _hit_rules(item: Item) -> set[str]:
    return {f.rule for f in item.findings if f.rule.startswith(MM_PREFIX)
            and any(e.near(f.path, f.line if f.line is not None else f.old_line)
                    for e in item.expects)}


def _mm_rules(item: Item) -> set[str]:
    return {f.rule for f in item.findings if f.rule.startswith(MM_PREFIX)}


def score(items: list[Item], rule_ids: list[str]) -> dict:
    """The scoreboard as a plain dict (what --json prints and scoreboard.json holds)."""
    parts: dict = {}
    rules: dict = {r: {p: {"hits": [], "elsewhere": [], "false_alarms_fix": [],
                           "false_alarms_clean": []} for p in PARTS} for r in rule_ids}

    def rule(rid: str) -> dict:
        if rid not in rules:  # a rule the rule set no longer lists
            rules[rid] = {p: {"hits": [], "elsewhere": [], "false_alarms_fix": [],
                              "false_alarms_clean": []} for p in PARTS}
        return rules[rid]

    for p in PARTS:
        mine = [i for i in items if i.part == p]
        buggy = [i for i in mine if i.kind == "buggy"]
        good = [i for i in mine if i.kind != "buggy"]
        caught = [i for i in buggy if _hit_rules(i)]
        alarmed = [i for i in good if _mm_rules(i)]
        flagged = [i for i in good if i.findings]
        # the same without the series-level rules, which judge a lone patch of
        # an N/M series by what the rest of its thread would have carried
        flagged_patch = [i for i in good
                         if any(not f.rule.startswith("series/") for f in i.findings)]
        by_rule: dict[str, list[str]] = {}
        for i in flagged:
            for rid in sorted({f.rule for f in i.findings}):
                by_rule.setdefault(rid, []).append(i.name)
        parts[p] = {
            "buggy": len(buggy),
            "fix": sum(1 for i in mine if i.kind == "fix"),
            "clean": sum(1 for i in mine if i.kind == "clean"),
            "caught": len(caught),
            "recall": round(len(caught) / len(buggy), 4) if buggy else None,
            "false_alarm_messages": len(alarmed),
            "false_alarm_rate": round(len(alarmed) / len(good), 4) if good else None,
            "fail_on_default": {
                "flagged": len(flagged),
                "share": round(len(flagged) / len(good), 4) if good else None,
                "by_rule": by_rule,
                "flagged_without_series_rules": len(flagged_patch),
                "share_without_series_rules":
                    round(len(flagged_patch) / len(good), 4) if good else None,
            },
            "errors": sorted(i.name for i in mine if i.error),
        }
        for i in buggy:
            hit = _hit_rules(i)
            for rid in hit:
                rule(rid)[p]["hits"].append(i.slug)
            for rid in _mm_rules(i) - hit:
                rule(rid)[p]["elsewhere"].append(i.slug)
        for i in good:
            for rid in _mm_rules(i):
                rule(rid)[p][f"false_alarms_{i.kind}"].append(i.slug)
    for r in rules.values():
        for p in PARTS:
            for k in r[p]:
                r[p][k].sort()
    return {"near": NEAR, "parts": parts,
            "rules": {k: rules[k] for k in sorted(rules)}}


def run(root: Path) -> dict:
    from reviewkit import api

    items = load(root)
    review_items(items)
    rule_ids = [r.id for r in api.ruleset().rules if r.id.startswith(MM_PREFIX)]
    return score(items, rule_ids)


def regressions(old: dict, new: dict) -> list[str]:
    """What got worse from OLD to NEW: a rule that hits fewer buggy postings, or
    raises more false alarms, in either part."""
    out = []
    for rid in sorted(set(old.get("rules", {})) | set(new.get("rules", {}))):
        for p in PARTS:
            o = old.get("rules", {}).get(rid, {}).get(p, {})
            n = new.get("rules", {}).get(rid, {}).get(p, {})
            lost = sorted(set(o.get("hits", [])) - set(n.get("hits", [])))
            if lost:
                out.append(f"{rid} [{p}]: no longer hits {', '.join(lost)}")
            for k in ("false_alarms_fix", "false_alarms_clean"):
                more = sorted(set(n.get(k, [])) - set(o.get(k, [])))
                if more:
                    out.append(f"{rid} [{p}]: new false alarm on {k[13:]} {', '.join(more)}")
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def table(board: dict) -> str:
    """The scoreboard as Markdown tables (what the README shows)."""
    lines = ["| rule | hits tuned | hits held-out | false alarms tuned (fix/clean) "
             "| false alarms held-out (fix/clean) |", "|---|---|---|---|---|"]
    for rid, r in board["rules"].items():
        t, h = r["tuned"], r["held-out"]
        if not any(t[k] or h[k] for k in t):
            continue
        lines.append(f"| `{rid}` | {len(t['hits'])} | {len(h['hits'])} | "
                     f"{len(t['false_alarms_fix'])}/{len(t['false_alarms_clean'])} | "
                     f"{len(h['false_alarms_fix'])}/{len(h['false_alarms_clean'])} |")
    if len(lines) == 2:
        lines.append("| (no mm rule fires on the corpus) | | | | |")
    lines += ["", "| part | buggy | fix | clean | recall | false-alarm rate (mm rules) "
                  "| flagged by default `--fail-on` | the same without series rules |",
              "|---|---|---|---|---|---|---|---|"]
    for p in PARTS:
        s = board["parts"][p]
        good = s["fix"] + s["clean"]
        fo = s["fail_on_default"]
        lines.append(f"| {p} | {s['buggy']} | {s['fix']} | {s['clean']} | "
                     f"{s['caught']}/{s['buggy']} ({_pct(s['recall'])}) | "
                     f"{s['false_alarm_messages']}/{good} ({_pct(s['false_alarm_rate'])}) | "
                     f"{fo['flagged']}/{good} ({_pct(fo['share'])}) | "
                     f"{fo['flagged_without_series_rules']}/{good} "
                     f"({_pct(fo['share_without_series_rules'])}) |")
    causes: dict[str, int] = {}
    for p in PARTS:
        for rid, names in board["parts"][p]["fail_on_default"]["by_rule"].items():
            causes[rid] = causes.get(rid, 0) + len(names)
    if causes:
        from reviewkit.report import DEFAULT_FAIL_ON

        lines += ["", f"Fix and clean messages the default `--fail-on {DEFAULT_FAIL_ON}` "
                  "flags, by rule: "
                  + ", ".join(f"`{rid}` {n}" for rid, n in
                              sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))) + "."]
    return "\n".join(lines)


def _files(item: Item) -> list[str]:
    seen: list[str] = []
    for line in item.path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("+++ "):
            path = line[4:].split("\t")[0].removeprefix("b/").removeprefix("a/")
            if path not in seen:
                seen.append(path)
    return seen


def index(items: list[Item]) -> str:
    """The Markdown list of the corpus (corpus/README.md carries it): the tuned
    buggy postings with their mechanism, the held-out ones by slug only, and
    the clean patches."""
    def subject(i: Item) -> str:
        return str(i.meta.get("subject", "")).replace("|", "\\|")

    out = ["### Buggy postings, tuned part", "",
           "| slug | posting | files | mechanism |", "|---|---|---|---|"]
    for i in items:
        if i.kind == "buggy" and i.part == "tuned":
            files = ", ".join(f"`{f}`" for f in _files(i))
            out.append(f"| `{i.slug}` | {subject(i)} | {files} | {i.meta.get('mechanism', '')} |")
    out += ["", "### Buggy postings, held-out part", "",
            "Described by slug only, so that rules are not written against them: "
            + ", ".join(f"`{i.slug}`" for i in items
                        if i.kind == "buggy" and i.part == "held-out") + ".", "",
            "### Clean patches", "", "| slug | part | posting |", "|---|---|---|"]
    for i in items:
        if i.kind == "clean":
            out.append(f"| `{i.slug}` | {i.part} | {subject(i)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reviewkit.corpus",
                                 description="per-rule scoreboard on the labelled corpus")
    ap.add_argument("root", type=Path, help="the corpus directory (buggy/, fix/, clean/)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--update", action="store_true",
                    help=f"write the figures to ROOT/{SCOREBOARD}")
    ap.add_argument("--index", action="store_true",
                    help="print the Markdown index of the corpus instead of the scoreboard")
    ap.add_argument("--check", action="store_true",
                    help=f"exit 1 when a rule does worse than ROOT/{SCOREBOARD} records")
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        print(f"reviewkit.corpus: {args.root}: not a directory", file=sys.stderr)
        return 2
    if args.index:
        try:
            print(index(load(args.root)))
        except CorpusError as exc:
            print(f"reviewkit.corpus: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        board = run(args.root)
    except CorpusError as exc:
        print(f"reviewkit.corpus: {exc}", file=sys.stderr)
        return 2
    status = 0
    if args.check:
        saved = args.root / SCOREBOARD
        old = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
        worse = regressions(old, board)
        for w in worse:
            print(f"worse: {w}", file=sys.stderr)
        status = 1 if worse else 0
    if args.update:
        (args.root / SCOREBOARD).write_text(json.dumps(board, indent=1, sort_keys=True) + "\n",
                                            encoding="utf-8")
    print(json.dumps(board, indent=1, sort_keys=True) if args.json else table(board))
    return status


if __name__ == "__main__":
    sys.exit(main())
