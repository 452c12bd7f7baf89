"""The analysis layer the rules stand on: guards, paths, def-use, summaries,
diff-only reconstruction, frozen contexts."""

from __future__ import annotations

import dataclasses

import pytest

from reviewkit.analysis import of, type_of
from reviewkit.analysis.facts import WRITABLE, WRPROTECT, writability
from reviewkit.analysis.summary import CallGraph, Summaries
from reviewkit.analysis.syntax import path_of
from reviewkit.engine.cfunc import complete_signature, parse_functions, partial_functions
from reviewkit.engine.context import FileImage, PatchContext


def fa_of(src: str, name: str | None = None):
    fs = parse_functions(src)
    f = next(f for f in fs if name is None or f.name == name)
    return of(f)


def call(fa, name: str):
    return next(c for c in fa.calls if c.name == name)


def guards(fa, name: str):
    return [(g.kind, g.polarity, g.text) for g in fa.guards(call(fa, name).node)]


SRC = """
int f(struct vm_fault *vmf, bool wp, int n)
{
	if (!vmf->pte)
		return -1;
	if (wp)
		a();
	else
		b();
	x = n > 2 ? c() : d();
	if (n && e())
		;
	switch (n) {
	case 1:
		g();
		break;
	}
	while (n--)
		h();
	return 0;
}
"""


def test_guards_carry_kind_and_polarity():
    fa = fa_of(SRC)
    assert guards(fa, "a")[0] == ("if", True, "if (wp)")
    assert guards(fa, "b")[0] == ("else", False, "if (wp)")
    assert guards(fa, "c")[0][:2] == ("ternary", True)
    assert guards(fa, "d")[0][:2] == ("ternary", False)
    assert guards(fa, "e")[0][:2] == ("and", True)
    assert guards(fa, "g")[0][:2] == ("case", True)
    assert guards(fa, "h")[0][:2] == ("loop", True)
    # the early return guards everything after it, with the opposite polarity
    assert ("exit", False, "if (!vmf->pte) (left early)") in guards(fa, "h")
    lit = [lit for g in fa.guards(call(fa, "h").node) if g.kind == "exit"
           for lit in g.literals()][0]
    assert lit.path == "vmf->pte" and lit.polarity and lit.necessary


def test_a_label_ends_what_an_early_exit_guards():
    fa = fa_of("""
int f(int x)
{
	if (x)
		goto out;
	a();
out:
	b();
	return 0;
}
""")
    assert guards(fa, "a") and not guards(fa, "b")


ACQ = """
int f(struct page **pages, int n)
{
	int got = pin_user_pages_fast(0, n, 0, pages);

	if (got < n)
		goto out;
	if (use(pages))
		return -1;
	unpin_user_pages(pages, got);
	return 0;
out:
	unpin_user_pages(pages, got);
	return -2;
}
"""


def test_paths_to_exits_find_the_one_that_misses_the_release():
    fa = fa_of(ACQ)
    pin = call(fa, "pin_user_pages_fast")

    def releases(s):
        return s.expr is not None and any(
            c.name == "unpin_user_pages" and s.expr.start_byte <= c.node.start_byte
            and c.node.end_byte <= s.expr.end_byte for c in fa.calls)

    leaks = fa.paths_to_exits(pin.node, releases)
    assert len(leaks) == 1
    assert leaks[0][-2].kind == "return" and "return -1" in leaks[0][-2].node.text.decode()
    fixed = fa_of(ACQ.replace("return -1;", "goto out;"))
    assert fixed.paths_to_exits(call(fixed, "pin_user_pages_fast").node, lambda s: any(
        c.name == "unpin_user_pages" and s.expr is not None
        and s.expr.start_byte <= c.node.start_byte <= s.expr.end_byte
        for c in fixed.calls)) == []


def test_def_use_with_field_paths_aliases_and_origins():
    fa = fa_of("""
int f(struct vm_area_struct *dst_vma, struct args *args, bool wp_copy)
{
	bool writable = dst_vma->vm_flags & VM_WRITE;
	pte_t *p = args->ptep;

	if (writable)
		x(*p);
	if (wp_copy)
		entry = pte_mkuffd_wp(entry);
	else
		entry = pte_mkwrite(entry);
	follow(&args->ptl);
	return 0;
}
""")
    assert fa.aliases("args->ptep") == {"args->ptep", "p"}
    assert [d.kind for d in fa.defs_of("args->ptl")] == ["address"]
    assert path_of(fa.uses_of("p")[0]) == "p"
    assert writability(fa, fa.uses_of("writable")[0]) == WRITABLE
    # wp_copy is not a writability test: under it the entry is write-protected
    assert writability(fa, fa.uses_of("wp_copy")[0]) == WRPROTECT
    assert fa.type_of("p") == "pte_t *"


