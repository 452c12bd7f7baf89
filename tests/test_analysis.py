"""The analysis layer the rules stand on: guards, paths, def-use, summaries,
diff-only reconstruction, frozen contexts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reviewkit.analysis import of, type_of
from reviewkit.analysis.facts import WRITABLE, WRPROTECT, writability
from reviewkit.analysis.summary import CallGraph, Summaries
from reviewkit.analysis.syntax import path_of
from reviewkit.engine.cfunc import complete_signature, parse_functions, partial_functions
from reviewkit.engine.context import FileImage, PatchContext, diff_only_changes


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


# -- one function stitched from several hunks (real postings, diff-only) ------------------

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def changed(slug_path: str, name: str, path: str | None = None):
    """The FunctionChange of ``name`` in a corpus message, as a rule sees it without a tree."""
    from reviewkit.parse.series import RawMessage, classify

    item = classify(RawMessage(slug_path, (CORPUS / slug_path).read_bytes()))
    assert item.patch is not None
    for change in diff_only_changes(item.patch):
        if path is not None and change.path != path:
            continue
        for fc in change.functions:
            if fc.name == name:
                return fc
    raise AssertionError(f"{name} not changed in {slug_path}")


def no_errors(fa) -> bool:
    todo = [fa.node]
    while todo:
        n = todo.pop()
        if n.type == "ERROR" or n.is_missing:
            return False
        todo.extend(n.children)
    return True


def call_on(fa, name: str, line: int):
    return next(c for c in fa.calls if c.name == name and c.line == line)


def guard_texts(fa, node) -> list[str]:
    return [g.text for g in fa.guards(node)]


def test_a_function_over_two_hunks_is_one_model_on_both_sides():
    # copy_present_pte() in "mm: Do early cow for pinned pages during fork() for ptes":
    # the first hunk opens the body and leaves it in the middle of a comment, the
    # second starts 18 lines further down and closes it
    fc = changed("buggy/fork-early-cow-non-anon.eml", "copy_present_pte")
    post, pre = of(fc.post), of(fc.pre)
    assert post is not None and pre is not None
    assert not post.complete and no_errors(post) and no_errors(pre)
    assert fc.post.unseen == ((882, 900),) and fc.pre.unseen == ((788, 806),)
    # the new signature is the one the hunk shows, return type from the line above
    assert post.return_type == "int" and [p[1] for p in post.params][-1] == "prealloc"
    # first hunk: the copy of a possibly pinned page, under its guards, in plain view
    copy = call_on(post, "copy_user_highpage", 854)
    texts = guard_texts(post, copy.node)
    assert "if (atomic_read(&src_mm->has_pinned) && page_maybe_dma_pinned(page))" in texts
    assert "if (is_cow_mapping(vm_flags))" in texts and "if (page)" in texts
    assert "if (!new_page) (left early)" in texts
    assert not post.context_unseen(copy.node)
    # second hunk: seen under its own guard, with the gap before it unseen
    clear = call_on(post, "pte_clear_uffd_wp", 902)
    assert guard_texts(post, clear.node)[0] == "if (!(vm_flags & VM_UFFD_WP))"
    assert post.context_unseen(clear.node) and post.after_gap(clear.node)
    assert [post.line(g) for g in post.gaps] == [882]
    # the old side: the page lookup and reference the patch moves, in its second hunk
    get = call_on(pre, "get_page", 812)
    assert guard_texts(pre, get.node) == ["if (page)"]
    assert pre.context_unseen(get.node)
    assert [c.line for c in pre.calls_to({"vm_normal_page"})] == [810]


def test_paths_through_a_gap_say_so():
    fc = changed("buggy/fork-early-cow-non-anon.eml", "copy_present_pte")
    post = of(fc.post)
    lookup = call_on(post, "vm_normal_page", 790)
    # the way out through the end of the function passes the unseen lines
    last = post.paths_to_exits(lookup.node, lambda s: s.line in (847, 862))
    assert [p[-2].line for p in last] == [905] and post.crosses_gap(last[0])
    # the early returns of the first hunk do not
    early = post.paths_to_exits(lookup.node, lambda s: s.line == 905)
    assert {p[-2].line for p in early} <= {847, 862} and early
    assert not any(post.crosses_gap(p) for p in early)
    assert [s.line for s in post.cfg.values() if s.kind == "unseen"] == [882]


def test_a_loop_opened_out_of_view_is_the_do_while_a_later_hunk_closes():
    fc = changed("buggy/fork-early-cow-non-anon.eml", "copy_pte_range")
    post = of(fc.post)
    assert post is not None and no_errors(post) and no_errors(of(fc.pre))
    c = call_on(post, "copy_present_pte", 981)
    loop = c.node
    while loop.type != "do_statement":
        loop = loop.parent
    assert post.line(loop) in post.synthetic_lines  # its "do {" is unseen
    assert post.context_unseen(c.node)
    put = call_on(post, "put_page", 1027)
    assert guard_texts(post, put.node) == ["if (unlikely(prealloc))"]
    # the parameters come from the hunk header, cut off where git cut it
    assert [p[1] for p in post.params] == ["dst_mm", "src_mm"]


def test_a_renamed_function_is_followed_into_the_next_hunk_after_the_patch():
    # git names the second hunk after the pre-image's zap_present_pte()
    fc = changed("buggy/zap-pte-batch-overcount.eml", "zap_present_ptes")
    post = of(fc.post)
    assert post is not None and no_errors(post)
    assert {c.name for c in post.calls} >= {"vm_normal_page", "folio_pte_batch",
                                            "zap_present_folio_ptes"}
    batch = call_on(post, "folio_pte_batch", 1622)
    assert guard_texts(post, batch.node)[0].startswith("if (unlikely(folio_test_large(folio)")
    # before the patch it is zap_present_pte(), which no longer exists after it
    old = changed("buggy/zap-pte-batch-overcount.eml", "zap_present_pte")
    assert old.post is None and of(old.pre) is not None


def test_the_body_of_an_unseen_if_is_not_taken_for_a_plain_statement():
    # zap_pte_range(): a hunk opens with "break;", the body of an if the patch does not show
    fc = changed("buggy/zap-pte-batch-overcount.eml", "zap_pte_range")
    post = of(fc.post)
    assert post is not None and no_errors(post)
    brk = next(n for n in post.nodes_on(1668) if n.type == "break_statement")
    assert brk.parent.type == "if_statement" and post.line(brk.parent) in post.synthetic_lines
    zap = call_on(post, "zap_present_ptes", 1672)
    assert any(s.line == 1672 for s in post.reachable(
        next(n for n in post.nodes_on(1664) if n.type == "call_expression")))
    assert guard_texts(post, zap.node)[0] == "if (pte_present(ptent))"


def test_an_absence_claim_over_a_gap_is_low_confidence():
    # hugetlb_mcopy_atomic_pte() after "mm/hugetlb: Take care of UFFDIO_COPY_MODE_WP": the
    # unconditional huge_pte_mkdirty() follows lines the patch does not show, where a
    # test may stand
    from reviewkit import api

    fc = changed("clean/hugetlb-uffd-copy-mode-wp.eml", "hugetlb_mcopy_atomic_pte",
                 "mm/hugetlb.c")
    post = of(fc.post)
    mk = next(c for c in post.calls if c.name == "huge_pte_mkdirty")
    assert post.context_unseen(mk.node)
    # while the test the patch keeps in view, before the gap, is seen as it is
    wp = next(c for c in post.calls if c.name == "huge_pte_mkuffd_wp")
    assert guard_texts(post, wp.node)[0] == "if (wp_copy)"
    assert post.context_unseen(wp.node)  # the gap at 5938 is before it too
    first = next(c for c in post.calls if c.name == "hstate_vma")
    assert not post.context_unseen(first.node)
    report = api.review(str(CORPUS / "clean/hugetlb-uffd-copy-mode-wp.eml"), api.Options())
    assert not [f for f in report.at_or_above("warning") if f.rule.startswith("mm/")]


def test_statements_cut_at_a_hunk_edge_are_completed_or_left_out():
    fs = partial_functions(
        [[(10, "\tret = helper(a,"), ],
         [(20, "\t\t     b, c);"), (21, "\tif (ret &&"), ],
         [(30, "\t * still the comment"), (31, "\t */"), (32, "\tfor (i = 0;"), ],
         [(40, "\t\tuse(i);"), (41, "\t}"), (42, "out:"), ]],
        ["static int f(struct vm_fault *vmf)"] * 4)
    assert [f.name for f in fs] == ["f"]
    fa = of(fs[0])
    assert fa is not None and no_errors(fa)
    assert [c.name for c in fa.calls] == ["helper", "use"]
    assert [n for n in fs[0].unseen] == [(11, 19), (22, 29), (33, 39)]
    use = call(fa, "use")
    loop = use.node
    while loop.type != "for_statement":
        loop = loop.parent
    assert fa.line(loop) == 32 and fa.context_unseen(use.node)
    assert [g.kind for g in fa.guards(use.node)][:1] == ["loop"]


# -- function models are built when a rule first asks -------------------------------------

def patch_context(slug_path: str) -> PatchContext:
    from reviewkit.parse.series import RawMessage, classify

    item = classify(RawMessage(slug_path, (CORPUS / slug_path).read_bytes()))
    return PatchContext(series=None, patch=item.patch, mode="diff-only",  # type: ignore
                        files=tuple(diff_only_changes(item.patch)))


def test_a_function_no_rule_asks_about_is_never_parsed():
    from reviewkit.checks.mm_balance import cow_early_copy_not_anon
    from reviewkit.engine.cfunc import parsed

    ctx = patch_context("buggy/fork-early-cow-non-anon.eml")
    changes = {fc.name: fc for fc in ctx.functions}  # where the changed lines are
    assert set(changes) >= {"copy_present_pte", "page_copy_prealloc", "copy_pte_range"}
    assert not any(parsed(f) for fc in changes.values() for f in (fc.pre, fc.post) if f)
    hits = list(cow_early_copy_not_anon(ctx))
    assert [h.line for h in hits] == [834]
    # the function with the page copy was parsed; those without one never were
    assert parsed(changes["copy_present_pte"].post)
    assert not parsed(changes["page_copy_prealloc"].post)
    assert not parsed(changes["copy_pte_range"].post)
    assert not any(parsed(f) for fc in changes.values() for f in (fc.pre,) if f)


def test_of_with_mentions_answers_without_parsing():
    from reviewkit.engine.cfunc import parsed

    ctx = patch_context("buggy/fork-early-cow-non-anon.eml")
    f = next(fc.post for fc in ctx.functions if fc.name == "page_copy_prealloc")
    assert f.mentions({"alloc_page_vma"}) and not f.mentions({"copy_user_highpage"})
    assert of(f, mentions={"copy_user_highpage"}) is None and not parsed(f)
    fa = of(f, mentions={"alloc_page_vma"})
    assert fa is not None and parsed(f)
    # a name that is not in the text at all is answered without walking the tree
    assert fa.calls_to({"copy_user_highpage"}) == [] and "calls" not in fa.__dict__
    assert [c.name for c in fa.calls_to({"alloc_page_vma"})] == ["alloc_page_vma"]


def test_the_call_graph_parses_only_the_definitions_it_is_asked_about():
    from reviewkit.engine.cfunc import parsed

    fs = parse_functions("int a(void) { return b(); }\nint b(void) { return c(); }\n"
                         "int c(void) { return 0; }\n")
    g = CallGraph(fs)
    assert g.callees("a") == {"b"}
    assert [parsed(f) for f in fs] == [True, False, False]
    assert Summaries(g, stop=frozenset()).reaches("a", frozenset({"c"}))
    assert all(parsed(f) for f in fs[:2])


MACRO_LOOPS = """\
int f(struct list_head *head, struct demo *d)
{
	struct demo *pos;
	int i;

	for (i = 0; i < 4; i++) {
		list_for_each_entry(pos, head, node) {
			if (pos->busy)
				break;
			touch(pos);
		}
		after_braced(i);
		list_for_each_entry(pos, head, node)
			if (pos->stop)
				break;
		after_bare(i);
	}
	return done(d);
}
"""


def test_loop_macros_are_loops_and_break_leaves_only_them():
    fa = fa_of(MACRO_LOOPS)
    lines = {s.line for s in fa.cfg.values()}
    assert {9, 10, 12, 14, 16} <= lines  # the braced body is in the graph
    for brk_line, after in ((9, 12), (15, 16)):
        brk = next(s for s in fa.cfg.values() if s.kind == "break" and s.line == brk_line)
        assert [fa.cfg[i].line for i in brk.succ] == [after]
    # the body may run again: from touch() the loop head comes round to it
    touch = call(fa, "touch")
    again = {s.line for s in fa.reachable(touch.node)}
    assert {7, 8} <= again
