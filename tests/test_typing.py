"""The rule API is typed: mypy passes on the analysis, engine and checks packages."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_analysis_engine_and_checks_are_mypy_clean(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache"),
         "-p", "reviewkit.analysis", "-p", "reviewkit.engine", "-p", "reviewkit.checks"],
        cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success" in r.stdout
