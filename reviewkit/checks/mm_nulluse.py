"""mm/null-result-reaches-use: the result of a call that returns NULL when there
is nothing (no normal page behind the entry, no page table, an allocation that
failed) used as a page, a folio or a page-table pointer on a path where no test
ruled NULL out.

The value is followed along the function's control-flow graph from the call,
with what each test on the way proves of it (``if (!x) goto out;``, ``if (x)
{ ... }``, ``x && ...``, ``x ? ... : ...``, assertions, a predicate asked about
it), through the copies the path makes of it, until every variable holding it
is given another value, it is handed to a function that is not kernel API,
stored in a structure or returned.  A use is a dereference, a kernel API that
reads through the pointer (the vocabulary's ``err-ptr-sink`` and
``null-sink``), or a store into an array element.  The call or the use must
be added by the patch, or the patch must remove a NULL test of the value.

pte_offset_map() and pte_offset_map_lock() fail only from 6.5 on: their calls
count when the file shows the newer contract (more of their results tested for
NULL than not, a call of a name that came with 6.5 or later) or, in tree mode,
the tree defines what 6.5's pte_offset_map() calls.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import FunctionAnalysis, Stmt
from reviewkit.analysis.syntax import (assigned_to, call_args, call_name, is_null_test,
                                       literals, path_of, strip, text, walk)
from reviewkit.analysis.vocab import vocab
from reviewkit.checks.mm_balance import (_MAX_STEPS, _address_taken, _handed_off,
                                         _in_sizeof, _kills, _sink, _tested_for_null)
from reviewkit.engine.cfunc import Function
from reviewkit.engine.context import FunctionChange, PatchContext
from reviewkit.engine.registry import Confidence, Hit, Severity, check

_MAYBE, _NULL = "maybe", "null"  # what the value may be on a path
_FALLIBLE_FROM = (6, 5)  # the release from which pte_offset_map[_lock]() may fail


def _value(node: Node | None, names: set[str]) -> bool:
    """``node`` is the value itself, or a pointer computed from it (``pte + 1``)."""
    if node is None:
        return False
    n = strip(node)
    if n.type == "binary_expression" and text(n.child_by_field_name("operator")) in ("+", "-"):
        left = n.child_by_field_name("left")
        return left is not None and path_of(strip(left)) in names
    return path_of(n) in names


def _guarded(fa: FunctionAnalysis, node: Node, names: set[str]) -> bool:
    """Some condition around ``node`` tests the value (``x && x->f``, ``x ? ... :``,
    an enclosing ``if (x)``): it is not used unchecked there."""
    for g in fa.guards(node):
        for lit in g.literals():
            if lit.path in names and lit.polarity and lit.necessary:
                return True
    return False


def _uses(fa: FunctionAnalysis, where: Node | None, names: set[str]
          ) -> Iterator[tuple[Node, str]]:
    """Each use of the value as a pointer under ``where`` that no test within the
    statement protects."""
    if where is None:
        return
    sinks = vocab()["null-sink"] | vocab()["err-ptr-sink"]
    for n in fa.walk(where):
        t = n.type
        hit: tuple[Node, str] | None = None
        if t == "call_expression" and call_name(n) in sinks:
            if any(_value(a, names) for a in call_args(n)):
                hit = n, f"passes it to {call_name(n)}()"
        elif t == "subscript_expression":
            arg = n.child_by_field_name("argument")
            if arg is not None and path_of(strip(arg)) in names and not _in_sizeof(n):
                hit = n, "dereferences it"
        elif t in ("field_expression", "pointer_expression", "assignment_expression"):
            got = _sink(n, names)
            if got is not None and got[0] == n:
                hit = got
        if hit is not None and not _guarded(fa, hit[0], names):
            yield hit


def _tests_inside(expr: Node | None, names: set[str]) -> bool:
    """The value is tested for NULL somewhere in ``expr`` (``WARN_ON(!x)``,
    ``x ?: y``, a helper given ``!x``)."""
    if expr is None:
        return False
    for n in walk(expr):
        if n.type in ("identifier", "field_expression") and path_of(n) in names:
            if is_null_test(n):
                return True
            p = n.parent
            while p is not None and p.type == "parenthesized_expression":
                p = p.parent
            cond = p.child_by_field_name("condition") if p is not None and \
                p.type == "conditional_expression" else None
            if cond is not None and path_of(strip(cond)) in names:
                return True
    return False


def _branch_states(s: Stmt, names: set[str], state: str) -> list[tuple[int, str]] | None:
    """For a condition that tests the value, the successors still to follow with
    what the value is on each (a branch where it is non-NULL is done); None when
    the condition does not test it."""
    if s.expr is None or s.node is None or s.node.type not in (
            "if_statement", "while_statement", "for_statement", "do_statement"):
        return None
    if not any(lit.path in names for lit in literals(s.expr)):
        # a NULL test inside an assertion or a predicate (WARN_ON(!x),
        # IS_ERR_OR_NULL(x), any helper asked about it): not followed further
        mentioned = any(n.type in ("identifier", "field_expression") and path_of(n) in names
                        for n in walk(s.expr))
        return [] if mentioned else None
    if len(s.succ) < 2:
        return []
    out: list[tuple[int, str]] = []
    for succ, holds in ((s.succ[0], True), (s.succ[1], False)):
        mine = [lit for lit in literals(s.expr, holds) if lit.path in names and lit.necessary]
        if not mine:
            out.append((succ, state))
        elif not mine[0].polarity:
            out.append((succ, _NULL))
        # non-NULL on this branch: nothing more to follow
    return out


def _source(node: Node | None) -> str | None:
    """The path a plain copy takes its value from (``y = x``, ``z = y = x``)."""
    if node is None:
        return None
    n = strip(node)
    while n.type == "assignment_expression" and text(n.child_by_field_name("operator")) == "=":
        left = n.child_by_field_name("left")
        if left is None:
            return None
        n = strip(left)
    return path_of(n)


def _flow(where: Node | None, live: frozenset[str]) -> frozenset[str] | None:
    """The names holding the value after ``where``: plain copies add theirs, an
    assignment of anything else takes one away; None when the address of one is
    taken (what the callee does with it is not known)."""
    if where is None:
        return live
    out = set(live)
    for n in walk(where):
        if n.type == "pointer_expression" and text(n.child_by_field_name("operator")) == "&":
            arg = n.child_by_field_name("argument")
            if arg is not None and path_of(strip(arg)) in live:
                return None
        elif n.type == "assignment_expression":
            left = path_of(n.child_by_field_name("left"))
            if left is None or "[" in left:
                continue
            if text(n.child_by_field_name("operator")) == "=" and \
                    _source(n.child_by_field_name("right")) in live:
                out.add(left)
            elif left in out:
                out.discard(left)
        elif n.type == "init_declarator":
            decl = n.child_by_field_name("declarator")
            while decl is not None and decl.type == "pointer_declarator":
                decl = decl.child_by_field_name("declarator")
            name = text(decl) if decl is not None and decl.type == "identifier" else None
            if name is None:
                continue
            if _source(n.child_by_field_name("value")) in live:
                out.add(name)
            else:
                out.discard(name)
    return frozenset(out)


def _events(fa: FunctionAnalysis, s0: Stmt, result: str
            ) -> Iterator[tuple[Stmt, Node, str, str, list[Stmt], frozenset[str]]]:
    """(statement, node, use, state, path, names) for every use of the value along
    the paths from the call's statement while it may be (or is) NULL; ``names``
    are the variables that hold it there (copies made on the way, not those
    given another value)."""
    first = _flow(s0.node, frozenset({result})) or frozenset({result})
    first = first | {result}
    todo: list[tuple[Stmt, str, list[Stmt], frozenset[str]]] = [
        (fa.cfg[i], _MAYBE, [s0], first) for i in s0.succ]
    seen: set[tuple[int, str, frozenset[str]]] = set()
    steps = 0
    while todo and steps < _MAX_STEPS:
        steps += 1
        s, state, path, live = todo.pop()
        if s is s0 or (s.id, state, live) in seen or s.kind in ("exit", "end"):
            continue
        seen.add((s.id, state, live))
        path = path + [s]
        if s.kind == "unseen":
            todo.extend((fa.cfg[n], state, path, live) for n in s.succ)
            continue
        names = set(live)
        where = s.expr if s.kind == "cond" else s.node
        used = next(iter(_uses(fa, where, names)), None)
        if used is not None:
            yield s, used[0], used[1], state, path, live
            continue
        if _handed_off(s.node if s.kind == "return" else where, names) \
                or _escapes(where, names):
            continue
        if s.kind == "return":
            continue
        after = _flow(where, live)
        if not after:
            continue  # given another value everywhere, or its address taken
        if s.kind == "cond":
            br = _branch_states(s, names, state)
            if br is not None:
                todo.extend((fa.cfg[n], st, path, after) for n, st in br)
                continue
        elif _tests_inside(where, names):
            continue  # asserted (VM_BUG_ON(!x), WARN_ON(!x)) or tested into a value
        todo.extend((fa.cfg[n], state, path, after) for n in s.succ)


def _escapes(node: Node | None, names: set[str]) -> bool:
    """A structure holding the value (``vmf`` for ``vmf->pte``) given to a
    function that is not kernel API: that function may test or replace it."""
    if node is None:
        return False
    roots = {p.split("->")[0].split(".")[0] for p in names if "->" in p or "." in p}
    if not roots:
        return False
    v = vocab()
    for n in walk(node):
        name = call_name(n)
        if name is not None and not v.is_api(name):
            for a in call_args(n):
                a = strip(a)
                if a.type == "pointer_expression" and text(
                        a.child_by_field_name("operator")) == "&":
                    inner = a.child_by_field_name("argument")
                    a = strip(inner) if inner is not None else a
                if path_of(a) in roots:
                    return True
    return False


def _direct_use(call: Node) -> tuple[Node, str] | None:
    """The call's value used in place: ``page_folio(vm_normal_page(...))``,
    ``vm_normal_page(...)->mapping``."""
    n = call
    while n.parent is not None and n.parent.type in ("parenthesized_expression",
                                                     "cast_expression"):
        n = n.parent
    p = n.parent
    if p is None:
        return None
    if p.type == "field_expression" and text(p.child_by_field_name("operator")) == "->" \
            and p.child_by_field_name("argument") == n and not _address_taken(p):
        return p, "dereferences it"
    if p.type == "argument_list" and p.parent is not None:
        outer = p.parent
        sinks = vocab()["null-sink"] | vocab()["err-ptr-sink"]
        if call_name(outer) in sinks:
            return outer, f"passes it to {call_name(outer)}()"
    return None


def _cannot_fail(fa: FunctionAnalysis, call) -> bool:
    """An allocation asked with __GFP_NOFAIL loops until it succeeds; one whose
    flags the caller passes in may be asked so."""
    v = vocab()
    nofail, gfp = v["null-alloc-nofail"], v["gfp-type"]
    params = {name for _, name in fa.params}
    for a in call.args:
        for n in fa.walk(a):
            if n.type != "identifier":
                continue
            if text(n) in nofail:
                return True
            if set((fa.type_of(text(n)) or "").split()) & gfp:
                if text(n) in params:
                    return True
                if any(x.type == "identifier" and text(x) in nofail
                       for o in fa.origins(n) for x in fa.walk(o)):
                    return True
    return False


_LATE: dict[int, tuple[object, frozenset[str]]] = {}


def _late_names() -> frozenset[str]:
    """Vocabulary names that came with the release the pte maps became fallible,
    or later (a backport note keeps a name out); worked out once per vocabulary."""
    V = vocab()
    hit = _LATE.get(id(V))
    if hit is not None and hit[0] is V:
        return hit[1]
    names = frozenset(e.name for e in V.entries()
                      if tuple(int(x) for x in e.since.split(".")) >= _FALLIBLE_FROM
                      and "backport" not in (e.note or "") and "6.1.y" not in (e.note or ""))
    _LATE.clear()
    _LATE[id(V)] = (V, names)
    return names


def _fallible_era(images) -> bool:
    """The file is written against the contract where pte_offset_map[_lock]() may
    fail: more of their results are tested for NULL than not (one defensive test
    in a file of older code, a stable backport, is not enough), a name from 6.5
    or later is called, or (tree mode) the tree has what 6.5's pte_offset_map()
    calls."""
    v = vocab()
    late = v["null-return-from-6.5"]
    newer = _late_names()
    impl = v["null-return"] & newer
    tested = untested = 0
    for img in images:
        if img is None:
            continue
        if img.world is not None and any(img.named(n) for n in sorted(impl)):
            return True
        for f in img.functions:
            if not f.mentions(late | newer):
                continue
            fa = of(f)
            if fa is None:
                continue
            calls_newer, t, u = fa.memo((_era_tally, id(v)), lambda: _era_tally(fa, late, newer))
            if calls_newer:
                return True
            tested += t
            untested += u
    return tested > untested


def _era_tally(fa: FunctionAnalysis, late: frozenset[str], newer: frozenset[str]
               ) -> tuple[bool, int, int]:
    """(calls a name of 6.5 or later, results of the fallible pte maps tested for
    NULL, results not tested) in one function."""
    if fa.calls_to(newer):
        return True, 0, 0
    tested = untested = 0
    for c in fa.calls_to(late):
        r = assigned_to(c.node)
        if r is None or "[" in r:
            continue
        if _tested_for_null(fa, c, fa.aliases(r) | {r}):
            tested += 1
        else:
            untested += 1
    return False, tested, untested


def _changed_functions(ctx: PatchContext, names: frozenset[str]
                       ) -> Iterator[tuple[FunctionChange, Function, FunctionAnalysis, set[int]]]:
    """Each function the patch adds lines to or removes lines from that still
    exists and can call one of ``names`` (the others are never parsed)."""
    for fc, f in ctx.with_post():
        added = {ln.new_no for ln in fc.added if ln.new_no is not None}
        if not added and not fc.removed:
            continue
        fa = of(f, mentions=names)
        if fa is not None:
            yield fc, f, fa, added


@check("mm/null-result-reaches-use")
def null_result_reaches_use(ctx: PatchContext):
    v = vocab()
    always, late = v["null-return"], v["null-return-from-6.5"]
    eras: dict[str, bool] = {}
    for fc, f, fa, added in _changed_functions(ctx, always | late):
        for c in fa.calls_to(always | late):
            if c.name in late:
                if fc.path not in eras:
                    eras[fc.path] = _fallible_era(
                        [img for fch in ctx.files if fch.path == fc.path
                         for img in (fch.post, fch.pre)])
                if not eras[fc.path]:
                    continue
            if _cannot_fail(fa, c):
                continue
            args = {"func": f.name, "callee": c.name, "call_line": c.line}
            direct = _direct_use(c.node)
            if direct is not None:
                if c.line in added:
                    yield Hit(line=c.line, path=fc.path, function=f.name,
                              args={**args, "var": f"the value of {c.name}()",
                                    "use": direct[1], "why": "with no test at all"})
                continue
            result = assigned_to(c.node)
            s0 = fa.cfg_node(c.node)
            if result is None or "[" in result or s0 is None or s0.kind != "simple":
                continue
            names = {p for p in fa.aliases(result) if "[" not in p} | {result}
            events = sorted(_events(fa, s0, result),
                            key=lambda e: (fa.line(e[1]), e[1].start_byte))
            for s, node, use, state, path, live in events:
                line = fa.line(node)
                if c.line not in added and line not in added and not _dropped_test(
                        fc, c.name, result):
                    continue
                if _misparsed(fa, c.node, node):
                    break  # a test between them may be hidden in what did not parse
                later = _tested_after(fa, s, set(live))
                if state == _MAYBE and not later and _tested_after(fa, s0, names):
                    continue  # tested on another path: this one may be dead
                if state == _NULL:
                    test = next((st for st in reversed(path) if st.kind == "cond"
                                 and st.expr is not None and any(
                                     lit.path in names for lit in literals(st.expr))), None)
                    why = (f"on the path where the test on line {test.line} found it NULL"
                           if test is not None else "where it is NULL")
                elif later:
                    why = "before the test of it for NULL that comes later"
                else:
                    why = "with no test for NULL on the way"
                # the call and the use are both shown, and so is every statement
                # between them: what encloses them out of view cannot test a value
                # computed inside
                seen = not fa.crosses_gap(path)
                yield Hit(line=line, path=fc.path, function=f.name,
                          args={**args, "var": result, "use": use, "why": why},
                          confidence=None if seen else Confidence.LOW,
                          severity=None if seen else Severity.INFO)
                break


def _dropped_test(fc: FunctionChange, callee: str, result: str) -> bool:
    """The patch removes a NULL test of the same variable's value of the same call
    in this function: the unchanged uses after it lost their protection."""
    if fc.pre is None or not fc.removed:
        return False
    pa = of(fc.pre, mentions={callee})
    if pa is None or pa.body is None:
        return False
    removed = {ln.old_no for ln in fc.removed if ln.old_no is not None}
    for pc in pa.calls_to({callee}):
        if assigned_to(pc.node) != result:
            continue
        names = pa.aliases(result) | {result}
        if any(n.type in ("identifier", "field_expression") and path_of(n) in names
               and is_null_test(n) and pa.line(n) in removed for n in walk(pa.body)):
            return True
    return False


def _misparsed(fa: FunctionAnalysis, call: Node, use: Node) -> bool:
    """Code between the call and the use that tree-sitter could not parse."""
    lo, hi = min(call.start_byte, use.start_byte), max(call.end_byte, use.end_byte)
    body = fa.body
    if body is None or not body.has_error:
        return False
    return any((n.type == "ERROR" or n.is_missing) and n.end_byte > lo and n.start_byte < hi
               for n in fa.walk(body))


def _tests_value(st: Stmt, names: set[str]) -> bool:
    """``st`` tests the value for NULL: a literal of its condition (``!x``,
    ``x && ...``), or a NULL test anywhere in it (``VM_BUG_ON(!x)``)."""
    if st.kind == "cond" and st.expr is not None and any(
            lit.path in names for lit in literals(st.expr)):
        return True
    where = st.expr if st.kind == "cond" else st.node
    return where is not None and any(
        is_null_test(n) for n in walk(where)
        if n.type in ("identifier", "field_expression") and path_of(n) in names)


def _tested_after(fa: FunctionAnalysis, s: Stmt, names: set[str]) -> bool:
    """A NULL test of the value is reachable from ``s`` before its variables are
    given other values (at a use: used, then tested, so either the test is dead
    or the use may crash)."""
    def stop(st: Stmt) -> bool:
        return _kills(st.expr if st.kind == "cond" else st.node, names)

    return any(st.kind not in ("exit", "end") and _tests_value(st, names)
               for st in fa.reachable_from(s, until=stop, limit=_MAX_STEPS))
