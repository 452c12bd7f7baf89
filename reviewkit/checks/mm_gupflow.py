"""GUP control-flow rules: state that claims a lock is held, published before a
lock acquisition that can fail.

Peter Xu, "mm/gup: Mark lock taken only after a successful retake" (fix of
"mm/gup: Allow to react to fatal signals"): __get_user_pages_locked() set
``*locked = 1`` and then called down_read_killable(); when a fatal signal
interrupted the acquisition the caller saw ``*locked`` set and released
mmap_sem it did not hold.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of
from reviewkit.analysis.syntax import assigned_to, literals, path_of, strip, text, walk
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Confidence, Hit, check

_TRUE = {"true"}


def _bare(node: Node | None) -> Node | None:
    return strip(node) if node is not None else None


def _kind(node: Node | None) -> str | None:
    return node.type if node is not None else None


def _truthy_constant(node: Node | None) -> bool:
    if node is None:
        return False
    node = strip(node)
    if node.type == "true":
        return True
    if node.type == "number_literal":
        try:
            return int(text(node).rstrip("uUlL"), 0) != 0
        except ValueError:
            return False
    return text(node) in _TRUE


def _store_through(stmt: Node, params) -> tuple[str, Node] | None:
    """``*p = value;`` for a pointer parameter ``p``: (p, value)."""
    if stmt.type != "expression_statement" or stmt.named_child_count != 1:
        return None
    e = strip(stmt.named_children[0])
    if e.type != "assignment_expression" or text(e.child_by_field_name("operator")) != "=":
        return None
    left = _bare(e.child_by_field_name("left"))
    if left is None or left.type != "pointer_expression" or text(
            left.child_by_field_name("operator")) != "*":
        return None
    arg = _bare(left.child_by_field_name("argument"))
    right = e.child_by_field_name("right")
    if arg is None or right is None or arg.type != "identifier" or text(arg) not in params:
        return None
    return text(arg), right


def _stores_to(node: Node, param: str) -> bool:
    """Whether ``node`` assigns ``*param`` anywhere (or passes ``param`` on)."""
    for n in walk(node):
        if n.type == "assignment_expression":
            left = _bare(n.child_by_field_name("left"))
            if left is not None and left.type == "pointer_expression" and text(
                    _bare(left.child_by_field_name("argument"))) == param:
                return True
        if n.type == "call_expression":
            args = n.child_by_field_name("arguments")
            if args is not None and any(text(strip(a)) == param for a in args.named_children):
                return True
    return False


def _failure_branch(cond: Node, call_or_path, fails_when_true: bool,
                    consequence: Node | None, alternative: Node | None) -> Node | None | bool:
    """The branch of an ``if`` that runs when the acquisition failed; False when
    the condition does not test the acquisition."""
    for lit in literals(cond):
        node = strip(lit.node)
        hit = node == call_or_path if isinstance(call_or_path, Node) else \
            path_of(node) == call_or_path
        if not hit or not lit.necessary:
            continue
        if lit.polarity == fails_when_true:
            return consequence
        return alternative
    return False


def _if_parts(stmt: Node) -> tuple[Node | None, Node | None, Node | None]:
    cond = stmt.child_by_field_name("condition")
    cons = stmt.child_by_field_name("consequence")
    alt = stmt.child_by_field_name("alternative")
    if alt is not None and alt.type == "else_clause":
        alt = alt.named_children[0] if alt.named_child_count else None
    return cond, cons, alt


@check("mm/gup-locked-flag-before-fallible-lock")
def locked_flag_before_fallible_lock(ctx: PatchContext):
    v = vocab()
    killable = v["lock-killable"]
    trylock = v["lock-try"]
    names = set(killable) | set(trylock)
    for fc, f in ctx.with_post():
        fa_ = of(f, mentions=names)
        if fa_ is None:
            continue
        fa = fa_
        added = {ln.new_no for ln in fc.added}
        pointer_params = {n for t, n in fa.params if "*" in t}

        class _Params:
            # a pointer parameter; in a function the hunks show in part, a name
            # declared nowhere in view may be a parameter cut off from the header
            def __contains__(self, name: str) -> bool:
                return name in pointer_params or (not fa.complete and not fa.declared(name))

            def __iter__(self):
                return iter(pointer_params)

        params = _Params()
        for call in fa.calls_to(names):
            fails_when_true = call.name in killable
            stmt = fa.statement_of(call.node)
            block = stmt.parent
            if block is None or block.type != "compound_statement":
                continue
            # how the result is tested: in the statement itself, or through a variable
            branch: Node | None | bool = False
            if stmt.type == "if_statement":
                cond, cons, alt = _if_parts(stmt)
                if cond is not None:
                    branch = _failure_branch(cond, strip(call.node), fails_when_true, cons, alt)
            else:
                var = assigned_to(call.node)
                nxt = stmt.next_named_sibling
                if var is not None and nxt is not None and nxt.type == "if_statement":
                    cond, cons, alt = _if_parts(nxt)
                    if cond is not None:
                        branch = _failure_branch(cond, var, fails_when_true, cons, alt)
            if not isinstance(branch, Node):
                continue
            # the nearest earlier statement of the block that stores through a pointer
            # parameter a value claiming the lock is taken, with nothing in between
            # that stores there again
            gaps = {(g.start_byte, g.end_byte) for g in fa.gaps}
            prev = stmt.prev_named_sibling
            store = None
            seen: set[str] = set()
            while prev is not None:
                if (prev.start_byte, prev.end_byte) in gaps:
                    break  # lines nobody has seen lie between
                s = _store_through(prev, params)
                if s is not None and s[0] not in seen:
                    store = (prev, s[0], s[1])
                    break
                if prev.type in ("expression_statement", "declaration", "if_statement"):
                    for n in fa.walk(prev):
                        if n.type == "identifier":
                            name = text(n)
                            if name not in seen and name in params and _stores_to(prev, name):
                                seen.add(name)
                else:
                    break
                prev = prev.prev_named_sibling
            if store is None:
                continue
            node, param, value = store
            if not _truthy_constant(value):
                continue
            if _stores_to(branch, param):
                continue  # the failure path takes the claim back
            store_line = fa.line(node)
            if call.line not in added and store_line not in added:
                continue
            unseen = any((n.start_byte, n.end_byte) in gaps for n in fa.walk(branch))
            yield Hit(line=call.line, path=fc.path, function=f.name,
                      args={"func": call.name, "flag": "*" + param,
                            "store_line": store_line},
                      # the store, the acquisition and its failure branch are all in view
                      confidence=Confidence.LOW if unseen else Confidence.MEDIUM)


# -- a retry decided by FAULT_FLAG_TRIED once ALLOW_RETRY is kept -------------------------

def _clears_flag(node: Node, flags) -> str | None:
    """``v &= ~FLAG`` (FLAG one of ``flags``): the path of v."""
    if node.type != "assignment_expression" or text(node.child_by_field_name("operator")) != "&=":
        return None
    right = _bare(node.child_by_field_name("right"))
    if right is None or right.type != "unary_expression" or text(
            right.child_by_field_name("operator")) != "~":
        return None
    arg = _bare(right.child_by_field_name("argument"))
    if arg is None:
        return None
    names = {text(n) for n in walk(arg) if n.type == "identifier"}
    if not names & set(flags):
        return None
    return path_of(node.child_by_field_name("left"))


def _tests_flag(node: Node, var: str, flags) -> bool:
    """``var & FLAG``."""
    node = strip(node)
    if node.type != "binary_expression" or text(node.child_by_field_name("operator")) != "&":
        return False
    left = _bare(node.child_by_field_name("left"))
    right = _bare(node.child_by_field_name("right"))
    return any(path_of(a) == var and text(b) in flags
               for a, b in ((left, right), (right, left)))


def _jumps_back(node: Node | None) -> bool:
    return node is not None and any(n.type in ("goto_statement", "continue_statement")
                                    for n in walk(node))


@check("mm/gup-retry-ends-on-tried")
def retry_ends_on_tried(ctx: PatchContext):
    v = vocab()
    allow = v["fault-flag-allow-retry"]
    tried = v["fault-flag-tried"]
    for fc, f in ctx.with_post():
        if fc.pre is None or not fc.removed:
            continue
        pa = of(fc.pre, mentions=allow)
        if pa is None or pa.body is None:
            continue
        removed = {ln.old_no for ln in fc.removed}
        # the patch stops clearing ALLOW_RETRY on some variable
        pre_body: Node = pa.body
        dropped = {var for n in pa.walk(pre_body) if (var := _clears_flag(n, allow))
                   and pa.line(n) in removed}
        if not dropped:
            continue
        fb = of(f, mentions=tried)
        if fb is None or fb.body is None:
            continue
        fa = fb
        body: Node = fb.body
        kept = {var for n in fa.walk(body) if (var := _clears_flag(n, allow))}
        for n in fa.walk(body):
            if n.type != "if_statement":
                continue
            cond, cons, _alt = _if_parts(n)
            if cond is None:
                continue
            for lit in literals(cond):
                var = next((d for d in dropped - kept if _tests_flag(lit.node, d, tried)), None)
                # the retry is taken only while TRIED is clear
                if var is None or lit.polarity or not lit.necessary or not _jumps_back(cons):
                    continue
                yield Hit(line=fa.line(n), path=fc.path, function=f.name,
                          args={"var": var, "allow": next(iter(allow)),
                                "tried": next(iter(tried))},
                          confidence=Confidence.MEDIUM)
                break
