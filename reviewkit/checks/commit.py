"""Commit-message rules that hold kernel-wide: sign-off, Fixes:, stable, subject prefix."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from reviewkit.engine.context import PatchContext
from reviewkit.engine.registry import Hit, check

_FIXES = re.compile(r'^[0-9a-f]{12,40} \("[^"].*"\)$')
_STABLE = re.compile(r"stable@(vger\.)?kernel\.org", re.I)


def _norm(name: str) -> str:
    return " ".join(name.lower().replace('"', "").split())


@check("commit/signed-off-by-missing")
def signed_off_by_missing(ctx: PatchContext):
    if not ctx.patch.trailers_of("Signed-off-by"):
        yield Hit(args={"author": str(ctx.patch.author)})


@check("commit/signed-off-by-author")
def signed_off_by_author(ctx: PatchContext):
    p = ctx.patch
    sobs = [t.person for t in p.trailers_of("Signed-off-by") if t.person is not None]
    if not sobs:
        return  # commit/signed-off-by-missing says it
    if any(s.email == p.author.email or (_norm(s.name) and _norm(s.name) == _norm(p.author.name))
           for s in sobs):
        return
    yield Hit(args={"author": str(p.author), "signers": ", ".join(str(s) for s in sobs)})


@check("commit/fixes-malformed")
def fixes_malformed(ctx: PatchContext):
    for t in ctx.patch.trailers_of("Fixes"):
        if t.source == "patch" and not _FIXES.match(t.value.strip()):
            yield Hit(args={"value": t.value.strip()})


@check("commit/fixes-without-stable")
def fixes_without_stable(ctx: PatchContext):
    p = ctx.patch
    fixes = [t for t in p.trailers_of("Fixes") if t.source == "patch"]
    if not fixes:
        return
    if any(_STABLE.search(t.value) for t in p.trailers_of("Cc")):
        return
    if any(_STABLE.search(str(x)) for x in p.cc + p.to):
        return
    yield Hit(args={"fixes": fixes[0].value.strip()})


_PREFIX = re.compile(r"^([A-Za-z0-9_./,+ -]+?):\s")


def _components(path: str) -> set[str]:
    pp = PurePosixPath(path)
    parts = set(pp.parts[:-1])
    parts.add(pp.stem)
    parts.add(pp.name)
    return {x.lower() for x in parts}


@check("commit/subject-prefix-mismatch")
def subject_prefix_mismatch(ctx: PatchContext):
    p = ctx.patch
    m = _PREFIX.match(p.subject.title)
    if not m or not p.files:
        return
    prefix = m.group(1).strip()
    # only path-like prefixes ("mm/gup", "selftests/mm") make a claim about files
    if "/" not in prefix:
        return
    words = [w.lower() for w in re.split(r"[/,+ ]+", prefix) if w]
    comps = [_components(f.path) for f in p.files]
    # it names a path only when it starts at a directory the patch touches
    # ("mm/gup", "selftests/mm"); "userfaultfd/shmem" names features
    dirs = {d.lower() for f in p.files for d in PurePosixPath(f.path).parts[:-1]}
    if words[0] not in dirs:
        return
    last = words[-1]
    if any(last in c or any(x.startswith(last) for x in c) for c in comps):
        return
    yield Hit(args={"prefix": prefix, "files": ", ".join(f.path for f in p.files[:4])})
