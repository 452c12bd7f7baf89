"""reviewkit dashboard: every series of an inbox, incremental, interruptible, in Chromium."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EDGE, FIXTURES, NETGUARD, REPO, SEED, run_cli

sys.path.insert(0, str(REPO / "benchmarks"))
import archive  # noqa: E402  (the benchmark's archive builder: real series, fresh ids)

V3 = FIXTURES / "lore" / "zap-v3-thread.mbox"
K61 = FIXTURES / "linux-6.1" / "series.mbox"
V4_COVER = "20210915181456.10739-1-peterx@redhat.com"
STATE = ".reviewkit-state.sqlite3"


def _mbox(out: Path, *parts: Path) -> Path:
    with out.open("wb") as fp:
        for p in parts:
            data = p.read_bytes()
            if not data.startswith(b"From "):
                data = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + data
            fp.write(data.rstrip(b"\n") + b"\n\n")
    return out


@pytest.fixture
def inbox(tmp_path) -> Path:
    """Real threads in one mbox: zap v4 and (another thread) its v3, the 6.1 series,
    two gup patches, a patch and its reply, a hostile patch, a series missing 3/5."""
    return _mbox(tmp_path / "inbox.mbox", SEED / "thread.mbox", K61,
                 FIXTURES / "gup" / "follow-hugepd-slow.patch", V3,
                 EDGE / "from-escape.mbox", FIXTURES / "gup" / "hugepd-fast-only.patch",
                 EDGE / "hostile.patch", EDGE / "missing-3of5.mbox")


KEYS = {V4_COVER, "k61-0000@reviewkit.invalid", "gup-hugepd-slow@example.org",
        "gup-hugepd-fast@example.org", "from-1@example.org", "hostile-1@example.org",
        "miss-0@example.org"}


def _dashboard(*args, **kw):
    proc = run_cli("dashboard", *map(str, args), **kw)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def _index(d: Path) -> dict:
    return json.loads((d / "index.json").read_text())


def test_one_row_per_series_with_what_review_says(inbox, tmp_path):
    out = tmp_path / "dash"
    proc = _dashboard(inbox, "-o", out, "--jobs", "2")
    line = proc.stderr.decode().strip()
    assert line.startswith("dashboard: 7 series, 7 reviewed, 0 unchanged") and "\n" not in line
    idx = _index(out)
    rows = {r["key"]: r for r in idx["series"]}
    assert set(rows) == KEYS
    zap = rows[V4_COVER]
    assert zap["version"] == 4 and zap["versions"] == [4, 3] and zap["patches"] == 4
    # the comparison with v3, as review reports it for the same series
    rep = json.loads(run_cli("review", str(inbox), "--series", V4_COVER, "-f", "json",
                             "--fail-on", "never").stdout)
    assert zap["changes"]["base_version"] == rep["comparison"]["base_version"] == 3
    states = [p["changed"] for p in rep["comparison"]["patches"]]
    assert zap["changes"]["changed"] == states.count("changed")
    assert zap["changes"]["unchanged"] == states.count("unchanged")
    counts = {s: sum(f["severity"] == s for f in rep["findings"]) for s in zap["findings"]}
    assert zap["findings"] == counts and counts["warning"] > 0
    people = {(t["kind"], t["email"]) for p in rep["series"]["patches"] for t in p["trailers"]}
    assert zap["tags"]["Acked-by"] == len({e for k, e in people if k == "Acked-by"}) >= 1
    assert zap["tags"]["Reviewed-by"] == len({e for k, e in people if k == "Reviewed-by"}) >= 2
    assert rows["from-1@example.org"]["tags"]["Reviewed-by"] == 1  # given in the reply
    assert rows["miss-0@example.org"]["patches"] == 4 and rows["miss-0@example.org"]["total"] == 5
    assert rows["k61-0000@reviewkit.invalid"]["changes"] is None
    # a page per series, the existing HTML report; the index links to it and to lore
    page = out / zap["page"]
    assert page.is_file() and "SetPageDirty" in page.read_text()
    html = (out / "index.html").read_text()
    for r in rows.values():
        assert f'href="{r["page"]}"' in html
    assert f"https://lore.kernel.org/all/{V4_COVER}/" in html
    # newest first
    stamps = [r["timestamp"] for r in idx["series"]]
    assert stamps == sorted(stamps, reverse=True)


def _state(d: Path) -> dict:
    with sqlite3.connect(d / STATE) as conn:
        return {k: (c, t) for k, c, t in conn.execute("SELECT key, content, reviewed FROM series")}


def test_rerun_reviews_only_what_is_new_or_changed(inbox, tmp_path):
    out = tmp_path / "dash"
    _dashboard(inbox, "-o", out)
    before = _state(out)
    proc = _dashboard(inbox, "-o", out)
    assert "7 series, 0 reviewed, 7 unchanged" in proc.stderr.decode()
    assert _state(out) == before
    # a new series, and a Reviewed-by for the 6.1 series' patch 2
    reply = (b"From: Bob Maintainer <bob@example.org>\nSubject: Re: [PATCH 2/3] mm/shmem: leave "
             b"dirtying to the PTE in shmem_write_end()\nMessage-ID: <k61-r1@example.org>\n"
             b"In-Reply-To: <k61-0002@reviewkit.invalid>\nDate: Tue, 3 Mar 2026 10:00:00 +0000"
             b"\n\nLooks right.\n\nReviewed-by: Bob Maintainer <bob@example.org>\n")
    (tmp_path / "reply.eml").write_bytes(reply)
    proc = _dashboard(inbox, FIXTURES / "linux-6.1" / "gup-fast-only.patch",
                      tmp_path / "reply.eml", "-o", out)
    assert "8 series, 2 reviewed, 6 unchanged" in proc.stderr.decode()
    after = _state(out)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == {"k61-0000@reviewkit.invalid", "k61-gup-fast-only@reviewkit.invalid"} or (
        len(changed) == 2 and "k61-0000@reviewkit.invalid" in changed)
    rows = {r["key"]: r for r in _index(out)["series"]}
    assert rows["k61-0000@reviewkit.invalid"]["tags"]["Reviewed-by"] == 1
    # the inbox itself grows (a reply appended in place): noticed, though the run before
    # read nothing of the unchanged input
    proc = _dashboard(inbox, "-o", out)
    assert "7 series" in proc.stderr.decode()
    proc = _dashboard(inbox, "-o", out)
    assert "7 series, 0 reviewed, 7 unchanged" in proc.stderr.decode()
    with inbox.open("ab") as fp:
        fp.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + reply.replace(
            b"k61-r1@", b"k61-r2@").replace(b"Bob Maintainer <bob@", b"Eve Tester <eve@")
            .replace(b"Reviewed-by", b"Tested-by") + b"\n")
    proc = _dashboard(inbox, "-o", out)
    assert "7 series, 1 reviewed, 6 unchanged" in proc.stderr.decode()
    rows = {r["key"]: r for r in _index(out)["series"]}
    assert rows["k61-0000@reviewkit.invalid"]["tags"]["Tested-by"] == 1


def test_a_file_scanned_before_is_taken_from_the_state(inbox, tmp_path):
    out = tmp_path / "dash"
    _dashboard(inbox, "-o", out)
    with sqlite3.connect(out / STATE) as conn:
        assert conn.execute("SELECT count(*) FROM scans").fetchone()[0] == 1
    before = _state(out)
    # the inbox changed behind the state's back: same size, modification time and inode
    st = inbox.stat()
    data = inbox.read_bytes()
    edited = data.replace(b"so the dirty bit in\nthe page table", b"so the dirty bit in\nthe page TABLE")
    assert edited != data and len(edited) == len(data)
    with inbox.open("r+b") as fp:
        fp.write(edited)
    os.utime(inbox, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert inbox.stat().st_ino == st.st_ino
    # with another input the run is not a plain rerun, yet the inbox is not read again:
    # only the new series is reviewed, and the series index is the one the scan found
    proc = _dashboard(inbox, FIXTURES / "linux-6.1" / "gup-fast-only.patch", "-o", out)
    assert "8 series, 1 reviewed, 7 unchanged" in proc.stderr.decode()
    after = _state(out)
    new = set(after) - set(before)
    assert len(new) == 1 and {k for k in after if before.get(k) != after[k]} == new
    # a real change (a new modification time) is read, and its series reviewed again
    os.utime(inbox, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    proc = _dashboard(inbox, FIXTURES / "linux-6.1" / "gup-fast-only.patch", "-o", out)
    assert "8 series, 1 reviewed, 7 unchanged" in proc.stderr.decode()
    assert _state(out)["k61-0000@reviewkit.invalid"] != after["k61-0000@reviewkit.invalid"]
    with sqlite3.connect(out / STATE) as conn:  # the inbox's old scan is forgotten
        assert conn.execute("SELECT count(*) FROM scans").fetchone()[0] == 2  # both files


def _big_archive(tmp_path: Path, patches: int) -> Path:
    path = tmp_path / "archive.mbox"
    archive.build(patches, path)
    return path


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_is_consistent_and_the_next_finishes(tmp_path, how):
    # large enough that the run is still going when the signal comes: identical
    # hunks are reviewed once per worker, so an archive of copies goes fast
    path = _big_archive(tmp_path, 800)
    out = tmp_path / "dash"
    env = {**os.environ, "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join([str(NETGUARD), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "reviewkit", "dashboard", str(path), "-o",
                             str(out), "--jobs", "2"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            # as from a terminal, even when these tests run in the background
                            # (where the shell has the child ignore SIGINT)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / STATE).exists():
            try:
                if len(_state(out)) >= 3:
                    break
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"interrupted" in err
    done = _state(out)
    idx = _index(out)
    total = idx["series_count"]
    assert 3 <= len(done) < total, "the run finished before it could be interrupted"
    assert idx["pending"] == total - len(idx["series"]) > 0
    for r in idx["series"]:  # every row the index shows has its page, complete
        assert r["key"] in done
        if r["page"] is not None:  # (a series that cannot be reviewed has a row, no page)
            assert (out / r["page"]).read_text().rstrip().endswith("</html>")
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    proc2 = _dashboard(path, "-o", out)
    assert f"{total} series, {total - len(done)} reviewed, {len(done)} unchanged" in \
        proc2.stderr.decode()
    assert len(_index(out)["series"]) == total and _index(out)["pending"] == 0


def test_bad_inputs_are_one_line_errors(tmp_path, edge):
    proc = run_cli("dashboard", str(tmp_path / "nothing.mbox"), "-o", str(tmp_path / "d"))
    assert proc.returncode == 2 and proc.stderr.count(b"\n") == 1
    proc = run_cli("dashboard", "-o", str(tmp_path / "d"))
    assert proc.returncode == 2 and b"SOURCE or --query" in proc.stderr
    (tmp_path / "file").write_text("x")
    proc = run_cli("dashboard", str(edge / "hostile.patch"), "-o", str(tmp_path / "file"))
    assert proc.returncode == 2 and proc.stderr.count(b"\n") == 1


def test_a_series_that_cannot_be_reviewed_is_a_row_not_the_end(tmp_path):
    bad = (b"From: Ada Reviewer <ada@example.org>\nSubject: [PATCH 1/2] demo: broken\n"
           b"Message-ID: <broken-1@example.org>\n\nno diff at all\n")
    (tmp_path / "bad.eml").write_bytes(bad)
    out = tmp_path / "dash"
    proc = _dashboard(K61, tmp_path / "bad.eml", "-o", out)
    assert "2 series, 2 reviewed, 0 unchanged, 1 not reviewable" in proc.stderr.decode()
    rows = {r["key"]: r for r in _index(out)["series"]}
    assert rows["broken-1@example.org"]["error"] and rows["broken-1@example.org"]["page"] is None
    assert rows["k61-0000@reviewkit.invalid"]["page"]


# -- lore search ---------------------------------------------------------------------

def test_query_through_b4_search_is_cached(tmp_path, monkeypatch):
    from loreserver import Archive, LoreServer

    home = tmp_path / "home"
    home.mkdir()
    for k, v in {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
                 "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
                 "REVIEWKIT_CONFIG": str(home / "none.toml")}.items():
        monkeypatch.setenv(k, v)
    (home / ".gitconfig").write_text("")
    arch = Archive("linux-mm")
    for p in (SEED / "thread.mbox", V3, K61):
        arch.add_mbox(p.read_bytes())
    srv = LoreServer(arch).start()
    try:
        out = tmp_path / "dash"
        proc = _dashboard("--query", "dfn:mm/shmem.c AND f:peterx", "-o", out,
                          "--lore-url", srv.base)
        rows = _index(out)["series"]
        # both zap threads touch mm/shmem.c; the 6.1 series does too but is not Peter's
        assert [(r["key"], r["versions"]) for r in rows] == [(V4_COVER, [4, 3])]
        assert rows[0]["link"] == f"{srv.base}/{V4_COVER}/"
        # the whole threads came back: the replies' review tags are counted
        assert rows[0]["tags"]["Reviewed-by"] >= 2
        posts = [p for m, p in srv.requests if m == "POST"]
        assert len(posts) == 1 and "t=1" in posts[0] and "dfn%3Amm%2Fshmem.c" in posts[0]
        proc = _dashboard("--query", "dfn:mm/gup.c", "-o", tmp_path / "d2",
                          "--lore-url", srv.base)
        keys = {r["key"] for r in _index(tmp_path / "d2")["series"]}
        assert keys == {"k61-0000@reviewkit.invalid"}
    finally:
        srv.stop()
    # the archive is gone: the same query is answered from the cache
    proc = _dashboard("--query", "dfn:mm/shmem.c AND f:peterx", "-o", out, "--lore-url", srv.base)
    assert "1 series, 0 reviewed, 1 unchanged" in proc.stderr.decode()
    proc = run_cli("dashboard", "--query", "dfn:mm/nothing.c", "-o", str(tmp_path / "d3"),
                   "--lore-url", srv.base, "--timeout", "2")
    assert proc.returncode == 2 and proc.stderr.count(b"\n") == 1 and b"query" in proc.stderr


# -- the page in a real browser -------------------------------------------------------

chromium = pytest.importorskip("chromium")


@pytest.fixture(scope="module")
def browser():
    if chromium.chromium_binary() is None:
        pytest.skip("chromium is not installed (Debian package chromium)")
    b = chromium.Browser(width=1400, height=900)
    yield b
    b.quit()


def test_index_in_headless_chromium(inbox, tmp_path, browser):
    out = tmp_path / "dash"
    _dashboard(inbox, "-o", out)
    url = (out / "index.html").as_uri()
    browser.open(url)
    assert browser.console_errors() == []
    assert browser.requests() == [url]
    keys = browser.evaluate("Array.from(document.querySelectorAll('#series tbody tr'))"
                            ".map(r => r.dataset.key)")
    assert sorted(keys) == sorted(KEYS)
    # the hostile subject and author are text: nothing ran, no element was injected
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('img, link, iframe').length") == 0
    assert browser.evaluate("document.querySelectorAll('script').length") == 1
    text = browser.evaluate("document.querySelector('tr[data-key=\"hostile-1@example.org\"]')"
                            ".textContent")
    assert "<script>window.__pwned=1</script>" in text
    # filtering (the inline script)
    shown = browser.evaluate(
        "(() => { const i = document.querySelector('#tools input[type=search]');"
        " i.value = 'zap shmem'; i.dispatchEvent(new Event('input'));"
        " return Array.from(document.querySelectorAll('#series tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.dataset.key); })()")
    assert shown == [V4_COVER]
    # sorting by warnings, most first
    order = browser.evaluate(
        "(() => { const i = document.querySelector('#tools input[type=search]');"
        " i.value = ''; i.dispatchEvent(new Event('input'));"
        " document.querySelectorAll('#series thead th')[9].querySelector('button').click();"
        " return Array.from(document.querySelectorAll('#series tbody tr'))"
        ".map(r => Number(r.cells[9].dataset.v)); })()")
    assert order == sorted(order, reverse=True) and order[0] > 0
    assert browser.console_errors() == []
    artifacts = REPO / "test-artifacts"
    browser.screenshot(artifacts / "dashboard-1400.png")
    browser.call("Emulation.setDeviceMetricsOverride", width=420, height=900,
                 deviceScaleFactor=1, mobile=True)
    browser.screenshot(artifacts / "dashboard-420.png")
    browser.call("Emulation.clearDeviceMetricsOverride")
    # with scripts off the table is all there
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    try:
        browser.open(url)
        rows = browser.call("Runtime.evaluate", expression="1")  # drain
        del rows
        html = (out / "index.html").read_text()
        assert html.count("<tr data-key=") == len(KEYS)
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", value=False)
    # a series page opens from the index, and it makes no request either
    page = (out / json.loads((out / "index.json").read_text())["series"][0]["page"]).as_uri()
    browser.open(page)
    assert browser.requests() == [page] and browser.console_errors() == []