def test_renaming_does_not_change_what_a_value_is():
    fa = fa_of("""
int f(struct vm_area_struct *v)
{
	bool zz = v->vm_flags & VM_WRITE;
	if (zz)
		a();
	return 0;
}
""")
    assert writability(fa, fa.uses_of("zz")[0]) == WRITABLE


def test_summaries_follow_helpers():
    fs = parse_functions("""
static bool keep_all(struct zap_details *d)
{
	if (!d)
		return true;
	return d->even_cows;
}
static bool skip_it(struct zap_details *d, struct page *page)
{
	if (!d || !page)
		return false;
	return d->mapping != page->mapping;
}
static void inner(struct page *page) { set_page_dirty(page); }
static void outer(struct page *page) { inner(page); }
static void loop_a(void) { loop_b(); }
static void loop_b(void) { loop_a(); }
""")
    s = Summaries(CallGraph(fs))
    assert s.returns_when_null("keep_all", 0) == "true"
    assert s.returns_when_null("skip_it", 0) == "false"
    assert s.returns_when_null("skip_it", 1) == "false"
    assert s.reaches("outer", frozenset({"set_page_dirty"}))
    assert not s.reaches("loop_a", frozenset({"set_page_dirty"}))
    assert s.returns_when_null("unknown", 0) is None


def test_truncated_signatures_keep_their_complete_parameters():
    assert complete_signature("int f(struct mm_struct *mm, pmd_t *pmd,") == \
        "int f(struct mm_struct *mm, pmd_t *pmd)"
    assert complete_signature("int f(struct mm_struct *mm, unsigned lo") == \
        "int f(struct mm_struct *mm)"
    assert complete_signature("static int f(void)") == "static int f(void)"
    f = partial_functions([[(70, "\tx = dst_mm->a;")]],
                          ["int f(struct mm_struct *dst_mm, pmd_t *dst_pmd,"])[0]
    assert [v.name for v in f.params] == ["dst_mm", "dst_pmd"]
    assert not f.complete and of(f) is not None


def test_signature_lines_the_hunk_shows_complete_the_header():
    f = partial_functions([[(10, "\t\tstruct zap_details *details)"), (11, "{"),
                            (12, "\tx = details->a;")]],
                          ["static void f(struct mmu_gather *tlb,"])[0]
    assert [v.name for v in f.params] == ["tlb", "details"]


def test_ifdef_variants_stay_apart():
    fs = partial_functions([[(100, "\tpte_unmap(vmf->pte);"), (101, "\treturn 0;"), (102, "}"),
                             (103, "#else"), (104, "static int w(struct vm_fault *vmf)"),
                             (105, "{"), (106, "\tuse(*vmf->pte);")]],
                           ["static int w(struct vm_fault *vmf)"])
    assert [f.name for f in fs] == ["w", "w"]
    assert fs[0].end < fs[1].start


def test_a_block_that_opens_above_the_hunk_is_unseen_context():
    f = partial_functions([[(10, "\t\tx = d->a;"), (11, "\t}"), (12, "\ty();")]],
                          ["static void f(struct zap_details *d)"])[0]
    fa = of(f)
    assert fa.context_unseen(call_or_node(fa, "d->a"))
    assert not fa.context_unseen(call(fa, "y").node)


def call_or_node(fa, text: str):
    return next(n for n in fa._all if n.text.decode() == text)


def test_types_come_from_signatures_in_view():
    fs = parse_functions("""
static bool keep(struct zap_details *d) { return d != 0; }
static void f(void) { keep(details); }
""")
    fa = of(next(f for f in fs if f.name == "f"))
    assert type_of(fa, "details", CallGraph(fs)) == "struct zap_details *"


def test_contexts_are_frozen():
    img = FileImage.from_text("mm/x.c", "int f(void)\n{\n\treturn 0;\n}\n")
    with pytest.raises(TypeError):
        img.lines[1] = "x"  # type: ignore[index]
    assert isinstance(img.functions, tuple)
    assert dataclasses.fields(PatchContext)
    ctx = PatchContext(series=None, patch=None, mode="diff-only", files=())  # type: ignore
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.files = ()  # type: ignore[misc]
