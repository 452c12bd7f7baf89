"""Hand-made inputs for the cases real mail throws at a parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit.parse.diff import DiffError, parse_diff
from reviewkit.parse.mbox import split_bytes
from reviewkit.parse.series import NoPatchesError, RawMessage, build_series
from reviewkit.sources.resolve import FileSource

from conftest import EDGE


def series_of(name: str, **kw):
    path = EDGE / name
    return build_series(FileSource(label=name, path=path).messages(), source=name, **kw)


def only_patch(name: str):
    s = series_of(name)
    assert len(s.patches) == 1
    return s.patches[0]


EXPECTED_DEMO = [(40, " ", "\tint ret = 0;"), (41, " ", ""), (42, " ", "\tif (!d)"),
                 (43, "+", "\t\treturn -ENOENT;"), (44, "+", "\td->count = 0;"),
                 (45, " ", "\tret = demo_apply(d);"), (46, " ", "\treturn ret;")]


def new_side(patch):
    return [(ln.new_no, ln.kind, ln.text) for h in patch.files[0].hunks for ln in h.lines
            if ln.new_no is not None]


@pytest.mark.parametrize("name", ["qp.eml", "base64.eml", "crlf.eml"])
def test_transfer_encodings_and_crlf_decode_to_the_same_patch(name):
    p = only_patch(name)
    assert p.files[0].path == "lib/demo.c"
    assert new_side(p) == EXPECTED_DEMO
    assert "café" in p.commit_message and "x = 1." in p.commit_message
    assert "\r" not in p.commit_message
    assert p.trailers_of("Signed-off-by")[0].person.email == "ada@example.org"
    assert p.diagnostics == ()


def test_quilt_diff_from_mm_commits():
    p = only_patch("quilt.eml")
    f = p.files[0]
    assert (f.old_path, f.new_path, f.status) == ("lib/demo.c", "lib/demo.c", "modified")
    assert new_side(p) == EXPECTED_DEMO
    # the in-body From: names the author, not the maintainer who sent the mail
    assert p.author.email == "ada@example.org"
    assert [t.person.email for t in p.trailers_of("Signed-off-by")] == [
        "ada@example.org", "bob@example.org"]
    assert p.trailers_of("Link")[0].value == "https://lkml.kernel.org/r/qp-1@example.org"


def test_rename_with_changes():
    p = only_patch("rename.patch")
    f = p.files[0]
    assert (f.old_path, f.new_path, f.status) == ("lib/demo_old.c", "lib/demo_helpers.c", "renamed")
    assert [(ln.new_no, ln.text) for h in f.hunks for ln in h.added] == [(12, "\treturn 1;")]
    assert "rename lib/{demo_old.c => demo_helpers.c} (90%)" in p.diffstat


def test_binary_file_is_kept_without_hunks():
    p = only_patch("binary.patch")
    logo, demo = p.files
    assert (logo.path, logo.status, logo.is_binary, logo.hunks) == (
        "Documentation/demo/logo.png", "added", True, ())
    assert demo.status == "modified" and demo.added_count == 1


def test_whitespace_damaged_context_is_repaired_and_reported():
    p = only_patch("damaged.eml")
    assert new_side(p) == EXPECTED_DEMO
    damaged = [ln.new_no for h in p.files[0].hunks for ln in h.lines if ln.damaged]
    assert damaged == [41, 45]
    (diag,) = p.diagnostics
    assert (diag.code, diag.path, diag.line, diag.patch) == ("whitespace-damaged", "lib/demo.c", 41, 1)


def test_mboxrd_from_unescaping():
    s = series_of("from-escape.mbox")
    p = s.patches[0]
    assert "\n>From the demo's point of view" in p.commit_message
    assert "\n>>From here on" in p.commit_message
    (reply,) = p.replies
    assert reply.body.startswith(">From a reply")
    assert [(t.kind, t.person.email, t.source) for t in p.trailers if t.is_review_tag] == [
        ("Reviewed-by", "bob@example.org", "reply")]


def test_missing_patch_three_of_five():
    s = series_of("missing-3of5.mbox")
    assert [p.index for p in s.patches] == [1, 2, 4, 5]
    assert s.missing == (3,) and s.total == 5 and s.version == 2
    assert s.diagnostics == ()


def test_duplicate_patch_numbers():
    s = series_of("duplicate-2of3.mbox")
    assert [p.index for p in s.patches] == [1, 2, 3]
    assert s.duplicates == (2,)
    dup = [d for d in s.diagnostics if d.code == "duplicate-patch"]
    assert len(dup) == 1 and dup[0].patch == 2
    # the first copy is kept
    assert s.patches[1].message_id == "dup-2@example.org"


def test_truncated_hunk_is_an_error():
    with pytest.raises(NoPatchesError, match="shorter than its header"):
        series_of("truncated.patch")
    with pytest.raises(DiffError):
        parse_diff("--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n a\n-b\n")


def test_one_broken_message_keeps_the_rest():
    s = series_of("broken-in-series.mbox")
    assert [p.index for p in s.patches] == [2, 3]
    assert s.missing == ()  # 1/3 arrived, broken: it is reported as broken, not as missing
    broken = [d for d in s.diagnostics if d.code == "broken-message"]
    assert len(broken) == 1 and broken[0].patch == 1
    assert "shorter than its header" in broken[0].message
    assert broken[0].message.startswith("broken-in-series.mbox:")


@pytest.mark.parametrize("name,needle", [
    ("not-mail.txt", "no mail headers"),
    ("replies-only.mbox", "no patch found"),
    ("undecodable.bin", "no mail headers"),
])
def test_inputs_without_patches(name, needle):
    with pytest.raises(NoPatchesError, match=needle):
        series_of(name)


def test_revision_selection():
    v2 = (EDGE / "missing-3of5.mbox").read_bytes()
    v1 = v2.replace(b"[PATCH v2 ", b"[PATCH ").replace(b"miss-", b"old-")
    msgs = [RawMessage(f"m:{n}", d) for n, d in split_bytes(v1 + v2)]
    newest = build_series(msgs)
    assert newest.version == 2 and newest.versions == (1, 2)
    older = build_series(msgs, revision=1)
    assert older.version == 1 and older.patches[0].message_id == "old-1@example.org"
    with pytest.raises(NoPatchesError, match="no revision v7"):
        build_series(msgs, revision=7)


def test_in_body_from_overrides_sender_and_notes_below_the_line():
    body = (b"From: Sender <s@example.org>\nSubject: [PATCH v3] x: y\nMessage-ID: <n@x>\n\n"
            b"From: Real Author <real@example.org>\n\nDo a thing.\n\nSigned-off-by: Real Author "
            b"<real@example.org>\nSigned-off-by: Sender <s@example.org>\n---\nv3: fixed the thing "
            b"[Hugh]\nv2: rebased\n\n x.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
            b"diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    s = build_series([RawMessage("m", body)])
    p = s.patches[0]
    assert p.author.email == "real@example.org"
    assert p.notes == "v3: fixed the thing [Hugh]\nv2: rebased"
    assert p.diffstat.splitlines()[0] == " x.c | 2 +-"
    assert p.version == 3 and p.index == 1 and p.total == 1


def test_a_tag_given_on_the_cover_letter_applies_to_every_patch():
    series_mbox = (EDGE / "missing-3of5.mbox").read_bytes()
    ack = (b"From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: Bob Maintainer <bob@example.org>\n"
           b"Subject: Re: [PATCH v2 0/5] demo: a series\nMessage-ID: <ack-1@example.org>\n"
           b"In-Reply-To: <miss-0@example.org>\nReferences: <miss-0@example.org>\n\n"
           b"> This is the cover letter.\n\nFor the series:\n"
           b"Acked-by: Bob Maintainer <bob@example.org>\n\n")
    s = build_series([RawMessage(f"m:{n}", d) for n, d in split_bytes(series_mbox + ack)])
    assert [r.message_id for r in s.cover.replies] == ["ack-1@example.org"]
    for p in s.patches:
        tags = [(t.kind, t.person.email, t.source, t.given_on, t.message_id)
                for t in p.trailers if t.is_review_tag]
        assert tags == [("Acked-by", "bob@example.org", "reply", "cover", "ack-1@example.org")]
        assert p.replies == ()


def test_mbox_writer_is_the_inverse_of_the_splitter():
    from reviewkit.parse.mbox import join_messages

    msgs = [b"From: a@b\nSubject: x\n\nFrom the top\n>From a quote\n>>From deeper\nend\n",
            b"From: c@d\nSubject: y\n\nplain\n"]
    data = join_messages(msgs)
    assert b"\n>From the top\n>>From a quote\n>>>From deeper\n" in data
    assert [m for _, m in split_bytes(data)] == msgs


def test_diff_of_two_trees_is_read_with_one_component_stripped():
    # Hugh Dickins' fixes diff two unpacked trees: "--- 5.18-rc1/mm/shmem.c" /
    # "+++ linux/mm/shmem.c" is mm/shmem.c, as `patch -p1` applies it
    raw = (Path(__file__).parent.parent / "corpus/fix/tmpfs-read-zero-page-to-pipes.eml").read_bytes()
    series = build_series([RawMessage(data=raw, origin="fix.eml")])
    paths = [f.path for p in series.patches for f in p.files]
    assert paths == ["mm/filemap.c", "mm/shmem.c"]


@pytest.mark.parametrize("old, new, want", [
    ("a/mm/gup.c", "b/mm/gup.c", "mm/gup.c"),
    ("6.1/include/linux/mm.h", "linux/include/linux/mm.h", "include/linux/mm.h"),
    ("mm/gup.c", "mm/gup.c", "mm/gup.c"),  # already at the tree's top (-p0)
])
def test_diff_paths_are_stripped_as_patch_p1(old, new, want):
    text = f"--- {old}\n+++ {new}\n@@ -1,1 +1,1 @@\n-a\n+b\n"
    files, _ = parse_diff(text)
    assert [f.path for f in files] == [want]
