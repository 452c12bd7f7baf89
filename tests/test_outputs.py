"""Renderers on the bundled seed series: golden files, reply drafts, HTML, b4, check."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reviewkit import api
from reviewkit.model import Person
from reviewkit.parse.mbox import split_bytes
from reviewkit.render import email_reply, html, json_report, terse
from reviewkit.render import text as text_render

from conftest import EDGE, REPO, SEED

EXAMPLE = "examples/zap-shmem-uffd-v4.mbox"
NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=timezone.utc)
SENDER = Person(name="Rev Iewer", email="rev@example.org")


@pytest.fixture(scope="module")
def report():
    import os

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return api.review(EXAMPLE)
    finally:
        os.chdir(cwd)


def drafts(report, min_severity: str = "warning") -> bytes:
    msgs = email_reply.build_replies(report, SENDER, min_severity=min_severity, now=NOW)
    return email_reply.to_mbox(msgs)


def test_golden_text_terse_json_email(report, golden):
    golden("seed.text", text_render.render(report))
    golden("seed.terse", terse.render(report))
    golden("seed.json", json_report.render(report))
    mbox = drafts(report).decode()
    golden("seed.email", re.sub(r"(?m)^Message-ID: <[^>]+>$", "Message-ID: <draft>", mbox))


def test_terse_lines_are_checkpatch_style(report):
    lines = terse.render(report).splitlines()
    # a removed line: its number is the old file's, and says so; every line names its patch
    assert lines[0].startswith(
        "mm/shmem.c:2427 (old): [1/4] WARNING:mm/dirty-page-dirty-removed: ")
    assert lines[1].startswith("mm/userfaultfd.c:72: [1/4] WARNING:")
    assert lines[2].startswith("include/linux/mm.h:1733: [4/4] INFO:")
    assert all(re.match(r"^[\w./-]+:\d+( \(old\))?: \[\d/4\] (ERROR|WARNING|INFO):"
                        r"[a-z]+/[a-z0-9-]+: \S", ln) for ln in lines[:-1])
    # the last line is checkpatch's summary, read by the same scripts
    assert lines[-1] == "total: 0 errors, 2 warnings, 1 infos"


def test_summary_line_ends_text_and_terse_output(cli):
    for fmt in ("text", "terse"):
        out = cli("review", str(EDGE / "missing-3of5.mbox"), "-f", fmt).stdout.decode()
        assert out.splitlines()[-1] == "total: 0 errors, 1 warnings, 0 infos", fmt
    clean = cli("review", str(EDGE / "rename.patch"), "-f", "terse")
    assert clean.stdout.decode() == "total: 0 errors, 0 warnings, 0 infos\n"


def test_terse_names_series_level_findings(cli):
    out = cli("review", str(EDGE / "missing-3of5.mbox"), "-f", "terse").stdout.decode()
    assert "series: WARNING:series/missing-patches: 3/5 did not arrive" in out


def test_reply_mbox_parses_back_with_threading_and_quotes(report, tmp_path):
    assert len(list(split_bytes(drafts(report)))) == 1  # only 1/4 has warnings at medium and above
    data = drafts(report, "info")  # 4/4's naming point is info
    msgs = [email.message_from_bytes(d, policy=email.policy.default)
            for _, d in split_bytes(data)]
    assert len(msgs) == 2
    p1, p4 = report.series.patches[0], report.series.patches[3]
    for msg, patch in ((msgs[0], p1), (msgs[1], p4)):
        assert msg["Subject"] == f"Re: {patch.subject.raw}"
        assert msg["In-Reply-To"] == f"<{patch.message_id}>"
        assert msg["References"].split()[-1] == f"<{patch.message_id}>"
        assert msg["References"].split()[0] == "<20210915181456.10739-1-peterx@redhat.com>"
        assert msg["To"] == "Peter Xu <peterx@redhat.com>"
        assert "hughd@google.com" in msg["Cc"] and "linux-mm@kvack.org" in msg["Cc"]
        assert "peterx@redhat.com" not in msg["Cc"]
        assert msg["From"] == "Rev Iewer <rev@example.org>"
        body = msg.get_content()
        assert body.startswith(f"On {email.utils.format_datetime(patch.date)}, Peter Xu wrote:\n")
        assert not re.search(r"(?m)^(Reviewed|Acked|Tested)-by:", body)
        for line in body.splitlines():
            assert line.startswith(">") or len(line) <= 72, line
        assert body.rstrip().endswith("[...]")
    b1 = msgs[0].get_content()
    assert "> -\tSetPageDirty(page);\n\nshmem_mfill_atomic_pte() no longer calls" in b1
    assert "> +\t_dst_pte = pte_mkdirty(_dst_pte);\n\nmfill_atomic_install_pte() now" in b1
    # only the relevant hunk lines are quoted, not the whole patch
    assert "unmap_mapping_pages" not in b1 and "zap_pte_range" not in b1
    b4 = msgs[1].get_content()
    assert "> +zap_skip_check_mapping(struct zap_details *details, struct page *page)" in b4
    # git's own mbox splitter takes it
    mbox = tmp_path / "drafts.mbox"
    mbox.write_bytes(data)
    out = subprocess.run(["git", "mailsplit", f"-o{tmp_path}", str(mbox)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"


def test_reply_drafts_from_the_cli(cli, tmp_path):
    d = tmp_path / "drafts"
    proc = cli("review", EXAMPLE, "-f", "email", "-o", str(d), "--from", "A <a@example.org>",
               "--email-min", "info:medium")  # 4/4's naming point is info
    assert proc.returncode == 1 and b"2 reply draft(s)" in proc.stderr
    files = sorted(p.name for p in d.iterdir())
    assert files == ["0001-re-patch-v4-1-4-mm-shmem-unconditionally-set-pte-dirty-in.eml",
                     "0002-re-patch-v4-4-4-mm-add-zap-skip-check-mapping-helper.eml"]
    parsed = email.message_from_bytes((d / files[0]).read_bytes())
    assert parsed["In-Reply-To"] == "<20210915181456.10739-2-peterx@redhat.com>"
    mbox = tmp_path / "r.mbox"
    cli("review", EXAMPLE, "-f", "email", "-o", str(mbox), "--from", "A <a@example.org>",
        "--email-min", "error")
    assert mbox.read_bytes() == b""  # no error-level findings: no drafts
    bad = cli("review", EXAMPLE, "-f", "email", "--email-min", "loud")
    assert bad.returncode == 2 and b"--email-min" in bad.stderr
    series = cli("review", str(EDGE / "missing-3of5.mbox"), "-f", "email",
                 "--from", "A <a@example.org>")
    msgs = [email.message_from_bytes(x) for _, x in split_bytes(series.stdout)]
    cover = [m for m in msgs if m["In-Reply-To"] == "<miss-0@example.org>"]
    assert len(cover) == 1 and "3/5 did not arrive" in cover[0].get_payload()


def test_sender_comes_from_git_config(cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Git User\n\temail = git@example.org\n")
    proc = cli("review", EXAMPLE, "-f", "email", env={"HOME": str(home),
                                                      "XDG_CONFIG_HOME": str(home / ".config")})
    assert b"From: Git User <git@example.org>" in proc.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("review", EXAMPLE, "-f", "email", cwd=REPO,
               env={"HOME": str(empty), "XDG_CONFIG_HOME": str(empty),
                    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
    assert none.returncode == 2 and b"--from" in none.stderr


def loaded_or_active(page: str) -> list[str]:
    """Elements that load something or run something, as a browser would parse them."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Scan(HTMLParser):
        in_style = False

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "link", "img", "iframe", "object", "embed", "video", "audio",
                       "source", "base", "frame", "svg", "math"):
                found.append(tag)
            for name, _ in attrs:
                if name in ("src", "srcset", "background", "poster") or name.startswith("on"):
                    found.append(f"{tag}[{name}]")
            self.in_style = tag == "style"

        def handle_endtag(self, tag):
            self.in_style = False

        def handle_data(self, data):
            if self.in_style and re.search(r"url\(|@import", data):
                found.append("style with url()/@import")

    Scan().feed(page)
    return found


