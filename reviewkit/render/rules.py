"""``reviewkit rules show``: a rule's documentation and examples as text."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a renderer gets the rule; it never loads the engine
    from reviewkit.engine.manifest import Rule


def _para(title: str, text: str) -> list[str]:
    body = textwrap.fill(" ".join(text.split()), width=78, initial_indent="  ",
                         subsequent_indent="  ")
    return [f"{title}:", body, ""]


def render_rule(rule: "Rule") -> str:
    out = [f"{rule.id}: {rule.title}",
           f"severity {rule.severity}, confidence {rule.confidence}, scope {rule.scope}"
           + (f", paths {', '.join(rule.paths)}" if rule.paths else "")
           + (", declarative" if rule.match is not None else ""), ""]
    out += _para("What", rule.docs["what"])
    out += _para("Why", rule.docs["why"])
    out += _para("Fix", rule.docs["fix"])
    out += _para("Known false positives", rule.docs["false-positives"])
    if rule.references:
        out.append("References:")
        out += [f"  {r}" for r in rule.references]
        out.append("")
    for ex in rule.examples:
        mark = "fires" if ex.expect == "fire" else "stays silent"
        out.append(f"Example ({mark}): {ex.name}" + (" [tree mode]" if ex.tree else ""))
        body = ex.diff if ex.diff is not None else ex.mbox
        out += ["  " + ln for ln in body.rstrip("\n").split("\n")]
        out.append("")
    return "\n".join(out)
