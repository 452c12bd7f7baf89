"""mm questions several rules share, answered from structure and the vocabulary.

``writability(fa, node)`` — what a tested value says about writability:

    WRITABLE   (+1) true means the mapping/entry/fault is writable: the value is
                    made of a write flag (VM_WRITE, FAULT_FLAG_WRITE, ...) or a
                    write test (pte_write(), ...), or it is the condition under
                    which the function makes an entry writable (pte_mkwrite());
    WRPROTECT  (-1) true means write-protected: it guards pte_wrprotect() /
                    pte_mkuffd_wp(), or pte_mkwrite() only when false, or it
                    clears a writability value;
    UNRELATED   (0) its definition is in view and has nothing to do with writes;
    UNKNOWN  (None) it comes from where the code in view does not show
                    (a parameter, a variable declared above the hunk, a helper).

So ``writable = dst_vma->vm_flags & VM_WRITE`` makes ``writable`` a
writability test whatever it is called, and ``wp_copy`` — under which the
function applies pte_mkuffd_wp() — is the opposite of one.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis.function import FunctionAnalysis, Guard
from reviewkit.analysis.summary import Summaries
from reviewkit.analysis.syntax import (Literal, call_name, is_constant, path_of, strip, text,
                                       walk)
from reviewkit.analysis.vocab import vocab

WRITABLE, WRPROTECT, UNRELATED = 1, -1, 0


def _v():
    return vocab()


def writability(fa: FunctionAnalysis, atom: Node, *, summaries: Summaries | None = None,
                _depth: int = 0) -> int | None:
    V = _v()
    atom = strip(atom)
    flags, tests = V["write-flag"], V["write-test"]
    for n in walk(atom):
        if n.type == "identifier" and text(n) in flags:
            return WRITABLE
        if n.type == "call_expression" and call_name(n) in tests:
            return WRITABLE
    p = path_of(atom)
    if p is not None:
        return _path_writability(fa, p, atom, summaries, _depth)
    if atom.type == "call_expression":
        name = call_name(atom)
        if name is None:
            return None
        if summaries is not None and summaries.known(name):
            return WRITABLE if summaries.reaches(name, tests | flags) else UNRELATED
        return UNRELATED if V.is_api(name) else None
    if is_constant(atom):
        return UNRELATED
    # an expression of several values: the first that says something
    unknown = False
    for n in atom.named_children:
        w = writability(fa, n, summaries=summaries, _depth=_depth + 1)
        if w in (WRITABLE, WRPROTECT):
            return w
        unknown = unknown or w is None
    return None if unknown else UNRELATED


def _path_writability(fa: FunctionAnalysis, p: str, at: Node, summaries, depth: int
                      ) -> int | None:
    if depth > 4:
        return None
    # what it was assigned
    unknown = False
    defs = fa.defs_of(p)
    for d in defs:
        if d.value is None:
            if d.kind in ("param", "address"):
                unknown = True
            continue
        if is_constant(d.value):
            continue
        w = writability(fa, d.value, summaries=summaries, _depth=depth + 1)
        if w in (WRITABLE, WRPROTECT):
            return w
        unknown = unknown or w is None
    # what it decides: the entry made writable or write-protected under it
    s = structural(fa, p)
    if s is not None:
        return s
    if not defs or not fa.declared(p.split("->")[0].split(".")[0]):
        return None  # declared out of view
    if "->" in p or "." in p:
        return None
    return None if unknown else UNRELATED


def structural(fa: FunctionAnalysis, p: str) -> int | None:
    """Evidence from what the function does under a test of ``p``."""
    V = _v()
    mkwrite, wrprotect = V["entry-mkwrite"], V["entry-wrprotect"]
    votes = 0
    for c in fa.calls:
        if c.name not in mkwrite and c.name not in wrprotect:
            continue
        sign = 1 if c.name in mkwrite else -1
        for g in fa.guards(c.node):
            if g.kind not in ("if", "else", "ternary", "and", "or"):
                continue  # what an early exit guards is everything after it
            for lit in g.literals():
                if lit.necessary and lit.path == p:
                    votes += sign if lit.polarity else -sign
    if votes > 0:
        return WRITABLE
    if votes < 0:
        return WRPROTECT
    return None


def guard_writability(fa: FunctionAnalysis, node: Node, *, other: FunctionAnalysis | None
                      = None, summaries: Summaries | None = None, necessary_only: bool = False
                      ) -> list[tuple[Guard, Literal, int | None]]:
    """(guard, literal, writability-when-it-holds) for every literal guarding
    ``node``; an UNKNOWN answer is asked again of ``other`` (the function on the
    other side of the patch) by the same path."""
    out: list[tuple[Guard, Literal, int | None]] = []
    for g in fa.guards(node):
        for lit in g.literals():
            if necessary_only and not lit.necessary:
                continue
            w = writability(fa, lit.node, summaries=summaries)
            if w is None and other is not None and lit.path is not None:
                w = _path_writability(other, lit.path, lit.node, summaries, 0)
            if w is not None and not lit.polarity:
                w = -w
            out.append((g, lit, w))
    return out


def dirties(name: str, summaries: Summaries | None) -> bool:
    """A call of ``name`` marks a page or folio dirty (itself, or a known helper)."""
    api = _v().union("dirty-page", "dirty-release")
    if name in api:
        return True
    return summaries is not None and summaries.reaches(name, api)


def writes_contents(name: str, summaries: Summaries | None) -> bool:
    api = _v().union("content-write", "kmap-local", "mark-uptodate")
    return name in api or (summaries is not None and summaries.reaches(name, api))
