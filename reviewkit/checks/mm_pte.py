"""A pte pointer used after pte_unmap()/pte_unmap_unlock().

v4 2/4 ("mm: Clear vmf->pte after pte_unmap_same() returns") makes the rule:
after the unmap the pointer is stale (with highmem page tables it points into
a kmap that is gone), so clear it or map it again before any use.

Decided on the control-flow graph: from the unmap, every statement reachable
before the pointer (or a copy of it) is assigned again or handed by address to
a function that maps it; the first of them that reads the pointer is the use.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import FunctionAnalysis
from reviewkit.analysis.syntax import inside as _inside, is_null_test as _is_test, path_of, strip
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check


@check("mm/pte-used-after-unmap")
def pte_used_after_unmap(ctx: PatchContext):
    unmaps = vocab()["pte-unmap"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=unmaps)
        if fa is None:
            continue
        changed = {ln.new_no for ln in fc.added}
        for c in fa.calls_to(unmaps):
            p = path_of(c.arg(0)) if c.args else None
            if p is None:
                continue
            names = fa.aliases(p)
            redefs = [d.node for n in names for d in fa.defs_of(n)
                      if d.kind in ("init", "assign", "address", "update")]

            stops = fa.stops_at(redefs + [u.node for u in fa.calls_to(unmaps)])
            use = _first_use(fa, c.node, names, stops)
            if use is None:
                continue
            line = fa.line(use)
            if c.line in changed or line in changed:
                yield Hit(line=line, path=fc.path, function=f.name,
                          args={"func": f.name, "var": p, "unmap_line": c.line},
                          confidence=Confidence.LOW if fa.context_unseen(use) else None)


def _first_use(fa: FunctionAnalysis, start: Node, names: set[str], stops) -> Node | None:
    best: Node | None = None
    uses = [u for n in names for u in fa.uses_of(n)]
    for s in fa.reachable(start, until=stops):
        where = s.expr
        if where is None or stops(s):
            continue
        for u in uses:
            if _inside(u, where) and not _is_test(strip(u)) and not _is_test(u):
                if best is None or u.start_byte < best.start_byte:
                    best = u
    return best
