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
uffd-wp state fork copies into the child; mm/uffd-wp-accessor-kind: the
uffd-wp accessor family against the kind of entry it is given;
mm/uffd-zap-marker-lost: the marker a zap must leave;
mm/uffd-marker-kind-untested: a new marker kind and its consumers;
mm/uffd-marker-falls-into-present: a marker run through the present path
(sections below).
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, FunctionAnalysis, _leaves
from reviewkit.analysis.syntax import call_args, call_name, literals, path_of, strip, text, walk
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check


@check("mm/uffd-state-asserted")
def uffd_state_asserted(ctx: PatchContext):
    v = vocab()
    asserts, tests = v["assert"], v["uffd-vma-test"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=asserts)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        for c in fa.calls_to(asserts):
            if c.line not in added or not c.args:
                continue
            test = next((call_name(n) for a in call_args(c.node) for n in fa.walk(a)
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
        for _, lp in self.lookups:
            if lp:
                self.vmas.add(lp)
        for n in fa.nodes_of("field_expression"):
            if n.type == "field_expression":
                fp = path_of(n)
                base = _field_base(fp, _OWNER) or _field_base(fp, _FLAGS)
                if base:
                    self.vmas.add(base)
        # tables entries are read from: *P, ptep_get(P)
        self.read: set[str] = set()
        for n in fa.nodes_of("pointer_expression"):
            if n.type == "pointer_expression" and text(n.child_by_field_name("operator")) == "*":
                parent = n.parent
                if parent is not None and parent.type == "assignment_expression" and \
                        parent.child_by_field_name("left") == n:
                    continue
                rp = path_of(n.child_by_field_name("argument"))
                if rp:
                    self.read.add(rp)
        for c in fa.calls_to(v["entry-read"]):
            rp = path_of(c.args[0]) if c.args else None
            if rp:
                self.read.add(rp)
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


def _fork_copies(ctx: PatchContext):
    """The changed functions that copy entries into a child and decide its
    uffd-wp bit somewhere: (change, function, model, decisions, copy roles)."""
    clears = vocab()["uffd-wp-clear"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=clears)  # a decision is a clear made here
        if fa is None:
            continue
        decisions = list(_decisions(fa))
        if not decisions:
            continue
        cp = _Copy(fa)
        if not cp.is_copy:
            continue
        yield fc, f, fa, decisions, cp


@check("mm/uffd-fork-wp-decided-on-parent")
def fork_wp_decided_on_parent(ctx: PatchContext):
    for fc, f, fa, decisions, cp in _fork_copies(ctx):
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
    for fc, f, fa, decisions, cp in _fork_copies(ctx):
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

        wp_calls = vocab().union("uffd-wp-present", "uffd-wp-swap")

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
            if _marked(fa, w.args[3], wp_calls):
                continue  # the value's uffd-wp bit is set or cleared on its way here
            d = decisions[0]
            if _kind(fa, w.args[3]) is not None:
                # an entry made anew (mk_pte() of a copy): not the parent's
                effect = (f"the entry is made here, so it does not carry the uffd-wp bit "
                          f"of the parent's entry: a child registered for write-protect "
                          f"(UFFD_FEATURE_EVENT_FORK) loses the protection of this page. Set "
                          f"the bit when the child's VMA is registered and the parent's entry "
                          f"had it (userfaultfd_pte_wp())")
            else:
                effect = (f"the entry (a uffd-wp pte marker, or an entry with the uffd-wp "
                          f"bit) goes into the child as the parent had it, even when the "
                          f"child's VMA has no VM_UFFD_WP (fork() without "
                          f"UFFD_FEATURE_EVENT_FORK). Install it only when userfaultfd_wp() of "
                          f"the child's VMA holds, or clear the bit first; a marker the child "
                          f"cannot use is dropped (the child's entry stays empty)")
            yield Hit(line=w.line, path=fc.path, function=f.name,
                      confidence=None if fa.complete else Confidence.LOW
                      if fa.context_unseen(w.node) else Confidence.MEDIUM,
                      args={"func": f.name, "write": w.text, "decision": text(strip(d[1].cond)),
                            "clear": d[0].name, "line": fa.line(d[1].cond), "effect": effect})


# -- uffd-wp accessors and the kind of entry they are given --------------------------------
#
# The uffd-wp bit of a present entry is a hardware-entry bit (pte_mkuffd_wp());
# in a swap, migration or device-private entry it is a bit of the software swap
# format (pte_swp_mkuffd_wp()).  Using one family on the other kind sets a bit
# that means something else there (part of the swap offset) and leaves the
# protection unrecorded.  The kind of a value is found from its reaching
# definition: made by swp_entry_to_pte()/make_pte_marker(), or by mk_pte().

SWAP, PRESENT = "swap", "present"


def _block_encloses(def_node: Node, node: Node) -> bool:
    """Whether the block the definition's statement sits in also holds ``node``
    (so the definition runs before ``node`` on every path through that block)."""
    n: Node | None = def_node
    while n is not None and n.type != "compound_statement":
        if n.type in ("if_statement", "while_statement", "for_statement", "do_statement",
                      "switch_statement", "conditional_expression", "case_statement"):
            return False  # the definition is itself conditional
        n = n.parent
    return n is not None and n.start_byte <= node.start_byte < n.end_byte


def _reaching(fa: FunctionAnalysis, e: Node) -> list | None:
    """The definitions of the path ``e`` names that can reach it: the last one
    in a block that also holds ``e`` and those after it; None when there is
    none such (the value comes from out of view or from a loop)."""
    p = path_of(e)
    if p is None:
        return None
    before = [d for d in fa.defs_of(p) if d.node.end_byte <= e.start_byte
              and not _exclusive(d.node, e)]
    last = max((i for i, d in enumerate(before) if _block_encloses(d.node, e)), default=None)
    return None if last is None else before[last:]


def _exclusive(a: Node, b: Node) -> bool:
    """Whether ``a`` and ``b`` sit in different arms of one if/else (so, outside
    a loop, one never runs after the other)."""
    anc: dict[tuple[int, int, str], Node] = {}
    n: Node | None = a
    while n is not None:
        anc[(n.start_byte, n.end_byte, n.type)] = n
        n = n.parent
    m: Node | None = b
    while m is not None:
        if (m.start_byte, m.end_byte, m.type) in anc:
            break
        m = m.parent
    if m is None or m.type != "if_statement":
        return False
    then, alt = m.child_by_field_name("consequence"), m.child_by_field_name("alternative")

    def arm(x: Node) -> int:
        if then is not None and then.start_byte <= x.start_byte < then.end_byte:
            return 1
        if alt is not None and alt.start_byte <= x.start_byte < alt.end_byte:
            return 2
        return 0

    return arm(a) != 0 and arm(b) != 0 and arm(a) != arm(b)


def _marked(fa: FunctionAnalysis, expr: Node, names: frozenset[str], depth: int = 0) -> bool:
    """Whether a call of ``names`` makes part of the value of ``expr`` on its
    way (following the definitions that reach it)."""
    if depth > 4:
        return False
    e = strip(expr)
    if any(call_name(n) in names for n in fa.walk(e)):
        return True
    for n in fa.walk(e):
        if n.type in ("identifier", "field_expression"):
            for d in _reaching(fa, n) or ():
                if d.value is not None and _marked(fa, d.value, names, depth + 1):
                    return True
    return False


def _kind(fa: FunctionAnalysis, expr: Node, depth: int = 0) -> str | None:
    """SWAP or PRESENT when every definition of ``expr`` that can reach it makes
    that kind of entry; None when any is unknown."""
    v = vocab()
    e = strip(expr)
    if depth > 6:
        return None
    if e.type == "call_expression":
        name = call_name(e)
        if name in v["swap-entry-make"]:
            return SWAP
        if name in v["present-entry-make"]:
            return PRESENT
        args = call_args(e)
        if args and name in v.union("uffd-wp-present", "uffd-wp-swap", "entry-transform",
                                    "entry-mkdirty", "entry-wrprotect", "entry-mkwrite"):
            return _kind(fa, args[0], depth + 1)
        return None
    if e.type not in ("identifier", "field_expression"):
        return None
    reaching = _reaching(fa, e)
    if reaching is None:
        return None
    kinds = set()
    for d in reaching:
        if d.value is None or d.kind not in ("init", "assign"):
            return None
        kinds.add(_kind(fa, d.value, depth + 1))
    return kinds.pop() if len(kinds) == 1 else None


@check("mm/uffd-wp-accessor-kind")
def uffd_wp_accessor_kind(ctx: PatchContext):
    v = vocab()
    present, swap = v["uffd-wp-present"], v["uffd-wp-swap"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=present | swap)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        for c in fa.calls_to(present | swap):
            if c.line not in added or not c.args:
                continue
            kind = _kind(fa, c.args[0])
            want = PRESENT if c.name in present else SWAP
            if kind is None or kind == want:
                continue
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "call": c.name, "value": text(c.args[0]),
                            "kind": "a swap, migration or marker entry" if kind == SWAP
                            else "a present entry",
                            "accessor": "a present entry" if want == PRESENT
                            else "a swap entry"})


