"""Every rule's own examples, each rule run alone: fires where marked, silent elsewhere.

Assertions are on rule id and location (patch, line), never on message wording.
"""

from __future__ import annotations

import pytest

from reviewkit.engine import load_ruleset
from reviewkit.engine.examples import run_example

RULESET = load_ruleset()
CASES = [(rule, n, ex) for rule in RULESET.rules for n, ex in enumerate(rule.examples)]


def test_there_are_rules_in_every_group():
    groups = {r.group for r in RULESET.rules}
    assert {"mm", "commit", "series", "input"} <= groups
    mm = [r.id for r in RULESET.rules if r.group == "mm"]
    for prefix in ("mm/dirty-", "mm/gup-", "mm/zap-", "mm/pin-", "mm/cow-", "mm/pte-"):
        assert any(i.startswith(prefix) for i in mm), prefix


@pytest.mark.parametrize("rule,n,example", CASES,
                         ids=[f"{r.id}[{n}:{e.expect}]" for r, n, e in CASES])
def test_example(rule, n, example):
    run = run_example(rule, RULESET, example)
    if example.tree:
        assert run.mode == "tree", f"{rule.id}: a tree example ran {run.mode}"
    if example.expect == "silent":
        assert run.got == set(), f"{rule.id} fired on a silent example: {sorted(run.got, key=str)}"
    else:
        assert run.expected, "a firing example must mark where"
        missed = run.expected - run.got
        unexpected = run.got - run.expected
        assert not missed and not unexpected, (
            f"{rule.id}: missed {sorted(missed, key=str)}, unexpected {sorted(unexpected, key=str)}")


def test_rule_snapshots(golden):
    """Message text (placeholders filled), severity and confidence of every finding
    of every firing example: a change to any of them shows in the diff."""
    import json

    out = []
    for rule, n, example in CASES:
        if example.expect != "fire" or rule.group != "mm":
            continue
        run = run_example(rule, RULESET, example)
        for f in sorted(run.findings, key=lambda f: (f.patch or 0, f.line or 0, f.old_line or 0)):
            assert not (f.confidence == "low" and f.severity == "error"), (rule.id, n)
            out.append({"rule": rule.id, "example": example.name, "line": f.line,
                        "old_line": f.old_line, "severity": f.severity,
                        "confidence": f.confidence, "message": f.message})
    golden("rule-snapshots.json", json.dumps(out, indent=1, ensure_ascii=False) + "\n")
