from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NETGUARD = Path(__file__).parent / "netguard"
sys.path.insert(0, str(NETGUARD))
import netguard  # noqa: E402

netguard.install()  # this process, and (through PYTHONPATH) every Python child below

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed-zap-shmem-uffd"
EDGE = FIXTURES / "edge"
REPO = Path(__file__).resolve().parent.parent


def commit_as_added(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """A git repository under ``tmp_path`` whose HEAD commit adds ``files``
    (path -> text or bytes) on top of an empty base commit: reviewing ``HEAD``
    reviews every line of them as added code."""
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.org", *args],
                       cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "base")
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (repo / rel).write_bytes(content)
        else:
            (repo / rel).write_text(content)
    git("add", "-A")
    git("commit", "-q", "-m", "mm: add\n\nSigned-off-by: A <a@example.org>")
    return repo


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
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(NETGUARD)] + [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, "-m", "reviewkit", *args], input=input,
                          capture_output=True, cwd=cwd or REPO, env=full_env, timeout=120)


@pytest.fixture
def cli():
    return run_cli


GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/* from the current output instead of comparing")


@pytest.fixture
def golden(request):
    """Compare text with tests/golden/NAME; --update-golden rewrites the file instead."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"no golden file {path}: run pytest --update-golden and review it"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"output differs from {path}; if the change is intended, run "
            "pytest --update-golden and review the diff")

    return check


@pytest.fixture(autouse=True)
def _fresh_image_cache():
    """Each test starts with no hunk images shared from an earlier one (so that what a
    test sees parsed is what it asked for)."""
    from reviewkit.engine import context

    context._IMAGE_CACHE.clear()
    yield
