"""The jinja2 environment shared by the template-based renderers.

Templates are looked up first in a user's override directory, then in the
templates shipped with the package.  Undefined variables are errors.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    return Path(str(resources.files("reviewkit.templates")))


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates under $XDG_CACHE_HOME/reviewkit/templates, when writable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = base / "reviewkit" / "templates"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


_ENVIRONMENTS: dict = {}


def environment(override_dir: Path | None = None, *, autoescape: bool = False) -> jinja2.Environment:
    """One environment per template directory and escaping mode, kept for the process
    (its compiled templates are reused when many reports are rendered)."""
    key = (str(override_dir) if override_dir else None, autoescape)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        env = _ENVIRONMENTS[key] = _environment(override_dir, autoescape=autoescape)
    return env


def _environment(override_dir: Path | None, *, autoescape: bool) -> jinja2.Environment:
    paths = [str(override_dir)] if override_dir else []
    paths.append(str(templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env
