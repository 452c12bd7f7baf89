"""struct zap_details: NULL for ordinary unmaps, a parameter block for special ones.

From the v4 4/4 discussion ("mm: Add zap_skip_check_mapping() helper"): Hugh
found the helper unhelpful, David suggested inverting it into should_zap_page()
so the callers read naturally; the later ZAP_FLAG_SKIP_SWAP debate was about
using the mere presence of details as a policy.

A ``details`` is recognised by its type (``struct zap_details *``), never by
its name; a NULL test counts whether it is written out (``!details``,
``details &&``, ``details ?``, an early return) or done by a helper whose
summary says what it returns for a NULL argument.
"""

from __future__ import annotations

from tree_sitter import Node

from reviewkit.analysis import of, type_of
from reviewkit.analysis.function import FunctionAnalysis, _leaves
from reviewkit.analysis.summary import Summaries
from reviewkit.analysis.syntax import call_args, call_name, literals, path_of, strip, text, walk
from reviewkit.engine.context import PatchContext, SeriesContext
from reviewkit.engine.registry import Confidence, Hit, check

_TYPE = "zap_details"  # the kernel type (rules/mm/_vocab.yaml: vma-type)


def _is_details_type(t: str | None) -> bool:
    return t is not None and t.replace(" ", "") == f"struct{_TYPE}*"


def _details_vars(fa: FunctionAnalysis, graph=None) -> list[str]:
    """Parameters and locals of type ``struct zap_details *``; with a call graph,
    also a variable declared out of view that is passed where a function whose
    signature is in view takes one."""
    out = [n for t, n in fa.params + fa.locals if _is_details_type(t)]
    if graph is not None:
        for c in fa.calls:
            for a in c.args:
                p = path_of(a)
                if p and p.isidentifier() and p not in out and not fa.declared(p) and \
                        _is_details_type(type_of(fa, p, graph)):
                    out.append(p)
    return out


def _null_checked(fa: FunctionAnalysis, node: Node, name: str, summaries: Summaries | None
                  ) -> bool:
    """Whether ``name`` is known non-NULL where ``node`` runs."""
    for g in fa.guards(node):
        for lit in g.literals():
            if lit.path == name and lit.polarity and lit.necessary:
                return True
            call = strip(lit.node)
            if call.type != "call_expression" or summaries is None:
                continue
            helper = call_name(call)
            if helper is None:
                continue
            for i, a in enumerate(call_args(call)):
                if path_of(a) != name:
                    continue
                ret = summaries.returns_when_null(helper, i)
                if ret is None:
                    continue
                truthy = ret not in ("false", "0", "NULL")
                if truthy != lit.polarity:
                    return True  # this branch is where the helper did not see NULL
    return False


@check("mm/zap-details-deref-unchecked")
def details_deref_unchecked(ctx: PatchContext):
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        # a zap_details variable is declared in the function, or (diff-only) passed
        # where a function of this file takes one: without the type in view, nothing
        local = img.world is None and not any(g.mentions((_TYPE,)) for g in img.functions)
        for fc in fchange.functions:
            fa = of(fc.post, mentions=(_TYPE,) if local else None)
            if fa is None:
                continue
            names = set(_details_vars(fa, img.graph))
            if not names:
                continue
            added = {ln.new_no for ln in fc.added}
            for n in fa.nodes_of("field_expression"):
                if fa.line(n) not in added:
                    continue
                op = n.child_by_field_name("operator")
                base = path_of(n.child_by_field_name("argument"))
                if base not in names or op is None or text(op) != "->":
                    continue
                if _null_checked(fa, n, base, img.summaries):
                    continue
                yield Hit(line=fa.line(n), path=fc.path, function=fc.name,
                          args={"func": fc.name, "var": base}, absence=True,
                          confidence=Confidence.LOW if fa.context_unseen(n) else None)
                break


@check("mm/zap-details-presence-as-policy")
def details_presence_as_policy(ctx: PatchContext):
    for fc, f in ctx.with_post():
        fa = of(f, mentions=(_TYPE,))
        if fa is None:
            continue
        names = set(_details_vars(fa))
        if not names:
            continue
        added = {ln.new_no for ln in fc.added}
        for n in fa.nodes_of("if_statement"):
            if fa.line(n) not in added:
                continue
            cond, then = n.child_by_field_name("condition"), n.child_by_field_name(
                "consequence")
            if cond is None or then is None:
                continue
            lits = literals(cond)
            if len(lits) == 1 and lits[0].path in names and lits[0].polarity and _leaves(then):
                yield Hit(line=fa.line(n), path=fc.path, function=f.name,
                          args={"func": f.name, "var": lits[0].path})


