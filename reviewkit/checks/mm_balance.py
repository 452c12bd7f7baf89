"""Resources held on an error path; ERR_PTR values tested for NULL; slab
allocations sized by a caller's page count.

Each of these is decided on the function's control-flow graph and def-use,
with kernel API names taken from the vocabulary (rules/mm/_vocab.yaml):

- mm/resource-held-on-error-return: from an acquire (a lock, a page-table map,
  a page reference, a kmap) to a ``return`` of an errno or ERR_PTR, a path that
  meets no release of the pair, no helper whose summary releases, and no
  hand-off of what was taken (returned, stored, given to a function the
  analysis cannot see into).
- mm/err-ptr-tested-for-null: the result of a call that returns ERR_PTR() on
  failure — kernel API listed as such, or a function whose definition is
  visible and returns ERR_PTR() — tested only against NULL.
- mm/slab-alloc-sized-by-page-count: kmalloc_array()/kcalloc()/kmalloc() sized
  by a count that the same function passes to GUP, and that comes from its
  caller unbounded.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import FunctionAnalysis, Stmt
from reviewkit.analysis.summary import Summaries
from reviewkit.analysis.syntax import (call_args, call_name, inside, is_null, is_null_test,
                                       literals, path_of, strip, text, walk)
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.cfunc import Function
from reviewkit.engine.context import FunctionChange, PatchContext
from reviewkit.engine.registry import Confidence, Hit, check

_MAX_STEPS = 4000


def _assigned_to(call: Node) -> str | None:
    """The lvalue a call's value is stored in: ``x = call()`` or ``T *x = call()``."""
    n = call
    while n.parent is not None and n.parent.type in ("parenthesized_expression",
                                                     "cast_expression"):
        n = n.parent
    parent = n.parent
    if parent is None:
        return None
    if parent.type == "assignment_expression" and parent.child_by_field_name("right") == n:
        return path_of(parent.child_by_field_name("left"))
    if parent.type == "init_declarator" and parent.child_by_field_name("value") == n:
        decl = parent.child_by_field_name("declarator")
        while decl is not None and decl.type == "pointer_declarator":
            decl = decl.child_by_field_name("declarator")
        return text(decl) if decl is not None and decl.type == "identifier" else None
    return None


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


def _changed(ctx: PatchContext) -> Iterator[tuple[FunctionChange, Function, FunctionAnalysis,
                                                set[int], Summaries | None]]:
    """Each changed function that still exists and parses, with its added lines
    and the helper summaries of its file."""
    for fc, f in ctx.with_post():
        fa = of(f)
        added = {ln.new_no for ln in fc.added if ln.new_no is not None}
        if fa is None or not added:
            continue
        img = next((fch.post for fch in ctx.files if fch.path == fc.path), None)
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
    for n in walk(node):
        name = call_name(n)
        if name is None:
            continue
        if name in releases or (summaries is not None and summaries.reaches(name, releases)):
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
    for n in walk(node):
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
    lits = literals(s.expr)
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
    for fc, f, fa, added, summaries in _changed(ctx):
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
            result = _assigned_to(c.node)
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


# -- mm/err-ptr-tested-for-null ------------------------------------------------------------

def _returns_err_ptr(name: str, summaries: Summaries | None) -> bool:
    v = vocab()
    if name in v["err-ptr-return"]:
        return True
    if summaries is None:
        return False
    defs = summaries.graph.definitions(name)
    if not defs:
        return False
    for d in defs:
        fa = of(d)
        if fa is None or fa.body is None:
            return False
        makes = False
        for n in walk(fa.body):
            if n.type != "return_statement":
                continue
            value = next((x for x in n.named_children if x.type != "comment"), None)
            if value is None:
                continue
            value = strip(value)
            if is_null(value):
                return False  # NULL is one of its failures: a NULL test is half right
            if value.type == "call_expression" and call_name(value) in v["err-ptr-make"]:
                makes = True
        if not makes:
            return False
    return True


