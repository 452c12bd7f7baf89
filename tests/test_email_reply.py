"""Reply drafts safe to send: raw threading headers, drafts only where a reviewer
would write, each quote once, rule messages that name no one."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from reviewkit import api
from reviewkit.model import Person
from reviewkit.parse.mbox import split_bytes
from reviewkit.render import email_reply

from conftest import FIXTURES, REPO, SEED

NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=timezone.utc)
SENDER = Person(name="Rev Iewer", email="rev@example.org")
PATCHES = sorted(SEED.glob("0[1-4]_patch_*.eml"))


def drafts(source: Path) -> tuple[list[email.message.EmailMessage], bytes]:
    msgs = email_reply.build_replies(api.review(str(source)), SENDER, now=NOW)
    data = email_reply.to_mbox(msgs)
    parsed = [email.message_from_bytes(d, policy=email.policy.default)
              for _, d in split_bytes(data)]
    return parsed, data


def header_block(data: bytes) -> list[bytes]:
    return [part.split(b"\n\n", 1)[0] for part in data.split(b"From reviewkit ")[1:]]


def mailsplit(tmp_path: Path, data: bytes) -> int:
    mbox = tmp_path / "drafts.mbox"
    mbox.write_bytes(data)
    out = tmp_path / "split"
    out.mkdir(exist_ok=True)
    return int(subprocess.run(["git", "mailsplit", f"-o{out}", str(mbox)], capture_output=True,
                              text=True, check=True).stdout.strip())


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Ada Author", "-c",
                           "user.email=ada@example.org", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def format_patch(tmp_path):
    """A real `git format-patch` of a commit without Signed-off-by (a finding a
    reviewer writes about), in a directory with a long name."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "lib").mkdir()
    (repo / "lib" / "demo.c").write_text("int demo(void)\n{\n\treturn 0;\n}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "lib/demo: add demo")
    (repo / "lib" / "demo.c").write_text("int demo(void)\n{\n\treturn 1;\n}\n")
    git(repo, "commit", "-qam", "lib/demo: return one\n\nIt reads better.")

    def make(*args: str) -> Path:
        out = tmp_path / ("outgoing-patches-for-the-demo-library-" + "-".join(a.strip("-") for a in args)
                          + "x" * 40)
        git(repo, "format-patch", "-q", "-1", *args, "-o", str(out))
        return out
    return make


def test_format_patch_thread_gives_raw_message_ids(format_patch, tmp_path):
    d = format_patch("--thread")
    (patch_file,) = d.iterdir()
    msgid = re.search(r"(?mi)^Message-ID: <([^>]+)>", patch_file.read_text()).group(1)
    msgs, data = drafts(d)
    assert len(msgs) == 1
    (head,) = header_block(data)
    assert f"\nIn-Reply-To: <{msgid}>\n".encode() in head
    assert f"\nReferences: <{msgid}>".encode() in head
    assert b"=?" not in head
    assert msgs[0]["In-Reply-To"] == f"<{msgid}>"
    assert mailsplit(tmp_path, data) == 1


def test_a_patch_without_message_id_gets_no_made_up_threading(format_patch, tmp_path):
    d = format_patch()  # no --thread: no Message-ID in the file
    msgs, data = drafts(d)
    assert len(msgs) == 1
    (head,) = header_block(data)
    assert b"In-Reply-To" not in head and b"References" not in head and b"=?" not in head
    assert msgs[0]["Subject"] == "Re: [PATCH] lib/demo: return one"
    assert mailsplit(tmp_path, data) == 1


def test_long_message_ids_stay_whole_and_one_per_line(tmp_path):
    long_cover = "20210915181456.10739-1-" + "x" * 90 + "@redhat.com"
    long_patch = "20210915181456.10739-2-" + "y" * 90 + "@redhat.com"
    raw = PATCHES[0].read_bytes()
    raw = raw.replace(b"20210915181456.10739-1-peterx@redhat.com", long_cover.encode())
    raw = raw.replace(b"20210915181456.10739-2-peterx@redhat.com", long_patch.encode())
    src = tmp_path / "one.eml"
    src.write_bytes(raw)
    msgs, data = drafts(src)
    (head,) = header_block(data)
    assert f"\nIn-Reply-To: <{long_patch}>\n".encode() in head
    assert f"\nReferences: <{long_cover}>\n <{long_patch}>\n".encode() in head
    assert b"=?" not in head
    assert msgs[0]["References"].split() == [f"<{long_cover}>", f"<{long_patch}>"]
    assert mailsplit(tmp_path, data) == 1


def test_a_hostile_message_id_is_not_written_into_headers():
    from dataclasses import replace

    from reviewkit.render.templating import environment

    rep = api.review(str(PATCHES[0]))
    patch = rep.series.patches[0]
    evil = replace(patch, message_id="x@y>\nBcc: victim@example.org",
                   references=("ok@example.org", "a b@c", "<z@w>"))
    msg = email_reply.build_reply(evil, list(rep.findings), SENDER, environment(), NOW)
    head = email_reply._bytes(msg).split(b"\n\n", 1)[0]
    assert b"Bcc" not in head and b"In-Reply-To" not in head
    fine = replace(patch, references=("ok@example.org", "a b@c", "<z@w>"))
    head = email_reply._bytes(email_reply.build_reply(fine, list(rep.findings), SENDER,
                                                      environment(), NOW)).split(b"\n\n", 1)[0]
    assert f"References: <ok@example.org>\n <{patch.message_id}>\n".encode() in head


def test_no_hygiene_only_drafts(tmp_path):
    # 2/4 and 3/4 alone: clean patches; the series-level findings (other patches
    # and the cover letter not in the input) are about what was collected
    d = tmp_path / "two"
    d.mkdir()
    for p in PATCHES[1:3]:
        shutil.copy(p, d / p.name)
    rep = api.review(str(d))
    assert rep.findings and all(f.patch is None for f in rep.findings)
    assert email_reply.build_replies(rep, SENDER, now=NOW) == []
    # 1/4 alone: one draft, about its code, with nothing about the missing cover letter
    msgs, _ = drafts(PATCHES[0])
    assert len(msgs) == 1
    body = msgs[0].get_content()
    assert "SetPageDirty" in body
    assert "cover letter" not in body and "did not arrive" not in body


def test_each_quote_once(tmp_path):
    raw = PATCHES[0].read_text()
    raw = raw.replace("Signed-off-by: Peter Xu <peterx@redhat.com>\n", "")
    raw = raw.replace("Reviewed-by: Axel", 'Fixes: deadbeef ("mm: something")\nReviewed-by: Axel')
    src = tmp_path / "c1.eml"
    src.write_text(raw)
    rules = {f.rule for f in api.review(str(src)).findings}
    assert {"commit/signed-off-by-missing", "commit/fixes-malformed"} <= rules
    msgs, data = drafts(src)
    body = msgs[0].get_content()
    assert body.count('> Fixes: deadbeef ("mm: something")') == 1
    assert "No Signed-off-by:" in body and "is malformed" in body
    for msg in msgs + drafts(REPO / "examples" / "zap-shmem-uffd-v4.mbox")[0]:
        quotes = re.findall(r"(?m)(?:^>.*\n)+", msg.get_content())
        lines = [ln for q in quotes for ln in q.splitlines() if ln not in (">", "> [...]")]
        assert len(lines) == len(set(lines)), msg["Subject"]
    assert mailsplit(tmp_path, data) == 1


def test_rule_messages_name_no_one():
    """Credit lives in a rule's docs and references, not in the message a
    reviewer sends to someone else's series."""
    names = set()
    for path in list(FIXTURES.rglob("*.eml")) + list(FIXTURES.rglob("*.mbox")):
        for m in re.finditer(rb"(?mi)^(?:From|Reviewed-by|Acked-by|Cc):\s+\"?([A-Z][a-z]+(?: [A-Z]"
                             rb"\.?)* [A-Z][A-Za-z-]{3,})", path.read_bytes()):
            names.add(m.group(1).decode().split()[-1])
    assert {"Hildenbrand", "Dickins"} <= names
    for manifest in (REPO / "rules").rglob("*.yaml"):
        data = yaml.safe_load(manifest.read_text())
        if not isinstance(data, dict) or "message" not in data:
            continue
        said = [n for n in names if re.search(rf"\b{n}\b", data["message"])]
        assert said == [], f"{manifest.name} message names {said}"
