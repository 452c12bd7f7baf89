"""The engine: select rules, build each patch's context, run every rule alone,
turn hits into findings, isolate crashes, apply waivers, sort and dedupe."""

from __future__ import annotations

import fnmatch
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from collections.abc import Mapping
from pathlib import Path
from typing import Iterable

from reviewkit.engine.cfunc import code
from reviewkit.engine.context import (Earlier, FileChange, PatchContext, SeriesContext, diff_only_changes,
                                      lower, tree_changes)
from reviewkit.engine import prefilter
from reviewkit.engine.manifest import Rule, load_manifests
from reviewkit.engine.registry import Hit, registered
from reviewkit.model import Patch, Series
from reviewkit.report import Finding


class RuleSetError(ValueError):
    """The rule set does not load (bad manifest, unpaired check)."""


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    checks: dict
    # rule id -> the names a patch's text must hold for the rule to run (needs-any)
    needs: dict = field(default_factory=dict)

    def get(self, rule_id: str) -> Rule | None:
        for r in self.rules:
            if r.id == rule_id or rule_id in r.aliases:
                return r
        return None


def build_ruleset(rules: list[Rule], checks: dict) -> RuleSet:
    python_rules = {r.id for r in rules if r.check == "python"}
    declarative = {r.id for r in rules if r.match is not None}
    missing = sorted(python_rules - set(checks))
    if missing:
        raise RuleSetError(f"manifest(s) without a check function: {', '.join(missing)}")
    orphans = sorted(set(checks) - python_rules)
    if orphans:
        extra = [o for o in orphans if o in declarative]
        raise RuleSetError(
            f"check function(s) without a 'check: python' manifest: {', '.join(orphans)}"
            + (" (declarative manifests take no code)" if extra else ""))
    try:
        needs = prefilter.resolve(rules)
    except prefilter.PrefilterError as exc:
        raise RuleSetError(str(exc)) from None
    return RuleSet(rules=tuple(rules), checks=checks, needs=needs)


@lru_cache(maxsize=4)
def load_ruleset(directory: str | None = None) -> RuleSet:
    return build_ruleset(load_manifests(Path(directory) if directory else None), registered())


def select_rules(ruleset: RuleSet, select: Iterable[str] = (), ignore: Iterable[str] = ()
                 ) -> list[Rule]:
    select, ignore = list(select), list(ignore)

    def hit(rule: Rule, patterns: list[str]) -> bool:
        names = (rule.id, *rule.aliases)
        return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)

    out = [r for r in ruleset.rules if (not select or hit(r, select)) and not hit(r, ignore)]
    return out


@dataclass
class EngineResult:
    findings: list[Finding]
    mode: str
    notes: list[str] = field(default_factory=list)
    tree_patches: tuple[int, ...] = ()
    contexts: dict = field(default_factory=dict)  # patch index -> tree.PatchSource


