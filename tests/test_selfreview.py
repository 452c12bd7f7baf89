"""reviewkit check: one's own commits, with the repository as the tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

GUP_C = """\
static int demo_gup_hugepte(pte_t *ptep, unsigned int flags, struct page **pages)
{
\tstruct folio *folio = demo_grab(ptep, flags);

\tif (!pte_write(*ptep) && gup_must_unshare(NULL, flags, &folio->page))
\t\treturn 0;
\treturn 1;
}

static int demo_gup_hugepd(hugepd_t hugepd, unsigned int flags, struct page **pages)
{
\treturn demo_gup_hugepte(hugepte_offset(hugepd), flags, pages);
}

static struct page *demo_follow_pud_mask(struct vm_area_struct *vma, pud_t *pud,
\t\t\t\t\t unsigned int flags)
{
\treturn demo_no_page(vma, flags);
}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    r = tmp_path / "linux"
    (r / "mm").mkdir(parents=True)
    git(r, "init", "-q", "-b", "work")
    git(r, "config", "user.name", "Ada Reviewer")
    git(r, "config", "user.email", "ada@example.org")
    (r / "mm" / "gup.c").write_text(GUP_C)
    git(r, "add", ".")
    git(r, "commit", "-qm", "mm/gup: base\n\nSigned-off-by: Ada Reviewer <ada@example.org>")
    return r


def commit_slow_caller(r: Path) -> None:
    text = (r / "mm" / "gup.c").read_text().replace(
        "{\n\treturn demo_no_page(vma, flags);",
        "{\n\tstruct page *page = NULL;\n\n"
        "\tif (demo_gup_hugepd(__hugepd(pud_val(*pud)), flags, &page) == 1)\n"
        "\t\treturn page;\n\treturn demo_no_page(vma, flags);")
    (r / "mm" / "gup.c").write_text(text)
    git(r, "commit", "-qam", "mm/gup: follow hugepd with the fast walker\n\n"
                             "Signed-off-by: Ada Reviewer <ada@example.org>")


def test_check_uses_the_repository_as_the_tree(cli, repo):
    commit_slow_caller(repo)
    proc = cli("check", cwd=repo)
    out = proc.stdout.decode()
    # the helper's gup_must_unshare(NULL, ...) is not in the diff: only the tree shows it
    assert proc.returncode == 1, proc.stderr
    sha = git(repo, "rev-parse", "HEAD").strip()
    # the line names the commit it is about
    assert f"mm/gup.c:20: {sha[:12]} ERROR:mm/gup-must-unshare-null-vma:" in out
    assert cli("check", "--fail-on", "never", cwd=repo).returncode == 0
    plain = cli("review", "HEAD", "-f", "terse", cwd=repo)
    assert "gup-must-unshare" not in plain.stdout.decode()  # diff alone cannot see it


def test_check_default_range_follows_the_upstream(cli, repo, tmp_path):
    upstream = tmp_path / "upstream.git"
    git(repo, "clone", "-q", "--bare", str(repo), str(upstream))
    git(repo, "remote", "add", "origin", str(upstream))
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/work")
    # nothing beyond the upstream yet: nothing to review, and that is no failure
    import json

    nothing = cli("check", cwd=repo)
    assert (nothing.returncode, nothing.stdout) == (0, b"")
    assert nothing.stderr == b"reviewkit: nothing to review: no commits ahead of origin/work\n"
    commit_slow_caller(repo)
    (repo / "mm" / "other.c").write_text("int other(void)\n{\n\treturn 0;\n}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "mm: add other\n\nSigned-off-by: Ada Reviewer <ada@example.org>")
    proc = cli("check", "-f", "json", cwd=repo)
    rep = json.loads(proc.stdout)
    assert [p["subject"] for p in rep["series"]["patches"]] == [
        "mm/gup: follow hugepd with the fast walker", "mm: add other"]
    assert rep["mode"] == "tree"


def test_check_outside_a_repository(cli, tmp_path):
    proc = cli("check", cwd=tmp_path)
    assert proc.returncode == 2 and b"not a git repository" in proc.stderr


ZERO = "0" * 40


@pytest.fixture
def pushed(repo, tmp_path):
    """REPO with a bare remote 'origin' that has its branch, and reviewkit as the
    pre-push hook (by absolute path, as a user would install it)."""
    import os
    import sys

    upstream = tmp_path / "upstream.git"
    git(repo, "init", "-q", "--bare", str(upstream))
    git(repo, "remote", "add", "origin", str(upstream))
    git(repo, "push", "-q", "-u", "origin", "work")
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m reviewkit check --pre-push "
                    "--fail-on error \"$@\"\n")
    hook.chmod(0o755)
    from conftest import NETGUARD

    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(NETGUARD)}
    return repo, upstream, env


