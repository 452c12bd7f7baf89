"""Per-entry tracking bits carried from an entry into the one that replaces it.

mm/entry-tracking-bit-dropped: an entry value rebuilt from scratch (mk_pte(),
pfn_pte(), swp_entry_to_pte(), swp_entry_to_pmd(), ...: the present pte
restored from a migration or swap entry, the migration entry that replaces a
present pte, the ptes a split PMD becomes, the new page of a COW) must get
the software bits of the entry it replaces again: soft-dirty (what
/proc/pid/pagemap reports as written since clear_refs) and uffd-wp (the
userfaultfd write protection).  Code that carries one of the pair and not the
other loses the other one silently: a uffd-wp protected page becomes
writable with no fault after migration or swap-in (Peter Xu's "uffd-wp bit
lost" fixes), or a written page stops reading as soft-dirty.

Decided from data flow, never from names of the patch's own:

- the carry: an added call setting bit B on a value N (soft-dirty-set,
  uffd-wp-set) under a condition made of the B test of another entry O
  (directly, or through a local assigned from the test);
- the rebuild: the definition of N that reaches the carry, followed back
  through calls that transform N itself, is made by entry-rebuild (so N does
  not keep O's bits by itself, as a value read back from the table would);
- the partner: on the same chain of N (from that definition to the next
  rebuild of N), in code that can run with the carry, no call handles the
  other bit (sets or clears it, or tests it), and no helper of the patch's
  own receives both the old entry and the new one (the helper may carry it:
  silent, since its body is not in view).

Two more findings on the same carries: a soft-dirty set of the other form than
the rebuilt value (pte_mksoft_dirty() on what swp_entry_to_pte() made; the
uffd-wp accessors are mm/uffd-wp-accessor-kind's), and the old entry tested
with the accessor of a form that a presence test before the carry lets
through (pte_soft_dirty() after a "!pte_present()" branch that goes on).

Release-aware: uffd-wp bits exist from 5.7 (the kernel the patch applies to
has them when the patch mentions any of their accessors, or when it is dated
after their merge and is not a backport to an older stable release);
hugetlb entries have no soft-dirty bit, so a hugetlb chain carrying uffd-wp
alone is correct; neither does a zero-page entry need one (never written);
fork and mprotect keep none when they re-make a device-private entry from its
own offset (left alone); a page made device-private without it is info.  A chain the patch shows in part (no install of N in view
after the carry) is info: the other bit may be set out of view.
"""

from __future__ import annotations

from datetime import datetime, timezone

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, Def, FunctionAnalysis, _leaves
from reviewkit.analysis.syntax import (call_args, call_name, literals, path_of, root_of,
                                      strip, text, walk)
from reviewkit.analysis.vocab import Vocabulary, vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, Severity, check

SOFT_DIRTY, UFFD_WP = "soft-dirty bit", "uffd-wp bit"

# "userfaultfd: wp: support swap and page migration" (f45ec5ff16a7) was merged
# for 5.7 on 2020-04-07: from then on every kernel a patch is written against
# has the uffd-wp bits of ptes, pmds and swap entries.
_UFFD_WP_MERGED = datetime(2020, 4, 7, tzinfo=timezone.utc)


def _bits(v: Vocabulary) -> dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]:
    """bit -> (its tests, its sets, every call that decides it on a value)."""
    sd_test, sd_set = v["soft-dirty-entry-test"], v["soft-dirty-set"]
    uw_test, uw_set = v["uffd-wp-carry-test"], v["uffd-wp-set"]
    return {
        SOFT_DIRTY: (sd_test, sd_set, sd_test | sd_set | v["soft-dirty-clear"]),
        UFFD_WP: (uw_test, uw_set, v.union("uffd-wp-carry-test", "uffd-wp-set", "uffd-wp-clear",
                                           "uffd-wp-entry-test", "uffd-wp-marker-install")),
    }


# -- what the kernel the patch applies to has -------------------------------------------------

def _older_stable(prefix: str) -> bool:
    """A subject prefix naming a stable release older than 5.7 ("[PATCH 5.4 12/40]")."""
    for word in prefix.replace("-", " ").replace(".y", "").split():
        parts = word.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            continue
        major, minor = int(parts[0]), int(parts[1])
        if 2 <= major <= 5 and (major, minor) < (5, 7):
            return True
    return False


