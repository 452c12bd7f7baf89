"""Dirty-bit handling: page dirtiness removed, pte_mkdirty unguarded, dirty bit lost on clear.

The source is Hugh Dickins' review of "mm/shmem: Unconditionally set pte dirty
in mfill_atomic_install_pte" (v4 1/4): SetPageDirty belongs where the page
contents are written, and a dirty PTE in a mapping the user can never write
is wrong — the pattern later exploited as CVE-2022-2590.
"""

from __future__ import annotations

from collections.abc import Iterator

from reviewkit.analysis import of
from reviewkit.analysis.syntax import call_name, literals, path_of, strip, text
from reviewkit.analysis.facts import WRITABLE, dirties, guard_writability, writes_contents
from reviewkit.analysis.function import FunctionAnalysis
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.cfunc import identifiers
from reviewkit.engine.context import FileChange, FunctionChange, PatchContext
from reviewkit.engine.registry import Confidence, Hit, check


def _changes(ctx: PatchContext) -> Iterator[tuple[FileChange, FunctionChange]]:
    for f in ctx.files:
        for fc in f.functions:
            yield f, fc


def _new_lines(fc: FunctionChange) -> set[int]:
    return {ln.new_no for ln in fc.added if ln.new_no is not None}


def _old_lines(fc: FunctionChange) -> set[int]:
    return {ln.old_no for ln in fc.removed if ln.old_no is not None}


def _may_call(lines, img, api, own: str | None) -> bool:
    """Whether ``lines`` may hold a call of ``api`` or of a helper that reaches it:
    one of those names, or (diff-only, where the helpers are this file's) the name
    of a function of ``img`` — the function ``own`` itself only on an indented line
    (a call, not its signature).  Across files (tree mode) any call may be one."""
    if img is None or img.world is not None:
        return True
    names = set(api) | {g.name for g in img.functions}
    return any(w in names and (w != own or ln.text[:1] in " \t")
               for ln in lines for w in identifiers(ln.text))


def _on(fa: FunctionAnalysis, names, lines: set[int]):
    return [c for c in fa.calls_to(names) if c.line in lines]


@check("mm/dirty-page-dirty-removed")
def page_dirty_removed(ctx: PatchContext):
    V = vocab()
    mkdirty = V["entry-mkdirty"]
    # the patch sets a PTE dirty bit somewhere: the page's dirtiness moved there
    patch_mkdirty = []
    for _, fc in _changes(ctx):
        fa = of(fc.post, mentions=mkdirty)
        if fa is not None:
            if _on(fa, mkdirty, _new_lines(fc)):
                patch_mkdirty.append(fc.name)
    for f, fc in _changes(ctx):
        if fc.name is None or fc.post is None:
            continue  # the function is gone altogether, or this is not code in a function
        if not fc.removed or not _may_call(fc.removed, f.pre, V.union("dirty-page",
                                                                     "dirty-release"), fc.name):
            continue  # no removed line can call something that dirties a page
        pre = of(fc.pre)
        if pre is None:
            continue
        pre_sum = f.pre.summaries if f.pre is not None else None
        removed = {ln.old_no for ln in fc.removed}
        gone = [c for c in pre.calls if c.line in removed and dirties(c.name, pre_sum)]
        if not gone:
            continue
        post = of(fc.post)
        if post is None:
            continue
        post_sum = f.post.summaries if f.post is not None else None
        if any(dirties(c.name, post_sum) for c in post.calls):
            continue  # an equivalent is still in the function, or in a helper it calls
        evidence = bool(patch_mkdirty) or any(
            writes_contents(c.name, s) for fa, s in ((pre, pre_sum), (post, post_sum))
            for c in fa.calls)
        where = "the caller"
        if patch_mkdirty:
            where = f"the PTE dirty bit this patch sets in {patch_mkdirty[0] or 'another function'}()"
        call = gone[0]
        yield Hit(old_line=call.line, path=fc.path, function=fc.name,
                  args={"func": fc.name, "call": call.name, "where": where},
                  confidence=None if evidence else Confidence.LOW,
                  # with the dirtying moved to a PTE this patch sets, the finding rests
                  # on what the patch shows; otherwise on the rest of the function
                  absence=not patch_mkdirty)


def _writable_guard(fa: FunctionAnalysis, node, other, summaries, *, before: bool):
    """The guard that ties ``node`` to writability (or may: a test of a value
    whose origin is out of view counts before the patch, where the finding
    asks whether it was one)."""
    for g, lit, w in guard_writability(fa, node, other=other, summaries=summaries,
                                       necessary_only=not before):
        if w == WRITABLE or (w is None and g.kind in ("if", "else", "ternary", "and", "or")):
            return g, w
    return None


