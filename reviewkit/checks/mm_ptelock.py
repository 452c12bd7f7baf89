"""Page-table pointers and their locks: the pointer a pte_unmap_unlock() unmaps,
and how an entry gets into the table.

mm/pte-unlock-stale-map
    A page table mapped and locked with pte_offset_map_lock() (or one of its
    kin, all taking ``&ptl``), unlocked, and mapped and locked again: the later
    pte_unmap_unlock(p, ptl) must unmap what the latest map returned.  When
    the re-map keeps its result somewhere else, or drops it, ``p`` still holds
    the first mapping, which is gone (a kmap with CONFIG_HIGHPTE; since 6.5 an
    RCU-protected map).  MADV_COLD's madvise_cold_pte_range() did this on both
    re-maps after splitting a THP; "mm/madvise: fix potential pte_unmap_unlock
    pte error" made both ``orig_pte = pte = pte_offset_map_lock(...)``.

    Decided on the control-flow graph: from a map call that takes ``&ptl``,
    every statement reachable before the lock is released, mapped again, or
    the unlocked pointer is assigned; a pte_unmap_unlock(q, ptl) reached so
    whose ``q`` is not where the map's result went, while ``q`` holds the
    result of another map of the same lock, is the finding (on the re-map).

mm/pte-set-by-store
    An entry written into a page table by a store through the pointer
    (``*ptep = make_pte_marker(...)``) rather than set_pte_at()/set_ptes()/
    set_pmd_at(): architectures that track or shadow page-table updates (arm64
    contiguous ptes, powerpc hash, s390, xen, page_table_check) never see it.
    Ryan Roberts's "mm/madvise: Always set ptes via arch helpers" fixed this in
    the guard-page code.  What the pointer is comes from data flow: the
    result of a kernel API that returns a page-table pointer, or a parameter of
    entry pointer type that the function hands to an entry accessor or gets as
    a page-walk callback (a function taking ``struct mm_walk *``, or one passed
    to apply_to_page_range()).
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import FunctionAnalysis, Stmt
from reviewkit.analysis.syntax import (address_of, inside, is_constant, is_null, path_of, strip,
                                       text)
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, Severity, check


# -- mm/pte-unlock-stale-map ------------------------------------------------------------

def _targets(call: Node) -> list[str] | None:
    """Where a call's value is stored: every lvalue of ``a = b = call()`` (or the
    declared name of ``T *a = call()``); ``[]`` when the value is dropped (the call
    is a statement of its own); None when it goes elsewhere (a test, an argument)."""
    out: list[str] = []
    n = call
    while n.parent is not None and n.parent.type in ("parenthesized_expression",
                                                     "cast_expression"):
        n = n.parent
    while True:
        parent = n.parent
        if parent is None:
            return None
        if parent.type == "assignment_expression" and parent.child_by_field_name("right") == n:
            if text(parent.child_by_field_name("operator")) != "=":
                return None
            p = path_of(parent.child_by_field_name("left"))
            if p is None:
                return None
            out.append(p)
            n = parent
            continue
        if parent.type == "init_declarator" and parent.child_by_field_name("value") == n:
            decl = parent.child_by_field_name("declarator")
            while decl is not None and decl.type == "pointer_declarator":
                decl = decl.child_by_field_name("declarator")
            if decl is None or decl.type != "identifier":
                return None
            out.append(text(decl))
            return out
        if parent.type == "expression_statement":
            return out
        if parent.type == "comma_expression":
            return out if out else None
        return None


def _base(node: Node | None) -> str | None:
    """The pointer an unmap argument is made of: ``pte``, ``pte - 1``, ``(start)``."""
    if node is None:
        return None
    n = strip(node)
    while n.type == "binary_expression" and text(n.child_by_field_name("operator")) in ("+", "-"):
        left = n.child_by_field_name("left")
        if left is None:
            return None
        n = strip(left)
    return path_of(n)


def _lock_arg(call, lock: str) -> bool:
    return any(address_of(a) == lock for a in call.args)


@check("mm/pte-unlock-stale-map")
def pte_unlock_stale_map(ctx: PatchContext):
    v = vocab()
    maps = v["pte-map-lock"]
    unlocks = v["pte-unmap"]
    releases = v["unlock"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=maps)
        if fa is None or not fa.mentions(unlocks):
            continue
        changed = {ln.new_no for ln in fc.added}
        map_calls = fa.calls_to(maps)
        unlock_calls = [c for c in fa.calls_to(("pte_unmap_unlock",)) if len(c.args) == 2]
        if not unlock_calls:
            continue
        seen: set[int] = set()
        for m in map_calls:
            targets = _targets(m.node)
            if targets is None:
                continue
            for u in unlock_calls:
                lock = path_of(u.arg(1))
                q = _base(u.arg(0))
                if lock is None or q is None or not _lock_arg(m, lock) or q in targets:
                    continue
                if m.line not in changed and u.line not in changed:
                    continue
                # q must hold what another map of this lock returned: a pointer into
                # the same table, mapped earlier
                if not any(o is not m and _lock_arg(o, lock) and q in (_targets(o.node) or ())
                           for o in map_calls):
                    continue
                hit = _stale_unlock(fa, m, u, lock, q, maps, releases)
                if hit is None or m.line in seen:
                    continue
                seen.add(m.line)
                kept = (", ".join(targets) if targets else None)
                yield Hit(line=m.line, path=fc.path, function=f.name,
                          args={"func": f.name, "var": q, "lock": lock,
                                "unlock_line": u.line,
                                "kept": f"keeps the new pointer in {kept}" if kept
                                else "drops the new pointer"},
                          confidence=Confidence.LOW if hit == "unseen" else None)


def _stale_unlock(fa: FunctionAnalysis, m, u, lock: str, q: str, maps, releases
                  ) -> str | None:
    """Whether pte_unmap_unlock ``u`` (of ``q``) is reached from map ``m`` before
    ``lock`` is released or mapped again and before ``q`` is assigned: "seen" when
    so on code the patch shows, "unseen" when the path runs through code it
    does not show, None when not."""
    qdefs = [d.node for d in fa.defs_of(q) if d.kind in ("init", "assign", "address", "update")]
    other_maps = [c.node for c in fa.calls_to(maps) if c is not m and _lock_arg(c, lock)]
    rels = [c.node for c in fa.calls_to(releases) + fa.calls_to(("pte_unmap_unlock",))
            if c.node != u.node and any(path_of(a) == lock for a in c.args)]
    stoppers = qdefs + other_maps + rels
    crossed = False

    def stops(s: Stmt) -> bool:
        if s.kind == "unseen":
            return False
        where = s.expr if s.expr is not None else s.node
        if where is None:
            return False
        if inside(u.node, where):
            return True
        return any(inside(n, where) for n in stoppers)

    for s in fa.reachable(m.node, until=stops):
        if s.kind == "unseen":
            crossed = True
            continue
        where = s.expr if s.expr is not None else s.node
        if where is not None and inside(u.node, where):
            if any(inside(n, where) for n in stoppers if n.start_byte < u.node.start_byte):
                return None
            return "unseen" if crossed or fa.context_unseen(m.node) else "seen"
    return None


# -- mm/pte-set-by-store ----------------------------------------------------------------

def _entry_pointer_type(t: str | None) -> bool:
    """``pte_t *`` and the like: a pointer to one page-table entry (not ``pmd_t **``)."""
    if t is None:
        return False
    words = [w for w in t.replace("*", " * ").split() if w not in ("const", "volatile")]
    return len(words) == 2 and words[1] == "*" and words[0] in vocab()["entry-type"]


def _callback_of_walk(ctx_file, fname: str, pa) -> bool:
    """Whether function ``fname`` is handed, by name, to a kernel API that calls
    it with a page-table pointer (apply_to_page_range() and kin) in this file."""
    if ctx_file is None:
        return False
    for g in ctx_file.functions:
        if not g.mentions(pa) or not g.mentions((fname,)):
            continue
        ga = of(g)
        if ga is None:
            continue
        for c in ga.calls_to(pa):
            if any(strip(a).type == "identifier" and text(strip(a)) == fname for a in c.args):
                return True
    return False


def _page_table_pointer(fa: FunctionAnalysis, ptr: Node, img, v) -> bool | str:
    """Whether the pointer ``ptr`` points into a page table, from data flow:
    True, or "kernel" for the pte an apply_to_page_range() callback gets (a
    kernel mapping, where the store is a weaker point), or False."""
    p = path_of(ptr)
    if p is None:
        return False
    t = fa.type_of(p)
    if t is not None and not _entry_pointer_type(t):
        return False
    returns = v["pt-pointer"]
    for o in fa.origins(ptr, through_calls=False):
        for n in fa.walk(o):
            if n.type == "call_expression":
                name = text(n.child_by_field_name("function"))
                if name in returns:
                    return True
    if fa.param_index(p) is None or not _entry_pointer_type(t):
        return False
    # a parameter that is never assigned: what the caller hands in
    if any(d.kind in ("init", "assign") for d in fa.defs_of(p)):
        return False
    walk_types = v["pt-walk-callback-type"]
    if any(w in walk_types for pt, _ in fa.params for w in pt.replace("*", " ").split()):
        return True
    accessors = v["entry-pointer-op"]
    for c in fa.calls_to(accessors):
        if any(path_of(a) == p for a in c.args):
            return True
    return "kernel" if _callback_of_walk(img, fa.name, v["pt-walk-apply"]) else False


@check("mm/pte-set-by-store")
def pte_set_by_store(ctx: PatchContext):
    v = vocab()
    for fc, f in ctx.with_post():
        if "*" not in "".join(ln.text for ln in fc.added):
            continue
        # a pointer it reports is declared with an entry type here, or made by a
        # page-table pointer call here: a function that names neither is not parsed
        fa = of(f, mentions=v["pt-pointer"] | v["entry-type"])
        if fa is None:
            continue
        changed = {ln.new_no for ln in fc.added}
        img = next((x.post for x in ctx.files if x.path == fc.path), None)
        for n in fa.nodes_of("assignment_expression", body=True):
            if fa.line(n) not in changed:
                continue
            if text(n.child_by_field_name("operator")) != "=":
                continue
            lhs = n.child_by_field_name("left")
            if lhs is None:
                continue
            left = strip(lhs)
            if left.type != "pointer_expression" or text(
                    left.child_by_field_name("operator")) != "*":
                continue
            right = n.child_by_field_name("right")
            arg = left.child_by_field_name("argument")
            if right is None or arg is None or is_null(right) or is_constant(right):
                continue
            ptr = strip(arg)
            kind = _page_table_pointer(fa, ptr, img, v)
            if not kind:
                continue
            # a kernel page table filled through apply_to_page_range(): the arch
            # helpers matter there too (arm64's barriers), but reviewers have
            # taken it for an oversight rather than a bug: information
            yield Hit(line=fa.line(n), path=fc.path, function=f.name,
                      args={"func": f.name, "ptr": text(ptr), "value": text(right)},
                      severity=Severity.INFO if kind == "kernel" else None,
                      confidence=Confidence.LOW if fa.context_unseen(n) else None)
