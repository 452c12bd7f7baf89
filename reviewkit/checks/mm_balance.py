"""Resources and pinned pages held on an error path; ERR_PTR values tested for
NULL; slab allocations sized by a caller's page count.

Each of these is decided on the function's control-flow graph and def-use,
with kernel API names taken from the vocabulary (rules/mm/_vocab.yaml):

- mm/resource-held-on-error-return: from an acquire (a lock, a page-table map,
  a page reference, a kmap) to a ``return`` of an errno or ERR_PTR, a path that
  meets no release of the pair, no helper whose summary releases, and no
  hand-off of what was taken (returned, stored, given to a function the
  analysis cannot see into).
- mm/resource-earlier-pins-held-on-error: pages held in an array the function
  fills — by a count-returning GUP call (pin_user_pages*(), get_user_pages*()),
  followed through the tests of its count, or one page per loop iteration —
  at a ``return`` of an error with no unpin or put on the path.
- mm/resource-pins-kept-on-new-error-return: a function given an array of
  pages that released them on every error return before the patch, with an
  error exit the patch adds that skips the release (the FOLL_LONGTERM
  migration contract of check_and_migrate_movable_pages()).
- mm/err-ptr-tested-for-null: the result of a call that returns ERR_PTR() on
  failure — kernel API listed as such, or a function whose definition is
  visible and returns ERR_PTR() (or ERR_PTR() and NULL) — meeting a NULL test
  before any IS_ERR() and tested for an error nowhere.
- mm/err-ptr-reaches-use: the same value followed along the paths: put,
  unlocked, dereferenced or stored in a page array where it is known to be an
  ERR_PTR (the IS_ERR() branch, through a shared exit label), untested, or
  NULL behind an IS_ERR()-only test of a function that fails both ways.
- mm/gup-count-tested-for-zero: the count a GUP or pin call returns (or -errno)
  tested only for zero on every path before it is compared, handed on or
  given another value.
- mm/slab-alloc-sized-by-page-count: kmalloc_array()/kcalloc()/kmalloc() (of a
  product, struct_size(), array_size()) sized by a count that comes from the
  caller unbounded, on a pin path: the function passes the count to GUP, or
  it was handed a page or folio array with the count and allocates a parallel
  array of page or folio pointers.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import FunctionAnalysis, Stmt
from reviewkit.analysis.summary import Summaries
from reviewkit.analysis.syntax import (assigned_to, call_args, call_name, inside, is_null,
                                       is_null_test, literals, path_of, strip, text, walk)
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.cfunc import Function
from reviewkit.engine.context import FunctionChange, PatchContext
from reviewkit.engine.registry import Confidence, Hit, Severity, check

_MAX_STEPS = 4000


def _address_target(node: Node) -> Node:
    """``x`` for ``&x`` (through parentheses and casts), else the node itself."""
    a = strip(node)
    if a.type == "pointer_expression" and text(a.child_by_field_name("operator")) == "&":
        inner = a.child_by_field_name("argument")
        if inner is not None:
            return strip(inner)
    return a


def _is_address(node: Node) -> bool:
    a = strip(node)
    return a.type == "pointer_expression" and text(a.child_by_field_name("operator")) == "&"


def _mentions(node: Node | None, names: set[str]) -> bool:
    if node is None:
        return False
    for n in walk(node):
        if n.type in ("identifier", "field_expression"):
            p = path_of(n)
            if p is not None and (p in names or any(p.startswith(k + "->") or p.startswith(
                    k + ".") or k.startswith(p + "->") or k.startswith(p + ".")
                    for k in names)):
                return True
    return False


def _changed(ctx: PatchContext, mentions=None
             ) -> Iterator[tuple[FunctionChange, Function, FunctionAnalysis, set[int],
                                 Summaries | None]]:
    """Each changed function that still exists and parses, with its added lines
    and the helper summaries of its file; with ``mentions`` (names, or a function
    of the file's image and the function that gives them or None), only those that
    mention one (the others are never parsed)."""
    for fc, f in ctx.with_post():
        added = {ln.new_no for ln in fc.added if ln.new_no is not None}
        if not added:
            continue
        img = next((fch.post for fch in ctx.files if fch.path == fc.path), None)
        names = mentions(img, f) if callable(mentions) else mentions
        fa = of(f, mentions=names)
        if fa is None:
            continue
        summaries: Summaries | None = img.summaries if img is not None else None
        yield fc, f, fa, added, summaries


# -- mm/resource-held-on-error-return ---------------------------------------------------

def _error_value(fa: FunctionAnalysis, value: Node | None, errvars: frozenset[str]) -> bool:
    """``-EFOO``, ``ERR_PTR(...)``, or a variable that holds an errno on this path."""
    if value is None:
        return False
    v = strip(value)
    if v.type == "unary_expression" and text(v.child_by_field_name("operator")) == "-":
        inner = v.child_by_field_name("argument")
        arg = strip(inner) if inner is not None else None
        return arg is not None and arg.type == "identifier" and text(arg).startswith("E") \
            and text(arg).isupper()
    if v.type == "call_expression" and call_name(v) in vocab()["err-ptr-make"]:
        return True
    p = path_of(v)
    return p is not None and p in errvars


def _assignment(node: Node | None) -> tuple[str, Node] | None:
    if node is None:
        return None
    n = node
    if n.type == "expression_statement":
        n = next((c for c in n.named_children if c.type != "comment"), n)
    if n.type == "assignment_expression" and text(n.child_by_field_name("operator")) == "=":
        left = path_of(n.child_by_field_name("left"))
        right = n.child_by_field_name("right")
        if left is not None and right is not None:
            return left, right
    if n.type == "declaration":
        for d in n.named_children:
            if d.type == "init_declarator":
                name = d.child_by_field_name("declarator")
                value = d.child_by_field_name("value")
                if name is not None and name.type == "identifier" and value is not None:
                    return text(name), value
    return None


def _releases(fa: FunctionAnalysis, node: Node | None, releases: frozenset[str],
              summaries: Summaries | None) -> bool:
    if node is None:
        return False
    for c in fa.calls_in(node):
        if c.name in releases or (summaries is not None and
                                  summaries.reaches(c.name, releases)):
            return True
    return False


def _hands_off(fa: FunctionAnalysis, s: Stmt, held: set[str], summaries: Summaries | None
               ) -> bool:
    """What was taken leaves the function's hands here: returned, stored in
    something that outlives the path, or given to a function the analysis
    cannot see into."""
    node = s.expr if s.expr is not None else s.node
    if node is None:
        return False
    if s.kind == "return":
        value = next((c for c in node.named_children if c.type != "comment"), None)
        return _mentions(value, held)
    asg = _assignment(node)
    if asg is not None:
        left, right = asg
        if _mentions(right, held) and left not in held and (
                "->" in left or "." in left or left.startswith("*") or "[" in left):
            return True
    if s.kind == "cond":
        return False  # a call whose value is tested is a predicate, not a hand-off
    v = vocab()
    for n in fa.walk(node):
        name = call_name(n)
        if name is None or v.is_api(name):
            continue
        if summaries is not None and summaries.known(name):
            continue  # a helper the summaries see into: it released, or it did not
        if any(_is_handle(a, held) for a in call_args(n)):
            return True
    return False


def _is_handle(arg: Node, held: set[str]) -> bool:
    """The argument is the resource itself or what contains it (``ptl``,
    ``&ptl``, ``vmf`` holding ``vmf->ptl``), not a value read through it (``*pte``)."""
    p = path_of(_address_target(arg))
    if p is None:
        return False
    return p in held or any(k.startswith(p + "->") or k.startswith(p + ".") for k in held)


def _splits_release(fa: FunctionAnalysis, s: Stmt, releases: frozenset[str],
                    summaries: Summaries | None) -> bool:
    """A condition with a release under one branch only (``if (locked) unlock``):
    whether the resource is still held depends on state the paths do not track."""
    if s.kind != "cond" or s.node is None or s.node.type != "if_statement":
        return False
    then = s.node.child_by_field_name("consequence")
    alt = s.node.child_by_field_name("alternative")
    return _releases(fa, then, releases, summaries) != _releases(fa, alt, releases, summaries)


def _failure_branch(s: Stmt, result: str | None) -> int | None:
    """For a condition on the acquire's own result (``if (!pte)``), the index of
    the successor taken when the acquire failed; None when it is not one."""
    if result is None or s.kind != "cond" or s.expr is None or s.node is None \
            or s.node.type != "if_statement":
        return None
    # if (WARN_ON_ONCE(!page)) tests the result just as if (!page) does
    lits = literals(s.expr, hints=vocab().union("hint", "warn-value"))
    mine = [lit for lit in lits if lit.path == result]
    if len(mine) != 1 or len(lits) != 1:
        return None
    # the literal holds (the result is non-NULL) on the true branch when its polarity is True
    return 1 if mine[0].polarity else 0


def _leaks(fa: FunctionAnalysis, start: Stmt, held: set[str], result: str | None,
           releases: frozenset[str], summaries: Summaries | None
           ) -> Iterator[tuple[Stmt, list[Stmt]]]:
    """Error returns reachable from ``start`` with the resource still held."""
    todo: list[tuple[Stmt, list[Stmt], frozenset[str]]] = [
        (fa.cfg[i], [start], frozenset()) for i in start.succ]
    seen: set[tuple[int, frozenset[str]]] = set()
    steps = 0
    while todo and steps < _MAX_STEPS:
        steps += 1
        s, path, errvars = todo.pop()
        if (s.id, errvars) in seen or s is start:
            continue
        seen.add((s.id, errvars))
        if s.kind in ("exit", "end"):
            continue
        where = s.expr if s.expr is not None else s.node
        if _releases(fa, where, releases, summaries):
            continue
        if _hands_off(fa, s, held, summaries):
            continue
        if s.kind == "return":
            node = s.node
            value = next((c for c in node.named_children if c.type != "comment"),
                         None) if node is not None else None
            if _error_value(fa, value, errvars):
                yield s, path + [s]
            continue
        if _splits_release(fa, s, releases, summaries):
            continue
        asg = _assignment(where) if s.kind == "simple" else None
        if asg is not None:
            left, right = asg
            errvars = errvars | {left} if _error_value(fa, right, frozenset()) \
                else errvars - {left}
            if left in held and not is_null(right):
                continue  # the handle now names something else
        fail = _failure_branch(s, result)
        for k, nxt in enumerate(s.succ):
            if fail is not None and k == fail:
                continue
            todo.append((fa.cfg[nxt], path + [s], errvars))


@check("mm/resource-held-on-error-return")
def resource_held_on_error_return(ctx: PatchContext):
    v = vocab()
    never = v["conditional-acquire"] | v["pin"] | v["gup-get"]
    acquires = frozenset(a for a in v.pairs if a not in never)
    allocs = v["resource-alloc"]
    for fc, f, fa, added, summaries in _changed(ctx, acquires):
        reported: set[int] = set()
        for c in fa.calls_to(acquires):
            s0 = fa.cfg_node(c.node)
            if s0 is None or s0.kind != "simple":
                continue  # an acquire inside a condition is a conditional one
            releases = frozenset(v.releases_of(c.name))
            if not _releases(fa, fa.body, releases, summaries):
                # never released here: taken for the caller, or re-taken after a helper
                # dropped it; only returns that disagree with other paths are leaks
                continue
            result = assigned_to(c.node)
            if c.name in allocs:
                if not (result and result.isidentifier() and fa.declared(result)
                        and fa.param_index(result) is None):
                    continue  # stored straight into a structure the caller sees: handed off
                mine = fa.aliases(result) | {result}
                if not any(path_of(a) in mine for r in fa.calls_to(releases) for a in r.args):
                    continue  # never freed here under its own name: owned elsewhere
            # what names the resource: the result (a mapped pte, a kmap address) and
            # what is passed by address (&ptl), else the first argument (the lock, the folio)
            held = {p for p in (path_of(_address_target(a)) for a in c.args
                                if _is_address(a)) if p}
            if result is not None:
                held |= fa.aliases(result) | {result}
            elif c.args:
                first = path_of(_address_target(c.args[0]))
                if first:
                    held.add(first)
            for ret, path in _leaks(fa, s0, held, result, releases, summaries):
                if ret.line in reported:
                    continue
                touched = {st.line for st in path if st.node is not None}
                if c.line not in added and not (touched & added):
                    continue
                reported.add(ret.line)
                conf = Confidence.LOW if ret.node is not None and fa.context_unseen(ret.node) else (
                    None if fa.complete else Confidence.MEDIUM)
                yield Hit(line=ret.line, path=fc.path, function=f.name,
                          args={"func": f.name, "acquire": c.name, "acquire_line": c.line,
                                "release": v.releases_of(c.name)[0]},
                          confidence=conf)


# -- mm/err-ptr-tested-for-null, mm/err-ptr-reaches-use ----------------------------------
#
# A call whose failure is an ERR_PTR value: kernel API the vocabulary lists as such
# (the page-cache lookups converted in 6.3 only where the file shows it is written
# against the new contract), or a function whose definition the analysis sees.  Its
# value is followed along the control-flow graph, with what the tests on the way
# prove of it: a NULL-only test lets an ERR_PTR through; after the branch where
# IS_ERR() held, the value *is* an ERR_PTR; a function that fails with NULL on some
# paths and ERR_PTR on others leaves NULL behind an IS_ERR()-only test.

_ERR, _BOTH = "err", "both"  # fails with ERR_PTR() only; with ERR_PTR() or NULL
_MAYBE, _BAD, _NULLABLE = "maybe", "bad", "nullable"  # what the value may be on a path


def _returned_values(fa: FunctionAnalysis) -> list[Node]:
    out: list[Node] = []
    if fa.body is None:
        return out
    for n in fa.walk(fa.body):
        if n.type == "return_statement":
            value = next((x for x in n.named_children if x.type != "comment"), None)
            if value is not None:
                out.append(strip(value))
    return out


def _makes_err(v: Node) -> bool:
    return v.type == "call_expression" and call_name(v) in vocab()["err-ptr-make"]


def _definition_contract(name: str, summaries: Summaries | None) -> str | None:
    """How a function the analysis sees reports failure: _ERR when every definition
    returns ERR_PTR() and never NULL (literally, or through a variable that may hold
    it), _BOTH when one returns both ERR_PTR() and a literal NULL."""
    if summaries is None:
        return None
    defs = summaries.graph.definitions(name)
    if not defs:
        return None
    kinds = set()
    for d in defs:
        fa = of(d)
        if fa is None or fa.body is None:
            return None
        values = _returned_values(fa)
        err = any(_makes_err(v) for v in values)
        if err and any(is_null(v) for v in values):
            # which one a caller can see may hang on what it passes (a flag asking
            # for a trylock that fails with ERR_PTR): both must be free of that
            if all(_on_argument(fa, v) for v in values if _makes_err(v)) or all(
                    _on_argument(fa, v) for v in values if is_null(v)):
                return None
            kinds.add(_BOTH)
            continue
        if not err or not fa.complete or any(
                not _makes_err(v) and _may_be_null(fa, v) for v in values):
            return None
        kinds.add(_ERR)
    return _BOTH if _BOTH in kinds else _ERR


def _may_be_null(fa: FunctionAnalysis, value: Node) -> bool:
    """A returned value not shown to be non-NULL: only the address of a member, a
    call of API that never returns NULL, or a variable returned on the non-NULL
    side of a test of it (``if (!folio) return ERR_PTR(-ENOMEM); return folio;``)
    is taken for a pointer."""
    v = strip(value)
    if v.type == "pointer_expression" and text(v.child_by_field_name("operator")) == "&":
        return False
    if v.type == "call_expression":
        return call_name(v) not in vocab()["err-ptr-return"]
    p = path_of(v)
    if p is None or any(is_null(strip(o)) for o in fa.origins(v)):
        return True
    return not any(lit.path == p and lit.polarity and lit.necessary
                   for g in fa.guards(v) for lit in g.literals())


def _on_argument(fa: FunctionAnalysis, value: Node) -> bool:
    """The return of ``value`` is guarded by a test of a parameter's own value
    (``flags == X``, ``!arg``), no call in it: what the caller passes decides it."""
    params = {name for _, name in fa.params}
    for g in fa.guards(value):
        for lit in g.literals():
            n = strip(lit.node)
            if any(x.type == "call_expression" for x in fa.walk(n)):
                continue
            if any(x.type == "identifier" and text(x) in params for x in fa.walk(n)):
                return True
    return False


def _first_test_is_err(fa: FunctionAnalysis, call, names: set[str]) -> bool:
    """On some path from ``call``, the first test of its value is IS_ERR()-like."""
    s0 = fa.cfg_node(call.node)
    if s0 is None:
        return False

    def where(s: Stmt) -> Node | None:
        return s.expr if s.kind == "cond" else s.node

    def stop(s: Stmt) -> bool:
        # given another value, or tested for NULL first
        return _kills(where(s), names) or (s.kind == "cond" and s.expr is not None and any(
            lit.path in names for lit in literals(s.expr)))

    return any(s.kind not in ("exit", "end") and _err_tests_of(where(s), names)
               for s in fa.reachable_from(s0, until=stop, limit=_MAX_STEPS))


def _era_evidence(img) -> bool:
    """The file tests the result of a page-cache lookup that changed contract in 6.3
    with IS_ERR() (or the like): it is written against the ERR_PTR contract."""
    if img is None:
        return False
    v = vocab()
    era, tests = v["err-ptr-return-from-6.3"], v["err-ptr-test"]
    for f in img.functions:
        if not (f.mentions(era) and f.mentions(tests)):
            continue
        fa = of(f)
        if fa is None:
            continue
        for c in fa.calls_to(era):
            r = assigned_to(c.node)
            if r is not None and _first_test_is_err(fa, c, fa.aliases(r) | {r}):
                return True
    return False


def _contract(name: str, summaries: Summaries | None, era: bool) -> str | None:
    v = vocab()
    if name in v["err-ptr-return"] or (era and name in v["err-ptr-return-from-6.3"]):
        return _ERR
    if name in v["err-or-null-return"]:
        return _BOTH
    if v.is_api(name):
        return None
    return _definition_contract(name, summaries)


def _err_tests_of(node: Node | None, names: set[str]) -> list[Node]:
    """The IS_ERR()-like calls on one of ``names`` under ``node``."""
    if node is None:
        return []
    tests = vocab()["err-ptr-test"] - vocab()["err-ptr-make"] - {"PTR_ERR"}
    return [n for n in walk(node) if call_name(n) in tests and any(
        path_of(strip(a)) in names for a in call_args(n))]


def _address_taken(n: Node) -> bool:
    """``&x->member``: an address computed from ``x``, not a load through it
    (``&folio->page`` is the idiom that casts an ERR_PTR folio to a page)."""
    p = n.parent
    while p is not None and p.type == "parenthesized_expression":
        p = p.parent
    return p is not None and p.type == "pointer_expression" and \
        text(p.child_by_field_name("operator")) == "&"


def _in_sizeof(n: Node) -> bool:
    p = n.parent
    while p is not None and p.type not in ("expression_statement", "compound_statement"):
        if p.type == "sizeof_expression":
            return True
        p = p.parent
    return False


def _sink(node: Node | None, names: set[str]) -> tuple[Node, str] | None:
    """Where ``node`` uses the value as a page or folio: a dereference, a kernel
    API that dereferences, releases or locks it, a store into an array."""
    if node is None:
        return None
    sinks = vocab()["err-ptr-sink"]
    for n in walk(node):
        t = n.type
        if t == "field_expression" and text(n.child_by_field_name("operator")) == "->":
            arg = n.child_by_field_name("argument")
            if arg is not None and path_of(strip(arg)) in names and not _in_sizeof(n) \
                    and not _address_taken(n):
                return n, "dereferences it"
        elif t == "pointer_expression" and text(n.child_by_field_name("operator")) == "*":
            arg = n.child_by_field_name("argument")
            if arg is not None and path_of(strip(arg)) in names and not _in_sizeof(n):
                return n, "dereferences it"
        elif t == "call_expression" and call_name(n) in sinks:
            if any(path_of(strip(a)) in names for a in call_args(n)):
                return n, f"passes it to {call_name(n)}()"
        elif t == "assignment_expression" and text(n.child_by_field_name("operator")) == "=":
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if left is not None and right is not None and strip(left).type == \
                    "subscript_expression" and path_of(strip(right)) in names:
                return n, f"stores it in {text(strip(left).child_by_field_name('argument'))}[]"
    return None


def _kills(node: Node | None, names: set[str]) -> bool:
    """The value's variable is given another value here (or its address away)."""
    if node is None:
        return False
    for n in walk(node):
        if n.type == "assignment_expression":
            left = path_of(n.child_by_field_name("left"))
            right = n.child_by_field_name("right")
            if left in names and not (right is not None and path_of(strip(right)) in names):
                return True
        elif n.type == "pointer_expression" and text(n.child_by_field_name("operator")) == "&":
            arg = n.child_by_field_name("argument")
            if arg is not None and path_of(strip(arg)) in names:
                return True
    return False


def _handed_off(node: Node | None, names: set[str]) -> bool:
    """Given to a function that is not kernel API (it may test it), stored in a
    structure, or returned: what becomes of it is decided elsewhere."""
    if node is None:
        return False
    v = vocab()
    for n in walk(node):
        name = call_name(n)
        if name is not None and not v.is_api(name) and any(
                path_of(strip(a)) in names for a in call_args(n)):
            return True
        if n.type == "assignment_expression":
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if left is not None and right is not None and path_of(strip(right)) in names \
                    and strip(left).type in ("field_expression", "pointer_expression"):
                return True
        if n.type == "return_statement" and any(
                path_of(strip(c)) in names for c in n.named_children):
            return True
    return False


def _branches(s: Stmt, names: set[str], state: str, contract: str
              ) -> list[tuple[int, str]] | None:
    """For a condition that tests the value, the successors to follow and the state
    on each; None when the condition does not test it."""
    if s.expr is None or s.node is None or s.node.type not in (
            "if_statement", "while_statement", "for_statement", "do_statement"):
        return None
    lits = literals(s.expr)
    errs = _err_tests_of(s.expr, names)
    if errs:
        mine = [lit for lit in lits if strip(lit.node).type == "call_expression"
                and any(strip(lit.node) == e for e in errs)]
        if len(mine) != 1 or len(s.succ) < 2:
            return []  # tested in a way this does not follow
        lit = mine[0]
        name = call_name(strip(lit.node))
        holds = 0 if lit.polarity else 1  # the successor on which the test is true
        out: list[tuple[int, str]] = []
        if lit.necessary or len(lits) == 1:
            out.append((s.succ[holds], _BAD))
        if len(lits) == 1 and name == "IS_ERR" and contract == _BOTH and state == _MAYBE:
            out.append((s.succ[1 - holds], _NULLABLE))
        return out
    nulls = [lit for lit in lits if lit.path in names]
    if not nulls:
        return None
    if len(nulls) != 1 or len(s.succ) < 2:
        return []
    lit = nulls[0]
    nonnull = 0 if lit.polarity else 1
    if state == _NULLABLE or not (lit.necessary or len(lits) == 1):
        return []
    return [(s.succ[nonnull], state)]


def _err_events(fa: FunctionAnalysis, call, names: set[str], contract: str
                ) -> Iterator[tuple[str, Stmt, Node, str, list[Stmt]]]:
    """(kind, statement, node, what, path) along the paths from the call: kind
    "nulltest" for a NULL test the value meets before any IS_ERR() test, "sink"
    for a use as a page while it may be (or is) an ERR_PTR, or NULL."""
    s0 = fa.cfg_node(call.node)
    if s0 is None or s0.kind != "simple":
        return
    todo: list[tuple[Stmt, str, bool, list[Stmt]]] = [
        (fa.cfg[i], _MAYBE, False, [s0]) for i in s0.succ]
    seen: set[tuple[int, str, bool]] = set()
    steps = 0
    while todo and steps < _MAX_STEPS:
        steps += 1
        s, state, nulled, path = todo.pop()
        if s is s0 or (s.id, state, nulled) in seen or s.kind in ("exit", "end", "unseen"):
            continue
        seen.add((s.id, state, nulled))
        path = path + [s]
        where = s.expr if s.kind == "cond" else s.node
        if s.kind != "cond" and _err_tests_of(where, names):
            continue  # tested into a variable: not followed
        hit = _sink(where, names)
        if hit is not None:
            kind = "latesink" if state == _MAYBE and nulled else "sink"
            yield kind, s, hit[0], f"{state}:{hit[1]}", path
            continue
        if _kills(where, names) or _handed_off(s.node if s.kind == "return" else where, names):
            continue
        if s.kind == "return":
            continue
        if s.kind == "cond":
            br = _branches(s, names, state, contract)
            if br is not None:
                if state == _MAYBE and s.expr is not None and not _err_tests_of(
                        s.expr, names):
                    lit = next(lit for lit in literals(s.expr) if lit.path in names)
                    if not nulled:
                        yield "nulltest", s, lit.node, state, path
                    br = [(nxt, st) for nxt, st in br]
                    for nxt, st in br:
                        todo.append((fa.cfg[nxt], st, True, path))
                    continue
                for nxt, st in br:
                    todo.append((fa.cfg[nxt], st, nulled and st == _MAYBE, path))
                continue
        for nxt in s.succ:
            todo.append((fa.cfg[nxt], state, nulled, path))


def _err_sources(ctx: PatchContext):
    """(file change, function, analysis, added lines, call, result, names, contract)
    for every call whose failure is an ERR_PTR, in a changed function."""
    v = vocab()
    apis = v["err-ptr-return"] | v["err-ptr-return-from-6.3"] | v["err-or-null-return"]
    eras: dict[str, bool] = {}

    def returners(img, f: Function) -> frozenset[str] | None:
        # a call of a listed API, or (diff-only) of a function this file's image
        # defines (the function itself only if an indented line, not its signature,
        # names it); across files (tree mode) any name may be one
        if img is None or img.world is not None:
            return None
        own = any(t[:1] in " \t" and f.name in t for _, t in f.lines)
        return apis | {g.name for g in img.functions if g.name != f.name or own}

    for fc, f, fa, added, summaries in _changed(ctx, returners):
        if fc.path not in eras:
            img = next((fch.post for fch in ctx.files if fch.path == fc.path), None)
            eras[fc.path] = _era_evidence(img)
        for c in fa.calls:
            contract = _contract(c.name, summaries, eras[fc.path])
            if contract is None:
                continue
            result = assigned_to(c.node)
            if result is None or "[" in result:
                continue
            # an array element holding it is one slot of many, not the variable
            names = {p for p in fa.aliases(result) if "[" not in p} | {result}
            yield fc, f, fa, added, c, result, names, contract


def _reached_tests(fa: FunctionAnalysis, call, names: set[str]) -> tuple[bool, bool]:
    """Whether the value of ``call``, before its variable is given another, meets an
    IS_ERR()-like test on some path, and a NULL test on some path."""
    s0 = fa.cfg_node(call.node)
    if s0 is None:
        return False, False
    err = null = False
    todo, seen = list(s0.succ), set[int]()
    while todo and len(seen) < _MAX_STEPS:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        s = fa.cfg[i]
        if s is s0 or s.kind in ("exit", "end"):
            continue
        where = s.expr if s.kind == "cond" else s.node
        if _err_tests_of(where, names):
            err = True
        if where is not None and any(is_null_test(n) for n in fa.walk(where) if n.type in (
                "identifier", "field_expression") and path_of(n) in names):
            null = True
        if _kills(where, names):
            continue
        todo.extend(s.succ)
    return err, null


def _tested_for_error(fa: FunctionAnalysis, call, names: set[str]) -> bool:
    return _reached_tests(fa, call, names)[0]


def _tested_for_null(fa: FunctionAnalysis, call, names: set[str]) -> bool:
    return _reached_tests(fa, call, names)[1]


def _seen_path(fa: FunctionAnalysis, path: list[Stmt], node: Node) -> bool:
    return not fa.crosses_gap(path) and not fa.context_unseen(node)


@check("mm/err-ptr-tested-for-null")
def err_ptr_tested_for_null(ctx: PatchContext):
    for fc, f, fa, added, c, result, names, contract in _err_sources(ctx):
        if _tested_for_error(fa, c, names):
            continue  # tested for an error somewhere: not this rule's business
        events = list(_err_events(fa, c, names, contract))
        if contract == _BOTH and not any(k == "latesink" for k, *_ in events):
            continue  # NULL is an answer, not a failure: passing the rest on is fine
        for kind, s, node, _, path in events:
            if kind != "nulltest":
                continue
            line = fa.line(node)
            if c.line in added or line in added:
                yield Hit(line=line, path=fc.path, function=f.name,
                          args={"func": f.name, "var": result, "callee": c.name,
                                "call_line": c.line,
                                "how": "with ERR_PTR(), never NULL" if contract == _ERR
                                else "with ERR_PTR() on some paths and NULL on others"},
                          confidence=None if _seen_path(fa, path, node) else Confidence.LOW)
            break


@check("mm/err-ptr-reaches-use")
def err_ptr_reaches_use(ctx: PatchContext):
    for fc, f, fa, added, c, result, names, contract in _err_sources(ctx):
        reported = False
        for kind, s, node, what, path in _err_events(fa, c, names, contract):
            if kind != "sink" or reported:
                continue
            state, use = what.split(":", 1)
            line = fa.line(node)
            touched = {st.line for st in path if st.node is not None}
            if c.line not in added and not (touched & added):
                continue
            if state == _MAYBE and (_tested_for_error(fa, c, names)
                                    or _tested_for_null(fa, c, names)):
                continue  # tested on some other path: the untested one may be dead
            if state == _NULLABLE and _tested_for_null(fa, c, names):
                continue
            if state == _BAD:
                test = next((st for st in path if st.kind == "cond"
                             and _err_tests_of(st.expr, names)), None)
                why = (f"on the path where the test on line {test.line} found it to be an "
                       "ERR_PTR" if test is not None else "where it is an ERR_PTR")
            elif state == _NULLABLE:
                why = "where it may be NULL: the function fails with NULL on some paths, " \
                      "and IS_ERR() does not catch NULL"
            else:
                why = "before any IS_ERR() test: an ERR_PTR is used as a pointer"
            reported = True
            yield Hit(line=line, path=fc.path, function=f.name,
                      args={"func": f.name, "var": result, "callee": c.name,
                            "call_line": c.line, "use": use, "why": why},
                      confidence=None if _seen_path(fa, path, node) else Confidence.LOW)


def _ancestors(node: Node) -> Iterator[Node]:
    n = node.parent
    while n is not None and n.type not in ("expression_statement", "if_statement",
                                           "return_statement", "declaration"):
        yield n
        n = n.parent


# -- mm/slab-alloc-sized-by-page-count -------------------------------------------------------
#
# A kmalloc-family array whose element count is a page count the caller chose: a
# physically contiguous allocation limited to KMALLOC_MAX_SIZE (4 MiB with 4 KiB
# pages and the default MAX_ORDER, half a million pointers: a 2 GiB pin) where the
# request is sized by userspace.  It is a pin path when the function hands the count
# to GUP, or when it was handed an array of pages or folios with the count (a
# second array parallel to the caller's, which may have been kvmalloc'ed); an
# array of page or folio pointers sized by a parameter alone is said at low
# confidence.

_COUNT_ARG = 0  # every slab-alloc API takes the count (or the size) first
_NARROW = frozenset({"u8", "u16", "__u8", "__u16", "char", "short", "bool"})


def _count_names(node: Node) -> set[str]:
    """The variables a size expression is made of, sizeof() aside."""
    out: set[str] = set()
    skip: list[Node] = [n for n in walk(node) if n.type == "sizeof_expression"]
    for n in walk(node):
        if n.type in ("identifier", "field_expression") and not any(inside(n, s) for s in skip):
            if n.parent is not None and n.parent.type == "call_expression" and \
                    n.parent.child_by_field_name("function") == n:
                continue  # the size helper called, not a variable
            p = path_of(n)
            if p is not None and not text(n).isupper():
                out.add(p)
    return out


def _array_size(c) -> tuple[Node, Node | None] | None:
    """The element count of an array allocation and the element size expression:
    kmalloc_array(n, size), kcalloc(n, size), kmalloc(n * size),
    kmalloc(struct_size(p, member, n)), kmalloc(array_size(n, size)); None for
    one object."""
    if not c.args:
        return None
    if len(c.args) >= 3:
        return c.args[0], c.args[1]
    size = strip(c.args[0])
    sb = vocab()["alloc-size"]
    if size.type == "call_expression" and call_name(size) in sb:
        a = call_args(size)
        if call_name(size) == "struct_size" and len(a) == 3:
            return a[2], None
        if len(a) == 2:
            return size, size
        return None
    if size.type == "binary_expression" and text(size.child_by_field_name("operator")) == "*":
        return size, size
    return None


def _pointer_elements(fa: FunctionAnalysis, elem: Node | None) -> bool:
    """The element size is that of a page or folio pointer: sizeof(struct page *),
    sizeof(*pages) or sizeof(pages[0]) of a ``struct page **``."""
    if elem is None:
        return False
    for n in fa.walk(elem):
        if n.type != "sizeof_expression":
            continue
        t = text(n).replace(" ", "")
        if "structpage*" in t or "structfolio*" in t:
            return True
        for x in fa.walk(n):
            if x.type == "identifier":
                ty = (fa.type_of(text(x)) or "").replace(" ", "")
                if ty.count("*") == 2 and ("structpage" in ty or "structfolio" in ty):
                    return True
    return False


def _bounded(fa: FunctionAnalysis, at: Node, names: set[str]) -> bool:
    """A min()/clamp() in the size or the count's definition, a guard that compares
    the count (or what it is made of) before the allocation, or a type too narrow
    to make the array large."""
    for g in fa.guards(at):
        cond = g.cond
        if cond is None:
            continue
        for n in fa.walk(cond):
            if n.type == "binary_expression" and text(n.child_by_field_name("operator")) in (
                    "<", "<=", ">", ">=") and _mentions(n, names):
                return True
    for name in names:
        ty = (fa.type_of(name.split("->")[0].split(".")[0]) or "").split()
        if name in {p for _, p in fa.params} | {p for _, p in fa.locals} and ty and (
                ty[-1] in _NARROW or (ty[-1] == "int" and "short" in ty)):
            return True
        for d in fa.defs_before(name, at):
            if d.value is not None and any(
                    call_name(x) in vocab()["bound"]
                    for x in fa.walk(d.value)):
                return True
    return False


def _from_caller(fa: FunctionAnalysis, size: Node, counts: set[str]) -> set[str]:
    """The parameters the count is made of (through its definitions)."""
    params = {name for _, name in fa.params}
    out: set[str] = set()
    for n in counts:
        use = _first_use(fa, n, size) or size
        for o in fa.origins(use):
            for x in fa.walk(o):
                if x.type in ("identifier", "field_expression"):
                    p = path_of(x)
                    if p is not None and p.split("->")[0].split(".")[0] in params:
                        out.add(p.split("->")[0].split(".")[0])
    return out


def _page_array_with(fa: FunctionAnalysis, params: set[str]) -> bool:
    """The function was handed an array of pages or folios (``struct page **``)
    along with the count."""
    return bool(params) and any(
        t.replace(" ", "").count("*") == 2 and ("structpage" in t.replace(" ", "") or
                                                "structfolio" in t.replace(" ", ""))
        for t, _ in fa.params)


@check("mm/slab-alloc-sized-by-page-count")
def slab_alloc_sized_by_page_count(ctx: PatchContext):
    v = vocab()
    gup = v["pin"] | v["gup-get"]
    allocs = v["slab-alloc"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=allocs)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        if not added:
            continue
        gup_calls = fa.calls_to(gup)
        for c in fa.calls_to(allocs):
            if c.line not in added:
                continue
            shape = _array_size(c)
            if shape is None:
                continue
            count, elem = shape
            size = c.args[_COUNT_ARG]
            names = _count_names(count)
            if not names:
                continue
            pinned = {n for n in names if any(_mentions(a, fa.aliases(n) | {n})
                                              for g in gup_calls for a in g.args)}
            counts = pinned or names
            params = _from_caller(fa, size, counts)
            if not params or _bounded(fa, c.node, counts | params):
                continue
            if pinned:
                conf = None if fa.complete else Confidence.LOW
            elif _page_array_with(fa, params) and _pointer_elements(fa, elem):
                conf = Confidence.MEDIUM if fa.complete else Confidence.LOW
            elif _pointer_elements(fa, elem):
                conf = Confidence.LOW
            else:
                continue
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "alloc": c.name, "count": sorted(counts)[0],
                            "how": "the page count it also hands to GUP" if pinned else
                            "a page count its caller passes in"},
                      confidence=conf,
                      severity=Severity.INFO if conf == Confidence.LOW else None)


