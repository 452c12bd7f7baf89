"""The labelled corpus and its scoreboard (reviewkit.corpus).

The scoreboard test recomputes every figure from the real messages in corpus/
and fails when a rule hits fewer buggy postings, or raises more false alarms,
than corpus/scoreboard.json records.  Improvements are recorded with
`python -m reviewkit.corpus corpus/ --update`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from reviewkit import corpus

ROOT = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="module")
def board():
    return corpus.run(ROOT)


@pytest.fixture(scope="module")
def items():
    return corpus.load(ROOT)


def test_no_rule_does_worse_than_the_recorded_scoreboard(board):
    saved = json.loads((ROOT / corpus.SCOREBOARD).read_text(encoding="utf-8"))
    worse = corpus.regressions(saved, board)
    assert not worse, ("the corpus scoreboard got worse (if a rule changed on purpose, rerun "
                       "`python -m reviewkit.corpus corpus/ --update` and say why):\n"
                       + "\n".join(worse))


def test_recorded_scoreboard_counts_every_message(board):
    saved = json.loads((ROOT / corpus.SCOREBOARD).read_text(encoding="utf-8"))
    for part in corpus.PARTS:
        for key in ("buggy", "fix", "clean"):
            assert saved["parts"][part][key] == board["parts"][part][key], (part, key)


def test_every_message_reviews_without_an_input_error(items):
    corpus.review_items(items)
    assert [i.name for i in items if i.error] == []


def test_pairs_stay_together_and_the_split_is_the_documented_rule(items):
    buggy = {i.slug: i for i in items if i.kind == "buggy"}
    fixes = {i.slug: i for i in items if i.kind == "fix"}
    assert set(fixes) == set(buggy), "every buggy posting has its fix, and no fix is alone"
    for slug, fix in fixes.items():
        assert fix.part == buggy[slug].part
        assert buggy[slug].part == ("held-out" if corpus.held_out(
            buggy[slug].meta["message_id"]) else "tuned")
    parts = [i.part for i in items if i.kind != "fix"]
    assert 0 < parts.count("held-out") < len(parts)


def test_held_out_ignores_angle_brackets_and_case():
    mid = "20220405014855.14468-1-peterx@redhat.com"
    assert corpus.held_out(mid) == corpus.held_out(f"<{mid.upper()}>")
    # the rule is a fixed hash, not a coin: about a third of many ids are held out
    share = sum(corpus.held_out(f"{n}@example.org") for n in range(3000)) / 3000
    assert 0.30 < share < 0.37


def _new_side_lines(eml: Path) -> dict[str, set[int]]:
    """New-side line numbers each file's hunks cover in a posting."""
    out: dict[str, set[int]] = {}
    path = None
    for line in eml.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("+++ "):
            path = line[4:].split("\t")[0].removeprefix("b/").removeprefix("a/")
            continue
        m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))?", line)
        if m and path:
            start, length = int(m.group(1)), int(m.group(2) or 1)
            out.setdefault(path, set()).update(range(start, start + max(length, 1)))
    return out


def test_expected_ranges_lie_in_the_posting_diff(items):
    """Each buggy posting's 'expect' names a file the posting changes and lines
    its hunks cover, so a hit means what the provenance says."""
    for item in (i for i in items if i.kind == "buggy"):
        covered = _new_side_lines(item.path)
        for e in item.expects:
            assert e.path in covered, (item.slug, e.path)
            assert e.first <= e.last, item.slug
            assert covered[e.path] & set(range(e.first, e.last + 1)), (item.slug, e)


def test_provenance_names_message_list_date_subject_and_the_other_half(items):
    for item in items:
        meta = item.meta
        for key in ("message_id", "list", "date", "subject"):
            assert meta.get(key), (item.name, key)
        text = item.path.read_text(encoding="utf-8", errors="replace")
        header = text.split("\n\n", 1)[0].lower()
        assert meta["message_id"].lower() in header, item.name
        if item.kind == "buggy":
            assert meta["fix"]["message_id"] and meta.get("reviewer_should_say"), item.name
        if item.kind == "fix":
            assert meta["blames"]["message_id"] and "Fixes:" in text, item.name
        if item.kind == "clean":
            assert "Fixes:" not in meta["subject"] and meta.get("clean_check"), item.name


def test_near_is_five_lines_either_side():
    e = corpus.Expect("mm/gup.c", 100, 110)
    assert e.near("mm/gup.c", 95) and e.near("mm/gup.c", 115)
    assert not e.near("mm/gup.c", 94) and not e.near("mm/gup.c", 116)
    assert not e.near("mm/memory.c", 105) and not e.near("mm/gup.c", None)


def test_regressions_report_a_lost_hit_and_a_new_false_alarm():
    old = {"rules": {"mm/x": {"tuned": {"hits": ["a", "b"], "false_alarms_fix": [],
                                        "false_alarms_clean": []},
                              "held-out": {"hits": [], "false_alarms_fix": [],
                                           "false_alarms_clean": []}}}}
    new = {"rules": {"mm/x": {"tuned": {"hits": ["a", "c"], "false_alarms_fix": [],
                                        "false_alarms_clean": ["z"]},
                              "held-out": {"hits": [], "false_alarms_fix": [],
                                           "false_alarms_clean": []}}}}
    worse = corpus.regressions(old, new)
    assert worse == ["mm/x [tuned]: no longer hits b",
                     "mm/x [tuned]: new false alarm on clean z"]
    assert corpus.regressions(new, new) == []


def test_a_provenance_file_is_required(tmp_path):
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "x.eml").write_text("Subject: x\n\nbody\n")
    with pytest.raises(corpus.CorpusError, match="no provenance file"):
        corpus.load(tmp_path)


def test_command_line_check_and_bad_root(tmp_path, capsys):
    assert corpus.main([str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert corpus.main([str(ROOT), "--check"]) == 0
    out = capsys.readouterr().out
    assert "| part | buggy | fix | clean |" in out


def test_yaml_files_are_plain_yaml():
    for p in ROOT.glob("*/*.yaml"):
        assert isinstance(yaml.safe_load(p.read_text(encoding="utf-8")), dict), p