@check("mm/dirty-pte-mkdirty-unconditional")
def mkdirty_unconditional(ctx: PatchContext):
    # only the entry kinds whose dirty bit GUP read as "COW already broken": a
    # dirty read-only entry of those could be written through (CVE-2022-2590).
    # A dirty hugetlb entry grants nothing (hugetlb GUP faults every write to a
    # non-writable entry) and says nothing new (hugetlbfs page-cache folios are
    # dirty from the moment they are added), so dirtying it unconditionally is
    # not this bug.
    mkdirty = vocab()["entry-mkdirty-read-by-gup"]
    for f, fc in _changes(ctx):
        if not fc.removed or fc.pre is None or not fc.pre.mentions(mkdirty):
            continue  # no mkdirty removed, so none was guarded before the patch
        pre, post = of(fc.pre), of(fc.post)
        if pre is None or post is None:
            continue
        pre_sum = f.pre.summaries if f.pre is not None else None
        post_sum = f.post.summaries if f.post is not None else None
        removed = _old_lines(fc)
        guarded_before = []
        for c in _on(pre, mkdirty, removed):
            g = _writable_guard(pre, c.node, post, pre_sum, before=True)
            if g is not None:
                guarded_before.append((c.name, g[0], g[1]))
        if not guarded_before:
            continue
        for c in _on(post, mkdirty, _new_lines(fc)):
            g = _writable_guard(post, c.node, pre, post_sum, before=False)
            if g is not None:
                continue
            kind, old_guard, known = next(((k, g, w) for k, g, w in guarded_before
                                           if k == c.name), guarded_before[0])
            yield Hit(line=c.line, path=fc.path, function=fc.name,
                      args={"func": fc.name, "call": c.name, "guard": old_guard.text},
                      confidence=Confidence.LOW if post.context_unseen(c.node) else None)


@check("mm/dirty-lost-on-clear")
def dirty_lost_on_clear(ctx: PatchContext):
    V = vocab()
    clears = V["get-and-clear"]
    transfer = V.union("entry-dirty-test", "entry-to-swap")
    for f, fc in _changes(ctx):
        if fc.name is None:
            continue
        post = of(fc.post, mentions=clears)
        if post is None:
            continue
        post_sum = f.post.summaries if f.post is not None else None
        post_clears = post.calls_to(clears)
        if not post_clears:
            continue
        # the value a get-and-clear returned reaches a dirty test, a swap entry, an
        # entry installed again (a move), or a helper known to do one of those
        keeps = transfer | V["entry-set"]

        def kept(fa: FunctionAnalysis, clear, summaries) -> bool:
            for c in fa.calls:
                if c is clear:
                    continue
                if c.name in keeps or (summaries is not None and c.name not in V["get-and-clear"]
                                       and summaries.known(c.name)
                                       and summaries.reaches(c.name, keeps | V.union(
                                           "dirty-page"))):
                    if any(fa.flows(clear.node, a) for a in c.args):
                        return True
            return False

        # (ii) the dirty transfer was removed while the clear stays
        pre = of(fc.pre)
        removed = {ln.old_no for ln in fc.removed}
        if pre is not None:
            pre_clears = pre.calls_to(clears)
            dropped = [c for c in pre.calls if c.line in removed and c.name in transfer
                       and any(pre.flows(cl.node, a) for cl in pre_clears for a in c.args)]
            if dropped and not any(kept(post, cl, post_sum) for cl in post_clears):
                c = dropped[0]
                yield Hit(old_line=c.line, path=fc.path, function=fc.name,
                          args={"func": fc.name, "what": "the dirty-bit transfer was removed"},
                          absence=True)
                continue
        # (i) a clear added in a function known whole that holds a page or folio the
        #     dirty bit should reach, with the old entry neither moved nor tested
        if not post.complete or not _holds_page(post):
            continue
        # ... and the mapping of that page ends here (its reference or rmap goes)
        ends = V.union("page-put", "rmap-remove")
        if not any(post_sum is not None and post_sum.call_reaches(c.name, ends)
                   or c.name in ends for c in post.calls):
            continue
        added = {ln.new_no for ln in fc.added}
        for c in post_clears:
            if c.line in added and _value_kept(c.node) and not kept(post, c, post_sum):
                yield Hit(line=c.line, path=fc.path, function=fc.name,
                          args={"func": fc.name, "what": f"{c.name}() was added"},
                          absence=True)
                break


def _value_kept(call) -> bool:
    """The old entry a get-and-clear returns is kept in a variable (a discarded
    one was read before, or the page is being replaced)."""
    parent = call.parent
    while parent is not None and parent.type in ("parenthesized_expression", "cast_expression"):
        parent = parent.parent
    return parent is not None and parent.type in ("init_declarator", "assignment_expression")


def _holds_page(fa: FunctionAnalysis) -> bool:
    """The function has a page or folio at hand: a parameter or local of that
    type, or one found from an entry (vm_normal_page(), pfn_folio(), ...)."""
    for t, _ in fa.params + fa.locals:
        words = t.replace("*", " ").split()
        if "struct" in words and ("page" in words or "folio" in words) and "*" in t:
            return True
    return bool(fa.calls_to(vocab()["page-of-entry"]))