def _first_use(fa: FunctionAnalysis, name: str, within: Node) -> Node | None:
    for n in fa.walk(within):
        if n.type in ("identifier", "field_expression") and path_of(n) == name:
            return n
    return None


# -- mm/cow-early-copy-not-anon ----------------------------------------------------------------

def _tests(fa: FunctionAnalysis, node: Node, names: frozenset[str]) -> list[tuple[Node, bool]]:
    """The calls of ``names`` in the guards of ``node``, with the polarity under which
    ``node`` runs."""
    out = []
    for g in fa.guards(node):
        for lit in g.literals():
            n = strip(lit.node)
            if n.type == "call_expression" and call_name(n) in names:
                out.append((n, lit.polarity))
    return out


@check("mm/cow-early-copy-not-anon")
def cow_early_copy_not_anon(ctx: PatchContext):
    v = vocab()
    pin_tests, anon_tests, copies = v["pin-test"], v["anon-test"], v["page-copy"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=copies)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        if not added:
            continue
        for c in fa.calls_to(copies):
            pinned = [n for n, pol in _tests(fa, c.node, pin_tests) if pol]
            if not pinned:
                continue  # not the copy made because the page may be pinned
            if any(pol for _, pol in _tests(fa, c.node, anon_tests)):
                continue
            test = pinned[0]
            if c.line not in added and fa.line(test) not in added:
                continue
            # the page the pin test asks about, known to be anonymous from its origin?
            arg = call_args(test)[0] if call_args(test) else None
            if arg is not None and any(
                    call_name(x) in anon_tests for o in fa.origins(arg) for x in fa.walk(o)):
                continue
            yield Hit(line=fa.line(test), path=fc.path, function=f.name,
                      args={"func": f.name, "test": call_name(test) or "the pin test",
                            "copy": c.name, "copy_line": c.line},
                      confidence=Confidence.LOW if fa.context_unseen(test) else (
                          None if fa.complete else Confidence.MEDIUM))


