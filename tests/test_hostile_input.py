"""Hostile and huge mail through the real CLI: no internal error, one bad header
costs only itself, and nothing from mail reaches the terminal raw."""

from __future__ import annotations

import base64
import json
import re

import pytest

from conftest import run_cli

BIDI = "\u202e"


def message(n: int, total: int = 4, *, subject: str | None = None, frm: str | None = None,
            mid: str | None = None, date: str = "Mon, 20 Sep 2021 10:00:00 +0000",
            headers: str = "", body: str = "", added: tuple[str, ...] = ()) -> str:
    subject = subject if subject is not None else f"[PATCH {n}/{total}] mm: change {n}"
    frm = frm or "Ada Example <ada@example.org>"
    mid = mid or f"<p{n}@example.org>"
    thread = "" if n == 1 or "In-Reply-To" in headers else \
        "In-Reply-To: <p1@example.org>\nReferences: <p1@example.org>\n"
    return (f"From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: {frm}\nSubject: {subject}\n"
            f"Date: {date}\nMessage-ID: {mid}\nTo: linux-mm@kvack.org\n"
            f"Cc: Bob Example <bob@example.org>\n{thread}{headers}"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            f"Change {n}.\n\nSigned-off-by: Ada Example <ada@example.org>\n---\n"
            f"diff --git a/mm/a{n}.c b/mm/a{n}.c\n--- a/mm/a{n}.c\n+++ b/mm/a{n}.c\n"
            f"@@ -1,3 +1,{3 + len(added)} @@\n int f{n}(void)\n-{{ set_page_dirty(page); }}\n"
            f"+{{ return 0; }}\n" + "".join(f"+{a}\n" for a in added) + f" /* end */\n{body}\n")


def series(bad: int | None = None, **kw) -> bytes:
    return "".join(message(n, **(kw if n == bad else {})) for n in range(1, 5)).encode()


def write(tmp_path, data: bytes, name: str = "s.mbox"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def review_json(path, *args) -> dict:
    proc = run_cli("review", str(path), "-f", "json", *args)
    err = proc.stderr.decode()
    assert proc.returncode in (0, 1), err
    assert "internal error" not in err and "Traceback" not in err
    return json.loads(proc.stdout)


def bad_headers(rep: dict) -> list[tuple]:
    return [(f["patch"], f["message"]) for f in rep["findings"] if f["rule"] == "input/bad-header"]


def drafts(tmp_path, path, *args) -> list[str]:
    out = tmp_path / "drafts"
    proc = run_cli("review", str(path), "-f", "email", "--email-min", "info:low",
                   "--from", "Rita Reviewer <rita@example.org>", "-o", str(out), *args)
    err = proc.stderr.decode()
    assert proc.returncode in (0, 1), err
    assert "internal error" not in err
    return [p.read_text(encoding="utf-8") for p in sorted(out.glob("*.eml"))]


@pytest.mark.parametrize("date", ["Mon, 20 Sep 99999 10:00:00 +0000",
                                  "Mon, 20 Sep 2021 10:00:00 +9999",
                                  "Mon, 20 Sep 0000 10:00:00 -2400",
                                  "99999999999999999999999"])
def test_unusable_date_is_a_finding_and_the_rest_is_reviewed(tmp_path, date):
    rep = review_json(write(tmp_path, series(2, date=date)))
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 3, 4]
    found = bad_headers(rep)
    assert len(found) == 1 and found[0][0] == 2 and "is not a usable date" in found[0][1]
    assert rep["series"]["patches"][1]["date"] is None if "date" in rep["series"]["patches"][1] \
        else True
    assert len(drafts(tmp_path, write(tmp_path, series(2, date=date)))) == 4


def test_encoded_word_with_a_line_break_in_from_keeps_every_draft(tmp_path):
    word = base64.b64encode(b"Eve\r\nBcc: victim@example.net").decode()
    path = write(tmp_path, series(2, frm=f"=?utf-8?b?{word}?= <eve@example.org>"))
    rep = review_json(path)
    assert rep["series"]["patches"][1]["author"] == {"name": "Eve Bcc: victim@example.net",
                                                    "email": "eve@example.org"}
    assert any(p == 2 and "control characters" in m for p, m in bad_headers(rep))
    mails = drafts(tmp_path, path)
    assert len(mails) == 4
    for mail in mails:
        head = mail.split("\n\n", 1)[0]
        assert not re.search(r"(?mi)^bcc:", head), head  # no header injected


