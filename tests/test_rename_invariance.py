"""Renaming never changes a finding.

Every rule example and the bundled example are reviewed again with their
locals, parameters, labels and every function name that is not kernel API
(not in rules/mm/_vocab.yaml) renamed — once with a fixed map, and with names
hypothesis draws.  Rule, patch and line of every finding must stay the same.

Kept as they are: C keywords and basic types, kernel API (the vocabulary),
macros and constants (ALL_CAPS), typedef'd types (``*_t``), struct, union and
enum tags, and struct fields (names after ``->`` or ``.``, wherever they
appear) — those are the kernel's own interfaces, not spellings a patch author
chooses.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewkit import api
from reviewkit.analysis.vocab import vocab
from reviewkit.engine import load_ruleset
from reviewkit.engine.examples import run_example

from conftest import REPO

RULESET = load_ruleset()
BUNDLED = REPO / "examples" / "zap-shmem-uffd-v4.mbox"

C_WORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while bool true false NULL typeof __typeof__ asm __asm__
defined include ifdef ifndef endif elif define undef pragma error likely unlikely
__func__ __always_inline __init __user __iomem __rcu __must_check noinline
""".split())

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_FIELD = re.compile(r"(?:->|(?<=[\w)\]])\.)([A-Za-z_][A-Za-z0-9_]*)")
_TAG = re.compile(r"\b(?:struct|union|enum)\s+([A-Za-z_][A-Za-z0-9_]*)")


def _kept(texts: list[str]) -> set[str]:
    keep = set(C_WORDS)
    V = vocab()
    for e in V.entries():
        keep.add(e.name)
    for t in texts:
        for _, _, code in _code_lines(t, whole=not _is_mail(t)):
            keep.update(_FIELD.findall(code))
            keep.update(_TAG.findall(code))
    return keep


def _is_mail(text: str) -> bool:
    return "\n--- a/" in text or text.startswith(("--- a/", "From ", "diff --git"))


def _renamable(name: str, keep: set[str]) -> bool:
    return not (name in keep or name.isupper() or name.endswith("_t") or len(name) < 2
                or name.startswith("__"))


def _code_lines(text: str, whole: bool) -> list[tuple[int, str, str]]:
    """(index, prefix kept, code to rename) for the lines of a diff or mbox that
    hold C code: hunk lines and hunk-header sections (or every line of a C file)."""
    out = []
    in_diff = whole
    for i, line in enumerate(text.split("\n")):
        if whole:
            out.append((i, "", line))
            continue
        if line.startswith("diff --git") or line.startswith("--- a/"):
            in_diff = True
            continue
        if not in_diff:
            continue
        if line.startswith("From ") or line == "-- ":
            in_diff = False
            continue
        if line.startswith(("+++ ", "--- ", "index ")):
            continue
        if line.startswith("@@"):
            m = re.match(r"^(@@[^@]*@@)(.*)$", line)
            if m:
                out.append((i, m.group(1), m.group(2)))
            continue
        if line[:1] in ("+", "-", " "):
            out.append((i, line[:1], line[1:]))
    return out


def rename(text: str, mapping, keep: set[str], *, whole: bool = False) -> str:
    lines = text.split("\n")
    for i, prefix, code in _code_lines(text, whole):
        new = _IDENT.sub(lambda m: mapping(m.group(0)) if _renamable(m.group(0), keep)
                         else m.group(0), code)
        lines[i] = prefix + new
    return "\n".join(lines)


def fixed(name: str) -> str:
    return "rn_" + hashlib.sha1(name.encode()).hexdigest()[:8]


def _texts(example) -> list[str]:
    return [t for t in [example.diff, example.mbox, *(example.tree or {}).values()] if t]


def renamed_example(example, mapping):
    keep = _kept(_texts(example))
    kw = {}
    if example.diff:
        kw["diff"] = rename(example.diff, mapping, keep)
    if example.mbox:
        kw["mbox"] = rename(example.mbox, mapping, keep)
    if example.tree:
        kw["tree"] = {p: rename(t, mapping, keep, whole=p.endswith((".c", ".h")))
                      for p, t in example.tree.items()}
    return replace(example, **kw)


CASES = [(rule, n, ex) for rule in RULESET.rules for n, ex in enumerate(rule.examples)
         if rule.group == "mm"]
