"""Folio sizes and fault results: what a value is, decided from the code.

mm/large-folio-assumed-pmd: code that has established only that a folio is
large (folio_test_large(), folio_order() > 0, folio_nr_pages() > 1, directly
or through a local that holds such a test) and then treats it as PMD-sized:
a PMD-size constant (HPAGE_PMD_NR, HPAGE_PMD_ORDER, HPAGE_PMD_SIZE, ...) used
as a count, an order, a size, a loop bound or an alignment in that branch, or
a counter of PMD-sized THPs (THP_SWPOUT, NR_FILE_THPS, ...) updated there.
Since large page-cache folios (5.18) and anonymous mTHP (6.8) a large folio
may be of any order; the test for "PMD-sized" is folio_test_pmd_mappable() (or
an order compared with HPAGE_PMD_ORDER), and the size of a folio is
folio_nr_pages()/folio_order()/folio_size().

Quiet where the path knows more: a guard that tests PMD-mappability or
compares with a PMD-size constant, a PMD-level test (pmd_trans_huge() ...),
a hugetlb test; a function that installs or clears PMD mappings (it works on
PMD-sized folios); a PMD-size constant in a test (it is the PMD test) or
bounding a value (min()), or in an assertion.  Release-aware: a posting from
before large page-cache folios, or one whose path proves the folio anonymous
from before anonymous mTHP, was right to take "large" for "PMD-sized".

mm/fault-result-type-mixed: vm_fault_t (a bitmask of VM_FAULT_* codes) and
negative errnos mixed up — see the second half of this module.
"""

from __future__ import annotations

from datetime import datetime, timezone

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import Def, FunctionAnalysis, Guard, Stmt
from reviewkit.analysis.syntax import call_args, call_name, literals, path_of, strip, text
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, Severity, check

# -- mm/large-folio-assumed-pmd ------------------------------------------------------------

# Before these dates every large folio a patch could meet was a PMD-sized THP:
# large page-cache folios arrived with 5.18 (posted for it from January 2022),
# anonymous mTHP with 6.8 (in mm-unstable from December 2023).
_LARGE_FILE_FOLIOS = datetime(2022, 1, 1, tzinfo=timezone.utc)
_LARGE_ANON_FOLIOS = datetime(2023, 12, 1, tzinfo=timezone.utc)

_CMP = ("==", "!=", "<", ">", "<=", ">=")
_LOOPS = ("for_statement", "while_statement", "do_statement")


def _op(node: Node) -> str:
    return text(node.child_by_field_name("operator"))


def _int(node: Node | None) -> int | None:
    if node is None:
        return None
    node = strip(node)
    if node.type != "number_literal":
        return None
    try:
        return int(text(node).rstrip("uUlL"), 0)
    except ValueError:
        return None


def _size_of(fa: FunctionAnalysis, node: Node, depth: int = 0) -> tuple[str, str] | None:
    """(folio path, "pages"|"order") when ``node`` is the page count or order of a
    folio: folio_nr_pages(X) / folio_order(X), or a local every definition of
    which is one (of the same folio)."""
    v = vocab()
    node = strip(node)
    name = call_name(node)
    if name in ("folio_nr_pages", "folio_order") and name in v["folio-size"]:
        args = call_args(node)
        p = path_of(args[0]) if args else None
        return (p, "pages" if name == "folio_nr_pages" else "order") if p else None
    p = path_of(node)
    if p is None or depth > 3 or node.type != "identifier":
        return None
    defs = fa.defs_of(p)
    vals = [d for d in defs if d.kind not in ("decl", "param")]
    if not vals or any(d.value is None or d.kind != "init" and d.kind != "assign" for d in vals):
        return None
    got = {_size_of(fa, d.value, depth + 1) for d in vals if d.value is not None}
    if len(got) != 1:
        return None
    return next(iter(got))


def _large_by_size(fa: FunctionAnalysis, node: Node, polarity: bool) -> str | None:
    """``folio_order(X) > 0``, ``folio_nr_pages(X) != 1`` ... (or their negation
    with ``polarity`` False): the folio X it proves large."""
    if node.type != "binary_expression" or _op(node) not in _CMP:
        return None
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is None or right is None:
        return None
    op = _op(node)
    for a, b, flip in ((left, right, False), (right, left, True)):
        size = _size_of(fa, a)
        n = _int(b)
        if size is None or n is None:
            continue
        if flip:
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if not polarity:
            op = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}[op]
        small = 0 if size[1] == "order" else 1  # the order / page count of a small folio
        large = {(">", small), (">=", small + 1), ("!=", small)}
        if (op, n) in large:
            return size[0]
        return None
    return None


