"""Findings in the light of the thread: raised_in, review points, unanswered review points."""

from __future__ import annotations

import json

import pytest

from reviewkit import api
from reviewkit.parse.mbox import join_messages, split_bytes
from reviewkit.parse.quotes import segments
from reviewkit.render import json_report
from reviewkit.render import text as text_render

from conftest import FIXTURES, REPO, SEED

EXAMPLE = REPO / "examples" / "zap-shmem-uffd-v4.mbox"
P1 = "20210915181456.10739-2-peterx@redhat.com"
P4 = "20210915181538.11288-1-peterx@redhat.com"
HUGH_1 = "49fddb9a-4a52-1df-8b7c-dde2a89330bf@google.com"
DAVID_4 = "12fa0797-05ea-aede-eeae-826133f03499@redhat.com"
HUGH_4 = "4746b58e-34e9-619d-fb16-afa1fb7fff8c@google.com"


def reply(msgid: str, parent: str, body: str, *, who: str = "Ann Reviewer <ann@example.org>",
          subject: str = "Re: [PATCH v4 1/4] mm/shmem: Unconditionally set pte dirty in "
                         "mfill_atomic_install_pte",
          refs: str = "<20210915181456.10739-1-peterx@redhat.com>") -> bytes:
    return (f"From: {who}\nTo: Peter Xu <peterx@redhat.com>\nSubject: {subject}\n"
            f"Date: Fri, 24 Sep 2021 10:00:00 +0000\nMessage-ID: <{msgid}>\n"
            f"In-Reply-To: <{parent}>\nReferences: {refs} <{parent}>\n"
            "Content-Type: text/plain; charset=utf-8\n\n" + body).encode()


def review_with(tmp_path, *extra: bytes, base=EXAMPLE, drop: tuple[str, ...] = ()):
    msgs = [d for _, d in split_bytes(base.read_bytes())
            if not any(m.encode() in d for m in drop)]
    path = tmp_path / "thread.mbox"
    path.write_bytes(join_messages(msgs + list(extra)))
    return api.review(str(path))


@pytest.fixture(scope="module")
def report():
    return api.review(str(EXAMPLE))


def finding(rep, rule):
    (f,) = [f for f in rep.findings if f.rule == rule]
    return f


def test_hugh_already_raised_the_set_page_dirty_removal(report):
    f = finding(report, "mm/dirty-page-dirty-removed")
    assert [r.message_id for r in f.raised_in] == [HUGH_1]
    (r,) = f.raised_in
    assert (r.author.name, r.date.strftime("%Y-%m-%d"), r.matched_by) == (
        "Hugh Dickins", "2021-09-23", "function")
    # the excerpt starts at the paragraph that names the function, not at the greeting
    assert r.excerpt.startswith("shmem_mfill_atomic_pte() does SetPageDirty")
    data = json.loads(json_report.render(report))
    (jf,) = [x for x in data["findings"] if x["rule"] == "mm/dirty-page-dirty-removed"]
    assert jf["raised_in"] == [{
        "author": {"name": "Hugh Dickins", "email": "hughd@google.com"},
        "date": "2021-09-23T20:56:33-07:00", "message_id": HUGH_1,
        "link": f"https://lore.kernel.org/all/{HUGH_1}/", "excerpt": r.excerpt,
        "matched_by": "function", "version": 4}]
    text = text_render.render(report)
    assert ('already raised by Hugh Dickins, 2021-09-23: "shmem_mfill_atomic_pte() does '
            'SetPageDirty') in text
    assert f"https://lore.kernel.org/all/{HUGH_1}/" in text


def test_comment_under_the_quoted_line_raises_the_finding(report):
    f = finding(report, "mm/zap-details-skip-helper-sense")
    assert [(r.message_id, r.matched_by) for r in f.raised_in] == [(DAVID_4, "line")]
    assert f.raised_in[0].excerpt.startswith("I agree with Hugh that the name of this helper")
    # Hugh's 4/4 reply comments on the commit message without naming the helper:
    # it is a review point no rule matched, not a reply that raised the finding
    (point,) = report.extra["review_points"][4]
    assert point.message_id == HUGH_4 and point.path is None
    assert point.excerpt.startswith("Again, I won't NAK")


def test_acks_are_not_review_points(report):
    # Hugh's 2/4 and 3/4 replies say a few words and give Acked-by
    assert set(report.extra["review_points"]) == {4}
    data = json.loads(json_report.render(report))
    assert [len(p["review_points"]) for p in data["series"]["patches"]] == [0, 0, 0, 1]
    assert all(p["unanswered_review_points"] == [] for p in data["series"]["patches"])


