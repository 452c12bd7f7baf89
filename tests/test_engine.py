"""The engine: acceptance on the seed series, rule loading, crashes, selection, waivers."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from reviewkit import api
from reviewkit.engine import RuleSetError, build_ruleset, load_ruleset, run, select_rules
from reviewkit.engine.manifest import ManifestError, load_manifests
from reviewkit.engine.registry import Hit

from conftest import FIXTURES, REPO, SEED

EXAMPLE = str(REPO / "examples" / "zap-shmem-uffd-v4.mbox")
RANK = {"error": 3, "warning": 2, "info": 1}


def review(source, **kw):
    return api.review(str(source), api.Options(**kw))


def test_seed_series_says_what_hugh_and_david_said():
    rep = review(EXAMPLE)
    by_patch = {}
    for f in rep.findings:
        by_patch.setdefault(f.patch, []).append(f)
    p1 = {(f.rule, f.path, f.line, f.old_line) for f in by_patch[1] if RANK[f.severity] >= 2}
    # both halves of Hugh's objection: SetPageDirty gone, pte_mkdirty unconditional
    assert ("mm/dirty-page-dirty-removed", "mm/shmem.c", None, 2427) in p1
    assert ("mm/dirty-pte-mkdirty-unconditional", "mm/userfaultfd.c", 72, None) in p1
    # 4/4: the helper's sense (David's should_zap_page)
    p4 = {(f.rule, f.path, f.line) for f in by_patch[4]}
    assert ("mm/zap-details-skip-helper-sense", "include/linux/mm.h", 1733) in p4
    # 2/4 and 3/4, acked by Hugh: no warning-or-higher mm finding
    for n in (2, 3):
        assert not [f for f in by_patch.get(n, []) if f.rule.startswith("mm/")
                    and RANK[f.severity] >= 2], n
    assert rep.mode == "diff-only"


def test_seed_002_fixture_flags_the_slow_path_caller_only():
    slow = review(FIXTURES / "gup" / "follow-hugepd-slow.patch")
    hits = [(f.rule, f.line, f.function) for f in slow.findings if f.rule.startswith("mm/gup")]
    assert hits == [("mm/gup-must-unshare-null-vma", 564, "follow_hugepd")]
    fast = review(FIXTURES / "gup" / "hugepd-fast-only.patch")
    assert [f for f in fast.findings if f.rule.startswith("mm/gup")] == []


def _write_rule(d: Path, group: str, slug: str, body: str) -> None:
    (d / group).mkdir(parents=True, exist_ok=True)
    (d / group / f"{slug}.yaml").write_text(textwrap.dedent(body))


GOOD = """\
id: {id}
title: A test rule
severity: warning
confidence: high
scope: line
message: "found {{text}}"
docs: {{what: w, why: y, fix: f, false-positives: none}}
references: []
match:
  added: 'forbidden_call\\('
examples:
  - name: fires
    expect: fire
    diff: |
      --- a/x.c
      +++ b/x.c
      @@ -1 +1 @@
      +forbidden_call(); //~
  - name: silent
    expect: silent
    diff: |
      --- a/x.c
      +++ b/x.c
      @@ -1 +1 @@
      +allowed_call();