# -- mm/resource-earlier-pins-held-on-error ----------------------------------------------------
#
# Two ways a function comes to hold pins or references on several pages at once:
# a GUP call that pins up to N pages and may return fewer (the count it returns is
# what is held), and a loop that takes one page per iteration into an array.  An
# error return must drop what was taken so far: GUP's callers take a negative
# return to mean that nothing is pinned.

_NONE, _PART, _FULL = 1, 2, 4  # what a count-returning GUP call returned: <= 0, short, all


def _gup_entry(name: str):
    v = vocab()
    return next((v.entry(name, cat) for cat in ("pin", "gup-get") if v.has(cat, name)), None)


def _count_arg(name: str) -> int | None:
    """The index of the page-count argument of a count-returning GUP call (the
    page array is the vocabulary's ``pages``; the count is two before it, or
    right after the address when the array comes before the flags)."""
    e = _gup_entry(name)
    if e is None or e.pages is None or e.pages < 2:
        return None
    return 1 if e.pages == 2 else e.pages - 2


def _int(node: Node | None) -> int | None:
    if node is None:
        return None
    n = strip(node)
    if n.type == "number_literal":
        try:
            return int(text(n).rstrip("uUlL"), 0)
        except ValueError:
            return None
    if n.type == "unary_expression" and text(n.child_by_field_name("operator")) == "-":
        v = _int(n.child_by_field_name("argument"))
        return -v if v is not None else None
    return None


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}


