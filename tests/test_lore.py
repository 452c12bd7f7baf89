"""Fetching with real b4 from a loopback public-inbox-like server.

No connection leaves 127.0.0.1: the network guard (tests/netguard) refuses
anything else, in this process and in every reviewkit process started here.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO, SEED, run_cli
from loreserver import Archive, LoreServer

V4_COVER = "20210915181456.10739-1-peterx@redhat.com"
V4_P2 = "20210915181533.11188-1-peterx@redhat.com"
V3_COVER = "v3-zap-0@example.org"
V3_THREAD = FIXTURES / "lore" / "zap-v3-thread.mbox"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A user with no configuration at all, and an empty cache."""
    h = tmp_path / "home"
    h.mkdir()
    env = {"HOME": str(h), "XDG_CACHE_HOME": str(h / ".cache"),
           "XDG_CONFIG_HOME": str(h / ".config"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": str(h / ".gitconfig"), "REVIEWKIT_CONFIG": str(h / "none.toml"),
           "REVIEWKIT_NETGUARD_LOG": str(h / "netguard.log")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("REVIEWKIT_LORE_URL", raising=False)
    (h / ".gitconfig").write_text("")
    return h


@pytest.fixture
def server():
    archive = Archive("linux-mm")
    archive.add_mbox((SEED / "thread.mbox").read_bytes())
    archive.add_mbox(V3_THREAD.read_bytes())
    srv = LoreServer(archive, slow_seconds=6).start()
    yield srv
    srv.stop()


@pytest.fixture
def one_thread_server():
    """v4 posted in reply to v3's cover letter: one thread, two revisions."""
    archive = Archive("linux-mm")
    archive.add_mbox(V3_THREAD.read_bytes())
    v4 = (SEED / "thread.mbox").read_bytes().replace(
        b"Message-Id: <20210915181456.10739-1-peterx@redhat.com>\n",
        b"Message-Id: <20210915181456.10739-1-peterx@redhat.com>\n"
        b"In-Reply-To: <v3-zap-0@example.org>\nReferences: <v3-zap-0@example.org>\n", 1)
    archive.add_mbox(v4)
    srv = LoreServer(archive).start()
    yield srv
    srv.stop()


def cli(*args, **kw):
    return run_cli(*args, **kw)


def report(proc) -> dict:
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return json.loads(proc.stdout)


def cache_rows(home: Path) -> list[tuple]:
    db = home / ".cache" / "reviewkit" / "threads.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT msgid, url FROM threads").fetchall()


def test_review_by_message_id(home, server):
    rep = report(cli("review", V4_P2, "--lore-url", server.base, "-f", "json"))
    s = rep["series"]
    assert s["version"] == 4 and s["message_id"] == V4_COVER
    assert [p["index"] for p in s["patches"]] == [1, 2, 3, 4]
    assert [len(p["replies"]) for p in s["patches"]] == [6, 1, 1, 2]
    p1 = s["patches"][0]
    assert [(r["author"]["name"], r["date"][:10]) for r in p1["replies"]][:2] == [
        ("Hugh Dickins", "2021-09-23"), ("Peter Xu", "2021-09-27")]
    acks = [t for t in s["patches"][1]["trailers"] if t["kind"] == "Acked-by"]
    assert acks == [{"kind": "Acked-by", "value": "Hugh Dickins <hughd@google.com>",
                     "name": "Hugh Dickins", "email": "hughd@google.com", "source": "reply",
                     "given_on": "patch",
                     "message_id": "7b877ef5-9dd5-97ed-dd1a-36dbf5d02547@google.com"}]
    own = [t for t in s["patches"][1]["trailers"] if t["source"] == "patch"
           and t["kind"] == "Reviewed-by"]
    assert [t["name"] for t in own] == ["Miaohe Lin", "David Hildenbrand", "Liam Howlett"]
    assert {(f["rule"], f["patch"]) for f in rep["findings"]} >= {
        ("mm/dirty-page-dirty-removed", 1), ("mm/dirty-pte-mkdirty-unconditional", 1),
        ("mm/zap-details-skip-helper-sense", 4)}
    assert s["link"] == f"{server.base}/{V4_COVER}/"
    gets = [p for m, p in server.requests if m == "GET"]
    assert gets == [f"/linux-mm/{V4_P2.replace('@', '%40')}/t.mbox.gz"]
    # b4's search for code-review trailers by patch-id was asked for, and its answer
    # (nothing) did not get in the way
    posts = [p for m, p in server.requests if m == "POST"]
    assert len(posts) == 1 and "patchid%3A" in posts[0] and "x=m" in posts[0]


def test_lore_url_on_any_host_is_fetched_from_that_host(home, server):
    url = f"http://127.0.0.1:{server.port}/linux-mm/{V4_COVER}/"
    # the configured archive is somewhere else entirely: the URL's own host wins
    proc = cli("review", url, "-f", "json", env={"REVIEWKIT_LORE_URL": "http://127.0.0.1:9/x"})
    rep = report(proc)
    assert rep["series"]["message_id"] == V4_COVER
    assert [p for m, p in server.requests if m == "GET"] == [
        f"/linux-mm/{V4_COVER.replace('@', '%40')}/t.mbox.gz"]


def test_msgid_link_url_uses_the_configured_archive(home, server):
    proc = cli("review", f"https://patch.msgid.link/{V4_P2}", "-f", "json",
               env={"REVIEWKIT_LORE_URL": server.base})
    assert report(proc)["series"]["version"] == 4


def test_b4_midmask_from_git_config_is_honoured(home, server):
    (home / ".gitconfig").write_text(f"[b4]\n\tmidmask = {server.base}/%s\n")
    rep = report(cli("review", V4_COVER, "-f", "json"))
    assert rep["series"]["version"] == 4
    # and b4's own cache and data directories were not touched
    assert not (home / ".cache" / "b4").exists()
    assert not (home / ".local").exists()


def test_config_file_archive_and_precedence(home, server):
    cfg = home / "config.toml"
    cfg.write_text('lore-url = "http://127.0.0.1:9/nowhere"\n')
    env = {"REVIEWKIT_CONFIG": str(cfg)}
    bad = cli("review", V4_COVER, env=env)
    assert bad.returncode == 2 and b"127.0.0.1:9/nowhere" in bad.stderr
    good = cli("review", V4_COVER, "--lore-url", server.base, "-f", "json", env=env)
    assert report(good)["series"]["version"] == 4


def test_revisions_in_one_thread(home, one_thread_server):
    srv = one_thread_server
    rep = report(cli("review", V4_COVER, "--lore-url", srv.base, "-f", "json"))
    s = rep["series"]
    assert s["version"] == 4 and s["versions"] == [3, 4]
    assert s["patches"][0]["message_id"] == "20210915181456.10739-2-peterx@redhat.com"
    cmp = rep["comparison"]
    assert cmp["base_version"] == 3
    assert [(r["index"], r["changed"]) for r in cmp["patches"]] == [
        (1, "unchanged"), (2, "unchanged"), (3, "changed"), (4, "unchanged")]
    assert cmp["patches"][0]["persisting"] == ["mm/dirty-page-dirty-removed",
                                               "mm/dirty-pte-mkdirty-unconditional"]
    # R-bs given on v3 and carried into v4 3/4, which changed since
    stale = [(f["patch"], f["message"].split('"')[1]) for f in rep["findings"]
             if f["rule"] == "series/review-tag-on-changed-patch"]
    assert sorted(stale) == [(3, "Reviewed-by: Alistair Popple <apopple@nvidia.com>"),
                             (3, "Reviewed-by: David Hildenbrand <david@redhat.com>")]
    # Axel's R-b came by reply on v3 1/4, which did not change: not flagged
    assert not [f for f in rep["findings"] if f["rule"] == "series/review-tag-on-changed-patch"
                and f["patch"] == 1]
    v3 = report(cli("review", V4_COVER, "--lore-url", srv.base, "-f", "json",
                    "--revision", "3"))
    assert v3["series"]["version"] == 3
    assert [p["message_id"] for p in v3["series"]["patches"]] == [
        f"v3-zap-{n}@example.org" for n in (1, 2, 3, 4)]
    v3_acks = [(t["name"], t["source"]) for t in v3["series"]["patches"][2]["trailers"]
               if t["kind"] == "Reviewed-by"]
    assert ("Alistair Popple", "reply") in v3_acks


def test_compare_to_another_thread(home, server):
    rep = report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json",
                     "--compare-to", V3_COVER))
    assert rep["comparison"]["base_version"] == 3
    assert [r["changed"] for r in rep["comparison"]["patches"]] == [
        "unchanged", "unchanged", "changed", "unchanged"]
    text = cli("review", V4_COVER, "--lore-url", server.base, "--compare-to", V3_COVER)
    assert "since v3: changed; new: series/review-tag-on-changed-patch (x2)" in text.stdout.decode()
    local = report(cli("review", str(REPO / "examples" / "zap-shmem-uffd-v4.mbox"), "-f", "json",
                       "--compare-to", str(V3_THREAD)))
    assert local["comparison"]["patches"][2]["changed"] == "changed"


