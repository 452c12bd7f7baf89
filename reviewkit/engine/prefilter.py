"""Prefilters: skip a rule for a patch whose changed text cannot hold what it needs.

A semantic rule's manifest may say ``needs-any: [category, name, ...]`` — kernel
vocabulary categories or names of ``rules/<group>/_vocab.yaml``, or ``pairs``
(every acquiring name of the vocabulary's ``pairs`` section).  It promises that
the rule can only report something when one of those names appears as an
identifier in the text the rule reads: the lines of the hunks of the files it
applies to (added, removed and context), their hunk headers, and, in tree mode,
the whole pre- and post-image of those files.  The engine tests that once per
patch against a precomputed identifier set, and does not run the rule (nor,
when no rule is left that needs them, parse the functions) when none is there.

A rule without the field runs on every patch.  With a cross-file index (tree
mode with the whole tree indexed) a rule may read any file, so nothing is
skipped.  ``REVIEWKIT_NO_PREFILTER=1`` turns prefilters off: findings must be
the same either way (tests/test_prefilter.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PAIRS = "pairs"


class PrefilterError(ValueError):
    """A needs-any entry is neither a category nor a name of the vocabulary."""


def enabled() -> bool:
    return not os.environ.get("REVIEWKIT_NO_PREFILTER")


def resolve(rules: Iterable) -> dict[str, frozenset[str]]:
    """rule id -> the names one of which its patch text must hold (rules with a
    ``needs-any`` only)."""
    from reviewkit.analysis.vocab import vocab

    out: dict[str, frozenset[str]] = {}
    for rule in rules:
        if not rule.needs_any:
            continue
        v = vocab(rule.group)
        names: set[str] = set()
        for item in rule.needs_any:
            if item == PAIRS:
                names |= set(v.pairs)
            elif item in v.categories:
                names |= v[item]
            elif v.is_api(item):
                names.add(item)
            else:
                raise PrefilterError(f"{rule.source or rule.id}: needs-any: {item!r} is neither "
                                     f"a category nor a name of {v.source}")
        out[rule.id] = frozenset(names)
    return out


class Tokens:
    """The identifiers of each file change of one patch, computed on first use."""

    def __init__(self) -> None:
        self._of: dict[int, frozenset[str]] = {}
        self._union: dict[tuple[int, ...], frozenset[str]] = {}

    def of(self, fc) -> frozenset[str]:
        got = self._of.get(id(fc))
        if got is None:
            parts: list[str] = []
            for h in fc.diff.hunks:
                parts.append(h.section or "")
                parts.extend(ln.text for ln in h.lines)
            for img in (fc.pre, fc.post):
                if img is not None and img.complete:  # tree mode: the whole file
                    parts.extend(img.lines.values())
            got = self._of[id(fc)] = frozenset(_IDENT.findall("\n".join(parts)))
        return got

    def any_of(self, files: Iterable, names: frozenset[str], key=None) -> bool:
        """Whether any of ``names`` is an identifier of ``files``; ``key`` names
        that set of files when the caller has a name for it already."""
        if key is None:
            key = tuple(id(fc) for fc in files)
        got = self._union.get(key)
        if got is None:
            got = self._union[key] = frozenset().union(*(self.of(fc) for fc in files))
        return not names.isdisjoint(got)


def skip(needs: Mapping[str, frozenset[str]] | None, rule_id: str, files, tokens: Tokens,
         key=None) -> bool:
    """Whether the rule has nothing to look at in these file changes (``key``: a
    name of that set of files, for ``Tokens.any_of``)."""
    if not needs:
        return False
    names = needs.get(rule_id)
    return names is not None and not tokens.any_of(files, names, key)