def _uffd_wp_known(ctx: PatchContext, v: Vocabulary) -> Confidence | None:
    """How sure it is that the kernel the patch applies to has uffd-wp bits: HIGH when
    the patch itself shows one of their accessors, MEDIUM from its date alone, None
    when it predates them (or backports to a release without them)."""
    names = v.union("uffd-wp-carry-test", "uffd-wp-set", "uffd-wp-clear")
    for fd in ctx.patch.files:
        for h in fd.hunks:
            for ln in h.lines:
                if any(n in ln.text for n in names):
                    return Confidence.HIGH
    if any(_older_stable(x) for x in ctx.patch.subject.prefixes):
        return None
    date = ctx.patch.date
    if date is None:
        return Confidence.MEDIUM
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    return Confidence.MEDIUM if date >= _UFFD_WP_MERGED else None


# -- the data flow ---------------------------------------------------------------------------

def _exclusive(a: Node, b: Node) -> bool:
    """Whether ``a`` and ``b`` sit in different arms of one if/else or ?: (so, outside
    a loop, one never runs after the other)."""
    anc: set[tuple[int, int, str]] = set()
    n: Node | None = a
    while n is not None:
        anc.add((n.start_byte, n.end_byte, n.type))
        n = n.parent
    m: Node | None = b
    while m is not None and (m.start_byte, m.end_byte, m.type) not in anc:
        m = m.parent
    if m is None or m.type not in ("if_statement", "conditional_expression"):
        return False
    arms = [m.child_by_field_name("consequence"), m.child_by_field_name("alternative")]

    def arm(x: Node) -> int:
        for i, r in enumerate(arms):
            if r is not None and r.start_byte <= x.start_byte < r.end_byte:
                return i + 1
        return 0

    return arm(a) != 0 and arm(b) != 0 and arm(a) != arm(b)


def _tests_in(fa: FunctionAnalysis, cond: Node, tests: frozenset[str], depth: int = 0
              ) -> list[Node]:
    """The entries whose bit ``cond`` tests: arguments of ``tests`` calls in it, or in
    the values of the locals it reads (``soft_dirty = pmd_swp_soft_dirty(old)``)."""
    out: list[Node] = []
    for n in fa.walk(cond):
        name = call_name(n)
        if name in tests:
            args = call_args(n)
            if args:
                out.append(args[0])
        elif depth < 3 and n.type == "identifier" and (n.parent is None or call_name(
                n.parent) is None or n.parent.child_by_field_name("function") != n):
            p = path_of(n)
            if p is None:
                continue
            for d in fa.defs_of(p):
                if d.value is not None and d.kind in ("init", "assign"):
                    out.extend(_tests_in(fa, d.value, tests, depth + 1))
    return out


def _carried_from(fa: FunctionAnalysis, c: CallSite, tests: frozenset[str]) -> list[Node]:
    """The old entries whose bit decides that ``c`` runs (positive conditions only)."""
    out: list[Node] = []
    for g in fa.guards(c.node):
        if g.kind in ("loop", "case", "exit"):
            continue
        for lit in g.literals():
            if lit.polarity:
                out.extend(_tests_in(fa, lit.node, tests))
    return out


def _self_transform(value: Node, p: str, v: Vocabulary) -> bool:
    """``p = f(p, ...)`` for a kernel accessor f: the value keeps what ``p`` held."""
    e = strip(value)
    if e.type == "conditional_expression":
        return all(_self_transform(x, p, v) for x in (
            e.child_by_field_name("consequence"), e.child_by_field_name("alternative"))
            if x is not None)
    if path_of(e) == p:
        return True
    name = call_name(e)
    args = call_args(e) if name else ()
    return bool(args) and name in _keep_kind(v) and _self_transform(args[0], p, v)


def _keep_kind(v: Vocabulary) -> frozenset[str]:
    """Accessors that return their entry argument changed, of the same kind."""
    return v.union("entry-keep-kind", "entry-transform", "entry-mkdirty", "entry-mkwrite",
                   "entry-wrprotect", "soft-dirty-set", "soft-dirty-clear", "uffd-wp-set",
                   "uffd-wp-clear", "hugetlb-entry-api", "zero-page-entry")


