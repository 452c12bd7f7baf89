"""What a rule sees: each changed file before and after the patch, and the
functions the change lands in.

Two modes.  *tree*: the whole pre- and post-image of every file the series
touches, from a scratch copy of a source tree with the series applied; every
function is complete and the file has a call graph.  *diff-only*: only what
the hunks show; functions carried whole by a hunk are complete, the rest are
partial (name from the signature or the hunk header, body from the hunk).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

from reviewkit.engine.cfunc import (Function, closed_in_view, continued_hunks,
                                    parse_functions, partial_functions)
from reviewkit.model import FileDiff, Hunk, Line, Patch, Series

C_SUFFIXES = (".c", ".h")

# The functions of a hunk-built image, by what they are built from (path, side, every
# line of every hunk with its numbers, the hunk headers): an unchanged patch reposted
# in a later revision, or the same diff reviewed again in one process, is parsed and
# modelled once.  The functions are immutable apart from what they cache about their
# own text (their parse, their analysis), so sharing them gives the same findings.
# Bounded: the least recently used images are dropped first.
_IMAGE_CACHE: "OrderedDict[tuple, tuple[Function, ...]]" = OrderedDict()
IMAGE_CACHE_SIZE = 0 if os.environ.get("REVIEWKIT_NO_CONTENT_CACHE") else 256


def _cached_functions(key: tuple, build) -> list:
    if IMAGE_CACHE_SIZE <= 0:
        return build()
    got = _IMAGE_CACHE.get(key)
    if got is not None:
        _IMAGE_CACHE.move_to_end(key)
        return list(got)
    got = tuple(build())
    _IMAGE_CACHE[key] = got
    while len(_IMAGE_CACHE) > IMAGE_CACHE_SIZE:
        _IMAGE_CACHE.popitem(last=False)
    return list(got)


class FileImage:
    """One side (pre or post) of one file, whole or as far as the hunks show.

    Functions are found on first use: many images are never asked.
    """

    def __init__(self, path: str, lines: dict[int, str], complete: bool, build):
        self.path = path
        self.lines: Mapping[int, str] = MappingProxyType(lines)  # read-only for rules
        self.complete = complete
        self._build = build
        # tree mode: the call graph across files (engine.xref.View), which also
        # answers for names this file does not define
        self.world = None

    @cached_property
    def functions(self) -> tuple[Function, ...]:
        return tuple(self._build())

    @classmethod
    def from_text(cls, path: str, text: str) -> "FileImage":
        lines = {n: t for n, t in enumerate(text.split("\n"), 1)}
        is_c = path.endswith(C_SUFFIXES)
        return cls(path, lines, True, lambda: parse_functions(text) if is_c else [])

    @classmethod
    def from_hunks(cls, path: str, hunks: tuple[Hunk, ...], side: str) -> "FileImage":
        per_hunk: list[list[tuple[int, str]]] = []
        old_side: list[list[tuple[int, str]]] = []
        known: dict[int, str] = {}
        for h in hunks:
            seq = []
            old = []
            for ln in h.lines:
                n = ln.new_no if side == "post" else ln.old_no
                if n is not None:
                    seq.append((n, ln.text))
                    known[n] = ln.text
                if ln.old_no is not None:
                    old.append((ln.old_no, ln.text))
            per_hunk.append(seq)
            old_side.append(old)

        def build() -> list[Function]:
            if not path.endswith(C_SUFFIXES) or not known:
                return []
            funcs: list[Function] = []
            # functions a hunk carries whole: parse each hunk's side on its own
            for seq in per_hunk:
                if not seq or not any(t.startswith("}") for _, t in seq):
                    continue  # no function ends in this hunk, so none is whole here
                funcs.extend(f for f in parse_functions("\n".join(t for _, t in seq),
                                                        first_line=seq[0][0])
                             if closed_in_view(f))
            whole = [(f.start, f.end) for f in funcs]
            headers = [h.section for h in hunks]
            # git names a hunk's function from the pre-image: which hunks go on with
            # the function the one before left open is decided there
            follow = continued_hunks(old_side, headers) if side == "post" else None
            for f in partial_functions(per_hunk, headers, follow):
                if not any(s <= f.start and f.end <= e for s, e in whole):
                    funcs.append(f)
            return funcs

        def cached() -> list[Function]:
            if not path.endswith(C_SUFFIXES) or not known:
                return []
            key = (path, side, tuple((h.section, tuple((ln.kind, ln.old_no, ln.new_no, ln.text)
                                                       for ln in h.lines)) for h in hunks))
            return _cached_functions(key, build)

        return cls(path, known, False, cached)

    def function_at(self, line: int) -> Function | None:
        """The function holding ``line``: a complete one if any, the innermost first."""
        best = None
        for f in self.functions:
            if f.covers(line) and (f.complete or f.line_text(line) is not None):
                if best is None or (f.complete and not best.complete) or (
                        f.complete == best.complete and f.start >= best.start):
                    best = f
        return best

    def local_named(self, name: str) -> list[Function]:
        """The definitions of ``name`` in this file."""
        return [f for f in self.functions if f.name == name]

    def named(self, name: str) -> list[Function]:
        """The definitions of ``name``: this file's, else (tree mode) other files'."""
        local = self.local_named(name)
        if local or self.world is None:
            return local
        return self.world.definitions(name)

    @cached_property
    def graph(self):
        """The call graph rules and helper summaries follow (this file's functions;
        tree mode may hand in a wider one)."""
        from reviewkit.analysis.summary import CallGraph

        return CallGraph(self.functions)

    @cached_property
    def summaries(self):
        from reviewkit.analysis.summary import Summaries

        return Summaries(self.graph)

    @cached_property
    def callgraph(self) -> dict[str, set[str]]:
        """caller -> callees, merging same-named definitions (#ifdef variants)."""
        graph: dict[str, set[str]] = {}
        for f in self.functions:
            graph.setdefault(f.name, set()).update(f.callees())
        return graph

    @cached_property
    def callers(self) -> dict[str, set[str]]:
        rev: dict[str, set[str]] = {}
        for caller, callees in self.callgraph.items():
            for c in callees:
                rev.setdefault(c, set()).add(caller)
        return rev

    def reaches(self, start: str) -> set[str]:
        """Every function ``start`` calls, directly or through others in this file
        (in tree mode: in any indexed file)."""
        if self.world is not None:
            return self.world.reaches(start)
        return _closure(self.callgraph, start)

    def reached_from(self, target: str) -> set[str]:
        """Every function in this file (in tree mode: in any indexed file) that
        calls ``target``, directly or not."""
        if self.world is not None:
            return self.world.reached_from(target)
        return _closure(self.callers, target)


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@dataclass(frozen=True)
class FunctionChange:
    """The changed lines of one function, with the function before and after."""

    path: str
    name: str | None  # None: outside any function (file scope)
    pre: Function | None
    post: Function | None
    added: tuple[Line, ...] = ()
    removed: tuple[Line, ...] = ()

    @property
    def complete(self) -> bool:
        f = self.post or self.pre
        return bool(f and f.complete)


@dataclass(frozen=True)
class FileChange:
    diff: FileDiff  # in the coordinates of the images (tree lines when in tree mode)
    pre: FileImage | None
    post: FileImage | None
    # per hunk (new_start in image coordinates, delta new, delta old): image line - patch line
    shifts: tuple[tuple[int, int, int], ...] = ()

    def to_patch(self, line: int | None, side: str = "new") -> int | None:
        """An image line number as the patch mail numbers it (they differ when the
        patch applied to the tree at an offset)."""
        if line is None or not self.shifts:
            return line
        delta = 0
        for start_new, d_new, d_old in self.shifts:
            start = start_new if side == "new" else start_new - d_new + d_old
            if line >= start:
                delta = d_new if side == "new" else d_old
        return line - delta

    @property
    def path(self) -> str:
        return self.diff.path

    @property
    def complete(self) -> bool:
        img = self.post or self.pre
        return bool(img and img.complete)

    @cached_property
    def functions(self) -> tuple[FunctionChange, ...]:
        """One entry per changed function; two definitions of one name (#ifdef
        variants) are kept apart, the n-th before the patch paired with the n-th
        after it."""
        def variant(img: FileImage | None, f: Function) -> int:
            same = sorted(g.start for g in img.local_named(f.name)) if img else []
            return same.index(f.start) if f.start in same else 0

        found: dict[tuple[str | None, int], dict] = {}
        for h in self.diff.hunks:
            for ln in h.lines:
                if ln.kind == "+" and self.post is not None and ln.new_no is not None:
                    f = self.post.function_at(ln.new_no)
                    img = self.post
                elif ln.kind == "-" and self.pre is not None and ln.old_no is not None:
                    f = self.pre.function_at(ln.old_no)
                    img = self.pre
                else:
                    continue
                key = (f.name, variant(img, f)) if f else (None, 0)
                fc = found.setdefault(key, {"pre": None, "post": None, "added": [],
                                            "removed": []})
                if ln.kind == "+":
                    fc["added"].append(ln)
                    fc["post"] = fc["post"] or f
                else:
                    fc["removed"].append(ln)
                    fc["pre"] = fc["pre"] or f
        out = []
        for (name, n), fc in found.items():
            if name is not None:
                if fc["post"] is None and self.post is not None:
                    fc["post"] = _nearest(self.post.local_named(name), fc["removed"], "old", n)
                if fc["pre"] is None and self.pre is not None:
                    fc["pre"] = _nearest(self.pre.local_named(name), fc["added"], "new", n)
            out.append(FunctionChange(path=self.path, name=name, pre=fc["pre"],
                                      post=fc["post"], added=tuple(fc["added"]),
                                      removed=tuple(fc["removed"])))
        return tuple(out)


def _nearest(cands: list[Function], lines: list[Line], side: str, n: int = 0
             ) -> Function | None:
    """The same-named function on the other side: the n-th variant when the
    counts agree, else the one nearest the changed lines."""
    if not cands:
        return None
    if len(cands) == 1 or not lines:
        return cands[0]
    ordered = sorted(cands, key=lambda f: f.start)
    if n < len(ordered) and n > 0:
        return ordered[n]
    ref = lines[0].old_no if side == "old" else lines[0].new_no
    ref = ref or 0
    return min(cands, key=lambda f: abs(f.start - ref))


def diff_only_changes(patch: Patch) -> list[FileChange]:
    out = []
    for fd in patch.files:
        pre = None if fd.status == "added" else FileImage.from_hunks(
            fd.old_path or fd.path, fd.hunks, "pre")
        post = None if fd.status == "deleted" else FileImage.from_hunks(fd.path, fd.hunks, "post")
        out.append(FileChange(diff=fd, pre=pre, post=post))
    return out


def _locate(block: list[str], lines: list[str], guess: int) -> int | None:
    """1-based line where ``block`` stands in ``lines``, nearest to ``guess``."""
    if not block:
        return guess
    n = len(block)
    best = None
    for start in range(max(0, len(lines) - n + 1)):
        if lines[start] == block[0] and lines[start:start + n] == block:
            cand = start + 1
            if best is None or abs(cand - guess) < abs(best - guess):
                best = cand
    return best


def realign(fd: FileDiff, pre_text: str | None, post_text: str | None
            ) -> tuple[FileDiff, tuple[tuple[int, int, int], ...]]:
    """Renumber ``fd``'s hunks to where they stand in the tree's pre/post images."""
    from dataclasses import replace as _replace

    pre_lines = pre_text.split("\n") if pre_text is not None else []
    post_lines = post_text.split("\n") if post_text is not None else []
    hunks = []
    shifts = []
    d_new = d_old = 0
    for h in fd.hunks:
        new_block = [ln.text for ln in h.lines if ln.kind != "-"]
        old_block = [ln.text for ln in h.lines if ln.kind != "+"]
        if post_text is not None and new_block:
            at = _locate(new_block, post_lines, h.new_start + d_new)
            if at is not None:
                d_new = at - h.new_start
        if pre_text is not None and old_block:
            at = _locate(old_block, pre_lines, h.old_start + d_old)
            if at is not None:
                d_old = at - h.old_start
        if d_new == 0 and d_old == 0:
            hunks.append(h)
        else:
            lines = tuple(_replace(ln, new_no=ln.new_no + d_new if ln.new_no else None,
                                   old_no=ln.old_no + d_old if ln.old_no else None)
                          for ln in h.lines)
            hunks.append(_replace(h, old_start=h.old_start + d_old,
                                  new_start=h.new_start + d_new, lines=lines))
        shifts.append((h.new_start + d_new, d_new, d_old))
    if all(a == 0 and b == 0 for _, a, b in shifts):
        return fd, ()
    return _replace(fd, hunks=tuple(hunks)), tuple(shifts)


def tree_changes(patch: Patch, images: dict[str, tuple[str | None, str | None]]) -> list[FileChange]:
    """``images`` maps a path to (pre text, post text) for this patch."""
    out = []
    for fd in patch.files:
        pre_text, post_text = images.get(fd.path, (None, None))
        if fd.old_path and fd.old_path != fd.path:
            pre_text = images.get(fd.old_path, (pre_text, None))[0]
        pre = (FileImage.from_text(fd.old_path or fd.path, pre_text)
               if pre_text is not None and fd.status != "added" else None)
        post = (FileImage.from_text(fd.path, post_text)
                if post_text is not None and fd.status != "deleted" else None)
        if (pre is None and fd.status != "added") or (post is None and fd.status != "deleted"):
            # the tree did not have this file: what the hunks show is all there is
            d = diff_only_changes(Patch(message_id="", subject=patch.subject, author=patch.author,
                                        date=None, commit_message="", files=(fd,)))[0]
            pre, post = pre or d.pre, post or d.post
            out.append(FileChange(diff=fd, pre=pre, post=post))
            continue
        shifted, shifts = realign(fd, pre_text, post_text)
        out.append(FileChange(diff=shifted, pre=pre, post=post, shifts=shifts))
    return out


@dataclass(frozen=True)
class PatchContext:
    """What a patch-level rule sees.  ``files`` is already limited to the rule's paths.

    Frozen, with tuples and read-only mappings all the way down, so one rule
    cannot change what the next one sees."""

    series: Series
    patch: Patch
    mode: str  # tree | diff-only
    files: tuple[FileChange, ...]

    @property
    def functions(self) -> list[FunctionChange]:
        return [fc for f in self.files for fc in f.functions]

    def with_post(self) -> Iterator[tuple[FunctionChange, Function]]:
        """The changed functions that still exist after the patch, with their post-image."""
        for fc in self.functions:
            if fc.post is not None:
                yield fc, fc.post


@dataclass(frozen=True)
class Earlier:
    """The earlier revision's patch that a patch continues, and whether it changed
    (its added and removed lines, whitespace aside)."""

    patch: Patch
    changed: bool


@dataclass(frozen=True)
class SeriesContext:
    series: Series
    mode: str
    changes: Mapping[int, list[FileChange]]  # patch index -> its file changes (built on access)
    # patch index -> the earlier revision's patch it continues (series.previous)
    earlier: Mapping[int, Earlier] = field(default_factory=dict)


def lower(confidence: str) -> str:
    return {"high": "medium", "medium": "low"}.get(confidence, "low")
