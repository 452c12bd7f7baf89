"""The wheel carries the rule manifests and templates; the command is declared."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_ships_rules_and_templates(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("reviewkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = {f"reviewkit/rules/{p.relative_to(REPO / 'rules').as_posix()}"
             for p in (REPO / "rules").rglob("*.yaml")}
    templates = {f"reviewkit/templates/{p.relative_to(REPO / 'templates').as_posix()}"
                 for p in (REPO / "templates").rglob("*.j2")}
    assert templates and "reviewkit/templates/text.j2" in templates
    assert rules <= names, sorted(rules - names)
    assert templates <= names, sorted(templates - names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "GPL-2.0-or-later" in text
    for dep in ("b4==", "mail-parser==", "unidiff==", "jinja2==", "typer==", "tree-sitter==",
                "tree-sitter-c==", "PyYAML=="):
        assert f"Requires-Dist: {dep}" in text, dep
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    # the entry point installs the compiled-code cache (startcache) before the cli is imported
    assert "reviewkit = reviewkit.__main__:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert "reviewkit/startcache.py" in names


def test_python_dash_m_and_version(cli):
    proc = cli("version")
    assert proc.returncode == 0 and proc.stdout.decode().startswith("reviewkit 0.")