def _count_outcomes(cond: Node, is_count) -> tuple[int, int] | None:
    """For a condition that tests the count (``is_count(node)``), the outcomes
    (bit sets of _NONE/_PART/_FULL) under which it is true and false; None when
    it does not test the count in a way this understands."""
    c = strip(cond)
    if c.type == "unary_expression" and text(c.child_by_field_name("operator")) == "!":
        arg = c.child_by_field_name("argument")
        inner = _count_outcomes(arg, is_count) if arg is not None else None
        return (inner[1], inner[0]) if inner is not None else None
    if is_count(c):  # if (ret)
        return _PART | _FULL, _NONE
    if c.type != "binary_expression":
        return None
    op = text(c.child_by_field_name("operator"))
    left, right = c.child_by_field_name("left"), c.child_by_field_name("right")
    if left is None or right is None or op not in _FLIP:
        return None
    if is_count(right) and not is_count(left):
        left, right, op = right, left, _FLIP[op]
    if not is_count(left):
        return None
    k = _int(right)
    every = _NONE | _PART | _FULL
    if k is not None and k <= 0:
        # against 0 (or below): whether anything was pinned at all
        if op in ("<", "<=", "=="):
            return _NONE, every
        if op in (">", "!="):
            return (_PART | _FULL if k == 0 else every), _NONE
        return every, _NONE  # >=
    if k == 1 and op in ("<", ">="):
        return (_NONE, _PART | _FULL) if op == "<" else (_PART | _FULL, _NONE)
    # against the number asked for (or any bound not known to be 0)
    if op in ("!=", "<"):
        return _NONE | _PART, _FULL
    if op in ("==", ">="):
        return _FULL, _NONE | _PART
    return None


