"""Revisions compared: which patches changed, which findings are new, fixed or persisting.

Two patches are "the same change" when their added and removed lines are the
same, whitespace and line numbers aside (the idea of ``git patch-id
--stable``, on the lines that change).  Patches are matched by title, then by
position.
"""

from __future__ import annotations

import hashlib
import re

from reviewkit.model import Patch, Series
from reviewkit.report import Finding


def patch_id(p: Patch) -> str:
    h = hashlib.sha1()
    for fd in p.files:
        h.update(f"{fd.old_path or ''}\0{fd.new_path or ''}\n".encode())
        for hunk in fd.hunks:
            for ln in hunk.lines:
                if ln.kind in "+-":
                    h.update((ln.kind + "".join(ln.text.split()) + "\n").encode())
    return h.hexdigest()


def _title(p: Patch) -> str:
    return " ".join(p.subject.title.lower().split())


def match_patches(new: Series, old: Series) -> dict[int, Patch | None]:
    """New patch index -> the old revision's patch it continues (None: a new patch)."""
    by_title = {_title(p): p for p in old.patches}
    by_index = {p.index: p for p in old.patches}
    used: set[str] = set()
    out: dict[int, Patch | None] = {}
    for p in new.patches:
        o = by_title.get(_title(p))
        if o is not None and o.message_id not in used:
            out[p.index] = o
            used.add(o.message_id)
    for p in new.patches:
        if p.index in out:
            continue
        o = by_index.get(p.index)
        if o is not None and o.message_id not in used and len(new.patches) == len(old.patches):
            out[p.index] = o
            used.add(o.message_id)
        else:
            out[p.index] = None
    return out


def changed(new: Patch, old: Patch | None) -> bool:
    return old is None or patch_id(new) != patch_id(old)


def _key(f: Finding, patch_key) -> tuple:
    return (f.rule, patch_key, f.path, f.function, re.sub(r"\d+", "#", f.message))


def compare(new: Series, old: Series, new_findings, old_findings) -> dict:
    """The comparison carried in the report (JSON-ready)."""
    matched = match_patches(new, old)
    old_to_new = {o.index: n for n, o in matched.items() if o is not None}

    def key_new(f: Finding):
        return _key(f, f.patch)

    def key_old(f: Finding):
        return _key(f, old_to_new.get(f.patch, ("old", f.patch)) if f.patch else f.patch)

    new_keys = {key_new(f): f for f in new_findings if not f.rule.startswith("internal/")}
    old_keys = {key_old(f): f for f in old_findings if not f.rule.startswith("internal/")}
    rows = []
    for p in new.patches:
        o = matched[p.index]
        mine = [k for k in new_keys if k[1] == p.index]
        theirs = [k for k in old_keys if k[1] == p.index]
        rows.append({
            "index": p.index,
            "previous_index": o.index if o is not None else None,
            "changed": "new" if o is None else ("changed" if changed(p, o) else "unchanged"),
            "new": sorted(k[0] for k in mine if k not in old_keys),
            "fixed": sorted(k[0] for k in theirs if k not in new_keys),
            "persisting": sorted(k[0] for k in mine if k in old_keys),
        })
    dropped = [o.index for o in old.patches if o.index not in old_to_new]
    return {
        "base_version": old.version,
        "patches": rows,
        "dropped": dropped,
        "new_findings": [new_keys[k].to_json() for k in new_keys if k not in old_keys],
        "fixed_findings": [old_keys[k].to_json() for k in old_keys if k not in new_keys],
    }