def _soft_dirty_test(fa: FunctionAnalysis, node, tests: frozenset[str], depth: int = 0) -> bool:
    """The expression is a soft-dirty test: it names VM_SOFTDIRTY or calls a
    soft-dirty test, itself or through the value of a local it reads."""
    for n in fa.walk(node):
        if n.type == "identifier" and text(n) in tests:
            return True
        if n.type == "call_expression" and call_name(n) in tests:
            return True
    p = path_of(node)
    if p is not None and depth < 3:
        return any(d.value is not None and _soft_dirty_test(fa, d.value, tests, depth + 1)
                   for d in fa.defs_of(p))
    return False


@check("mm/dirty-mkdirty-for-soft-dirty")
def mkdirty_for_soft_dirty(ctx: PatchContext):
    V = vocab()
    mkdirty, tests, sets = V["entry-mkdirty"], V["soft-dirty-test"], V["soft-dirty-set"]
    for f, fc in _changes(ctx):
        if fc.post is None or not fc.post.mentions(tests):
            continue  # the soft-dirty test it reports is read in this function
        post = of(fc.post, mentions=mkdirty)
        if post is None:
            continue
        for c in _on(post, mkdirty, _new_lines(fc)):
            for g in post.guards(c.node):
                if g.kind not in ("if", "else", "ternary", "and", "exit"):
                    continue
                lits = [lit for lit in g.literals() if lit.polarity and lit.necessary
                        and _soft_dirty_test(post, lit.node, tests)]
                if not lits:
                    continue
                # the soft-dirty bit is set under the same test too: both are meant
                if any(any(h.cond == g.cond for h in post.guards(s.node))
                       for s in post.calls_to(sets)):
                    continue
                yield Hit(line=c.line, path=fc.path, function=fc.name,
                          args={"text": text(post.statement_of(c.node)).strip(),
                                "test": text(lits[0].node)})
                break


# -- mm/dirty-soft-dirty-test-inverted ----------------------------------------------------------

def _soft_dirty_kind(fa: FunctionAnalysis, node, V, depth: int = 0) -> tuple[str, bool] | None:
    """What a literal of a condition asks about soft-dirty state, as (what,
    polarity-in-the-literal): ``("all", True)`` "every page of the VMA reads as
    soft-dirty" (VM_SOFTDIRTY set, or tracking off), ``("entry", True)`` "this
    entry is soft-dirty"; directly or through the one value of a local."""
    n = strip(node)
    if n.type == "binary_expression" and text(n.child_by_field_name("operator")) == "&":
        sides = (n.child_by_field_name("left"), n.child_by_field_name("right"))
        if any(s is not None and strip(s).type == "identifier"
               and text(strip(s)) in V["soft-dirty-vma-all"] for s in sides):
            return ("all", True)
        return None
    if n.type == "call_expression":
        name = call_name(n)
        if name in V["soft-dirty-vma-tracking"]:
            return ("all", False)
        if name in V["soft-dirty-entry-test"]:
            return ("entry", True)
        return None
    p = path_of(n)
    if p is not None and n.type == "identifier" and depth < 2:
        defs = fa.defs_of(p)
        if len(defs) == 1 and defs[0].value is not None:
            lits = literals(defs[0].value)
            if len(lits) == 1:
                k = _soft_dirty_kind(fa, lits[0].node, V, depth + 1)
                if k is not None:
                    return (k[0], k[1] == lits[0].polarity)
    return None


def _contradiction(fa: FunctionAnalysis, cond, V) -> bool:
    """Whether the condition, taken either way, can hold only when the VMA reads
    as all soft-dirty and the entry is not soft-dirty: a question with no use,
    since an entry's soft-dirty bit matters only where the VMA is tracked."""
    for pol in (True, False):
        need: dict[str, set[bool]] = {}
        for lit in literals(cond, polarity=pol):
            if not lit.necessary:
                continue
            k = _soft_dirty_kind(fa, lit.node, V)
            if k is not None:
                need.setdefault(k[0], set()).add(k[1] == lit.polarity)
        if True in need.get("all", ()) and False in need.get("entry", ()):
            return True
    return False


_LOGICAL = ("&&", "||")


@check("mm/dirty-soft-dirty-test-inverted")
def soft_dirty_test_inverted(ctx: PatchContext):
    V = vocab()
    names = V["soft-dirty-vma-all"] | V["soft-dirty-vma-tracking"]
    for f, fc in _changes(ctx):
        new = _new_lines(fc)
        if not new:
            continue
        post = of(fc.post, mentions=names)
        seen: set[int] = set()
        if post is None:
            continue
        for n in post.nodes_of("binary_expression"):
            if text(n.child_by_field_name("operator")) not in _LOGICAL:
                continue
            # the outermost logical expression only
            up = n.parent
            while up is not None and up.type == "parenthesized_expression":
                up = up.parent
            if up is not None and up.type == "binary_expression" and \
                    text(up.child_by_field_name("operator")) in _LOGICAL:
                continue
            first = post.line(n)
            span = set(range(first, first + n.end_point[0] - n.start_point[0] + 1))
            if not span & new or first in seen or not _contradiction(post, n, V):
                continue
            seen.add(first)
            yield Hit(line=min(span & new), path=fc.path, function=fc.name,
                      args={"test": text(n)})
