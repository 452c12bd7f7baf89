"""The jinja2 environment shared by the template-based renderers.

Templates are looked up first in a user's override directory, then in the
templates shipped with the package.  Undefined variables are errors.
"""

from __future__ import annotations

import os
import importlib
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    # the package's own directory (as importlib.resources.files finds it, without
    # importing importlib.resources, zipfile and tempfile on every start-up)
    return Path(str(importlib.import_module("reviewkit.templates").__file__)).parent


def _bytecode_cache(name: str = "templates") -> jinja2.BytecodeCache | None:
    """Compiled templates under $XDG_CACHE_HOME/reviewkit/NAME, when writable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = base / "reviewkit" / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


_ENVIRONMENTS: dict = {}


def environment(override_dir: Path | None = None, *, autoescape: bool = False,
                terminal: bool = False) -> jinja2.Environment:
    """One environment per template directory and escaping mode, kept for the process
    (its compiled templates are reused when many reports are rendered).  ``terminal``:
    every ``{{ value }}`` is passed through render.safe.terminal_safe (control and bidi
    characters from mail shown as ``\\x1b``), for output that goes to a terminal."""
    key = (str(override_dir) if override_dir else None, autoescape, terminal)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        env = _ENVIRONMENTS[key] = _environment(override_dir, autoescape=autoescape,
                                                terminal=terminal)
    return env


def _html_value(value):
    """Autoescaped as ever; bidi controls and other invisible controls from mail shown
    as a visible mark (``<span class="ctl">U+202E</span>``): the Trojan Source problem."""
    if type(value) is not str or (value.isascii() and value.isprintable()):
        return value  # the common case, first: called for every value of a report
    from markupsafe import Markup, escape

    from reviewkit.render.safe import terminal_safe

    safe = terminal_safe(value, keep_newlines=True)
    if safe == value:
        return value
    out = []
    for ch in value:
        mark = terminal_safe(ch, keep_newlines=True)
        if mark == ch:
            out.append(str(escape(ch)))
        else:
            code = f"U+{ord(ch):04X}"
            out.append(f'<span class="ctl" title="{code}: a control character in the mail">'
                       f'{code}</span>')
    return Markup("".join(out))


def _terminal_value(value):
    if type(value) is str and value.isascii() and value.isprintable():
        return value
    from reviewkit.render.safe import Trusted, terminal_safe

    if isinstance(value, Trusted) or value is None:
        return value
    return terminal_safe(value, keep_tabs=True)


def _environment(override_dir: Path | None, *, autoescape: bool,
                 terminal: bool = False) -> jinja2.Environment:
    paths = [str(override_dir)] if override_dir else []
    paths.append(str(templates_dir()))
    extra = {"finalize": _terminal_value} if terminal else (
        {"finalize": _html_value} if autoescape else {})
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        # code compiled with a finalize differs from code without: its own cache
        bytecode_cache=_bytecode_cache("templates-terminal" if terminal else (
            "templates-html" if autoescape else "templates")),
        **extra,
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env
