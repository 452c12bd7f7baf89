"""struct zap_details: NULL for ordinary unmaps, a parameter block for special ones.

From the v4 4/4 discussion ("mm: Add zap_skip_check_mapping() helper"): Hugh
found the helper unhelpful, David suggested inverting it into should_zap_page()
so the callers read naturally; the later ZAP_FLAG_SKIP_SWAP debate was about
using the mere presence of details as a policy.
"""

from __future__ import annotations

import re

from reviewkit.checks._c import code, function_lines, guards, index_of
from reviewkit.engine.context import PatchContext, SeriesContext
from reviewkit.engine.registry import Hit, check

_ZAP_DETAILS = r"struct zap_details \*"


def _details_vars(f) -> list[str]:
    return [v.name for v in f.vars() if re.fullmatch(_ZAP_DETAILS, v.type)]


@check("mm/zap-details-deref-unchecked")
def details_deref_unchecked(ctx: PatchContext):
    for fc, f in ctx.with_post():
        names = _details_vars(f)
        if not names:
            continue
        lines = function_lines(f)
        for ln in fc.added:
            text = code(ln.text)
            for name in names:
                m = re.search(rf"\b{name}->", text)
                if not m:
                    continue
                i = index_of(lines, ln.new_no)
                before = _statement_head(lines, i) + text[:m.start()]
                if re.search(rf"\b{name}\s*&&|!\s*{name}\s*\|\||\b{name}\s*\?", before):
                    continue
                heads = guards(lines, i) if i is not None else []
                if any(re.search(rf"(?<![!\w]){name}\b(?!\s*->|\s*==\s*NULL)", h) and
                       not re.search(rf"!\s*{name}\b", h) for h in heads):
                    continue
                if _checked_earlier(lines, i, name):
                    continue
                yield Hit(line=ln.new_no, path=fc.path, function=f.name,
                          args={"func": f.name, "var": name})
                break


def _statement_head(lines, i) -> str:
    """The earlier lines of the statement that line ``i`` continues."""
    if i is None:
        return ""
    parts = []
    for j in range(i - 1, -1, -1):
        t = code(lines[j][1]).rstrip()
        if not t or t.endswith((";", "{", "}", ":")):
            break
        parts.append(t)
    return " ".join(reversed(parts)) + " "


def _checked_earlier(lines, i, name) -> bool:
    if i is None:
        return False
    for j in range(i - 1, -1, -1):
        t = code(lines[j][1])
        if re.search(rf"if\s*\(\s*(unlikely\()?\s*!\s*{name}\b|if\s*\(\s*{name}\s*==\s*NULL", t):
            nxt = " ".join(code(x[1]) for x in lines[j:j + 2])
            if re.search(r"\b(return|continue|goto|break)\b", nxt):
                return True
    return False


_PRESENCE = re.compile(
    r"if\s*\(\s*(?:(?:unlikely|likely)\s*\(\s*)?(\w+)\s*(?:!=\s*NULL\s*)?\)?\s*\)\s*(.*)$")


@check("mm/zap-details-presence-as-policy")
def details_presence_as_policy(ctx: PatchContext):
    for fc, f in ctx.with_post():
        names = set(_details_vars(f))
        if not names:
            continue
        lines = function_lines(f)
        for ln in fc.added:
            m = _PRESENCE.search(code(ln.text))
            if not m or m.group(1) not in names:
                continue
            rest = m.group(2)
            i = index_of(lines, ln.new_no)
            nxt = code(lines[i + 1][1]) if i is not None and i + 1 < len(lines) else ""
            if re.search(r"\b(continue|return|goto)\b", rest + " " + nxt):
                yield Hit(line=ln.new_no, path=fc.path, function=f.name,
                          args={"func": f.name, "var": m.group(1)})


@check("mm/zap-details-skip-helper-sense")
def skip_helper_sense(ctx: PatchContext):
    for fc, f in ctx.with_post():
        if "skip" not in f.name or not _details_vars(f):
            continue
        head = " ".join(t for n, t in f.lines[:3])
        if not re.search(r"\bbool\b", head):
            continue
        line = next((n for n, t in f.lines if re.search(rf"\b{f.name}\s*\(", t)), f.start)
        if line not in {ln.new_no for ln in fc.added}:
            continue
        callers = sorted({g.name + "()" for fchange in ctx.files if fchange.post
                          for g in fchange.post.functions if g.calls_to(f.name)})
        yield Hit(line=line, path=fc.path, function=f.name,
                  args={"func": f.name, "callers": ", ".join(callers[:3]) or "its callers"})


_STRUCT_OPEN = re.compile(r"^struct zap_details\s*\{")
_FIELD = re.compile(r"^\s+[A-Za-z_][\w\s]*?[\s\*]+([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*(:\s*\d+\s*)?;")


@check("mm/zap-details-single-user-field")
def single_user_field(ctx: SeriesContext):
    def mentions(p, pattern) -> bool:
        return any(pattern.search(ln.text) for f in p.files for h in f.hunks for ln in h.lines)

    candidates = [p for p in ctx.series.patches if mentions(p, _STRUCT_HINT)]
    added_fields: list[tuple[int, str, int, str]] = []  # (patch, path, line, field)
    for p in candidates:
        for fchange in ctx.changes[p.index]:
            img = fchange.post
            if img is None:
                continue
            for h in fchange.diff.hunks:
                for ln in h.lines:
                    if ln.kind != "+":
                        continue
                    m = _FIELD.match(code(ln.text))
                    if m and _inside_zap_details(img.lines, ln.new_no):
                        added_fields.append((p.index, fchange.path, ln.new_no, m.group(1)))
    if not added_fields:
        return
    wanted = {field for _, _, _, field in added_fields}
    uses = re.compile(r"(?:\.|->)(" + "|".join(sorted(map(re.escape, wanted))) + r")\b")
    users: dict[str, set[str]] = {field: set() for field in wanted}
    for p in ctx.series.patches:
        if not mentions(p, uses):
            continue
        for fchange in ctx.changes[p.index]:
            if fchange.post is None:
                continue
            for f in fchange.post.functions:
                for _, t in f.lines:
                    for m in uses.finditer(code(t)):
                        users[m.group(1)].add(f.name)
    for idx, path, line, field in added_fields:
        if len(users[field]) <= 1:
            yield Hit(patch=idx, path=path, line=line,
                      args={"field": field, "users": ", ".join(sorted(users[field]))
                            or "nothing"})


_STRUCT_HINT = re.compile(r"struct zap_details\s*\{")
def _inside_zap_details(lines: dict[int, str], number: int) -> bool:
    for n in range(number - 1, max(0, number - 40), -1):
        t = lines.get(n)
        if t is None:
            continue
        if _STRUCT_OPEN.match(t):
            return True
        if t.startswith("}") or t.startswith("struct ") or t.startswith("static "):
            return False
    return False