def test_cache_hit_with_the_server_gone_and_offline(home, server):
    first = cli("review", V4_COVER, "--lore-url", server.base, "-f", "json")
    assert report(first)["series"]["version"] == 4
    assert cache_rows(home) == [(V4_COVER, f"{server.base}/{V4_COVER}/t.mbox.gz")]
    server.stop()
    again = cli("review", V4_COVER, "--lore-url", server.base, "-f", "json")
    assert report(again)["series"]["version"] == 4
    offline = cli("review", V4_COVER, "--lore-url", server.base, "-f", "json", "--offline")
    assert report(offline)["findings"] == report(first)["findings"]
    refresh = cli("review", V4_COVER, "--lore-url", server.base, "--refresh", "--timeout", "2")
    assert refresh.returncode == 2 and b"connection refused" in refresh.stderr
    assert len(cache_rows(home)) == 1  # the failed refresh did not lose what was there


def test_offline_miss_is_a_clear_error(home, server):
    proc = cli("review", V4_COVER, "--lore-url", server.base, "--offline")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert err.startswith(f"reviewkit: error: {V4_COVER}: not in the cache")
    assert server.requests == []


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("fault,needle", [
    ("unknown", "no such message on the archive (HTTP 404)"),
    ("500", "the archive answered HTTP 500"),
    ("503", "the archive answered HTTP 503"),
    ("slow", "timed out after 1 s"),
    ("truncated", "the thread mbox is truncated or not gzip"),
    ("reset", "the archive closed the connection without an answer"),
    ("refused", "connection refused"),
    ("dns", "cannot resolve the archive's host name"),
])
def test_faults_are_one_line_errors_and_nothing_is_cached(home, server, fault, needle):
    msgid, base = V4_COVER, server.base
    if fault == "unknown":
        msgid = "no-such-message@example.org"
    elif fault == "refused":
        base = f"http://127.0.0.1:{_closed_port()}/linux-mm"
    elif fault == "dns":
        base = "http://archive.invalid/linux-mm"
    else:
        server.faults[msgid] = fault
    t0 = time.monotonic()
    proc = cli("review", msgid, "--lore-url", base, "--timeout", "1")
    took = time.monotonic() - t0
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"reviewkit: error: {msgid}: {needle}"), err
    assert f"({base}/{msgid}/t.mbox.gz)" in err
    assert cache_rows(home) == []
    assert took < 15  # bounded: a few seconds, not the server's six
    if fault == "dns":
        # the lookup never left the machine: the guard answered it
        assert "resolve 'archive.invalid'" in (home / "netguard.log").read_text()


