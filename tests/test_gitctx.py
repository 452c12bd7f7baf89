"""--tree with a kernel git repository: pre-images by blob id, base-commit, HEAD,
--guess-base; honest per-patch context; the repository only ever read.

The repositories are built here from the linux-source-6.1 files that
scripts/fetch-linux-source.sh unpacks ($REVIEWKIT_LINUX_SRC).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from reviewkit import api

from conftest import FIXTURES
from test_tree_mode import linux_tree

SERIES_61 = FIXTURES / "linux-6.1" / "series.mbox"
FILES = ("mm/gup.c", "mm/shmem.c", "mm/memory.c", "include/linux/mm.h")
OLD = "2026-01-10T12:00:00+00:00"  # the 6.1 commit: before the fixture series' date
NEW = "2026-02-20T12:00:00+00:00"


def git(repo: Path, *args: str, date: str = OLD, input: bytes | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="A", GIT_AUTHOR_EMAIL="a@example.org", GIT_COMMITTER_NAME="A",
               GIT_COMMITTER_EMAIL="a@example.org", GIT_AUTHOR_DATE=date,
               GIT_COMMITTER_DATE=date, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env,
                         input=input)
    return out.stdout.decode()


def snapshot(repo: Path) -> str:
    """Every byte of the repository: work tree, index, refs, config, objects, logs."""
    h = hashlib.sha256()
    for p in sorted(repo.rglob("*")):
        st = p.lstat()
        h.update(f"{p.relative_to(repo)}:{st.st_mode:o}\n".encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def make_repo(path: Path, src: Path, files=FILES) -> tuple[str, str]:
    """A repository whose first commit holds the 6.1 files and whose HEAD moved on:
    mm/gup.c and mm/memory.c changed, mm/shmem.c deleted.  Returns the two commits."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "master")
    for rel in files:
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes((src / rel).read_bytes())
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Linux 6.1 files")
    base = git(path, "rev-parse", "HEAD").strip()
    for rel in ("mm/gup.c", "mm/memory.c"):
        text = (path / rel).read_text()
        # change the lines the series' hunks stand on, so nothing applies at HEAD
        text = text.replace("\treturn page;\n}\n", "\treturn page; /* moved on */\n}\n")
        text = text.replace("\tentry = mk_pte(", "\tentry = mk_pte_moved(")
        (path / rel).write_text(text)
    git(path, "rm", "-q", "mm/shmem.c")
    git(path, "commit", "-q", "-am", "move on", date=NEW)
    return base, git(path, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    src = linux_tree()
    root = tmp_path_factory.mktemp("gitctx")
    base, head = make_repo(root / "linux", src)
    return {"src": src, "repo": root / "linux", "base": base, "head": head, "root": root}


def mm_findings(rep):
    return {(f.rule, f.patch, f.path, f.line, f.old_line, f.confidence) for f in rep.findings
            if f.rule.startswith("mm/")}


def test_series_by_blob_id_after_head_moved_on(kernel):
    """The 6.1 series against a clone whose HEAD no longer has its files: every
    pre-image is found by the blob its index line names, and the review finds what a
    review against the 6.1 tree finds."""
    repo = kernel["repo"]
    assert not (repo / "mm" / "shmem.c").exists()
    before = snapshot(repo)
    rep = api.review(str(SERIES_61), api.Options(tree=repo))
    plain = api.review(str(SERIES_61), api.Options(tree=kernel["src"]))
    assert rep.mode == "tree" and rep.extra["tree_patches"] == (1, 2, 3)
    assert mm_findings(rep) == mm_findings(plain)
    assert ("mm/gup-must-unshare-null-vma", 1, "mm/gup.c", 805, None, "high") in mm_findings(rep)
    assert [rep.context_of(i) for i in (1, 2, 3)] == [{"source": "blob", "base": None}] * 3
    assert [plain.context_of(i)["source"] for i in (1, 2, 3)] == ["worktree"] * 3
    assert snapshot(repo) == before


def test_context_in_json_and_text(kernel, cli):
    repo = kernel["repo"]
    out = cli("review", str(SERIES_61), "--tree", str(repo), "--format", "json",
              "--fail-on", "never")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [p["context"] for p in data["series"]["patches"]] == [
        {"source": "blob", "base": None}] * 3
    text = cli("review", str(SERIES_61), "--tree", str(repo), "--fail-on", "never")
    lines = [ln.strip() for ln in text.stdout.decode().splitlines() if "context:" in ln]
    assert lines == ["context: blob (the pre-images its index lines name)"] * 3
    html = cli("review", str(SERIES_61), "--tree", str(repo), "--format", "html",
               "--fail-on", "never").stdout.decode()
    assert html.count("<b>Context</b> blob") == 3
    diff_only = json.loads(cli("review", str(SERIES_61), "--format", "json",
                               "--fail-on", "never").stdout)
    assert [p["context"] for p in diff_only["series"]["patches"]] == [
        {"source": "diff", "base": None}] * 3


def _without_index(text: str) -> str:
    return re.sub(r"(?m)^index [0-9a-f]+\.\.[0-9a-f]+.*\n", "", text)


def _one_patch(n: int) -> str:
    """Patch n/3 of the 6.1 series as a message of its own."""
    parts = SERIES_61.read_text().split("\nFrom 0000000000000000000000000000000000000000 ")
    return "From 0000000000000000000000000000000000000000 " + parts[n] if n else parts[0]


def test_by_base_commit(kernel, tmp_path):
    """No index line: the series' base-commit gives the pre-image."""
    repo = kernel["repo"]
    patch = tmp_path / "p.patch"
    patch.write_text(_without_index(_one_patch(1)).rstrip("\n")
                     + f"\n\nbase-commit: {kernel['base']}\n")
    before = snapshot(repo)
    rep = api.review(str(patch), api.Options(tree=repo))
    assert rep.context_of(1) == {"source": "base-commit", "base": kernel["base"]}
    assert ("mm/gup-must-unshare-null-vma", 1, "mm/gup.c", 805, None, "high") in mm_findings(rep)
    assert snapshot(repo) == before


def test_base_commit_not_in_the_repository(kernel, tmp_path):
    repo = kernel["repo"]
    patch = tmp_path / "p.patch"
    patch.write_text(_without_index(_one_patch(1)).rstrip("\n")
                     + "\n\nbase-commit: 1234567890abcdef1234567890abcdef12345678\n")
    rep = api.review(str(patch), api.Options(tree=repo))
    assert rep.context_of(1)["source"] == "diff" and rep.mode == "diff-only"
    assert any(f"base-commit 1234567890ab is not in {repo}" in n for n in rep.notes)
    assert any("patch 1/3 does not apply to the tree exactly" in n and "HEAD" in n
               for n in rep.notes)
    # the call chain only the whole file shows is not claimed from the diff
    assert not [f for f in rep.findings if f.rule.startswith("mm/gup")]


def test_blobs_absent_is_diff_only_and_says_so(kernel, tmp_path):
    repo = kernel["repo"]
    patch = tmp_path / "p.patch"
    patch.write_text(_one_patch(3).replace("index eba719e..", "index 0123abc.."))
    rep = api.review(str(patch), api.Options(tree=repo))
    assert rep.context_of(1) == {"source": "diff", "base": None}
    note = next(n for n in rep.notes if "does not apply" in n)
    assert f"blob 0123abc is not in {repo}" in note and "diff alone" in note
    assert all(f.confidence != "high" for f in rep.findings if f.rule.startswith("mm/"))


def test_head_and_worktree_where_the_patch_applies_exactly(kernel, tmp_path):
    """No index line and no base-commit: HEAD when the diff applies to it exactly."""
    repo = kernel["repo"]
    patch = tmp_path / "p.patch"
    patch.write_text(_without_index(_one_patch(1)))
    rep = api.review(str(patch), api.Options(tree=repo))
    assert rep.context_of(1)["source"] == "diff"  # HEAD moved on under the hunk
    # a clone still at 6.1: HEAD matches
    at61 = kernel["root"] / "at61"
    git(kernel["root"], "clone", "-q", "--no-local", str(repo), str(at61))
    git(at61, "reset", "-q", "--hard", kernel["base"])
    before = snapshot(at61)
    rep = api.review(str(patch), api.Options(tree=at61))
    assert rep.context_of(1) == {"source": "worktree", "base": kernel["base"]}
    assert ("mm/gup-must-unshare-null-vma", 1, "mm/gup.c", 805, None, "high") in mm_findings(rep)
    assert snapshot(at61) == before


def test_guess_base_finds_the_recent_commit(kernel, tmp_path):
    repo = kernel["repo"]
    patch = tmp_path / "p.patch"
    patch.write_text(_without_index(_one_patch(1)))
    before = snapshot(repo)
    rep = api.review(str(patch), api.Options(tree=repo, guess_base=True))
    assert rep.context_of(1) == {"source": "guessed", "base": kernel["base"]}
    assert ("mm/gup-must-unshare-null-vma", 1, "mm/gup.c", 805, None, "high") in mm_findings(rep)
    assert snapshot(repo) == before


HELPER = """\
static int gup_demo_unshare(unsigned int flags, struct page *page)
{
	return gup_must_unshare(flags, page);
}

"""


def test_series_patch_two_builds_on_patch_one(kernel, tmp_path):
    """Patch 1 adds a GUP-fast helper, patch 2 calls it from slow GUP.  Patch 2's
    pre-image (patch 1's result) is in no repository: it is built in memory, and only
    with it does the new call reach gup_must_unshare() without the VMA."""
    repo = kernel["repo"]
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", "--no-local", str(repo), str(work))
    git(work, "checkout", "-q", "-b", "topic", kernel["base"])
    gup = work / "mm" / "gup.c"
    text = gup.read_text()
    anchor = "static int gup_pte_range(pmd_t pmd, pmd_t *pmdp, unsigned long addr,"
    text = text.replace(anchor, HELPER + anchor, 1)
    fast_call = "\t\tif (!pte_write(pte) && gup_must_unshare(flags, page)) {"
    assert text.count(fast_call) == 1
    text = text.replace(fast_call, "\t\tif (!pte_write(pte) && gup_demo_unshare(flags, page)) {")
    gup.write_text(text)
    git(work, "commit", "-q", "-am", "mm/gup: a helper for the unshare test\n\n"
        "Signed-off-by: A <a@example.org>")
    text = gup.read_text()
    slow = "\tif (!pte_present(pte)) {\n\t\tswp_entry_t entry;"
    assert text.count(slow) == 1
    text = text.replace(slow, "\tif (pte_present(pte) && gup_demo_unshare(flags, NULL))\n"
                              "\t\tgoto no_page;\n" + slow)
    gup.write_text(text)
    git(work, "commit", "-q", "-am", "mm/gup: use the helper in follow_page_pte()\n\n"
        "Signed-off-by: A <a@example.org>")
    mbox = git(work, "format-patch", "--stdout", "--cover-letter", f"{kernel['base']}..topic")
    series = tmp_path / "series.mbox"
    series.write_text(mbox)
    before = snapshot(repo)
    rep = api.review(str(series), api.Options(tree=repo, select=("mm/gup-*",)))
    assert [rep.context_of(i) for i in (1, 2)] == [{"source": "blob", "base": None}] * 2
    hits = [(f.patch, f.function) for f in rep.findings if f.rule.startswith("mm/gup")]
    assert hits == [(2, "follow_page_pte")]
    assert snapshot(repo) == before
    # from the diff alone patch 2 does not show what the helper calls
    diff_only = api.review(str(series), api.Options(select=("mm/gup-*",)))
    assert not [f for f in diff_only.findings if f.rule.startswith("mm/gup")]


def test_bare_repository_works_for_blob_lookups(kernel):
    bare = kernel["root"] / "bare.git"
    if not bare.exists():
        git(kernel["root"], "clone", "-q", "--bare", str(kernel["repo"]), str(bare))
    before = snapshot(bare)
    rep = api.review(str(SERIES_61), api.Options(tree=bare))
    assert [rep.context_of(i)["source"] for i in (1, 2, 3)] == ["blob"] * 3
    assert ("mm/gup-must-unshare-null-vma", 1, "mm/gup.c", 805, None, "high") in mm_findings(rep)
    assert snapshot(bare) == before


def test_shallow_clone_without_the_blobs(kernel, tmp_path):
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{kernel['repo']}", str(shallow))
    rep = api.review(str(SERIES_61), api.Options(tree=shallow))
    assert [rep.context_of(i)["source"] for i in (1, 2, 3)] == ["diff"] * 3
    note = next(n for n in rep.notes if n.startswith("patch 1/3"))
    assert f"blob 72e01b8 is not in {shallow} (a shallow clone)" in note


def test_plain_directory_reduced_context_is_diff_only(tmp_path):
    """A tree the patch fits only with reduced context is not used: diff-only, said so,
    and nothing claimed with high confidence."""
    src = linux_tree()
    tree = tmp_path / "tree"
    (tree / "mm").mkdir(parents=True)
    text = (src / "mm" / "memory.c").read_text()
    # the outermost context line of patch 3's hunk differs in this tree
    patch = _one_patch(3)
    first_ctx = next(ln for ln in patch.split("\n@@", 1)[1].splitlines()[1:]
                     if ln.startswith(" ") and ln.strip())
    assert text.count(first_ctx[1:] + "\n") >= 1
    text = text.replace(first_ctx[1:] + "\n", first_ctx[1:] + " /* local */\n", 1)
    (tree / "mm" / "memory.c").write_text(text)
    p = tmp_path / "p.patch"
    p.write_text(patch)
    rep = api.review(str(p), api.Options(tree=tree))
    assert rep.context_of(1)["source"] == "diff" and rep.mode == "diff-only"
    assert any("would apply only with reduced context" in n and "diff alone" in n
               for n in rep.notes)
    assert [f for f in rep.findings if f.rule.startswith("mm/")]
    assert all(f.confidence != "high" for f in rep.findings if f.rule.startswith("mm/"))


def test_guess_base_needs_a_repository(tmp_path):
    tree = tmp_path / "plain"
    tree.mkdir()
    p = tmp_path / "p.patch"
    p.write_text(_one_patch(1))
    rep = api.review(str(p), api.Options(tree=tree, guess_base=True))
    assert any(f"--guess-base needs a git repository; {tree} is not one" in n
               for n in rep.notes)


def test_cli_errors_are_one_line(cli, kernel, tmp_path):
    out = cli("review", str(SERIES_61), "--tree", str(tmp_path / "missing"))
    assert out.returncode == 2 and out.stderr.decode().count("\n") == 1
    assert b"--tree is not a directory" in out.stderr


def test_config_tree_setting(cli, kernel, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'tree = "{kernel["repo"]}"\n')
    out = cli("review", str(SERIES_61), "--format", "json", "--fail-on", "never",
              env={"REVIEWKIT_CONFIG": str(cfg)})
    assert out.returncode == 0, out.stderr
    assert [p["context"]["source"] for p in json.loads(out.stdout)["series"]["patches"]] == [
        "blob"] * 3
    cfg.write_text(f'tree = "{tmp_path / "nowhere"}"\n')
    out = cli("review", str(SERIES_61), env={"REVIEWKIT_CONFIG": str(cfg)})
    assert out.returncode == 2 and b"nowhere" in out.stderr and b"Traceback" not in out.stderr


# --- the cross-file call graph -----------------------------------------------------------

@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "reviewkit" / "functions.sqlite3"


UNSHARE_IN_GRAB = """\
struct folio *try_grab_folio(struct page *page, int refs, unsigned int flags)
{
	if (gup_must_unshare(flags, page))
		return NULL;
"""


def _grab_patch(kernel, tmp_path) -> Path:
    """try_grab_folio() in mm/gup.c, shared by GUP-fast and by follow_hugetlb_page() in
    mm/hugetlb.c (which has the VMA), gains a gup_must_unshare() without one."""
    work = tmp_path / "grab"
    git(tmp_path, "clone", "-q", "--no-local", str(kernel["xrepo"]), str(work))
    gup = work / "mm" / "gup.c"
    text = gup.read_text()
    head = "struct folio *try_grab_folio(struct page *page, int refs, unsigned int flags)\n{\n"
    assert text.count(head) == 1
    gup.write_text(text.replace(head, UNSHARE_IN_GRAB))
    git(work, "commit", "-q", "-am", "mm/gup: refuse to grab pages that must be unshared\n\n"
        "Signed-off-by: A <a@example.org>")
    out = tmp_path / "grab.patch"
    out.write_text(git(work, "format-patch", "--stdout", "-1"))
    return out


@pytest.fixture(scope="module")
def xkernel(kernel):
    xrepo = kernel["root"] / "xfile"
    xbase, xhead = make_repo(xrepo, kernel["src"], files=FILES + ("mm/hugetlb.c",))
    return {**kernel, "xrepo": xrepo, "xbase": xbase, "xhead": xhead}


def test_finding_reachable_only_through_another_file(xkernel, tmp_path, own_cache):
    patch = _grab_patch(xkernel, tmp_path)
    repo = xkernel["xrepo"]
    before = snapshot(repo)
    rep = api.review(str(patch), api.Options(tree=repo, select=("mm/gup-*",)))
    assert rep.context_of(1)["source"] == "blob"
    hits = [(f.rule, f.path, f.line, f.function, f.confidence) for f in rep.findings]
    line = 1 + next(i for i, ln in enumerate((repo / "mm/gup.c").read_text().splitlines())
                    if ln.startswith("struct folio *try_grab_folio(")) + 2
    assert hits == [("mm/gup-must-unshare-null-vma", "mm/gup.c", line, "try_grab_folio",
                     "high")]
    # the function that holds the VMA is in another file (mm/memory.c or mm/hugetlb.c)
    holder = re.search(r"(\w+)\(\) holds the VMA", rep.findings[0].message).group(1)
    assert f"\n{holder}(" not in (repo / "mm/gup.c").read_text()
    assert snapshot(repo) == before
    assert own_cache.is_file()
    # the same patch where mm/hugetlb.c is not in the tree: nothing reaches the helper
    # from a function holding the VMA, and the rule stays quiet
    alone = api.review(str(patch), api.Options(tree=xkernel["repo"], select=("mm/gup-*",)))
    assert alone.context_of(1)["source"] == "blob" and alone.findings == ()
    assert api.review(str(patch), api.Options(select=("mm/gup-*",))).findings == ()


def test_function_index_is_cached_by_blob(xkernel, tmp_path, own_cache):
    from reviewkit.engine.xref import IndexCache, build_index
    from reviewkit.sources.gitrepo import probe

    repo = probe(xkernel["xrepo"])
    listing = repo.tree_listing(xkernel["xhead"], ["mm", "include/linux"])
    assert {p for p, _ in listing} == {"mm/gup.c", "mm/memory.c", "mm/hugetlb.c",
                                       "include/linux/mm.h"}  # mm/shmem.c is gone at HEAD
    asked: list[list[str]] = []

    def read(ids):
        asked.append(list(ids))
        return repo.read_blobs(ids)

    cold = build_index(listing, read, IndexCache())
    assert [len(a) for a in asked] == [4]
    assert "try_grab_folio" in cold.where and "follow_hugetlb_page" in cold.where
    assert cold.where["follow_hugetlb_page"] == {"mm/hugetlb.c": None}
    assert any(v.name == "vma" for f in cold.functions("mm/hugetlb.c")
               if f.name == "follow_hugetlb_page" for v in f.params)
    sig = dict(cold.signature("follow_hugetlb_page"))["mm/hugetlb.c"]
    assert sig.startswith("long follow_hugetlb_page(struct mm_struct *mm,")
    asked.clear()
    warm = build_index(listing, read, IndexCache())
    assert asked == []  # nothing parsed again
    assert warm.where == cold.where
    # HEAD moved on: only the changed blob is parsed
    base_listing = repo.tree_listing(xkernel["xbase"], ["mm", "include/linux"])
    build_index(base_listing, read, IndexCache())
    changed = {b for _, b in base_listing} - {b for _, b in listing}
    assert len(changed) == 3  # gup.c and memory.c as they were, and shmem.c
    assert len(asked) == 1 and set(asked[0]) == changed


def test_broken_index_file_is_moved_aside_and_rebuilt(xkernel, tmp_path, own_cache):
    own_cache.parent.mkdir(parents=True)
    own_cache.write_bytes(b"this is not a database" * 100)
    patch = _grab_patch(xkernel, tmp_path)
    rep = api.review(str(patch), api.Options(tree=xkernel["xrepo"], select=("mm/gup-*",)))
    assert [f.function for f in rep.findings] == ["try_grab_folio"]
    assert any("was unreadable" in n and "rebuilt" in n for n in rep.notes)
    assert list(own_cache.parent.glob("functions.sqlite3.broken-*"))
    import sqlite3

    assert sqlite3.connect(own_cache).execute("SELECT count(*) FROM files").fetchone()[0] == 4


def test_base_commit_with_a_prerequisite_patch_in_the_input(kernel, tmp_path):
    """git format-patch --base names the prerequisite by patch-id; with that patch in
    the input it is applied at base-commit first, and the series applies on it."""
    repo = kernel["repo"]
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", "--no-local", str(repo), str(work))
    git(work, "checkout", "-q", "-b", "topic", kernel["base"])
    gup = work / "mm" / "gup.c"
    text = gup.read_text()
    slow = "\tif (!pte_present(pte)) {\n\t\tswp_entry_t entry;"
    text = text.replace(slow, "\t/* a prerequisite's line */\n" + slow)
    gup.write_text(text)
    git(work, "commit", "-q", "-am", "mm/gup: a comment in follow_page_pte()\n\n"
        "Signed-off-by: A <a@example.org>")
    prereq = git(work, "format-patch", "--stdout", "-1", "--subject-prefix=PATCH prep",
                 "--add-header=Message-ID: <prep@example.org>")
    gup.write_text(gup.read_text().replace(
        "\t/* a prerequisite's line */\n",
        "\t/* a prerequisite's line */\n\tif (pte_present(pte) && gup_must_unshare(flags, NULL))"
        "\n\t\tgoto no_page;\n"))
    git(work, "commit", "-q", "-am", "mm/gup: the change that needs it\n\n"
        "Signed-off-by: A <a@example.org>")
    patch = git(work, "format-patch", "--stdout", f"--base={kernel['base']}", "HEAD~1..HEAD",
                "--add-header=Message-ID: <change@example.org>")
    assert "prerequisite-patch-id: " in patch and f"base-commit: {kernel['base']}" in patch
    mbox = tmp_path / "both.mbox"
    mbox.write_text(prereq + patch)
    alone = tmp_path / "alone.mbox"
    alone.write_text(patch)
    before = snapshot(repo)
    rep = api.review(str(alone), api.Options(tree=repo))
    assert rep.context_of(1)["source"] == "diff"
    assert any("prerequisite-patch-id" in n and "is not in the input" in n for n in rep.notes)
    rep = api.review(str(mbox), api.Options(tree=repo, series="change@example.org"))
    assert rep.series.patches[0].subject.title.startswith("mm/gup: the change")
    assert rep.context_of(1) == {"source": "base-commit", "base": kernel["base"]}
    assert snapshot(repo) == before


def test_check_reads_the_repository_it_runs_in(kernel, tmp_path, cli):
    """reviewkit check: the commits' own blob ids give the pre-images, and the
    repository (work tree, index, refs, objects) is left as it was."""
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", "--no-local", str(kernel["repo"]), str(work))
    git(work, "checkout", "-q", "-b", "topic", kernel["base"])
    text = (work / "mm" / "gup.c").read_text()
    anchor = "static int gup_pte_range(pmd_t pmd, pmd_t *pmdp, unsigned long addr,"
    (work / "mm" / "gup.c").write_text(text.replace(anchor, HELPER + anchor, 1))
    git(work, "commit", "-q", "-am", "mm/gup: add a helper\n\nSigned-off-by: A <a@example.org>")
    before = snapshot(work)
    out = cli("check", "HEAD", "--format", "json", "--fail-on", "never", cwd=work)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [p["context"] for p in data["series"]["patches"]] == [
        {"source": "blob", "base": kernel["base"]}]
    assert data["mode"] == "tree"
    assert snapshot(work) == before


def test_broken_git_directory_is_a_one_line_error(cli, tmp_path):
    tree = tmp_path / "linux"
    (tree / "mm").mkdir(parents=True)
    (tree / ".git").write_text("gitdir: /nonexistent/linux.git\n")
    out = cli("review", str(SERIES_61), "--tree", str(tree))
    err = out.stderr.decode()
    assert out.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert str(tree) in err and "not a readable git repository" in err
