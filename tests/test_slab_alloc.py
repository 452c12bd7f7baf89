"""mm/slab-alloc-sized-by-page-count on real kernel code.

io_uring's io_pin_pages() of Linux 6.1 sizes its page array by a count made of
the user's buffer address and length, and pins that many pages: it uses
kvmalloc_array() and stays quiet.  The same function with kmalloc_array() draws
the finding on the allocation, whatever its locals are called; bounded by a
min() first, it is quiet again.
"""

from __future__ import annotations

import pytest

from test_err_ptr import _source, review_file

RULE = ("mm/slab-alloc-sized-by-page-count",)


def _pin_pages() -> str:
    text = _source("io_uring/rsrc.c")
    start = text.index("struct page **io_pin_pages(unsigned long ubuf")
    end = text.index("\n}\n", start) + 3
    return text[start:end]


_ALLOC = "\tpages = kvmalloc_array(nr_pages, sizeof(struct page *), GFP_KERNEL);"


def test_io_pin_pages_of_6_1_is_quiet(tmp_path):
    assert review_file(tmp_path, "pin.c", _pin_pages(), RULE) == []


@pytest.mark.parametrize("renamed", [False, True])
def test_a_kmalloc_array_as_long_as_the_pin_request_is_found(tmp_path, renamed):
    text = _pin_pages().replace(_ALLOC, _ALLOC.replace("kvmalloc_array", "kmalloc_array"))
    if renamed:
        text = text.replace("nr_pages", "want").replace("ubuf", "uaddr").replace(
            "io_pin_pages", "demo_pin")
    line = text[:text.index("= kmalloc_array(")].count("\n") + 1
    assert review_file(tmp_path, "pin.c", text, RULE) == [
        ("mm/slab-alloc-sized-by-page-count", "demo_pin" if renamed else "io_pin_pages",
         line, "warning")]


def test_a_count_bounded_first_is_quiet(tmp_path):
    text = _pin_pages().replace(_ALLOC, _ALLOC.replace("kvmalloc_array", "kmalloc_array"))
    text = text.replace("\tnr_pages = end - start;\n",
                        "\tnr_pages = min(end - start, 512UL);\n")
    assert review_file(tmp_path, "pin.c", text, RULE) == []


def test_a_parallel_array_of_a_callers_pages_is_found(tmp_path):
    text = """long demo_longterm(unsigned long nr_pages, struct page **pages)
{
\tstruct folio **folios;
\tunsigned long i;
\tlong ret;

\tfolios = kcalloc(nr_pages, sizeof(struct folio *), GFP_KERNEL);
\tif (!folios)
\t\treturn -ENOMEM;
\tfor (i = 0; i < nr_pages; i++)
\t\tfolios[i] = page_folio(pages[i]);
\tret = demo_move(folios, nr_pages);
\tkfree(folios);
\treturn ret;
}
"""
    assert review_file(tmp_path, "gup.c", text, RULE) == [
        ("mm/slab-alloc-sized-by-page-count", "demo_longterm", 7, "warning")]
    narrow = text.replace("unsigned long nr_pages", "u16 nr_pages")
    (tmp_path / "n").mkdir()
    assert review_file(tmp_path / "n", "gup.c", narrow, RULE) == []


def test_an_array_of_pointers_sized_by_a_parameter_alone_is_info(tmp_path):
    text = """struct page **demo_array(unsigned long nr_pages)
{
\treturn kmalloc_array(nr_pages, sizeof(struct page *), GFP_KERNEL);
}
"""
    assert review_file(tmp_path, "util.c", text, RULE) == [
        ("mm/slab-alloc-sized-by-page-count", "demo_array", 3, "info")]