# -- zap: the uffd-wp marker a cleared file-backed entry must leave ---------------------------
#
# Zapping an entry of a file-backed (shmem, hugetlbfs) VMA registered for uffd-wp
# loses the protection with the entry: the next access refaults from the page
# cache without a uffd-wp fault.  The zap therefore leaves a uffd-wp pte marker
# (pte_install_uffd_wp_if_needed(), or set_*_at(make_pte_marker())) unless the
# caller asked for markers to go (ZAP_FLAG_DROP_MARKER: munmap, truncation).

_ZAP_TYPES = ("zap_details", "mmu_gather")  # vocabulary: vma-type


def _mentions(node: Node, names: frozenset[str]) -> bool:
    return any((n.type == "identifier" and text(n) in names) or call_name(n) in names
               for n in walk(node))


def _touched(diff) -> set[int]:
    """New-side lines the patch adds, and the lines either side of what it removes."""
    out: set[int] = set()
    for h in diff.hunks:
        pending, last = False, None
        for ln in h.lines:
            if ln.kind == "-":
                pending = True
                continue
            if ln.new_no is None:
                continue
            if ln.kind == "+":
                out.add(ln.new_no)
            if pending:
                out.add(ln.new_no)
                if last is not None:
                    out.add(last)
                pending = False
            last = ln.new_no
    return out


