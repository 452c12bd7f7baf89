"""An entry installed after the page-table lock is taken, without a look at
the entry under the lock.

A fault decides what to install from a snapshot of the entry read without the
page-table lock (``vmf->orig_pte``, or a value the function read before it
dropped and re-took the lock).  By the time the lock is held, another thread
may have faulted the page in, zapped it, migrated it or write-protected it;
every path that installs must first look at the entry again under the lock —
``pte_same(ptep_get(vmf->pte), vmf->orig_pte)``, ``pte_none()`` — and back
off when it changed.  Reviewers ask for that re-check whenever a patch takes
the lock and goes straight to set_pte_at().

Decided on the control-flow graph: from a call that takes the lock of a pte
(pte_offset_map_lock() and the like assigning the pointer, or spin_lock() of
the lock such a call handed back or of ``vmf->ptl``), a path that reaches an
install through that pointer (set_pte_at(), set_ptes(), set_pte_range(vmf)
...) without reading the pointer on the way.  Only where the function has a
snapshot to be stale: it reads ``->orig_pte`` of the fault, or read through
the pointer before it took the lock.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, FunctionAnalysis
from reviewkit.analysis.syntax import address_of, assigned_to, inside, path_of, root_of
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check

_PTEP_ARG = 2  # set_pte_at(mm, addr, ptep, pte), set_ptes(mm, addr, ptep, pte, nr), ...


def _locked_pointers(fa: FunctionAnalysis, c: CallSite, V) -> set[str]:
    """The pte pointers whose lock ``c`` takes."""
    if c.name in V["pte-map-lock"]:
        p = assigned_to(c.node)
        return {p} if p else set()
    if c.name in V["spin-lock-plain"] and c.args:
        lock = path_of(c.arg(0))
        if lock is None:
            return set()
        out = set()
        if lock.endswith("->ptl") and "vm_fault" in (fa.type_of(root_of(lock)) or ""):
            out.add(lock[:-len("->ptl")] + "->pte")
        for m in fa.calls_to(V["pte-map-lock"]):
            if any(address_of(a) == lock for a in m.args):
                p = assigned_to(m.node)
                if p:
                    out.add(p)
        return out
    return set()


def _installs(fa: FunctionAnalysis, V) -> list[tuple[CallSite, str, Node | None]]:
    """(call, pte pointer it installs through, the argument naming it)."""
    out: list[tuple[CallSite, str, Node | None]] = []
    for c in fa.calls_to(V["pte-entry-set"]):
        a = c.arg(_PTEP_ARG)
        p = path_of(a) if a is not None else None
        if p:
            out.append((c, p, a))
    for c in fa.calls_to(V["pte-install-fault"]):
        vmf = path_of(c.arg(0)) if c.args else None
        if vmf and "vm_fault" in (fa.type_of(root_of(vmf)) or ""):
            out.append((c, f"{vmf}->pte", None))
    return out


def _reads(fa: FunctionAnalysis, ptrs: set[str], writes: list[Node]) -> list[Node]:
    """Reads through the pointer: every use of it that is not the pointer an
    install is given."""
    out = []
    for p in ptrs:
        for u in fa.uses_of(p):
            if not any(inside(u, w) for w in writes):
                out.append(u)
    return out


def _has_snapshot(fa: FunctionAnalysis, ptr: str, reads: list[Node], lock: Node) -> bool:
    root = root_of(ptr)
    if ptr.endswith("->pte") and fa.uses_of(f"{root}->orig_pte"):
        return True
    return any(u.start_byte < lock.start_byte for u in reads)


@check("mm/pte-set-without-recheck")
def pte_set_without_recheck(ctx: PatchContext):
    V = vocab()
    locks = V.union("pte-map-lock", "spin-lock-plain")
    sets = V.union("pte-entry-set", "pte-install-fault")
    for fc, f in ctx.with_post():
        fa = of(f, mentions=sets)
        if fa is None or not fa.mentions(locks):
            continue
        changed = {ln.new_no for ln in fc.added}
        installs = _installs(fa, V)
        if not installs:
            continue
        reported: set[int] = set()
        for lock in fa.calls_to(locks):
            for ptr in _locked_pointers(fa, lock, V):
                names = fa.aliases(ptr) | {ptr}
                mine = [(c, a) for c, p, a in installs if p in names]
                if not mine:
                    continue
                reads = _reads(fa, names, [a for _, a in mine if a is not None])
                if not _has_snapshot(fa, ptr, reads, lock.node):
                    continue
                redefs = [d.node for n in names for d in fa.defs_of(n)
                          if d.kind in ("assign", "address", "update")]

                stops = fa.stops_at(reads + redefs)
                targets = {id(c.node): c for c, _ in mine}
                for s in fa.reachable(lock.node, until=stops):
                    if stops(s) or s.expr is None:
                        continue
                    for c in list(targets.values()):
                        if not inside(c.node, s.expr):
                            continue
                        del targets[id(c.node)]
                        if c.line in reported or not (c.line in changed
                                                      or lock.line in changed):
                            continue
                        reported.add(c.line)
                        yield Hit(line=c.line, path=fc.path, function=f.name,
                                  args={"func": f.name, "install": c.name, "ptr": ptr,
                                        "lock": lock.name, "lock_line": lock.line},
                                  confidence=Confidence.LOW if fa.context_unseen(c.node)
                                  else None)


# -- mm/fault-install-no-mmu-update --------------------------------------------------------
#
# A fault path that installs a pte and drops the page-table lock must tell the
# architecture: update_mmu_cache() (update_mmu_cache_range() from 6.4) after
# set_pte_at() is what keeps virtually indexed caches and software-loaded TLBs
# coherent.  When "mm: Cleanup faultaround and finish_fault() codepaths" moved
# the call out of the install helper, finish_fault() lost it, and ARMv4 VIVT
# machines saw stale data until "mm: bring back update_mmu_cache() to
# finish_fault()".


def _is_fault_path(fa: FunctionAnalysis) -> bool:
    return any("vm_fault" in t for t, _ in fa.params + fa.locals)


@check("mm/fault-install-no-mmu-update")
def fault_install_no_mmu_update(ctx: PatchContext):
    V = vocab()
    sets = V["pte-install-bare"]
    updates = V["mmu-cache-update"]
    unlocks = V.union("pte-unmap", "spin-unlock-plain")
    for fc, f in ctx.with_post():
        fa = of(f, mentions=sets)
        if fa is None or not fa.mentions(unlocks) or not _is_fault_path(fa):
            continue
        if not fa.mentions(V["pte-map-lock"]) and not fa.mentions(V["spin-lock-plain"]):
            continue  # the caller holds the lock and finishes the install
        changed = {ln.new_no for ln in fc.added}
        ups = [u.node for u in fa.calls_to(updates)]
        rels = [r for r in fa.calls_to(unlocks)]
        for c in fa.calls_to(sets):
            s0 = fa.cfg_node(c.node)
            if s0 is None or s0.kind != "simple":
                continue  # if (ptep_set_access_flags(...)) update_mmu_cache(...)

            stops = fa.stops_at(ups)
            ends = fa.stops_at(ups + [r.node for r in rels])
            hit = None
            unseen = False  # code the patch does not show between the install and an unlock
            for s in fa.reachable(c.node, until=ends):
                unseen = unseen or s.kind in ("unseen", "end")
                if s.expr is None or stops(s):
                    continue
                rel = next((r for r in rels if inside(r.node, s.expr)), None)
                if rel is not None and hit is None:
                    hit = rel
            if hit is None or not (c.line in changed or hit.line in changed):
                continue
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "install": c.name, "unlock": hit.name,
                            "unlock_line": hit.line},
                      confidence=Confidence.LOW if unseen else None)
