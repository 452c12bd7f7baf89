"""Batches and fallbacks: loops that process several entries, or try several sizes, at once.

mm/batch-pte-accept-not-present: a loop that batches consecutive ptes by
comparing each entry read from the page table with an expected pte made by
advancing the pfn of the previous one (vocabulary: pte-next-pfn), and counts
the entry when they are equal, without knowing the entry is present and
without a bound on the loop taken from the folio.

The expected pte is synthesised: nothing says it is a present entry.  Where
advancing the pfn leaves the folio or the valid pfns (XEN PV turns a pfn
without a machine frame into pte_none()), the expected pte is none, a none
entry in the table compares equal to it, and the batch takes in entries that
map nothing, or another folio: the zap and fork paths then adjust rss, rmap,
references and the TLB by a count larger than the folio (the two fixes of
folio_pte_batch(), "mm: Fix folio_pte_batch() overcount with zero PTEs" and
"mm: fix folio_pte_batch() on XEN PV", 2025).  The loop is safe when the
entry is tested present (or not none) before it is counted, or when the
number of iterations is bounded by the folio's remaining pfns
(folio_pfn() + folio_nr_pages()) before the loop, as the fixed helper does.

Decided from the code: the expected value's definitions are made of a
pte-next-pfn call; the compared entry is loaded in the loop (entry-read or a
dereference); presence is a present-test / none-test on the entry (or a
plain copy of it) in a condition of the loop; the folio bound is a
folio-extent value in what the loop condition is made of.

mm/fallback-input-realigned-in-place: a loop that falls back over sizes
(orders) aligns its input in place, ``index = round_down(index, pages)``,
with a size that changes from one pass to the next, while nothing in the loop
sets the input back: every later pass starts from the value aligned for an
earlier, larger size, not from the caller's value (the shmem mTHP fallback,
"mm/shmem: fix THP allocation and fallback loop", 2025).  A loop whose
condition reads the variable (it is the loop's progress) is not a fallback
and is left alone.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import FunctionAnalysis
from reviewkit.analysis.syntax import call_args, call_name, path_of, strip, text, walk
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check

_LOOPS = ("while_statement", "for_statement", "do_statement")


def _loops(fa: FunctionAnalysis) -> list[Node]:
    if fa.body is None:
        return []
    return fa.nodes_of(*_LOOPS, body=True)


def _inside(node: Node, outer: Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


def _calls_any(node: Node, names) -> bool:
    return any(n.type == "call_expression" and call_name(n) in names for n in walk(node))


def _loop_unseen(fa: FunctionAnalysis, loop: Node) -> bool:
    """Whether code the patch does not show lies inside ``loop``, or the loop itself
    is a block the reconstruction of a partial function had to open."""
    if fa.complete:
        return False
    return fa.line(loop) in fa.synthetic_lines or any(_inside(g, loop) for g in fa.gaps)


def _loop_cond(loop: Node) -> Node | None:
    return loop.child_by_field_name("condition")


def _made_of(fa: FunctionAnalysis, expr: Node, names) -> bool:
    """Whether ``expr`` is made of a call to one of ``names`` (through assignments)."""
    return any(_calls_any(o, names) for o in fa.origins(expr))


# -- mm/batch-pte-accept-not-present -------------------------------------------------------


def _expected_paths(fa: FunctionAnalysis, advance) -> set[str]:
    """Variables whose value is made by advancing a pte's pfn."""
    out = set()
    for p, ds in fa.defs.items():
        if any(d.value is not None and _calls_any(d.value, advance) for d in ds):
            out.add(p)
    return out


def _is_expected(node: Node, expected: set[str], advance) -> bool:
    return any(path_of(n) in expected for n in walk(node)
               if n.type in ("identifier", "field_expression")) or _calls_any(node, advance)


def _loaded_in(fa: FunctionAnalysis, node: Node, loop: Node, read) -> set[str] | None:
    """The paths of an entry read from the page table inside ``loop`` that ``node``
    is made of (``ptep_get(ptep)``, ``*ptep``, or a variable assigned one of them
    in the loop); None when ``node`` is no such entry."""
    paths: set[str] = set()
    direct = False
    for n in fa.walk(node):
        if n.type == "call_expression" and call_name(n) in read:
            direct = True
        elif n.type == "pointer_expression" and text(n).startswith("*"):
            direct = True
        elif n.type in ("identifier", "field_expression"):
            p = path_of(n)
            if p is None:
                continue
            for d in fa.defs_of(p):
                if d.value is None or not _inside(d.node, loop):
                    continue
                v = strip(d.value)
                if _calls_any(v, read) or any(
                        m.type == "pointer_expression" and text(m).startswith("*")
                        for m in fa.walk(v)):
                    paths |= fa.aliases(p)
    if not paths and not direct:
        return None
    return paths


def _comparisons(loop: Node, same) -> list[tuple[Node, Node, Node]]:
    """(comparison, left, right) of pte values in the loop: a pte-same call, or
    ``==``/``!=`` between two operands."""
    out = []
    for n in walk(loop):
        if n.type == "call_expression" and call_name(n) in same:
            a = call_args(n)
            if len(a) == 2:
                out.append((n, a[0], a[1]))
        elif n.type == "binary_expression" and text(n.child_by_field_name("operator")) in (
                "==", "!="):
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if left is not None and right is not None:
                out.append((n, left, right))
    return out


def _in_condition(node: Node, loop: Node) -> bool:
    """Whether ``node`` is (inside) the condition of an if, or of the loop itself."""
    n = node
    while n is not None and n != loop.parent:
        p = n.parent
        if p is None:
            return False
        if p.type in ("if_statement", *_LOOPS) and p.child_by_field_name("condition") == n:
            return _inside(p, loop)
        n = p
    return False