@check("mm/zap-details-skip-helper-sense")
def skip_helper_sense(ctx: PatchContext):
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        for fc in fchange.functions:
            fa = of(fc.post, mentions=(_TYPE,))
            if fa is None or fa.return_type != "bool" or fa.declarator is None:
                continue
            line = fa.line(fa.declarator)
            if line not in {ln.new_no for ln in fc.added}:
                continue
            idx = next((i for i, (t, _) in enumerate(fa.params) if _is_details_type(t)), None)
            if idx is None or not any(t.replace(" ", "") in ("structpage*", "structfolio*")
                                      for t, _ in fa.params):
                continue  # not a filter of the pages a zap walks
            # NULL details means "zap everything": a page filter that answers false
            # for it answers "skip this page?"
            if img.summaries.returns_when_null(fc.name, idx) not in ("false", "0"):
                continue
            callers = sorted({g.name + "()" for other in ctx.files if other.post
                              for g in other.post.functions if fc.name and g.calls_to(fc.name)})
            yield Hit(line=line, path=fc.path, function=fc.name,
                      args={"func": fc.name, "callers": ", ".join(callers[:3]) or "its callers"})


def _struct_fields(text_lines: list[tuple[int, str]], header: str) -> list[tuple[int, str]]:
    """(line, field) of each field declared in a ``struct zap_details`` the lines
    show (the hunk header names the struct when the hunk starts inside it)."""
    if not text_lines:
        return []
    body = [t for _, t in text_lines]
    first = text_lines[0][0]
    prefix: list[str] = []
    h = header.strip()
    if h.startswith("struct") and "{" in h and not any(
            ln.lstrip().startswith(h.split("{")[0].strip()) for ln in body):
        prefix = [h]
    src = "\n".join(prefix + body) + "\n};\n"
    base = first - len(prefix)
    from reviewkit.engine.cfunc import _parser, blank_attributes

    tree = _parser().parse(blank_attributes(src).encode("utf-8", "replace"))
    out = []
    for n in walk(tree.root_node):
        if n.type != "struct_specifier":
            continue
        name = n.child_by_field_name("name")
        fields = n.child_by_field_name("body")
        if name is None or fields is None or text(name) != _TYPE:
            continue
        for fd in fields.named_children:
            if fd.type != "field_declaration":
                continue
            for d in fd.children_by_field_name("declarator"):
                ident: Node | None = d
                while ident is not None and ident.type != "field_identifier":
                    ident = ident.child_by_field_name("declarator") or next(
                        iter(ident.named_children), None)
                if ident is not None:
                    out.append((fd.start_point[0] + base, text(ident)))
    return out


@check("mm/zap-details-single-user-field")
def single_user_field(ctx: SeriesContext):
    added_fields: list[tuple[int, str, int, str]] = []  # (patch, path, line, field)
    for p in ctx.series.patches:
        if not any(_TYPE in ln.text for f in p.files for h in f.hunks for ln in h.lines):
            continue  # cheap filter: the struct is not in this patch at all
        for fchange in ctx.changes[p.index]:
            if fchange.post is None:
                continue
            for h in fchange.diff.hunks:
                post = [(ln.new_no, ln.text) for ln in h.lines if ln.kind != "-"
                        and ln.new_no is not None]
                added = {ln.new_no for ln in h.lines if ln.kind == "+"}
                for line, name in _struct_fields(post, h.section or ""):
                    if line in added:
                        added_fields.append((p.index, fchange.path, line, name))
    if not added_fields:
        return
    wanted = {fld for _, _, _, fld in added_fields}
    users: dict[str, set[str]] = {fld: set() for fld in wanted}
    for p in ctx.series.patches:
        if not any(w in ln.text for f in p.files for h in f.hunks for ln in h.lines
                   for w in wanted):
            continue
        for fchange in ctx.changes[p.index]:
            if fchange.post is None:
                continue
            for f in fchange.post.functions:
                fa = of(f, mentions=users)
                if fa is None:
                    continue
                for n in fa.nodes_of("field_expression"):
                    if n.type == "field_expression":
                        member = n.child_by_field_name("field")
                        if member is not None and text(member) in users:
                            users[text(member)].add(f.name)
    for idx, path, line, fld in added_fields:
        if len(users[fld]) <= 1:
            yield Hit(patch=idx, path=path, line=line,
                      args={"field": fld, "users": ", ".join(sorted(users[fld])) or "nothing"})

