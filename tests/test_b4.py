"""reviewkit wired into b4 as documented, exercised through b4's own code.

The configuration reviewkit prints (``b4-check --git-config``) is applied to a
fresh global git configuration, and b4's check runner (b4/review/checks.py)
then runs both checkpatch — the real linux-6.1 scripts/checkpatch.pl from
scripts/fetch-linux-source.sh — and reviewkit on a series in a kernel-like
repository.  Review files for ``b4 review`` are read back by b4's own parser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NETGUARD, REPO, SEED
from test_selfreview import GUP_C, git
from test_tree_mode import linux_tree

B4RUN = Path(__file__).parent / "b4run.py"
# what checkpatch's top_of_kernel_tree() looks for before it checks a patch
TREE_MARKERS = ("COPYING", "CREDITS", "Kbuild", "MAINTAINERS", "Makefile", "README")
TREE_DIRS = ("Documentation", "arch", "include", "drivers", "fs", "init", "ipc", "kernel",
             "lib", "scripts")


def checkpatch_source() -> Path:
    script = linux_tree() / "scripts" / "checkpatch.pl"
    if not script.is_file():
        why = f"{script} missing: run scripts/fetch-linux-source.sh"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return script


def env_for(tmp: Path) -> dict:
    """A user with nothing configured but what the test writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "B4_"))}
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(tmp / "gitconfig"),
               GIT_CONFIG_NOSYSTEM="1", XDG_CACHE_HOME=str(tmp / "cache"),
               XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "config"),
               NO_COLOR="1", REVIEWKIT_LORE_URL="http://127.0.0.1:9/all",
               PYTHONPATH=os.pathsep.join([str(NETGUARD), str(REPO)]))
    (tmp / "gitconfig").write_text("[user]\n\tname = Mae Tainer\n\temail = mae@example.org\n")
    return env


def b4run(env: dict, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(B4RUN), *args], env=env, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


@pytest.fixture
def kernel(tmp_path) -> tuple[Path, dict]:
    """A repository that looks like a kernel tree to checkpatch, with b4's user set."""
    env = env_for(tmp_path)
    r = tmp_path / "linux"
    (r / "mm").mkdir(parents=True)
    for name in TREE_MARKERS:
        (r / name).write_text("")
    for name in TREE_DIRS:
        (r / name).mkdir(exist_ok=True)
        (r / name / ".keep").write_text("")
    src = checkpatch_source()
    for name in ("checkpatch.pl", "spelling.txt", "const_structs.checkpatch"):
        if (src.parent / name).is_file():
            shutil.copy2(src.parent / name, r / "scripts" / name)
    (r / "scripts" / "checkpatch.pl").chmod(0o755)  # b4 runs it only when executable
    (r / "mm" / "gup.c").write_text(GUP_C)
    subprocess.run(["git", "init", "-q", "-b", "master"], cwd=r, check=True, env=env)
    subprocess.run(["git", "add", "."], cwd=r, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=r, check=True, env=env)
    return r, env


def make_series(r: Path, env: dict, tmp: Path) -> Path:
    """Two commits on a topic branch, sent with git format-patch --cover-letter (left
    unedited) as one mbox; master stays at the base."""
    def run(*args):
        subprocess.run(["git", *args], cwd=r, check=True, env=env, capture_output=True)

    run("checkout", "-q", "-b", "topic")
    text = (r / "mm" / "gup.c").read_text().replace(
        "{\n\treturn demo_no_page(vma, flags);",
        "{\n\tstruct page *page = NULL;\n\n"
        "\tif (demo_gup_hugepd(__hugepd(pud_val(*pud)), flags, &page) == 1)\n"
        "\t\treturn page;\n\treturn demo_no_page(vma, flags);")
    (r / "mm" / "gup.c").write_text(text)
    run("commit", "-qam", "mm/gup: follow hugepd with the fast walker\n\n"
                          "Walk hugepd entries with the fast walker.\n\n"
                          "Signed-off-by: Mae Tainer <mae@example.org>")
    (r / "mm" / "other.c").write_text("int other(void)\n{\n\treturn 0;\n}\n")
    run("add", "mm/other.c")
    run("commit", "-qm", "mm: add other\n\nAdd an other() helper.")  # no Signed-off-by
    out = tmp / "outgoing"
    run("format-patch", "-q", "--cover-letter", "--thread", "-o", str(out), "master..topic")
    run("checkout", "-q", "master")
    mbox = tmp / "series.mbox"
    mbox.write_bytes(b"".join(p.read_bytes() for p in sorted(out.glob("*.patch"))))
    return mbox


