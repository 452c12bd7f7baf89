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
    assert "mm/gup.c:20: ERROR:mm/gup-must-unshare-null-vma:" in out
    assert cli("check", "--fail-on", "never", cwd=repo).returncode == 0
    plain = cli("review", "HEAD", "-f", "terse", cwd=repo)
    assert "gup-must-unshare" not in plain.stdout.decode()  # diff alone cannot see it


def test_check_default_range_follows_the_upstream(cli, repo, tmp_path):
    upstream = tmp_path / "upstream.git"
    git(repo, "clone", "-q", "--bare", str(repo), str(upstream))
    git(repo, "remote", "add", "origin", str(upstream))
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/work")
    # nothing beyond the upstream yet: HEAD alone is reviewed
    import json

    alone = json.loads(cli("check", "-f", "json", cwd=repo).stdout)
    assert [p["subject"] for p in alone["series"]["patches"]] == ["mm/gup: base"]
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
