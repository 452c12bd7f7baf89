from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed-zap-shmem-uffd"
EDGE = FIXTURES / "edge"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def seed() -> Path:
    return SEED


@pytest.fixture
def edge() -> Path:
    return EDGE


def run_cli(*args: str, input: bytes | None = None, cwd: Path | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed command for real: exit status, stdout and stderr as a user sees them."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("REVIEWKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "reviewkit", *args], input=input,
                          capture_output=True, cwd=cwd or REPO, env=full_env, timeout=120)


@pytest.fixture
def cli():
    return run_cli
