"""Output to a terminal the way git does it: wrapped to its width, through a pager.

Only when standard output is a terminal: a pipe or a file gets the text as it
is.  The pager is ``$REVIEWKIT_PAGER``, else ``$PAGER``, else ``less``; an empty
value or ``cat`` means none, and ``--no-pager`` turns it off.  As git does,
``less`` gets ``LESS=FRX`` when ``LESS`` is unset (quit when the text fits on
one screen, keep colours, leave the screen as it was) and ``lv`` gets ``LV=-c``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LABEL = re.compile(r"^(\s*[a-z][a-z -]*:\s+)(?=\S)")


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def width(stream=None) -> int:
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def wrap(text: str, columns: int) -> str:
    """Wrap the prose lines of a text report to COLUMNS, keeping each line's indent
    (a ``label:`` line continues under its value).  Quoted code (``|`` lines),
    URLs and lines that carry colour are left whole: code is not prose."""
    out = []
    for line in text.splitlines():
        visible = _ANSI.sub("", line)
        body = visible.strip()
        if len(visible) <= columns or "\x1b" in line or body.startswith("|") \
                or (body.startswith(("http://", "https://")) and " " not in body):
            out.append(line)
            continue
        m = _LABEL.match(line)
        indent = len(line) - len(line.lstrip())
        first = line[:indent]
        rest = " " * (len(m.group(1)) if m else indent)
        out.extend(textwrap.wrap(body, columns, initial_indent=first, subsequent_indent=rest,
                                 break_long_words=False, break_on_hyphens=False) or [line])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def pager_command() -> str | None:
    for var in ("REVIEWKIT_PAGER", "PAGER"):
        if var in os.environ:
            cmd = os.environ[var].strip()
            return None if cmd in ("", "cat") else cmd
    return "less" if shutil.which("less") else None


def page(text: str) -> bool:
    """Show TEXT through the pager; False when there is none (the caller prints)."""
    cmd = pager_command()
    if cmd is None:
        return False
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    try:
        proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    try:
        assert proc.stdin is not None
        proc.stdin.write(text.encode("utf-8", "replace"))
        proc.stdin.close()
    except BrokenPipeError:  # the reader quit early, as with git log | less, q
        pass
    while True:
        try:
            proc.wait()
            break
        except KeyboardInterrupt:  # less handles ^C itself; wait for it to exit
            continue
    return True
