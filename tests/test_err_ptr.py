"""mm/err-ptr-tested-for-null and mm/err-ptr-reaches-use on real kernel code.

Linux 6.1's filemap_fault() is written against the NULL contract of
__filemap_get_folio() and stays quiet.  Converted the way commit 66dabbb65d67
("mm: return an ERR_PTR from __filemap_get_folio", 6.3) converted it, its error
path jumps to the shared exit label, whose ``if (folio) folio_put(folio)`` then
puts the error pointer (syzbot; fixed by "filemap: fix the conditional
folio_put in filemap_fault"): the finding sits on that folio_put().  With that
fix applied it is quiet again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewkit import api

from conftest import commit_as_added
from test_tree_mode import linux_tree

RULES = ("mm/err-ptr-tested-for-null", "mm/err-ptr-reaches-use")
FIXTURES = Path(__file__).parent / "fixtures" / "errptr"


def review_file(tmp_path: Path, name: str, text: str, rules=RULES):
    """``text`` committed as a new file mm/NAME and reviewed with ``rules``."""
    repo = commit_as_added(tmp_path, {f"mm/{name}": text})
    rep = api.review("HEAD", api.Options(cwd=repo, select=rules))
    return [(f.rule, f.function, f.line, f.severity) for f in rep.findings]


def _source(rel: str) -> str:
    p = linux_tree() / rel
    if not p.is_file():
        pytest.skip(f"re-run scripts/fetch-linux-source.sh: {rel} is missing")
    return p.read_text()


def _fault_only(text: str) -> str:
    """filemap_fault() of mm/filemap.c, alone."""
    start = text.index("vm_fault_t filemap_fault(struct vm_fault *vmf)\n{")
    end = text.index("EXPORT_SYMBOL(filemap_fault);", start)
    return text[start:end]


# the two hunks of 66dabbb65d67 in filemap_fault()
_CONVERT = [
    ("\tfolio = filemap_get_folio(mapping, index);\n\tif (likely(folio)) {",
     "\tfolio = filemap_get_folio(mapping, index);\n\tif (likely(!IS_ERR(folio))) {"),
    ("\t\t\t\t\t  vmf->gfp_mask);\n\t\tif (!folio) {\n\t\t\tif (fpin)\n\t\t\t\tgoto out_retry;",
     "\t\t\t\t\t  vmf->gfp_mask);\n\t\tif (IS_ERR(folio)) {\n\t\t\tif (fpin)\n\t\t\t\tgoto out_retry;"),
]

# "filemap: fix the conditional folio_put in filemap_fault"
_FIX = [
    ("\tif (!lock_folio_maybe_drop_mmap(vmf, folio, &fpin))\n\t\tgoto out_retry;",
     "\tif (!lock_folio_maybe_drop_mmap(vmf, folio, &fpin))\n\t\tgoto out_retry_put_folio;"),
    ("\tif (fpin) {\n\t\tfolio_unlock(folio);\n\t\tgoto out_retry;\n\t}",
     "\tif (fpin) {\n\t\tfolio_unlock(folio);\n\t\tgoto out_retry_put_folio;\n\t}"),
    ("\tif (fpin)\n\t\tgoto out_retry;\n\tfolio_put(folio);\n",
     "\tif (fpin)\n\t\tgoto out_retry_put_folio;\n\tfolio_put(folio);\n"),
    ("\treturn VM_FAULT_SIGBUS;\n\nout_retry:\n",
     "\treturn VM_FAULT_SIGBUS;\n\nout_retry_put_folio:\n\tfolio_put(folio);\nout_retry:\n"),
    ("\t */\n\tif (folio)\n\t\tfolio_put(folio);\n\tif (mapping_locked)",
     "\t */\n\tif (mapping_locked)"),
]


def _apply(text: str, edits) -> str:
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_filemap_fault_of_6_1_is_quiet(tmp_path):
    assert review_file(tmp_path, "filemap.c", _fault_only(_source("mm/filemap.c"))) == []


@pytest.mark.parametrize("renamed", [False, True])
def test_the_6_3_conversion_puts_the_error_pointer_at_the_shared_exit(tmp_path, renamed):
    text = _apply(_fault_only(_source("mm/filemap.c")), _CONVERT)
    if renamed:
        text = text.replace("folio)", "fo)").replace("folio,", "fo,").replace(
            "folio =", "fo =").replace("folio->", "fo->").replace("(folio", "(fo").replace(
            "out_retry", "bail")
    line = text.index("\tif (fo" if renamed else "\tif (folio)\n")
    line = text[:line].count("\n") + 2  # the folio_put() under it
    assert review_file(tmp_path, "filemap.c", text) == [
        ("mm/err-ptr-reaches-use", "filemap_fault", line, "warning")]


def test_with_the_fix_applied_it_is_quiet(tmp_path):
    text = _apply(_apply(_fault_only(_source("mm/filemap.c")), _CONVERT), _FIX)
    assert review_file(tmp_path, "filemap.c", text) == []


def test_a_null_test_left_behind_by_the_conversion_is_found(tmp_path):
    # only the second call converted: the first lookup's NULL test is the
    # old contract in a file that now shows the new one
    text = _apply(_fault_only(_source("mm/filemap.c")), _CONVERT[1:] + [])
    text = _apply(text, _FIX)
    found = review_file(tmp_path, "filemap.c", text)
    want = text[:text.index("\tif (likely(folio)) {")].count("\n") + 1
    assert found == [("mm/err-ptr-tested-for-null", "filemap_fault", want, "warning")]


def test_the_real_fix_posting_is_quiet():
    mbox = FIXTURES / "filemap-fault-conditional-folio-put.eml"
    rep = api.review(str(mbox), api.Options(select=RULES))
    assert [f for f in rep.findings if f.severity in ("warning", "error")] == []
