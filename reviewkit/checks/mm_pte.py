"""A pte pointer used after pte_unmap()/pte_unmap_unlock().

v4 2/4 ("mm: Clear vmf->pte after pte_unmap_same() returns") makes the rule:
after the unmap the pointer is stale (with highmem page tables it points into
a kmap that is gone), so clear it or map it again before any use.
"""

from __future__ import annotations

import re

from reviewkit.checks._c import code, function_lines, indent
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check

_UNMAP = re.compile(r"\bpte_unmap(?:_unlock)?\s*\(\s*([A-Za-z_][\w]*(?:->[A-Za-z_]\w*)*)")
_JUMP = re.compile(r"^\s*(return\b|goto\b|break\s*;|continue\s*;)")


def _reassigned(text: str, var: str) -> bool:
    """Assigned, or handed by address to a function that maps it (follow_pte(.., &ptep, ..))."""
    v = re.escape(var)
    return re.search(rf"(?<![\w>.]){v}\s*=(?!=)|&\s*{v}\b(?!\s*->)", text) is not None


def _used(text: str, var: str) -> bool:
    rx = re.compile(rf"(?<![\w>.]){re.escape(var)}\b(?!\s*=(?!=))")
    for m in rx.finditer(text):
        before = text[:m.start()].rstrip()
        if before.endswith("!"):
            continue  # a NULL test, not a use
        after = text[m.end():].lstrip()
        if after.startswith(("==", "!=")) and "NULL" in after[:8]:
            continue
        return True
    return False


@check("mm/pte-used-after-unmap")
def pte_used_after_unmap(ctx: PatchContext):
    for fc, f in ctx.with_post():
        lines = function_lines(f)
        changed = {ln.new_no for ln in fc.added}
        for i, (n, t) in enumerate(lines):
            m = _UNMAP.search(code(t))
            if not m:
                continue
            var = m.group(1)
            base = indent(t)
            jumped = False
            for n2, t2 in lines[i + 1:]:
                c = code(t2)
                if not c.strip():
                    continue
                ind = indent(t2)
                if ind < base:
                    if jumped or re.match(r"^\s*\}\s*else\b", c):
                        break  # the unmap's branch ended; this line is on another path
                    base = ind
                if ind == base and _JUMP.match(c):
                    jumped = True
                    continue
                if jumped:
                    continue
                if _reassigned(c, var) or _UNMAP.search(c):
                    break
                if _used(c, var):
                    if n in changed or n2 in changed:
                        yield Hit(line=n2, path=fc.path, function=f.name,
                                  args={"func": f.name, "var": var, "unmap_line": n})
                    break
