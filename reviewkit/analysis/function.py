"""The analysis of one C function: statements, guards, paths, def-use, call sites.

Built from the function's tree-sitter-c AST (whole functions from a file or a
hunk that carries them; partial ones from the hunk text completed into a
parseable function, see :mod:`reviewkit.engine.cfunc`).  Everything is
computed on first use and kept with the function.
"""

from __future__ import annotations

import re
from bisect import bisect_left

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from tree_sitter import Node

from reviewkit.analysis.syntax import (Literal, address_of, call_args, call_name, is_constant,
                                       inside, literals, path_of, root_of, strip, text, walk)

# statement kinds of the control-flow graph
EXIT = 0  # leaving the function: a return, or falling off its end
END = 1  # the end of what a partial function shows: the path goes on unseen

_JUMPS = ("return_statement", "goto_statement", "break_statement", "continue_statement")
_STATEMENTS = frozenset({
    "expression_statement", "declaration", "return_statement", "goto_statement",
    "break_statement", "continue_statement", "if_statement", "while_statement",
    "do_statement", "for_statement", "switch_statement", "compound_statement",
    "labeled_statement", "case_statement", "attributed_statement"})
_PREPROC = frozenset({"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
                      "preproc_elifdef"})


@dataclass(frozen=True)
class Guard:
    """A condition that must hold (``polarity`` True) or fail (False) for code to run.

    ``kind``: ``if`` / ``else`` (the branch of an if), ``exit`` (an earlier
    ``if`` whose branch leaves — return, goto, break, continue — so the code
    after it runs only when the condition is false), ``ternary`` (a ``?:``
    arm), ``and`` / ``or`` (the right operand of ``&&`` / ``||``), ``loop``
    (a while/for body), ``case`` (a switch arm: ``cond`` is the switch value).
    """

    cond: Node
    polarity: bool
    kind: str
    line: int

    @property
    def text(self) -> str:
        c = text(self.cond)
        if self.kind in ("if", "else", "exit"):
            c = c if c.startswith("(") else f"({c})"
            return f"if {c}" if self.kind != "exit" else f"if {c} (left early)"
        if self.kind == "case":
            return f"switch ({c.strip('()')})"
        return c

    def literals(self) -> list[Literal]:
        return literals(self.cond, self.polarity)


@dataclass(frozen=True)
class CallSite:
    name: str
    node: Node
    args: tuple[Node, ...]
    line: int

    def arg(self, i: int) -> Node | None:
        return self.args[i] if 0 <= i < len(self.args) else None

    def arg_paths(self) -> list[str | None]:
        return [path_of(a) for a in self.args]

    @property
    def text(self) -> str:
        return text(self.node)


@dataclass(frozen=True)
class Def:
    """A definition of a field path: where it gets its value (``value``), or may
    get one it cannot see (``kind`` address: ``&path`` handed to a call)."""

    path: str
    value: Node | None
    node: Node
    line: int
    kind: str  # decl | init | assign | update | address | param


@dataclass(eq=False)
class Stmt:
    """A node of the control-flow graph: one simple statement, one condition."""

    id: int
    node: Node | None  # the statement (or, for a condition, the if/loop/switch)
    # simple | cond | return | goto | break | continue | label | exit | end | unseen (code
    # between two hunks the patch does not show)
    kind: str
    line: int
    expr: Node | None = None  # what is evaluated here (the condition of a cond)
    succ: list[int] = field(default_factory=list)