def test_encoded_word_with_a_line_break_in_cc_keeps_every_draft(tmp_path):
    path = write(tmp_path, series(3, headers="Cc: =?utf-8?q?Eve=0D=0ABcc:_x@evil.example?= "
                                             "<eve@example.org>\n"))
    assert len(drafts(tmp_path, path)) == 4


def test_folded_message_ids_are_unfolded(tmp_path):
    path = write(tmp_path, series(2, mid="<p2@exa\n\tmple.org>",
                                  headers="In-Reply-To: <p1@exa\n\tmple.org>\n"
                                          "References: <p1@exa\n\tmple.org>\n"))
    rep = review_json(path)
    assert [p["message_id"] for p in rep["series"]["patches"]] == [
        f"p{n}@example.org" for n in (1, 2, 3, 4)]
    mail = next(m for m in drafts(tmp_path, path) if "mm: change 2" in m)
    assert "In-Reply-To: <p2@example.org>" in mail
    assert re.search(r"References: <p1@example.org>\s+<p2@example.org>", mail)


def test_control_characters_in_a_message_id_are_dropped(tmp_path):
    rep = review_json(write(tmp_path, series(2, mid="<p2\x1b[2J@example.org>")))
    assert rep["series"]["patches"][1]["message_id"] != "p2\x1b[2J@example.org"
    assert any(p == 2 and "unusable Message-ID" in m for p, m in bad_headers(rep))


@pytest.mark.parametrize("frm,cc", [
    ("Jörg Ämter <jörg@exämple.org>", None),
    ("Ada Example <ada@example.org>", "Cc: Jörg <joerg@bücher.example>, Zoë <zoë@example.org>\n"),
])
def test_non_ascii_addresses_keep_every_draft(tmp_path, frm, cc):
    path = write(tmp_path, series(2, frm=frm, headers=cc or ""))
    mails = drafts(tmp_path, path)
    assert len(mails) == 4
    if cc:  # the domain in IDNA; a local part no header can carry is left out
        mail = next(m for m in mails if "mm: change 2" in m)
        assert "joerg@xn--bcher-kva.example" in mail and "zoë" not in mail.split("\n\n")[0]


def test_huge_counter_is_a_finding_never_an_allocation(tmp_path):
    path = write(tmp_path, series(2, subject="[PATCH 1/100000000000] mm: not really"))
    rep = review_json(path)
    assert [p["message_id"] for p in rep["series"]["patches"]] == [
        "p1@example.org", "p3@example.org", "p4@example.org"]
    assert any("patch 1/100000000000: counter out of range" in m for _, m in bad_headers(rep))
    digits = write(tmp_path, series(2, subject="[PATCH 1/" + "9" * 1500 + "] mm: x"), "k.mbox")
    assert any("counter out of range" in m for _, m in bad_headers(review_json(digits)))
    long = write(tmp_path, series(2, subject="[PATCH 2/4] " + "[x] " * 100000 + "mm: x"), "l.mbox")
    assert any(p == 2 and "limits.subject-chars" in m for p, m in bad_headers(review_json(long)))


def test_bogus_huge_version_does_not_hide_the_real_patches(tmp_path):
    path = write(tmp_path, series(3, subject="[PATCH v99999999999999999999 3/4] mm: x"))
    rep = review_json(path)
    assert rep["series"]["version"] == 1
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 4]
    assert any("v99999999999999999999: out of range" in m for _, m in bad_headers(rep))


def test_hunk_over_the_limit_is_a_broken_message(tmp_path):
    body = "@@ -1,999999999999 +1,999999999999 @@\n x\n"
    rep = review_json(write(tmp_path, series(2, body=body)))
    broken = [f["message"] for f in rep["findings"] if f["rule"] == "input/broken-message"]
    assert broken and "limits.hunk-lines" in broken[0]
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 3, 4]


def test_limits_from_the_configuration(tmp_path):
    path = write(tmp_path, series(2, headers="Cc: a@example.org, b@example.org\n"))
    assert not bad_headers(review_json(path))
    cfg = tmp_path / "config.toml"
    cfg.write_text("[limits]\naddresses = 2\n")
    proc = run_cli("review", str(path), "-f", "json", env={"REVIEWKIT_CONFIG": str(cfg)})
    assert any(p == 2 and "more than 2 addresses" in m for p, m in bad_headers(
        json.loads(proc.stdout)))
    cfg.write_text("[limits]\ncounter = 3\n")  # every patch is n/4: none can be believed
    proc = run_cli("review", str(path), env={"REVIEWKIT_CONFIG": str(cfg)})
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and "counter out of range" in err