def _rebuild(fa: FunctionAnalysis, c: CallSite, p: str, v: Vocabulary) -> Def | None:
    """The definition that rebuilds ``p`` from scratch and reaches the carry ``c``,
    followed back through transforms of ``p`` itself; None when the value is not
    rebuilt here (read from the table, a parameter, out of view)."""
    make = v["entry-rebuild"]
    before = [d for d in fa.defs_of(p) if d.node.end_byte <= c.node.start_byte
              and not _exclusive(d.node, c.node)]
    found: Def | None = None
    for d in reversed(before):
        if d.value is None or d.kind not in ("init", "assign"):
            return None
        if any(call_name(n) in make for n in fa.walk(d.value)):
            if found is None:
                found = d
            if _block_encloses(d.node, c.node):
                return found  # every path to the carry rebuilds the value
            continue  # a rebuild on some paths: what reaches on the others?
        if not _self_transform(d.value, p, v):
            return None
    return None


def _lands(c: CallSite, paths: set[str], v: Vocabulary) -> bool:
    """Whether what ``c`` returns becomes the value again (``p = f(p)``, through
    nested accessors and ?:) or is installed: a set used only in a test (a
    self-test's ``WARN_ON(!pte_swp_soft_dirty(pte_swp_mksoft_dirty(pte)))``)
    changes no entry."""
    n: Node = c.node
    while n.parent is not None:
        parent = n.parent
        if parent.type in ("argument_list", "parenthesized_expression", "conditional_expression"):
            n = parent
            continue
        if parent.type == "call_expression":
            name = call_name(parent)
            if name in v["entry-set"]:
                return True
            if name in _keep_kind(v):
                n = parent
                continue
            return False
        if parent.type == "assignment_expression":
            return path_of(parent.child_by_field_name("left")) in paths
        if parent.type == "init_declarator":
            d = parent.child_by_field_name("declarator")
            return d is not None and text(d) in paths
        return False
    return False


def _block_encloses(def_node: Node, node: Node) -> bool:
    """Whether the definition runs on every path to ``node``: the block its statement
    sits in also holds ``node``, with no condition between."""
    n: Node | None = def_node
    while n is not None and n.type != "compound_statement":
        if n.type in ("if_statement", "while_statement", "for_statement", "do_statement",
                      "switch_statement", "conditional_expression", "case_statement"):
            return False
        n = n.parent
    return n is not None and n.start_byte <= node.start_byte < n.end_byte


def _window(fa: FunctionAnalysis, d0: Def, c: CallSite, p: str, v: Vocabulary
            ) -> tuple[int, int]:
    """The bytes of the chain of ``p`` that starts at ``d0``: up to its next rebuild on
    a path the carry ``c`` is on."""
    make = v["entry-rebuild"]
    end = fa.node.end_byte
    for d in fa.defs_of(p):
        if d.node.start_byte > c.node.end_byte and d.value is not None and not _exclusive(
                d.node, c.node) and any(call_name(n) in make for n in fa.walk(d.value)):
            end = d.node.start_byte
            break
    return d0.node.start_byte, end


def _mentions_root(node: Node, roots: set[str]) -> bool:
    return any(n.type == "identifier" and text(n) in roots for n in walk(node))


def _installs(fa: FunctionAnalysis, c: CallSite, span: tuple[int, int], paths: set[str],
              v: Vocabulary) -> list[CallSite]:
    """Installs of the value after the carry, within its chain."""
    out = []
    for s in fa.calls_to(v["entry-set"]):
        if not (c.node.end_byte <= s.node.start_byte < span[1]) or _exclusive(s.node, c.node):
            continue
        if any(path_of(a) in paths for a in s.args):
            out.append(s)
    return out