@check("mm/uffd-zap-marker-lost")
def zap_marker_lost(ctx: PatchContext):
    v = vocab()
    clears = v["zap-entry-clear"]
    install = v["uffd-wp-marker-install"]
    decided = v.union("uffd-wp-entry-test", "zap-drop-marker", "uffd-vma-test", "marker-test")
    anon = v.union("anon-test", "anon-vma-test")
    writes = v["entry-set"]
    api = v.union(*v.categories)
    reads = v["entry-read"]
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        summaries = img.summaries
        touched = _touched(fchange.diff)
        for fc in fchange.functions:
            f = fc.post
            fa = of(f, mentions=clears)  # every finding is at a clear
            if f is None or fa is None:
                continue
            types = {z for t, _ in fa.params + fa.locals for z in _ZAP_TYPES if _typed(t, z)}
            if not types:
                continue
            # a zap that handles file-backed VMAs: it takes zap_details, or knows
            # about dropping markers; with only an mmu_gather the caller may know
            # the VMA is anonymous (MADV_FREE), and nothing is said
            if _ZAP_TYPES[0] not in types and not _mentions(fa.node, v["zap-drop-marker"]):
                continue
            added = {ln.new_no for ln in fc.added}

            def helper_decides(name: str | None) -> bool:
                """A helper (defined in view) whose body tests uffd-wp state or the
                drop flag (zap_drop_file_uffd_wp())."""
                return name is not None and any(
                    g.syntax is not None and _mentions(g.syntax[0], decided)
                    for g in img.graph.definitions(name))

            for c in fa.calls_to(clears):
                if len(c.args) < 3:
                    continue
                table = path_of(c.args[2])
                if table is None:
                    continue
                lits = [lit for g in fa.guards(c.node) for lit in g.literals()]
                if any(lit.polarity and lit.necessary and _mentions(lit.node, anon)
                       for lit in lits):
                    continue  # an anonymous page: nothing to refault, no marker
                if any(_mentions(lit.node, decided) or helper_decides(call_name(strip(lit.node)))
                       for lit in lits):
                    continue  # the marker question is decided where the clear runs
                block = c.node.parent
                while block is not None and block.type != "compound_statement":
                    block = block.parent
                if block is not None and any(
                        call_name(n) in install and n.end_byte <= c.node.start_byte
                        for n in fa.walk(block)):
                    continue  # the block leaves a marker first, where it does not clear
                tables = fa.aliases(table)

                def entry_value(a: Node) -> bool:
                    """Whether ``a`` is the entry the clear removed (its old value)."""
                    for o in fa.origins(a):
                        if (o.start_byte, o.end_byte) == (c.node.start_byte, c.node.end_byte):
                            return True
                        o = strip(o)
                        op = path_of(o) if o.type == "pointer_expression" else None
                        if op is not None and op[1:] in tables:
                            return True
                        if call_name(o) in reads and call_args(o) and \
                                path_of(call_args(o)[0]) in tables:
                            return True
                    return False

                def hands_entry(args) -> bool:
                    """An unknown helper given the table and the entry it held: it may
                    leave the marker out of view."""
                    return any(path_of(a) in tables for a in args) and any(
                        entry_value(a) for a in args)

                def leaves_marker(s) -> bool:
                    node = s.node if s.kind != "cond" else None
                    if s.kind == "cond" and s.node is not None and s.node.type == "if_statement":
                        node = s.node
                    if node is None:
                        return False
                    for n in fa.walk(node):
                        name = call_name(n)
                        if name is None:
                            continue
                        if name in install or (name not in api and (
                                summaries.call_reaches(name, install) or helper_decides(name)
                                or not summaries.known(name) and hands_entry(call_args(n)))):
                            return True  # installs (or may, out of view) a marker
                        if name in writes and len(call_args(n)) > 2 and \
                                path_of(call_args(n)[2]) in tables:
                            return True  # the entry is written again, not zapped
                    return False

                paths = fa.paths_to_exits(c.node, leaves_marker)
                lost = [p for p in paths if p[-1].kind == "exit" or any(
                    s.kind == "continue" for s in p)]
                # the patch added the clear, or changed the path that skips the marker
                lost = [p for p in lost if c.line in added or any(
                    s.line in touched for s in p[1:] if s.kind not in ("exit", "end"))]
                if not lost:
                    continue
                how = "continue" if any(s.kind == "continue" for s in lost[0]) else "return"
                yield Hit(line=c.line, path=fc.path, function=f.name, absence=True,
                          confidence=None if fa.complete else Confidence.LOW,
                          args={"func": f.name, "clear": c.name,
                                "line": next((s.line for s in lost[0][1:] if s.kind in (
                                    "continue", "return", "exit")), c.line), "how": how})