def _loop_of(fa: FunctionAnalysis, node: Node) -> Node | None:
    """The innermost loop of the function that ``node`` is in."""
    n = node.parent
    while n is not None and n != fa.body:
        if n.type in ("for_statement", "while_statement", "do_statement"):
            return n
        n = n.parent
    return None


def _loop_head(fa: FunctionAnalysis, loop: Node) -> Stmt | None:
    return next((s for s in fa.cfg.values() if s.kind == "cond" and s.node is not None
                 and s.node.start_byte == loop.start_byte and s.node.end_byte == loop.end_byte),
                None)


def _into_array(fa: FunctionAnalysis, c, loop: Node, handle: str | None,
                pages_arg: Node | None) -> str | None:
    """The array that keeps what the acquire in ``loop`` took, one element per
    iteration: the GUP call's page array offset by the iteration (``pages + i``,
    ``&pages[i]``), or an array element the taken page is stored in within the
    loop.  None when nothing outlives the iteration this way."""
    if pages_arg is not None and _is_address(pages_arg) and \
            _address_target(pages_arg).type == "identifier":
        # one page at a time into a local (&page), stored in the array below
        handle, pages_arg = text(_address_target(pages_arg)), None
    if pages_arg is not None:
        a = _address_target(pages_arg)
        if a.type == "subscript_expression":
            return path_of(a.child_by_field_name("argument"))
        if a.type == "binary_expression" and text(a.child_by_field_name("operator")) == "+":
            return path_of(a.child_by_field_name("left"))
        p = path_of(a)
        # the array itself, moved on each time round (pages += ret)
        if p is not None and any(d.kind == "update" or (d.value is not None and _mentions(
                d.value, {p}) and inside(d.node, loop)) for d in fa.defs_of(p)):
            return p
        return None
    if handle is None:
        return None
    names = fa.aliases(handle) | {handle}
    for n in fa.walk(loop):
        if n.type != "assignment_expression" or text(n.child_by_field_name("operator")) != "=":
            continue
        left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
        if left is None or right is None or strip(left).type != "subscript_expression":
            continue
        if _mentions(right, names):
            return path_of(strip(left).child_by_field_name("argument"))
    return None