class FunctionAnalysis:
    """What a rule can ask of one function.

    ``node`` is the ``function_definition``; ``base`` the line number of the
    text's first line, so ``line(n)`` is a real file line.
    """

    def __init__(self, node: Node, base: int, *, name: str, complete: bool = True,
                 synthetic_lines: frozenset[int] = frozenset()):
        self.node = node
        self.base = base
        self.name = name
        self.complete = complete
        # lines the reconstruction of a partial function made up (wrappers)
        self.synthetic_lines = synthetic_lines
        self.body = node.child_by_field_name("body")

    # -- positions -----------------------------------------------------------------

    def line(self, node: Node) -> int:
        return node.start_point[0] + self.base

    def nodes_on(self, line: int) -> list[Node]:
        return [n for n in self._all if self.line(n) == line]

    @cached_property
    def _all(self) -> list[Node]:
        return list(walk(self.node))

    def memo(self, key, compute: Callable[[], object]):
        """What ``compute()`` gives, worked out once per analysis: for a fact a
        rule derives from this function alone (and ``key``, which names it and
        whatever else it depends on, such as the vocabulary).  An analysis is
        shared wherever the same function text is seen again."""
        memos = self.__dict__.setdefault("_memos", {})
        if key not in memos:
            memos[key] = compute()
        return memos[key]

    @cached_property
    def _pos(self) -> dict[int, int]:
        """node id -> where the node stands in ``_all``."""
        return {n.id: i for i, n in enumerate(self._all)}

    def walk(self, node: Node) -> list[Node]:
        """What ``walk(node)`` gives (the node, then every node under it, in source
        order) for a node of this function, sliced from the index built once: a
        pre-order walk keeps a subtree together, ``descendant_count`` long."""
        i = self._pos.get(node.id)
        if i is None or self._all[i].start_byte != node.start_byte:
            return list(walk(node))
        return self._all[i:i + node.descendant_count]

    @cached_property
    def _by_type(self) -> dict[str, list[int]]:
        """node type -> where its nodes stand in ``_all`` (source order)."""
        out: dict[str, list[int]] = {}
        for i, n in enumerate(self._all):
            out.setdefault(n.type, []).append(i)
        return out

    @cached_property
    def _body_span(self) -> tuple[int, int]:
        """The slice of ``_all`` that is the body and what it holds (a pre-order walk
        keeps a subtree together)."""
        body = self.body
        nodes = self._all
        if body is None:
            return 0, 0
        lo = next((i for i, n in enumerate(nodes) if n == body), None)
        if lo is None:
            return 0, 0
        nxt = body.next_sibling
        hi = len(nodes) if nxt is None else next(
            (i for i in range(lo + 1, len(nodes)) if nodes[i] == nxt), len(nodes))
        return lo, hi

    def nodes_of(self, *types: str, body: bool = False) -> list[Node]:
        """Every node of these types in the function (with ``body``, in its body), in
        source order — what filtering ``walk()`` of the function (or of its body)
        gives, read from an index built once."""
        index = self._by_type
        at = index.get(types[0], []) if len(types) == 1 else sorted(
            i for t in types for i in index.get(t, ()))
        nodes = self._all
        if body:
            lo, hi = self._body_span
            return [nodes[i] for i in at if lo <= i < hi]
        return [nodes[i] for i in at]

    # -- declarations ------------------------------------------------------------------

    @cached_property
    def declarator(self) -> Node | None:
        d = self.node.child_by_field_name("declarator")
        while d is not None and d.type != "function_declarator":
            d = d.child_by_field_name("declarator")
        return d

    @cached_property
    def params(self) -> tuple[tuple[str, str], ...]:
        """(type, name) of each parameter, in order."""
        out: list[tuple[str, str]] = []
        plist = self.declarator.child_by_field_name("parameters") if self.declarator else None
        if plist is None:
            return ()
        for p in plist.named_children:
            if p.type == "parameter_declaration":
                out.extend(_declared(p))
        return tuple(out)

    @cached_property
    def return_type(self) -> str:
        t = self.node.child_by_field_name("type")
        stars = ""
        d = self.node.child_by_field_name("declarator")
        while d is not None and d.type == "pointer_declarator":
            stars += "*"
            d = d.child_by_field_name("declarator")
        return (text(t) + " " + stars).strip()

    @cached_property
    def locals(self) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        if self.body is None:
            return ()
        for n in self.nodes_of("declaration", body=True):
            out.extend(_declared(n))
        return tuple(out)

    def type_of(self, name: str) -> str | None:
        """The declared type of a parameter or local (``struct page *``)."""
        for t, n in self.params + self.locals:
            if n == name:
                return t
        return None

    def param_index(self, name: str) -> int | None:
        for i, (_, n) in enumerate(self.params):
            if n == name:
                return i
        return None

    def declared(self, name: str) -> bool:
        return self.type_of(name) is not None

    # -- call sites ------------------------------------------------------------------

    @cached_property
    def calls(self) -> tuple[CallSite, ...]:
        out = []
        for n in self.nodes_of("call_expression"):
            name = call_name(n)
            if name is not None:
                out.append(CallSite(name=name, node=n, args=call_args(n), line=self.line(n)))
        return tuple(out)

    @cached_property
    def idents(self) -> frozenset[str]:
        """Every identifier the function's text holds (comments and strings included):
        a cheap first answer to "does it call any of these?"."""
        return frozenset(_IDENT.findall(self.node.text or b""))

    def mentions(self, names: Iterable[str]) -> bool:
        """Whether any of ``names`` appears in the function's text at all."""
        idents = self.idents
        return any(n.encode() in idents for n in names)

    def calls_to(self, names: Iterable[str]) -> list[CallSite]:
        want = names if isinstance(names, (set, frozenset)) else set(names)
        if "calls" not in self.__dict__ and not self.mentions(want):
            return []  # none of the names is in the text: no need to walk the tree
        return [c for c in self.calls if c.name in want]

    def callees(self) -> set[str]:
        return {c.name for c in self.calls}

    @cached_property
    def _call_starts(self) -> list[int]:
        return [c.node.start_byte for c in self.calls]

    def calls_in(self, node: Node) -> list[CallSite]:
        """The call sites within ``node`` (itself included), in source order: what
        walking it for named calls gives, read from the call list by position."""
        starts = self._call_starts
        lo = bisect_left(starts, node.start_byte)
        hi = bisect_left(starts, node.end_byte, lo)
        return list(self.calls[lo:hi])

    # -- guards ------------------------------------------------------------------------

    def guards(self, node: Node) -> list[Guard]:
        """The conditions under which ``node`` runs, innermost first."""
        out: list[Guard] = []
        child = node
        parent = node.parent
        while parent is not None and child != self.node:
            t = parent.type
            if t == "if_statement":
                cond = parent.child_by_field_name("condition")
                if cond is not None and child != cond:
                    alt = parent.child_by_field_name("alternative")
                    in_else = alt is not None and _within(child, alt)
                    out.append(Guard(cond, not in_else, "else" if in_else else "if",
                                     self.line(parent)))
            elif t == "conditional_expression":
                cond = parent.child_by_field_name("condition")
                if cond is not None and child != cond:
                    alt = parent.child_by_field_name("alternative")
                    out.append(Guard(cond, not (alt is not None and child == alt), "ternary",
                                     self.line(parent)))
            elif t == "binary_expression":
                op = text(parent.child_by_field_name("operator"))
                left = parent.child_by_field_name("left")
                if op in ("&&", "||") and left is not None and child != left:
                    out.append(Guard(left, op == "&&", "and" if op == "&&" else "or",
                                     self.line(parent)))
            elif t in ("while_statement", "for_statement"):
                cond = parent.child_by_field_name("condition")
                body = parent.child_by_field_name("body")
                if cond is not None and body is not None and _within(child, body):
                    out.append(Guard(cond, True, "loop", self.line(parent)))
            elif t == "case_statement":
                sw = _enclosing(parent, "switch_statement")
                value = parent.child_by_field_name("value")
                if sw is not None and value is not None and child != value:
                    cond = sw.child_by_field_name("condition")
                    if cond is not None:
                        out.append(Guard(cond, True, "case", self.line(parent)))
            if t in ("compound_statement", "case_statement"):
                out.extend(self._exit_guards(parent, child))
            child, parent = parent, parent.parent
        return out

    def _exit_guards(self, block: Node, child: Node) -> list[Guard]:
        """Earlier siblings of ``child`` in ``block`` that leave on one branch."""
        out: list[Guard] = []
        if child.type == "labeled_statement":
            return out  # reached by a goto as well: earlier exits do not guard it
        sib = child.prev_named_sibling
        while sib is not None:
            if sib.type == "labeled_statement":
                break
            if sib.type == "if_statement":
                cond = sib.child_by_field_name("condition")
                then = sib.child_by_field_name("consequence")
                alt = sib.child_by_field_name("alternative")
                if cond is not None and then is not None:
                    then_leaves = _leaves(then)
                    else_leaves = alt is not None and _leaves(alt)
                    if then_leaves and not else_leaves:
                        out.append(Guard(cond, False, "exit", self.line(sib)))
                    elif else_leaves and not then_leaves:
                        out.append(Guard(cond, True, "exit", self.line(sib)))
            sib = sib.prev_named_sibling
        return out

    def statement_of(self, node: Node) -> Node:
        """The innermost statement holding ``node``."""
        n: Node | None = node
        while n is not None and n.type not in _STATEMENTS:
            n = n.parent
        return n if n is not None else node

    # -- the control-flow graph and paths ------------------------------------------------

    @cached_property
    def cfg(self) -> dict[int, Stmt]:
        return _CFG(self).build()

    @cached_property
    def _stmt_by_node(self) -> dict[tuple[int, int], Stmt]:
        out: dict[tuple[int, int], Stmt] = {}
        for s in self.cfg.values():
            for n in (s.expr, s.node):
                if n is not None:
                    out.setdefault((n.start_byte, n.end_byte), s)
        return out

    def cfg_node(self, node: Node) -> Stmt | None:
        """The CFG statement that evaluates ``node`` (a call, an expression)."""
        n: Node | None = node
        while n is not None:
            s = self._stmt_by_node.get((n.start_byte, n.end_byte))
            if s is not None:
                return s
            n = n.parent
        return None

    def successors(self, stmt: Stmt) -> list[Stmt]:
        return [self.cfg[i] for i in stmt.succ]

    def paths_to_exits(self, start: Node, stop: Callable[[Stmt], bool],
                       *, include_start: bool = False) -> list[list[Stmt]]:
        """Paths from the statement evaluating ``start`` to an exit (or to the end of
        what a partial function shows) that pass no statement where ``stop`` holds.

        One path per exit statement reached (the first found), so the answer stays
        small; an empty list means every path meets ``stop``.
        """
        s0 = self.cfg_node(start)
        if s0 is None:
            return []
        out: dict[int, list[Stmt]] = {}
        seen: set[int] = set()
        todo: list[tuple[Stmt, list[Stmt]]] = []
        if include_start and stop(s0):
            return []
        for nxt in self.successors(s0):
            todo.append((nxt, [s0]))
        while todo:
            s, path = todo.pop()
            if s.id in seen:
                continue
            seen.add(s.id)
            if s.kind in ("exit", "end"):
                out.setdefault(path[-1].id, path + [s])
                continue
            if stop(s):
                continue
            for nxt in self.successors(s):
                if nxt.id not in seen:
                    todo.append((nxt, path + [s]))
        return list(out.values())

    def reachable(self, start: Node, *, until: Callable[[Stmt], bool] | None = None
                  ) -> Iterator[Stmt]:
        """Statements reachable from the one evaluating ``start`` (not itself), each
        once; a statement where ``until`` holds is yielded but not gone past."""
        s0 = self.cfg_node(start)
        if s0 is not None:
            yield from self.reachable_from(s0, until=until)

    def reachable_from(self, s0: Stmt, *, until: Callable[[Stmt], bool] | None = None,
                       limit: int | None = None) -> Iterator[Stmt]:
        """Statements reachable from ``s0`` (not itself), each once; a statement
        where ``until`` holds is yielded but not gone past.  ``limit`` bounds how
        many statements are visited."""
        seen = {s0.id}
        todo = list(self.successors(s0))
        while todo and (limit is None or len(seen) <= limit):
            s = todo.pop()
            if s.id in seen:
                continue
            seen.add(s.id)
            yield s
            if until is not None and until(s):
                continue
            todo.extend(self.successors(s))

    def stops_at(self, nodes: Iterable[Node], conds: Iterable[Node] = ()
                 ) -> Callable[[Stmt], bool]:
        """A ``reachable(until=...)`` test: the statement evaluates one of
        ``nodes``, or is a condition over one of ``conds`` (those of
        ``flag_tests()``, say)."""
        at, tests = list(nodes), list(conds)

        def stop(s: Stmt) -> bool:
            where = s.expr
            if where is None:
                return False
            if s.kind == "cond" and any(inside(c, where) or inside(where, c) for c in tests):
                return True
            return any(inside(n, where) for n in at)

        return stop

    def exits(self) -> list[Stmt]:
        return [s for s in self.cfg.values() if s.kind in ("return", "goto")]

    # -- def-use ------------------------------------------------------------------------

    @cached_property
    def defs(self) -> dict[str, list[Def]]:
        """field path -> its definitions, in source order."""
        out: dict[str, list[Def]] = {}

        def add(d: Def) -> None:
            out.setdefault(d.path, []).append(d)

        plist = self.declarator.child_by_field_name("parameters") if self.declarator else None
        if plist is not None:
            for _, name in self.params:
                add(Def(name, None, plist, self.line(plist), "param"))
        for n in self.nodes_of("init_declarator", "declaration", "assignment_expression",
                               "update_expression", "call_expression"):
            t = n.type
            if t == "init_declarator":
                ident = _declarator_ident(n.child_by_field_name("declarator"))
                if ident:
                    add(Def(ident, n.child_by_field_name("value"), n, self.line(n), "init"))
            elif t == "declaration":
                for d in n.children_by_field_name("declarator"):
                    if d.type != "init_declarator":
                        ident = _declarator_ident(d)
                        if ident:
                            add(Def(ident, None, n, self.line(n), "decl"))
            elif t == "assignment_expression":
                p = path_of(n.child_by_field_name("left"))
                if p:
                    op = text(n.child_by_field_name("operator"))
                    add(Def(p, n.child_by_field_name("right"), n, self.line(n),
                            "assign" if op == "=" else "update"))
            elif t == "update_expression":
                p = path_of(n.child_by_field_name("argument"))
                if p:
                    add(Def(p, None, n, self.line(n), "update"))
            elif t == "call_expression":
                for a in call_args(n):
                    p = address_of(a)
                    if p:
                        add(Def(p, None, n, self.line(n), "address"))
        for v in out.values():
            v.sort(key=lambda d: d.node.start_byte)
        return out

    def defs_of(self, path: str) -> list[Def]:
        return self.defs.get(path, [])

    def defs_before(self, path: str, node: Node) -> list[Def]:
        """Definitions of ``path`` that may reach ``node``: those before it in the
        text, or all of them when none is (a loop carries them round)."""
        ds = self.defs_of(path)
        before = [d for d in ds if d.node.start_byte < node.start_byte]
        return before or ds

    @cached_property
    def _uses(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes_of("identifier", "field_expression"):
            parent = n.parent
            if parent is not None:
                if parent.type == "field_expression" and parent.child_by_field_name("field") == n:
                    continue
                if parent.type == "call_expression" and parent.child_by_field_name(
                        "function") == n:
                    continue
                if parent.type in ("init_declarator", "declaration") or parent.type.endswith(
                        "declarator"):
                    continue
                if parent.type == "assignment_expression" and parent.child_by_field_name(
                        "left") == n:
                    op = text(parent.child_by_field_name("operator"))
                    if op == "=":
                        continue
            p = path_of(n)
            if p:
                out.setdefault(p, []).append(n)
        return out

    def uses_of(self, path: str) -> list[Node]:
        """Reads of ``path`` (not the left side of a plain assignment), in order."""
        return self._uses.get(path, [])

    def aliases(self, path: str) -> set[str]:
        """Paths that hold the same value as ``path`` through plain copies
        (``pte = vmf->pte``; ``vmf->pte = pte``), itself included."""
        out = {path}
        changed = True
        while changed:
            changed = False
            for p, ds in self.defs.items():
                for d in ds:
                    if d.value is None or d.kind not in ("init", "assign"):
                        continue
                    src = path_of(d.value)
                    if src in out and p not in out:
                        out.add(p)
                        changed = True
                    elif p in out and src is not None and src not in out and \
                            not is_constant(d.value):
                        out.add(src)
                        changed = True
        return out

    def origins(self, expr: Node, *, depth: int = 6, through_calls: bool = True
                ) -> list[Node]:
        """What a value is made of: the expression and, for every field path in it,
        the values assigned to that path before (recursively).  With
        ``through_calls``, arguments of calls are followed too (a value built
        by a helper from x comes from x)."""
        out: list[Node] = []
        seen: set[tuple[int, int]] = set()
        todo = [(expr, 0)]
        while todo:
            e, d = todo.pop()
            key = (e.start_byte, e.end_byte)
            if key in seen:
                continue
            seen.add(key)
            out.append(e)
            if d >= depth:
                continue
            for n in walk(e):
                if n.type in ("identifier", "field_expression"):
                    p = path_of(n)
                    if p is None:
                        continue
                    for df in self.defs_before(p, e):
                        if df.value is not None and df.node != e:
                            todo.append((df.value, d + 1))
                if not through_calls and n.type == "call_expression" and n != e:
                    break
        return out

    def value_sources(self, expr: Node) -> list[Def]:
        """The definitions an expression's field paths get their values from."""
        out = []
        for n in walk(expr):
            p = path_of(n) if n.type in ("identifier", "field_expression") else None
            if p:
                out.extend(self.defs_before(p, expr))
        return out

    def flows(self, source: Node, sink: Node) -> bool:
        """Whether the value of ``source`` (say a get-and-clear call) may reach
        ``sink`` (an argument): the sink is made of the source, directly or
        through assignments and helper calls."""
        key = (source.start_byte, source.end_byte)
        for o in self.origins(sink):
            for n in walk(o):
                if (n.start_byte, n.end_byte) == key:
                    return True
        return False

    # -- partial functions ----------------------------------------------------------------

    @cached_property
    def gaps(self) -> tuple[Node, ...]:
        """The statements that stand for code between two hunks the patch does not
        show (a partial function stitched from several hunks), in order."""
        if self.complete or not self.synthetic_lines:
            return ()
        return tuple(n for n in self._all if _is_gap(n) and self.line(n) in self.synthetic_lines)

    def after_gap(self, node: Node) -> bool:
        """Whether unseen code between hunks runs before ``node`` in a block that
        encloses it (so an unseen early return or test may guard it)."""
        if not self.gaps:
            return False
        n: Node | None = node
        while n is not None and n != self.node:
            sib = n.prev_named_sibling
            while sib is not None:
                if _is_gap(sib):
                    return True
                sib = sib.prev_named_sibling
            n = n.parent
        return False

    def crosses_gap(self, path: Iterable[Stmt]) -> bool:
        """Whether a CFG path passes code the patch does not show."""
        return any(s.kind == "unseen" for s in path)

    def flag_tests(self, nodes: Iterable[Node]) -> list[Node]:
        """The conditions that decide whether each of ``nodes`` runs by testing
        a kept state flag: a variable (or ``*param``) the function sets to a
        constant (``locked = false;``, ``*locked = 0;``) or receives from its
        caller.  Code that re-takes or releases a lock under such a flag holds
        the lock on some paths through the test and not on others, which the
        graph cannot tell apart."""
        out: list[Node] = []
        for n in nodes:
            for g in self.guards(n):
                if g.kind not in ("if", "else", "exit", "ternary", "and", "or"):
                    continue
                c = strip(g.cond)
                while c.type == "unary_expression" and text(
                        c.child_by_field_name("operator")) == "!":
                    arg = c.child_by_field_name("argument")
                    if arg is None:
                        break
                    c = strip(arg)
                p = path_of(c)
                if p is None:
                    continue
                base = p[1:] if p.startswith("*") else p
                from_caller = base == p.lstrip("*") and any(
                    d.kind == "param" for d in self.defs_of(base))
                set_here = any(d.value is not None and is_constant(d.value)
                               for d in self.defs_of(p))
                if from_caller or set_here:
                    out.append(g.cond)
        return out

    def context_unseen(self, node: Node) -> bool:
        """Whether code the hunk does not show may enclose or guard ``node``: a block
        the reconstruction had to open, unseen code between two hunks before it, or
        code nested deeper than the function body at the top of what the hunk
        shows."""
        if self.complete:
            return False
        n: Node | None = node
        while n is not None and n != self.body:
            if n.type == "compound_statement" and self.line(n) in self.synthetic_lines:
                return True
            if n.type in ("if_statement", "do_statement", "switch_statement") \
                    and self.line(n) in self.synthetic_lines:
                return True
            n = n.parent
        if self.after_gap(node):
            return True
        stmt = self.statement_of(node)
        top = stmt
        while top.parent is not None and top.parent != self.body:
            if top.parent.type == "compound_statement" and self.line(top.parent) in \
                    self.synthetic_lines:
                return True
            top = top.parent
        if top.parent != self.body:
            return False
        if self.body is None or self.line(self.body) not in self.synthetic_lines:
            return False  # the function's own "{" is shown: its top level is the body
        return _indent_level(top) > 1


_GAP = b"__reviewkit_unseen"
_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def _is_gap(node: Node) -> bool:
    """A statement the reconstruction wrote for unseen code between two hunks."""
    if node.type != "expression_statement" or node.named_child_count != 1:
        return False
    inner = node.named_children[0]
    return inner.type == "identifier" and inner.text == _GAP


def _indent_level(node: Node) -> int:
    """Kernel indentation level of a statement: tabs, or four-space steps."""
    prefix = _source_line(node)
    return prefix.count(b"\t") + prefix.count(b" ") // 4


def _source_line(node: Node) -> bytes:
    """The text before ``node`` on its line."""
    root = node
    while root.parent is not None:
        root = root.parent
    src = root.text or b""
    at = node.start_byte - root.start_byte
    return src[src.rfind(b"\n", 0, at) + 1:at]


def _within(node: Node, ancestor: Node) -> bool:
    return ancestor.start_byte <= node.start_byte and node.end_byte <= ancestor.end_byte


def _enclosing(node: Node, kind: str) -> Node | None:
    n = node.parent
    while n is not None and n.type != kind:
        n = n.parent
    return n


def _leaves(stmt: Node) -> bool:
    """Whether a statement always leaves the code that follows it."""
    stmt = _unwrap_else(stmt)
    if stmt.type in _JUMPS:
        return True
    if stmt.type == "compound_statement":
        last = None
        for c in stmt.named_children:
            if c.type != "comment":
                last = c
        return last is not None and _leaves(last)
    if stmt.type == "if_statement":
        then = stmt.child_by_field_name("consequence")
        alt = stmt.child_by_field_name("alternative")
        return then is not None and alt is not None and _leaves(then) and _leaves(alt)
    return _calls_noreturn(stmt)


def _calls_noreturn(stmt: Node) -> bool:
    """A statement that is a call to kernel API that never returns (BUG(),
    panic()): the path ends there."""
    if stmt.type != "expression_statement":
        return False
    call = next((c for c in stmt.named_children), None)
    return call is not None and call_name(call) in _noreturn()


def _constant_truth(cond: Node | None) -> bool | None:
    """True or False for a loop condition that is a constant (``while (1)``,
    ``while (true)``, ``do { } while (0)``), None otherwise."""
    if cond is None:
        return None
    c = strip(cond)
    if c.type == "number_literal":
        try:
            return int((c.text or b"").decode().rstrip("uUlL"), 0) != 0
        except ValueError:
            return None
    if c.type in ("true", "false"):
        return c.type == "true"
    return None


def _loop_edges(cond: Node | None, body: int, after: int) -> list[int]:
    """A loop condition's successors: the body and what follows, less the one a
    constant condition never takes."""
    truth = _constant_truth(cond)
    if truth is True:
        return [body]
    if truth is False:
        return [after]
    return [body, after]


def _noreturn() -> frozenset[str]:
    """Kernel API that never returns: a path ends at a statement calling it."""
    from reviewkit.analysis.vocab import vocab

    return vocab()["noreturn"]


def _unwrap_else(node: Node) -> Node:
    if node.type == "else_clause":
        inner = next((c for c in node.named_children if c.type != "comment"), None)
        return inner if inner is not None else node
    return node


def _declarator_ident(node: Node | None) -> str | None:
    while node is not None:
        if node.type in ("identifier", "field_identifier"):
            return text(node)
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            nxt = next((c for c in node.named_children if c.type not in (
                "parameter_list", "comment")), None)
        node = nxt
    return None


def _declared(decl: Node) -> list[tuple[str, str]]:
    type_node = decl.child_by_field_name("type")
    if type_node is None:
        return []
    base = text(type_node)
    out = []
    for d0 in decl.children_by_field_name("declarator"):
        d: Node | None = d0
        if d0.type == "init_declarator":
            d = d0.child_by_field_name("declarator")
        stars = ""
        n = d
        while n is not None and n.type in ("pointer_declarator",):
            stars += "*"
            n = n.child_by_field_name("declarator")
        name = _declarator_ident(d)
        if name:
            out.append(((base + " " + stars).strip(), name))
    return out


def _macro_loop_head(node: Node) -> bool:
    """``MACRO(args)`` with no ';' after it: the head of a loop macro."""
    if node.type != "expression_statement" or node.named_child_count != 1:
        return False
    last = node.children[-1] if node.children else None
    return (node.named_children[0].type == "call_expression" and last is not None
            and last.type == ";" and last.is_missing)


class _CFG:
    """Builds the control-flow graph of a function body, backwards."""

    def __init__(self, fa: FunctionAnalysis):
        self.fa = fa
        self.stmts: dict[int, Stmt] = {
            EXIT: Stmt(EXIT, None, "exit", fa.line(fa.node) if fa.node else 0),
            END: Stmt(END, None, "end", 0)}
        self.labels: dict[str, int] = {}

    def new(self, node: Node | None, kind: str, expr: Node | None = None,
            succ: list[int] | None = None) -> Stmt:
        s = Stmt(len(self.stmts), node, kind, self.fa.line(node) if node is not None else 0,
                 expr, succ or [])
        self.stmts[s.id] = s
        return s

    def build(self) -> dict[int, Stmt]:
        body = self.fa.body
        if body is None:
            return self.stmts
        for n in self.fa.nodes_of("labeled_statement", body=True):
            if n.type == "labeled_statement":
                lab = n.child_by_field_name("label")
                if lab is not None:
                    self.labels[text(lab)] = self.new(n, "label").id
        tail = EXIT if self.fa.complete else END
        entry = self.one(body, tail, brk=tail, cont=tail)
        self.stmts[EXIT].succ = []
        self.entry = entry
        return self.stmts

    def seq(self, nodes: list[Node], nxt: int, brk: int, cont: int) -> int:
        units: list[tuple[Node, Node | None]] = []
        i = 0
        while i < len(nodes):
            if i + 1 < len(nodes) and _macro_loop_head(nodes[i]):
                units.append((nodes[i], nodes[i + 1]))
                i += 2
            else:
                units.append((nodes[i], None))
                i += 1
        for n, body in reversed(units):
            if body is None:
                nxt = self.one(n, nxt, brk, cont)
            else:
                # list_for_each_entry(pos, head, member) stmt: a loop macro whose
                # head the grammar reads as a statement missing its ';'
                c = self.new(n, "cond", n)
                c.succ = [self.one(body, c.id, nxt, c.id), nxt]
                nxt = c.id
        return nxt

    def children(self, node: Node) -> list[Node]:
        out: list[Node] = []
        for c in node.named_children:
            if c.type == "comment":
                continue
            if c.type in _PREPROC or c.type == "preproc_call":
                out.extend(x for x in self.children(c) if x.type in _STATEMENTS
                           or x.type in _PREPROC)
                continue
            out.append(c)
        return out

    def one(self, node: Node, nxt: int, brk: int, cont: int) -> int:
        t = node.type
        if t == "compound_statement" or t in _PREPROC:
            return self.seq([c for c in self.children(node) if c.type in _STATEMENTS
                             or c.type in _PREPROC or c.type == "function_definition"],
                            nxt, brk, cont)
        if t == "function_definition":
            # C has no nested functions: this is a loop macro with a braced body
            # (for_each_vma(vmi, vma) { ... }, list_for_each_entry(...) { ... })
            # that the grammar reads as a definition.  Its arguments are the
            # loop's condition; the body runs any number of times.
            c = self.new(node, "cond", node.child_by_field_name("declarator"))
            body = node.child_by_field_name("body")
            b = self.one(body, c.id, nxt, c.id) if body is not None else c.id
            c.succ = [b, nxt]
            return c.id
        if t == "if_statement":
            cond = node.child_by_field_name("condition")
            then = node.child_by_field_name("consequence")
            alt = node.child_by_field_name("alternative")
            t_entry = self.one(then, nxt, brk, cont) if then is not None else nxt
            e_entry = self.one(_unwrap_else(alt), nxt, brk, cont) if alt is not None else nxt
            return self.new(node, "cond", cond, [t_entry, e_entry]).id
        if t == "while_statement":
            c = self.new(node, "cond", node.child_by_field_name("condition"))
            body = node.child_by_field_name("body")
            b = self.one(body, c.id, nxt, c.id) if body is not None else c.id
            c.succ = _loop_edges(c.expr, b, nxt)
            return c.id
        if t == "do_statement":
            c = self.new(node, "cond", node.child_by_field_name("condition"))
            body = node.child_by_field_name("body")
            b = self.one(body, c.id, nxt, c.id) if body is not None else c.id
            c.succ = _loop_edges(c.expr, b, nxt)
            return b
        if t == "for_statement":
            cond = node.child_by_field_name("condition")
            upd = node.child_by_field_name("update")
            c = self.new(node, "cond", cond)
            u = self.new(upd, "simple", upd, [c.id]) if upd is not None else c
            body = node.child_by_field_name("body")
            b = self.one(body, u.id, nxt, u.id) if body is not None else u.id
            c.succ = [b, nxt] if cond is not None else [b]
            init = node.child_by_field_name("initializer")
            if init is not None:
                return self.new(init, "simple", init, [c.id]).id
            return c.id
        if t == "switch_statement":
            c = self.new(node, "cond", node.child_by_field_name("condition"))
            body = node.child_by_field_name("body")
            cases = [x for x in self.children(body)] if body is not None else []
            entries: list[int] = []
            follow = nxt
            has_default = False
            for case in reversed(cases):
                if case.type == "case_statement":
                    value = case.child_by_field_name("value")
                    has_default = has_default or value is None
                    stmts = [x for x in self.children(case) if x != value
                             and (x.type in _STATEMENTS or x.type in _PREPROC)]
                    follow = self.seq(stmts, follow, nxt, cont)
                    entries.append(follow)
                else:
                    follow = self.one(case, follow, nxt, cont)
            entries.reverse()
            c.succ = entries + ([] if has_default else [nxt])
            return c.id
        if t == "return_statement":
            return self.new(node, "return", node, [EXIT]).id
        if t == "goto_statement":
            lab = node.child_by_field_name("label")
            target = self.labels.get(text(lab), END) if lab is not None else END
            return self.new(node, "goto", node, [target]).id
        if t == "break_statement":
            return self.new(node, "break", node, [brk]).id
        if t == "continue_statement":
            return self.new(node, "continue", node, [cont]).id
        if t == "labeled_statement":
            lab = node.child_by_field_name("label")
            sid = self.labels.get(text(lab)) if lab is not None else None
            inner = [c for c in node.named_children if c.type in _STATEMENTS]
            after = self.seq(inner, nxt, brk, cont)
            if sid is None:
                return after
            self.stmts[sid].succ = [after]
            return sid
        if t == "attributed_statement":
            inner = [c for c in node.named_children if c.type in _STATEMENTS]
            return self.seq(inner, nxt, brk, cont)
        if _is_gap(node):
            return self.new(node, "unseen", None, [nxt]).id
        if _calls_noreturn(node):
            return self.new(node, "simple", node, []).id  # BUG(), panic(): the path ends
        return self.new(node, "simple", node, [nxt]).id