class _Args(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _excerpt(fc: FileChange | None, line: int | None, old_line: int | None) -> tuple[str, ...]:
    if fc is None or (line is None and old_line is None):
        return ()
    for h in fc.diff.hunks:
        for i, ln in enumerate(h.lines):
            if (line is not None and ln.new_no == line and ln.kind != "-") or (
                    line is None and ln.old_no == old_line and ln.kind != "+"):
                lo, hi = max(0, i - 2), min(len(h.lines), i + 2)
                return tuple(x.kind + x.text for x in h.lines[lo:hi])
    return ()


def agree(severity: str, confidence: str, seen: bool) -> tuple[str, str]:
    """The severity and confidence a finding is reported with.

    - A claim that rests on code the engine could not see (a function the patch
      shows only in part, as in diff-only review or when a patch did not apply
      to the tree exactly) is at most info.
    - An error is a high-confidence claim: anything less sure is a warning.
    """
    if not seen:
        return "info", confidence
    if severity == "error" and confidence != "high":
        return "warning", confidence
    return severity, confidence


def _finding(rule: Rule, hit: Hit, patch: Patch | None, files: list[FileChange],
             complete: bool) -> Finding:
    message = rule.message.format_map(_Args(hit.args)) if hit.args else rule.message
    confidence = hit.confidence or (rule.confidence if complete else lower(rule.confidence))
    # the claim rests on code the engine could not see when it says something is
    # absent from a function the patch shows only in part (a patch that did not
    # apply to the tree exactly is reviewed from its diff, so it is seen in part)
    seen = complete or not hit.absence
    severity, confidence = agree(str(hit.severity or rule.severity), str(confidence), seen)
    patch_index: int | None
    if hit.patch == "this":
        patch_index = patch.index if patch is not None else None
    else:
        patch_index = hit.patch if isinstance(hit.patch, int) else None
    path = hit.path
    fc = next((f for f in files if f.path == path), None) if path else None
    excerpt = hit.excerpt or _excerpt(fc, hit.line, hit.old_line)
    line, old_line = hit.line, hit.old_line
    if fc is not None:
        line, old_line = fc.to_patch(line, "new"), fc.to_patch(old_line, "old")
    return Finding(rule=rule.id, severity=severity, confidence=confidence,
                   message=message, patch=patch_index, path=path, line=line,
                   old_line=old_line, function=hit.function, excerpt=tuple(excerpt),
                   message_id=hit.message_id or (patch.message_id if patch is not None and
                                                 patch_index == patch.index else None))


def _complete(fc: FileChange | None, hit: Hit) -> bool:
    """Whether the code a hit is about was seen whole: the file (tree mode), or at
    least the function the hit names, carried whole by a hunk."""
    if fc is None or fc.complete:
        return True
    if hit.function:
        for img in (fc.post, fc.pre):
            if img is not None and any(f.complete for f in img.local_named(hit.function)):
                return True
    return False


def _crash(rule: Rule, exc: BaseException, patch: Patch | None) -> Finding:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return Finding(rule="internal/rule-crashed", severity="error", confidence="high",
                   message=f"rule {rule.id} crashed ({type(exc).__name__}: {exc}{where}); "
                           "its findings for this patch are missing",
                   patch=patch.index if patch is not None else None)


def declarative_hits(rule: Rule, ctx: PatchContext) -> Iterable[Hit]:
    m = rule.match
    if m is None:
        return
    for fc in ctx.files:
        for h in fc.diff.hunks:
            for i, ln in enumerate(h.lines):
                rx = m.added if ln.kind == "+" else m.removed if ln.kind == "-" else None
                if rx is None or not rx.search(ln.text):
                    continue
                if m.unless_line is not None and m.unless_line.search(ln.text):
                    continue
                if m.near is not None:
                    lo, hi = max(0, i - m.near_lines), i + m.near_lines + 1
                    if not any(m.near.search(code(x.text)) for x in h.lines[lo:hi]):
                        continue  # comments do not count: they say nothing of intent
                img = fc.post if ln.kind == "+" else fc.pre
                at = ln.new_no if ln.kind == "+" else ln.old_no
                func = img.function_at(at) if img is not None and at is not None else None
                if m.unless_function is not None and func is not None and (
                        m.unless_function.search(func.text)):
                    continue
                yield Hit(line=ln.new_no if ln.kind == "+" else None,
                          old_line=ln.old_no if ln.kind == "-" else None, path=fc.path,
                          function=func.name if func else None,
                          args={"func": func.name if func else "this code",
                                "text": ln.text.strip()})


def run(series: Series, rules: list[Rule], ruleset: RuleSet, *, tree: Path | None = None,
        images=None) -> EngineResult:
    """``images`` (engine.tree.build_images) gives tree mode; ``tree`` alone builds
    them from a plain directory or repository."""
    notes: list[str] = []
    mode = "diff-only"
    tree_patches: set[int] = set()
    if images is None and tree is not None:
        from reviewkit.engine.tree import build_images, open_tree

        images = build_images(series, tree, repo=open_tree(tree))
    if images is not None:
        notes.extend(images.notes)
        tree_patches = set(images.applied)
        mode = "tree" if tree_patches else "diff-only"
        if tree_patches and len(tree_patches) < len(series.patches):
            mode = "tree (partly diff-only)"
    def changes_of(p: Patch) -> list[FileChange]:
        if images is not None and p.index in images.applied:
            files = tree_changes(p, images.images[p.index])
            if images.cross is not None:
                images.cross.attach(files, images.overlays[p.index])
            return files
        return diff_only_changes(p)

    by_index = {p.index: p for p in series.patches}
    findings: list[Finding] = []
    patch_rules = [r for r in rules if r.scope != "series"]
    # with a cross-file index a rule may read any file: no prefilter holds
    needs = ruleset.needs if prefilter.enabled() and (
        images is None or images.cross is None) else None
    # patch by patch: a patch's context is built once, used by every rule, then dropped,
    # so a long series never holds every function of every patch at once
    for p in series.patches:
        all_files = changes_of(p)
        mode_p = "tree" if p.index in tree_patches else "diff-only"
        tokens = prefilter.Tokens()
        applying: dict[tuple, list[FileChange]] = {}  # the files of each set of globs
        for rule in patch_rules:
            where = (rule.paths, rule.excluded)
            files = applying.get(where)
            if files is None:
                files = applying[where] = [fc for fc in all_files if rule.applies_to(fc.path)]
            if rule.paths and not files:
                continue
            if needs and prefilter.skip(needs, rule.id, files, tokens, where):
                continue
            ctx = PatchContext(series=series, patch=p, mode=mode_p, files=tuple(files))
            try:
                hits = (declarative_hits(rule, ctx) if rule.match is not None
                        else ruleset.checks[rule.id](ctx))
                for hit in hits:
                    fc = next((f for f in files if f.path == hit.path), None)
                    # only rules that read whole functions or files lose confidence
                    # when the patch shows them in part
                    complete = rule.scope not in ("function", "file") or _complete(fc, hit)
                    findings.append(_finding(rule, hit, p, files, complete))
            except Exception as exc:  # noqa: BLE001 - a crashing rule must not stop the run
                findings.append(_crash(rule, exc, p))
    earlier = _earlier(series) if any(r.scope == "series" for r in rules) else {}
    for rule in rules:
        if rule.scope != "series":
            continue
        sctx = SeriesContext(series=series, mode=mode, changes=LazyChanges(series, changes_of),
                             earlier=earlier)
        try:
            for hit in ruleset.checks[rule.id](sctx):
                patch = by_index.get(hit.patch) if isinstance(hit.patch, int) else None
                files = changes_of(patch) if patch is not None and hit.path else []
                findings.append(_finding(rule, hit, patch, files, True))
        except Exception as exc:  # noqa: BLE001
            findings.append(_crash(rule, exc, None))
    findings = sorted(set(findings), key=Finding.sort_key)
    if images is not None and images.cross is not None:
        notes.extend(images.cross.notes)
    return EngineResult(findings=findings, mode=mode, notes=notes,
                        tree_patches=tuple(sorted(tree_patches)),
                        contexts=dict(images.contexts) if images is not None else {})


def _earlier(series: Series) -> dict[int, Earlier]:
    """patch index -> the earlier revision's patch it continues, for series rules."""
    if series.previous is None:
        return {}
    from reviewkit.compare import changed, match_patches

    matched = match_patches(series, series.previous)
    return {i: Earlier(patch=old, changed=changed(new, old))
            for new in series.patches for i, old in [(new.index, matched.get(new.index))]
            if old is not None}


class LazyChanges(Mapping):
    """patch index -> its file changes, built on each access and not kept."""

    def __init__(self, series: Series, build):
        self._patches = {p.index: p for p in series.patches}
        self._build = build

    def __getitem__(self, index: int) -> list[FileChange]:
        return self._build(self._patches[index])

    def __iter__(self):
        return iter(self._patches)

    def __len__(self) -> int:
        return len(self._patches)