def _presence_tested(fa: FunctionAnalysis, loop: Node, entry: set[str], tests) -> bool:
    """Whether a condition in the loop tests one of the entry's paths with a
    present-test or none-test."""
    for n in fa.walk(loop):
        if n.type != "call_expression" or call_name(n) not in tests:
            continue
        if not _in_condition(n, loop):
            continue
        for a in call_args(n):
            if any(path_of(m) in entry for m in fa.walk(a)
                   if m.type in ("identifier", "field_expression")):
                return True
            if not entry and _calls_any(a, vocab()["entry-read"]):
                return True
    return False


def _folio_bounded(fa: FunctionAnalysis, loop: Node, extent) -> bool:
    """Whether the loop condition is made of the folio's extent."""
    cond = _loop_cond(loop)
    if cond is None:
        return False
    return _made_of(fa, cond, extent)


@check("mm/batch-pte-accept-not-present")
def batch_pte_accept_not_present(ctx: PatchContext):
    v = vocab()
    advance, same, read = v["pte-next-pfn"], v["pte-same"], v["entry-read"]
    tests = v["present-test"] | v["none-test"]
    extent = v["folio-extent"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=advance)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        expected = _expected_paths(fa, advance)
        for loop in _loops(fa):
            if _folio_bounded(fa, loop, extent):
                continue
            for cmp, left, right in _comparisons(loop, same):
                if not _in_condition(cmp, loop):
                    continue
                for exp, got in ((left, right), (right, left)):
                    if not _is_expected(exp, expected, advance):
                        continue
                    if _is_expected(got, expected, advance):
                        continue
                    entry = _loaded_in(fa, got, loop, read)
                    if entry is None:
                        continue
                    line = fa.line(cmp)
                    if line not in added and fa.line(loop) not in added:
                        continue
                    if _presence_tested(fa, loop, entry, tests):
                        continue
                    yield Hit(line=line, path=fc.path, function=f.name,
                              args={"func": f.name, "cmp": text(cmp)},
                              # unseen code in the loop, or before it (where a bound
                              # may be set), may hold what the finding misses
                              confidence=Confidence.LOW if _loop_unseen(fa, loop) or
                              fa.after_gap(loop) else None,
                              absence=True)
                    break
                else:
                    continue
                break


# -- mm/fallback-input-realigned-in-place --------------------------------------------------


def _idents(node: Node) -> set[str]:
    return {p for n in walk(node) if n.type in ("identifier", "field_expression")
            for p in [path_of(n)] if p}


@check("mm/fallback-input-realigned-in-place")
def fallback_input_realigned(ctx: PatchContext):
    align = vocab()["align"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=align)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        for loop in _loops(fa):
            body = loop.child_by_field_name("body")
            cond = _loop_cond(loop)
            if body is None or cond is None:
                continue
            cond_paths = _idents(cond)
            for n in fa.walk(body):
                if n.type != "assignment_expression" or text(
                        n.child_by_field_name("operator")) != "=":
                    continue
                var = path_of(n.child_by_field_name("left"))
                right = n.child_by_field_name("right")
                if var is None or right is None:
                    continue
                value = strip(right)
                if call_name(value) not in align:
                    continue
                args = call_args(value)
                if len(args) != 2 or path_of(strip(args[0])) != var:
                    continue  # not the variable itself realigned
                if fa.line(n) not in added:
                    continue
                if var in cond_paths or var in _loop_progress(loop):
                    continue  # the loop's progress variable, not a fallback input
                # nothing else in the loop sets it (back): it carries from pass to pass
                # (a call given &var may move it further, never back to the input)
                resets = [d for d in fa.defs_of(var) if _inside(d.node, loop) and d.node != n
                          and d.kind in ("init", "assign") and d.value is not None
                          and var not in _idents(d.value)]
                if resets:
                    continue
                # the size changes from pass to pass: made of something the loop updates
                size = args[1]
                if not _varies_in(fa, size, loop, var):
                    continue
                # the value comes from before the loop (a parameter, an earlier value,
                # or a variable declared out of view), not from a block of the loop
                if any(d.kind in ("decl", "init") and _inside(d.node, loop)
                       for d in fa.defs_of(var)):
                    continue
                yield Hit(line=fa.line(n), path=fc.path, function=f.name,
                          args={"func": f.name, "var": var, "stmt": text(n)},
                          # what decides it is in the loop: only unseen code there matters
                          confidence=Confidence.LOW if _loop_unseen(fa, loop)
                          else Confidence.MEDIUM)


def _loop_progress(loop: Node) -> set[str]:
    """Variables a for-loop's update expression advances."""
    upd = loop.child_by_field_name("update") if loop.type == "for_statement" else None
    return _idents(upd) if upd is not None else set()


def _varies_in(fa: FunctionAnalysis, size: Node, loop: Node, var: str) -> bool:
    """Whether ``size`` is made of a value the loop changes from pass to pass."""
    todo, seen = list(_idents(size)), set()
    while todo:
        p = todo.pop()
        if p in seen or p == var:
            continue
        seen.add(p)
        for d in fa.defs_of(p):
            if not _inside(d.node, loop):
                continue
            if d.kind in ("update", "address"):
                return True
            if d.value is not None:
                todo.extend(_idents(d.value))
                # a value assigned in the loop from itself or a call that takes it
                if d.kind == "assign" and (p in _idents(d.value)):
                    return True
        if p in _loop_progress(loop):
            return True
    return False
