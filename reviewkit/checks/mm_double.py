"""A lock released twice on one path.

Unlocking what is no longer held corrupts the lock (a spinlock's count, an
rwsem's owner and readers) or, for a folio, unlocks a folio somebody else has
locked meanwhile.  The mistake comes with the code that moves an unlock: an
early ``spin_unlock()`` added before a new error exit that then jumps to the
common ``out_unlock:`` label; a relock dropped from a loop; a caller that
unlocks the mmap lock again after handle_mm_fault() said it dropped it
(``VM_FAULT_RETRY``, ``VM_FAULT_COMPLETED``: "the mmap lock has been released",
Documentation and the fault handlers of every architecture).  Reviewers read the
labels and the branches for exactly this; so does lockdep, but only on the paths
a test runs.

Decided on the control-flow graph: from a release of a lock (named by its lock
argument: the ``ptl`` of pte_unmap_unlock(), the ``mm`` of mmap_read_unlock(),
the folio of folio_unlock()), every statement reachable before the lock could
be held again — any acquire that names the lock's variable, the variable
assigned again, a function that is not kernel API given it (it may take the
lock), a condition over a kept "locked" flag — and the first of them that
releases the same lock again is the finding.  And from the branch where
handle_mm_fault()'s result says it dropped the mmap lock, an unlock of that mm
before it is taken again.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, FunctionAnalysis
from reviewkit.analysis.syntax import (address_of, assigned_to, literals, path_of, root_of,
                                       strip, text)
from reviewkit.analysis.vocab import vocab
from reviewkit.checks.mm_vmalife import _dropped_branches, _first, _mm_of, _released_mm
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, Severity, check

# the acquiring calls of locks (not references, maps or allocations)
_LOCK_ACQUIRES = ("lock", "lock-argument", "mmap-lock", "rwsem-acquire", "pte-map-lock",
                  "lock-returning", "rmap-lock", "lock-try", "lock-killable")


# definitions that give a variable a new value
_NEW_VALUE = ("init", "assign", "address", "update")


def _lock_releases(V) -> frozenset[str]:
    """What releases a lock: the pairs' releases of the lock acquires, and the
    plain unlocks."""
    out: set[str] = set(V["unlock"]) | set(V["rwsem-release"])
    for a in V.union(*_LOCK_ACQUIRES):
        out.update(V.releases_of(a))
    return frozenset(out)


def _released(c: CallSite, V) -> str | None:
    """The lock a release names, as a path: the page-table lock of
    pte_unmap_unlock(pte, ptl), else the first argument (``&mm->lock`` gives
    ``mm->lock``)."""
    a = c.arg(1) if c.name == "pte_unmap_unlock" else c.arg(0)
    if a is None:
        return None
    return address_of(a) or path_of(a)


def _names_root(fa: FunctionAnalysis, c: CallSite, root: str) -> bool:
    """Whether ``root`` (a variable) is an argument of ``c``, or where its value goes."""
    if assigned_to(c.node) is not None and root_of(assigned_to(c.node) or "") == root:
        return True
    for a in c.args:
        p = address_of(a) or path_of(a)
        if p is not None and root_of(p) == root:
            return True
    return False


def _stop_nodes(fa: FunctionAnalysis, root: str, acquires: frozenset[str], V,
               summaries) -> list[Node]:
    """Where the lock may be held again: an acquire naming its variable, the
    variable given a new value, a function that is not kernel API handed it
    (unless the file defines it and it takes no lock)."""
    def may_lock(name: str) -> bool:
        if name in acquires:
            return True
        if V.is_api(name):
            return False
        if summaries is not None and summaries.known(name):
            return summaries.reaches(name, acquires)
        return True

    out = [c.node for c in fa.calls if may_lock(c.name) and _names_root(fa, c, root)]
    out += [d.node for d in fa.defs_of(root) if d.kind in _NEW_VALUE]
    return out


def _retested(fa: FunctionAnalysis, taken: list[Node]) -> list[Node]:
    """Conditions that test again what decided whether the lock was taken
    (``if (!journal) down_write(...)`` ... ``if (journal) up_write(...)``): the
    graph does not know the two tests agree, so a path through one is not
    followed.  Told by the paths the conditions test."""
    guards = [g.cond for n in taken for g in fa.guards(n)
              if g.kind in ("if", "else", "exit", "ternary", "and", "or")]
    if not guards:
        return []
    texts = {text(strip(c)) for c in guards}
    paths = {lit.path for c in guards for lit in literals(c) if lit.path}
    return [s.expr for s in fa.cfg.values() if s.kind == "cond" and s.expr is not None
            and (text(strip(s.expr)) in texts
                 or any(lit.path in paths for lit in literals(s.expr)))]


def _hit(fa: FunctionAnalysis, fc, second: Node | None, first: CallSite, lock: str,
         why: str, added: set[int], reported: set[int]) -> Hit | None:
    """The finding on ``second``, the release reached after ``first`` dropped the
    lock, when the patch added a line between the two and it is not reported yet."""
    if second is None:
        return None
    line = fa.line(second)
    lo, hi = min(first.line, line), max(first.line, line)
    if line in reported or not any(lo <= n <= hi for n in added):
        return None
    reported.add(line)
    conf: Confidence | None = None if fa.complete else Confidence.MEDIUM
    sev: Severity | None = None
    if fa.context_unseen(second):
        conf, sev = Confidence.LOW, Severity.INFO
    return Hit(line=line, path=fc.path, function=fa.name,
               args={"func": fa.name, "lock": lock, "release": first.name,
                     "release_line": first.line, "why": why},
               confidence=conf, severity=sev)


@check("mm/lock-released-twice")
def lock_released_twice(ctx: PatchContext):
    V = vocab()
    releases = _lock_releases(V)
    acquires = V.union(*_LOCK_ACQUIRES)
    mmap_unlocks = V.union("mmap-unlock", "rwsem-release")
    for fc, f in ctx.with_post():
        fa = of(f, mentions=releases | V["fault-handle"])
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added if ln.new_no is not None}
        if not added:
            continue
        reported: set[int] = set()
        img = next((fch.post for fch in ctx.files if fch.path == fc.path), None)
        summaries = img.summaries if img is not None else None
        calls = fa.calls_to(releases)
        named = [(c, _released(c, V)) for c in calls]
        for c, lock in named:
            s0 = fa.cfg_node(c.node)
            if lock is None or s0 is None:
                continue
            if "[" in lock:
                continue  # folio[0], folio[1]: which element is not followed
            root = root_of(lock)
            again = [d.node for d, p in named if p == lock and d is not c]
            if not again:
                continue
            taken = _stop_nodes(fa, root, acquires, V, summaries)
            stops = fa.stops_at(taken, fa.flag_tests(
                [d.node for d in calls] + [a.node for a in fa.calls_to(acquires)]) +
                _retested(fa, taken))
            hit = _hit(fa, fc, _first(fa, s0, False, again, stops), c, lock,
                       f"{c.name}() on line {c.line} released it", added, reported)
            if hit is not None:
                yield hit
        # the mmap lock handle_mm_fault() dropped, unlocked again
        for h, vma, first in _dropped_branches(fa, V):
            mms = _mm_of(fa, vma, V)
            unlocks = [u.node for u in fa.calls_to(mmap_unlocks) if _released_mm(u, V) in mms]
            if not unlocks:
                continue
            relock = [r.node for r in fa.calls_to(V.union("mmap-lock", "rwsem-acquire"))]
            stops = fa.stops_at(relock + [d.node for m in mms for d in fa.defs_of(root_of(m))
                                          if d.kind in _NEW_VALUE],
                                fa.flag_tests(unlocks + relock))
            hit = _hit(fa, fc, _first(fa, first, True, unlocks, stops), h, "the mmap lock",
                       f"the result of {h.name}() on line {h.line} says it dropped it",
                       added, reported)
            if hit is not None:
                yield hit
