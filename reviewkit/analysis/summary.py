"""Helper summaries and the call graph they are computed over.

A rule that sees ``helper(page)`` asks the summary of ``helper`` instead of
the helper's name: does it return a constant when a parameter is NULL, mark
a page dirty, release a pin or a reference, drop a lock, reach some API?
Summaries follow calls through every function the graph knows (transitively,
cycles cut), so work moved into a helper is understood.

The graph is anything with ``definitions(name)``; :class:`CallGraph` builds
one from a list of functions (one file's in diff-only and tree mode; a
cross-file index may hand in more).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Protocol

from reviewkit.analysis.syntax import literals, strip, text, walk
from reviewkit.engine.cfunc import Function


class Graph(Protocol):
    """What summaries and rules need of a call graph (CallGraph here; the
    cross-file index of tree mode offers the same)."""

    def definitions(self, name: str) -> Sequence[Function]:
        """Every known definition of ``name`` (several for #ifdef variants)."""
        ...


class CallGraph:
    """Functions by name, with callers and callees, over a set of functions."""

    def __init__(self, functions: Iterable[Function]):
        self._by_name: dict[str, list[Function]] = {}
        self._callees_of: dict[str, set[str]] = {}
        for f in functions:
            self._by_name.setdefault(f.name, []).append(f)

    def definitions(self, name: str) -> Sequence[Function]:
        return self._by_name.get(name, ())

    def names(self) -> set[str]:
        return set(self._by_name)

    @cached_property
    def _callees(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for name in self._by_name:
            out[name] = self.callees(name)
        return out

    @cached_property
    def _callers(self) -> dict[str, set[str]]:
        rev: dict[str, set[str]] = {}
        for caller, callees in self._callees.items():
            for c in callees:
                rev.setdefault(c, set()).add(caller)
        return rev

    def callees(self, name: str) -> set[str]:
        """What ``name`` calls (its definitions are parsed when first asked)."""
        got = self._callees_of.get(name)
        if got is None:
            got = set()
            for f in self._by_name.get(name, ()):
                got.update(f.callees())
            self._callees_of[name] = got
        return got

    def callers(self, name: str) -> set[str]:
        return self._callers.get(name, set())

    def reaches(self, start: str) -> set[str]:
        """Every function ``start`` calls, directly or through known functions."""
        return _closure(self._callees, start)

    def reached_from(self, target: str) -> set[str]:
        """Every known function that calls ``target``, directly or not."""
        return _closure(self._callers, target)


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


class Summaries:
    """Per-function facts over a graph, computed on demand and cached."""

    def __init__(self, graph: Graph, *, stop: frozenset[str] | None = None, depth: int = 6):
        self.graph = graph
        self._reach: dict[tuple[str, frozenset[str]], bool] = {}
        if stop is None:
            from reviewkit.analysis.vocab import vocab

            stop = vocab().names
        # kernel API is known by its vocabulary category, not by its implementation:
        # a summary does not descend into it
        self.stop = stop
        self.depth = depth

    def known(self, name: str) -> bool:
        return bool(self.graph.definitions(name))

    def _callees(self, name: str) -> set[str]:
        """What ``name`` calls: the graph's own answer when it has one (a cross-file
        index answers without parsing), else from its definitions."""
        callees = getattr(self.graph, "callees", None)
        if callees is not None:
            return set(callees(name))
        out: set[str] = set()
        for f in self.graph.definitions(name):
            out |= f.callees()
        return out

    def reaches(self, name: str, api: frozenset[str], *, _depth: int = 0,
                _seen: frozenset[str] = frozenset()) -> bool:
        """Whether calling ``name`` (a known function) calls one of ``api``."""
        key = (name, api)
        if key in self._reach:
            return self._reach[key]
        result = False
        if name in api:
            result = True
        elif name not in _seen and _depth < self.depth and name not in self.stop:
            seen = _seen | {name}
            for callee in sorted(self._callees(name)):
                if callee in api or (callee not in seen and callee not in self.stop
                                     and self.reaches(callee, api, _depth=_depth + 1,
                                                      _seen=seen)):
                    result = True
                    break
        self._reach[key] = result
        return result

    def call_reaches(self, name: str, api: frozenset[str]) -> bool:
        """A call of ``name`` does one of ``api``: it is one, or a known helper
        that reaches one."""
        return name in api or self.reaches(name, api)

    def returns_when_null(self, name: str, index: int) -> str | None:
        """The constant ``name`` returns when its parameter ``index`` is NULL
        (``if (!p) return true;``, ``return !p || ...``), or None when that is
        not known.  Every definition must agree."""
        from reviewkit.analysis import of

        answers = set()
        for f in self.graph.definitions(name):
            fa = of(f)
            if fa is None or index >= len(fa.params):
                return None
            answers.add(_returns_when_null(fa, fa.params[index][1]))
        if len(answers) != 1:
            return None
        return answers.pop()


def _returns_when_null(fa, param: str) -> str | None:
    """The literal returned when ``param`` is NULL, from the first statements."""
    body = fa.body
    if body is None:
        return None
    for stmt in body.named_children:
        t = stmt.type
        if t == "comment" or t == "declaration":
            continue
        if t == "if_statement":
            cond = stmt.child_by_field_name("condition")
            then = stmt.child_by_field_name("consequence")
            if cond is None or then is None:
                return None
            lits = literals(cond)
            null_taken = any(lit.path == param and not lit.polarity for lit in lits) and (
                len(lits) == 1 or all(not lit.necessary for lit in lits))
            if null_taken:
                ret = _returned(then)
                if ret is not None:
                    return ret
            # an if that does not decide the NULL case: the answer is further down
            if any(lit.path == param for lit in lits):
                return None
            continue
        if t == "return_statement":
            value = next((c for c in stmt.named_children), None)
            if value is None:
                return None
            value = strip(value)
            lits = literals(value)
            if value.type == "binary_expression":
                op = text(value.child_by_field_name("operator"))
                if op == "||" and any(lit.path == param and not lit.polarity for lit in lits):
                    return "true"
                if op == "&&" and any(lit.path == param and lit.polarity and lit.necessary
                                      for lit in lits):
                    return "false"
            return None
        return None
    return None


def _returned(stmt) -> str | None:
    if stmt.type == "compound_statement":
        kids = [c for c in stmt.named_children if c.type != "comment"]
        if len(kids) != 1:
            return None
        stmt = kids[0]
    if stmt.type != "return_statement":
        return None
    value = next((c for c in stmt.named_children), None)
    if value is None:
        return None
    value = strip(value)
    if value.type in ("true", "false", "number_literal", "null") or (
            value.type == "identifier" and text(value) in ("NULL", "true", "false")):
        return text(value)
    if value.type == "identifier" and text(value).isupper():
        return text(value)
    return None


def walk_calls(node) -> list[str]:
    from reviewkit.analysis.syntax import call_name

    return [n for n in (call_name(x) for x in walk(node)) if n]
