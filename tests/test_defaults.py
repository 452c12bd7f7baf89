"""Trustworthy defaults, on real messages: partial input is a note, a message
that arrives twice is one message, trailers are read as git and checkpatch
read them, severity follows what was seen, and --fail-on / the summary line
behave as documented."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import EDGE, FIXTURES, REPO, SEED, run_cli
from reviewkit import api
from reviewkit.parse.mbox import join_messages, split_bytes
from reviewkit.parse.series import RawMessage, build_series
from reviewkit.parse.trailers import commit_trailers
from reviewkit.report import DEFAULT_FAIL_ON

TRAILERS = FIXTURES / "trailers"
EXAMPLE = "examples/zap-shmem-uffd-v4.mbox"
V4_COVER = "20210915181456.10739-1-peterx@redhat.com"

# real patches, each one patch N/M of a larger series, saved on its own
SINGLE_PATCHES_OF_A_SERIES = sorted(SEED.glob("0[1-4]_patch_*.eml")) + [
    TRAILERS / "stable-review-in-body-from.eml", TRAILERS / "stable-quilt-secretmem.eml"]


def review(path, **kw):
    return api.review(str(path), api.Options(**kw))


def rules_of(report, min_rank: int = 1) -> list[tuple[str, int | None]]:
    return [(f.rule, f.patch) for f in report.findings if f.rank >= min_rank]


def seed_messages() -> list[bytes]:
    return [m for _, m in split_bytes((SEED / "series.mbox").read_bytes())]


CORPUS = REPO / "corpus"
CORPUS_MESSAGES = sorted(CORPUS.glob("*/*.eml"))


# -- partial input -----------------------------------------------------------------------

@pytest.mark.skipif(not CORPUS_MESSAGES, reason="no labelled corpus in this checkout")
def test_every_lone_message_of_the_corpus_draws_no_series_warning():
    """Each corpus posting reviewed alone, as `reviewkit review FILE` does: one
    patch of an N/M series draws the partial-input note and nothing else at
    series level; a patch sent alone draws no series finding above info."""
    seen_partial = 0
    for path in CORPUS_MESSAGES:
        rep = review(path)
        series = [(f.rule, f.severity) for f in rep.findings if f.rule.startswith("series/")]
        assert len(rep.series.patches) == 1, path.name
        if (rep.series.total or 1) > 1:
            seen_partial += 1
            assert series == [("series/partial-input", "info")], (path.name, series)
        else:
            assert all(sev == "info" for _, sev in series), (path.name, series)
    assert seen_partial >= 10  # most of the corpus is one patch of a series



@pytest.mark.parametrize("path", SINGLE_PATCHES_OF_A_SERIES, ids=lambda p: p.name)
def test_one_patch_of_a_series_draws_one_note_and_no_series_warning(path):
    rep = review(path)
    series = [f for f in rep.findings if f.rule.startswith("series/")]
    assert [(f.rule, f.severity) for f in series] == [("series/partial-input", "info")]
    s = rep.series
    (p,) = s.patches
    assert series[0].message.startswith(f"reviewing {p.index}/{s.total} alone; fetch the thread")
    assert p.message_id in series[0].message


def test_part_of_a_thread_without_its_cover_letter_is_a_note(tmp_path):
    msgs = seed_messages()  # cover, 1/4 .. 4/4
    mbox = tmp_path / "two.mbox"
    mbox.write_bytes(join_messages([msgs[1], msgs[3]]))
    rep = review(mbox)
    assert [f.message for f in rep.findings if f.rule.startswith("series/")] == [
        f"reviewing 1/4, 3/4 of 4; fetch the thread for series checks "
        f"(reviewkit review 20210915181456.10739-2-peterx@redhat.com)."]


def test_a_whole_series_with_a_missing_patch_still_warns(tmp_path):
    msgs = seed_messages()
    mbox = tmp_path / "no-3.mbox"
    mbox.write_bytes(join_messages(msgs[:3] + msgs[4:]))  # the cover letter claims 4
    rep = review(mbox)
    missing = [f for f in rep.findings if f.rule == "series/missing-patches"]
    assert [(f.severity, f.confidence) for f in missing] == [("warning", "high")]
    assert missing[0].message.startswith("3/4 did not arrive")
    assert not [r for r, _ in rules_of(rep) if r in ("series/partial-input",
                                                      "series/cover-letter-missing")]


@pytest.mark.parametrize("slug,expected", [
    # stand-alone vN patches: the changelog is expected below '---'
    ("hugetlb-mcopy-temp-page", [("series/changelog-missing", "info", None)]),  # none there
    ("gup-longterm-error-leaves-pins", []),   # "Changes for v2:"
    ("mprotect-softdirty-inverted", []),      # "v2 -> v3:"
])
def test_a_stand_alone_revision_without_a_changelog_is_a_note(slug, expected):
    rep = review(CORPUS / "buggy" / f"{slug}.eml")
    assert rep.series.version > 1 and rep.series.total in (None, 1)
    assert [(f.rule, f.severity, f.patch) for f in rep.findings
            if f.rule.startswith("series/")] == expected


def test_a_cover_letter_without_a_changelog_is_a_note(tmp_path):
    msgs = seed_messages()
    cover = msgs[0]
    # the v4 cover letter keeps its history under "v4:", "v3:", "v2:"
    head, rest = cover.split(b"\nv4:\n", 1)
    cut = head + b"\n" + rest[rest.index(b"===== v1 cover letter"):]
    whole = review(_mbox(tmp_path / "with.mbox", msgs))
    assert "series/changelog-missing" not in [f.rule for f in whole.findings]
    rep = review(_mbox(tmp_path / "without.mbox", [cut] + msgs[1:]))
    assert [(f.severity, f.patch) for f in rep.findings
            if f.rule == "series/changelog-missing"] == [("info", 0)]
    assert rep.at_or_above(DEFAULT_FAIL_ON) == whole.at_or_above(DEFAULT_FAIL_ON)


def _mbox(path, msgs):
    path.write_bytes(join_messages(msgs))
    return path


def test_b4_am_output_on_stdin_draws_no_cover_letter_warning(tmp_path):
    """b4 am -o - leaves the cover letter out: the patches alone are not a defect."""
    from loreserver import Archive, LoreServer

    archive = Archive("linux-mm")
    archive.add_mbox((SEED / "thread.mbox").read_bytes())
    srv = LoreServer(archive).start()
    try:
        env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"),
               "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_CONFIG_GLOBAL": "/dev/null"}
        b4 = Path(sys.executable).with_name("b4")
        am = subprocess.run([str(b4), "-c", f"b4.midmask={srv.base}/%s",
                             "-c", "b4.attestation-policy=off", "am", "-o", "-", V4_COVER],
                            env=env, capture_output=True, timeout=120)
    finally:
        srv.stop()
    assert am.returncode == 0, am.stderr.decode()
    subjects = re.findall(rb"(?m)^Subject: (\[PATCH v4 \d/4\])", am.stdout)
    assert subjects == [b"[PATCH v4 1/4]", b"[PATCH v4 2/4]", b"[PATCH v4 3/4]",
                        b"[PATCH v4 4/4]"]  # no 0/4
    proc = run_cli("review", "-", "-f", "json", input=am.stdout)
    rep = json.loads(proc.stdout)
    assert not [f for f in rep["findings"] if f["rule"].startswith("series/")]
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 3, 4]


def test_a_fetched_series_without_cover_letter_or_with_a_gap_warns(tmp_path, monkeypatch):
    """From an archive the thread is the whole series as sent: absence is real."""
    from loreserver import Archive, LoreServer

    for k, v in {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"),
                 "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "GIT_CONFIG_NOSYSTEM": "1",
                 "GIT_CONFIG_GLOBAL": "/dev/null",
                 "REVIEWKIT_CONFIG": str(tmp_path / "none.toml")}.items():
        monkeypatch.setenv(k, v)
    msgs = [m for _, m in split_bytes((SEED / "thread.mbox").read_bytes())]
    cover = [m for m in msgs if b"Subject: [PATCH v4 0/4]" in m]
    third = [m for m in msgs if b"Subject: [PATCH v4 3/4]" in m]
    assert len(cover) == 1 and len(third) == 1

    def series_findings(messages) -> set:
        archive = Archive("linux-mm")
        archive.add_mbox(join_messages(messages))
        srv = LoreServer(archive).start()
        cache = tempfile.mkdtemp(dir=tmp_path)  # a fresh cache: each archive is another thread
        try:
            rep = run_cli("review", "20210915181456.10739-2-peterx@redhat.com", "--lore-url",
                          srv.base, "-f", "json", env={"XDG_CACHE_HOME": cache})
        finally:
            srv.stop()
        return {(f["rule"], f["severity"]) for f in json.loads(rep.stdout)["findings"]
                if f["rule"].startswith("series/")}

    # 3/4 never reached the archive
    assert series_findings([m for m in msgs if m not in cover + third]) == {
        ("series/missing-patches", "warning")}
    # every patch, and no cover letter was sent: 2/4..4/4 (and the replies) are
    # threaded under 1/4, as git send-email threads a series without one
    first = [m for m in msgs if b"Subject: [PATCH v4 1/4]" in m]
    rethreaded = first + [m.replace(b"<" + V4_COVER.encode() + b">",
                                    b"<20210915181456.10739-2-peterx@redhat.com>")
                          for m in msgs if m not in cover + first]
    assert series_findings(rethreaded) == {("series/cover-letter-missing", "warning")}


def test_check_of_several_local_commits_draws_no_cover_letter_warning(tmp_path):
    r = tmp_path / "linux"
    (r / "mm").mkdir(parents=True)

    def git(*args):
        subprocess.run(["git", *args], cwd=r, check=True, capture_output=True)

    git("init", "-q", "-b", "work")
    git("config", "user.name", "Ada Reviewer")
    git("config", "user.email", "ada@example.org")
    (r / "mm" / "a.c").write_text("int a;\n")
    git("add", ".")
    git("commit", "-qm", "mm: base\n\nSigned-off-by: Ada Reviewer <ada@example.org>")
    for n in (1, 2, 3):
        (r / "mm" / "a.c").write_text(f"int a = {n};\n")
        git("commit", "-qam", f"mm: step {n}\n\nSigned-off-by: Ada Reviewer <ada@example.org>")
    proc = run_cli("check", "HEAD~3..HEAD", "-f", "json", cwd=r)
    rep = json.loads(proc.stdout)
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 3]
    assert rep["findings"] == [] and proc.returncode == 0


# -- the same message twice ------------------------------------------------------------

def test_the_same_message_id_twice_is_one_message():
    msgs = seed_messages()
    # 2/4 again, as the LKML copy of a cross-posted message: other list headers
    copy = msgs[2].replace(b"\nSubject:", b"\nList-Id: <linux-kernel.vger.kernel.org>"
                                           b"\nSubject:", 1)
    s = build_series([RawMessage(f"m{n}", m) for n, m in enumerate(msgs + [copy])])
    assert [p.index for p in s.patches] == [1, 2, 3, 4]
    assert s.duplicates == () and list(s.all_diagnostics()) == []


def test_a_readable_copy_wins_over_a_broken_one():
    msgs = seed_messages()
    broken = msgs[2][:msgs[2].index(b"@@ ")] + b"@@ -1,9 +1,9 @@\n context\n"
    s = build_series([RawMessage(f"m{n}", m)
                      for n, m in enumerate([msgs[0], msgs[1], broken] + msgs[2:])])
    assert [p.index for p in s.patches] == [1, 2, 3, 4]
    assert list(s.all_diagnostics()) == []


def test_a_broken_message_counts_against_its_own_revision(tmp_path):
    v4 = seed_messages()
    v3_2 = (v4[2].replace(b"[PATCH v4 2/4]", b"[PATCH v3 2/4]")
            .replace(b"Message-Id: <20210915181533.11188-1-peterx@redhat.com>",
                     b"Message-Id: <v3-broken-2@example.org>"))
    assert b"v3-broken-2@example.org" in v3_2
    v3_2 = v3_2[:v3_2.index(b"@@ ")] + b"@@ -1,9 +1,9 @@\n context\n"
    v3_1 = (v4[1].replace(b"[PATCH v4 1/4]", b"[PATCH v3 1/4]")
            .replace(b"Message-Id: <20210915181456.10739-2-peterx@redhat.com>",
                     b"Message-Id: <v3-1@example.org>"))
    mbox = tmp_path / "two-revisions.mbox"
    mbox.write_bytes(join_messages([v3_1, v3_2] + v4))
    newest = review(mbox)
    assert newest.series.version == 4
    assert "input/broken-message" not in [f.rule for f in newest.findings]
    older = review(mbox, revision=3)
    broken = [f for f in older.findings if f.rule == "input/broken-message"]
    assert [f.patch for f in broken] == [2]
    # it arrived, broken: not also "missing"; and v3 has no cover letter here
    assert "series/missing-patches" not in [f.rule for f in older.findings]


# -- trailers as git and checkpatch read them --------------------------------------------

def test_sign_off_followed_by_a_cc_paragraph_is_a_sign_off():
    # MIPS: "Signed-off-by: ...", a blank line, then "Cc: stable@vger.kernel.org"
    rep = review(TRAILERS / "sob-then-cc-stable.eml")
    (p,) = rep.series.patches
    assert [t.kind for t in p.trailers] == ["Fixes", "Signed-off-by", "Cc"]
    assert not [f for f in rep.findings if f.rule.startswith("commit/signed-off-by")]
    # the Fixes: without a subject is what checkpatch flags too
    assert rules_of(rep) == [("commit/fixes-malformed", 1)]


def test_a_corporate_footer_after_the_patch_hides_nothing():
    rep = review(TRAILERS / "footer-after-diff.eml")
    (p,) = rep.series.patches
    assert [f.path for f in p.files] == ["drivers/usb/core/driver.c",
                                          "drivers/usb/storage/usb.c"]
    assert [t.kind for t in p.trailers] == ["Signed-off-by"]
    assert rep.findings == ()


@pytest.mark.parametrize("name,author,first", [
    ("stable-review-in-body-from.eml", "Hugh Dickins <hughd@google.com>",
     "[ Upstream commit 2da6de30e60d"),
    ("stable-quilt-secretmem.eml", "David Hildenbrand <david@redhat.com>",
     "commit 65291dcfcf89"),
])
def test_in_body_from_after_a_stable_review_preamble_is_the_author(name, author, first):
    rep = review(TRAILERS / name)
    (p,) = rep.series.patches
    assert str(p.author) == author
    assert not [f for f in rep.findings if f.rule.startswith("commit/")]
    assert p.commit_message.startswith(first)
    assert p.files


@pytest.mark.parametrize("message,kinds", [
    ("Body.\n\nSigned-off-by: A <a@x.org>\n\nLink: https://lore.kernel.org/r/1@x",
     ["Signed-off-by", "Link"]),
    ("Body.\n\nSigned-off-by: A <a@x.org>\n\nThis e-mail is confidential.\nDo not read it.",
     ["Signed-off-by"]),
    ("Body.\n\nFixes: 0123456789ab (\"x\")\nCc: <stable@vger.kernel.org>\n\n"
     "Signed-off-by: A <a@x.org>", ["Fixes", "Cc", "Signed-off-by"]),
    ("Body.\n\nSigned-off-by:A <a@x.org>", ["Signed-off-by"]),
    # a Link: inside prose is not a trailer block
    ("Body that says\nLink: https://x and goes on\nfor a few\nmore lines.\n\n"
     "Signed-off-by: A <a@x.org>", ["Signed-off-by"]),
    ("Body only, no trailers at all.", []),
])
def test_commit_trailers(message, kinds):
    assert [t.kind for t in commit_trailers(message)] == kinds


# -- severity and confidence, --fail-on, the summary line --------------------------------

RULE = """\
id: demo/{slug}
title: A test rule
severity: error
confidence: {confidence}
scope: line
message: "found {{text}}"
docs: {{what: w, why: y, fix: f, false-positives: none}}
references: []
match:
  added: 'EXPORT_SYMBOL_GPL\\('