# -- a new pte marker kind and the consumers that do not ask which kind ----------------------
#
# Every consumer of pte markers written while uffd-wp was the only kind
# (is_pte_marker()/is_pte_marker_entry() and nothing more) takes any marker for
# a uffd-wp one.  A patch that adds a kind has to teach each of them.

def _new_marker_kinds(ctx: PatchContext) -> dict[str, tuple[str, int]]:
    """Marker kinds the patch makes (make_pte_marker*(KIND)) that are not known
    kernel kinds, or whose #define it adds: kind -> (path, line)."""
    v = vocab()
    defined: set[str] = set()
    for fchange in ctx.files:
        for h in fchange.diff.hunks:
            for ln in h.lines:
                words = ln.text.split()
                if ln.kind == "+" and len(words) >= 2 and words[0] == "#define":
                    defined.add(words[1])
    out: dict[str, tuple[str, int]] = {}
    for fc, f in ctx.with_post():
        fa = of(f, mentions=v["marker-make"])
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        for c in fa.calls_to(v["marker-make"]):
            if c.line not in added or not c.args:
                continue
            for n in fa.walk(c.args[0]):
                if n.type == "identifier" and text(n).isupper():
                    kind = text(n)
                    if kind in defined or kind not in v["marker-kind"]:
                        out.setdefault(kind, (fc.path, c.line))
    return out


def _idents(code: str) -> set[str]:
    """The identifiers in a piece of C text (an argument as the index keeps it)."""
    out, cur = set(), []
    for ch in code + " ":
        if ch.isalnum() or ch == "_":
            cur.append(ch)
        else:
            if cur and not cur[0].isdigit():
                out.add("".join(cur))
            cur = []
    return out


