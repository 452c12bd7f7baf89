"""The jinja2 environment shared by the template-based renderers.

Templates are looked up first in a user's override directory, then in the
templates shipped with the package.  Undefined variables are errors.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    return Path(str(resources.files("reviewkit.templates")))


def environment(override_dir: Path | None = None, *, autoescape: bool = False) -> jinja2.Environment:
    paths = [str(override_dir)] if override_dir else []
    paths.append(str(templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env
