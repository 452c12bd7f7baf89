"""Text from mail made safe for a terminal.

Subjects, names, messages and diff lines come from anyone on the internet.
Printed raw, an escape sequence (``\\x1b[2J``, ``\\x1b]0;...``) can clear the
screen, rewrite the line above or fake a clean summary, and a bidirectional
override (``\\u202e``) can make code read differently from what it is (the
"Trojan Source" problem).  Every renderer that writes for a terminal, and the
CLI's error lines, pass mail-derived text through ``terminal_safe``: control
characters, C1 controls, bidirectional controls and invisible separators are
shown as ``\\x1b`` / ``\\u202e``, whether or not colour is on.
"""

from __future__ import annotations

# bidirectional embedding/override/isolate controls and marks
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# invisible characters that change how a line reads or where it breaks
_INVISIBLE = "\u200b\u200c\u200d\u2028\u2029\ufeff"


def _escape(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def _table(keep: str) -> dict[int, str]:
    chars = [chr(n) for n in range(0x20)] + [chr(n) for n in range(0x7f, 0xa0)]
    chars += sorted(BIDI) + list(_INVISIBLE)
    return {ord(c): _escape(c) for c in chars if c not in keep}


_LINE = _table("")          # one line: nothing kept
_TEXT = _table("\t")        # a line of a listing (diff text keeps its tabs)
_BLOCK = _table("\t\n")     # several lines


def terminal_safe(text: object, *, keep_tabs: bool = False, keep_newlines: bool = False) -> str:
    """``text`` with every control, C1, bidi and invisible separator character escaped."""
    s = text if isinstance(text, str) else str(text)
    if s.isascii() and s.isprintable():
        return s
    table = _BLOCK if keep_newlines else (_TEXT if keep_tabs else _LINE)
    return s.translate(table)


def has_bidi(text: str) -> bool:
    return not text.isascii() and any(c in BIDI for c in text)


class Trusted(str):
    """Text the renderer made itself (colour codes): not escaped again."""
