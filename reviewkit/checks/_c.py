"""Small helpers for reading kernel C line by line, shared by the checks."""

from __future__ import annotations

import re

from reviewkit.engine.cfunc import Function, code  # noqa: F401 - code is shared

_CONTROL = re.compile(r"^(\}\s*)?(else\b|if\s*\(|while\s*\(|for\s*\(|switch\s*\(|case\b|do\b)")
_ENDS_STATEMENT = re.compile(r"([;{}:]|\*/)\s*$")

WRITABILITY = re.compile(
    r"writ|VM_WRITE|FAULT_FLAG_WRITE|FOLL_WRITE|FAULT_FLAG_UNSHARE|VM_MAYWRITE|\bwp\b|wp_copy")
DIRTY_PAGE_CALL = re.compile(
    r"\b(SetPageDirty|__SetPageDirty|set_page_dirty|set_page_dirty_lock|folio_mark_dirty|"
    r"folio_mark_dirty_lock|__folio_mark_dirty|folio_set_dirty|__set_page_dirty_nobuffers|"
    r"__set_page_dirty_no_writeback|filemap_dirty_folio|mark_page_dirty_in_slot)\s*\(")
MKDIRTY = re.compile(r"\b(pte|pmd|pud|huge_pte)_mkdirty\s*\(")


def indent(text: str) -> int:
    n = 0
    for ch in text:
        if ch == " ":
            n += 1
        elif ch == "\t":
            n += 8 - n % 8
        else:
            break
    return n


def guards(lines: list[tuple[int, str]], idx: int) -> list[str]:
    """Control-statement heads that enclose ``lines[idx]``, innermost first.

    Works on indentation, so it reads kernel-style code the same whether the
    function is whole or only partly known.  An ``else`` branch is reported
    with the condition of its ``if``.
    """
    out: list[str] = []
    own = code(lines[idx][1]).strip()
    m = re.match(r"^(if|while|for)\s*\(", own)
    if m:
        out.append(own)
    cur = indent(lines[idx][1])
    j = idx - 1
    while j >= 0 and cur > 0:
        text = code(lines[j][1])
        if not text.strip():
            j -= 1
            continue
        ind = indent(text)
        if ind >= cur:
            j -= 1
            continue
        # gather a statement head spread over several lines
        k = j
        head = text.strip()
        while k - 1 >= 0:
            prev = code(lines[k - 1][1])
            if not prev.strip() or _ENDS_STATEMENT.search(prev.rstrip()) or indent(prev) > indent(
                    lines[k][1]):
                break
            k -= 1
            head = prev.strip() + " " + head
        if _CONTROL.match(head):
            if re.match(r"^(\}\s*)?else\b(?!\s+if)", head):
                cond = _matching_if(lines, k)
                head = head + (" /* else of: " + cond + " */" if cond else "")
            out.append(" ".join(head.split()))
        elif indent(lines[k][1]) == 0:
            break
        cur = indent(lines[k][1])
        j = k - 1
    return out


def _matching_if(lines: list[tuple[int, str]], k: int) -> str | None:
    want = indent(lines[k][1])
    for j in range(k - 1, -1, -1):
        text = code(lines[j][1])
        if not text.strip():
            continue
        ind = indent(text)
        if ind < want:
            return None
        if ind == want and re.match(r"^\s*(\}\s*else\s+)?if\s*\(", text):
            return text.strip()
    return None


def function_lines(f: Function | None) -> list[tuple[int, str]]:
    return list(f.lines) if f is not None else []


def index_of(lines: list[tuple[int, str]], number: int) -> int | None:
    for i, (n, _) in enumerate(lines):
        if n == number:
            return i
    return None