@check("mm/entry-tracking-bit-dropped")
def tracking_bit_dropped(ctx: PatchContext):
    v = vocab()
    bits = _bits(v)
    sets = bits[SOFT_DIRTY][1] | bits[UFFD_WP][1]
    hugetlb = v["hugetlb-entry-api"]
    zero = v["zero-page-entry"]
    device = v["device-private-entry-make"]
    uffd_conf: Confidence | None | str = "unknown"
    for fc, f in ctx.with_post():
        fa = of(f, mentions=sets)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added if ln.new_no is not None}
        seen: set[tuple[int, str]] = set()
        yield from _soft_dirty_form(ctx, fc, f, fa, added, v)
        yield from _test_form(fc, f, fa, added, v, bits)
        for bit, other in ((SOFT_DIRTY, UFFD_WP), (UFFD_WP, SOFT_DIRTY)):
            tests, bit_sets, _ = bits[bit]
            other_all = bits[other][2]
            for c in fa.calls_to(bit_sets):
                if c.line not in added or not c.args:
                    continue
                p = path_of(c.args[0])
                if p is None:
                    continue
                paths = {p}  # the value itself (a copy of it may be the old entry)
                if not _lands(c, paths, v):
                    continue
                olds = _carried_from(fa, c, tests)
                olds = [o for o in olds if path_of(o) not in paths]
                if not olds:
                    continue
                d0 = _rebuild(fa, c, p, v)
                if d0 is None:
                    continue
                span = _window(fa, d0, c, p, v)
                roots = {root_of(q) for o in olds for q in [path_of(o)] if q is not None}
                roots.discard("")
                partner = False
                in_chain: list[CallSite] = []
                for k in fa.calls:
                    if not (span[0] <= k.node.start_byte < span[1]) or _exclusive(k.node, c.node):
                        continue
                    in_chain.append(k)
                    if k.name in other_all:
                        partner = True
                        break
                    if not v.is_api(k.name) and any(path_of(a) in paths for a in k.args) and \
                            any(_mentions_root(a, roots) for a in k.args):
                        partner = True  # a helper given old and new entry: it may carry it
                        break
                if partner:
                    continue
                installs = _installs(fa, c, span, paths, v)
                if other == SOFT_DIRTY:
                    # hugetlb entries have no soft-dirty bit
                    if c.name in hugetlb or (installs and all(s.name in hugetlb for s in installs)):
                        continue
                    if any(k.name in hugetlb for o in olds for k in _calls_in_origins(fa, o)):
                        continue
                    if any(k.name in hugetlb for k in in_chain if k.node.end_byte <= c.node.start_byte):
                        continue
                conf: Confidence = Confidence.HIGH
                severity: Severity | None = None
                if other == UFFD_WP:
                    if uffd_conf == "unknown":
                        uffd_conf = _uffd_wp_known(ctx, v)
                    if not isinstance(uffd_conf, Confidence):
                        continue
                    conf = uffd_conf
                elif _made_with(fa, d0, in_chain, c, zero):
                    continue  # the zero page records no write of its own
                elif _made_with(fa, d0, in_chain, c, device):
                    # device memory: fork and mprotect keep no soft-dirty when they
                    # re-make a device-private entry from its own offset (read-only for
                    # COW), on purpose; a page made device-private is worth a word
                    if _made_with(fa, d0, in_chain, c, v["swap-entry-offset"]):
                        continue
                    severity, conf = Severity.INFO, Confidence.LOW
                closed = fa.complete or (bool(installs) and not _gap_between(
                    fa, d0.line, installs[0].line))
                key = (c.line, other)
                if key in seen:
                    continue
                seen.add(key)
                old = olds[0]
                made = call_name(_make_call(d0, v)) or "a rebuild"
                detail = (f"carries the {bit} of `{text(old)}` into `{p}` ({c.name}()), "
                          f"but `{p}` is rebuilt by {made}() and nothing on its way to the page "
                          f"table carries the {other} of the entry it replaces: that state is "
                          f"lost when the entry changes form. Carry it the same way: "
                          f"{_suggest(v, other, old, made in v['swap-entry-make'])}.")
                yield Hit(line=c.line, path=fc.path, function=f.name,
                          args={"func": f.name, "detail": detail},
                          confidence=conf if closed else Confidence.LOW,
                          severity=severity, absence=not closed)


def _calls_in_origins(fa: FunctionAnalysis, expr: Node) -> list[CallSite]:
    """The kernel calls the definitions of ``expr`` are made with (``huge_ptep_get()``)."""
    out = []
    p = path_of(expr)
    keys = set()
    if p is not None:
        for d in fa.defs_of(root_of(p)) + fa.defs_of(p):
            if d.value is not None:
                keys |= {(n.start_byte, n.end_byte) for n in fa.walk(d.value)
                         if n.type == "call_expression"}
    for k in fa.calls:
        if (k.node.start_byte, k.node.end_byte) in keys:
            out.append(k)
    return out


