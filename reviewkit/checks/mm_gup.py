"""gup_must_unshare() without the vma on a path the slow GUP walk reaches.

David Hildenbrand on "mm/gup: handle hugepd for follow_page()": the GUP-fast
hugepd helpers pass no VMA to gup_must_unshare(), which is right for GUP-fast
(there is none) but wrong once follow_hugepd() calls them from the slow path,
where the VMA is known and needed (R/O long-term pins of shared file hugetlb).
"""

from __future__ import annotations

from reviewkit.analysis import of
from reviewkit.analysis.summary import CallGraph
from reviewkit.analysis.syntax import is_null
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.cfunc import Function
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check

# The call graph this rule walks is anything with definitions(name),
# reached_from(name) and reaches(name) (reviewkit.analysis.summary.CallGraph):
# one file's functions today; a cross-file index can be handed in the same way.


class _Call:
    """A gup_must_unshare() call site: its line and argument count."""

    def __init__(self, line: int, args: tuple):
        self.line = line
        self.args = args


def _unshare_calls(f: Function) -> list[_Call]:
    names = vocab()["gup-must-unshare"]
    if not f.mentions(names) or not any(c.name in names for c in f.calls):
        return []  # the parser's call list answers for most functions of a whole file
    fa = of(f)
    if fa is None:
        return []
    return [_Call(c.line, c.args) for c in fa.calls_to(names)]


def _no_vma(call: _Call) -> bool:
    # gup_must_unshare(vma, flags, page) since 6.5; (flags, page) before
    return len(call.args) == 2 or (bool(call.args) and is_null(call.args[0]))


def _gup_fast(graph: CallGraph, name: str) -> bool:
    """Whether ``name`` belongs to the GUP-fast walk (reached from its entry points)."""
    roots = vocab()["gup-fast-entry"]
    if name in roots:
        return True
    return any(caller in roots for caller in graph.reached_from(name))


def _has_vma(f: Function) -> bool:
    """A parameter or local of type ``struct vm_area_struct *``."""
    return any(v.type.replace(" ", "") == "structvm_area_struct*" for v in f.vars())


def _slow_context(graph: CallGraph, name: str) -> str | None:
    """A function holding a VMA that is, or calls, ``name`` (None when GUP-fast only)."""
    for f in graph.definitions(name):
        if _has_vma(f):
            return name
    for caller in sorted(graph.reached_from(name)):
        if any(_has_vma(f) for f in graph.definitions(caller)):
            return caller
    return None


@check("mm/gup-must-unshare-null-vma")
def must_unshare_null_vma(ctx: PatchContext):
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        graph = img.graph
        bad: dict[str, _Call] = {}
        for f in img.functions:
            for c in _unshare_calls(f):
                if _no_vma(c):
                    bad.setdefault(f.name, c)
        if not bad:
            continue
        added = {ln.new_no for h in fchange.diff.hunks for ln in h.lines
                 if ln.kind == "+" and ln.new_no is not None and ln.text.strip()}
        fired: set[int] = set()
        explained: set[str] = set()
        # (b) a new call from a function holding the VMA into a helper that calls
        #     gup_must_unshare() without one: the patch made it reachable from slow GUP
        for f in img.functions:
            if not _has_vma(f):
                continue
            for site in f.calls:  # every call of a function holding the VMA
                if site.line not in added or site.line in fired or site.name in vocab()[
                        "gup-must-unshare"]:
                    continue
                if any(_has_vma(g) for g in graph.definitions(site.name)):
                    continue  # slow path calling slow path: the boundary is further down
                targets = ({site.name} | graph.reaches(site.name)) & set(bad)
                targets.discard(f.name)
                # with the old two-argument API there is no VMA to pass: what matters
                # then is only a GUP-fast helper now shared with slow GUP (seed 002)
                targets = {t for t in targets if len(bad[t].args) != 2 or _gup_fast(graph, t)}
                if not targets:
                    continue
                inner = sorted(targets)[0]
                fired.add(site.line)
                explained |= targets
                yield Hit(line=site.line, path=fchange.path, function=f.name,
                          args={"func": f.name, "helper": site.name, "slow": f.name,
                                "how": f"calls {site.name}(), which reaches {inner}() and its "
                                       f"gup_must_unshare() without a VMA"})
        # (a) the call without a VMA is itself new, on a path slow GUP reaches
        for fname, c in sorted(bad.items()):
            if c.line not in added or c.line in fired or fname in explained:
                continue
            via = _slow_context(graph, fname)
            if via is None or (len(c.args) == 2 and (via == fname or not _gup_fast(graph, fname))):
                # GUP-fast only; or a kernel whose gup_must_unshare() takes no VMA at all,
                # outside the GUP-fast walk: there is no VMA to pass, and no fast helper
                continue
            fired.add(c.line)
            yield Hit(line=c.line, path=fchange.path, function=fname,
                      args={"func": fname, "helper": fname, "slow": via,
                            "how": f"calls gup_must_unshare() without a VMA" if via != fname else
                            f"has a VMA in scope but does not pass it to gup_must_unshare()"})
