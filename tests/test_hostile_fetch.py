"""Hostile archives and URLs: with real b4 against the loopback server.

A URL pasted from a mail and every byte an archive sends are untrusted: no
text from them becomes configuration, no answer is read past the size limit,
``--timeout`` bounds the whole fetch, and redirects stay on the archive's host.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time

import pytest

from test_lore import V4_COVER, cache_rows, cli, home, report, server  # noqa: F401


def one_line_error(proc) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err, err
    return err


def test_list_name_cannot_inject_b4_configuration(home, server):
    # %0A[b4]%0A midmask = ... in the list name was once written into b4's git config
    evil = (f"http://127.0.0.1:{server.port}/linux-mm%0A%5Bb4%5D%0A%09midmask%20%3D%20"
            f"http%3A%2F%2Fattacker.example%2F%25s/{V4_COVER}/")
    err = one_line_error(cli("review", evil))
    assert "is not an archive list name" in err
    assert "\n[b4]" not in err and "\\x0a" in err  # the newline is shown, not obeyed
    assert server.requests == []
    assert "attacker.example" not in (home / "netguard.log").read_text() \
        if (home / "netguard.log").exists() else True


@pytest.mark.parametrize("url,needle", [
    ("ftp://127.0.0.1/linux-mm/{m}/", None),
    ("http://user:pw@127.0.0.1/linux-mm/{m}/", "no plain host name"),
    ("http://127.0.0.1:99999/linux-mm/{m}/", "no valid host[:port]"),
    ("http://exa mple.org/linux-mm/{m}/", "no valid host[:port]"),
    ("http://127.0.0.1/linux%20mm/{m}/", "is not an archive list name"),
    ("http://127.0.0.1/../{m}/", "is not an archive list name"),
    ("http://127.0.0.1/linux-mm/a%0Ab@example.org/", "is not a usable Message-ID"),
])
def test_unusable_urls_are_refused_before_any_request(home, server, url, needle):
    proc = cli("review", url.format(m=V4_COVER), "--lore-url", server.base)
    if needle is None:  # not a URL reviewkit fetches: a missing local file
        assert proc.returncode == 2
        return
    err = one_line_error(proc)
    assert needle in err, err
    assert server.requests == []


@pytest.mark.parametrize("value", [
    "http://127.0.0.1:9/linux-mm\n[b4]\n\tmidmask = http://attacker.example/%s",
    "http://127.0.0.1:9/linux-mm?x=1", "javascript:alert(1)", "http:///linux-mm",
])
def test_archive_settings_are_validated(home, value):
    for args, env in ((["--lore-url", value], {}), ([], {"REVIEWKIT_LORE_URL": value})):
        err = one_line_error(cli("review", V4_COVER, *args, env=env))
        assert "attacker.example/%s" not in err or "\\x0a" in err


def test_b4_settings_never_pass_through_a_config_file():
    from reviewkit.sources.lore import _b4_settings

    s = _b4_settings("http://127.0.0.1:8080/linux-mm", 2.0)
    assert s["b4.midmask"] == "http://127.0.0.1:8080/linux-mm/%s"
    assert s["liblore.http://127.0.0.1:8080.requesttimeout"] == "2,2"


def test_gzip_bomb_stops_at_the_limit(home, server):
    server.bomb_bytes = 400 << 20  # 400 MiB of zeros in about 400 KB
    server.faults[V4_COVER] = "bomb"
    err = one_line_error(cli("review", V4_COVER, "--lore-url", server.base, "--timeout", "60"))
    assert "is over 100 MiB decompressed (limits.fetch-bytes)" in err
    assert f"({server.base}/{V4_COVER}/t.mbox.gz)" in err
    assert cache_rows(home) == []


def test_content_encoding_bomb_and_a_configured_limit(home, server, tmp_path):
    server.bomb_bytes = 64 << 20
    server.faults[V4_COVER] = "encoded-bomb"
    cfg = tmp_path / "config.toml"
    cfg.write_text("[limits]\nfetch-bytes = 5242880\n")
    err = one_line_error(cli("review", V4_COVER, "--lore-url", server.base,
                             env={"REVIEWKIT_CONFIG": str(cfg)}))
    assert "is over 5 MiB decompressed" in err


def test_endless_answer_is_cut_off(home, server, tmp_path):
    server.faults[V4_COVER] = "endless"
    cfg = tmp_path / "config.toml"
    cfg.write_text("[limits]\nfetch-bytes = 8388608\n")
    err = one_line_error(cli("review", V4_COVER, "--lore-url", server.base, "--timeout", "20",
                             env={"REVIEWKIT_CONFIG": str(cfg)}))
    assert "is over 8 MiB" in err


@pytest.mark.parametrize("fault", ["drip", "slow-headers"])
def test_timeout_bounds_the_whole_fetch(home, server, fault):
    server.faults[V4_COVER] = fault  # a byte a second: every read succeeds in time
    t0 = time.monotonic()
    err = one_line_error(cli("review", V4_COVER, "--lore-url", server.base, "--timeout", "2"))
    took = time.monotonic() - t0
    assert f"{V4_COVER}: timed out after 2 s ({server.base}/{V4_COVER}/t.mbox.gz)" in err
    assert took < 8, took


def test_trailer_search_that_drips_is_dropped_with_a_note(home, server):
    server.search_fault = "drip"
    t0 = time.monotonic()
    rep = report(cli("review", V4_COVER, "--lore-url", server.base, "--timeout", "2",
                     "-f", "json"))
    assert time.monotonic() - t0 < 12
    assert rep["series"]["version"] == 4
    assert any("archive search for more trailers took longer than 2 s" in n
               for n in rep["notes"])


def test_redirect_off_the_archive_host_is_refused(home, server):
    server.faults[V4_COVER] = "redirect-away"
    err = one_line_error(cli("review", V4_COVER, "--lore-url", server.base))
    assert "redirected off the archive's host, to http://archive.example.net/x/t.mbox.gz" in err
    log = home / "netguard.log"
    assert not log.exists() or "archive.example.net" not in log.read_text()


def test_error_names_the_url_actually_tried_after_a_redirect(home, server):
    server.faults[V4_COVER] = "redirect-here"
    err = one_line_error(cli("review", V4_COVER, "--lore-url", server.base))
    assert f"(http://127.0.0.1:{server.port}/elsewhere/t.mbox.gz)" in err, err


def _db(home):
    return home / ".cache" / "reviewkit" / "threads.sqlite3"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_cache_is_moved_aside_and_the_fetch_proceeds(home, server, damage):
    assert report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json"))
    db = _db(home)
    if damage == "garbage":
        db.write_bytes(b"this is not sqlite\n" * 100)
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = db.read_bytes()
        db.write_bytes(data[:len(data) // 3])
        for side in ("-wal", "-shm"):
            db.with_name(db.name + side).unlink(missing_ok=True)
    proc = cli("review", V4_COVER, "--lore-url", server.base, "-f", "json")
    rep = report(proc)
    assert rep["series"]["version"] == 4
    note = [n for n in rep["notes"] if n.startswith("cache ")]
    assert note and str(db) in note[0] and "moved aside" in note[0], rep["notes"]
    assert list(db.parent.glob("threads.sqlite3.broken-*"))
    assert cache_rows(home) == [(V4_COVER, f"{server.base}/{V4_COVER}/t.mbox.gz")]


def test_read_only_cache_is_not_used_and_the_fetch_proceeds(home, server):
    assert report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json", "--refresh"))
    db = _db(home)
    for p in db.parent.iterdir():
        p.chmod(stat.S_IRUSR)
    db.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("running as root: a read-only file is still writable")
        rep = report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json",
                         "--refresh"))
        assert rep["series"]["version"] == 4
        assert any(n.startswith(f"cache {db} not used") for n in rep["notes"]), rep["notes"]
    finally:
        db.parent.chmod(stat.S_IRWXU)
        for p in db.parent.iterdir():
            p.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_locked_cache_is_not_used_and_the_fetch_proceeds(home, server):
    assert report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json"))
    conn = sqlite3.connect(_db(home), isolation_level=None)
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        rep = report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json"))
        assert rep["series"]["version"] == 4
        assert any("not used: database is locked" in n for n in rep["notes"]), rep["notes"]
        assert time.monotonic() - t0 < 30
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_full_disk_cache_is_not_used(home, server):
    db = _db(home)
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:  # a cache that cannot grow: max_page_count reached
        conn.executescript("PRAGMA journal_mode=DELETE;")
        from reviewkit.sources.cache import SCHEMA

        conn.executescript(SCHEMA)
    from reviewkit.sources.cache import ThreadCache

    notes: list[str] = []
    cache = ThreadCache(db, notes=notes)
    real = cache._connect

    def tiny(busy):
        c = real(busy)
        c.execute("PRAGMA max_page_count=3")
        return c

    cache._connect = tiny
    cache.put("http://x/y", "a@b", "http://x/y/a@b/t.mbox.gz", b"x" * 100000, {})
    assert notes and str(db) in notes[0] and "full" in notes[0]
    assert cache.get("http://x/y", "a@b") is None


def test_cache_path_that_cannot_be_opened_is_not_used(home, server):
    _db(home).mkdir(parents=True)  # a directory where the file should be
    rep = report(cli("review", V4_COVER, "--lore-url", server.base, "-f", "json"))
    assert rep["series"]["version"] == 4
    assert any(n.startswith(f"cache {_db(home)} not used") for n in rep["notes"]), rep["notes"]
