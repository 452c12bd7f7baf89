"""Small questions about tree-sitter-c nodes: text, field paths, calls, conditions.

A *field path* names what an lvalue-ish expression denotes, spelled the way
kernel code spells it with the spaces removed: ``vmf->pte``, ``args.ptep``,
``*ptep``, ``pages[]``.  ``&vmf->ptl`` is the path ``vmf->ptl`` with its
address taken (see :func:`address_of`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

_TRANSPARENT = frozenset({"parenthesized_expression", "cast_expression"})
_CONST_TYPES = frozenset({"number_literal", "true", "false", "null", "char_literal",
                          "string_literal", "concatenated_string"})


def text(node: Node | None) -> str:
    """The node's source text with runs of whitespace folded to one space."""
    if node is None:
        return ""
    raw = node.text
    return " ".join(raw.decode("utf-8", "replace").split()) if raw is not None else ""


def strip(node: Node) -> Node:
    """The expression under parentheses and casts."""
    while node.type in _TRANSPARENT:
        if node.type == "cast_expression":
            inner = node.child_by_field_name("value")
        else:
            inner = next((c for c in node.named_children if c.type != "comment"), None)
        if inner is None:
            break
        node = inner
    return node


def path_of(node: Node | None) -> str | None:
    """The field path an expression names, or None when it is not one."""
    if node is None:
        return None
    node = strip(node)
    t = node.type
    if t == "identifier":
        return text(node)
    if t == "field_expression":
        base = path_of(node.child_by_field_name("argument"))
        fld = node.child_by_field_name("field")
        op = node.child_by_field_name("operator")
        if base is None or fld is None:
            return None
        return base + (text(op) if op is not None else "->") + text(fld)
    if t == "pointer_expression":
        op = node.child_by_field_name("operator")
        arg = path_of(node.child_by_field_name("argument"))
        if arg is not None and op is not None and text(op) == "*":
            return "*" + arg
        return None
    if t == "subscript_expression":
        arg = path_of(node.child_by_field_name("argument"))
        return arg + "[]" if arg is not None else None
    return None


def address_of(node: Node) -> str | None:
    """``&x`` / ``&vmf->ptl`` -> the path whose address is taken."""
    node = strip(node)
    if node.type == "pointer_expression":
        op = node.child_by_field_name("operator")
        if op is not None and text(op) == "&":
            return path_of(node.child_by_field_name("argument"))
    return None


def root_of(path: str) -> str:
    """The variable a field path starts from: ``vmf->pte`` -> ``vmf``."""
    p = path.lstrip("*&")
    for sep in ("->", ".", "["):
        i = p.find(sep)
        if i >= 0:
            p = p[:i]
    return p


def is_constant(node: Node) -> bool:
    node = strip(node)
    if node.type in _CONST_TYPES:
        return True
    if node.type == "identifier":
        name = text(node)
        return name in ("NULL", "true", "false") or name.isupper()
    if node.type == "unary_expression":
        arg = node.child_by_field_name("argument")
        return arg is not None and is_constant(arg)
    return False


def is_null(node: Node) -> bool:
    node = strip(node)
    return node.type == "null" or (node.type in ("identifier", "number_literal")
                                   and text(node) in ("NULL", "0"))


def inside(node: Node, outer: Node | None) -> bool:
    """Whether ``node`` lies within ``outer`` (by source range)."""
    return outer is not None and outer.start_byte <= node.start_byte and \
        node.end_byte <= outer.end_byte


def is_null_test(node: Node) -> bool:
    """``!p``, ``p == NULL``, ``if (p)``: ``node`` is tested for NULL, not used."""
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type == "unary_expression" and text(parent.child_by_field_name("operator")) == "!":
        return True
    if parent.type == "binary_expression" and text(parent.child_by_field_name(
            "operator")) in ("==", "!="):
        other = parent.child_by_field_name("right")
        if other is not None and other == node:
            other = parent.child_by_field_name("left")
        return other is not None and is_null(other)
    if parent.type in ("if_statement", "while_statement") and parent.child_by_field_name(
            "condition") == node:
        return True
    return False