def _made_with(fa: FunctionAnalysis, d0: Def, chain: list[CallSite], c: CallSite,
               names: frozenset[str]) -> bool:
    """Whether the rebuilt value is made with one of ``names``: in its rebuild, in
    the chain before the carry, or in what the rebuild's arguments were made of
    (the swap entry a device-private entry is made into)."""
    if any(call_name(n) in names for n in fa.walk(d0.node)):
        return True
    if any(k.name in names for k in chain if k.node.end_byte <= c.node.start_byte):
        return True
    if d0.value is None:
        return False
    for n in fa.walk(d0.value):
        p = path_of(n) if n.type in ("identifier", "field_expression") else None
        if p is None:
            continue
        for d in fa.defs_before(p, d0.node):
            if d.node.start_byte < d0.node.start_byte and any(
                    call_name(m) in names for m in fa.walk(d.node)):
                return True
    return False


def _make_call(d0: Def, v: Vocabulary) -> Node:
    make = v["entry-rebuild"]
    for n in walk(d0.value) if d0.value is not None else ():
        if call_name(n) in make:
            return n
    return d0.node


def _gap_between(fa: FunctionAnalysis, a: int, b: int) -> bool:
    return any(a <= fa.line(g) <= b for g in fa.gaps)


def _suggest(v: Vocabulary, other: str, old: Node, new_swp: bool) -> str:
    """The accessors that carry ``other`` the way ``carried`` carries its bit: the
    test of the old entry's form, the set of the new entry's form."""
    # the old entry's form: a swap entry when the carried bit is tested with a swp accessor
    test_names = v["uffd-wp-carry-test"] if other == UFFD_WP else v["soft-dirty-entry-test"]
    set_names = v["uffd-wp-set"] if other == UFFD_WP else v["soft-dirty-set"]
    tested = ""
    n: Node | None = old.parent
    while n is not None and call_name(n) is None:
        n = n.parent
    if n is not None:
        tested = call_name(n) or ""
    old_swp = "_swp_" in tested
    level = tested.split("_")[0] or "pte"
    t = next((x for x in sorted(test_names) if x.split("_")[0] == level
              and ("_swp_" in x) == old_swp and not x.endswith("any")), None)
    s = next((x for x in sorted(set_names) if x.split("_")[0] == level
              and ("_swp_" in x) == new_swp), None)
    if t is None or s is None:
        return f"the accessors of the {other} of the two entries' forms"
    return f"{t}() on the old entry and {s}() on the new one"


def _soft_dirty_form(ctx: PatchContext, fc, f, fa: FunctionAnalysis, added: set[int],
                     v: Vocabulary):
    """An added soft-dirty set of the other entry form than the value it is given:
    pte_mksoft_dirty() on what swp_entry_to_pte() made, pte_swp_mksoft_dirty() on what
    mk_pte() made.  The bit lands where the other form keeps something else (the
    swap offset, a hardware bit).  (The uffd-wp accessors: mm/uffd-wp-accessor-kind.)"""
    swap_make = v["swap-entry-make"]
    for c in fa.calls_to(v["soft-dirty-set"]):
        if c.line not in added or not c.args:
            continue
        p = path_of(c.args[0])
        if p is None:
            continue
        if not _lands(c, {p}, v):
            continue
        d0 = _rebuild(fa, c, p, v)
        if d0 is None or _gap_between(fa, d0.line, c.line):
            continue  # not rebuilt here, or unseen code between may rebuild it again
        made = call_name(_make_call(d0, v))
        if made is None or made == "make_pte_marker":
            continue
        value_swp = made in swap_make
        if ("_swp_" in c.name) == value_swp:
            continue
        form = "a swap entry" if value_swp else "a present entry"
        want = "the swap-entry accessors" if value_swp else "the present-entry accessors"
        detail = (f"sets soft-dirty on `{p}` with {c.name}(), but `{p}` is {form} here (made by "
                  f"{made}()); the soft-dirty bit of {form} is kept elsewhere, so this sets a "
                  f"bit the entry uses for something else and the soft-dirty state is lost: "
                  f"use {want}.")
        yield Hit(line=c.line, path=fc.path, function=f.name,
                  args={"func": f.name, "detail": detail}, confidence=Confidence.HIGH)