def test_html_is_self_contained_and_escaped(report):
    page = html.render(report)
    assert loaded_or_active(page) == []
    assert page.count('class="finding ') == len(report.findings)
    hostile = api.review(str(EDGE / "hostile.patch"))
    page = html.render(hostile)
    assert loaded_or_active(page) == []
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "&lt;style&gt;body{display:none}&lt;/style&gt;" in page


chromium = pytest.importorskip("chromium")


@pytest.fixture(scope="module")
def browser():
    import os

    if chromium.chromium_binary() is None:
        why = "chromium is not installed (Debian package chromium)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    b = chromium.Browser()
    yield b
    b.quit()


ARTIFACTS = REPO / "test-artifacts"


def test_html_report_in_headless_chromium(report, browser, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(html.render(report), encoding="utf-8")
    browser.open(path.as_uri())
    assert browser.console_errors() == []
    assert browser.requests() == [path.as_uri()]  # the page itself, nothing else
    shown = browser.evaluate("""
        Array.from(document.querySelectorAll('.finding')).map(e => {
            const r = e.getBoundingClientRect();
            return [e.dataset.rule, e.dataset.line, r.width > 0 && r.height > 0];
        })""")
    rules = sorted({(r, ln) for r, ln, _ in shown})
    assert rules == sorted({(f.rule, "" if f.line is None else str(f.line))
                            for f in report.findings})
    assert all(visible for _, _, visible in shown)
    flagged = browser.evaluate("document.querySelectorAll('.code .flagged').length")
    assert flagged == len([f for f in report.findings if f.path])
    browser.screenshot(ARTIFACTS / "seed-report.png")
    assert (ARTIFACTS / "seed-report.png").stat().st_size > 10_000


def _at_width(browser, width: int, dark: bool = False) -> None:
    browser.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
                 deviceScaleFactor=1, mobile=False)
    browser.call("Emulation.setEmulatedMedia", features=[
        {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])


@pytest.mark.parametrize("width", [420, 1400])
def test_html_report_reads_at_phone_and_desktop_widths(report, browser, tmp_path, width):
    path = tmp_path / "report.html"
    path.write_text(html.render(report), encoding="utf-8")
    _at_width(browser, width)
    try:
        browser.open(path.as_uri())
        assert browser.console_errors() == []
        view = browser.evaluate("document.documentElement.clientWidth")
        # nothing sticks out of the page: the page itself never scrolls sideways
        assert browser.evaluate("document.documentElement.scrollWidth") <= view
        # tables are whole: every cell of the summary is inside the viewport
        assert browser.evaluate("""Math.max(...Array.from(document.querySelectorAll(
            '#summary th, #summary td')).filter(e => e.offsetParent)
            .map(e => e.getBoundingClientRect().right))""") <= view
        # code is one screen line per diff line and scrolls inside its own box
        lines = browser.evaluate("""Array.from(document.querySelectorAll('.code .l'))
            .filter(e => e.checkVisibility())
            .map(e => e.getClientRects().length === 1 && e.getBoundingClientRect().height < 25)""")
        assert len(lines) > 50 and all(lines)
        overflow = browser.evaluate("""Array.from(document.querySelectorAll('.code'))
            .filter(e => e.scrollWidth > e.clientWidth)
            .map(e => getComputedStyle(e).overflowX)""")
        assert set(overflow) <= {"auto", "scroll"}
        if width == 420:
            assert overflow, "at 420 px some kernel line is wider than the screen"
        # every finding links to the one before and after it, in page order
        nav = browser.evaluate("""Array.from(document.querySelectorAll('.finding')).map(e =>
            [e.id, (e.querySelector('a[rel=prev]') || {}).hash || null,
                   (e.querySelector('a[rel=next]') || {}).hash || null])""")
        ids = [n[0] for n in nav]
        assert len(ids) == len(report.findings) == len(set(ids))
        for k, (me, prev, nxt) in enumerate(nav):
            assert prev == (f"#{ids[k - 1]}" if k else None)
            assert nxt == (f"#{ids[k + 1]}" if k + 1 < len(ids) else None)
        # clean patches are folded, and their diff is not on screen
        folded = browser.evaluate("""Array.from(document.querySelectorAll('details.clean'))
            .map(d => [d.closest('section').id, d.open,
                       d.querySelector('.file').checkVisibility()])""")
        clean = [p.index for p in report.series.patches
                 if not any(f.patch == p.index for f in report.findings)]
        assert folded == [[f"patch-{i}", False, False] for i in clean]
        # the reply text of each finding: the quoted lines and the remark, one click
        # selects it all
        replies = browser.evaluate("""Array.from(document.querySelectorAll('.finding'))
            .map(e => { const pre = e.querySelector('pre.reply-text');
                        return [pre.textContent, getComputedStyle(pre).userSelect]; })""")
        assert [select for _, select in replies] == ["all"] * len(report.findings)
        assert "> -\tSetPageDirty(page);\n\nshmem_mfill_atomic_pte() no longer" in replies[0][0]
        # already raised: shown with the finding
        raised = browser.evaluate("""document.getElementById(
            document.querySelector('.finding[data-rule="mm/dirty-page-dirty-removed"]').id)
            .querySelector('p.raised').textContent""")
        assert raised.startswith("Already raised by Hugh Dickins, 2021-09-23")
        browser.screenshot(ARTIFACTS / f"seed-report-{width}.png")
        _at_width(browser, width, dark=True)
        browser.open(path.as_uri())
        bg = browser.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(22, 24, 27)"
        browser.screenshot(ARTIFACTS / f"seed-report-{width}-dark.png")
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")
        browser.call("Emulation.setEmulatedMedia", features=[])


def test_hostile_report_runs_nothing_in_chromium(browser, tmp_path):
    path = tmp_path / "hostile.html"
    path.write_text(html.render(api.review(str(EDGE / "hostile.patch"))), encoding="utf-8")
    browser.open(path.as_uri())
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.requests() == [path.as_uri()]
    assert browser.console_errors() == []
    title = browser.evaluate("document.querySelector('h1').textContent")
    assert '<script>window.__pwned=1</script> "><img src=x onerror="window.__pwned=2">' in title
    browser.screenshot(ARTIFACTS / "hostile-report.png")


def test_b4_parses_our_check_output():
    from b4.review.checks import run_perpatch_checks

    raw = (SEED / "01_patch_v4-1-4_shmem-unconditionally-set-pte-dirty.eml").read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    cmd = f"{sys.executable} -m reviewkit b4-check"
    results = run_perpatch_checks([("p1", msg)], [cmd], str(REPO))
    (res,) = results["p1"]
    assert (res["tool"], res["status"]) == ("reviewkit", "warn")
    assert res["summary"].startswith("2 warnings")
    assert res["url"] == "https://lore.kernel.org/all/20210915181456.10739-2-peterx@redhat.com/"
    details = json.loads(res["details"])
    assert [d["description"].split(": ")[0:2] for d in details] == [
        ["WARNING:mm/dirty-page-dirty-removed", "mm/shmem.c:2427 (old)"],
        ["WARNING:mm/dirty-pte-mkdirty-unconditional", "mm/userfaultfd.c:72"]]
    acked = email.message_from_bytes(
        (SEED / "02_patch_v4-2-4_clear-vmf-pte-after-pte_unmap_same.eml").read_bytes(),
        policy=email.policy.default)
    (ok,) = run_perpatch_checks([("p2", acked)], [cmd], str(REPO))["p2"]
    assert ok["status"] == "pass"
    # a lone patch is not a series missing its other patches
    assert "missing" not in ok["summary"]


def test_b4_check_on_bad_input(cli):
    proc = cli("b4-check", input=b"not a mail at all")
    out = json.loads(proc.stdout)
    assert proc.returncode == 0 and out[0]["tool"] == "reviewkit"
    assert out[0]["status"] == "fail" and "no mail headers" in out[0]["summary"]


def test_template_override_from_config(cli, tmp_path):
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "text.j2").write_text("custom: {{ series.subject }} ({{ counts.warning }} warnings)\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'templates-dir = "{tdir}"\n')
    out = cli("review", EXAMPLE, env={"REVIEWKIT_CONFIG": str(cfg)})
    assert out.stdout.decode() == (
        "custom: mm: A few cleanup patches around zap, shmem and uffd (2 warnings)\n")
    (tdir / "text.j2").write_text("{{ no_such_variable }}\n")
    bad = cli("review", EXAMPLE, env={"REVIEWKIT_CONFIG": str(cfg)})
    assert bad.returncode == 2 and b"no_such_variable" in bad.stderr
    assert b"Traceback" not in bad.stderr
    cfg.write_text('colour = "pink"\n')
    wrong = cli("review", EXAMPLE, env={"REVIEWKIT_CONFIG": str(cfg)})
    assert wrong.returncode == 2 and b"unknown configuration key" in wrong.stderr


def test_colour_only_on_a_terminal_and_never_with_no_color(report):
    coloured = text_render.render(report, colour=True)
    assert "\033[1;33mWARNING\033[0m" in coloured
    assert "\033[" not in text_render.render(report, colour=False)

    class Tty:
        def isatty(self):
            return True

    import os
    old = os.environ.pop("NO_COLOR", None)
    try:
        assert text_render.use_colour(Tty())
        os.environ["NO_COLOR"] = "1"
        assert not text_render.use_colour(Tty())
    finally:
        os.environ.pop("NO_COLOR", None)
        if old is not None:
            os.environ["NO_COLOR"] = old


def test_html_shows_the_comparison_with_an_earlier_revision(tmp_path):
    both = tmp_path / "both.mbox"
    both.write_bytes((REPO / "tests" / "fixtures" / "lore" / "zap-v3-thread.mbox").read_bytes()
                     + (REPO / EXAMPLE).read_bytes())
    rep = api.review(str(both))
    page = html.render(rep)
    assert '<section id="comparison">' in page and "<h2>Since v3</h2>" in page
    rows = re.findall(r"<tr><td>(\d)</td><td>(\w+)</td>", page.split('id="comparison"')[1])
    assert rows == [("1", "unchanged"), ("2", "unchanged"), ("3", "changed"), ("4", "unchanged")]
    assert loaded_or_active(page) == []