def push(repo: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "push", "origin", *args], cwd=repo, capture_output=True,
                          env=env, timeout=300)


def test_pre_push_hook_blocks_what_is_pushed_and_passes_what_is_clean(pushed):
    repo, upstream, env = pushed
    # a new branch with nothing new on it: the hook runs, finds nothing, the push goes
    proc = push(repo, env, "work:refs/heads/same")
    assert proc.returncode == 0, proc.stderr
    assert b"nothing to review: this push sends no new commit" in proc.stderr
    # a finding at or above --fail-on stops the push, naming the commit
    commit_slow_caller(repo)
    sha = git(repo, "rev-parse", "HEAD").strip()
    proc = push(repo, env, "work")
    assert proc.returncode != 0
    assert f"mm/gup.c:20: {sha[:12]} ERROR:mm/gup-must-unshare-null-vma".encode() in (
        proc.stdout + proc.stderr)
    assert git(upstream, "rev-parse", "work").strip() != sha
    # deleting a branch sends no commit
    proc = push(repo, env, ":same")
    assert proc.returncode == 0, proc.stderr
    assert "same" not in git(upstream, "branch")


def test_pre_push_reviews_exactly_the_pushed_commits(cli, pushed):
    import json

    repo, upstream, _env = pushed
    base = git(repo, "rev-parse", "HEAD").strip()
    commit_slow_caller(repo)
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "mm" / "other.c").write_text("int other(void)\n{\n\treturn 0;\n}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "mm: add other\n\nSigned-off-by: Ada Reviewer <ada@example.org>")
    second = git(repo, "rev-parse", "HEAD").strip()

    def reviewed(lines: str) -> list[list[str]]:
        proc = cli("check", "--pre-push", "origin", str(upstream), "-f", "json",
                   "--fail-on", "never", input=lines.encode(), cwd=repo)
        assert proc.returncode == 0, proc.stderr
        reports = [json.loads(x) for x in proc.stdout.decode().split("\n{") if x.strip()
                   for x in [x if x.startswith("{") else "{" + x]]
        return [[p["commit"] for p in r["series"]["patches"]] for r in reports]

    # an update sends remote..local: both commits
    assert reviewed(f"refs/heads/work {second} refs/heads/work {base}\n") == [[first, second]]
    # pushing only the first: that one
    assert reviewed(f"{first} {first} refs/heads/work {base}\n") == [[first]]
    # a new branch: what no remote-tracking branch has (not the whole history)
    assert reviewed(f"refs/heads/work {second} refs/heads/new {ZERO}\n") == [[first, second]]
    # two refs at once, one of them a deletion
    assert reviewed(f"refs/heads/work {second} refs/heads/work {first}\n"
                    f"(delete) {ZERO} refs/heads/old {base}\n") == [[second]]


def test_pre_push_input_errors(cli, pushed):
    repo, _upstream, _env = pushed
    proc = cli("check", "--pre-push", input=b"refs/heads/work HEAD refs/heads/work x\n", cwd=repo)
    assert proc.returncode == 2
    assert proc.stderr.startswith(b"reviewkit: error: <stdin>:1: not a pre-push line")
