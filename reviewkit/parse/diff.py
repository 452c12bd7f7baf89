"""Unified diffs in patch mail: find them, repair transport damage, parse with unidiff.

Accepts ``git format-patch`` diffs and quilt-style diffs as mm-commits mails
carry them (``--- a/mm/gup.c~patch-name`` / ``+++ a/mm/gup.c``).  Context
lines whose leading space was eaten by a mailer are repaired and reported;
a hunk shorter than its header says is an error for the whole message.
"""

from __future__ import annotations

import re

import unidiff

from reviewkit.model import Diagnostic, FileDiff, Hunk, Line

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_INDEX = re.compile(r"^index ([0-9a-f]{4,64})\.\.([0-9a-f]{4,64})\b", re.M)


class DiffError(ValueError):
    """The diff cannot be parsed; the message carrying it is broken."""


def find_diff_start(lines: list[str]) -> int | None:
    """Index of the first line of the diff in ``lines`` (git or plain unified)."""
    n = len(lines)
    for i, ln in enumerate(lines):
        if ln.startswith("diff --git ") or ln.startswith("diff -"):
            if ln.startswith("diff --git ") or _followed_by_file_header(lines, i + 1):
                return i
        elif ln.startswith("Index: ") and _followed_by_file_header(lines, i + 1):
            return i
        elif (ln.startswith("--- ") and i + 2 < n and lines[i + 1].startswith("+++ ")
              and lines[i + 2].startswith("@@ ")):
            return i
    return None


def _followed_by_file_header(lines: list[str], start: int) -> bool:
    for ln in lines[start:start + 4]:
        if ln.startswith("--- "):
            return True
    return False


MAX_HUNK_LINES = 250_000


def _count(digits: str | None, limit: int) -> int | None:
    if digits is None:
        return 1
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        return None
    return int(digits)


def _repair(lines: list[str], limit: int = MAX_HUNK_LINES
            ) -> tuple[list[str], set[int], str | None]:
    """Walk hunks by their counts; fix context lines that lost their space.

    Returns the repaired lines, the 1-based diff line numbers repaired, and
    an error text when a hunk is cut short.
    """
    out: list[str] = []
    damaged: set[int] = set()
    old_left = new_left = 0
    hunk_line = 0
    for ln in lines:
        if old_left > 0 or new_left > 0:
            head = ln[:1]
            if head == " " and old_left > 0 and new_left > 0:
                old_left -= 1
                new_left -= 1
            elif head == "-" and old_left > 0 and not ln.startswith("--- a/"):
                old_left -= 1
            elif head == "+" and new_left > 0 and not ln.startswith("+++ b/"):
                new_left -= 1
            elif head == "\\":
                pass
            elif (old_left > 0 and new_left > 0 and not ln.startswith("diff ")
                  and not _HUNK.match(ln)):
                # a context line whose leading space was lost in transit
                damaged.add(len(out) + 1)
                ln = " " + ln
                old_left -= 1
                new_left -= 1
            else:
                return out, damaged, (
                    f"hunk at diff line {hunk_line} is shorter than its header says "
                    "(truncated or wrapped lines)")
            out.append(ln)
            continue
        m = _HUNK.match(ln)
        if m:
            hunk_line = len(out) + 1
            counts = [_count(m.group(k), 10 ** 12 if k in (1, 3) else limit) for k in (1, 2, 3, 4)]
            if None in counts:
                return out, damaged, (f"hunk at diff line {hunk_line} is over {limit} lines "
                                      "or past any file (limits.hunk-lines)")
            old_left, new_left = counts[1], counts[3]
        out.append(ln)
    if old_left > 0 or new_left > 0:
        return out, damaged, (
            f"hunk at diff line {hunk_line} is shorter than its header says (truncated)")
    return out, damaged, None


def strip_signature(lines: list[str]) -> list[str]:
    """Drop the ``-- `` mail signature (``2.31.1``) after the last hunk."""
    for i in range(len(lines) - 1, max(-1, len(lines) - 12), -1):
        if lines[i] == "-- ":
            return lines[:i]
    return lines


# the top-level directories and files of the kernel tree
_TOP_LEVEL = frozenset({
    "Documentation", "LICENSES", "arch", "block", "certs", "crypto", "drivers", "fs",
    "include", "init", "io_uring", "ipc", "kernel", "lib", "mm", "net", "rust", "samples",
    "scripts", "security", "sound", "tools", "usr", "virt"})


