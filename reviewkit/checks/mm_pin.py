"""Pin balance: FOLL_PIN pages go back with unpin_user_page*(), FOLL_GET ones with put_page().

From the long-term pinning discussions (put_user_page(), later unpin_user_page()):
a pinned page released with put_page() leaves its pin count raised for ever;
pages a device wrote into must be dirtied as they are unpinned.

The page array of a GUP call is its page-array argument (the vocabulary says
which one), followed through copies; a release refers to it when one of its
arguments is made of it (``pages``, ``pages[i]``, ``pages + n``).
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.facts import dirties
from reviewkit.analysis.function import CallSite, FunctionAnalysis
from reviewkit.analysis.syntax import path_of, strip, text
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check


def _flag_in(fa: FunctionAnalysis, c: CallSite, flag: str) -> bool:
    """Whether ``flag`` reaches the call's arguments (written there, or in the
    value of a variable passed, e.g. ``gup_flags |= FOLL_WRITE``)."""
    for a in c.args:
        for o in fa.origins(a):
            if any(n.type == "identifier" and text(n) == flag for n in fa.walk(o)):
                return True
    return False


def _pages(fa: FunctionAnalysis, c: CallSite) -> set[str]:
    """The page array a GUP/pin call fills, and the paths that copy it."""
    V = vocab()
    idx = None
    for cat in ("pin", "gup-get"):
        if c.name in V[cat]:
            idx = V.entry(c.name, cat).pages
    if idx is None or idx >= len(c.args):
        return set()
    arg = strip(c.args[idx])
    p = path_of(arg)
    if p is None and arg.type == "pointer_expression":  # &pages (iov_iter_extract_pages)
        p = path_of(arg.child_by_field_name("argument"))
    if p is None or p in ("NULL",):
        return set()
    return fa.aliases(p)


def _refers(fa: FunctionAnalysis, c: CallSite, names: set[str]) -> bool:
    if not names:
        return True
    for a in c.args:
        for n in fa.walk(a):
            if n.type in ("identifier", "field_expression", "subscript_expression"):
                p = path_of(n)
                if p is not None and (p in names or p.rstrip("[]") in names):
                    return True
    return False


def _pins(fa: FunctionAnalysis, c: CallSite) -> bool:
    V = vocab()
    return c.name in V["pin"] or (c.name in V["gup-get"] and _flag_in(fa, c, "FOLL_PIN"))


def _gets(fa: FunctionAnalysis, c: CallSite) -> bool:
    return c.name in vocab()["gup-get"] and not _flag_in(fa, c, "FOLL_PIN")


def _changed(fc) -> set[int]:
    return {ln.new_no for ln in fc.added if ln.text.strip()}


def _wrong_release(ctx: PatchContext, acquires, releases: frozenset[str], skip=None):
    for fc, f in ctx.with_post():
        fa = of(f, mentions=releases)  # every finding is at a release
        if fa is None or (skip is not None and skip(fa)):
            continue
        taken = [c for c in fa.calls if acquires(fa, c)]
        if not taken:
            continue
        names = set().union(*(_pages(fa, c) for c in taken))
        changed = _changed(fc)
        touched = any(c.line in changed for c in taken)
        first = min(c.line for c in taken)
        for c in fa.calls_to(releases):
            if c.line > first and _refers(fa, c, names) and (touched or c.line in changed):
                yield Hit(line=c.line, path=fc.path, function=f.name,
                          args={"func": f.name, "release": c.name, "acquire": taken[0].name},
                          confidence=Confidence.LOW if fa.context_unseen(c.node) else None)


@check("mm/pin-released-with-put-page")
def released_with_put_page(ctx: PatchContext):
    yield from _wrong_release(ctx, _pins, vocab()["page-put"])


@check("mm/pin-get-released-with-unpin")
def get_released_with_unpin(ctx: PatchContext):
    yield from _wrong_release(ctx, _gets, vocab()["unpin"],
                              skip=lambda fa: bool(fa.calls_to(vocab()["pin"])))


def _hands_over(fa: FunctionAnalysis, c: CallSite, names: set[str]) -> bool:
    """A call that takes the page array itself (for I/O: a scatterlist, a DMA
    mapping, a device), not one page of it to look at."""
    V = vocab()
    if c.name in V["pin"] or c.name in V["unpin"] or c.name in V["gup-get"]:
        return False
    for a in c.args:
        a = strip(a)
        if a.type == "binary_expression" and text(a.child_by_field_name("operator")) == "+":
            left = a.child_by_field_name("left")
            a = strip(left) if left is not None else a
        if a.type == "pointer_expression" and text(a.child_by_field_name("operator")) == "&":
            inner = a.child_by_field_name("argument")
            a = strip(inner) if inner is not None else a
        p = path_of(a)
        if p is not None and p in names:
            return True
    return False


@check("mm/pin-dma-write-without-dirty")
def dma_write_without_dirty(ctx: PatchContext):
    V = vocab()
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        for fc in fchange.functions:
            fa = of(fc.post, mentions=V["pin"])
            if fa is None:
                continue
            pins = [c for c in fa.calls_to(V["pin"]) if _flag_in(fa, c, "FOLL_WRITE")]
            if not pins:
                continue
            changed = _changed(fc)
            touched = any(c.line in changed for c in pins)
            names = set().union(*(_pages(fa, c) for c in pins))
            if not names:
                continue
            handovers = [c for c in fa.calls if _hands_over(fa, c, names)]
            for rel in fa.calls_to(V["unpin-clean"]):
                if not (touched or rel.line in changed) or not _refers(fa, rel, names):
                    continue
                # released after the pages went to I/O, not on an error path: reached
                # without a goto and without testing whether the hand-over failed
                if not any(_reached_plainly(fa, h, rel) for h in handovers):
                    continue
                if any(dirties(d.name, img.summaries) for d in fa.calls if d.line < rel.line
                       and d.name not in V["unpin"]):
                    continue
                yield Hit(line=rel.line, path=fc.path, function=fc.name,
                          args={"func": fc.name, "release": rel.name, "acquire": pins[0].name},
                          absence=True)


def _reached_plainly(fa: FunctionAnalysis, handover: CallSite, release: CallSite) -> bool:
    """``release`` runs after ``handover`` on a path that takes no goto (kernel
    error paths jump to their cleanup labels) and does not test the hand-over's
    result (``if (rc < 0)``: the pages never reached the device)."""
    target = fa.cfg_node(release.node)
    start = fa.cfg_node(handover.node)
    if target is None or start is None:
        return False
    if start is target:
        return handover.node.start_byte < release.node.start_byte
    results = {d.path for ds in fa.defs.values() for d in ds
               if d.value is not None and _inside(handover.node, d.value)}
    seen = {start.id}
    todo = list(fa.successors(start))
    while todo:
        st = todo.pop()
        if st.id in seen:
            continue
        seen.add(st.id)
        if st is target:
            return True
        if st.kind == "goto":
            continue
        if st.kind == "cond" and st.expr is not None and any(
                path_of(n) in results for n in fa.walk(st.expr)
                if n.type in ("identifier", "field_expression")):
            continue
        todo.extend(fa.successors(st))
    return False


def _inside(node: Node, outer: Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte
