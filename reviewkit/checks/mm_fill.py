"""Pages the kernel fills before it maps them, and the fill paths' race with
truncation.

A page that userfaultfd's copy/zeropage/continue, a shmem fill or a new-page
fault hands to user space is written by the kernel first.  Three orders keep
that safe, and reviewers check each (Documentation/core-api/cachetlb.rst,
the comments above __SetPageUptodate() in mm/userfaultfd.c and mm/memory.c):

- mm/fill-no-flush-dcache: contents written through a kernel mapping
  (copy_from_user() into kmap_local_page() memory, memcpy(), copy_highpage(),
  folio_copy()) reach the install of that page with no flush_dcache_page()/
  flush_dcache_folio() in between; on a virtually indexed D-cache the user
  mapping then sees stale lines.  The user-address helpers
  (copy_user_highpage(), clear_user_highpage(), copy_huge_page_from_user()...)
  flush themselves.
- mm/fill-mapped-before-uptodate: a path from the write of the contents to the
  install that meets no __SetPageUptodate()/__folio_mark_uptodate(), whose
  barrier orders the contents before the page-table entry.
- mm/fill-maps-unwritten-page: a page allocated for a user address without
  clearing, whose only writer on the way to user space is a helper one of
  whose definitions (a configuration stub) is empty.
- mm/fill-cache-page-left-clean: a page the function fills and inserts into
  the page cache, mapped with neither the page nor (unconditionally) the
  entry dirty, so reclaim may drop the only copy of the data.
- mm/fill-install-no-isize-recheck: a page-cache page installed by
  set_pte_at()/do_set_pte() after the page-table lock is taken, with no
  i_size re-check after that lock (truncation serializes on that lock; the
  fault path is safe by keeping the page locked from the lookup instead).

Decided on the control-flow graph: the order of vocabulary calls on each path,
and the data flow of the page (or its folio, its kernel address, the entry
made from it) from the allocation or lookup to the install.  Helpers are seen
through their summaries; kernel API names come from rules/mm/_vocab.yaml.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.function import CallSite, FunctionAnalysis, Stmt
from reviewkit.analysis.summary import Summaries
from reviewkit.analysis.syntax import assigned_to, call_args, call_name, path_of, strip, text, walk
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import FunctionChange, PatchContext
from reviewkit.engine.registry import Confidence, Hit, check

_MAX_STEPS = 5000
_VALUE_ARG = 3  # set_pte_at(mm, addr, ptep, pte) and the rest of entry-set: the value from here on


# -- the page and what it is called -----------------------------------------------------------

def _page_path(arg: Node | None) -> str | None:
    """The page or folio an argument names: ``page``, ``&folio->page``, ``*pagep``."""
    if arg is None:
        return None
    a = strip(arg)
    if a.type == "pointer_expression" and text(a.child_by_field_name("operator")) == "&":
        inner = a.child_by_field_name("argument")
        a = strip(inner) if inner is not None else a
    if a.type == "call_expression" and call_name(a) in vocab()["page-folio-convert"]:
        args = call_args(a)
        return _page_path(args[0]) if args else None
    return path_of(a)


def _related(p: str, fam: set[str]) -> bool:
    """``p`` names a member of the family, something inside one, or what holds one
    (``vmf`` holding ``vmf->cow_page``)."""
    if p in fam:
        return True
    return any(p.startswith(f + "->") or p.startswith(f + ".") or f.startswith(p + "->")
               or f.startswith(p + ".") for f in fam)


def _family(fa: FunctionAnalysis, path: str, after: Node | None = None) -> set[str]:
    """The paths that name the same memory: copies, and the page/folio conversions
    (``folio = page_folio(page)``, ``page = &folio->page``).  With ``after``, only
    the copies made from the page after that point (a value just allocated)."""

    def copies(p: str) -> set[str]:
        if after is None:
            return set(fa.aliases(p)) | {p}
        out = {p}
        for q, ds in fa.defs.items():
            for d in ds:
                if d.value is not None and d.kind in ("init", "assign") and \
                        d.node.start_byte > after.start_byte and path_of(d.value) == p:
                    out.add(q)
        return out

    fam = copies(path)
    changed = True
    while changed:
        changed = False
        for p, ds in fa.defs.items():
            for d in ds:
                if d.value is None or d.kind not in ("init", "assign"):
                    continue
                if after is not None and d.node.start_byte <= after.start_byte:
                    continue
                v = strip(d.value)
                conv = v.type == "call_expression" and call_name(v) in vocab()["page-folio-convert"]
                addr = v.type == "pointer_expression" and text(
                    v.child_by_field_name("operator")) == "&"
                if not (conv or addr):
                    continue
                inner = _page_path(v)
                if inner is None:
                    continue
                inner_in = _related(inner, fam)
                if inner_in and p not in fam:
                    fam |= copies(p)
                    changed = True
                elif p in fam and not inner_in and after is None:
                    fam |= copies(inner)
                    changed = True
    return fam


def _top_paths(node: Node) -> Iterator[str]:
    """The field paths an expression reads (``vmf->cow_page``, not also ``vmf``)."""
    for n in walk(node):
        if n.type not in ("identifier", "field_expression"):
            continue
        parent = n.parent
        if parent is not None and parent.type == "field_expression" and \
                parent.child_by_field_name("argument") == n:
            continue
        if parent is not None and parent.type == "call_expression" and \
                parent.child_by_field_name("function") == n:
            continue
        p = path_of(n)
        if p is not None:
            yield p


def _mentions(node: Node | None, fam: set[str]) -> bool:
    return node is not None and any(_related(p, fam) for p in _top_paths(node))


def _value_of_page(fa: FunctionAnalysis, node: Node, fam: set[str]) -> bool:
    """The value is made of the page: directly, or through the entry built from it."""
    if _mentions(node, fam):
        return True
    return any(_mentions(o, fam) for o in fa.origins(node))


# -- statements: what each one does to the page --------------------------------------------

def _where(s: Stmt) -> Node | None:
    """What a statement evaluates: the condition of a cond, the statement otherwise."""
    return s.expr if s.kind == "cond" else (s.node if s.node is not None else s.expr)


def _calls(node: Node | None) -> list[Node]:
    return [n for n in walk(node) if n.type == "call_expression"] if node is not None else []


@dataclass(frozen=True)
class _Facts:
    fa: FunctionAnalysis
    summaries: Summaries | None

    def reaches(self, name: str, api: frozenset[str]) -> bool:
        return name in api or (self.summaries is not None and not vocab().is_api(name)
                               and self.summaries.reaches(name, api))

    def installs(self, s: Stmt, fam: set[str]) -> Node | None:
        """The call in ``s`` that puts the page into a user page table, if any."""
        v = vocab()
        direct = v["page-install"]
        entries = v["entry-set"]
        for c in _calls(_where(s)):
            name = call_name(c)
            if name is None:
                continue
            args = call_args(c)
            if name in entries:
                if any(_value_of_page(self.fa, a, fam) for a in args[_VALUE_ARG:]):
                    return c
            elif name in direct or self.reaches(name, direct | entries):
                if any(_mentions(a, fam) or (
                        name in direct and _value_of_page(self.fa, a, fam)) for a in args):
                    return c
        return None

    def calls_any(self, s: Stmt, api: frozenset[str]) -> bool:
        return any(self.reaches(call_name(c) or "", api) for c in _calls(_where(s)))

    def redefines(self, s: Stmt, fam: set[str]) -> bool:
        """``s`` gives the page's name a new value (a new allocation, NULL)."""
        node = _where(s)
        if node is None:
            return False
        for n in walk(node):
            if n.type == "assignment_expression" and text(
                    n.child_by_field_name("operator")) == "=":
                left = path_of(n.child_by_field_name("left"))
                if left is not None and left in fam:
                    return True
        return False


def _search(fa: FunctionAnalysis, start: Stmt, stop: Callable[[Stmt], bool],
            goal: Callable[[Stmt], bool]) -> tuple[list[Stmt] | None, bool]:
    """A path from ``start`` to a statement where ``goal`` holds that meets no
    statement where ``stop`` holds (a statement doing both, such as a helper
    that marks the page and installs it, stops); and whether a path reached the end of what a
    partial function shows on the way."""
    todo: list[tuple[Stmt, list[Stmt]]] = [(fa.cfg[i], [start]) for i in start.succ]
    seen: set[int] = set()
    steps = 0
    unseen = False
    while todo and steps < _MAX_STEPS:
        steps += 1
        s, path = todo.pop()
        if s.id in seen:
            continue
        seen.add(s.id)
        if s.kind == "end":
            unseen = True
            continue
        if s.kind == "exit":
            continue
        if stop(s):
            continue
        if goal(s):
            return path + [s], unseen
        for nxt in s.succ:
            todo.append((fa.cfg[nxt], path + [s]))
    return None, unseen


# -- the writes of a page's contents --------------------------------------------------------

@dataclass(frozen=True)
class _Write:
    call: CallSite
    page: str  # the page or folio written
    flushes: bool  # the writer takes care of the D-cache itself


def _writes(fa: FunctionAnalysis, summaries: Summaries | None) -> Iterator[_Write]:
    v = vocab()
    kmaps, raw = v["kernel-map"], v["kernel-write"]
    unflushed, fills = v["page-write-unflushed"], v["page-fill"]
    zeroed = v["page-alloc-zeroed"]
    helpers = v.union("kernel-write", "page-write-unflushed", "page-fill")
    for c in fa.calls:
        if c.name in raw and c.args:
            # the destination's kernel address, from a kmap of the page
            for o in [c.args[0], *fa.origins(c.args[0])]:
                for n in fa.walk(o):
                    if n.type == "call_expression" and call_name(n) in kmaps:
                        page = _page_path(call_args(n)[0]) if call_args(n) else None
                        if page is not None:
                            yield _Write(c, page, False)
                            break
                else:
                    continue
                break
        elif c.name in unflushed or c.name in fills:
            page = _page_path(c.args[0]) if c.args else None
            if page is not None:
                yield _Write(c, page, c.name in fills)
        elif c.name in zeroed:
            page = assigned_to(c.node)
            if page is not None:
                yield _Write(c, page, True)
        elif not v.is_api(c.name) and summaries is not None and \
                summaries.reaches(c.name, helpers) and \
                not summaries.reaches(c.name, v.union("entry-set", "page-install")):
            # a helper that writes what it is given (the first page-typed argument)
            # and leaves the mapping to its caller
            for a in c.args:
                page = _page_path(a)
                t = fa.type_of(page.split("->")[0]) if page else None
                if page is not None and t is not None and (
                        "struct page" in t or "struct folio" in t) and "->" not in page:
                    yield _Write(c, page, True)
                    break


# -- what the patch changed ------------------------------------------------------------------

@dataclass
class _Changed:
    fc: FunctionChange
    fa: FunctionAnalysis
    added: set[int]
    removed_calls: set[str]  # kernel API calls on lines the patch removed from the function
    facts: _Facts

    def touches(self, lines: set[int], removed_api: frozenset[str]) -> bool:
        return bool(lines & self.added) or bool(self.removed_calls & removed_api)


def _changed(ctx: PatchContext, *needs) -> Iterator[_Changed]:
    """The changed functions, each with what the patch did to it.  ``needs``: sets
    of names the function must mention one of (each), or functions of the file's
    image giving such a set (None: no condition); the others are never parsed."""
    v = vocab()
    for fc, f in ctx.with_post():
        img = next((fch.post for fch in ctx.files if fch.path == fc.path), None)
        if any(names is not None and not f.mentions(names)
               for need in needs for names in [need(img) if callable(need) else need]):
            continue
        fa = of(f)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added if ln.new_no is not None}
        removed: set[str] = set()
        pre = of(fc.pre) if fc.pre is not None else None
        if pre is not None and fc.removed:
            gone = {ln.old_no for ln in fc.removed}
            removed = {c.name for c in pre.calls if c.line in gone and v.is_api(c.name)}
        if not added and not removed:
            continue
        summaries = img.summaries if img is not None else None
        yield _Changed(fc, fa, added, removed, _Facts(fa, summaries))


def _writers(img) -> frozenset[str] | None:
    """What a function that writes a page's contents calls: a writer of the
    vocabulary, or (diff-only) a helper the file's image defines, which may be one;
    across files (tree mode) any name may be one."""
    if img is None or img.world is not None:
        return None
    v = vocab()
    return v.union("kernel-write", "page-write-unflushed", "page-fill", "page-alloc-zeroed") | {
        g.name for g in img.functions}


def _confidence(fa: FunctionAnalysis, *nodes: Node) -> Confidence | None:
    if any(fa.context_unseen(n) for n in nodes):
        return Confidence.LOW
    return None if fa.complete else Confidence.MEDIUM


# -- mm/fill-no-flush-dcache -----------------------------------------------------------------

@check("mm/fill-no-flush-dcache")
def fill_no_flush_dcache(ctx: PatchContext):
    v = vocab()
    flush = v["flush-dcache"]
    # a write it reports calls a raw writer itself (a helper's write flushes)
    for ch in _changed(ctx, v.union("kernel-write", "page-write-unflushed")):
        fa, facts = ch.fa, ch.facts
        reported: set[int] = set()
        for w in _writes(fa, facts.summaries):
            if w.flushes or w.call.line in reported:
                continue
            s0 = fa.cfg_node(w.call.node)
            if s0 is None:
                continue
            fam = _family(fa, w.page)
            if facts.calls_any(s0, flush):
                continue
            path, _ = _search(fa, s0, stop=lambda s: facts.calls_any(s, flush)
                              or facts.redefines(s, fam),
                              goal=lambda s: facts.installs(s, fam) is not None)
            if path is None:
                continue
            inst = facts.installs(path[-1], fam)
            lines = {st.line for st in path if st.node is not None}
            if not ch.touches(lines, flush):
                continue
            reported.add(w.call.line)
            yield Hit(line=w.call.line, path=ch.fc.path, function=fa.name,
                      args={"func": fa.name, "write": w.call.name, "page": w.page,
                            "install": call_name(inst) if inst is not None else "the install",
                            "install_line": fa.line(inst) if inst is not None else path[-1].line},
                      confidence=_confidence(fa, w.call.node),
                      absence=True)


# -- mm/fill-mapped-before-uptodate ------------------------------------------------------------

@check("mm/fill-mapped-before-uptodate")
def fill_mapped_before_uptodate(ctx: PatchContext):
    v = vocab()
    uptodate = v["mark-uptodate"]
    for ch in _changed(ctx, _writers):
        fa, facts = ch.fa, ch.facts
        reported: set[int] = set()
        for w in _writes(fa, facts.summaries):
            s0 = fa.cfg_node(w.call.node)
            if s0 is None or facts.calls_any(s0, uptodate):
                continue
            fam = _family(fa, w.page)
            path, _ = _search(fa, s0, stop=lambda s: facts.calls_any(s, uptodate)
                              or facts.redefines(s, fam),
                              goal=lambda s: facts.installs(s, fam) is not None)
            if path is None:
                continue
            inst = facts.installs(path[-1], fam)
            if inst is None or fa.line(inst) in reported:
                continue
            lines = {st.line for st in path if st.node is not None}
            if not ch.touches(lines, uptodate):
                continue
            reported.add(fa.line(inst))
            yield Hit(line=fa.line(inst), path=ch.fc.path, function=fa.name,
                      args={"func": fa.name, "write": w.call.name, "write_line": w.call.line,
                            "page": w.page, "install": call_name(inst)},
                      confidence=_confidence(fa, inst, w.call.node),
                      absence=True)


# -- mm/fill-maps-unwritten-page -----------------------------------------------------------------

def _empty_definitions(ctx: PatchContext, name: str) -> list[tuple[str, int]]:
    """Definitions of ``name`` the patch shows whole whose body is empty."""
    out = []
    for fch in ctx.files:
        img = fch.post
        if img is None:
            continue
        for d in img.local_named(name):
            fa = of(d)
            if fa is None or not d.complete or fa.body is None:
                continue
            if fa.line(fa.body) in fa.synthetic_lines or \
                    fa.body.end_point[0] + fa.base in fa.synthetic_lines:
                continue
            if any(c.type != "comment" for c in fa.body.named_children):
                continue
            out.append((fch.path, fa.line(fa.node)))
    return out


def _zeroing_flag(call: CallSite) -> bool:
    return any(n.type == "identifier" and text(n) == "__GFP_ZERO"
               for a in call.args for n in walk(a))


@check("mm/fill-maps-unwritten-page")
def fill_maps_unwritten_page(ctx: PatchContext):
    v = vocab()
    writers = v.union("kernel-map", "kernel-write", "page-write-unflushed", "page-fill")
    for ch in _changed(ctx, v["page-alloc-user"]):
        fa, facts = ch.fa, ch.facts
        for alloc in fa.calls_to(v["page-alloc-user"]):
            page = assigned_to(alloc.node)
            if page is None or _zeroing_flag(alloc):
                continue
            fam = _family(fa, page, after=alloc.node)
            own = {page}
            stubs: list[tuple[CallSite, tuple[str, int]]] = []
            written = False
            installed = None
            unseen = False
            for s in fa.reachable(alloc.node, until=lambda s: facts.redefines(s, own)):
                if s.kind == "end":
                    unseen = True
                if facts.redefines(s, own):
                    continue
                for c in _calls(_where(s)):
                    name = call_name(c)
                    if name is None or not any(_mentions(a, fam) for a in call_args(c)):
                        continue
                    if facts.reaches(name, writers):
                        written = True
                    elif not v.is_api(name):
                        empty = _empty_definitions(ctx, name)
                        if empty:
                            stubs.append((next(x for x in fa.calls if x.node == c), empty[0]))
                        elif facts.summaries is None or not facts.summaries.known(name):
                            written = True  # a helper nothing shows: it may write the page
                if installed is None and facts.installs(s, fam) is not None:
                    installed = s
            if written or not stubs or (installed is None and not unseen):
                continue
            for call, (where, line) in stubs:
                if call.line not in ch.added and alloc.line not in ch.added:
                    continue
                conf = _confidence(fa, call.node)
                if installed is None and conf is None:
                    conf = Confidence.MEDIUM
                yield Hit(line=call.line, path=ch.fc.path, function=fa.name,
                          args={"func": fa.name, "helper": call.name, "page": page,
                                "alloc": alloc.name, "stub": f"{where}:{line}"},
                          confidence=conf)


# -- mm/fill-install-no-isize-recheck ----------------------------------------------------------

def _entry_page(fa: FunctionAnalysis, install: Node) -> str | None:
    """The page an install maps: the page argument of the entry-make call its
    value is built from, or the page argument of a page-install call."""
    v = vocab()
    name = call_name(install)
    args = call_args(install)
    if name in v["page-install"]:
        return _page_arg(fa, args[1:2] or args)
    for a in args[_VALUE_ARG:]:
        for o in [a, *fa.origins(a)]:
            for n in fa.walk(o):
                if n.type == "call_expression" and call_name(n) in v["entry-make"]:
                    page = _page_arg(fa, call_args(n))
                    if page is not None:
                        return page
    return None


def _page_arg(fa: FunctionAnalysis, args) -> str | None:
    """The argument that is a page or folio (by its declared type; else the only
    argument that is a plain name or an address of a field)."""
    found = None
    for a in args:
        p = _page_path(a)
        if p is None:
            continue
        root = p.split("->")[0].split(".")[0].lstrip("*")
        t = fa.type_of(root) or ""
        if "struct page" in t or "struct folio" in t:
            return p
        if found is None and not t:
            found = p
    return found


def _pagecache(fa: FunctionAnalysis, fam: set[str], facts: _Facts) -> tuple[str, Node] | None:
    """How the page is known to be a page-cache page: looked up there (``lookup``,
    locked by the lookup), put there by this function (``added``), or tested for
    a mapping (``tested``); with the call that says so."""
    v = vocab()
    locked = v["pagecache-lookup-locked"]
    for c in fa.calls:
        if c.name in locked:
            out = assigned_to(c.node)
            if (out is not None and _related(out, fam)) or any(
                    _mentions(a, fam) for a in c.args[1:]):
                return "lookup", c.node
    for c in fa.calls_to(v["pagecache-add"]):
        if any(_mentions(a, fam) for a in c.args):
            return "added", c.node
    for c in fa.calls_to(v["pagecache-test"]):
        if any(_mentions(a, fam) for a in c.args):
            return "tested", c.node
    return None


def _size_check(s: Stmt, facts: _Facts) -> bool | None:
    """Whether ``s`` reads the file size (i_size_read(), or a helper that does):
    True; None when it calls a helper nothing shows that is given the VMA or the
    inode, which may (the check moved into a helper out of view)."""
    size = vocab()["size-read"]
    fa = facts.fa
    node = _where(s)
    if node is None:
        return False
    maybe = False
    for c in _calls(node):
        name = call_name(c)
        if name is None:
            continue
        if facts.reaches(name, size):
            return True
        if s.kind == "cond" and not vocab().is_api(name) and (
                facts.summaries is None or not facts.summaries.known(name)) and any(
                _holds_size(fa, a) for a in call_args(c)):
            maybe = True
    if s.kind == "cond" and s.expr is not None:
        for o in fa.origins(s.expr):
            if any(call_name(n) in size for n in fa.walk(o)):
                return True
    return None if maybe else False


def _unlocked_between(fa: FunctionAnalysis, lookup: Node, inst: Stmt, fam: set[str],
                      unlocks: frozenset[str]) -> bool:
    """An unlock of the page on a path from its locked lookup to the install."""
    for s in fa.reachable(lookup, until=lambda s: s is inst):
        where = _where(s)
        if where is None or s is inst:
            continue
        if any(call_name(c) in unlocks and any(_mentions(a, fam) for a in call_args(c))
               for c in _calls(where)) and any(t is inst for t in fa.reachable(where)):
            return True
    return False


_SIZED = ("struct inode", "struct file", "struct address_space", "struct vm_area_struct",
          "struct vm_fault")


def _holds_size(fa: FunctionAnalysis, arg: Node) -> bool:
    """An argument the file size can be read from (the inode, the file, its
    mapping, the VMA or the fault)."""
    for p in _top_paths(arg):
        t = fa.type_of(p.split("->")[0].split(".")[0].lstrip("*&")) or ""
        if any(k in t for k in _SIZED):
            return True
    return False


@check("mm/fill-install-no-isize-recheck")
def fill_install_no_isize_recheck(ctx: PatchContext):
    v = vocab()
    ptlocks = v["pt-lock"]
    unlocks = v["unlock"]
    huge = v["hugetlb-entry-set"]
    # the lock it reports and the page-cache evidence are this function's calls
    for ch in _changed(ctx, ptlocks, v.union("pagecache-lookup-locked", "pagecache-add",
                                             "pagecache-test")):
        fa, facts = ch.fa, ch.facts
        locks = fa.calls_to(ptlocks)
        if not locks:
            continue
        raw = [c for c in fa.calls if c.name in v["entry-set"] or c.name in (
            v["page-install"] - v["page-install-truncation-safe"])]
        for inst in raw:
            page = _entry_page(fa, inst.node)
            if page is None:
                continue
            fam = _family(fa, page)
            known = _pagecache(fa, fam, facts)
            if known is None:
                continue
            kind, evidence = known
            s_inst = fa.cfg_node(inst.node)
            if s_inst is None:
                continue
            # the page-table lock held at the install: the last one taken before it
            held = [lk for lk in locks if any(s is s_inst for s in fa.reachable(lk.node))]
            if not held:
                continue
            lock = max(held, key=lambda lk: lk.node.start_byte)
            s_lock = fa.cfg_node(lock.node)
            if s_lock is None:
                continue
            if kind == "lookup":
                # the fault path's model: the page is locked from the lookup to the
                # install, and truncation must take that lock before it drops the page
                if not _unlocked_between(fa, evidence, s_inst, fam, unlocks):
                    continue
            # every statement that runs after the lock on the way to the install
            between = list(fa.reachable(lock.node, until=lambda s: s is s_inst))
            if inst.name in huge:
                # hugetlb: the caller's hugetlb_fault_mutex serializes truncation, so
                # a size check anywhere before the install is enough
                between = list(fa.cfg.values())
            answers = [_size_check(s, facts) for s in between if s is not s_inst]
            if any(a is True for a in answers):
                continue
            lines = {s.line for s in between if s.node is not None} | {inst.line, lock.line}
            if not ch.touches(lines, v["size-read"]):
                continue
            conf = _confidence(fa, inst.node, lock.node)
            if any(a is None for a in answers):
                conf = Confidence.LOW
            yield Hit(line=inst.line, path=ch.fc.path, function=fa.name,
                      args={"func": fa.name, "page": page, "install": inst.name,
                            "lock": lock.name, "lock_line": lock.line,
                            "how": {"lookup": "looked up in the page cache and unlocked "
                                              "before the install",
                                    "added": "added to the page cache here",
                                    "tested": "tested for a page-cache mapping"}[kind],
                            "how_line": fa.line(evidence)},
                      confidence=conf, absence=True)


# -- mm/fill-cache-page-left-clean ---------------------------------------------------------------

def _dirty_entry(fa: FunctionAnalysis, install: Node) -> bool:
    """The install makes the entry dirty whatever the mapping: an install helper
    (mfill_atomic_install_pte() dirties the pte itself), or an entry whose value
    passes an entry-mkdirty call that no condition guards."""
    v = vocab()
    if call_name(install) in v["page-install"]:
        return True
    mk = v["entry-mkdirty"]
    for a in call_args(install)[_VALUE_ARG:]:
        for o in [a, *fa.origins(a)]:
            for n in fa.walk(o):
                if n.type == "call_expression" and call_name(n) in mk and not fa.guards(n):
                    return True
    return False


@check("mm/fill-cache-page-left-clean")
def fill_cache_page_left_clean(ctx: PatchContext):
    v = vocab()
    dirty = v.union("dirty-page", "dirty-release")
    for ch in _changed(ctx, v["pagecache-add"], _writers):
        fa, facts = ch.fa, ch.facts
        reported: set[int] = set()
        for w in _writes(fa, facts.summaries):
            if w.call.name in v["page-alloc-zeroed"]:
                continue
            fam = _family(fa, w.page)
            known = _pagecache(fa, fam, facts)
            if known is None or known[0] != "added":
                continue
            s0 = fa.cfg_node(w.call.node)
            if s0 is None or facts.calls_any(s0, dirty):
                continue
            path, _ = _search(fa, s0, stop=lambda s: facts.calls_any(s, dirty)
                              or facts.redefines(s, fam),
                              goal=lambda s: facts.installs(s, fam) is not None)
            if path is None:
                continue
            inst = facts.installs(path[-1], fam)
            if inst is None or _dirty_entry(fa, inst) or fa.line(inst) in reported:
                continue
            lines = {st.line for st in path if st.node is not None}
            if not ch.touches(lines, dirty):
                continue
            reported.add(fa.line(inst))
            yield Hit(line=fa.line(inst), path=ch.fc.path, function=fa.name,
                      args={"func": fa.name, "page": w.page, "write": w.call.name,
                            "write_line": w.call.line, "add": call_name(known[1]),
                            "add_line": fa.line(known[1]), "install": call_name(inst)},
                      confidence=_confidence(fa, inst, w.call.node), absence=True)