def call_name(node: Node) -> str | None:
    """The called function's name when ``node`` is a direct call."""
    if node.type != "call_expression":
        return None
    fn = node.child_by_field_name("function")
    if fn is not None and fn.type == "identifier":
        return text(fn)
    return None


def call_args(node: Node) -> tuple[Node, ...]:
    args = node.child_by_field_name("arguments")
    if args is None:
        return ()
    return tuple(a for a in args.named_children if a.type != "comment")


def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node`` (itself first), in source order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if n.child_count:
            stack.extend(reversed(n.children))


def calls_in(node: Node) -> Iterator[Node]:
    for n in walk(node):
        if n.type == "call_expression":
            yield n


def identifiers_in(node: Node) -> Iterator[str]:
    """Identifier tokens (variables, macros, function names) under ``node``."""
    for n in walk(node):
        if n.type == "identifier":
            yield text(n)


def line_of(node: Node, base: int) -> int:
    return node.start_point[0] + base


@dataclass(frozen=True)
class Literal:
    """One atom of a condition, and what must hold of it for the condition to hold.

    ``polarity`` True: the atom is true (non-zero, non-NULL) where the guarded
    code runs.  ``necessary`` False: the atom is one side of a disjunction, so
    the guarded code may run without it.
    """

    node: Node
    polarity: bool
    necessary: bool

    @property
    def path(self) -> str | None:
        return path_of(self.node)


def literals(cond: Node, polarity: bool = True, necessary: bool = True,
             hints: frozenset[str] = frozenset({"likely", "unlikely"})) -> list[Literal]:
    """Decompose a condition into literals: ``!``, ``&&``, ``||``, ``== NULL``,
    ``!= NULL`` and branch hints (likely/unlikely) are looked through."""
    out: list[Literal] = []
    stack = [(cond, polarity, necessary)]
    while stack:
        node, pol, nec = stack.pop()
        node = strip(node)
        t = node.type
        if t == "unary_expression":
            arg = node.child_by_field_name("argument")
            if arg is not None and text(node.child_by_field_name("operator")) == "!":
                stack.append((arg, not pol, nec))
                continue
        elif t == "binary_expression":
            bop = text(node.child_by_field_name("operator"))
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            if left is not None and right is not None:
                if bop == "&&":
                    both = nec and pol
                    stack.extend([(right, pol, both), (left, pol, both)])
                    continue
                if bop == "||":
                    both = nec and not pol
                    stack.extend([(right, pol, both), (left, pol, both)])
                    continue
                if bop in ("==", "!=") and (is_null(right) or is_null(left)):
                    other = left if is_null(right) else right
                    stack.append((other, pol if bop == "!=" else not pol, nec))
                    continue
        elif t == "call_expression" and call_name(node) in hints:
            args = call_args(node)
            if args:  # likely(c), unlikely(c); WARN(c, fmt, ...) passes c's value on
                stack.append((args[0], pol, nec))
                continue
        out.append(Literal(node=node, polarity=pol, necessary=nec))
    return out


def assigned_to(call: Node) -> str | None:
    """The lvalue a call's value is stored in: ``x = call()`` or ``T *x = call()``."""
    n = call
    while n.parent is not None and n.parent.type in ("parenthesized_expression",
                                                     "cast_expression"):
        n = n.parent
    parent = n.parent
    if parent is None:
        return None
    if parent.type == "assignment_expression" and parent.child_by_field_name("right") == n:
        return path_of(parent.child_by_field_name("left"))
    if parent.type == "init_declarator" and parent.child_by_field_name("value") == n:
        decl = parent.child_by_field_name("declarator")
        while decl is not None and decl.type == "pointer_declarator":
            decl = decl.child_by_field_name("declarator")
        return text(decl) if decl is not None and decl.type == "identifier" else None
    return None