def _proves_large(fa: FunctionAnalysis, node: Node, polarity: bool, depth: int = 0
                  ) -> set[str]:
    """The folios that ``node`` holding (``polarity`` True) or failing proves large."""
    node = strip(node)
    v = vocab()
    out: set[str] = set()
    for lit in literals(node, polarity):
        if not lit.necessary:
            continue
        n = strip(lit.node)
        name = call_name(n)
        if name in v["folio-large-test"] and lit.polarity:
            args = call_args(n)
            p = path_of(args[0]) if args else None
            if p:
                out.add(p)
            continue
        if name == "folio_order" and name in v["folio-size"] and lit.polarity:
            args = call_args(n)  # folio_order(X) used as a truth value
            p = path_of(args[0]) if args else None
            if p:
                out.add(p)
            continue
        p = _large_by_size(fa, n, lit.polarity)
        if p:
            out.add(p)
            continue
        if n.type == "identifier" and depth < 3:
            out |= _local_proves_large(fa, n, lit.polarity, depth)
    return out


def _local_proves_large(fa: FunctionAnalysis, ident: Node, polarity: bool, depth: int
                        ) -> set[str]:
    """A local holding a largeness test (``bool large = folio_test_large(folio)``):
    what every one of its definitions proves."""
    p = path_of(ident)
    if p is None:
        return set()
    defs = [d for d in fa.defs_before(p, ident) if d.kind not in ("decl", "param")]
    if not defs:
        return set()
    sets = []
    for d in defs:
        if d.kind not in ("init", "assign") or d.value is None:
            return set()
        sets.append(_proves_large(fa, d.value, polarity, depth + 1))
    common = set.intersection(*sets) if sets else set()
    return common


def _mentions_any(fa: FunctionAnalysis, node: Node, names: frozenset[str]) -> bool:
    """Whether ``node``, or a value it is made of, holds one of ``names``."""
    for o in fa.origins(node, depth=3):
        for n in fa.walk(o):
            if n.type == "identifier" and text(n) in names:
                return True
    return False


def _anon_proved(fa: FunctionAnalysis, guards: list[Guard]) -> bool:
    anon = vocab()["anon-folio-test"]
    for g in guards:
        for lit in g.literals():
            if lit.necessary and lit.polarity and call_name(strip(lit.node)) in anon:
                return True
    return False


def _mthp_era(img, whole: bool) -> bool:
    """Whether the file may be written for a kernel with anonymous mTHP.  Seen whole
    (a tree), it must use kernel API that appeared with it (6.8) or later: one that
    uses none is written for an older kernel (a backport, a stable tree).  Seen as
    far as the hunks go, the absence of such API says nothing, and the posting's
    date decides."""
    if img is None or not (img.complete or whole):
        return True
    later = frozenset(e.name for e in vocab().entries()
                      if tuple(int(x) for x in e.since.split(".")) >= (6, 8))
    return any(f.mentions(later) for f in img.functions)


def _in_test(node: Node) -> bool:
    """Whether ``node`` sits in a test — an if or ?: condition, a comparison —
    rather than in a value (a loop's bound counts the folio's pages: a value)."""
    n = node
    compared = False
    while n.parent is not None:
        p = n.parent
        if p.type in ("if_statement", "conditional_expression") and \
                p.child_by_field_name("condition") == n:
            return True
        if p.type in _LOOPS and p.child_by_field_name("condition") == n:
            return False  # a loop bound
        if p.type == "binary_expression" and _op(p) in _CMP:
            compared = True
        if p.type in ("expression_statement", "compound_statement", "return_statement",
                      "declaration", "function_definition", "for_statement"):
            return compared
        n = p
    return compared


def _in_call_to(node: Node, names: frozenset[str]) -> bool:
    n = node.parent
    while n is not None and n.type not in ("expression_statement", "compound_statement"):
        if n.type == "call_expression" and call_name(n) in names:
            return True
        n = n.parent
    return False


