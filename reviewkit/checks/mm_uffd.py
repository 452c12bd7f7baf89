"""Assertions on userfaultfd state that userspace controls.

Whether a VMA is registered with userfaultfd, and in which mode, is decided
by the process: it registers and unregisters ranges, and fork() without
UFFD_FEATURE_EVENT_FORK gives the child VMAs with no registration at all while
their page tables may still carry uffd-wp bits and markers.  A WARN_ON()/
BUG_ON() on that state is therefore reachable from userspace (and with
panic_on_warn a denial of service); the code has to handle the case instead.

Decided from the call structure: an assertion macro (vocabulary: assert) whose
condition contains a VMA userfaultfd test (vocabulary: uffd-vma-test).
"""

from __future__ import annotations

from reviewkit.analysis import of
from reviewkit.analysis.syntax import call_args, call_name, walk
from reviewkit.analysis.vocab import vocab
from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check


@check("mm/uffd-state-asserted")
def uffd_state_asserted(ctx: PatchContext):
    v = vocab()
    asserts, tests = v["assert"], v["uffd-vma-test"]
    for fc, f in ctx.with_post():
        fa = of(f, mentions=asserts)
        if fa is None:
            continue
        added = {ln.new_no for ln in fc.added}
        for c in fa.calls_to(asserts):
            if c.line not in added or not c.args:
                continue
            test = next((call_name(n) for a in call_args(c.node) for n in walk(a)
                         if call_name(n) in tests), None)
            if test is None:
                continue
            yield Hit(line=c.line, path=fc.path, function=f.name,
                      args={"func": f.name, "assert": c.name, "test": test})
