"""The kernel vocabulary (rules/mm/_vocab.yaml) and its use by the mm checks.

Names the file says exist in 6.1 are found in Debian's linux-source-6.1
files; names it says came later are not.  The mm checks spell no function
name of their own: every C-identifier string in them is a vocabulary
category or kernel API the vocabulary lists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from reviewkit.analysis.vocab import VocabError, load_vocabulary, vocab
from reviewkit.engine.manifest import load_manifests

from conftest import REPO
from test_precision import _SETS, FRESH, TUNED_32
from test_tree_mode import linux_tree

VOCAB_ONLY = _SETS.get("vocab", [])  # files read for the names alone


def test_the_vocabulary_loads_and_pairs_name_known_names():
    V = vocab()
    assert "pte_mkdirty" in V["entry-mkdirty"]
    assert V.entry("pte_mkwrite").note
    assert V.releases_of("pin_user_pages")
    for acq, rels in V.pairs.items():
        assert V.is_api(acq) and all(V.is_api(r) for r in rels)
    with pytest.raises(KeyError):
        V["no-such-category"]


def test_the_manifest_loader_skips_it():
    assert all(not r.source.endswith("_vocab.yaml") for r in load_manifests())


@pytest.mark.parametrize("bad,problem", [
    ({"categories": {"x": {"doc": "d", "names": {"f": {}}}}}, "give since"),
    ({"categories": {"x": {"doc": "d", "names": {"f": {"since": "six"}}}}}, "not a release"),
    ({"categories": {"x": {"doc": "d", "names": {"f": {"since": "5.1"}}}},
      "pairs": {"f": ["g"]}}, "in no category"),
    ({"categories": {"x": {"names": {"f": {"since": "5.1"}}}}}, "exactly doc and names"),
])
def test_a_malformed_vocabulary_is_refused(tmp_path, bad, problem):
    p = tmp_path / "mm" / "_vocab.yaml"
    p.parent.mkdir()
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(VocabError, match=problem):
        load_vocabulary(p)


def _kernel_words(root: Path) -> set[str]:
    words: set[str] = set()
    for rel in TUNED_32 + FRESH + VOCAB_ONLY:
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)  # code, not comments
        words.update(re.findall(r"\b[A-Za-z_]\w*\b", text))
    return words


def test_releases_agree_with_linux_6_1():
    words = _kernel_words(linux_tree())
    present, absent = [], []
    for e in vocab().entries():
        if e.exists_in("6.1"):
            present.append(e.name) if e.name not in words else None
        elif e.name in words and "6.1.y" not in (e.note or ""):  # stable backports
            absent.append(e.name)
    assert present == [], "said to exist in 6.1 but found nowhere in it"
    assert absent == [], "said to be absent from 6.1 but found in it"


_CAT = re.compile(r"^[a-z]+(-[a-z]+)+$")


def test_checks_match_only_vocabulary_names():
    V = vocab()
    from reviewkit.engine.cfunc import _language

    lang = _language()
    node_types = {lang.node_kind_for_id(i) for i in range(lang.node_kind_count)}
    allowed = set(V.categories) | {e.name for e in V.entries()} | node_types
    for path in sorted((REPO / "reviewkit" / "checks").glob("mm_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) and any(
            a.name == "re" for a in n.names) for n in ast.walk(tree)), \
            f"{path.name}: mm checks do not match text with regular expressions"
        keys = {id(k) for d in ast.walk(tree) if isinstance(d, ast.Dict) for k in d.keys}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in keys:  # message placeholders are not code
                s = node.value
                if _CAT.match(s) or re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", s):
                    assert s in allowed, f"{path.name}: {s!r} is not in the vocabulary"