def _pmd_context(fa: FunctionAnalysis) -> bool:
    """A function that works on a PMD entry: it installs or clears PMD mappings,
    or takes a pmd_t value."""
    v = vocab()
    if fa.calls_to(v["pmd-map-op"]):
        return True
    return any(t.replace("const ", "").strip() == "pmd_t" for t, _ in fa.params)


def _shown(guard: Guard) -> str:
    return guard.text


@check("mm/large-folio-assumed-pmd")
def large_folio_assumed_pmd(ctx: PatchContext):
    v = vocab()
    sizes, counters = v["pmd-size"], v["thp-pmd-counter"]
    knowing = v["pmd-size"] | v["pmd-mappable-test"] | v["pmd-level-test"] | v["hugetlb-test"]
    quiet_calls = v["bound"] | v["assert"]
    date = ctx.patch.date
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    if date is not None and date < _LARGE_FILE_FOLIOS:
        return
    images = {fch.path: fch.post for fch in ctx.files}
    # a file the patch adds is shown whole by its hunks
    added_files = {fch.path for fch in ctx.files if fch.diff.status == "added"}
    for fc, f in ctx.with_post():
        fa = of(f, mentions=sizes | counters)
        if fa is None or fa.body is None:
            continue
        if not fa.mentions(v["folio-large-test"] | v["folio-size"]):
            continue
        anon_era = _mthp_era(images.get(fc.path), fc.path in added_files)
        added = {ln.new_no for ln in fc.added}
        if _pmd_context(fa):
            continue
        seen_lines: set[int] = set()
        for n in fa.walk(fa.body):
            if n.type != "identifier":
                continue
            name = text(n)
            if name not in sizes and name not in counters:
                continue
            line = fa.line(n)
            if line in seen_lines:
                continue
            if name in sizes and (_in_test(n) or _in_call_to(n, quiet_calls)):
                continue
            guards = fa.guards(n)
            large: set[str] = set()
            proving: Guard | None = None
            for g in guards:
                got = _proves_large(fa, g.cond, g.polarity)
                if got and proving is None:
                    proving = g
                large |= got
            if not large or proving is None:
                continue
            # the patch adds the use, or the largeness test that now guards it
            if line not in added and not any(
                    fa.line(g.cond) in added for g in guards
                    if _proves_large(fa, g.cond, g.polarity)):
                continue
            if any(g.kind != "loop" and _mentions_any(fa, g.cond, knowing) for g in guards):
                continue  # the path knows the folio is PMD-sized (or hugetlb, or a PMD)
            if _anon_proved(fa, guards) and (
                    date is not None and date < _LARGE_ANON_FOLIOS or not anon_era):
                # anonymous, before mTHP (by the date, or for a file that shows no
                # API of 6.8 or later): every large anonymous folio was a PMD THP
                continue
            seen_lines.add(line)
            unseen = fa.context_unseen(n)
            yield Hit(line=line, path=fc.path, function=f.name,
                      args={"func": f.name, "const": name, "folio": sorted(large)[0],
                            "guard": _shown(proving),
                            "what": "counts a PMD-sized-THP statistic" if name in counters
                            else f"uses {name} as its size"},
                      confidence=Confidence.LOW if unseen else None,
                      severity=Severity.INFO if unseen else None)


# -- mm/fault-result-type-mixed ------------------------------------------------------------
#
# A value is an *errno* when it is a negated errno constant (-ENOMEM) or PTR_ERR(); it
# is a *fault code* when it is made of VM_FAULT_* codes or is the result of kernel API,
# or of a function the patch shows, that returns vm_fault_t.  A function declared
# vm_fault_t must not return an errno (nor keep one in a vm_fault_t variable); an int
# or long function must not return a fault code; a fault code is never negative, an
# ERR_PTR or an errno, so testing one with `< 0`, IS_ERR*() or `== -EFAULT` never
# holds.

_ERRNO, _FAULT = "errno", "fault"
_INT_SPELLINGS = frozenset({"long int", "signed int", "signed long", "signed long int"})
# vm_fault_t became an unsigned __bitwise type, its conversions done, with 5.1; before
# that fault handlers were int and helpers returned VM_FAULT_* codes as int
_FAULT_TYPE_ERA = datetime(2019, 1, 1, tzinfo=timezone.utc)


def _bare_type(t: str) -> str:
    words = [w for w in t.replace("*", " * ").split()
             if w not in ("static", "inline", "extern", "const", "__always_inline",
                          "noinline", "__must_check", "__init", "__weak")]
    return " ".join(words)


