"""--tree: the series applied to a scratch copy, whole-file function context.

The Linux 6.1 tests need Debian's linux-source-6.1 unpacked by
scripts/fetch-linux-source.sh (.ci/run does it); they never download anything.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from reviewkit import api

from conftest import FIXTURES, REPO

SERIES_61 = FIXTURES / "linux-6.1" / "series.mbox"
FAST_ONLY_61 = FIXTURES / "linux-6.1" / "gup-fast-only.patch"


def linux_tree() -> Path:
    root = Path(os.environ.get("REVIEWKIT_LINUX_SRC") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reviewkit-tests" / "linux-6.1")
    if (root / "mm" / "gup.c").is_file():
        return root
    why = f"linux-source-6.1 not unpacked at {root}: run scripts/fetch-linux-source.sh"
    if os.environ.get("CI"):
        pytest.fail(why)  # CI fetches it; a silent skip there would hide the real-tree test
    pytest.skip(why)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def findings(rep, prefix="mm/"):
    return {(f.rule, f.patch, f.path, f.line, f.old_line) for f in rep.findings
            if f.rule.startswith(prefix)}


def test_real_6_1_tree_sees_what_the_diff_cannot():
    tree = linux_tree()
    before = digest(tree)
    rep = api.review(str(SERIES_61), api.Options(tree=tree))
    assert rep.mode == "tree" and rep.extra["tree_patches"] == (1, 2, 3)
    assert findings(rep) == {
        # follow_hugepd() (slow GUP, has the vma) -> gup_huge_pd() -> gup_hugepte() ->
        # gup_must_unshare(flags, page): only the whole file shows that call chain
        ("mm/gup-must-unshare-null-vma", 1, "mm/gup.c", 805, None),
        ("mm/dirty-page-dirty-removed", 2, "mm/shmem.c", None, 2610),
        ("mm/dirty-pte-mkdirty-unconditional", 3, "mm/memory.c", 4207, None),
    }
    assert all(f.confidence == "high" for f in rep.findings if f.rule.startswith("mm/"))
    gup = next(f for f in rep.findings if f.rule.startswith("mm/gup"))
    assert gup.function == "follow_hugepd" and "gup_hugepte()" in gup.message
    assert digest(tree) == before  # the user's tree is only read

    diff_only = api.review(str(SERIES_61))
    assert diff_only.mode == "diff-only"
    assert findings(diff_only) == {
        ("mm/dirty-page-dirty-removed", 2, "mm/shmem.c", None, 2610),
        ("mm/dirty-pte-mkdirty-unconditional", 3, "mm/memory.c", 4207, None),
    }
    assert all(f.confidence == "medium" for f in diff_only.findings if f.rule.startswith("mm/"))


def test_real_6_1_tree_gup_fast_only_caller_is_quiet():
    rep = api.review(str(FAST_ONLY_61), api.Options(tree=linux_tree()))
    assert rep.mode == "tree"
    assert not [f for f in rep.findings if f.rule.startswith("mm/gup")]


PATCH = """From: Ada Reviewer <ada@example.org>
Subject: [PATCH] mm/demo: {title}
Message-ID: <tree-{n}@example.org>

Demo.

Signed-off-by: Ada Reviewer <ada@example.org>
---
diff --git a/{path} b/{path}
--- a/{path}
+++ b/{path}
@@ -{start},3 +{start},4 @@ int demo(void)
 {{
 \tint x = 1;
+\tx++;
 \treturn x;
"""

DEMO_C = "int demo(void)\n{\n\tint x = 1;\n\treturn x;\n}\n"


def _patch(tmp_path: Path, *, path="mm/demo.c", start=2, title="demo", n=1) -> Path:
    p = tmp_path / f"p{n}.patch"
    p.write_text(PATCH.format(path=path, start=start, title=title, n=n))
    return p


SOFT = """From: Ada Reviewer <ada@example.org>
Subject: [PATCH] mm/demo: soft-dirty
Message-ID: <tree-soft@example.org>

Demo.

Signed-off-by: Ada Reviewer <ada@example.org>
---
diff --git a/mm/demo.c b/mm/demo.c
--- a/mm/demo.c
+++ b/mm/demo.c
@@ -2,3 +2,4 @@ pte_t demo(pte_t pte)
 {
 \tif (vma->vm_flags & VM_SOFTDIRTY)
+\t\tpte = pte_mkdirty(pte);
 \treturn pte;
"""


def test_toy_tree_applies_at_an_offset_and_findings_keep_patch_lines(tmp_path):
    tree = tmp_path / "tree"
    (tree / "mm").mkdir(parents=True)
    text = "/* one */\n/* two */\n/* three */\npte_t demo(pte_t pte)\n{\n" \
           "\tif (vma->vm_flags & VM_SOFTDIRTY)\n\treturn pte;\n}\n"
    (tree / "mm" / "demo.c").write_text(text)
    patch = tmp_path / "soft.patch"
    patch.write_text(SOFT)
    rep = api.review(str(patch), api.Options(tree=tree, select=("mm/dirty-mkdirty-for-soft-dirty",)))
    assert rep.mode == "tree"
    # the tree has the code 3 lines lower; the finding keeps the patch's own numbering
    assert [(f.rule, f.line, f.function) for f in rep.findings] == [
        ("mm/dirty-mkdirty-for-soft-dirty", 4, "demo")]
    assert (tree / "mm" / "demo.c").read_text() == text


def test_patch_that_does_not_apply_falls_back_with_a_note(tmp_path):
    tree = tmp_path / "tree"
    (tree / "mm").mkdir(parents=True)
    (tree / "mm" / "demo.c").write_text("something else entirely\n")
    rep = api.review(str(_patch(tmp_path)), api.Options(tree=tree))
    assert rep.mode == "diff-only"
    assert any("does not apply to the tree" in n and "diff alone" in n for n in rep.notes)


@pytest.mark.parametrize("path", ["../outside.c", "/etc/demo.c", "mm/link/escape.c"])
def test_paths_cannot_escape_the_tree(tmp_path, path):
    tree = tmp_path / "tree"
    (tree / "mm").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "escape.c").write_text(DEMO_C)
    (tree / "mm" / "link").symlink_to(outside)
    (tmp_path / "outside.c").write_text(DEMO_C)
    rep = api.review(str(_patch(tmp_path, path=path)), api.Options(tree=tree))
    assert rep.mode == "diff-only"
    assert any("outside the tree" in n for n in rep.notes)
    assert (outside / "escape.c").read_text() == DEMO_C
    assert (tmp_path / "outside.c").read_text() == DEMO_C


def test_tree_that_is_not_a_directory(cli, tmp_path):
    proc = cli("review", str(_patch(tmp_path)), "--tree", str(tmp_path / "nope"))
    assert proc.returncode == 2 and b"--tree is not a directory" in proc.stderr


def test_cli_reports_the_mode(cli, tmp_path):
    tree = tmp_path / "tree"
    (tree / "mm").mkdir(parents=True)
    (tree / "mm" / "demo.c").write_text(DEMO_C)
    out = cli("review", str(_patch(tmp_path)), "--tree", str(tree), "--fail-on", "never")
    assert "mode:    tree" in out.stdout.decode()
    out = cli("review", str(_patch(tmp_path)), "--fail-on", "never")
    assert "mode:    diff-only" in out.stdout.decode()


def test_repo_has_no_kernel_source():
    # the 6.1 files are fetched into a cache at test time, never committed
    assert not (REPO / "tests" / "fixtures" / "linux-6.1" / "mm").exists()
