"""COW reuse and pinned pages.

Linus, Hugh and Peter Xu on do_wp_page() and fork(): a write fault may reuse an
anonymous page only when it is exclusive to this process — page counts and
map counts alone mistake a GUP pin for sharing or miss one — and fork() must
copy, not share, an anonymous page that may be pinned for DMA.

Where to look is decided by what a function does, not what it is called: a
reuse decision is a count tested in the condition of a branch that makes the
entry writable (itself or through a known helper) or, in a fault handler, hands
the fault to a helper; a fork-time copy adds a second rmap of an anonymous page.
"""

from __future__ import annotations

from reviewkit.analysis import of
from reviewkit.analysis.function import FunctionAnalysis
from reviewkit.analysis.syntax import path_of
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check


def _decides_reuse(fa: FunctionAnalysis, node, summaries) -> bool:
    """The count is tested in the condition of an ``if`` whose branch reuses the
    page: it makes the entry writable (itself or through a known helper), or, in
    a fault handler, hands the fault to a helper the patch does not show."""
    V = vocab()
    n = node.parent
    while n is not None and n.type != "if_statement":
        if n.type in ("expression_statement", "declaration", "compound_statement"):
            return False
        n = n.parent
    if n is None:
        return False
    then = n.child_by_field_name("consequence")
    if then is None:
        return False
    faults = {name for t, name in fa.params + fa.locals
              if t.replace(" ", "") == "structvm_fault*"}
    for c in fa.calls:
        if not (then.start_byte <= c.node.start_byte and c.node.end_byte <= then.end_byte):
            continue
        if summaries.call_reaches(c.name, V["entry-mkwrite"]):
            return True
        if not V.is_api(c.name) and not summaries.known(c.name) and any(
                path_of(a) in faults for a in c.args):
            return True
    return False


@check("mm/cow-reuse-by-refcount")
def reuse_by_refcount(ctx: PatchContext):
    V = vocab()
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        for fc in fchange.functions:
            fa = of(fc.post, mentions=V["refcount-test"])
            if fa is None:
                continue
            added = {ln.new_no for ln in fc.added}
            counts = [c for c in fa.calls_to(V["refcount-test"]) if c.line in added]
            if not counts or any(img.summaries.call_reaches(c.name, V["exclusive-test"])
                                 for c in fa.calls):
                continue
            for c in counts:
                if _decides_reuse(fa, c.node, img.summaries):
                    yield Hit(line=c.line, path=fc.path, function=fc.name,
                              args={"func": fc.name, "count": c.name})
                    break


@check("mm/cow-fork-shares-pinned-page")
def fork_shares_pinned(ctx: PatchContext):
    V = vocab()
    shares = V.union("page-get", "rmap-dup", "entry-wrprotect")
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        for fc in fchange.functions:
            if not (fc.post is not None and fc.post.mentions(V["rmap-dup"])) and not (
                    fc.pre is not None and fc.removed and fc.pre.mentions(V["fork-pin-check"])):
                continue  # neither a duplicated rmap after nor a pin check dropped
            fa = of(fc.post)
            if fa is None:
                continue
            pre = of(fc.pre)
            removed = {ln.old_no for ln in fc.removed}
            dropped = [c for c in (pre.calls if pre else ()) if c.line in removed
                       and c.name in V["fork-pin-check"]]
            # a copy of an anonymous page into a second mapping: its rmap is duplicated
            dups = fa.calls_to(V["rmap-dup"])
            if not dups and not dropped:
                continue
            if any(img.summaries.call_reaches(c.name, V["fork-pin-check"]) for c in fa.calls):
                continue
            if not dropped and not fa.complete:
                continue  # the check may sit outside what the hunk shows
            added = {ln.new_no for ln in fc.added}
            hit = next((c for c in fa.calls if c.line in added and c.name in shares), None)
            if hit is not None and dups:
                yield Hit(line=hit.line, path=fc.path, function=fc.name,
                          args={"func": fc.name, "share": hit.name})
            elif dropped:
                yield Hit(old_line=dropped[0].line, path=fc.path, function=fc.name,
                          args={"func": fc.name, "share": "the page"})
