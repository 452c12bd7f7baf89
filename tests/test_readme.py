"""The README is tested: every ``sh`` block in it is run, so its usage cannot drift.

Each command runs in a real shell, with ``reviewkit`` and ``python`` on PATH as
in an activated venv, in
a sandbox that holds what the README names: a kernel-like git repository (a
b4 review branch on it, made by b4), ``examples/``, ``thread.mbox``,
``series.mbox``, a copy of ``corpus/``, a user with an empty configuration.
Names the README leaves to the reader are filled in (SUBSTITUTE); lore is the
loopback public-inbox the other tests use.  A command is not run only when
NOT_RUN says why, and a reason that no longer matches the README fails.

The usage synopsis is checked against ``-h``: every command and option it
lists must exist.  The YAML waiver example must load, and the TOML
configuration example must be accepted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, NETGUARD, REPO, SEED
from loreserver import Archive, LoreServer
from test_b4 import b4run, kernel, make_series  # noqa: F401 - kernel is a fixture
from test_tree_mode import linux_tree

README = REPO / "README.md"
V4_COVER = "20210915181456.10739-1-peterx@redhat.com"

# commands (or blocks, by their first line) that are not run, and why
NOT_RUN = {
    "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/reviewkit review "
    "examples/zap-shmem-uffd-v4.mbox":
        "installs from the package index into a new venv; .ci/run does exactly this on a "
        "fresh clone; the review of the example it ends with is test_outputs' golden test",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m "
    "pytest": "runs this very suite, which this test is part of",
    "git send-email --dry-run drafts/0001-*.eml":
        "sends mail (git send-email is not part of git here); the drafts it names are "
        "checked to exist",
    "xdg-open review/index.html": "opens a browser; the page is checked to exist",
    ".venv/bin/python benchmarks/bench.py":
        "a benchmark: prints timings for minutes and asserts nothing",
    ".venv/bin/python benchmarks/fuzz.py -n 10000 --budget 2 --jobs 2":
        "a benchmark: fuzzes for minutes, prints figures and asserts nothing",
    ".venv/bin/python benchmarks/dashboard.py [--patches 5000 20000] [--jobs N]":
        "a benchmark: builds archives of thousands of patches and prints figures",
    ".venv/bin/python benchmarks/startup.py [--runs 21]":
        "a benchmark: times whole processes against checkpatch.pl and prints figures",
    ".venv/bin/python benchmarks/default_fail_on.py":
        "a measurement over the whole labelled corpus: prints figures and asserts nothing "
        "(test_corpus covers the same figures)",
    ".venv/bin/python benchmarks/xref.py":
        "a benchmark over the linux-6.1 files: prints timings and asserts nothing",
    ".venv/bin/python benchmarks/coverage.py [--list] [--review]":
        "a measurement over the corpus and the fixtures: prints figures and asserts nothing "
        "(test_analysis asserts the reconstruction it counts)",
}


def blocks(lang: str) -> list[tuple[int, str]]:
    """(line, text) of each fenced block in LANG."""
    out, cur, start = [], None, 0
    for n, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if cur is None and line.strip() == f"```{lang}":
            cur, start = [], n
        elif cur is not None and line.startswith("```"):
            out.append((start, "\n".join(cur)))
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


def commands(text: str) -> list[str]:
    """A block's commands: one per line, comments dropped; a heredoc is one command."""
    if "<<" in text:
        return [text]
    out = []
    for line in text.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).rstrip()
        if line and not line.lstrip().startswith("#"):
            out.append(line)
    return out


def test_not_run_reasons_match_the_readme():
    text = README.read_text(encoding="utf-8")
    stale = [cmd for cmd in NOT_RUN if cmd not in text]
    assert not stale, f"NOT_RUN names commands the README no longer has: {stale}"
    assert all(len(why) > 20 for why in NOT_RUN.values())