def test_who_wrote_it_does_not_matter_but_the_patch_author_is_not_a_reviewer(tmp_path):
    raw = (SEED / "05_reply_hugh_1-4_dirtyup.eml").read_bytes()
    renamed = raw.replace(b"Hugh Dickins <hughd@google.com>\nTo:", b"Zed Q <zq@example.net>\nTo:")
    assert renamed != raw
    rep = review_with(tmp_path, renamed, drop=(HUGH_1,))
    f = finding(rep, "mm/dirty-page-dirty-removed")
    assert [r.author.email for r in f.raised_in] == ["zq@example.net"]
    own = raw.replace(b"Hugh Dickins <hughd@google.com>\nTo:", b"Peter Xu <peterx@redhat.com>\nTo:")
    rep = review_with(tmp_path, own, drop=(HUGH_1,))
    assert finding(rep, "mm/dirty-page-dirty-removed").raised_in == ()
    assert 1 not in rep.extra["review_points"]


def test_a_reply_quoting_other_lines_does_not_attach(tmp_path):
    other_hunk = reply("q1@example.org", P1, (
        "On Wed, 15 Sep 2021, Peter Xu wrote:\n"
        "> @@ -69,10 +69,9 @@ int mfill_atomic_install_pte(struct mm_struct *dst_mm,\n"
        "> -\tif (writable || !page_in_cache)\n"
        "> -\t\t_dst_pte = pte_mkdirty(_dst_pte);\n\n"
        "Why does this condition go? It was there for a reason.\n\nAnn\n"))
    context_only = reply("q2@example.org", P1, (
        ">  \tunlock_page(page);\n>  \treturn 0;\n>  out_delete_from_cache:\n\n"
        "This error path could use a comment while you are here.\n"))
    prose_only = reply("q3@example.org", P1, (
        "> It was conditionally done previously, as there's one shmem special case that we\n"
        "> use SetPageDirty() instead.\n\n"
        "Please keep shmem_mfill_atomic_pte() as it is, I think.\n"))
    rep = review_with(tmp_path, other_hunk, context_only, prose_only, drop=(HUGH_1,))
    dirty = finding(rep, "mm/dirty-page-dirty-removed")
    mkdirty = finding(rep, "mm/dirty-pte-mkdirty-unconditional")
    assert dirty.raised_in == ()  # nobody quoted SetPageDirty or its function
    # the removed guard is in mfill_atomic_install_pte(), the function of the pte finding
    assert [(r.message_id, r.matched_by) for r in mkdirty.raised_in] == [
        ("q1@example.org", "function")]
    points = {r.message_id: r for r in rep.extra["review_points"][1]}
    assert set(points) == {"q2@example.org", "q3@example.org"}
    assert (points["q2@example.org"].path, points["q2@example.org"].function) == (
        "mm/shmem.c", "shmem_mfill_atomic_pte")
    assert points["q2@example.org"].quoted == ()  # context lines only
    assert points["q3@example.org"].path is None  # on the commit message
    assert points["q3@example.org"].excerpt == (
        "Please keep shmem_mfill_atomic_pte() as it is, I think.")


def test_a_reply_with_only_tags_is_not_a_review_point(tmp_path):
    acked = reply("t1@example.org", P1, (
        "On Wed, 15 Sep 2021, Peter Xu wrote:\n> It was conditionally done previously\n\n"
        "Acked-by: Ann Reviewer <ann@example.org>\n"))
    bare = reply("t2@example.org", P1, "Reviewed-by: Bob <bob@example.org>\n\nThanks,\nBob\n")
    rep = review_with(tmp_path, acked, bare, drop=(HUGH_1,))
    assert 1 not in rep.extra["review_points"]
    kinds = {(t.kind, t.message_id) for t in rep.series.patches[0].trailers}
    assert ("Acked-by", "t1@example.org") in kinds and ("Reviewed-by", "t2@example.org") in kinds