def _outlives(path: str | None) -> bool:
    """A page array reached through a structure or a pointer belongs to an
    object that outlives the call: its pins are that object's to drop."""
    return path is None or "->" in path or "." in path


def _held_paths(fa: FunctionAnalysis, start: Stmt, array: str, releases: frozenset[str],
                summaries: Summaries | None, *, count: str | None = None,
                count_call: Node | None = None, loop_head: Stmt | None = None,
                counts: frozenset[str] = frozenset(), loop: Node | None = None
                ) -> Iterator[tuple[Stmt, list[Stmt]]]:
    """Error returns reachable from ``start`` with pages of ``array`` still held.

    With ``count``, what the GUP call returned is followed through the tests of
    it: a return is reported only where some pages may be pinned.  With
    ``loop_head``, only returns reached after going round the loop at least once
    (so earlier iterations hold something) are reported."""
    held = fa.aliases(array) | {array}
    # what says how many are held: stored where the caller sees it, it is handed off
    tally = set(counts) | ({count} if count else set())

    def is_count(n: Node) -> bool:
        n = strip(n)
        if count_call is not None and n.start_byte == count_call.start_byte \
                and n.end_byte == count_call.end_byte:
            return True
        return count is not None and path_of(n) == count

    init = _NONE | _PART | _FULL
    todo: list[tuple[Stmt, list[Stmt], frozenset[str], int, bool]] = []
    if count_call is not None and start.kind == "cond" and start.expr is not None:
        split = _count_outcomes(start.expr, is_count)
        for k, nxt in enumerate(start.succ[:2]):
            out = init if split is None else split[k]
            todo.append((fa.cfg[nxt], [start], frozenset(), out, False))
    else:
        todo = [(fa.cfg[i], [start], frozenset(), init, False) for i in start.succ]
    seen: set[tuple[int, frozenset[str], int, bool]] = set()
    steps = 0
    counting = count
    while todo and steps < _MAX_STEPS:
        steps += 1
        s, path, errvars, outcome, looped = todo.pop()
        if not outcome & (_PART | _FULL):
            continue  # nothing pinned on this path
        key = (s.id, errvars, outcome, looped)
        if key in seen:
            continue
        seen.add(key)
        if s.kind in ("exit", "end"):
            continue
        if loop_head is not None and s is loop_head:
            looped = True
        elif s is start and loop_head is None:
            continue
        if loop is not None and s.node is not None and _other_arm(fa, loop, start, s):
            continue  # an arm no iteration that took pages can take
        where = s.expr if s.expr is not None else s.node
        if _releases(fa, where, releases, summaries):
            continue
        if s.kind == "return" and s.node is not None:
            value = next((c for c in s.node.named_children if c.type != "comment"), None)
            if value is not None and path_of(value) in held and path_of(value) in errvars:
                yield s, path + [s]  # the array's own pointer, overwritten by ERR_PTR()
                continue
        if _stores_out(where, held | tally):
            continue
        if _hands_off(fa, s, held | ({counting} if counting else set()), summaries) \
                and not (s.kind == "return" and counting and _count_is_error(
                    s, counting, errvars)):
            continue
        if s.kind == "return":
            value = next((c for c in s.node.named_children if c.type != "comment"),
                         None) if s.node is not None else None
            if _error_value(fa, value, errvars) and (loop_head is None or looped) \
                    and not (loop_head is not None and _only_before_progress(
                        fa, s, loop_head.node)):
                yield s, path + [s]
            continue
        if _splits_release(fa, s, releases, summaries):
            continue
        asg = _assignment(where) if s.kind == "simple" else None
        if asg is not None:
            left, right = asg
            err = _error_value(fa, right, frozenset())
            errvars = errvars | {left} if err else errvars - {left}
            if left in held and not is_null(right) and not err:
                continue  # the array now names something else
        split = _count_outcomes(s.expr, is_count) if s.kind == "cond" and s.expr is not None \
            and s.node is not None and s.node.type == "if_statement" else None
        neg = _negative(s.expr) if s.kind == "cond" and s.node is not None \
            and s.node.type == "if_statement" else None
        for k, nxt in enumerate(s.succ):
            out = outcome & split[k] if split is not None and k < 2 else outcome
            errs = errvars | {neg} if neg is not None and k == 0 else errvars
            todo.append((fa.cfg[nxt], path + [s], errs, out, looped))