@pytest.fixture
def sandbox(kernel, tmp_path):
    """The repository the README's commands run in, and their environment."""
    r, env = kernel
    mbox = make_series(r, env, tmp_path)
    branch = b4run(env, "make-branch", str(r), str(mbox))["branch"]
    (r / "examples").symlink_to(REPO / "examples")
    shutil.copy(SEED / "thread.mbox", r / "thread.mbox")
    shutil.copy(FIXTURES / "linux-6.1" / "series.mbox", r / "series.mbox")
    shutil.copytree(REPO / "corpus", r / "corpus")
    inbox = tmp_path / "linux-mm.mbox"
    inbox.write_bytes((SEED / "thread.mbox").read_bytes()
                      + (FIXTURES / "lore" / "zap-v3-thread.mbox").read_bytes())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "reviewkit"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m reviewkit \"$@\"\n")
    shim.chmod(0o755)
    (bindir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    (bindir / "python").chmod(0o755)  # as with the venv activated
    archive = Archive("linux-mm")
    archive.add_mbox((SEED / "thread.mbox").read_bytes())
    server = LoreServer(archive).start()
    env = {**env, "PATH": f"{bindir}:{os.environ['PATH']}",
           "REVIEWKIT_LORE_URL": server.base, "REVIEWKIT_CONFIG": str(tmp_path / "none.toml"),
           "PYTHONPATH": os.pathsep.join([str(NETGUARD), str(REPO)])}
    subst = {
        "<msgid>": V4_COVER,
        "https://lore.kernel.org": f"http://127.0.0.1:{server.port}",
        "~/src/linux": str(linux_tree()),
        "~/mail/linux-mm.mbox": str(inbox),
        "<change-id>": branch.removeprefix("b4/review/"),
    }
    yield r, env, subst
    server.stop()


def run(cmd: str, r: Path, env: dict, subst: dict) -> subprocess.CompletedProcess:
    for k, v in subst.items():
        cmd = cmd.replace(k, v)
    return subprocess.run(["bash", "-c", cmd], cwd=r, env=env, capture_output=True,
                          timeout=300)


def test_every_command_block_runs(sandbox):
    r, env, subst = sandbox
    ran = []
    for line, text in blocks("sh"):
        if text.startswith("reviewkit review SOURCE..."):
            continue  # the synopsis: see test_usage_synopsis_matches_the_commands
        for cmd in commands(text):
            if cmd in NOT_RUN:
                continue
            proc = run(cmd, r, env, subst)
            out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
            where = f"README.md:{line}: {cmd}"
            # 1 is "findings at or above --fail-on", which the examples have
            assert proc.returncode in (0, 1), f"{where}: exit {proc.returncode}\n{out[-2000:]}"
            assert "Traceback" not in out and "internal error" not in out, f"{where}\n{out}"
            ran.append(cmd)
    # what the commands were for happened
    assert sorted(p.name for p in (r / "drafts").glob("0001-*.eml"))  # for git send-email
    assert (r / "replies.mbox").read_bytes().startswith(b"From ")
    assert (r / "review" / "index.html").is_file()  # for xdg-open
    assert os.access(r / ".git" / "hooks" / "pre-push", os.X_OK)
    hook = (r / ".git" / "hooks" / "pre-push").read_text()
    assert f"{Path(env['PATH'].split(':')[0]) / 'reviewkit'} check --pre-push" in hook
    assert '"$@"' in hook
    config = subprocess.run(["git", "config", "--global", "--get-all",
                             "b4.review-perpatch-check-cmd"], env=env, capture_output=True,
                            text=True).stdout.split("\n")
    assert config[0] == "_builtin_checkpatch" and config[1].endswith(" b4-check")
    assert any((r / ".git" / "b4-review").iterdir())  # b4-review wrote its files
    assert (r / "series.mbox").is_file() and len(ran) >= 15


def test_usage_synopsis_matches_the_commands(cli):
    (synopsis,) = [t for _, t in blocks("sh") if t.startswith("reviewkit review SOURCE...")]
    for line in synopsis.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line)
        if line.startswith("reviewkit "):
            words = line.split()[1:]
            path = [] if words[0].startswith("-") else (
                words[:2] if words[0] == "rules" else words[:1])
            current = path
        else:
            path = current  # a continuation of the command above
        helptext = cli(*path, "-h").stdout.decode()
        assert "Usage: reviewkit" in helptext, (line, helptext)
        for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", line):
            assert re.search(rf"(?<![\w-]){re.escape(opt)}\b", helptext), (
                f"README usage names {opt} for 'reviewkit {' '.join(path)}', which -h "
                "does not list")


def test_yaml_and_toml_examples_are_accepted(cli, tmp_path):
    from reviewkit import api
    from reviewkit.engine.waivers import load_waivers

    rs = api.ruleset()
    ids = {n for rule in rs.rules for n in (rule.id, *rule.aliases)}
    (waivers,) = [t for _, t in blocks("yaml") if "reason:" in t]
    path = tmp_path / "waivers.yaml"
    path.write_text(waivers)
    assert [w.rule for w in load_waivers(path, rule_ids=ids)] == [
        "mm/zap-details-skip-helper-sense"]
    for _, toml in blocks("toml"):
        cfg = tmp_path / "config.toml"
        cfg.write_text(toml)
        home = tmp_path / "home"
        (home / ".config" / "reviewkit" / "templates").mkdir(parents=True, exist_ok=True)
        (home / "src" / "linux").mkdir(parents=True, exist_ok=True)  # a tree it may name
        proc = cli("review", str(REPO / "examples" / "zap-shmem-uffd-v4.mbox"), "-f", "terse",
                   env={"REVIEWKIT_CONFIG": str(cfg), "HOME": str(home)})
        assert proc.returncode in (0, 1), proc.stderr.decode()