def test_git_config_prints_absolute_path_and_keeps_checkpatch(cli, tmp_path):
    proc = cli("b4-check", "--git-config")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert all(ln.startswith("git config --global ") for ln in lines)
    # the running reviewkit, by absolute path: PATH need not hold it
    assert f"'{os.path.abspath(sys.executable)} -m reviewkit b4-check'" in text
    script = Path(sys.executable).parent / "reviewkit"  # the installed command
    if script.is_file():
        proc = subprocess.run([os.path.relpath(script, tmp_path), "b4-check", "--git-config"],
                              cwd=tmp_path, capture_output=True, env={**os.environ,
                              "PATH": "/usr/bin:/bin"})
        assert f"'{script.absolute()} b4-check'" in proc.stdout.decode()
    assert "--replace-all b4.review-perpatch-check-cmd _builtin_checkpatch" in text
    assert "b4.review-series-check-cmd" in text and "--series" in text


def test_b4_runs_checkpatch_and_reviewkit_from_printed_config(cli, kernel, tmp_path):
    r, env = kernel
    mbox = make_series(r, env, tmp_path)
    config = cli("b4-check", "--git-config").stdout.decode()
    # applying it twice leaves one entry each: the lines can be rerun after an upgrade
    for _ in range(2):
        subprocess.run(["sh", "-e", "-c", config], env=env, check=True, cwd=tmp_path)
    res = b4run(env, "checks", str(r), str(mbox))
    assert res["perpatch_cmds"][0] == "_builtin_checkpatch"
    assert len(res["perpatch_cmds"]) == 2 and res["perpatch_cmds"][1].endswith("b4-check")
    assert len(res["series_cmds"]) == 1
    first, second = res["perpatch"]
    tools = {e["tool"]: e for e in second}
    assert set(tools) == {"checkpatch", "reviewkit"}
    # both notice the missing Signed-off-by, each in its own words
    assert tools["checkpatch"]["status"] == "fail"
    assert "Signed-off-by" in tools["checkpatch"]["details"]
    assert tools["reviewkit"]["status"] == "fail"
    rules = [d["description"].split(": ")[0] for d in json.loads(tools["reviewkit"]["details"])]
    assert "ERROR:commit/signed-off-by-missing" in rules
    assert {e["tool"] for e in first} == {"checkpatch", "reviewkit"}
    assert [e["status"] for e in first if e["tool"] == "reviewkit"] == ["pass"]
    # the series check is given the cover letter only; with no review branch the
    # thread is fetched from the archive, which is down here: a failure that says why
    (series,) = res["series"]
    assert series["tool"] == "reviewkit-series" and series["status"] == "fail"
    assert series["summary"].startswith("not reviewed:") and "127.0.0.1" in series["summary"]


def test_series_check_reviews_the_b4_review_branch(cli, kernel, tmp_path):
    r, env = kernel
    mbox = make_series(r, env, tmp_path)
    branch = b4run(env, "make-branch", str(r), str(mbox))["branch"]
    config = cli("b4-check", "--git-config").stdout.decode()
    subprocess.run(["sh", "-e", "-c", config], env=env, check=True, cwd=tmp_path)
    res = b4run({**env, "B4RUN_BRANCH": branch}, "checks", str(r), str(mbox))
    (series,) = res["series"]
    assert (series["tool"], series["status"]) == ("reviewkit-series", "warn")
    details = json.loads(series["details"])
    assert [d["description"].split(": ")[0] for d in details] == [
        "WARNING:series/cover-letter-unedited"]
    assert "2 patches" not in series["summary"] and "(tree)" in series["summary"]


@pytest.mark.parametrize("data,why", [
    (b"", "empty input"),
    (b"just some words\n", "no mail headers"),
    (b"From: a@example.org\nSubject: [PATCH] mm: x\n\nno diff here\n", "no diff"),
])
def test_bad_or_empty_input_fails_with_the_reason(cli, data, why):
    proc = cli("b4-check", input=data)
    (out,) = json.loads(proc.stdout)
    assert proc.returncode == 0
    assert (out["tool"], out["status"]) == ("reviewkit", "fail")
    assert why in out["summary"]
    terse = cli("b4-check", "--format", "terse", input=data).stdout.decode()
    assert terse.startswith("ERROR:reviewkit: ") and why in terse