def test_search_that_hangs_does_not_hang_the_review(home, server):
    server.search_fault = "slow"
    t0 = time.monotonic()
    proc = cli("review", V4_COVER, "--lore-url", server.base, "--timeout", "1", "-f", "json")
    assert report(proc)["series"]["version"] == 4
    assert time.monotonic() - t0 < 12
    assert any(m == "POST" for m, _ in server.requests)


def test_fetch_writes_the_chosen_revision(home, one_thread_server, tmp_path):
    srv = one_thread_server
    out = tmp_path / "series.mbox"
    proc = cli("fetch", V4_COVER, "--lore-url", srv.base, "-o", str(out))
    assert proc.returncode == 0 and b"v4: 4 patch(es)" in proc.stderr
    rep = report(cli("review", str(out), "-f", "json"))
    assert rep["series"]["version"] == 4
    assert [len(p["replies"]) for p in rep["series"]["patches"]] == [6, 1, 1, 2]
    old = tmp_path / "v3.mbox"
    cli("fetch", V4_COVER, "--lore-url", srv.base, "-o", str(old), "--revision", "3")
    assert report(cli("review", str(old), "-f", "json"))["series"]["version"] == 3


def test_concurrent_runs_share_the_cache(home, server):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent / "netguard")}
    procs = [subprocess.Popen([sys.executable, "-m", "reviewkit", "review", V4_COVER,
                               "--lore-url", server.base, "-f", "json", "--refresh"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              cwd=REPO) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 1, err
        assert json.loads(out)["series"]["version"] == 4
    assert len(cache_rows(home)) == 1


def test_a_killed_fetch_leaves_no_entry(home, server):
    server.faults[V4_COVER] = "slow"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent / "netguard")}
    p = subprocess.Popen([sys.executable, "-m", "reviewkit", "fetch", V4_COVER, "--lore-url",
                          server.base, "--timeout", "30"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    time.sleep(1.5)
    p.kill()
    p.wait(10)
    assert cache_rows(home) == []


def test_the_network_guard_refuses_other_hosts():
    import netguard

    assert socket.socket.connect is netguard.guarded_connect
    assert netguard.allowed("127.0.0.1") and netguard.allowed("::1")
    assert netguard.allowed("localhost")
    for host in ("192.0.2.1", "10.0.0.1", "lore.kernel.org", "8.8.8.8"):
        assert not netguard.allowed(host)

    class NotASocket:  # the guard decides before any real socket call
        family = socket.AF_INET

    with pytest.raises(netguard.NetworkGuardError):
        netguard.guarded_connect(NotASocket(), ("192.0.2.1", 80))
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("lore.kernel.org", 443)


def test_b4_state_does_not_leak_between_calls(home, server, one_thread_server):
    import b4

    from reviewkit.sources.lore import Target, fetch_thread

    before = (b4.LORENODE, b4.MAIN_CONFIG, b4.REQSESSION)
    a = fetch_thread(Target(V4_P2, server.base), timeout=2)
    b = fetch_thread(Target(V4_COVER, one_thread_server.base), timeout=2)
    assert a.revisions == (4,) and b.revisions == (3, 4)
    assert [m for m, _ in server.requests].count("GET") == 1
    assert [m for m, _ in one_thread_server.requests].count("GET") == 1
    assert (b4.LORENODE, b4.MAIN_CONFIG, b4.REQSESSION) == before
    assert os.environ["GIT_CONFIG_GLOBAL"] == str(home / ".gitconfig")


def test_the_report_says_where_the_thread_came_from(home, server):
    first = report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json"))
    assert first["notes"][0] == f"fetched {server.base}/{V4_COVER}/t.mbox.gz"
    again = report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json"))
    assert again["notes"][0].startswith("thread from the cache, fetched 0 min ago from ")
