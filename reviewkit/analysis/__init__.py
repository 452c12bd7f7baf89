"""The C analysis the rules stand on.

Rules ask questions of code, not of text.  Every function a rule sees — whole
(tree mode, or carried whole by a hunk) or partial (what a hunk shows,
completed into a parseable function) — is parsed by tree-sitter-c, and
:func:`of` gives its :class:`~reviewkit.analysis.function.FunctionAnalysis`:

statements and guards
    ``fa.guards(node)`` -> the conditions under which ``node`` runs, innermost
    first, each a :class:`Guard` with its ``cond`` node, ``polarity`` and
    ``kind``: ``if``/``else`` branches, ``exit`` (an earlier ``if`` that
    returns/gotos/breaks/continues, so what follows runs when it is false),
    ``ternary`` arms, ``and``/``or`` operands, ``loop`` bodies, ``case`` arms.
    ``guard.literals()`` splits a condition into atoms through ``!``, ``&&``,
    ``||``, ``== NULL`` and likely()/unlikely(), each with its polarity and
    whether it is *necessary* (a conjunct) or one side of a disjunction.

paths
    ``fa.cfg`` is the control-flow graph (one :class:`Stmt` per simple
    statement or condition; EXIT for returns and falling off the end, END for
    the end of what a partial function shows).  ``fa.paths_to_exits(node,
    stop)`` returns the paths from ``node`` to an exit that meet no statement
    where ``stop`` holds — "on every path from this acquire to an exit, is
    there a release?" is ``not fa.paths_to_exits(acquire, releases)``.
    ``fa.reachable(node, until=...)`` walks what can run after ``node``.

def-use
    Field paths name lvalues: ``vmf->pte``, ``args.ptep``, ``*ptep``,
    ``pages[]`` (:func:`syntax.path_of`).  ``fa.defs_of(path)`` (with the
    value node of each init/assignment, ``address`` when ``&path`` goes to a
    call), ``fa.uses_of(path)``, ``fa.aliases(path)`` (plain copies either
    way), ``fa.origins(expr)`` (what a value is made of, through assignments
    and helper-call arguments), ``fa.flows(source, sink)``.

call sites
    ``fa.calls`` / ``fa.calls_to(names)``: :class:`CallSite` with the callee
    name, the call node and its argument nodes.

types
    ``fa.params`` / ``fa.locals`` as (type, name); ``fa.type_of(name)``;
    :func:`type_of` also looks at the signatures of functions a value is
    passed to.

partial functions
    ``fa.complete`` is False for a function a hunk shows in part;
    ``fa.context_unseen(node)`` says whether code the hunk does not show may
    enclose ``node`` (a guard just outside the hunk).

summaries
    :class:`summary.Summaries` over a call graph (``image.graph``):
    ``reaches(name, api)``, ``call_reaches(name, api)``,
    ``returns_when_null(name, index)``.

kernel vocabulary
    :func:`reviewkit.analysis.vocab.vocab` loads ``rules/mm/_vocab.yaml``; a rule matches a
    function name only through it.

:mod:`reviewkit.analysis.facts` holds the mm questions several rules share
(is this guard a writability test, does this call dirty a page).
"""

from __future__ import annotations

from collections.abc import Iterable

from reviewkit.analysis.function import CallSite, Def, FunctionAnalysis, Guard, Stmt
from reviewkit.analysis.summary import CallGraph, Summaries
from reviewkit.analysis.syntax import Literal, literals, path_of, text
from reviewkit.analysis.vocab import Vocabulary
from reviewkit.engine.cfunc import Function

__all__ = ["CallGraph", "CallSite", "Def", "FunctionAnalysis", "Guard", "Literal", "Stmt",
           "Summaries", "Vocabulary", "literals", "of", "path_of", "text", "type_of"]


def of(f: Function | None, mentions: Iterable[str] | None = None
       ) -> FunctionAnalysis | None:
    """The analysis of ``f`` (cached on it), or None when it could not be parsed.

    With ``mentions`` (kernel API names), also None — without parsing ``f`` — when
    its text holds none of them: a rule that can only find something at a call of
    one of those names asks this way, and the functions it has nothing to say
    about are never parsed (see ``Function.mentions``)."""
    if f is None or (mentions is not None and not f.mentions(mentions)):
        return None
    if f.syntax is None:
        return None
    cached = f.__dict__.get("_analysis")
    if cached is not None:
        return cached
    node, base, synthetic, _tree = f.syntax
    fa = FunctionAnalysis(node, base, name=f.name, complete=f.complete,
                          synthetic_lines=synthetic)
    object.__setattr__(f, "_analysis", fa)
    return fa


def type_of(fa: FunctionAnalysis, name: str, graph=None) -> str | None:
    """The type of a parameter or local; failing a declaration in view, the
    parameter type of a function (known to ``graph``) it is passed to."""
    t = fa.type_of(name)
    if t is not None or graph is None:
        return t
    for c in fa.calls:
        for i, a in enumerate(c.args):
            if path_of(a) == name:
                for g in graph.definitions(c.name):
                    ga = of(g)
                    if ga is not None and i < len(ga.params):
                        return ga.params[i][0]
    return None
