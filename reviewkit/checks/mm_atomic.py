"""A call that may sleep, made while a spinlock is held.

The page-table lock (pte_offset_map_lock(), pmd_lock()), the xarray lock of a
mapping (xas_lock_irq()), any spin_lock(), an RCU read-side section and a
kmap_atomic() mapping all forbid sleeping until they are released.  Reviewers
of mm patches catch the folio_lock(), the GFP_KERNEL allocation, the
mmap_read_lock() or the copy_from_user() that a patch moves under one of them
("sleeping function called from invalid context" is what lockdep and
might_sleep() print later, if that path is ever exercised).

Decided on the control-flow graph: from the call that takes the lock, every
statement reachable before any release of that kind of lock (or a test that
decides whether to release it); the first call on the way that may sleep —
a kernel API in the vocabulary that sleeps, or an allocation whose gfp flags
(followed through a local) allow direct reclaim.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, FunctionAnalysis
from reviewkit.analysis.syntax import (address_of, assigned_to, identifiers_in, inside,
                                       path_of, root_of, strip)
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check


def _gfp_sleeps(fa: FunctionAnalysis, arg: Node, V, depth: int = 2) -> bool | None:
    """Whether gfp flags ``arg`` allow direct reclaim: True, False, or None
    (not known from the function)."""
    if any(n.type == "unary_expression" and n.text and n.text.startswith(b"~")
           for n in fa.walk(arg)):
        return None  # reclaim masked out (or something else is)
    names = set(identifiers_in(arg))
    if names & V["gfp-atomic"]:
        return False
    if names & V["gfp-may-sleep"]:
        return True
    p = path_of(strip(arg))
    if p and depth > 0:
        defs = fa.defs_of(p)
        if any(d.kind not in ("init", "assign", "decl") for d in defs):
            return None  # changed in place (gfp &= ~__GFP_DIRECT_RECLAIM) or a parameter
        values = [d.value for d in defs if d.kind in ("init", "assign")]
        if values and all(v is not None for v in values):
            got = {_gfp_sleeps(fa, v, V, depth - 1) for v in values if v is not None}
            if got == {True}:
                return True
    return None


def _sleeps(fa: FunctionAnalysis, c: CallSite, V) -> str | None:
    """Why ``c`` may sleep, or None."""
    if c.name in V["may-sleep"]:
        return f"{c.name}() may sleep"
    if c.name in V["uaccess"]:
        return f"{c.name}() may fault and sleep"
    if c.name in V["gfp-alloc"]:
        for a in c.args:
            if _gfp_sleeps(fa, a, V):
                return f"{c.name}() with {a.text.decode() if a.text else 'these flags'} may sleep in reclaim"
    return None


def _lock_of(lock: CallSite, V) -> str | None:
    """The lock a call takes, as a path: the ``&ptl`` a map call hands it back
    through, the variable a lock-returning call (pmd_lock()) stores it in, or
    the lock argument (``&mm->lock`` gives ``mm->lock``)."""
    if lock.name in V["pte-map-lock"]:
        return next((p for a in lock.args for p in [address_of(a)] if p), None)
    if lock.name in V["lock-returning"]:
        return assigned_to(lock.node)
    a = lock.arg(0)
    if lock.name in V["lock-argument"] and a is not None:
        return address_of(a) or path_of(a)
    return None  # rcu_read_lock(), kmap_atomic(), local_irq_*(), preempt_disable()


@check("mm/sleep-under-spinlock")
def sleep_under_spinlock(ctx: PatchContext):
    V = vocab()
    acquires = V["atomic-enter"]
    releases = V["atomic-exit"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=acquires)
        if fa is None:
            continue
        callees = fa.callees()
        if not (callees & (V["may-sleep"] | V["uaccess"] | V["gfp-alloc"])):
            continue
        changed = {ln.new_no for ln in fc.added}
        # uaccess under pagefault_disable() fails with -EFAULT instead of sleeping
        uaccess_ok = bool(callees & V["pagefault-disable"])
        exits = [r.node for r in fa.calls_to(releases)]
        decisions = fa.flag_tests(exits)

        sleepers = [(c, why) for c in fa.calls for why in [_sleeps(fa, c, V)] if why]
        reported: set[int] = set()
        for lock in fa.calls_to(acquires):
            # kmap_atomic() disables page faults: a user copy under it fails
            # with -EFAULT rather than sleeping
            quiet_uaccess = uaccess_ok or lock.name in V["pagefault-disable"]
            held = _lock_of(lock, V)
            # a call handed the lock may drop it (migration_entry_wait_on_locked(),
            # a helper of the patch): the path is not followed past it
            # ... or the structure holding it (a helper given vmf may unlock vmf->ptl)
            holders = {held, root_of(held)} if held else set()
            handed = [c.node for c in fa.calls if c.node != lock.node and c.name not in
                      V["may-sleep"] and any(path_of(a) in holders or address_of(a) in holders
                                             for a in c.args)]

            ends = fa.stops_at(exits + handed, decisions)
            best: tuple[CallSite, str] | None = None
            for s in fa.reachable(lock.node, until=ends):
                if s.expr is None or ends(s):
                    continue
                for c, why in sleepers:
                    if quiet_uaccess and c.name in V["uaccess"]:
                        continue
                    if inside(c.node, s.expr) and (best is None or
                                                   c.node.start_byte < best[0].node.start_byte):
                        best = (c, why)
            if best is None:
                continue
            c, why = best
            if c.line in reported or not (c.line in changed or lock.line in changed):
                continue
            reported.add(c.line)
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "call": c.name, "why": why, "lock": lock.name,
                            "lock_line": lock.line},
                      confidence=Confidence.LOW if fa.context_unseen(c.node) else None)