def test_a_line_quoted_twice_is_placed_by_its_neighbours(tmp_path):
    # 4/4 adds "if (unlikely(zap_skip_check_mapping(details, page)))" twice; alone,
    # the quoted line is ambiguous; with the line before it, it is the second one
    subject = "Re: [PATCH v4 4/4] mm: Add zap_skip_check_mapping() helper"
    second = reply("a1@example.org", P4, (
        ">  \t\t\tstruct page *page = pfn_swap_entry_to_page(entry);\n>  \n"
        "> -\t\t\tif (unlikely(details && details->check_mapping)) {\n"
        "> +\t\t\tif (unlikely(zap_skip_check_mapping(details, page)))\n\n"
        "Here the old test looked at check_mapping before the page was known.\n"),
        subject=subject)
    alone = reply("a2@example.org", P4, (
        "> +\t\t\tif (unlikely(zap_skip_check_mapping(details, page)))\n\n"
        "Both of these call sites want the positive sense.\n"), subject=subject)
    rep = review_with(tmp_path, second, alone)
    points = {r.message_id: r for r in rep.extra["review_points"][4]}
    assert points["a1@example.org"].path == "mm/memory.c"
    assert points["a1@example.org"].old_line is not None  # placed on the removed line
    assert points["a1@example.org"].function == "zap_pte_range"
    assert "a2@example.org" in points and points["a2@example.org"].path is None


def test_unanswered_review_points_of_the_earlier_revision(tmp_path):
    v3 = FIXTURES / "lore" / "zap-v3-thread.mbox"
    nit = reply("v3-nit@example.org", "v3-zap-4@example.org", (
        ">  struct zap_details {\n"
        "> -\tstruct address_space *check_mapping;\t/* Check page->mapping if set */\n"
        "> +\tstruct address_space *zap_mapping;\t/* Check page->mapping if set */\n\n"
        "The new name is no clearer than the old one.\n"),
        subject="Re: [PATCH v3 4/4] mm: Add zap_skip_check_mapping() helper",
        refs="<v3-zap-0@example.org>")
    dirty = reply("v3-dirty@example.org", "v3-zap-1@example.org", (
        ">  \tspin_unlock_irq(&info->lock);\n>  \n> -\tSetPageDirty(page);\n\n"
        "The page is written here; it should stay dirty here.\n"),
        subject="Re: [PATCH v3 1/4] mm/shmem: Unconditionally set pte dirty in "
                "mfill_atomic_install_pte", refs="<v3-zap-0@example.org>")
    both = tmp_path / "both.mbox"
    both.write_bytes(join_messages([d for _, d in split_bytes(v3.read_bytes())] + [nit, dirty]))
    both.write_bytes(both.read_bytes() + EXAMPLE.read_bytes())
    rep = api.review(str(both))
    un = rep.extra["unanswered_review_points"]
    # Liam's v3 request on 3/4 ("two lines") was answered: v4 changed those lines
    assert set(un) == {4}
    (r,) = un[4]
    assert (r.message_id, r.version, r.path) == ("v3-nit@example.org", 3, "include/linux/mm.h")
    data = json.loads(json_report.render(rep))
    assert [x["message_id"] for x in data["series"]["patches"][3]["unanswered_review_points"]] \
        == ["v3-nit@example.org"]
    # a comment on v3 under the line a v4 finding is on: raised on v3, not unanswered
    f = finding(rep, "mm/dirty-page-dirty-removed")
    assert [(r.message_id, r.version, r.matched_by) for r in f.raised_in] == [
        ("v3-dirty@example.org", 3, "line"), (HUGH_1, 4, "function")]
    text = text_render.render(rep)
    assert ('already raised by Ann Reviewer, 2021-09-24 on v3: "The page is written here'
            in text)
    assert "unanswered review points (made on v3, lines unchanged since):" in text
    assert "The new name is no clearer than the old one." in text


def test_segments_of_a_reply():
    segs = segments("On Mon, X wrote:\n> a line\n> another\n\nMy comment here.\n\n"
                    "> more quote\n\nSecond comment, longer.\n\nThanks,\nAnn\n-- \nsig text\n")
    assert [(s.quote, s.text) for s in segs if s.text] == [
        (("a line", "another"), ("My comment here.",)),
        (("more quote",), ("Second comment, longer.",))]


def test_remark_text_is_terminal_safe_and_html_escaped(tmp_path):
    from reviewkit.render import html

    evil = reply("e1@example.org", P1, (
        "> -\tSetPageDirty(page);\n\n"
        "Keep this \x1b[2J\x1b]0;pwned\x07 <script>window.__x=1</script> call here.\n"))
    rep = review_with(tmp_path, evil, drop=(HUGH_1,))
    f = finding(rep, "mm/dirty-page-dirty-removed")
    assert [r.message_id for r in f.raised_in] == ["e1@example.org"]
    text = text_render.render(rep)
    assert "\x1b[2J" not in text and "\\x1b[2J" in text
    page = html.render(rep)
    assert "<script>window.__x" not in page and "&lt;script&gt;window.__x=1" in page
