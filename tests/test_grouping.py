"""Many series in one input: grouping, refusal without --series, several SOURCEs, maildirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import EDGE, FIXTURES, SEED, run_cli
from reviewkit.parse import grouping
from reviewkit.sources.resolve import FileSource, MaildirSource, resolve

V3 = FIXTURES / "lore" / "zap-v3-thread.mbox"
K61 = FIXTURES / "linux-6.1" / "series.mbox"
V4_COVER = "20210915181456.10739-1-peterx@redhat.com"
V4_P2 = "20210915181533.11188-1-peterx@redhat.com"


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Real threads concatenated as one inbox: zap v4 (with its ten replies), zap v3
    (a separate thread), the 6.1 series, two single gup patches, and a patch with a
    reply — in an order that interleaves them."""
    parts = [(SEED / "thread.mbox").read_bytes(), K61.read_bytes(),
             (FIXTURES / "gup" / "follow-hugepd-slow.patch").read_bytes(),
             V3.read_bytes(), (EDGE / "from-escape.mbox").read_bytes(),
             (FIXTURES / "gup" / "hugepd-fast-only.patch").read_bytes()]
    out = tmp_path / "inbox.mbox"
    with out.open("wb") as fp:
        for p in parts:
            if not p.startswith(b"From "):
                p = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + p
            fp.write(p.rstrip(b"\n") + b"\n\n")
    return out


def _groups(path: Path):
    envs = list(FileSource(label=str(path), path=path).envelopes())
    groups, orphans = grouping.group(envs)
    return envs, groups, orphans


def test_mixed_inbox_is_grouped_into_series(mixed):
    envs, groups, orphans = _groups(mixed)
    assert orphans == []
    by_key = {g.key: g for g in groups}
    assert set(by_key) == {V4_COVER, "k61-0000@reviewkit.invalid", "gup-hugepd-slow@example.org",
                           "gup-hugepd-fast@example.org", "from-1@example.org"}
    zap = by_key[V4_COVER]
    # v3 is a thread of its own, joined by author and title; newest revision first
    assert [r.version for r in zap.revisions] == [4, 3]
    ids = zap.message_ids(envs)
    assert "v3-zap-0@example.org" in ids and "v3-r1@example.org" in ids  # v3's replies too
    assert len(ids) == 15 + sum(1 for e in envs if e.message_id and e.message_id.startswith("v3-"))
    # the reply of from-escape.mbox went with its patch
    assert by_key["from-1@example.org"].message_ids(envs) == {"from-1@example.org",
                                                              "from-2@example.org"}
    assert len(by_key["k61-0000@reviewkit.invalid"].members) == 4
    # every message in exactly one series
    assert sum(len(g.members) for g in groups) == len(envs)


def test_same_groups_from_spans_and_from_messages(mixed):
    """The chunked byte-range reader sees the same messages as the line splitter."""
    src = FileSource(label="x", path=mixed)
    lazy = list(src.envelopes(keep=False))
    assert [e.raw() for e in lazy] == [m.data for m in src.messages()]


def test_review_refuses_a_mixed_inbox_in_one_line(mixed):
    proc = run_cli("review", str(mixed))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "holds 5 series" in err and "--series MSGID" in err and "dashboard" in err
    assert proc.stdout == b""


def test_refusal_names_commands_that_run(mixed, tmp_path):
    """The commands the refusal suggests take the same input: stdin is '-', a path
    with a space is quoted."""
    proc = run_cli("review", "-", input=mixed.read_bytes())
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "'reviewkit series -' lists them" in err and "'reviewkit dashboard - -o DIR'" in err
    spaced = tmp_path / "my inbox.mbox"
    spaced.write_bytes(mixed.read_bytes())
    proc = run_cli("review", str(spaced))
    assert proc.returncode == 2
    assert f"reviewkit series '{spaced}'" in proc.stderr.decode()
    listed = run_cli("series", "-", input=mixed.read_bytes())
    assert listed.returncode == 0 and len(listed.stdout.decode().splitlines()) == 5


