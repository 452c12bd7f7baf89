"""Helpers of the rule behaviour tests: review C code committed as added code
with one rule, find a line, and cut a function out of Linux 6.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit import api

from conftest import commit_as_added
from test_tree_mode import linux_tree


def review_added(tmp_path: Path, text: str, rule: str, rel: str = "mm/demo.c",
                 confidence: bool = False) -> list[tuple]:
    """(function, line, severity[, confidence]) of each finding of ``rule`` when
    ``text`` is the new file ``rel``."""
    repo = commit_as_added(tmp_path, {rel: text})
    rep = api.review("HEAD", api.Options(cwd=repo, select=(rule,)))
    if confidence:
        return [(f.function, f.line, f.severity, f.confidence) for f in rep.findings]
    return [(f.function, f.line, f.severity) for f in rep.findings]


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first occurrence of ``needle``."""
    return text[:text.index(needle)].count("\n") + 1


def linux_function(rel: str, head: str) -> str:
    """The function of Linux 6.1's ``rel`` whose definition starts with ``head``,
    up to its closing brace."""
    p = linux_tree() / rel
    if not p.is_file():
        pytest.skip(f"re-run scripts/fetch-linux-source.sh: {rel} is missing")
    src = p.read_text()
    start = src.index(head)
    return src[start:src.index("\n}\n", start) + 3]