def _asks_kind(f, graph, kinds: frozenset[str], depth: int = 0) -> bool:
    """Whether ``f`` tests a marker's kind, itself or in a helper it hands the
    entry it tested for being a marker (handle_pte_marker(vmf)).  A definition
    from the tree's index is known by its calls and their arguments."""
    v = vocab()
    if f.syntax is not None and _mentions(f.syntax[0], kinds):
        return True
    calls = [(c.name, set().union(*(_idents(a) for a in c.args)) if c.args else set())
             for c in f.calls]
    if any(name in kinds or words & kinds for name, words in calls):
        return True
    if depth >= 2:
        return False
    tested: set[str] = set()
    for name, words in calls:
        if name in v["marker-test"]:
            tested |= words
    api = v.union(*v.categories)
    for name, words in calls:
        if name in api or not words & tested:
            continue
        if any(_asks_kind(g, graph, kinds, depth + 1) for g in graph.definitions(name)):
            return True
    return False


@check("mm/uffd-marker-kind-untested")
def marker_kind_untested(ctx: PatchContext):
    v = vocab()
    new = _new_marker_kinds(ctx)
    if not new:
        return
    tests = v["marker-test"]
    kinds = v.union("marker-kind-test", "marker-kind") | frozenset(new)
    consumers: list[str] = []
    seen: set[str] = set()
    tree = ctx.mode == "tree"
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        world = img.world if tree and img.world is not None else None
        names = set()
        if world is not None:
            for t in tests:
                names |= world.callers(t)
        else:
            names = {f.name for f in img.functions if tests & f.callees()}
        graph = world if world is not None else img.graph
        for name in sorted(names):
            if name in seen or name in v.union(*v.categories):
                continue
            seen.add(name)
            defs = graph.definitions(name)
            if defs and not any(_asks_kind(d, graph, kinds) for d in defs):
                consumers.append(name)
    if not consumers:
        return
    kind, (path, line) = next(iter(new.items()))
    shown = ", ".join(f"{n}()" for n in consumers[:12]) + (
        f" and {len(consumers) - 12} more" if len(consumers) > 12 else "")
    yield Hit(line=line, path=path, function=None,
              confidence=None if tree else Confidence.LOW,
              args={"kind": kind, "consumers": shown,
                    "where": "in the tree" if tree else "among the functions the patch shows"})


# -- a marker handled, then taken for a present entry --------------------------------------
#
# A pte marker is non-present but not none.  Code that handles a marker in an
# ``if`` that does not leave, and then tests ``!pte_none(pte)`` for the present
# path, runs the present path on the marker too.

def _tested(lit, names: frozenset[str]) -> str | None:
    """The entry path a literal applies one of ``names`` to, else None."""
    n = strip(lit.node)
    if n.type != "call_expression" or call_name(n) not in names:
        return None
    args = call_args(n)
    return path_of(args[0]) if args else None


@check("mm/uffd-marker-falls-into-present")
def marker_falls_into_present(ctx: PatchContext):
    v = vocab()
    markers = v.union("marker-test", "marker-kind-test")
    nones, present = v["none-test"], v["present-entry-op"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=markers)  # the marker test is one of this function's
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        for m in fa.nodes_of("if_statement"):
            if m.child_by_field_name("alternative") is not None:
                continue
            cond, then = m.child_by_field_name("condition"), m.child_by_field_name("consequence")
            if cond is None or then is None or _leaves(then):
                continue
            x = next((p for lit in literals(cond) if lit.polarity and lit.necessary
                      for p in [_tested(lit, markers)] if p), None)
            if x is None:
                continue
            sib = m.next_named_sibling
            while sib is not None:
                if sib.type == "comment":
                    sib = sib.next_named_sibling
                    continue
                if any(d.node.start_byte >= m.end_byte and d.node.end_byte <= sib.start_byte
                       for d in fa.defs_of(x)):
                    break  # the entry is read again
                if sib.type != "if_statement":
                    if _leaves(sib):
                        break
                    sib = sib.next_named_sibling
                    continue
                ncond = sib.child_by_field_name("condition")
                nthen = sib.child_by_field_name("consequence")
                if ncond is None or nthen is None:
                    break
                if any(not lit.polarity and lit.necessary and _tested(lit, nones) == x
                       for lit in literals(ncond)) and _mentions(nthen, present):
                    if fa.line(m) in added or fa.line(sib) in added or any(
                            fa.line(n) in added for n in fa.walk(then)):
                        yield Hit(line=fa.line(sib), path=fc.path, function=f.name,
                                  confidence=None if fa.complete else Confidence.MEDIUM,
                                  args={"func": f.name, "entry": x, "marker": text(strip(cond)),
                                        "mline": fa.line(m), "test": text(strip(ncond))})
                    break
                break