"""


@pytest.mark.parametrize("mutate,needle", [
    (lambda s: s + "colour: blue\n", "unknown key(s) colour"),
    (lambda s: s.replace("severity: warning", "severity: fatal"), "severity must be one of"),
    (lambda s: s.replace("docs: {what: w, why: y, fix: f, false-positives: none}",
                         "docs: {what: w}"), "docs must have"),
    (lambda s: s.replace("'forbidden_call\\('", "'('"), "not a valid regular expression"),
    (lambda s: s.replace("expect: silent", "expect: fire"), "mark the line"),
    (lambda s: s.replace("+forbidden_call(); //~", "+forbidden_call();"), "mark the line"),
    (lambda s: s.replace("match:\n  added: 'forbidden_call\\('\n", ""), "give exactly one"),
    (lambda s: s.replace("id: demo/good", "id: demo/other"), "must match its place"),
])
def test_malformed_manifests_fail_loudly_naming_the_file(tmp_path, mutate, needle):
    _write_rule(tmp_path, "demo", "good", mutate(GOOD.format(id="demo/good")))
    with pytest.raises(ManifestError) as exc:
        load_manifests(tmp_path)
    assert "demo/good.yaml" in str(exc.value) and needle in str(exc.value)


def test_duplicate_ids_and_unpaired_checks(tmp_path):
    _write_rule(tmp_path, "demo", "good", GOOD.format(id="demo/good"))
    _write_rule(tmp_path, "demo", "twin", GOOD.format(id="demo/twin") + "aliases: [demo/good]\n")
    with pytest.raises(ManifestError, match="duplicate rule id 'demo/good'"):
        load_manifests(tmp_path)
    (tmp_path / "demo" / "twin.yaml").unlink()
    rules = load_manifests(tmp_path)
    with pytest.raises(RuleSetError, match="without a 'check: python' manifest: demo/orphan"):
        build_ruleset(rules, {"demo/orphan": lambda ctx: ()})
    semantic = GOOD.format(id="demo/sem").replace(
        "match:\n  added: 'forbidden_call\\('\n", "check: python\n")
    _write_rule(tmp_path, "demo", "sem", semantic)
    with pytest.raises(RuleSetError, match="without a check function: demo/sem"):
        build_ruleset(load_manifests(tmp_path), {})


def test_the_shipped_rules_load_and_pair():
    rs = load_ruleset()
    assert len(rs.rules) >= 20
    assert all(r.check == "python" or r.match is not None for r in rs.rules)


def test_a_crashing_rule_is_a_finding_and_the_run_goes_on(tmp_path, monkeypatch):
    # every patch meets the rule (its prefilter would keep it from those that do
    # not mention pte_unmap())
    monkeypatch.setenv("REVIEWKIT_NO_PREFILTER", "1")
    base = load_ruleset()
    boom_rule = next(r for r in base.rules if r.id == "mm/pte-used-after-unmap")

    def boom(ctx):
        raise RuntimeError("kaboom")
        yield Hit()  # pragma: no cover

    checks = dict(base.checks, **{boom_rule.id: boom})
    rs = build_ruleset(list(base.rules), checks)
    series = api.load_series(EXAMPLE)
    result = run(series, list(rs.rules), rs)
    crashed = [f for f in result.findings if f.rule == "internal/rule-crashed"]
    assert {f.patch for f in crashed} == {1, 2, 3, 4}
    assert all("mm/pte-used-after-unmap" in f.message and "kaboom" in f.message for f in crashed)
    # the other rules still ran
    assert any(f.rule == "mm/dirty-pte-mkdirty-unconditional" for f in result.findings)


def test_select_and_ignore_by_id_and_glob():
    rs = load_ruleset()
    mm = select_rules(rs, ["mm/*"])
    assert mm and all(r.id.startswith("mm/") for r in mm)
    some = select_rules(rs, ["mm/dirty-*", "commit/fixes-malformed"], ["mm/dirty-lost-on-clear"])
    ids = {r.id for r in some}
    assert "commit/fixes-malformed" in ids and "mm/dirty-lost-on-clear" not in ids
    assert all(i.startswith("mm/dirty-") or i == "commit/fixes-malformed" for i in ids)
    rep = review(EXAMPLE, select=("mm/zap-*",))
    assert {f.rule for f in rep.findings} == {"mm/zap-details-skip-helper-sense"}
    rep = review(EXAMPLE, ignore=("mm/*",))
    assert not [f for f in rep.findings if f.rule.startswith("mm/")]


def test_waivers_hide_findings_and_report_stale_ones(tmp_path, cli):
    w = tmp_path / "waivers.yaml"
    w.write_text(textwrap.dedent("""\
        - rule: mm/zap-details-skip-helper-sense
          path: include/linux/mm.h
          function: zap_skip_check_mapping
          reason: discussed on the list; v5 renames it should_zap_page()
        - rule: mm/pte-used-after-unmap
          patch: 2
          reason: was a false alarm in an older revision
        """))
    proc = cli("review", EXAMPLE, "-f", "json", "--waivers", str(w))
    rep = json.loads(proc.stdout)
    rules = [f["rule"] for f in rep["findings"]]
    assert "mm/zap-details-skip-helper-sense" not in rules
    stale = [f for f in rep["findings"] if f["rule"] == "internal/stale-waiver"]
    assert len(stale) == 1 and "mm/pte-used-after-unmap" in stale[0]["message"]
    assert any("waived" in n for n in rep["notes"])
    w.write_text("- rule: mm/pte-used-after-unmap\n")
    bad = cli("review", EXAMPLE, "--waivers", str(w))
    assert bad.returncode == 2 and b"reason" in bad.stderr and b"Traceback" not in bad.stderr


def test_rules_list_and_show(cli):
    listing = cli("rules", "list").stdout.decode()
    assert "mm/gup-must-unshare-null-vma" in listing and "commit/signed-off-by-missing" in listing
    mm_only = cli("rules", "list", "--select", "mm/pin-*").stdout.decode().splitlines()
    assert mm_only and all(ln.startswith("mm/pin-") for ln in mm_only)
    show = cli("rules", "show", "mm/dirty-pte-mkdirty-unconditional")
    text = show.stdout.decode()
    assert show.returncode == 0
    for part in ("What:", "Why:", "Fix:", "Known false positives:", "References:",
                 "Example (fires)", "Example (stays silent)", "CVE-2022-2590"):
        assert part in text, part
    missing = cli("rules", "show", "mm/nope")
    assert missing.returncode == 2 and b"no such rule" in missing.stderr
    typo = cli("review", EXAMPLE, "--select", "mn/*")
    assert typo.returncode == 2 and b"matches no rule" in typo.stderr


def test_json_report_carries_mode_and_function(cli):
    rep = json.loads(cli("review", EXAMPLE, "-f", "json").stdout)
    assert rep["mode"] == "diff-only"
    f = next(x for x in rep["findings"] if x["rule"] == "mm/dirty-pte-mkdirty-unconditional")
    assert (f["patch"], f["path"], f["line"], f["function"]) == (
        1, "mm/userfaultfd.c", 72, "mfill_atomic_install_pte")
    assert f["severity"] == "warning" and f["confidence"] == "medium"  # lowered: no tree
    assert any("_dst_pte = pte_mkdirty(_dst_pte);" in x for x in f["excerpt"])


def test_identical_hunks_share_their_functions_and_findings(monkeypatch):
    from reviewkit.engine import context

    def findings():
        return [(f.rule, f.patch, f.path, f.line, f.old_line, f.severity, f.message)
                for f in review(EXAMPLE).findings]

    monkeypatch.setattr(context, "IMAGE_CACHE_SIZE", 0)
    fresh = findings()
    monkeypatch.setattr(context, "IMAGE_CACHE_SIZE", 256)
    context._IMAGE_CACHE.clear()
    first, again = findings(), findings()  # the second run finds every image built
    assert context._IMAGE_CACHE
    assert fresh == first == again
    monkeypatch.setattr(context, "IMAGE_CACHE_SIZE", 2)
    context._IMAGE_CACHE.clear()
    assert findings() == fresh
    assert len(context._IMAGE_CACHE) <= 2  # bounded