def _fault_functions(ctx: PatchContext) -> frozenset[str]:
    """Functions the patch's files define as returning vm_fault_t (decided from the
    declaration, whatever their name)."""
    ftype = vocab()["fault-result-type"]
    out: set[str] = set()
    for fch in ctx.files:
        img = fch.post
        if img is None:
            continue
        for f in img.functions:
            if not f.mentions(ftype):
                continue
            fa = of(f)
            if fa is not None and _bare_type(fa.return_type) in ftype:
                out.add(f.name)
    return frozenset(out)


def _kind(fa: FunctionAnalysis, expr: Node, faulting: frozenset[str]) -> str | None:
    """errno, fault (code) or None (something else, or not known) for an expression."""
    v = vocab()
    e = strip(expr)
    if e.type == "unary_expression" and _op(e) == "-":
        arg = e.child_by_field_name("argument")
        if arg is not None and strip(arg).type == "identifier" and text(strip(arg)) in v["errno"]:
            return _ERRNO
        return None
    if e.type == "call_expression":
        name = call_name(e)
        if name == "PTR_ERR" and name in v["err-ptr-test"]:
            return _ERRNO
        if name in v["fault-result-api"] or (name is not None and name in faulting):
            return _FAULT
        fn = e.child_by_field_name("function")
        if fn is not None and fn.type == "field_expression":
            fld = fn.child_by_field_name("field")
            if fld is not None and text(fld) in v["fault-op"]:
                return _FAULT  # vma->vm_ops->fault(vmf) and the like
        return None
    if e.type == "identifier" and text(e) in v["fault-code"]:
        return _FAULT
    if e.type == "binary_expression" and _op(e) == "|":
        left, right = e.child_by_field_name("left"), e.child_by_field_name("right")
        kinds = {_kind(fa, x, faulting) for x in (left, right) if x is not None}
        if _FAULT in kinds and _ERRNO not in kinds:
            return _FAULT
    return None


def _int_types() -> frozenset[str]:
    return vocab()["errno-result-type"] | _INT_SPELLINGS


def _defines(fa: FunctionAnalysis, stmt: Stmt, var: str, skip: Node | None = None) -> bool:
    """Whether the CFG statement ``stmt`` (re)defines ``var``."""
    where = [n for n in (stmt.expr, stmt.node) if n is not None]
    if not where:
        return False
    for d in fa.defs_of(var):
        if d.kind in ("param", "decl") or (skip is not None and d.node == skip):
            continue
        if any(w.start_byte <= d.node.start_byte and d.node.end_byte <= w.end_byte
               for w in where):
            return True
    return False


def _reaching(fa: FunctionAnalysis, var: str, at: Node):
    """The definitions of ``var`` (init/assign with a value) that reach ``at`` on
    some path with no other definition of it on the way."""
    target = fa.cfg_node(at)
    if target is None:
        return []
    out: list[Def] = []
    for d in fa.defs_of(var):
        if d.kind not in ("init", "assign") or d.value is None:
            continue
        if d.node.start_byte >= at.start_byte and d.node.end_byte <= at.end_byte:
            continue

        def redefines(s: Stmt, d: Def = d) -> bool:
            return _defines(fa, s, var, d.node)

        for s in fa.reachable(d.node, until=redefines):
            if s.id == target.id:
                out.append(d)
                break
    return out


def _returns(fa: FunctionAnalysis) -> list[tuple[Node, Node]]:
    """(return statement, returned value) of the function."""
    out: list[tuple[Node, Node]] = []
    if fa.body is None:
        return out
    for n in fa.walk(fa.body):
        if n.type == "return_statement":
            value = next((x for x in n.named_children if x.type != "comment"), None)
            if value is not None:
                out.append((n, value))
    return out


def _fault_conf(fa: FunctionAnalysis, node: Node) -> tuple[Confidence | None, Severity | None]:
    if fa.context_unseen(node):
        return Confidence.LOW, Severity.INFO
    return (None if fa.complete else Confidence.MEDIUM), None


def _sig_line(fa: FunctionAnalysis) -> int | None:
    d = fa.declarator
    return fa.line(d) if d is not None else None


