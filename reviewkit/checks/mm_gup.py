"""gup_must_unshare() without the vma on a path the slow GUP walk reaches.

David Hildenbrand on "mm/gup: handle hugepd for follow_page()": the GUP-fast
hugepd helpers pass no VMA to gup_must_unshare(), which is right for GUP-fast
(there is none) but wrong once follow_hugepd() calls them from the slow path,
where the VMA is known and needed (R/O long-term pins of shared file hugetlb).
"""

from __future__ import annotations

import re

from reviewkit.checks._c import code
from reviewkit.engine.cfunc import Call, Function
from reviewkit.engine.context import FileImage, PatchContext
from reviewkit.engine.registry import Hit, check

_VMA_TYPE = r"struct vm_area_struct \*"
_UNSHARE = "gup_must_unshare"


def _no_vma(call: Call) -> bool:
    # gup_must_unshare(vma, flags, page) since 6.5; (flags, page) before
    return len(call.args) == 2 or (bool(call.args) and call.args[0] in ("NULL", "0"))


_FAST_ROOT = re.compile(r"^(gup_fast\w*|gup_(pgd|p4d|pud|pmd|pte)_range|lockless_pages_from_mm|"
                        r"internal_get_user_pages_fast|\w*_user_pages_fast\w*)$")


def _gup_fast(img: FileImage, name: str) -> bool:
    """Whether ``name`` belongs to the GUP-fast walk (reached from its entry points)."""
    if _FAST_ROOT.match(name):
        return True
    return any(_FAST_ROOT.match(caller) for caller in img.reached_from(name))


def _has_vma(f: Function) -> bool:
    return f.has_var_of_type(_VMA_TYPE)


def _slow_context(img: FileImage, name: str) -> str | None:
    """A function holding a VMA that is, or calls, ``name`` (None when GUP-fast only)."""
    for f in img.named(name):
        if _has_vma(f):
            return name
    for caller in sorted(img.reached_from(name)):
        if any(_has_vma(f) for f in img.named(caller)):
            return caller
    return None


@check("mm/gup-must-unshare-null-vma")
def must_unshare_null_vma(ctx: PatchContext):
    for fchange in ctx.files:
        img = fchange.post
        if img is None:
            continue
        bad: dict[str, Call] = {}
        for f in img.functions:
            for c in f.calls_to(_UNSHARE):
                if _no_vma(c):
                    bad.setdefault(f.name, c)
        if not bad:
            continue
        added = {ln.new_no for h in fchange.diff.hunks for ln in h.lines
                 if ln.kind == "+" and ln.new_no is not None and code(ln.text).strip()}
        fired: set[int] = set()
        explained: set[str] = set()
        # (b) a new call from a function holding the VMA into a helper that calls
        #     gup_must_unshare() without one: the patch made it reachable from slow GUP
        for f in img.functions:
            if not _has_vma(f):
                continue
            for c in f.calls:
                if c.line not in added or c.line in fired or c.name == _UNSHARE:
                    continue
                if any(_has_vma(g) for g in img.named(c.name)):
                    continue  # slow path calling slow path: the boundary is further down
                targets = ({c.name} | img.reaches(c.name)) & set(bad)
                targets.discard(f.name)
                # with the old two-argument API there is no VMA to pass: what matters
                # then is only a GUP-fast helper now shared with slow GUP (seed 002)
                targets = {t for t in targets if len(bad[t].args) != 2 or _gup_fast(img, t)}
                if not targets:
                    continue
                inner = sorted(targets)[0]
                fired.add(c.line)
                explained |= targets
                yield Hit(line=c.line, path=fchange.path, function=f.name,
                          args={"func": f.name, "helper": c.name, "slow": f.name,
                                "how": f"calls {c.name}(), which reaches {inner}() and its "
                                       f"{_UNSHARE}() without a VMA"})
        # (a) the call without a VMA is itself new, on a path slow GUP reaches
        for fname, c in sorted(bad.items()):
            if c.line not in added or c.line in fired or fname in explained:
                continue
            via = _slow_context(img, fname)
            if via is None or (len(c.args) == 2 and (via == fname or not _gup_fast(img, fname))):
                # GUP-fast only; or a kernel whose gup_must_unshare() takes no VMA at all,
                # outside the GUP-fast walk: there is no VMA to pass, and no fast helper
                continue
            fired.add(c.line)
            yield Hit(line=c.line, path=fchange.path, function=fname,
                      args={"func": fname, "helper": fname, "slow": via,
                            "how": f"calls {_UNSHARE}() without a VMA" if via != fname else
                            f"has a VMA in scope but does not pass it to {_UNSHARE}()"})