def _stores_out(node: Node | None, names: set[str]) -> bool:
    """An assignment (``=``, ``+=``, ...) of something made of ``names`` through a
    pointer or into a structure (``*pinned += ret``, ``obj->nr = ret``): the
    caller can see it and release what it counts."""
    if node is None or not names:
        return False
    for n in walk(node):
        if n.type != "assignment_expression":
            continue
        left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
        if left is None or right is None or not _mentions(right, names):
            continue
        lv = strip(left)
        if lv.type in ("pointer_expression", "field_expression") or (
                lv.type == "subscript_expression" and _outlives(path_of(
                    lv.child_by_field_name("argument")))):
            return True
    return False


def _invariant(fa: FunctionAnalysis, cond: Node | None, loop: Node) -> bool:
    """A condition the loop cannot change: no call in it, and nothing it reads
    is assigned inside the loop."""
    if cond is None:
        return False
    for n in fa.walk(cond):
        if n.type == "call_expression":
            return False
        if n.type in ("identifier", "field_expression"):
            p = path_of(n)
            if p is not None and any(inside(d.node, loop) for d in fa.defs_of(p)):
                return False
    return True


def _other_arm(fa: FunctionAnalysis, loop: Node | None, acquire: Stmt, ret: Stmt) -> bool:
    """The acquire sits in one arm of a switch or if inside the loop whose
    condition the loop cannot change, and the return in another: every
    iteration takes the same arm, so no iteration that took pages reaches it."""
    if loop is None or acquire.node is None or ret.node is None:
        return False
    a, r = acquire.node, ret.node
    x = a
    while x is not None and x != loop:
        parent = x.parent
        if parent is None:
            break
        if x.type == "case_statement" and parent.type == "compound_statement" \
                and parent.parent is not None and parent.parent.type == "switch_statement":
            sw = parent.parent
            if inside(r, sw) and not inside(r, x) and _invariant(
                    fa, sw.child_by_field_name("condition"), loop):
                return True
        if parent.type == "if_statement" and x != parent.child_by_field_name("condition"):
            other = parent.child_by_field_name("alternative") \
                if x == parent.child_by_field_name("consequence") \
                else parent.child_by_field_name("consequence")
            if other is not None and inside(r, other) and _invariant(
                    fa, parent.child_by_field_name("condition"), loop):
                return True
        x = parent
    return False


def _only_before_progress(fa: FunctionAnalysis, ret: Stmt, loop: Node | None) -> bool:
    """The return runs only while a counter the loop advances is still zero
    (``if (!i) return ret;``, ``return`` under ``nr == 0``): no earlier iteration
    completed, so nothing is held."""
    if loop is None or ret.node is None:
        return False
    for g in fa.guards(ret.node):
        for lit in g.literals():
            p = lit.path
            if lit.polarity or not lit.necessary or p is None:
                continue
            if any(inside(d.node, loop) and d.kind in ("assign", "update")
                   for d in fa.defs_of(p)):
                return True
    return False


def _negative(cond: Node | None) -> str | None:
    """``x < 0`` (or ``0 > x``): on its true branch ``x`` holds an errno."""
    if cond is None:
        return None
    c = strip(cond)
    if c.type != "binary_expression":
        return None
    op = text(c.child_by_field_name("operator"))
    left, right = c.child_by_field_name("left"), c.child_by_field_name("right")
    if op == "<" and _int(right) == 0:
        return path_of(left)
    if op == ">" and _int(left) == 0:
        return path_of(right)
    return None


def _count_is_error(s: Stmt, count: str, errvars: frozenset[str]) -> bool:
    """``return ret`` where ``ret``, the count, was overwritten with an errno."""
    value = next((c for c in s.node.named_children if c.type != "comment"),
                 None) if s.node is not None else None
    return value is not None and path_of(value) == count and count in errvars


@check("mm/resource-earlier-pins-held-on-error")
def earlier_pins_held_on_error(ctx: PatchContext):
    v = vocab()
    counted = v["pin"] | v["gup-get"]
    single = v["page-get"]
    releases = frozenset(v["unpin"] | v["page-put"] | v["dirty-release"])
    for fc, f, fa, added, summaries in _changed(ctx, counted | single):
        reported: set[int] = set()
        for c in fa.calls_to(counted | single):
            s0 = fa.cfg_node(c.node)
            if s0 is None:
                continue
            loop = _loop_of(fa, c.node)
            pages_arg = None
            count_i = _count_arg(c.name) if c.name in counted else None
            if c.name in counted:
                e = _gup_entry(c.name)
                if e is None or e.pages is None or e.pages >= len(c.args) \
                        or is_null(c.args[e.pages]):
                    continue  # no page array: nothing is held
                pages_arg = c.args[e.pages]
            asked = _int(c.args[count_i]) if count_i is not None and count_i < len(c.args) \
                else None
            if asked is not None and asked <= 1 and loop is None:
                continue  # one page asked for: the count says all or nothing
            found = []
            if loop is not None:
                # the page a get takes is its first argument; a GUP call's, its array
                handle = path_of(_address_target(c.args[0])) \
                    if pages_arg is None and c.args else None
                array = _into_array(fa, c, loop, handle, pages_arg)
                head = _loop_head(fa, loop)
                if array is not None and not _outlives(array) and head is not None:
                    what = (f"the pages {c.name}() on line {c.line} took in the loop's "
                            "earlier iterations")
                    result = assigned_to(c.node)
                    found = list(_held_paths(fa, s0, array, releases, summaries,
                                             loop_head=head, counts=frozenset(
                                                 {result} if result else ()), loop=loop))
                    if not found and pages_arg is not None and not (
                            asked is not None and asked <= 1):
                        # this iteration's own short count
                        found = list(_held_paths(fa, s0, array, releases, summaries,
                                                 count=result, count_call=c.node
                                                 if result is None else None, loop=loop))
                        what = (f"the pages {c.name}() on line {c.line} pinned (it may pin "
                                "fewer than asked, and nothing on this path rules out some)")
            elif pages_arg is not None:
                array = path_of(_address_target(pages_arg))
                if array is None and strip(pages_arg).type == "binary_expression":
                    array = path_of(strip(pages_arg).child_by_field_name("left"))
                if array is not None and not _outlives(array):
                    result = assigned_to(c.node)
                    found = list(_held_paths(fa, s0, array, releases, summaries,
                                             count=result, count_call=c.node
                                             if result is None else None))
                    what = (f"the pages {c.name}() on line {c.line} pinned (it may pin "
                            "fewer than asked, and nothing on this path rules out some)")
            for ret, path in found:
                if ret.line in reported:
                    continue
                touched = {st.line for st in path if st.node is not None}
                if c.line not in added and not (touched & added):
                    continue
                reported.add(ret.line)
                conf = Confidence.LOW if ret.node is not None and fa.context_unseen(ret.node) \
                    else (None if fa.complete else Confidence.MEDIUM)
                yield Hit(line=ret.line, path=fc.path, function=f.name,
                          args={"func": f.name, "acquire": c.name, "acquire_line": c.line,
                                "what": what, "array": array},
                          confidence=conf)
                break


