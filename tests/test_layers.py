"""The layers of reviewkit, as the design draws them, enforced on the source.

    sources/  the only layer that does input I/O (files, git, b4, the network)
    parse/    pure: bytes in, model out; imports nothing above it
    analysis/ the C analysis under the rules (model, the function model)
    engine/   selects rules, hands each a read-only context
    checks/   the rules: they see the context API only
    render/   Report in, text out: never the engine, the checks or the sources
    api, cli, dashboard, terminal, config: the commands that wire the stages

Every ``import`` in reviewkit/ (function-level ones too; type-only ones under
``if TYPE_CHECKING:`` aside) is read with ``ast``
and checked against what its layer may import; I/O (subprocess, sockets,
SQLite, temporary files, opening or writing files) is allowed only where the
table below says, each with its reason.  A module added anywhere falls under
its directory's contract; a new top-level module must be placed in LAYERS.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PKG = REPO / "reviewkit"

BASE = ("reviewkit.errors", "reviewkit.model")
# layer -> the reviewkit modules (prefixes) it may import
LAYERS: dict[str, tuple[str, ...]] = {
    "reviewkit.errors": (),
    "reviewkit.model": (),
    "reviewkit.report": BASE,
    "reviewkit.parse": BASE + ("reviewkit.parse",),
    "reviewkit.compare": BASE + ("reviewkit.report",),
    # the analysis layer builds on the function model and the rule-data loader
    "reviewkit.analysis": BASE + ("reviewkit.analysis", "reviewkit.engine.cfunc",
                                  "reviewkit.engine.manifest", "reviewkit.yamlcache"),
    # the parsed-YAML cache of rule data: stdlib only
    "reviewkit.yamlcache": (),
    # render.safe: the terminal-escaping helper for error lines, a pure string function
    "reviewkit.sources": BASE + ("reviewkit.sources", "reviewkit.parse", "reviewkit.render.safe"),
    "reviewkit.engine": BASE + ("reviewkit.engine", "reviewkit.report", "reviewkit.parse",
                                "reviewkit.compare", "reviewkit.analysis",
                                "reviewkit.sources.gitrepo", "reviewkit.sources.paths",
                                "reviewkit.config", "reviewkit.yamlcache"),
    # rules see the context API: contexts, the registry, the function model, the analysis
    "reviewkit.checks": BASE + ("reviewkit.checks", "reviewkit.engine.context",
                                "reviewkit.engine.registry", "reviewkit.engine.cfunc",
                                "reviewkit.analysis"),
    "reviewkit.thread": BASE + ("reviewkit.report", "reviewkit.parse", "reviewkit.compare",
                                "reviewkit.engine.context"),
    "reviewkit.render": BASE + ("reviewkit.render", "reviewkit.report", "reviewkit.parse",
                                "reviewkit.compare", "reviewkit.__version__"),
    # the command layer
    "reviewkit.config": BASE,
    "reviewkit.terminal": (),
    "reviewkit.api": ("reviewkit",),
    "reviewkit.dashboard": ("reviewkit",),
    "reviewkit.corpus": ("reviewkit",),
    "reviewkit.cli": ("reviewkit",),
    "reviewkit.__main__": ("reviewkit.cli", "reviewkit.startcache"),
    # the command's cache of compiled regular expressions and dataclass code: stdlib only
    "reviewkit.startcache": (),
    "reviewkit.__init__": (),
}
# only the command layer may import it
COMMANDS = ("reviewkit.api", "reviewkit.cli", "reviewkit.dashboard", "reviewkit.corpus",
            "reviewkit.__main__")
TOP_ONLY = {"reviewkit.api": COMMANDS, "reviewkit.cli": COMMANDS,
            "reviewkit.dashboard": COMMANDS, "reviewkit.terminal": COMMANDS}

IO_MODULES = {"subprocess", "socket", "sqlite3", "tempfile", "shutil", "urllib", "http",
              "requests", "b4", "liblore", "multiprocessing", "mailbox"}
IO_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "mkdir", "unlink",
              "rmdir", "touch", "replace"}  # replace: os.replace only
# module (prefix) -> why it may do I/O
IO_ALLOWED = {
    "reviewkit.sources": "the input layer",
    "reviewkit.engine.tree": "--tree: the series applied to a scratch copy of the tree",
    "reviewkit.engine.manifest": "loads the rule pack's own manifests",
    "reviewkit.analysis.vocab": "loads the rule pack's kernel vocabulary data",
    "reviewkit.engine.examples": "runs a rule's tree example on a scratch tree",
    "reviewkit.engine.xref": "the cross-file function index, cached in SQLite (a cache the "
                             "sources layer could own; recorded here until it moves)",
    "reviewkit.render.templating": "the compiled-template cache (start-up time)",
    "reviewkit.yamlcache": "the parsed-YAML cache of the rule pack's own data (start-up time)",
    "reviewkit.startcache": "the command's compiled-code cache (start-up time)",
    "reviewkit.corpus": "command layer: reads the labelled corpus",
    "reviewkit.config": "reads the configuration file (and YAML files through it)",
    "reviewkit.api": "command layer: parallel parsing",
    "reviewkit.cli": "command layer: writes the outputs",
    "reviewkit.dashboard": "command layer: writes the dashboard directory",
    "reviewkit.terminal": "command layer: runs the pager",
}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1 and parts != ["reviewkit", "__init__"]:
        parts = parts[:-1]
    return ".".join(parts) if parts != ["reviewkit", "__init__"] else "reviewkit.__init__"


def modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def layer_of(name: str) -> str:
    best = max((k for k in LAYERS if name == k or name.startswith(k + ".")), key=len,
               default=None)
    assert best is not None, f"{name}: a module outside every layer: add it to LAYERS"
    return best


def imports(path: Path, name: str) -> list[tuple[int, str]]:
    """(line, module) for each import; ``from reviewkit import x`` is reviewkit.x."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    # imports for type annotations only (under ``if TYPE_CHECKING:``) create no dependency
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for stmt in node.body for n in ast.walk(stmt)}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                out.append((node.lineno, f"{base}.{a.name}" if base == "reviewkit" else base))
    return out


