"""The command as a user runs it: report shape, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EDGE, REPO, SEED

EXAMPLE = REPO / "examples" / "zap-shmem-uffd-v4.mbox"


def report_of(proc) -> dict:
    assert proc.stderr == b"", proc.stderr
    return json.loads(proc.stdout)


def test_json_report_schema_on_the_example(cli):
    proc = cli("review", str(EXAMPLE), "--format", "json", "--fail-on", "never")
    assert proc.returncode == 0
    rep = report_of(proc)
    assert rep["schema"] == 1
    s = rep["series"]
    assert s["subject"] == "mm: A few cleanup patches around zap, shmem and uffd"
    assert s["version"] == 4 and s["message_id"] == "20210915181456.10739-1-peterx@redhat.com"
    assert [p["index"] for p in s["patches"]] == [1, 2, 3, 4]
    assert [p["total"] for p in s["patches"]] == [4, 4, 4, 4]
    p1 = s["patches"][0]
    assert p1["subject"] == "mm/shmem: Unconditionally set pte dirty in mfill_atomic_install_pte"
    assert p1["message_id"] == "20210915181456.10739-2-peterx@redhat.com"
    assert p1["author"] == {"name": "Peter Xu", "email": "peterx@redhat.com"}
    assert [f["path"] for f in p1["files"]] == ["mm/shmem.c", "mm/userfaultfd.c"]
    assert len(p1["replies"]) == 6
    acks = [t for t in s["patches"][1]["trailers"] if t["kind"] == "Acked-by"]
    assert acks == [{"kind": "Acked-by", "value": "Hugh Dickins <hughd@google.com>",
                     "name": "Hugh Dickins", "email": "hughd@google.com", "source": "reply",
                     "given_on": "patch",
                     "message_id": "7b877ef5-9dd5-97ed-dd1a-36dbf5d02547@google.com"}]
    for f in rep["findings"]:
        assert set(f) >= {"rule", "severity", "confidence", "patch", "path", "line", "message"}


def test_output_file_and_text_default(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli("review", str(EXAMPLE), "-f", "json", "-o", str(out), "--fail-on", "never")
    assert proc.returncode == 0 and proc.stdout == b""
    assert json.loads(out.read_text())["schema"] == 1
    text = cli("review", str(EXAMPLE), "--fail-on", "never")
    assert text.returncode == 0
    out_text = text.stdout.decode()
    assert out_text.startswith("[PATCH v4 0/4] mm: A few cleanup patches around zap, shmem and uffd")
    assert "[2/4] mm: Clear vmf->pte after pte_unmap_same() returns" in out_text
    assert "Acked-by: Hugh Dickins (reply)" in out_text
    assert "\033[" not in out_text  # not a terminal: no colour


def test_fail_on_threshold_sets_the_exit_status(cli):
    # whitespace damage is a warning: exit 1 at the default threshold, 0 when only errors fail
    assert cli("review", str(EDGE / "damaged.eml")).returncode == 1
    assert cli("review", str(EDGE / "damaged.eml"), "--fail-on", "error").returncode == 0
    assert cli("review", str(EDGE / "damaged.eml"), "--fail-on", "never").returncode == 0


def test_broken_message_in_series_is_a_finding_and_the_rest_reviewed(cli):
    proc = cli("review", str(EDGE / "broken-in-series.mbox"), "-f", "json")
    assert proc.returncode == 1
    rep = report_of(proc)
    assert [p["index"] for p in rep["series"]["patches"]] == [2, 3]
    rules = [(f["rule"], f["patch"]) for f in rep["findings"]]
    assert ("input/broken-message", 1) in rules
    # 1/3 arrived, broken: reported as broken, not also as missing
    assert not [r for r, _ in rules if r.startswith("series/")]


@pytest.mark.parametrize("args,needle", [
    (["review", "tests/fixtures/edge/does-not-exist.mbox"], "does-not-exist.mbox: no such file"),
    (["review", "tests/fixtures/edge/empty.mbox"], "empty.mbox: empty file"),
    (["review", "tests/fixtures/edge/not-mail.txt"], "not-mail.txt: "),
    (["review", "tests/fixtures/edge/replies-only.mbox"], "replies-only.mbox: no patch found"),
    (["review", "tests/fixtures/edge/truncated.patch"], "truncated.patch: "),
    (["review", "tests/fixtures/edge/undecodable.bin"], "undecodable.bin: "),
    (["review", "tests/fixtures/edge/missing-3of5.mbox", "--revision", "9"], "no revision v9"),
])
def test_bad_input_is_one_line_and_exit_two(cli, args, needle):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("reviewkit: error: ") and needle in err, err
    assert proc.stdout == b""


def test_usage_error_exit_two(cli):
    proc = cli("review", str(EXAMPLE), "--format", "yaml")
    assert proc.returncode == 2


def test_stdin(cli):
    proc = cli("review", "-", "-f", "json", input=(SEED / "series.mbox").read_bytes())
    rep = report_of(proc)
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 3, 4]
    single = cli("review", "-", "-f", "json",
                 input=(SEED / "02_patch_v4-2-4_clear-vmf-pte-after-pte_unmap_same.eml").read_bytes())
    assert [p["index"] for p in report_of(single)["series"]["patches"]] == [2]


def _format_patch_dir(tmp_path: Path, with_cover: bool) -> Path:
    d = tmp_path / ("with" if with_cover else "without")
    d.mkdir()
    emls = sorted(SEED.glob("0[0-4]_*.eml"))
    for n, eml in enumerate(emls):
        if n == 0 and not with_cover:
            continue
        name = "0000-cover-letter.patch" if n == 0 else f"{n:04d}-patch.patch"
        (d / name).write_bytes(eml.read_bytes())
    return d


@pytest.mark.parametrize("with_cover", [True, False])
def test_format_patch_directory(cli, tmp_path, with_cover):
    d = _format_patch_dir(tmp_path, with_cover)
    rep = report_of(cli("review", str(d), "-f", "json", "--fail-on", "never"))
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 3, 4]
    assert (rep["series"]["cover"] is not None) == with_cover


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def git_repo(tmp_path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "Ada Reviewer")
    _git(repo, "config", "user.email", "ada@example.org")
    (repo / "lib").mkdir()
    (repo / "lib" / "demo.c").write_text("int demo(void)\n{\n\treturn 0;\n}\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "lib/demo: add demo")
    (repo / "lib" / "demo.c").write_text("int demo(void)\n{\n\treturn 1;\n}\n")
    _git(repo, "commit", "-qam", "lib/demo: return one\n\nSigned-off-by: Ada Reviewer <ada@example.org>")
    (repo / "lib" / "demo.c").write_text("int demo(void)\n{\n\treturn 2;\n}\n")
    _git(repo, "commit", "-qam", "lib/demo: return two\n\nSigned-off-by: Ada Reviewer <ada@example.org>")
    return repo


def test_git_range(cli, git_repo):
    rep = report_of(cli("review", "HEAD~2..HEAD", "-f", "json", "--fail-on", "never", cwd=git_repo))
    patches = rep["series"]["patches"]
    assert [(p["index"], p["total"], p["subject"]) for p in patches] == [
        (1, 2, "lib/demo: return one"), (2, 2, "lib/demo: return two")]
    assert patches[1]["files"][0]["path"] == "lib/demo.c"
    assert patches[1]["author"]["email"] == "ada@example.org"
    one = report_of(cli("review", "HEAD", "-f", "json", "--fail-on", "never", cwd=git_repo))
    assert [p["subject"] for p in one["series"]["patches"]] == ["lib/demo: return two"]


def test_unknown_revision_is_an_input_error(cli, git_repo):
    proc = cli("review", "nosuchbranch..HEAD", cwd=git_repo)
    assert proc.returncode == 2
    assert "nosuchbranch..HEAD: no such file, directory, git revision or Message-ID" in proc.stderr.decode()


def test_output_is_replaced_whole_and_pipes_are_written_in_place(cli, tmp_path):
    import os
    import threading

    out = tmp_path / "r.json"
    out.write_text("old")
    assert cli("review", str(EXAMPLE), "-f", "json", "-o", str(out),
               "--fail-on", "never").returncode == 0
    assert json.loads(out.read_text())["schema"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temp file left
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("data", fifo.read_bytes()))
    reader.start()
    proc = cli("review", str(EXAMPLE), "-f", "json", "-o", str(fifo), "--fail-on", "never")
    reader.join(30)
    assert proc.returncode == 0 and fifo.is_fifo()
    assert json.loads(got["data"])["schema"] == 1