def test_terse_check_lines_for_prep_and_am(cli):
    """b4 prep/am --check count every stdout line as a finding, ERROR: lines as failures."""
    raw = (SEED / "01_patch_v4-1-4_shmem-unconditionally-set-pte-dirty.eml").read_bytes()
    out = cli("b4-check", "--format", "terse", input=raw).stdout.decode().splitlines()
    assert [ln.split(": ")[0:2] for ln in out] == [
        ["mm/shmem.c:2427 (old)", "[1/4] WARNING:mm/dirty-page-dirty-removed"],
        ["mm/userfaultfd.c:72", "[1/4] WARNING:mm/dirty-pte-mkdirty-unconditional"]]
    clean = (SEED / "02_patch_v4-2-4_clear-vmf-pte-after-pte_unmap_same.eml").read_bytes()
    assert cli("b4-check", "--format", "terse", input=clean).stdout == b""


def test_prep_and_am_check_run_checkpatch_and_reviewkit(cli, kernel, tmp_path):
    """b4 prep --check and b4 am --check with the printed configuration: each patch
    gets checkpatch's lines and reviewkit's, an ERROR: line counting as a failure."""
    r, env = kernel
    mbox = make_series(r, env, tmp_path)
    config = cli("b4-check", "--git-config").stdout.decode()
    subprocess.run(["sh", "-e", "-c", config], env=env, check=True, cwd=tmp_path)
    res = b4run(env, "local-checks", str(r), str(mbox))
    assert res["prep_cmds"][0].startswith("./scripts/checkpatch.pl") and len(res["prep_cmds"]) == 2
    assert res["am_cmds"][0].startswith("./scripts/checkpatch.pl") and len(res["am_cmds"]) == 2
    # b4 names a command by its program's file name: here the python running reviewkit
    me = os.path.basename(sys.executable)
    for key in ("prep", "am"):
        first, second = res[key]
        tools = {line.split(":", 1)[0] for _flag, line in second}
        assert tools == {"checkpatch.pl", me}, second
        ours = [(flag, line) for flag, line in second if line.startswith(me + ":")]
        assert [line.split(": ")[1:3] for _, line in ours] == [
            ["patch 2/2", "ERROR:commit/signed-off-by-missing"]]
        assert [flag for flag, _ in ours] == ["fail"]
        # a clean patch: reviewkit prints nothing, which b4 reports as passed
        assert ["success", f"{me}: passed all checks"] in first


def test_b4_review_reads_our_inline_comments(cli, kernel, tmp_path):
    """reviewkit b4-review on a branch b4 made; b4's own reader integrates the files."""
    r, env = kernel
    mbox = make_series(r, env, tmp_path)
    branch = b4run(env, "make-branch", str(r), str(mbox))["branch"]
    tip = subprocess.run(["git", "rev-parse", branch], cwd=r, capture_output=True, text=True,
                         env=env).stdout.strip()
    proc = cli("b4-review", branch, cwd=r, env=env)
    assert proc.returncode == 0, proc.stderr
    where = r / ".git" / "b4-review" / tip
    assert sorted(p.name for p in where.iterdir()) == [
        "0001.txt", "0002.txt", "identity.txt", "series.txt"]
    one = (where / "0001.txt").read_text()
    # every diff line quoted, in order, the comment right under the line it is about
    diff = subprocess.run(["git", "diff", f"{branch}~2~1", f"{branch}~2"], cwd=r, env=env,
                          capture_output=True, text=True).stdout
    quoted = [ln[2:] if ln.startswith("> ") else "" for ln in one.splitlines()
              if ln.startswith(">")]
    assert quoted == diff.splitlines()
    at = one.index("> +\tif (demo_gup_hugepd(")
    assert one[at:].split("\n\n")[1].startswith("demo_follow_pud_mask() calls")

    res = b4run(env, "integrate", str(r), branch)
    assert res["integrated"] is True
    me = "reviewkit@reviewkit.invalid"
    first, second = (p[me] for p in res["patches"])
    assert first["name"] == "reviewkit"
    (comment,) = first["comments"]
    # b4 keys a comment by the diff's "+++ b/..." name and the new-file line
    assert (comment["path"], comment["line"]) == ("b/mm/gup.c", 20)
    assert "[reviewkit mm/gup-must-unshare-null-vma: error" in comment["text"]
    assert first["note"].startswith("reviewkit: 1 error (tree mode)")
    # a finding with no diff line (a missing Signed-off-by) is the patch's note
    assert "comments" not in second
    assert "commit/signed-off-by-missing" in second["note"]
    assert "series/cover-letter-unedited" in res["series"][me]["note"]
    # b4 consumes the directory once it has read it
    assert not where.exists()


def test_b4_review_outside_a_review_branch(cli, kernel):
    r, env = kernel
    proc = cli("b4-review", cwd=r, env=env)
    assert proc.returncode == 2
    assert b"not a b4 review branch" in proc.stderr
    bad = cli("b4-review", "--identity", "nobody", cwd=r, env=env)
    assert bad.returncode == 2 and b"--identity" in bad.stderr
