"""User configuration: ``$XDG_CONFIG_HOME/reviewkit/config.toml`` (or $REVIEWKIT_CONFIG).

    # ~/.config/reviewkit/config.toml
    templates-dir = "~/.config/reviewkit/templates"   # overrides of templates/*.j2
    from = "Ada Reviewer <ada@example.org>"           # From: of reply drafts
    lore-url = "https://lore.kernel.org/all"          # archive for links (and fetching)
    tree = "~/src/linux"                              # --tree when none is given

    [limits]                                          # bounds on hostile or huge input
    message-bytes = 33554432

Command-line options win over the file; the file wins over built-in defaults.
The file, like a waiver file, is read with bounded size and nesting, and
neither format can construct objects (TOML has no tags; YAML is loaded safe,
without aliases).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from reviewkit.errors import InputError

_KEYS = {"templates-dir", "from", "lore-url", "tree", "limits"}

# configuration and waiver files: most bytes and deepest nesting read
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 16


from reviewkit.model import DEFAULT_LIMITS, Limits  # noqa: E402,F401 - the limits live with the model


@dataclass(frozen=True)
class Config:
    templates_dir: Path | None = None
    sender: str | None = None
    lore_url: str | None = None
    tree: Path | None = None  # a kernel git repository or source directory
    path: Path | None = None
    limits: Limits = field(default_factory=Limits)


def read_bounded(path: Path, label: str, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """A small text file, read whole: refused past ``limit`` bytes or when not UTF-8."""
    try:
        with path.open("rb") as fp:
            data = fp.read(limit + 1)
    except OSError as exc:
        raise InputError(label, f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(label, f"{what} larger than {limit >> 10} KiB; refused")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(label, f"{what} is not UTF-8 (byte {exc.start})") from None


def _nesting(text: str) -> int:
    """Deepest bracket nesting of TOML/YAML flow text (an upper bound on the parse depth)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def check_nesting(text: str, label: str, what: str, indent_levels: bool = False) -> None:
    deep = _nesting(text) if ("[" in text or "{" in text) else 0
    if indent_levels:
        indents = {len(ln) - len(ln.lstrip(" -")) for ln in text.splitlines() if ln.strip()}
        deep = max(deep, len(indents))
    if deep > MAX_DEPTH:
        raise InputError(label, f"{what}: nested deeper than {MAX_DEPTH} levels; refused")


def load_yaml(path: Path, label: str, what: str):
    """YAML data, loaded safe (no object tags), without aliases, bounded in size and depth."""
    import yaml

    text = read_bounded(path, label, what)
    check_nesting(text, label, what, indent_levels=True)

    class NoAliases(yaml.SafeLoader):  # the pure-Python loader: compose_node is hookable
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed", self.peek_event().start_mark)
            return super().compose_node(parent, index)

    loader = NoAliases
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(label, f"{what}: not valid YAML: {where}"
                                f"{' '.join(str(problem).split())[:200]}") from None
    except RecursionError:
        raise InputError(label, f"{what}: nested too deep; refused") from None


def _limits(data, label: str) -> Limits:
    if not isinstance(data, dict):
        raise InputError(label, "limits must be a table ([limits])")
    known = {f.name.replace("_", "-"): f.name for f in fields(Limits)}
    unknown = set(data) - set(known)
    if unknown:
        raise InputError(label, f"unknown limit(s): {', '.join(sorted(unknown))} "
                                f"(known: {', '.join(sorted(known))})")
    values = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(label, f"limits.{key} must be a positive whole number")
        values[known[key]] = value
    return replace(DEFAULT_LIMITS, **values)


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
    text = read_bounded(path, label, "the configuration")
    check_nesting(text, label, "the configuration")
    import tomllib  # only when there is a configuration file

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(label, f"configuration is not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(label, "the configuration: nested too deep; refused") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise InputError(label, f"unknown configuration key(s): {', '.join(sorted(unknown))}")
    limits = _limits(data["limits"], label) if "limits" in data else DEFAULT_LIMITS
    for key in (_KEYS - {"limits"}) & set(data):
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
                  tree=tree, path=path, limits=limits)
