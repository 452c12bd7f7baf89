"""A VMA used after the lock that keeps it alive is dropped.

A ``struct vm_area_struct`` lives as long as the mmap lock of its mm (or, from
6.4, its own per-VMA read lock) is held: once mmap_read_unlock() returns, a
concurrent munmap() or mremap() may split, merge or free it.  Reviewers catch
the patch that looks a VMA up under the lock, drops the lock (to sleep, to do
I/O, to call into a filesystem) and then reads ``vma->vm_flags`` or passes the
VMA on: what madvise_remove() and msync() take a file reference for before they
unlock ("the vma may be freed after that point"), and what Jann Horn caught in
the per-VMA lock series ("you're accessing the vma after dropping your
reference on it").

Decided on the control-flow graph: from an unlock of the mmap lock of the mm a
VMA belongs to (the mm it was looked up in, or its own ``vm_mm``) or of the
VMA's own read lock, every statement reachable before the lock is taken again
or the VMA variable is assigned again; the first of them that dereferences the
VMA or hands it to a call is the use.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, FunctionAnalysis, Stmt
from reviewkit.analysis.syntax import (address_of, assigned_to, identifiers_in, inside,
                                       literals, path_of, strip, text)
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check

def _released_mm(call: CallSite, V) -> str | None:
    """The mm whose mmap lock ``call`` drops (its path), or None."""
    a = call.arg(0)
    if a is None:
        return None
    if call.name in V["mmap-unlock"]:
        return path_of(a)
    # before 5.8: up_read(&mm->mmap_sem)
    p = address_of(a)
    if p and "->" in p:
        base, _, fld = p.rpartition("->")
        if fld in V["mm-lock-field"]:
            return base
    return None


def _is_vma(fa: FunctionAnalysis, name: str) -> bool:
    t = fa.type_of(name) or ""
    return "vm_area_struct" in t and "*" in t and "**" not in t


def _lookup_call(fa: FunctionAnalysis, value: Node | None, V) -> CallSite | None:
    if value is None:
        return None
    v = strip(value)
    for c in fa.calls_to(V["vma-lookup-mm"]):
        if c.node == v:
            return c
    return None


def _vmas(fa: FunctionAnalysis, V) -> list[str]:
    """Locals and parameters holding a VMA: declared as one, or (in a function
    the diff shows in part) assigned the result of a VMA lookup."""
    out = [n for _, n in fa.params + fa.locals if _is_vma(fa, n)]
    for path, defs in fa.defs.items():
        if path not in out and path.isidentifier() and not fa.declared(path) and any(
                _lookup_call(fa, d.value, V) for d in defs):
            out.append(path)
    return out


def _mm_of(fa: FunctionAnalysis, vma: str, V) -> set[str]:
    """Paths that hold the mm ``vma`` belongs to: ``vma->vm_mm``, a local
    initialised from it, and the mm argument of the lookup that found it."""
    out = {f"{vma}->vm_mm"}
    for _, name in fa.locals + fa.params:
        for d in fa.defs_of(name):
            if d.value is not None and path_of(strip(d.value)) == f"{vma}->vm_mm":
                out.add(name)
    for d in fa.defs_of(vma):
        c = _lookup_call(fa, d.value, V)
        p = path_of(c.arg(0)) if c is not None and c.args else None
        if p:
            out.add(p)
    return out


def _uses(fa: FunctionAnalysis, vma: str) -> list[Node]:
    """Where ``vma`` is dereferenced or handed to a call."""
    out = []
    for u in fa.uses_of(vma):
        parent = u.parent
        while parent is not None and parent.type == "parenthesized_expression":
            parent = parent.parent
        if parent is None:
            continue
        if parent.type == "field_expression" and parent.child_by_field_name("argument") in (
                u, u.parent) and text_op(parent) == "->":
            out.append(u)
        elif parent.type == "argument_list":
            out.append(u)
    return out


def text_op(field: Node) -> str:
    op = field.child_by_field_name("operator")
    return op.text.decode() if op is not None and op.text else ""


@check("mm/vma-used-after-mmap-unlock")
def vma_used_after_unlock(ctx: PatchContext):
    V = vocab()
    unlocks = V.union("mmap-unlock", "rwsem-release")
    relocks = V.union("mmap-lock", "rwsem-acquire")
    vma_unlocks = V["vma-read-unlock"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=unlocks | vma_unlocks | V["fault-handle"])
        if fa is None:
            continue
        if fa.mentions(V["rmap-lock"]):
            # VMAs found through a file's or an anon_vma's rmap are kept alive
            # by that lock, whatever happens to the mmap lock of their mm
            continue
        changed = {ln.new_no for ln in fc.added}
        vmas = _vmas(fa, V)
        if not vmas:
            continue
        reported: set[int] = set()
        relock = [r.node for r in fa.calls_to(relocks)]
        # conditions deciding whether the lock is taken again (a "locked" flag
        # the code keeps): a path through one holds the lock or not, the graph
        # cannot tell which, so it is not followed past them
        decisions = fa.flag_tests(relock)
        # where the lock goes: (the call that drops it, the VMA, what it drops,
        # the statement the unlocked stretch starts at, whether that one counts)
        drops: list[tuple[CallSite, str, str, Stmt, bool]] = []
        mm_of = {v: _mm_of(fa, v, V) for v in vmas}
        for c in fa.calls_to(unlocks | vma_unlocks):
            s0 = fa.cfg_node(c.node)
            if s0 is None:
                continue
            if c.name in vma_unlocks:
                p = path_of(c.arg(0)) if c.args else None
                if p in vmas:
                    drops.append((c, p, f"the read lock of {p} itself", s0, False))
                continue
            mm = _released_mm(c, V)
            if mm is not None:
                drops += [(c, v, f"the mmap lock of {mm}", s0, False) for v in vmas
                          if mm in mm_of[v]]
        drops += [(h, vma, "the mmap lock (its result says VM_FAULT_RETRY or "
                   "VM_FAULT_COMPLETED)", first, True)
                  for h, vma, first in _dropped_branches(fa, V)]
        for c, vma, what, start, counts in drops:
            redefs = [d.node for d in fa.defs_of(vma)
                      if d.kind in ("init", "assign", "address", "update")]

            stops = fa.stops_at(redefs + relock, decisions)
            use = _first(fa, start, counts, _uses(fa, vma), stops)
            if use is None:
                continue
            line = fa.line(use)
            if line in reported or not (c.line in changed or line in changed):
                continue
            reported.add(line)
            yield Hit(line=line, path=fc.path, function=f.name,
                      args={"func": f.name, "vma": vma, "unlock": c.name,
                            "unlock_line": c.line, "lock": what},
                      confidence=Confidence.LOW if fa.context_unseen(use) else None)


def _dropped_branches(fa: FunctionAnalysis, V) -> list[tuple[CallSite, str, Stmt]]:
    """(handle_mm_fault() call, its VMA, the first statement of a branch where
    its result says the mmap lock was dropped: ``if (ret & VM_FAULT_RETRY)``)."""
    out: list[tuple[CallSite, str, Stmt]] = []
    if fa.mentions(V["fault-flag-nowait"]):
        return out  # RETRY_NOWAIT keeps the lock; which faults use it is not followed
    bits = V["fault-lock-dropped"]
    for h in fa.calls_to(V["fault-handle"]):
        result = assigned_to(h.node)
        vma = path_of(h.arg(0)) if h.args else None
        if not result or not vma:
            continue
        for s in fa.cfg.values():
            if s.kind != "cond" or s.expr is None or len(s.succ) != 2:
                continue
            lits = literals(s.expr)
            if len(lits) != 1:
                continue
            atom = strip(lits[0].node)
            if atom.type != "binary_expression" or text(atom.child_by_field_name(
                    "operator")) != "&":
                continue
            left, right = atom.child_by_field_name("left"), atom.child_by_field_name("right")
            if left is None or right is None or path_of(left) != result:
                continue
            if not set(identifiers_in(right)) & bits:
                continue
            branch = s.succ[0] if lits[0].polarity else s.succ[1]
            if h.node.start_byte < atom.start_byte:
                out.append((h, vma, fa.cfg[branch]))
    return out


def _first(fa: FunctionAnalysis, start: Stmt, counts: bool, uses: list[Node],
           stops) -> Node | None:
    """The use reached first from ``start`` (itself included when ``counts``):
    the earliest in the text after it, or (when every use reached is before
    it: a loop coming round) the earliest."""
    found: list[Node] = []
    stmts = [start] if counts else []
    if not (counts and stops(start)):
        anchor = start.expr if start.expr is not None else start.node
        if anchor is not None:
            stmts += list(fa.reachable(anchor, until=stops))
    for s in stmts:
        if s.expr is not None and not stops(s):
            found.extend(u for u in uses if inside(u, s.expr))
    if start.node is None:
        return min(found, key=lambda u: u.start_byte, default=None)
    after = [u for u in found if u.start_byte > start.node.end_byte or counts]
    return min(after or found, key=lambda u: u.start_byte, default=None)
