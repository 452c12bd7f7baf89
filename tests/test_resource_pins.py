"""mm/resource-earlier-pins-held-on-error on real kernel functions: mature 6.1
code that drops what it pinned stays quiet; the same code with its unpin taken
out of the error path draws the finding on the error return, whatever its
locals are called."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reviewkit import api

from conftest import commit_as_added
from test_tree_mode import linux_tree

RULE = "mm/resource-earlier-pins-held-on-error"


def review_file(tmp_path: Path, name: str, text: str):
    """``text`` committed as a new file mm/NAME and reviewed, this rule only."""
    repo = commit_as_added(tmp_path, {f"mm/{name}": text})
    rep = api.review("HEAD", api.Options(cwd=repo, select=(RULE,)))
    return [(f.function, f.line, f.severity) for f in rep.findings]


def _line_of(text: str, needle: str, after: str) -> int:
    start = text.index(after)
    return text[:text.index(needle, start)].count("\n") + 1


def _source(rel: str) -> str:
    p = linux_tree() / rel
    if not p.is_file():
        pytest.skip(f"re-run scripts/fetch-linux-source.sh: {rel} is missing")
    return p.read_text()


def test_a_short_pin_count_unpinned_on_the_error_path_is_quiet(tmp_path):
    # io_uring's io_pin_pages(): "if (pret > 0) unpin_user_pages(pages, pret);"
    assert review_file(tmp_path, "rsrc.c", _source("io_uring/rsrc.c")) == []


@pytest.mark.parametrize("renamed", [False, True])
def test_a_short_pin_count_left_pinned_draws_the_finding_on_the_error_return(
        tmp_path, renamed):
    text = _source("io_uring/rsrc.c")
    unpin = "\t\tif (pret > 0)\n\t\t\tunpin_user_pages(pages, pret);\n"
    assert text.count(unpin) == 1
    text = text.replace(unpin, "")
    if renamed:  # locals of any name: the finding follows what the code does
        head = text.index("struct page **io_pin_pages(")
        end = text.index("\n}\n", head)
        body = re.sub(r"\bpret\b", "got", text[head:end])
        body = re.sub(r"\bpages\b", "pv", body)
        text = text[:head] + body + text[end:]
        ret = "return pv;"
    else:
        ret = "return pages;"
    line = _line_of(text, ret, "io_pin_pages(unsigned long ubuf")
    assert review_file(tmp_path, "rsrc.c", text) == [("io_pin_pages", line, "warning")]


def test_a_loop_that_unwinds_earlier_pins_is_quiet(tmp_path):
    # qib's qib_get_user_pages(): a failed pin_user_pages() in a later round
    # jumps to bail_release, whose helper unpins the "got" pages taken so far
    assert review_file(tmp_path, "qib_user_pages.c",
                       _source("drivers/infiniband/hw/qib/qib_user_pages.c")) == []


def test_a_loop_whose_error_exit_skips_the_unwind_draws_the_finding(tmp_path):
    text = _source("drivers/infiniband/hw/qib/qib_user_pages.c")
    jump = "\t\t\tmmap_read_unlock(current->mm);\n\t\t\tgoto bail_release;\n"
    assert text.count(jump) == 1
    text = text.replace(jump, "\t\t\tmmap_read_unlock(current->mm);\n\t\t\tgoto bail;\n")
    line = _line_of(text, "return ret;", "bail:\n")
    assert review_file(tmp_path, "qib_user_pages.c", text) == [
        ("qib_get_user_pages", line, "warning")]


def test_a_new_error_exit_past_the_unpin_loop_breaks_the_longterm_contract():
    """The real posting that later needed "mm/gup: stop leaking pinned pages in low
    memory conditions": its new -EBUSY exits jump past the unpin loop of
    check_and_migrate_movable_pages(), whose every error return unpinned before."""
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    rep = api.review(str(corpus / "buggy" / "gup-longterm-error-leaves-pins.eml"))
    assert [(f.rule, f.path, f.line, f.function, f.severity) for f in rep.findings
            if f.rule.startswith("mm/")] == [
        ("mm/resource-pins-kept-on-new-error-return", "mm/gup.c", 2023,
         "check_and_migrate_movable_pages", "warning")]
    fix = api.review(str(corpus / "fix" / "gup-longterm-error-leaves-pins.eml"))
    assert not [f for f in fix.findings if f.rule.startswith("mm/")]
