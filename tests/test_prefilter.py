"""Rule prefilters (``needs-any`` in a manifest, reviewkit.engine.prefilter) skip
work, never findings: the whole corpus and a sample of the dashboard benchmark's
archive give the same findings with prefilters on and off
(REVIEWKIT_NO_PREFILTER=1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from reviewkit import api, engine
from reviewkit.engine import manifest, prefilter
from reviewkit.engine.manifest import ManifestError

REPO = Path(__file__).resolve().parent.parent


def _corpus_findings() -> dict[str, tuple]:
    out = {}
    options = api.Options()
    for eml in sorted((REPO / "corpus").glob("*/*.eml")):
        try:
            report = api.review(str(eml), options)
        except Exception as exc:  # noqa: BLE001 - an input error is an outcome too
            out[str(eml)] = ("error", type(exc).__name__, str(exc))
            continue
        out[str(eml)] = tuple(report.findings)
    return out


def _differences(off: dict, on: dict) -> list[str]:
    # by rule id and count only: the corpus has a held-out part nobody reads item by item
    from collections import Counter

    lost: Counter = Counter()
    extra: Counter = Counter()
    for key in off:
        a, b = off[key], on.get(key)
        if a == b:
            continue
        fa = set(a) if isinstance(a, tuple) and a and not isinstance(a[0], str) else set()
        fb = set(b) if isinstance(b, tuple) and b and not isinstance(b[0], str) else set()
        for f in fa - fb:
            lost[f.rule] += 1
        for f in fb - fa:
            extra[f.rule] += 1
        if not (fa - fb or fb - fa):
            lost["(order or error)"] += 1
    return [f"{r}: {n} finding(s) lost with the prefilter" for r, n in sorted(lost.items())] + [
        f"{r}: {n} finding(s) only with the prefilter" for r, n in sorted(extra.items())]


@pytest.fixture(autouse=True)
def no_content_cache(monkeypatch):
    """Every review parses afresh: nothing carries over from the run without the
    prefilters to the run with them."""
    from reviewkit.engine import context

    monkeypatch.setenv("REVIEWKIT_NO_CONTENT_CACHE", "1")
    monkeypatch.setattr(context, "IMAGE_CACHE_SIZE", 0)
    context._IMAGE_CACHE.clear()


def test_corpus_findings_are_the_same_with_and_without_prefilters(monkeypatch):
    monkeypatch.setenv("REVIEWKIT_NO_PREFILTER", "1")
    off = _corpus_findings()
    monkeypatch.delenv("REVIEWKIT_NO_PREFILTER")
    on = _corpus_findings()
    assert len(off) >= 100
    assert sum(len(v) for v in off.values() if not (v and isinstance(v[0], str))) > 0
    differ = _differences(off, on)
    assert not differ, "\n".join(differ)


def _dashboard(srcs, out: Path) -> dict[str, str]:
    from reviewkit import dashboard

    dashboard.run(srcs, out, api.Options(), jobs=1)
    pages = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.html")
             if p.name != "index.html"}
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    index.pop("generated", None)
    pages["index.json"] = json.dumps(index, sort_keys=True)
    return pages


def test_dashboard_archive_pages_are_the_same_with_and_without_prefilters(
        monkeypatch, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import archive
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    mbox = tmp_path / "archive.mbox"
    archive.build(400, mbox)
    srcs = api.sources([str(mbox)], api.Options())
    monkeypatch.setenv("REVIEWKIT_NO_PREFILTER", "1")
    off = _dashboard(srcs, tmp_path / "off")
    monkeypatch.delenv("REVIEWKIT_NO_PREFILTER")
    srcs = api.sources([str(mbox)], api.Options())
    on = _dashboard(srcs, tmp_path / "on")
    assert len(off) > 100
    assert sorted(off) == sorted(on)
    differ = sorted(name for name in off if off[name] != on[name])
    assert not differ, f"{len(differ)} page(s) differ, e.g. {differ[:5]}"


def test_prefilter_skips_a_rule_whose_names_are_absent(monkeypatch):
    """A patch with no name a rule needs is not shown to it; with the switch off it is."""
    from reviewkit.engine.examples import example_series
    from reviewkit.engine.manifest import Example

    def example_patch(diff: str):
        return example_series(Example(name="x", expect="silent", diff=diff))[0]

    rs = api.ruleset()
    rule = rs.get("mm/pin-dma-write-without-dirty")
    assert rule is not None and rule.needs_any == ("pin",)
    assert "pin_user_pages" in rs.needs[rule.id]
    seen = []
    checks = dict(rs.checks)

    def spy(ctx):
        seen.append(ctx.patch.index)
        return iter(())

    checks[rule.id] = spy
    spied = engine.RuleSet(rules=rs.rules, checks=checks, needs=rs.needs)
    diff = ("--- a/mm/x.c\n+++ b/mm/x.c\n@@ -1 +1 @@\n void f(void)\n {\n"
            "+\tput_page(page);\n }\n")
    series = example_patch(diff)
    engine.run(series, [rule], spied)
    assert seen == []
    monkeypatch.setenv("REVIEWKIT_NO_PREFILTER", "1")
    engine.run(series, [rule], spied)
    assert seen == [series.patches[0].index]
    monkeypatch.delenv("REVIEWKIT_NO_PREFILTER")
    seen.clear()
    engine.run(example_patch(diff.replace("put_page", "pin_user_pages")), [rule], spied)
    assert len(seen) == 1


def test_needs_any_must_name_the_vocabulary():
    data = {"id": "mm/demo", "title": "t", "severity": "info", "confidence": "low",
            "scope": "function", "message": "m", "check": "python", "references": [],
            "docs": {"what": "w", "why": "w", "fix": "f", "false-positives": "n"},
            "examples": [{"expect": "fire", "diff": "+x //~\n"},
                         {"expect": "silent", "diff": "+y\n"}]}
    rule = manifest.parse_manifest(dict(data, **{"needs-any": ["pin", "put_page", "pairs"]}),
                                   "mm/demo.yaml")
    needs = prefilter.resolve([rule])[rule.id]
    assert {"pin_user_pages", "put_page", "spin_lock"} <= needs
    bad = manifest.parse_manifest(dict(data, **{"needs-any": ["no-such-category"]}),
                                  "mm/demo.yaml")
    with pytest.raises(prefilter.PrefilterError, match="no-such-category"):
        prefilter.resolve([bad])
    with pytest.raises(ManifestError, match="needs-any"):
        manifest.parse_manifest(dict(data, **{"needs-any": "pin"}), "mm/demo.yaml")
