"""A bounded share of the fuzz harness (tests/fuzzing.py): mutated real fixtures
and the hostile size/complexity corpus, scaled down, through parse, every rule
and every renderer.  benchmarks/fuzz.py runs the full share with a time budget."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fuzzing


@pytest.mark.parametrize("name", sorted(fuzzing.corpus(0.01)))
def test_hostile_corpus_ends_in_findings_or_a_one_line_error(name):
    assert fuzzing.run(fuzzing.corpus(0.01)[name]) in ("findings", "clean", "input-error")


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.randoms(use_true_random=False))
def test_mutated_fixtures_never_reach_an_internal_error(rnd):
    fuzzing.run(fuzzing.mutate(rnd))


def test_the_harness_sees_an_internal_error():
    # the harness must fail on what it is for: a raw escape sequence in the output
    import reviewkit.render.terse as terse

    real = terse.line_of
    terse.line_of = lambda f, report: "\x1b[2J" + f.message
    try:
        with pytest.raises(fuzzing.InternalError, match="raw control character"):
            fuzzing.run(fuzzing.corpus(0.01)["date-year"])
    finally:
        terse.line_of = real


def test_mutations_are_reproducible():
    a = [fuzzing.mutate(random.Random(7)) for _ in range(3)]
    b = [fuzzing.mutate(random.Random(7)) for _ in range(3)]
    assert a == b and len(set(a)) >= 1
