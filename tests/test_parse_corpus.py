"""The real v4 zap/shmem/uffd thread: every message parses and comes out right."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit.parse.mbox import split_file
from reviewkit.parse.message import parse_message
from reviewkit.parse.series import RawMessage, build_series, parse_patch
from reviewkit.parse.subject import parse_subject

from conftest import SEED

EMLS = sorted(SEED.glob("*.eml"))


def load(path: Path):
    with path.open("rb") as fp:
        return build_series([RawMessage(f"{path.name}:{n}", d) for n, d in split_file(fp)],
                            source=str(path))


def test_all_fifteen_messages_parse():
    assert len(EMLS) == 15
    for eml in EMLS:
        msg = parse_message(eml.read_bytes(), fallback_id="x")
        assert msg.message_id and "@" in msg.message_id, eml.name
        assert msg.author.email, eml.name
        assert msg.date is not None, eml.name
        assert msg.body.strip(), eml.name


def test_mbox_splits_like_the_archive():
    with (SEED / "thread.mbox").open("rb") as fp:
        assert len(list(split_file(fp))) == 15
    with (SEED / "series.mbox").open("rb") as fp:
        assert len(list(split_file(fp))) == 5


def test_mbox_message_equals_eml_bytes_after_unescaping():
    # message 12 carries a body line "From that POV" escaped as ">From" in the mbox only
    with (SEED / "thread.mbox").open("rb") as fp:
        messages = [d for _, d in split_file(fp)]
    eml = (SEED / "12_reply_peter_1-4_2021-09-28.eml").read_bytes()
    assert b"\nFrom that POV" in eml
    assert messages[12].rstrip(b"\n") == eml.rstrip(b"\n")


@pytest.mark.parametrize("name,index,title", [
    ("00_cover", 0, "mm: A few cleanup patches around zap, shmem and uffd"),
    ("01_patch", 1, "mm/shmem: Unconditionally set pte dirty in mfill_atomic_install_pte"),
    ("02_patch", 2, "mm: Clear vmf->pte after pte_unmap_same() returns"),
    ("03_patch", 3, "mm: Drop first_index/last_index in zap_details"),
    ("04_patch", 4, "mm: Add zap_skip_check_mapping() helper"),
])
def test_subjects(name, index, title):
    eml = next(SEED.glob(name + "*.eml"))
    msg = parse_message(eml.read_bytes(), fallback_id="x")
    s = parse_subject(msg.subject)
    assert (s.version, s.index, s.total, s.title, s.is_reply) == (4, index, 4, title, False)


def test_reply_subjects_are_replies():
    for eml in EMLS[5:]:
        msg = parse_message(eml.read_bytes(), fallback_id="x")
        assert parse_subject(msg.subject).is_reply, eml.name


def test_series_from_thread():
    s = load(SEED / "thread.mbox")
    assert s.version == 4 and s.total == 4
    assert [p.index for p in s.patches] == [1, 2, 3, 4]
    assert s.cover is not None and s.cover.message_id == "20210915181456.10739-1-peterx@redhat.com"
    # 2/4..4/4 came from separate git-send-email runs: threading must not rely on -N ids
    assert [p.message_id for p in s.patches] == [
        "20210915181456.10739-2-peterx@redhat.com",
        "20210915181533.11188-1-peterx@redhat.com",
        "20210915181535.11238-1-peterx@redhat.com",
        "20210915181538.11288-1-peterx@redhat.com",
    ]
    assert s.missing == () and s.duplicates == () and list(s.all_diagnostics()) == []
    assert s.author.email == "peterx@redhat.com"


def test_replies_are_attached_to_the_patch_they_answer():
    s = load(SEED / "thread.mbox")
    counts = [len(p.replies) for p in s.patches]
    assert counts == [6, 1, 1, 2]
    assert len(s.cover.replies) == 0
    first = s.patches[0].replies
    assert [r.author.name for r in first] == [
        "Hugh Dickins", "Peter Xu", "Hugh Dickins", "Peter Xu", "Andrew Morton", "Peter Xu"]
    assert first[0].message_id == "49fddb9a-4a52-1df-8b7c-dde2a89330bf@google.com"
    assert [r.author.name for r in s.patches[3].replies] == ["Hugh Dickins", "David Hildenbrand"]


def test_patch_trailers_and_follow_up_acks():
    s = load(SEED / "thread.mbox")
    p1, p2, p3, p4 = s.patches

    def tags(p, source):
        return [(t.kind, t.person.email) for t in p.trailers
                if t.source == source and t.is_review_tag]

    assert tags(p1, "patch") == [("Reviewed-by", "axelrasmussen@google.com")]
    assert tags(p1, "reply") == []  # Hugh objected; no ack
    assert tags(p2, "patch") == [("Reviewed-by", "linmiaohe@huawei.com"),
                                 ("Reviewed-by", "david@redhat.com"),
                                 ("Reviewed-by", "liam.howlett@oracle.com")]
    assert tags(p2, "reply") == [("Acked-by", "hughd@google.com")]
    assert tags(p3, "reply") == [("Acked-by", "hughd@google.com")]
    assert tags(p4, "reply") == []
    ack = p2.trailers_of("Acked-by")[0]
    assert ack.message_id == "7b877ef5-9dd5-97ed-dd1a-36dbf5d02547@google.com"
    assert [t.value for t in p1.trailers_of("Cc")] == [
        "Hugh Dickins <hughd@google.com>", "Axel Rasmussen <axelrasmussen@google.com>",
        "Andrea Arcangeli <aarcange@redhat.com>"]
    assert p1.trailers_of("Signed-off-by")[0].person.email == "peterx@redhat.com"


def test_patch_one_diff_files_and_lines():
    msg = parse_message((SEED / "01_patch_v4-1-4_shmem-unconditionally-set-pte-dirty.eml")
                        .read_bytes(), fallback_id="x")
    p = parse_patch(msg)
    assert [f.path for f in p.files] == ["mm/shmem.c", "mm/userfaultfd.c"]
    shmem, uffd = p.files
    assert shmem.status == "modified" and (shmem.added_count, shmem.removed_count) == (0, 1)
    removed = [(ln.old_no, ln.text.strip()) for h in shmem.hunks for ln in h.removed]
    assert removed == [(2427, "SetPageDirty(page);")]
    added = [(ln.new_no, ln.text.strip()) for h in uffd.hunks for ln in h.added]
    assert added == [(72, "_dst_pte = pte_mkdirty(_dst_pte);")]
    gone = [(ln.old_no, ln.text.strip()) for h in uffd.hunks for ln in h.removed]
    assert gone == [(74, "if (writable || !page_in_cache)"), (75, "_dst_pte = pte_mkdirty(_dst_pte);")]
    assert uffd.hunks[0].section.startswith("int mfill_atomic_install_pte(")
    assert "mm/shmem.c       | 1 -" in p.diffstat
    assert p.commit_message.startswith("It was conditionally done previously")
    assert p.commit_message.rstrip().endswith("Signed-off-by: Peter Xu <peterx@redhat.com>")
    assert p.notes == ""


def test_patch_four_hunks_and_line_numbers():
    msg = parse_message((SEED / "04_patch_v4-4-4_add-zap_skip_check_mapping-helper.eml")
                        .read_bytes(), fallback_id="x")
    p = parse_patch(msg)
    mmh, memory = p.files
    assert mmh.path == "include/linux/mm.h" and memory.path == "mm/memory.c"
    assert [(h.old_start, h.old_len, h.new_start, h.new_len) for h in memory.hunks] == [
        (1333, 16, 1333, 8), (1375, 17, 1367, 8), (3369, 7, 3352, 7), (3398, 7, 3381, 7)]
    helper = [ln for ln in mmh.hunks[0].added if "zap_skip_check_mapping(struct" in ln.text]
    assert helper[0].new_no == 1733
    uses = [ln.new_no for h in memory.hunks for ln in h.added if "zap_skip_check_mapping" in ln.text]
    assert uses == [1336, 1370]


def test_series_diffstat_matches_cover_letter():
    s = load(SEED / "series.mbox")
    added = sum(f.added_count for p in s.patches for f in p.files)
    removed = sum(f.removed_count for p in s.patches for f in p.files)
    assert (added, removed) == (46, 48)  # "46 insertions(+), 48 deletions(-)" in 0/4
    assert "4 files changed, 46 insertions(+), 48 deletions(-)" in s.cover.commit_message


def test_header_variants():
    # 09: Thunderbird header order and format=flowed; Hugh's lowercase cc:; 13: Mime-Version
    david = parse_message((SEED / "09_reply_david_4-4_should_zap_page.eml").read_bytes(),
                          fallback_id="x")
    assert david.author.email == "david@redhat.com"
    assert david.in_reply_to == "20210915181538.11288-1-peterx@redhat.com"
    hugh = parse_message((SEED / "06_reply_hugh_2-4_acked.eml").read_bytes(), fallback_id="x")
    assert any(p.email == "akpm@linux-foundation.org" for p in hugh.to + hugh.cc)
    assert len(hugh.cc) > 3
    akpm = parse_message((SEED / "13_reply_akpm_1-4_2021-11-04.eml").read_bytes(), fallback_id="x")
    assert akpm.author.name == "Andrew Morton"