def _clean_path(path: str | None) -> str | None:
    if path is None:
        return None
    path = path.strip()
    if path == "/dev/null" or not path:
        return None
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    path = path.split("\t", 1)[0]
    if path.startswith(("a/", "b/")):
        path = path[2:]
    else:
        # patch -p1, as the kernel's patches are applied: "linux/mm/gup.c" or
        # "5.8-rc7/mm/gup.c" (a diff of two unpacked trees) is mm/gup.c.  A path
        # already starting at the tree's top (-p0) is kept.
        first, sep, rest = path.partition("/")
        if sep and rest and first not in _TOP_LEVEL:
            path = rest
    # quilt: "a/mm/gup.c~patch-name" is the pre-image of mm/gup.c
    if "~" in path:
        path = path.split("~", 1)[0]
    return path


def parse_diff(text: str, max_hunk_lines: int | None = None
               ) -> tuple[tuple[FileDiff, ...], tuple[Diagnostic, ...]]:
    """Parse ``text`` (starting at the diff) into FileDiffs.

    Raises DiffError when the diff is unusable (truncated hunk, no file, a hunk
    over ``max_hunk_lines``).
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline, not an empty context line
    lines = strip_signature(lines)
    lines, damaged, error = _repair(lines, max_hunk_lines or MAX_HUNK_LINES)
    if error:
        raise DiffError(error)
    try:
        patchset = unidiff.PatchSet("\n".join(lines) + "\n")
    except unidiff.UnidiffParseError as exc:
        raise DiffError(f"diff does not parse: {' '.join(str(exc).split())[:200]}") from None
    except (ValueError, IndexError, TypeError, RecursionError) as exc:
        raise DiffError(f"diff does not parse ({type(exc).__name__})") from None
    files: list[FileDiff] = []
    diagnostics: list[Diagnostic] = []
    for pf in patchset:
        old_path = _clean_path(pf.source_file)
        new_path = _clean_path(pf.target_file)
        if pf.is_added_file:
            old_path = None
            status = "added"
        elif pf.is_removed_file:
            new_path = None
            status = "deleted"
        elif pf.is_rename and old_path != new_path:  # quilt's "a/x.c~name" is no rename
            status = "renamed"
        elif pf.is_binary_file:
            status = "binary"
        else:
            status = "modified"
        hunks = []
        damaged_here: list[int] = []
        # git apply takes an empty line as an empty context line (GNU diff writes
        # them so); only a context line with text that lost its space breaks git am
        breaks_am = False
        for h in pf:
            hl = []
            for ln in h:
                is_damaged = ln.diff_line_no in damaged
                if is_damaged:
                    damaged_here.append(ln.target_line_no or ln.source_line_no or 0)
                    breaks_am = breaks_am or bool(ln.value.strip("\n"))
                if ln.line_type not in ("+", "-", " "):
                    continue  # a blank line after the hunk, or "\\ No newline at end of file"
                kind = ln.line_type
                hl.append(Line(kind=kind, text=ln.value.rstrip("\n"), old_no=ln.source_line_no,
                               new_no=ln.target_line_no, damaged=is_damaged))
            hunks.append(Hunk(old_start=h.source_start, old_len=h.source_length,
                              new_start=h.target_start, new_len=h.target_length,
                              section=h.section_header.strip(), lines=tuple(hl)))
        index = _INDEX.search(str(pf.patch_info or ""))
        fd = FileDiff(old_path=old_path, new_path=new_path, status=status,
                      hunks=tuple(hunks), is_binary=bool(pf.is_binary_file),
                      old_blob=index.group(1) if index else None,
                      new_blob=index.group(2) if index else None)
        if not fd.path:
            continue
        files.append(fd)
        if damaged_here and breaks_am:
            diagnostics.append(Diagnostic(
                code="whitespace-damaged",
                message=(f"{len(damaged_here)} context line(s) lost their leading space in "
                         f"transit (first at new line {damaged_here[0]}); git am may reject "
                         "this patch"),
                path=fd.path, line=damaged_here[0]))
    if not files:
        raise DiffError("no file diff found")
    return tuple(files), tuple(diagnostics)