def test_series_option_picks_one_by_any_message(mixed):
    # a v3 patch's Message-ID names the series; its newest revision is reviewed
    proc = run_cli("review", str(mixed), "--series", "<v3-zap-2@example.org>", "-f", "json",
                   "--fail-on", "never")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["series"]["version"] == 4
    assert rep["series"]["message_id"] == V4_COVER
    assert rep["comparison"]["base_version"] == 3
    proc = run_cli("review", str(mixed), "--series", "k61-0002@reviewkit.invalid", "-f", "json",
                   "--fail-on", "never")
    rep = json.loads(proc.stdout)
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 3]
    proc = run_cli("review", str(mixed), "--series", "nowhere@example.org")
    assert proc.returncode == 2 and b"nowhere@example.org" in proc.stderr


def test_series_command_lists_them(mixed):
    proc = run_cli("series", str(mixed))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 5
    zap = next(ln for ln in lines if ln.startswith(V4_COVER))
    assert "v4,v3" in zap and "4 patch(es)" in zap
    assert b"5 series" in proc.stderr


def test_several_sources_are_one_input():
    """v4 and v3 given as two SOURCEs: one series, v4 compared with v3."""
    proc = run_cli("review", str(SEED / "thread.mbox"), str(V3), "-f", "json",
                   "--fail-on", "never")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["series"]["version"] == 4 and rep["comparison"]["base_version"] == 3
    proc = run_cli("review", str(SEED / "thread.mbox"), str(K61))
    assert proc.returncode == 2 and b"holds 2 series" in proc.stderr


def test_maildir(tmp_path):
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for n, eml in enumerate(sorted(SEED.glob("*.eml"))):
        (md / ("cur" if n % 2 else "new") / f"17000000{n:02d}.M{n}P1.host:2,S").write_bytes(
            eml.read_bytes())
    src = resolve(str(md))
    assert isinstance(src, MaildirSource)
    proc = run_cli("review", str(md), "-f", "json", "--fail-on", "never")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 3, 4]
    assert sum(len(p["replies"]) for p in rep["series"]["patches"]) >= 8


def test_resend_of_the_same_version_keeps_the_newest(tmp_path):
    """The same revision posted twice (a RESEND): one series, the later posting."""
    data = (SEED / "series.mbox").read_bytes()
    resend = data.replace(b"-peterx@redhat.com>", b"-resend@redhat.com>").replace(
        b"Date:   Wed, 15 Sep 2021", b"Date:   Thu, 16 Sep 2021")
    assert resend != data
    path = tmp_path / "two.mbox"
    path.write_bytes(data + b"\n" + resend)
    envs, groups, _ = _groups(path)
    assert len(groups) == 1 and len(groups[0].revisions) == 1
    assert groups[0].key.endswith("-resend@redhat.com")


CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="no corpus/ in this checkout")
def test_real_corpus_mixed_into_the_inbox(mixed, tmp_path):
    """The labelled corpus (real patches of many lore series, one file each) added to
    the inbox: the patches of one posting come together, nothing is lost."""
    emls = sorted(CORPUS.glob("*/*.eml"))
    assert len(emls) >= 20
    path = tmp_path / "all.mbox"
    with path.open("wb") as fp:
        fp.write(mixed.read_bytes())
        for e in emls:
            fp.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + e.read_bytes().rstrip(b"\n")
                     + b"\n\n")
    envs, groups, orphans = _groups(path)
    assert sum(len(g.members) for g in groups) + len(orphans) == len(envs)
    by_key = {g.key: g for g in groups}
    assert [r.version for r in by_key[V4_COVER].revisions] == [4, 3]
    # patches k/N of one posting (same author, version, N, thread) are one series
    for g in groups:
        subjects = [envs[i].subject for i in g.members if envs[i].kind == "patch"]
        assert len({(s.version, s.total) for s in subjects if s.version == g.newest.version}) <= 1
    wp = [g for g in groups if any("uffd-wp" in envs[i].subject.title and
                                   envs[i].subject.total == 23 for i in g.members)]
    assert len(wp) == 1 and len(wp[0].members) >= 5
    proc = run_cli("review", str(path))
    assert proc.returncode == 2 and f"holds {len(groups)} series".encode() in proc.stderr
