"""User configuration: ``$XDG_CONFIG_HOME/reviewkit/config.toml`` (or $REVIEWKIT_CONFIG).

    # ~/.config/reviewkit/config.toml
    templates-dir = "~/.config/reviewkit/templates"   # overrides of templates/*.j2
    from = "Ada Reviewer <ada@example.org>"           # From: of reply drafts
    lore-url = "https://lore.kernel.org/all"          # archive for links (and fetching)
    tree = "~/src/linux"                              # --tree when none is given

Command-line options win over the file; the file wins over built-in defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import InputError

_KEYS = {"templates-dir", "from", "lore-url", "tree"}


@dataclass(frozen=True)
class Config:
    templates_dir: Path | None = None
    sender: str | None = None
    lore_url: str | None = None
    tree: Path | None = None  # a kernel git repository or source directory
    path: Path | None = None


def config_path() -> Path:
    explicit = os.environ.get("REVIEWKIT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "reviewkit" / "config.toml"


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    if not path.is_file():
        return Config()
    label = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(label, f"cannot read the configuration: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(label, f"configuration is not valid TOML: {exc}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise InputError(label, f"unknown configuration key(s): {', '.join(sorted(unknown))}")
    for key in _KEYS & set(data):
        if not isinstance(data[key], str) or not data[key].strip():
            raise InputError(label, f"{key} must be a non-empty string")
    templates = data.get("templates-dir")
    tdir = None
    if templates:
        tdir = Path(templates).expanduser()
        if not tdir.is_absolute():
            tdir = path.parent / tdir
        if not tdir.is_dir():
            raise InputError(label, f"templates-dir {tdir} is not a directory")
    tree = None
    if data.get("tree"):
        tree = Path(data["tree"]).expanduser()
        if not tree.is_absolute():
            tree = path.parent / tree
        if not tree.is_dir():
            raise InputError(label, f"tree {tree} is not a directory")
    return Config(templates_dir=tdir, sender=data.get("from"), lore_url=data.get("lore-url"),
                  tree=tree, path=path)