examples:
  - name: fires
    expect: fire
    diff: |
      --- a/x.c
      +++ b/x.c
      @@ -1 +1 @@
      +EXPORT_SYMBOL_GPL(x); //~
  - name: silent
    expect: silent
    diff: |
      --- a/x.c
      +++ b/x.c
      @@ -1 +1 @@
      +EXPORT_SYMBOL(x);
"""


def test_an_error_is_a_high_confidence_claim(tmp_path):
    from reviewkit import engine
    from reviewkit.engine.manifest import load_manifests

    for slug, conf in (("sure", "high"), ("unsure", "medium"), ("guess", "low")):
        (tmp_path / "demo").mkdir(exist_ok=True)
        (tmp_path / "demo" / f"{slug}.yaml").write_text(RULE.format(slug=slug, confidence=conf))
    rs = engine.build_ruleset(load_manifests(tmp_path), {})
    series = api.load_series(str(TRAILERS / "footer-after-diff.eml"))
    found = {f.rule: (f.severity, f.confidence, f.line)
             for f in engine.run(series, list(rs.rules), rs).findings}
    assert found == {"demo/sure": ("error", "high", 1926),
                     "demo/unsure": ("warning", "medium", 1926),
                     "demo/guess": ("warning", "low", 1926)}


def test_an_absence_claim_on_a_function_seen_in_part_is_info(tmp_path):
    # 1/4 of the seed with its mm/userfaultfd.c half cut away: SetPageDirty() leaves
    # shmem_mfill_atomic_pte(), which the hunk shows only in part, and nothing in
    # the patch dirties the PTE instead; "nothing left in the function marks the
    # page dirty" rests on the lines the patch does not show
    raw = (SEED / "01_patch_v4-1-4_shmem-unconditionally-set-pte-dirty.eml").read_bytes()
    cut = raw[:raw.index(b"diff --git a/mm/userfaultfd.c")] + b"-- \n2.31.1\n"
    src = tmp_path / "shmem-half.eml"
    src.write_bytes(cut)
    rep = review(src)
    (f,) = [f for f in rep.findings if f.rule == "mm/dirty-page-dirty-removed"]
    assert (f.severity, f.old_line) == ("info", 2427)
    # with the PTE dirtied by the same patch, the claim rests on what it shows
    whole = review(SEED / "01_patch_v4-1-4_shmem-unconditionally-set-pte-dirty.eml")
    (g,) = [f for f in whole.findings if f.rule == "mm/dirty-page-dirty-removed"]
    assert g.severity == "warning"


@pytest.mark.parametrize("fail_on,status", [
    ("warning", 1),          # a bare LEVEL is LEVEL:medium: the seed's warnings are medium
    ("warning:medium", 1),   # the default
    ("warning:high", 0),     # only the surest
    ("error", 0),
    ("info:medium", 1),
    ("never", 0),
])
def test_fail_on_level_and_confidence(fail_on, status):
    proc = run_cli("review", EXAMPLE, "-f", "terse", "--fail-on", fail_on)
    assert proc.returncode == status, (fail_on, proc.stderr)
    assert run_cli("review", EXAMPLE, "-f", "terse").returncode == 1


def test_fail_on_high_counts_high_confidence_warnings():
    # whitespace damage is a warning of high confidence
    assert run_cli("review", str(EDGE / "damaged.eml"), "--fail-on", "warning:high"
                   ).returncode == 1
    assert run_cli("review", str(EDGE / "damaged.eml"), "--fail-on", "error:high"
                   ).returncode == 0


@pytest.mark.parametrize("cmd", [["review", EXAMPLE], ["check"]])
def test_a_bad_fail_on_is_a_usage_error(cmd):
    proc = run_cli(*cmd, "--fail-on", "loud")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert err.startswith("reviewkit: error: --fail-on: 'loud' is not LEVEL[:CONFIDENCE]")


def test_summary_line_counts_every_finding():
    proc = run_cli("review", EXAMPLE, "-f", "terse")
    lines = proc.stdout.decode().splitlines()
    m = re.match(r"^total: (\d+) errors, (\d+) warnings, (\d+) infos$", lines[-1])
    assert m, lines[-1]
    sev = [re.match(r"^\S+(?: \(old\))?: (?:\[\d+/\d+\] )?(ERROR|WARNING|INFO):", ln).group(1)
           for ln in lines[:-1]]
    assert [int(x) for x in m.groups()] == [sev.count("ERROR"), sev.count("WARNING"),
                                            sev.count("INFO")]


# -- what the default --fail-on counts on real patches -------------------------------------

def test_a_hugetlb_entry_dirtied_unconditionally_is_not_the_read_only_dirty_pte_bug():
    # merged, never blamed: UFFDIO_COPY_MODE_WP for hugetlb always sets the huge pte
    # dirty; hugetlb GUP never reads a dirty bit as "COW already broken"
    clean = review(CORPUS / "clean" / "hugetlb-uffd-copy-mode-wp.eml")
    assert "mm/dirty-pte-mkdirty-unconditional" not in [f.rule for f in clean.findings]
    assert clean.at_or_above(DEFAULT_FAIL_ON) == []
    # the real positive (CVE-2022-2590): a pte of a page-cache page made dirty however
    # it is mapped
    buggy = review(CORPUS / "buggy" / "shmem-mfill-pte-dirty.eml")
    assert [(f.path, f.line, f.severity) for f in buggy.findings
            if f.rule == "mm/dirty-pte-mkdirty-unconditional"] == [
        ("mm/userfaultfd.c", 72, "warning")]


def test_a_skip_sense_zap_helper_is_a_naming_note_that_does_not_fail_a_run():
    path = CORPUS / "clean" / "zap-skip-check-mapping-helper.eml"
    rep = review(path)
    (f,) = [f for f in rep.findings if f.rule == "mm/zap-details-skip-helper-sense"]
    assert (f.severity, f.path, f.function) == ("info", "include/linux/mm.h",
                                                "zap_skip_check_mapping")
    assert rep.at_or_above(DEFAULT_FAIL_ON) == []
    assert run_cli("review", str(path), "-f", "terse").returncode == 0
    assert run_cli("review", str(path), "-f", "terse", "--fail-on", "info").returncode == 1


def test_no_bundled_rule_declares_an_error_it_cannot_report():
    # the engine reports an error only at high confidence; a manifest that declares
    # error at a lower confidence would be reported as a warning on every hit
    rs = api.ruleset()
    declared = [(r.id, str(r.severity), str(r.confidence)) for r in rs.rules]
    assert [d for d in declared if d[1] == "error" and d[2] != "high"] == []
    assert ("mm/cow-fork-shares-pinned-page", "warning", "medium") in declared
    assert ("mm/zap-details-deref-unchecked", "warning", "medium") in declared