# -- mm/resource-pins-kept-on-new-error-return ----------------------------------------------------
#
# A function handed an array of pinned pages (check_and_migrate_movable_pages()
# under FOLL_LONGTERM) that drops them on its error returns: the caller relies on
# "error means unpinned". A patch that adds an error return skipping the drop
# breaks that contract.

def _page_array_params(fa: FunctionAnalysis) -> list[str]:
    out = []
    for t, name in fa.params:
        words = t.replace("*", " * ").split()
        if "struct" in words and ("page" in words or "folio" in words) and t.count("*") == 2:
            out.append(name)
    return out


def _drops_array(fa: FunctionAnalysis, node: Node | None, arr: str, releases: frozenset[str],
                 summaries: Summaries | None) -> bool:
    """A release of the array's pages: a bulk release given the array, or a
    release of an element inside a loop."""
    if node is None:
        return False
    for n in fa.walk(node):
        name = call_name(n)
        if name is None:
            continue
        if not (name in releases or (summaries is not None and summaries.reaches(
                name, releases))):
            continue
        for a in call_args(n):
            if not _mentions(a, {arr}):
                continue
            if path_of(_address_target(a)) == arr or _loop_of(fa, n) is not None:
                return True
    return False


def _error_exits(fa: FunctionAnalysis, arr: str, releases: frozenset[str],
                 summaries: Summaries | None) -> list[tuple[Stmt, bool, list[Stmt]]]:
    """(error return, whether the array was dropped on the way, path) for the
    paths from the function's first statement."""
    body = fa.body
    first = next((c for c in body.named_children if c.type != "comment"), None) \
        if body is not None else None
    s0 = fa.cfg_node(first) if first is not None else None
    if s0 is None:
        return []
    out: list[tuple[Stmt, bool, list[Stmt]]] = []
    todo: list[tuple[Stmt, list[Stmt], frozenset[str], bool]] = [(s0, [], frozenset(), False)]
    seen: set[tuple[int, frozenset[str], bool]] = set()
    steps = 0
    while todo and steps < _MAX_STEPS:
        steps += 1
        s, path, errvars, dropped = todo.pop()
        key = (s.id, errvars, dropped)
        if key in seen:
            continue
        seen.add(key)
        if s.kind in ("exit", "end"):
            continue
        where = s.expr if s.expr is not None else s.node
        if s.kind != "return" and _drops_array(fa, where, arr, releases, summaries):
            dropped = True
        if s.kind == "cond" and s.node is not None and s.node.type in (
                "for_statement", "while_statement", "do_statement") and _drops_array(
                    fa, s.node.child_by_field_name("body"), arr, releases, summaries):
            dropped = True  # a loop over the array that drops its pages (none if it is empty)
        if s.kind == "return":
            value = next((c for c in s.node.named_children if c.type != "comment"),
                         None) if s.node is not None else None
            if _error_value(fa, value, errvars):
                out.append((s, dropped, path + [s]))
            continue
        if not dropped and _hands_off(fa, s, {arr}, summaries):
            continue
        asg = _assignment(where) if s.kind == "simple" else None
        if asg is not None:
            left, right = asg
            errvars = errvars | {left} if _error_value(fa, right, frozenset()) \
                else errvars - {left}
        for nxt in s.succ:
            todo.append((fa.cfg[nxt], path + [s], errvars, dropped))
    return out


@check("mm/resource-pins-kept-on-new-error-return")
def pins_kept_on_new_error_return(ctx: PatchContext):
    v = vocab()
    releases = frozenset(v["unpin"] | v["page-put"] | v["dirty-release"])
    for fc, f, fa, added, summaries in _changed(ctx):
        pre = of(fc.pre) if fc.pre is not None else None
        if pre is None:
            continue  # a new function: no contract of its callers to keep
        pre_sum = None
        for arr in _page_array_params(fa):
            if arr not in _page_array_params(pre):
                continue
            before = _error_exits(pre, arr, releases, pre_sum)
            if not any(d for _, d, _ in before) or any(not d for _, d, _ in before):
                continue  # it did not drop the pages on every error return before
            after = _error_exits(fa, arr, releases, summaries)
            dropping = [r for r, d, _ in after if d]
            if not dropping:
                continue
            for ret, d, path in after:
                if d:
                    continue
                new = [st for st in path if st.line in added and st.kind in (
                    "goto", "return", "cond")]
                if not new:
                    continue
                exit_line = next((st.line for st in path if st.line in added and st.kind in (
                    "goto", "return")), new[0].line)
                yield Hit(line=ret.line, path=fc.path, function=f.name,
                          args={"func": f.name, "array": arr, "exit_line": exit_line,
                                "drop_line": dropping[0].line},
                          confidence=None if fa.complete else Confidence.MEDIUM)
                break


# -- mm/gup-count-tested-for-zero ----------------------------------------------------------
#
# GUP and pin calls return how many pages they took, or a negative errno: a test of
# the count for zero alone (``if (!ret)``, ``if (ret)``) takes -EFAULT for pages
# taken, and what follows uses (or unpins) pages that were never filled in.

def _count_tests(fa: FunctionAnalysis, call, names: set[str]) -> tuple[list[Node], bool]:
    """The zero tests of the count along the paths from ``call`` before it is
    given another value, and whether it meets any other test or leaves the
    function's hands (compared, returned, stored, passed on)."""
    s0 = fa.cfg_node(call.node)
    if s0 is None:
        return [], True
    zero: list[Node] = []
    todo, seen = list(s0.succ), set[int]()
    while todo and len(seen) < _MAX_STEPS:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        s = fa.cfg[i]
        if s is s0 or s.kind in ("exit", "end", "unseen"):
            continue
        where = s.expr if s.kind == "cond" else s.node
        if where is not None:
            for n in fa.walk(where):
                if n.type not in ("identifier", "field_expression") or path_of(n) not in names:
                    continue
                if is_null_test(n):
                    zero.append(n)
                    continue
                p = n.parent
                if p is not None and (p.type in ("declaration", "init_declarator") or
                                      p.type.endswith("declarator")):
                    continue  # declared anew (a loop's next iteration)
                if p is not None and p.type == "assignment_expression" and \
                        p.child_by_field_name("left") == n:
                    continue
                return zero, True  # compared, returned, stored or passed on
        if _kills(where, names) or (where is not None and where.type == "declaration" and any(
                path_of(x) in names for x in fa.walk(where) if x.type == "identifier")):
            continue
        todo.extend(s.succ)
    return zero, False


@check("mm/gup-count-tested-for-zero")
def gup_count_tested_for_zero(ctx: PatchContext):
    v = vocab()
    counted = v["pin"] | v["gup-get"]
    for fc, f, fa, added, summaries in _changed(ctx, counted):
        for c in fa.calls_to(counted):
            e = _gup_entry(c.name)
            if e is None or e.pages is None:
                continue  # not a count-returning call of the vocabulary
            result = assigned_to(c.node)
            if result is None or "[" in result:
                continue
            zero, other = _count_tests(fa, c, {result})  # a copy of it is "passed on"
            if other or not zero:
                continue
            line = fa.line(zero[0])
            if c.line not in added and line not in added:
                continue
            yield Hit(line=line, path=fc.path, function=f.name,
                      args={"func": f.name, "var": result, "callee": c.name,
                            "call_line": c.line},
                      confidence=None if not fa.context_unseen(zero[0]) else Confidence.LOW)
