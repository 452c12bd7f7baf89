"""Userfaultfd state in mm code: what userspace controls, what fork copies.

mm/uffd-state-asserted: assertions on userfaultfd state that userspace
controls.

Whether a VMA is registered with userfaultfd, and in which mode, is decided
by the process: it registers and unregisters ranges, and fork() without
UFFD_FEATURE_EVENT_FORK gives the child VMAs with no registration at all while
their page tables may still carry uffd-wp bits and markers.  A WARN_ON()/
BUG_ON() on that state is therefore reachable from userspace (and with
panic_on_warn a denial of service); the code has to handle the case instead.

Decided from the call structure: an assertion macro (vocabulary: assert) whose
condition contains a VMA userfaultfd test (vocabulary: uffd-vma-test).

mm/uffd-fork-wp-decided-on-parent and mm/uffd-fork-entry-undecided: the
uffd-wp state fork copies into the child (see the section below).
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, FunctionAnalysis
from reviewkit.analysis.syntax import call_args, call_name, path_of, strip, text, walk
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check


@check("mm/uffd-state-asserted")
def uffd_state_asserted(ctx: PatchContext):
    v = vocab()
    asserts, tests = v["assert"], v["uffd-vma-test"]
    for fc, f in ctx.with_post():
        fa = of(f)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        for c in fa.calls_to(asserts):
            if c.line not in added or not c.args:
                continue
            test = next((call_name(n) for a in call_args(c.node) for n in walk(a)
                         if call_name(n) in tests), None)
            if test is None:
                continue
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "assert": c.name, "test": test})


# -- fork: the uffd-wp state of what is copied into the child ---------------------------
#
# fork() copies page-table entries from the parent's VMA into the child's; the
# child keeps uffd-wp bits and markers only when its own VMA has VM_UFFD_WP
# (registered through UFFD_FEATURE_EVENT_FORK).  Which VMA and which page table
# is the child's is found from data flow, never from names: the parent's VMA is
# the one the copied entry is looked up in (vm_normal_page()), the one whose
# anonymous pages are shared with the child (page_try_dup_anon_rmap()), or the
# one whose address space owns the table the entry is read from (``*src_pte``);
# the child's VMA owns the table the copy is written to.

_VMA, _MM = "vm_area_struct", "mm_struct"  # vocabulary: vma-type
_OWNER, _FLAGS = "vm_mm", "vm_flags"  # vocabulary: vma-field

UNRESOLVED = ""  # a flags word whose VMA the patch does not show


def _typed(t: str | None, tag: str) -> bool:
    return t is not None and tag in t.replace("*", " ").split()


def _field_base(p: str | None, fld: str) -> str | None:
    suffix = "->" + fld
    return p[: -len(suffix)] if p and p.endswith(suffix) else None


class _Copy:
    """What a function that copies page-table entries between two address spaces
    shows: its VMAs, the tables it reads entries from, the entries it writes."""

    def __init__(self, fa: FunctionAnalysis):
        v = vocab()
        self.fa = fa
        decl = fa.params + fa.locals
        self.vmas: set[str] = {n for t, n in decl if _typed(t, _VMA)}
        self.mms: set[str] = {n for t, n in decl if _typed(t, _MM)}
        self.lookups: list[tuple[CallSite, str]] = []  # (call, VMA the entry is mapped in)
        for c in fa.calls_to(v["vma-entry-lookup"]):
            if c.args:
                self.lookups.append((c, path_of(c.args[0]) or ""))
        for c in fa.calls_to(v["rmap-try-dup"]):
            if c.args:
                self.lookups.append((c, path_of(c.args[-1]) or ""))
        for _, p in self.lookups:
            if p:
                self.vmas.add(p)
        for n in walk(fa.node):
            if n.type == "field_expression":
                p = path_of(n)
                base = _field_base(p, _OWNER) or _field_base(p, _FLAGS)
                if base:
                    self.vmas.add(base)
        # tables entries are read from: *P, ptep_get(P)
        self.read: set[str] = set()
        for n in walk(fa.node):
            if n.type == "pointer_expression" and text(n.child_by_field_name("operator")) == "*":
                parent = n.parent
                if parent is not None and parent.type == "assignment_expression" and \
                        parent.child_by_field_name("left") == n:
                    continue
                p = path_of(n.child_by_field_name("argument"))
                if p:
                    self.read.add(p)
        for c in fa.calls_to(v["entry-read"]):
            if c.args and path_of(c.args[0]):
                self.read.add(path_of(c.args[0]))
        # entry writes: set_*_at(owner, addr, table, value); wrprotects of a table
        self.writes = [c for c in fa.calls_to(v["entry-set"]) if len(c.args) >= 4]
        self.table_ops = self.writes + [c for c in fa.calls_to(v["entry-wrprotect"])
                                        if len(c.args) >= 3]

    @property
    def is_copy(self) -> bool:
        return len(self.vmas) >= 2 or len(self.mms) >= 2

    def _owners(self, vma: str) -> set[str]:
        return self.fa.aliases(vma) | self.fa.aliases(f"{vma}->{_OWNER}")

    def is_read(self, table: Node | None) -> bool:
        p = path_of(table) if table is not None else None
        return p is not None and any(a in self.read for a in self.fa.aliases(p))

    def looks_up(self, vma: str, value: set[str]) -> bool:
        """Whether the function looks one of ``value``'s entries up in ``vma``."""
        names = self.fa.aliases(vma)
        return any(p in names and any(path_of(a) in value for a in c.args[1:])
                   for c, p in self.lookups)

    def evidence(self, vma: str) -> tuple[str | None, str | None]:
        """(why ``vma`` is the VMA entries are copied from, why it is the one they
        are copied to) — each the text of the call that shows it, or None."""
        names = self.fa.aliases(vma)
        src = next((c.text for c, p in self.lookups if p in names), None)
        owners = self._owners(vma)
        dst = None
        for c in self.table_ops:
            if path_of(c.args[0]) not in owners:
                continue
            if self.is_read(c.args[2]):
                src = src or c.text
            elif c in self.writes:
                dst = dst or c.text
        return src, dst


