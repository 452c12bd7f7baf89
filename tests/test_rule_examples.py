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
    if example.expect == "silent":
        assert run.got == set(), f"{rule.id} fired on a silent example: {sorted(run.got, key=str)}"
    else:
        assert run.expected, "a firing example must mark where"
        missed = run.expected - run.got
        unexpected = run.got - run.expected
        assert not missed and not unexpected, (
            f"{rule.id}: missed {sorted(missed, key=str)}, unexpected {sorted(unexpected, key=str)}")