@check("mm/fault-result-type-mixed")
def fault_result_type_mixed(ctx: PatchContext):
    v = vocab()
    ftype = v["fault-result-type"]
    tests = v["err-ptr-test"]
    names = v["fault-code"] | v["fault-result-api"] | ftype
    date = ctx.patch.date
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    faulting: frozenset[str] | None = None
    for fc, f in ctx.with_post():
        if not f.mentions(names) and faulting is not None and not f.mentions(faulting):
            continue
        if faulting is None:
            faulting = _fault_functions(ctx)
        fa = of(f, mentions=names | faulting)
        if fa is None or fa.body is None:
            continue
        added = {ln.new_no for ln in fc.added}
        sig = _sig_line(fa)
        sig_added = sig is not None and sig in added and sig not in fa.synthetic_lines
        rtype = _bare_type(fa.return_type)
        reported: set[int] = set()

        def hit(node: Node, what: str, detail: str):
            line = fa.line(node)
            if line in reported:
                return None
            reported.add(line)
            conf, sev = _fault_conf(fa, node)
            return Hit(line=line, path=fc.path, function=f.name,
                       args={"func": f.name, "what": what, "detail": detail},
                       confidence=conf, severity=sev)

        # a vm_fault_t function returning an errno; an int one returning a fault code
        want = _ERRNO if rtype in ftype else (
            _FAULT if rtype in _int_types() and (date is None or date >= _FAULT_TYPE_ERA)
            else None)
        if want is not None:
            for ret, value in _returns(fa):
                k = _kind(fa, value, faulting)
                if k == want:
                    if fa.line(ret) in added or sig_added:
                        h = hit(ret, _returned(want, rtype), text(value))
                        if h:
                            yield h
                    continue
                p = path_of(value)
                if p is None or strip(value).type != "identifier":
                    continue
                for d in _reaching(fa, p, ret):
                    if d.value is None or _kind(fa, d.value, faulting) != want:
                        continue
                    if {d.line, fa.line(ret)} & added or sig_added:
                        h = hit(d.node, _returned(want, rtype),
                                f"{text(d.node)}, returned on line {fa.line(ret)}")
                        if h:
                            yield h
        # a vm_fault_t variable given an errno
        for p, ds in fa.defs.items():
            t = fa.type_of(p)
            if t is None or _bare_type(t) not in ftype:
                continue
            for d in ds:
                if d.value is None or d.kind not in ("init", "assign"):
                    continue
                if _kind(fa, d.value, faulting) == _ERRNO and d.line in added:
                    h = hit(d.node, "keeps a negative errno in a vm_fault_t", text(d.node))
                    if h:
                        yield h
        # a fault code tested as an errno, a negative number or an ERR_PTR
        for n in fa.walk(fa.body):
            subject = None
            how = ""
            if n.type == "binary_expression" and _op(n) in _CMP:
                left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
                if left is None or right is None:
                    continue
                for a, b in ((left, right), (right, left)):
                    bk = _kind(fa, b, faulting)
                    if bk == _ERRNO and _op(n) in ("==", "!="):
                        subject, how = a, f"compares it with {text(b)}"
                    elif _int(b) == 0 and (
                            (a is left and _op(n) in ("<", ">=")) or
                            (a is right and _op(n) in (">", "<="))):
                        subject, how = a, f"tests `{text(n)}`"
                    if subject is not None:
                        break
            elif n.type == "call_expression" and call_name(n) in tests:
                args = call_args(n)
                if args:
                    subject, how = args[0], f"passes it to {call_name(n)}()"
            if subject is None or fa.line(n) not in added:
                continue
            if not _is_fault_value(fa, subject, n, faulting):
                continue
            h = hit(n, "treats a vm_fault_t result as an errno", how)
            if h:
                yield h


def _returned(kind: str, rtype: str) -> str:
    if kind == _ERRNO:
        return "returns a negative errno from a function declared vm_fault_t"
    return f"returns a VM_FAULT_* code from a function declared {rtype}"


def _is_fault_value(fa: FunctionAnalysis, subject: Node, at: Node,
                    faulting: frozenset[str]) -> bool:
    """Whether ``subject`` is a fault code where ``at`` tests it: a call returning
    vm_fault_t, or a variable every definition reaching ``at`` of which is one."""
    if _kind(fa, subject, faulting) == _FAULT:
        return True
    s = strip(subject)
    p = path_of(s)
    if p is None or s.type != "identifier":
        return False
    ds = _reaching(fa, p, at)
    return bool(ds) and all(d.value is not None and _kind(fa, d.value, faulting) == _FAULT
                            for d in ds)