BASELINE = {(rule.id, n): run_example(rule, RULESET, ex).got for rule, n, ex in CASES}


def test_renaming_changes_the_text():
    # the test would prove nothing if the map left the examples alone
    changed = sum(renamed_example(ex, fixed) != ex for _, _, ex in CASES)
    assert changed == len(CASES)
    text = BUNDLED.read_text(encoding="utf-8")
    out = rename(text, fixed, _kept([text]))
    header = re.compile(r"^@@ [^@]* @@ static void unmap_mapping_range_vma\(", re.M)
    assert header.search(text) and not header.search(out)
    assert "\n+\t_dst_pte = " in text and "\n+\t_dst_pte = " not in out
    assert "pte_mkdirty(" in out and "vmf->pte" in out  # API and fields stay


@pytest.mark.parametrize("rule,n,example", CASES,
                         ids=[f"{r.id}[{n}:{e.expect}]" for r, n, e in CASES])
def test_rule_example_under_a_fixed_renaming(rule, n, example):
    run = run_example(rule, RULESET, renamed_example(example, fixed))
    assert run.got == BASELINE[(rule.id, n)]


def _bundled_findings(text: str, tmp: Path) -> set:
    path = tmp / "series.mbox"
    path.write_text(text, encoding="utf-8")
    rep = api.review(str(path))
    return {(f.rule, f.patch, f.line, f.old_line) for f in rep.findings}


def test_bundled_example_under_a_fixed_renaming(tmp_path):
    text = BUNDLED.read_text(encoding="utf-8")
    before = _bundled_findings(text, tmp_path)
    assert {r for r, *_ in before} >= {"mm/dirty-page-dirty-removed",
                                        "mm/dirty-pte-mkdirty-unconditional",
                                        "mm/zap-details-skip-helper-sense"}
    after = _bundled_findings(rename(text, fixed, _kept([text])), tmp_path)
    assert after == before


_ALPHA = "abcdefghijklmnopqrstuvwxyz"
_KEPT_ALL: set[str] = set()


def _all_kept() -> set[str]:
    if not _KEPT_ALL:
        texts = [t for _, _, ex in CASES for t in _texts(ex)]
        _KEPT_ALL.update(_kept(texts + [BUNDLED.read_text(encoding="utf-8")]))
    return _KEPT_ALL
_TAIL = _ALPHA + "0123456789_"


def _drawn_names(salt: int, shortest: int, longest: int):
    """A renaming drawn from (salt, length range): every name gets a fresh
    identifier of [a-z][a-z0-9_]{shortest-1..longest-1}, none reused, none a
    C word, kernel API, or a field or tag any example keeps.  Hypothesis draws the three numbers, so a failure
    shrinks to a small salt and short names, and the draw stays the same size
    however many names the examples hold."""
    taken: dict[str, str] = {}
    used: set[str] = set()
    reserved = _all_kept()

    def mapping(name: str) -> str:
        if name in taken:
            return taken[name]
        for attempt in range(1000):
            h = hashlib.sha256(f"{salt}:{attempt}:{name}".encode()).digest()
            # short names run out: lengthen after repeated collisions
            size = min(15, shortest + h[0] % (longest - shortest + 1) + attempt // 16)
            new = _ALPHA[h[1] % 26] + "".join(_TAIL[b % len(_TAIL)] for b in h[2:1 + size])
            if new not in used and new not in reserved and not new.endswith("_t"):
                break
        taken[name] = new
        used.add(new)
        return new

    return mapping, taken


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(salt=st.integers(0, 2**32 - 1), shortest=st.integers(2, 6), extra=st.integers(0, 9))
def test_everything_under_generated_names(tmp_path_factory, salt, shortest, extra):
    mapping, taken = _drawn_names(salt, shortest, shortest + extra)
    for rule, n, example in CASES:
        ex = renamed_example(example, mapping)
        assert run_example(rule, RULESET, ex).got == BASELINE[(rule.id, n)], (rule.id, n)
    text = BUNDLED.read_text(encoding="utf-8")
    keep = _kept([text])
    tmp = tmp_path_factory.mktemp("bundled")
    assert _bundled_findings(rename(text, mapping, keep), tmp) == _bundled_findings(text, tmp)