def test_no_control_character_from_mail_reaches_the_terminal(tmp_path):
    evil = f"mm: \x1b[2J\x1b[1A0 errors, all good {BIDI}evil"
    word = base64.b64encode(f"[PATCH 2/4] {evil}".encode()).decode()
    path = write(tmp_path, series(2, subject=f"=?utf-8?b?{word}?=",
                                  added=(f"int x; /* {BIDI} }} if (admin) {{ \u2066 */",)))
    for fmt in ("text", "terse"):
        for env in ({}, {"NO_COLOR": "", "FORCE_COLOR": "1"}):
            proc = run_cli("review", str(path), "-f", fmt, env=env)
            assert proc.returncode in (0, 1), proc.stderr
            out = proc.stdout.decode()
            assert "\x1b[2J" not in out and BIDI not in out and "\u2066" not in out
            if fmt == "text":
                assert "\\x1b[2J\\x1b[1A0 errors, all good \\u202eevil" in out
    proc = run_cli("review", str(path), "-f", "json")
    assert BIDI not in proc.stdout.decode() and "\\u202e" in proc.stdout.decode()
    assert json.loads(proc.stdout)["series"]["patches"][1]["subject"].endswith(f"{BIDI}evil")


def test_error_lines_escape_control_characters(tmp_path):
    proc = run_cli("review", str(tmp_path / "no\x1b[2Jsuch\u202efile"))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert "\x1b" not in err and BIDI not in err and "\\x1b[2J" in err and "\\u202e" in err


def test_html_marks_bidi_controls_in_diffs(tmp_path):
    path = write(tmp_path, series(2, added=(f"int x; /* {BIDI} */",)))
    out = tmp_path / "r.html"
    proc = run_cli("review", str(path), "-f", "html", "-o", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    html = out.read_text(encoding="utf-8")
    assert BIDI not in html
    assert re.search(r'int x; /\* <span class="ctl" title="U\+202E[^"]*">U\+202E</span> \*/',
                     html)
    assert "U+000A" not in html  # line breaks of multi-line text are not controls here


def test_blank_line_after_the_last_hunk_renders_in_html(tmp_path):
    # git format-patch output with an empty line after the final hunk (the
    # shape of a real shmem patch that once ended in a template error)
    path = write(tmp_path, series(body="\n"))
    out = tmp_path / "r.html"
    proc = run_cli("review", str(path), "-f", "html", "-o", str(out))
    assert proc.returncode in (0, 1), proc.stderr.decode()
    assert "mm/a1.c" in out.read_text(encoding="utf-8")


def test_text_report_prints_every_finding_it_counts(tmp_path):
    data = series().decode().replace(" /* end */\n\nFrom mboxrd", "\nFrom mboxrd", 1)
    proc = run_cli("review", str(write(tmp_path, data.encode())))
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert "input/broken-message" in out and "shorter than its header says" in out
    total = re.search(r"(\d+) errors?, (\d+) warnings?, (\d+) info", out).groups()
    printed = len(re.findall(r"(?m)^    (ERROR|WARNING|INFO) ", out))
    assert printed == sum(int(n) for n in total)


def test_stdin_is_bounded(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[limits]\ninput-bytes = 1000\n")
    assert len(series()) > 2000
    proc = run_cli("review", "-", input=series(), env={"REVIEWKIT_CONFIG": str(cfg)})
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert "input larger than 1000 bytes (limits.input-bytes)" in err
    ok = run_cli("review", "-", "-f", "json", input=series())
    assert ok.returncode in (0, 1) and len(json.loads(ok.stdout)["series"]["patches"]) == 4


def test_message_over_the_size_limit_is_reported(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[limits]\nmessage-bytes = 2000\n")
    big = series(3, body="+" + "x" * 3000 + "\n")
    proc = run_cli("review", str(write(tmp_path, big)), "-f", "json",
                   env={"REVIEWKIT_CONFIG": str(cfg)})
    rep = json.loads(proc.stdout)
    assert [p["index"] for p in rep["series"]["patches"]] == [1, 2, 4]
    assert any("limits.message-bytes" in f["message"] for f in rep["findings"])


def test_over_long_header_is_cut_and_reported(tmp_path):
    many = ", ".join(f"user{n}@example.org" for n in range(20000))
    rep = review_json(write(tmp_path, series(2, headers=f"Cc: {many}\n")))
    assert any(p == 2 and "limits.header-bytes" in m for p, m in bad_headers(rep))