def _uffd_tested_vma(fa: FunctionAnalysis, lit) -> str | None:
    """The VMA whose uffd-wp registration a condition literal tests
    (``userfaultfd_wp(vma)``, ``vma->vm_flags & VM_UFFD_WP``, ``flags &
    VM_UFFD_WP`` with ``flags`` read from a VMA), UNRESOLVED when the flags
    word's origin is out of view, None when it is no such test."""
    v = vocab()
    n = strip(lit.node)
    if n.type == "call_expression" and call_name(n) in v["uffd-vma-test"]:
        args = call_args(n)
        return (path_of(args[0]) or None) if args else None
    if n.type != "binary_expression" or text(n.child_by_field_name("operator")) != "&":
        return None
    left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
    sides = [(left, right), (right, left)]
    for flag, word in sides:
        if flag is None or word is None or strip(flag).type != "identifier" or \
                text(flag) not in v["uffd-wp-flag"]:
            continue
        p = path_of(word)
        base = _field_base(p, _FLAGS)
        if base:
            return base
        if p is None:
            return None
        for o in fa.origins(word):
            base = _field_base(path_of(o), _FLAGS)
            if base:
                return base
        return UNRESOLVED if not fa.defs_of(p) else None
    return None


def _decisions(fa: FunctionAnalysis):
    """The uffd-wp decisions of a function: (clear call, guard, literal, VMA) for
    every uffd-wp clear made under a test of a VMA's registration."""
    for c in fa.calls_to(vocab()["uffd-wp-clear"]):
        for g in fa.guards(c.node):
            for lit in g.literals():
                vma = _uffd_tested_vma(fa, lit)
                if vma is not None:
                    yield c, g, lit, vma
                    break
            else:
                continue
            break