# -- the old entry tested with the accessor of the other form ----------------------------------

def _presence(fa: FunctionAnalysis, cond: Node, p: str, v: Vocabulary) -> bool | None:
    """True/False when ``cond`` is exactly "``p`` is present" / "``p`` is a swap entry"
    (pte_present(p), is_swap_pte(p), negated or not); None otherwise."""
    lits = literals(cond)
    if len(lits) != 1 or not lits[0].necessary:
        return None
    lit = lits[0]
    name = call_name(strip(lit.node))
    args = call_args(strip(lit.node)) if name else ()
    if not args or path_of(args[0]) != p:
        return None
    if name in v["present-test"]:
        return lit.polarity
    if name in v["swap-test"]:
        return not lit.polarity
    return None


def _kinds_at(fa: FunctionAnalysis, t: Node, p: str, v: Vocabulary) -> set[bool]:
    """Whether ``p`` can be present (True) or a swap entry (False) where ``t`` reads it,
    as the presence tests before it say; empty when nothing says."""
    for g in fa.guards(t):
        if g.kind in ("if", "else", "exit", "and", "or", "ternary"):
            k = _presence(fa, g.cond, p, v)
            if k is not None:
                return {k if g.polarity else not k}
    kinds: set[bool] = set()
    later = [d for d in fa.defs_of(p) if d.node.start_byte < t.start_byte]
    for n in fa.walk(fa.node):
        if n.type != "if_statement" or n.end_byte > t.start_byte:
            continue
        cond = n.child_by_field_name("condition")
        k = _presence(fa, cond, p, v) if cond is not None else None
        if k is None or any(d.node.start_byte > n.end_byte for d in later):
            continue  # not a presence test of the value, or the value changes after it
        then, alt = n.child_by_field_name("consequence"), n.child_by_field_name("alternative")
        if then is not None and not _leaves(then):
            kinds.add(k)
        if alt is None or not _leaves(alt):
            kinds.add(not k)
    return kinds


def _test_form(fc, f, fa: FunctionAnalysis, added: set[int], v: Vocabulary, bits):
    """An added test of the old entry's bit, carried into a rebuilt entry, with the
    accessor of the form the old entry does not have on some path: pte_soft_dirty() or
    pte_uffd_wp() of what a "!pte_present()" branch lets through, pte_swp_*() of a
    present one (Alistair Popple, "mm/rmap: Fixup copying of soft dirty and uffd ptes")."""
    seen: set[int] = set()
    for bit in (SOFT_DIRTY, UFFD_WP):
        tests, bit_sets, _ = bits[bit]
        for c in fa.calls_to(bit_sets):
            if not c.args:
                continue
            p = path_of(c.args[0])
            if p is None or not _lands(c, {p}, v) or _rebuild(fa, c, p, v) is None:
                continue
            for o in _carried_from(fa, c, tests):
                t = o.parent.parent if o.parent is not None else None
                name = call_name(t) if t is not None else None
                q = path_of(o)
                if t is None or name is None or q is None or q == p:
                    continue
                line = fa.line(t)
                if line in seen or (line not in added and c.line not in added):
                    continue
                if name.startswith("huge"):
                    continue
                kinds = _kinds_at(fa, t, q, v)
                swp_form = "_swp_" in name
                if (swp_form and True in kinds) or (not swp_form and False in kinds):
                    seen.add(line)
                    form = "a present entry" if swp_form else "a swap (non-present) entry"
                    detail = (f"tests `{q}` with {name}(), the accessor of "
                              f"{'a swap' if swp_form else 'a present'} entry, but `{q}` can "
                              f"be {form} here (the presence test before says so): the bit "
                              f"is read from the wrong place and the state carried into "
                              f"`{p}` is wrong. Test each form with its own accessor.")
                    yield Hit(line=line, path=fc.path, function=f.name,
                              args={"func": f.name, "detail": detail},
                              confidence=Confidence.MEDIUM if fa.context_unseen(t)
                              else Confidence.HIGH)
