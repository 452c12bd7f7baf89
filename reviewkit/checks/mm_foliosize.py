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
from reviewkit.analysis.function import FunctionAnalysis, Guard
from reviewkit.analysis.syntax import call_args, call_name, literals, path_of, strip, text, walk
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
        for n in walk(o):
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


def _mthp_era(img) -> bool:
    """The file is written against a kernel with anonymous mTHP: it uses kernel API
    that appeared with it (6.8) or later."""
    if img is None:
        return False
    later = frozenset(e.name for e in vocab().entries()
                      if tuple(int(x) for x in e.since.split(".")) >= (6, 8))
    return any(f.mentions(later) for f in img.functions)


def _in_test(node: Node) -> bool:
    """Whether ``node`` sits in a comparison that is a test (not a loop's bound)."""
    n = node
    while n.parent is not None:
        p = n.parent
        if p.type == "binary_expression" and _op(p) in _CMP:
            q = p
            while q.parent is not None and q.parent.type in (
                    "parenthesized_expression", "binary_expression"):
                q = q.parent
            loop = q.parent
            if loop is not None and loop.type in _LOOPS and \
                    loop.child_by_field_name("condition") == q:
                return False  # a loop bound: it counts the folio's pages
            return True
        if p.type in ("expression_statement", "compound_statement", "return_statement",
                      "declaration", "function_definition"):
            return False
        n = p
    return False


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
    for fc, f in ctx.with_post():
        fa = of(f, mentions=sizes | counters)
        if fa is None or fa.body is None:
            continue
        if not fa.mentions(v["folio-large-test"] | v["folio-size"]):
            continue
        anon_era = _mthp_era(images.get(fc.path))
        added = {ln.new_no for ln in fc.added}
        if _pmd_context(fa):
            continue
        seen_lines: set[int] = set()
        for n in walk(fa.body):
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