@check("mm/uffd-fork-wp-decided-on-parent")
def fork_wp_decided_on_parent(ctx: PatchContext):
    for fc, f in ctx.with_post():
        fa = of(f)
        if fa is None:
            continue
        decisions = list(_decisions(fa))
        if not decisions:
            continue
        cp = _Copy(fa)
        if not cp.is_copy:
            continue
        added = {ln.new_no for ln in fc.added}
        for clear, g, lit, vma in decisions:
            line = fa.line(lit.node)
            if line not in added and clear.line not in added:
                continue
            what = text(lit.node)
            if vma == UNRESOLVED:
                # the flags word is read out of view: the claim stands only when
                # every VMA the function shows is the parent's (medium when there
                # is one, and the very entry decided is looked up in it)
                shown = [(p, cp.evidence(p)) for p in sorted(cp.vmas)]
                if not shown or any(src is None or dst is not None for _, (src, dst) in shown):
                    continue
                src = shown[0][1][0]
                who = "the flags word is read out of view, and every VMA the function shows (" + \
                    ", ".join(p for p, _ in shown) + ") is"
                value = fa.aliases(path_of(clear.args[0]) or "") if clear.args else set()
                confidence = Confidence.MEDIUM if len(shown) == 1 and cp.looks_up(
                    shown[0][0], value) else Confidence.LOW
            else:
                src, dst = cp.evidence(vma)
                if src is None or dst is not None:
                    continue
                who = vma + " is"
                confidence = Confidence.HIGH if fa.complete else Confidence.MEDIUM
            yield Hit(line=line, path=fc.path, function=f.name, confidence=confidence,
                      args={"func": f.name, "test": what, "vma": who, "evidence": src})


def _positive_uffd_test(fa: FunctionAnalysis, node: Node) -> bool:
    """Whether ``node`` runs only where (or on a branch where) a VMA's uffd-wp
    registration was found set."""
    for g in fa.guards(node):
        for lit in g.literals():
            if _uffd_tested_vma(fa, lit) is not None and lit.polarity:
                return True
    return False


@check("mm/uffd-fork-entry-undecided")
def fork_entry_undecided(ctx: PatchContext):
    for fc, f in ctx.with_post():
        fa = of(f)
        if fa is None:
            continue
        decisions = list(_decisions(fa))
        if not decisions:
            continue
        cp = _Copy(fa)
        if not cp.is_copy:
            continue
        values: set[str] = set()
        for clear, _, _, _ in decisions:
            p = path_of(clear.args[0]) if clear.args else None
            if p:
                values |= fa.aliases(p)
        stmts = {s.id for s in (fa.cfg_node(g.cond) for _, g, _, _ in decisions) if s}
        conds = [g.cond for _, g, _, _ in decisions]
        after = set()
        for cond in conds:
            after |= {s.id for s in fa.reachable(cond)}

        def decides(s) -> bool:
            return s.id in stmts

        added = {ln.new_no for ln in fc.added}
        for w in cp.writes:
            if path_of(w.args[3]) not in values or cp.is_read(w.args[2]):
                continue  # another value, or written back to the table it was read from
            if w.line not in added and not any(g.line in added for g in fa.guards(w.node)):
                continue
            s = fa.cfg_node(w.node)
            if s is None or s.id in after or _positive_uffd_test(fa, w.node):
                continue
            if not fa.paths_to_exits(w.node, decides):
                continue  # every path goes on to the decision
            d = decisions[0]
            yield Hit(line=w.line, path=fc.path, function=f.name,
                      confidence=None if fa.complete else Confidence.LOW
                      if fa.context_unseen(w.node) else Confidence.MEDIUM,
                      args={"func": f.name, "write": w.text, "decision": text(strip(d[1].cond)),
                            "clear": d[0].name, "line": fa.line(d[1].cond)})