@check("mm/err-ptr-tested-for-null")
def err_ptr_tested_for_null(ctx: PatchContext):
    tests = vocab()["err-ptr-test"]
    for fc, f, fa, added, summaries in _changed(ctx):
        for c in fa.calls:
            if not _returns_err_ptr(c.name, summaries):
                continue
            result = _assigned_to(c.node)
            if result is None:
                continue
            names = fa.aliases(result) | {result}
            uses = [u for n in names for u in fa.uses_of(n) if u.start_byte > c.node.end_byte]
            if any(call_name(a) in tests for u in uses for a in _ancestors(u)):
                continue  # tested for an error somewhere: not this rule's business
            for u in sorted(uses, key=lambda x: x.start_byte):
                if not is_null_test(u):
                    continue
                line = fa.line(u)
                if c.line in added or line in added:
                    yield Hit(line=line, path=fc.path, function=f.name,
                              args={"func": f.name, "var": result, "callee": c.name,
                                    "call_line": c.line})
                break


def _ancestors(node: Node) -> Iterator[Node]:
    n = node.parent
    while n is not None and n.type not in ("expression_statement", "if_statement",
                                           "return_statement", "declaration"):
        yield n
        n = n.parent


# -- mm/slab-alloc-sized-by-page-count -------------------------------------------------------

_COUNT_ARG = 0  # every slab-alloc API takes the count (or the size) first


def _count_names(node: Node) -> set[str]:
    """The variables a size expression is made of, sizeof() aside."""
    out: set[str] = set()
    skip: list[Node] = [n for n in walk(node) if n.type == "sizeof_expression"]
    for n in walk(node):
        if n.type in ("identifier", "field_expression") and not any(inside(n, s) for s in skip):
            p = path_of(n)
            if p is not None and not text(n).isupper():
                out.add(p)
    return out


def _bounded(fa: FunctionAnalysis, at: Node, names: set[str]) -> bool:
    """A min()/clamp() in the size, or a guard that compares the count before the
    allocation."""
    for g in fa.guards(at):
        cond = g.cond
        if cond is None:
            continue
        for n in walk(cond):
            if n.type == "binary_expression" and text(n.child_by_field_name("operator")) in (
                    "<", "<=", ">", ">=") and _mentions(n, names):
                return True
    for name in names:
        for d in fa.defs_before(name, at):
            if d.value is not None and any(
                    call_name(x) in vocab()["bound"]
                    for x in walk(d.value)):
                return True
    return False


@check("mm/slab-alloc-sized-by-page-count")
def slab_alloc_sized_by_page_count(ctx: PatchContext):
    v = vocab()
    gup = v["pin"] | v["gup-get"]
    allocs = v["slab-alloc"]
    for fc, f in ctx.with_post():
        fa = of(f)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        params = {name for _, name in fa.params}
        gup_calls = fa.calls_to(gup)
        if not gup_calls or not added:
            continue
        for c in fa.calls_to(allocs):
            if c.line not in added or not c.args:
                continue
            size = c.args[_COUNT_ARG]
            if len(c.args) < 3 and not any(
                    n.type == "binary_expression" and text(n.child_by_field_name(
                        "operator")) == "*" for n in walk(size)):
                continue  # kmalloc(size, gfp) of one object, not an array
            names = _count_names(size)
            counts = {n for n in names if any(_mentions(a, fa.aliases(n) | {n})
                                              for g in gup_calls for a in g.args)}
            if not counts:
                continue
            from_caller = any(
                path_of(o) in params or (path_of(o) or "").split("->")[0] in params
                for n in counts for o in fa.origins(_first_use(fa, n, size) or size))
            if not from_caller or _bounded(fa, c.node, counts):
                continue
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "alloc": c.name, "count": sorted(counts)[0]},
                      confidence=None if fa.complete else Confidence.LOW)


def _first_use(fa: FunctionAnalysis, name: str, within: Node) -> Node | None:
    for n in walk(within):
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
        fa = of(f)
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
                    call_name(x) in anon_tests for o in fa.origins(arg) for x in walk(o)):
                continue
            yield Hit(line=fa.line(test), path=fc.path, function=f.name,
                      args={"func": f.name, "test": call_name(test) or "the pin test",
                            "copy": c.name, "copy_line": c.line},
                      confidence=Confidence.LOW if fa.context_unseen(test) else (
                          None if fa.complete else Confidence.MEDIUM))