def allowed(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_layers(path):
    name = module_name(path)
    layer = layer_of(name)
    bad = []
    for line, target in imports(path, name):
        if not target.startswith("reviewkit"):
            continue
        if target == "reviewkit" or allowed(target, (layer,)):
            continue
        if not allowed(target, LAYERS[layer]):
            bad.append(f"{path.relative_to(REPO)}:{line}: {layer} may not import {target}")
        for top, users in TOP_ONLY.items():
            if allowed(target, (top,)) and not allowed(name, users):
                bad.append(f"{path.relative_to(REPO)}:{line}: only commands import {top}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_io_only_where_the_layers_allow(path):
    name = module_name(path)
    if any(allowed(name, (k,)) for k in IO_ALLOWED):
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        mods = []
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            mods = [node.module or ""]
        for m in mods:
            if m.split(".")[0] in IO_MODULES:
                bad.append(f"{node.lineno}: imports {m}")
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "open":
                bad.append(f"{node.lineno}: open()")
            if isinstance(f, ast.Attribute) and f.attr in IO_METHODS:
                if f.attr != "replace" or (isinstance(f.value, ast.Name) and f.value.id == "os"):
                    bad.append(f"{node.lineno}: .{f.attr}()")
    assert not bad, f"{path.relative_to(REPO)} ({layer_of(name)}) does I/O: " + "; ".join(bad)


def test_the_contract_can_fail(tmp_path):
    """The checker itself: a render module importing the engine, and a parse module
    running git, are caught."""
    fake = tmp_path / "reviewkit" / "render"
    fake.mkdir(parents=True)
    bad = fake / "sneaky.py"
    bad.write_text("from reviewkit.engine import run\nfrom reviewkit import api\n")
    found = [t for _, t in imports(bad, "reviewkit.render.sneaky")]
    assert found == ["reviewkit.engine", "reviewkit.api"]
    assert not allowed("reviewkit.engine", LAYERS["reviewkit.render"])
    assert not allowed("reviewkit.api", LAYERS["reviewkit.parse"])
    assert layer_of("reviewkit.render.sneaky") == "reviewkit.render"
    assert layer_of("reviewkit.parse.new_module") == "reviewkit.parse"
