"""C functions for rules: names, parameters, locals, calls, and a call graph.

Whole files (tree mode) and whole functions that a hunk carries are parsed
with tree-sitter-c.  Kernel attribute macros are blanked with spaces of the
same length first, so line and column numbers stay true.  A function that a
hunk shows only in part is described from the lines the hunk has, with the
name taken from its signature or the hunk header, and marked incomplete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

_ATTRS = re.compile(
    r"\b(__init|__exit|__initdata|__read_mostly|__rcu|__always_inline|noinline|__maybe_unused|"
    r"__weak|__must_check|__cold|__ref|__meminit|__user|__iomem|__force|__percpu|notrace|"
    r"__noreturn|__sched|__latent_entropy|__always_unused|__visible|asmlinkage|__kprobes|"
    r"__nocfi|__no_sanitize_address|__ro_after_init|__pure|__attribute_const__|__randomize_layout|"
    r"__releases\([^()]*\)|__acquires\([^()]*\)|__must_hold\([^()]*\)|"
    r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\))")
_KEYWORDS = frozenset({"if", "while", "for", "switch", "return", "sizeof", "else", "do",
                       "case", "goto", "typeof", "__typeof__", "defined", "alignof",
                       "_Alignof", "__builtin_expect", "offsetof"})
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
# a function definition starts at column 0: type words, then name(
_FUNC_START = re.compile(
    r"^(?!(?:if|for|while|switch|return|else|do|case|typedef|struct\s+\w+\s*\{|"
    r"EXPORT_SYMBOL|MODULE_|DEFINE_|module_|late_initcall|subsys_initcall|__setup)\b)"
    r"(?:[A-Za-z_][\w\s\*]*?[\s\*])?([A-Za-z_]\w*)\s*\(")


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a line holding only a return type (``static inline struct page *``)
_RETURN_TYPE = re.compile(r"^(?!(?:return|else|do|goto|case|typedef)\b)[A-Za-z_][\w \t]*[\w\*][ \t]*\**[ \t]*$")


@lru_cache(maxsize=65536)
def code(text: str) -> str:
    """The line without comments (block comments on the line, // tails)."""
    text = _BLOCK_COMMENT.sub(" ", text)
    if "//" in text:
        text = text.split("//", 1)[0]
    s = text.strip()
    if s.startswith(("*", "/*")):
        return ""
    return text



def identifiers(text: str) -> frozenset[str]:
    """Every identifier-like word of a text (comments and strings included)."""
    return frozenset(_IDENT.findall(text))


def blank_attributes(text: str) -> str:
    return _ATTRS.sub(lambda m: " " * len(m.group(0)), text)


@dataclass(frozen=True)
class Var:
    type: str  # e.g. "struct vm_area_struct *"
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    line: int
    args: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Function:
    name: str
    start: int  # 1-based first line (the signature)
    end: int  # 1-based last line (closing brace), or the last known line
    params: tuple[Var, ...] = ()
    locals: tuple[Var, ...] = ()
    calls: tuple[Call, ...] = ()
    lines: tuple[tuple[int, str], ...] = ()  # the known lines, in order
    complete: bool = True
    # the unseen lines between the parts of a partial function the hunks show (first, last)
    unseen: tuple[tuple[int, int], ...] = ()
    # (function_definition node, line of the parsed text's first line, lines the
    # reconstruction made up, tree): what reviewkit.analysis builds on
    syntax: tuple | None = field(default=None, compare=False, repr=False, hash=False)

    @property
    def text(self) -> str:
        return "\n".join(t for _, t in self.lines)

    def vars(self) -> tuple[Var, ...]:
        return self.params + self.locals

    def has_var_of_type(self, pattern: str) -> bool:
        rx = re.compile(pattern)
        return any(rx.search(v.type) for v in self.vars())

    def calls_to(self, *names: str) -> list[Call]:
        return [c for c in self.calls if c.name in names]

    def callees(self) -> set[str]:
        return {c.name for c in self.calls}

    def covers(self, line: int) -> bool:
        return self.start <= line <= self.end

    @cached_property
    def idents(self) -> frozenset[str]:
        """Every identifier in the lines the function is known by (and the hunk
        header it is named from), comments included: what it can possibly call."""
        src = "\n".join(t for _, t in self.lines) + "\n" + self.__dict__.get("_header", "")
        return frozenset(_IDENT.findall(src))

    def mentions(self, names: Iterable[str]) -> bool:
        """Whether any of ``names`` appears in the function's text: False means it
        calls none of them (without parsing it).  A function known only by name
        (no lines) may call anything."""
        if not self.lines:
            return True
        ids = self.idents
        return any(n in ids for n in names)

    @cached_property
    def _by_line(self) -> dict[int, str]:
        return dict(self.lines)

    def line_text(self, line: int) -> str | None:
        return self._by_line.get(line)


@lru_cache(maxsize=1)
def _language():
    import tree_sitter_c
    from tree_sitter import Language

    return Language(tree_sitter_c.language())


@lru_cache(maxsize=1)
def _parser():
    from tree_sitter import Parser

    return Parser(_language())


@lru_cache(maxsize=1)
def _query():
    from tree_sitter import Query

    return Query(_language(), """
        (call_expression function: (identifier) @fn arguments: (argument_list) @args) @call
        (declaration) @decl
    """)


def _node_text(node, src: bytes) -> str:
    return src[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _declarator_name(node, src: bytes) -> tuple[str | None, str]:
    """(identifier, pointer stars) of a declarator node."""
    stars = ""
    while node is not None:
        t = node.type
        if t in ("identifier", "field_identifier", "type_identifier"):
            return _node_text(node, src), stars
        if t == "pointer_declarator":
            stars += "*"
        if t == "function_declarator":
            node = node.child_by_field_name("declarator")
            continue
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            # parenthesized_declarator, array_declarator ... take the first named child
            nxt = next((c for c in node.named_children if c.type != "parameter_list"), None)
        node = nxt
    return None, stars


def _vars_of(decl, src: bytes) -> list[Var]:
    type_node = decl.child_by_field_name("type")
    if type_node is None:
        return []
    base = " ".join(_node_text(type_node, src).split())
    out = []
    for d in decl.children_by_field_name("declarator"):
        if d.type == "init_declarator":
            d = d.child_by_field_name("declarator")
        name, stars = _declarator_name(d, src)
        if name:
            out.append(Var(type=(base + " " + stars).strip(), name=name))
    return out


class _Parse:
    """What a function's parse gives, as (params, locals, calls, syntax): the syntax
    tree at once, the parameters, locals and calls (a query over the tree) only
    when one of them is first asked for — the analysis layer reads the tree."""

    __slots__ = ("_syntax", "_rest", "_more")

    def __init__(self, syntax: tuple | None, more) -> None:
        self._syntax = syntax
        self._rest: tuple | None = None
        self._more = more

    def __getitem__(self, i: int):
        if i == 3:
            return self._syntax
        if self._rest is None:
            self._rest = self._more()
            self._more = None
        return self._rest[i]


class _LazyFunction(Function):
    """A Function whose parse — parameters, locals, calls, syntax tree — is done the
    first time one of them is asked for: most functions an image holds are never
    looked at by any rule."""

    def _parsed(self) -> tuple:
        d = self.__dict__
        got = d.get("_parse")
        if got is None:
            got = d["_parse"] = d.pop("_build")()
        return got

    @property
    def params(self) -> tuple[Var, ...]:
        return self._parsed()[0]

    @property
    def locals(self) -> tuple[Var, ...]:
        return self._parsed()[1]

    @property
    def calls(self) -> tuple[Call, ...]:
        return self._parsed()[2]

    @property
    def syntax(self) -> tuple | None:
        return self._parsed()[3]

    @property
    def parsed(self) -> bool:
        return "_parse" in self.__dict__


def lazy_function(build, *, name: str, start: int, end: int,
                  lines: tuple[tuple[int, str], ...], complete: bool,
                  unseen: tuple[tuple[int, int], ...] = ()) -> Function:
    """A Function known by name, place and lines now; ``build()`` gives (params,
    locals, calls, syntax) when a rule first asks."""
    f = object.__new__(_LazyFunction)
    for k, v in (("name", name), ("start", start), ("end", end), ("lines", lines),
                 ("complete", complete), ("unseen", unseen), ("_build", build)):
        object.__setattr__(f, k, v)
    return f


def parsed(f: Function) -> bool:
    """Whether ``f``'s parse has been done (always, for one not built lazily)."""
    return getattr(f, "parsed", True)


def _function_from_node(node, src: bytes, line_texts: list[str], first: int,
                        tree=None) -> Function | None:
    decl = node.child_by_field_name("declarator")
    fdecl = decl
    while fdecl is not None and fdecl.type != "function_declarator":
        fdecl = fdecl.child_by_field_name("declarator")
    if fdecl is None:
        return None
    name, _ = _declarator_name(fdecl.child_by_field_name("declarator"), src)
    if not name:
        return None
    start, end = node.start_point[0] + first, node.end_point[0] + first

    def declared_and_called():
        from tree_sitter import QueryCursor

        params: list[Var] = []
        plist = fdecl.child_by_field_name("parameters")
        if plist is not None:
            for p in plist.named_children:
                if p.type == "parameter_declaration":
                    params.extend(_vars_of(p, src))
        locals_: list[Var] = []
        calls: list[Call] = []
        for _, caps in QueryCursor(_query()).matches(node):
            if "decl" in caps:
                locals_.extend(_vars_of(caps["decl"][0], src))
                continue
            call, fn, args = caps["call"][0], caps["fn"][0], caps["args"][0]
            arg_texts = tuple(" ".join(_node_text(a, src).split())
                              for a in args.named_children if a.type != "comment")
            calls.append(Call(name=_node_text(fn, src), line=call.start_point[0] + first,
                              args=arg_texts, text=" ".join(_node_text(call, src).split())))
        return tuple(params), tuple(locals_), tuple(sorted(calls, key=lambda c: c.line))

    def build():
        return _Parse((node, first, frozenset(), tree), declared_and_called)

    f = lazy_function(build, name=name, start=start, end=end,
                      lines=tuple((i, line_texts[i - first]) for i in range(start, end + 1)
                                  if i - first < len(line_texts)),
                      complete=True)
    object.__setattr__(f, "_node", node)
    return f


def closed_in_view(f: Function) -> bool:
    """Whether a function parsed from a fragment really ends there: its body's closing
    brace is in the text, at the start of a line (not one tree-sitter made up)."""
    node = f.__dict__.get("_node")
    if node is None:
        if f.syntax is None:
            return False
        node = f.syntax[0]
    body = node.child_by_field_name("body")
    if body is None or body.child_count == 0:
        return False
    last = body.children[-1]
    return last.type == "}" and not last.is_missing and last.start_point[1] == 0


def parse_functions(text: str, first_line: int = 1) -> list[Function]:
    """Every function definition in a C source text (including inside #ifdef blocks).

    ``first_line`` is the line number of the text's first line (for a fragment).
    The text is parsed at once; what each function holds (parameters, locals,
    calls) is read from the tree when first asked for.
    """
    src = blank_attributes(text).encode("utf-8", "replace")
    tree = _parser().parse(src)
    line_texts = text.split("\n")
    nodes = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            nodes.append(node)
            continue
        if node.type in ("translation_unit", "preproc_if", "preproc_ifdef", "preproc_else",
                         "preproc_elif", "preproc_elifdef", "linkage_specification",
                         "declaration_list", "ERROR"):
            stack.extend(node.children)
    nodes.sort(key=lambda n: n.start_byte)
    out = []
    for node in nodes:
        f = _function_from_node(node, src, line_texts, first_line, tree)
        if f is not None:
            out.append(f)
    return out


# --- functions seen only through a hunk ---------------------------------------------------

def function_start_name(line: str) -> str | None:
    """The function name when ``line`` opens a function definition at column 0."""
    if not line or line[0] in " \t#/*}{" or line.rstrip().endswith(";"):
        return None
    m = _FUNC_START.match(line)
    if not m:
        return None
    name = m.group(1)
    if name in _KEYWORDS or name.isupper():
        return None
    return name


@lru_cache(maxsize=4096)
def parse_signature_params(signature: str) -> tuple[Var, ...]:
    """Parameters of a signature text such as ``int f(struct vm_fault *vmf)``; a
    signature cut off (as hunk headers are) keeps its complete parameters."""
    sig = complete_signature(signature)
    if sig is None:
        return ()
    fns = parse_functions(sig + "\n{\n}\n")
    return fns[0].params if fns else ()


def complete_signature(signature: str) -> str | None:
    """A hunk header's signature made whole: a cut-off parameter list keeps its
    complete parameters and is closed (``int f(struct a *a, pmd_t *p,`` ->
    ``int f(struct a *a, pmd_t *p)``)."""
    sig = " ".join(code(signature).split()).rstrip("{ ").rstrip()
    open_at = sig.find("(")
    if open_at < 0:
        return None
    depth = 0
    last_comma = None
    for i in range(open_at, len(sig)):
        ch = sig[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return sig[:i + 1]
        elif ch == "," and depth == 1:
            last_comma = i
    if last_comma is None:
        return sig[:open_at] + "()"
    return sig[:last_comma] + ")"


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def _braces(text: str) -> tuple[int, int]:
    """(net change, lowest point) of the brace depth over a line of code."""
    c = _STRING.sub("", code(text))
    d = low = 0
    for ch in c:
        if ch == "{":
            d += 1
        elif ch == "}":
            d -= 1
            low = min(low, d)
    return d, low


@dataclass
class _Partial:
    name: str
    start: int
    header: str | None = None  # the hunk header's signature text, when that is all there is
    signature: list[tuple[int, str]] = field(default_factory=list)  # shown signature lines
    lines: list[tuple[int, str]] = field(default_factory=list)  # every shown line
    signature_done: bool = False
    header_lines: set[int] = field(default_factory=set)  # shown lines the header continues on


def _signature_closed(parts: list[str]) -> bool:
    s = _STRING.sub("", code(" ".join(parts)))
    return s.count("(") > 0 and s.count("(") <= s.count(")")


def partial_functions(hunk_lines: list[list[tuple[int, str]]], headers: list[str],
                      follow: list[bool] | None = None) -> list[Function]:
    """Functions as far as hunks show them, each parsed with tree-sitter.

    ``hunk_lines`` holds, per hunk, the (line number, text) pairs of one side;
    ``headers`` the hunk section headers (git's guess at the enclosing function).
    Parts of one function seen in several hunks are stitched into one (see
    :func:`_build_partial`); two definitions of one name (``#ifdef`` variants) are
    kept apart.  What the hunks do not show is completed so the text parses: the
    signature from the hunk header (cut-off parameter lists keep their complete
    parameters) plus the signature lines the hunk shows, the braces of blocks that
    open or close out of view, the code between two hunks as unseen statements.

    ``follow`` (from :func:`continued_hunks` of the other side) says which hunks go
    on with the function the hunk before left open: git names the function of a
    hunk from the pre-image, so after a hunk that renames a function the header
    still gives the old name.
    """
    found, _ = _scan(hunk_lines, headers, follow)
    out = []
    for p in found:
        f = _build_partial(p)
        if f is not None:
            out.append(f)
    return out


def continued_hunks(hunk_lines: list[list[tuple[int, str]]], headers: list[str]) -> list[bool]:
    """Per hunk: whether it goes on with the function the hunk before left open."""
    return _scan(hunk_lines, headers, None)[1]


def _scan(hunk_lines: list[list[tuple[int, str]]], headers: list[str],
          follow: list[bool] | None) -> tuple[list[_Partial], list[bool]]:
    found: list[_Partial] = []
    continued: list[bool] = []
    left_open: _Partial | None = None

    def last_named(name: str) -> _Partial | None:
        for p in reversed(found):
            if p.name == name:
                return p
        return None

    for i, (lines, header) in enumerate(zip(hunk_lines, headers)):
        current: _Partial | None = None
        hname = function_start_name(header.strip()) if header else None
        rest = lines
        if follow is not None and i < len(follow) and follow[i] and left_open is not None \
                and lines:
            current = left_open
        elif hname and lines:
            current = last_named(hname)
            if current is not None and current.lines and current.lines[-1][0] >= lines[0][0]:
                current = None  # not the same definition: an earlier one, or a variant
            if current is None:
                current = _Partial(name=hname, start=lines[0][0], header=header.strip())
                found.append(current)
                # the hunk may open with the rest of a signature the header cut off
                if not _signature_closed([header]):
                    parts = [header]
                    k = 0
                    while k < len(lines):
                        t = lines[k][1]
                        if function_start_name(t) or t.strip() == "{" or ";" in code(t):
                            break
                        parts.append(t)
                        k += 1
                        if _signature_closed(parts):
                            break
                    if _signature_closed(parts) and k:
                        current.header = " ".join(x.strip() for x in parts)
                        current.lines.extend(lines[:k])
                        current.header_lines = {n for n, _ in lines[:k]}
                        rest = lines[k:]
        if current is not None:
            current.signature_done = True  # the rest of a cut-off signature is unseen
        start_with = current
        prev: tuple[int, str] | None = None
        for n, t in rest:
            name = function_start_name(t)
            if name:
                sig = [(n, t)]
                if t.startswith(name) and prev is not None and prev[0] == n - 1 \
                        and _RETURN_TYPE.match(prev[1]):
                    # the return type on the line above, kernel style
                    sig.insert(0, prev)
                    if current is not None and current.lines and current.lines[-1] == prev:
                        current.lines.pop()
                current = _Partial(name=name, start=sig[0][0], signature=list(sig))
                current.signature_done = "{" in t or _signature_closed([t])
                current.lines.extend(sig)
                found.append(current)
                prev = (n, t)
                continue
            prev = (n, t)
            if current is None:
                continue
            if not current.signature_done:
                current.signature.append((n, t))
                if "{" in t or _signature_closed([x for _, x in current.signature]):
                    current.signature_done = True
            current.lines.append((n, t))
            if t.startswith("}"):
                current = None
        continued.append(start_with is not None and start_with is left_open)
        if lines:
            left_open = current
    return found, continued


# --- one function from the hunks that show parts of it ------------------------------------
#
# The hunks of one function are stitched into one text tree-sitter-c can parse.  Every run
# of shown lines (one hunk's side) gets an absolute block depth from the kernel's
# indentation, checked against its own braces; between two runs the unseen lines are
# represented by a marker statement (UNSEEN) at each depth the code passes, plus the braces
# that close or open there.  A run that ends mid-statement is completed (its open
# parentheses closed, a missing body given as a marker), a run that starts mid-statement or
# inside a comment has those lines left out, and an #if whose other half is unseen is
# dropped.  Everything the reconstruction writes stands on lines the patch does not show,
# which the function's ``syntax`` names as synthetic.

UNSEEN = "__reviewkit_unseen"
_UNSEEN_STMT = UNSEEN + ";"
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|\'(?:[^\'\\]|\\.)*\'?|/\*|//')
_COMMENT_BODY = re.compile(r"^\*(?:\s|$|/)")
_CONTROL = re.compile(r"^(?:\}\s*)?(?:(?:if|for|while|switch)\s*\(|else\b|do\b)")
_MACRO_HEAD = re.compile(r"^[A-Za-z_]\w*\s*\(")
_DO = re.compile(r"^\s*(?:\}\s*)?do\b")
_CASE = re.compile(r"^(?:case\b|default\s*:)")
_LABEL = re.compile(r"^[A-Za-z_]\w*\s*:(?!:)")
_CONTINUES = ("&&", "||", "?", "|", ".", "->", "+", ":")
_OPERAND_MISSING = "(,&|+-*/%<>=!?:~^"


def _strip_line(line: str, in_comment: bool) -> tuple[str, bool]:
    """The code of ``line`` (comments out, string contents emptied) and whether a block
    comment is still open at its end."""
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if in_comment:
            j = line.find("*/", i)
            if j < 0:
                return "".join(out), True
            out.append(" ")
            i, in_comment = j + 2, False
            continue
        m = _TOKENS.search(line, i)
        if m is None:
            out.append(line[i:])
            break
        out.append(line[i:m.start()])
        tok = m.group(0)
        if tok == "//":
            break
        if tok == "/*":
            in_comment = True
        else:
            out.append('""')
        i = m.end()
    return "".join(out), in_comment


def _ends_statement(code_text: str) -> bool:
    s = code_text.rstrip()
    return not s or s[-1] in ";{}:" or s.lstrip().startswith("#")


@dataclass
class _Run:
    """Consecutive shown lines of one function: what a hunk shows of it."""

    lines: list[tuple[int, str]]
    code: list[str] = field(default_factory=list)  # per line: the code the parse text holds
    keep: list[bool] = field(default_factory=list)  # False: left out of the parse text
    in_comment: bool = False  # a block comment is open at the run's end
    completion: str = ""  # what ends a statement the run leaves unfinished
    start: int = 1  # block depth before the first line
    end: int = 1  # block depth after the last line
    body_first: bool = False  # the run opens with the body of an unseen if/for/while
    label_last: bool = False  # the run ends with a label (or case) its statement unseen
    before: list[int] = field(default_factory=list)  # per line: depth before it, from start

    @property
    def first(self) -> int:
        return self.lines[0][0]

    @property
    def last(self) -> int:
        return self.lines[-1][0]


def _indent(text: str, spaces_per_level: int) -> int:
    level = 0
    col = 0
    for ch in text:
        if ch == "\t":
            level += 1
        elif ch == " ":
            col += 1
        else:
            break
    return level + col // spaces_per_level


def _prepare_run(run: _Run, signature: bool = False) -> None:
    lines = run.lines
    k = 0
    head = 0  # leading lines that close a comment opened above the hunk
    while k < len(lines):
        s = lines[k][1].strip()
        if "*/" in s and "/*" not in s.split("*/", 1)[0]:
            head = k + 1
            break
        if s and not _COMMENT_BODY.match(s):
            break
        k += 1
    state = False
    run.code, run.keep = [], []
    for i, (_, t) in enumerate(lines):
        if i < head:
            run.code.append("")
            run.keep.append(False)
            continue
        c, state = _strip_line(t, state)
        run.code.append(c)
        run.keep.append(True)
    run.in_comment = state
    # a statement begun above the hunk: its tail is left out
    first = next((i for i, c in enumerate(run.code) if c.strip()), None)
    if first is not None and not run.code[first].lstrip().startswith("#"):
        depth = low = 0
        end = None
        lead = run.code[first].lstrip()
        for i in range(first, len(lines)):
            c = run.code[i]
            depth += c.count("(") - c.count(")")
            low = min(low, depth)
            if _ends_statement(c) and c.strip():
                end = i
                break
        cont = lead.startswith(_CONTINUES) and not _CASE.match(lead) and not lead.startswith("::")
        if end is not None and (low < 0 or cont):
            for i in range(first, end + 1):
                run.code[i] = ""
                run.keep[i] = False
    # a statement the hunk leaves unfinished: completed so it parses
    last = next((i for i in range(len(lines) - 1, -1, -1) if run.code[i].strip()), None)
    # parentheses still open at the end (a for header cut after its first ";")
    p = 0
    opened_at = None
    for i, c in enumerate(run.code):
        for ch in c:
            if ch == "(":
                if p == 0:
                    opened_at = i
                p += 1
            elif ch == ")":
                p = max(p - 1, 0)
    if last is not None and p == 0 and (_LABEL.match(run.code[last].strip())
                                        or _CASE.match(run.code[last].strip())) \
            and run.code[last].rstrip().endswith(":"):
        run.label_last = True
    if last is None or (p == 0 and _ends_statement(run.code[last])):
        return
    if signature and not any("{" in c for c in run.code):
        return  # the signature, whose body opens out of view
    start = opened_at if p > 0 and opened_at is not None else last
    while start > 0:
        prev = next((i for i in range(start - 1, -1, -1) if run.code[i].strip()), None)
        if prev is None or _ends_statement(run.code[prev]):
            break
        start = prev
    stmt = " ".join(run.code[i].strip() for i in range(start, last + 1) if run.code[i].strip())
    depth = stmt.count("(") - stmt.count(")")
    if depth < 0:
        for i in range(start, last + 1):
            run.code[i] = ""
            run.keep[i] = False
        return
    done = ""
    if stmt.startswith("for") and depth > 0:
        inside = stmt[stmt.index("(") + 1:]
        semis = inside.count(";")
        if semis < 2:
            # the loop's condition is out of view, not absent
            done = (UNSEEN if stmt[-1] in _OPERAND_MISSING else "") + \
                (";" + UNSEEN + ";" if semis == 0 else " " + UNSEEN + ";")
        stmt += done
    if depth > 0:
        done += (UNSEEN if stmt[-1] in _OPERAND_MISSING else "") + ")" * depth
    elif stmt[-1] in _OPERAND_MISSING:
        done = UNSEEN
    if _CONTROL.match(stmt) or (_MACRO_HEAD.match(stmt) and "=" not in stmt
                                and (stmt + done).endswith(")")):
        done += " " + _UNSEEN_STMT
    else:
        done += ";"
    run.completion = done


def _place_run(run: _Run, spaces: int, *, opens_function: bool) -> None:
    """The run's block depth (before its first line, after its last) from its braces
    and the kernel's indentation."""
    rel = 0
    before: list[int] = []
    deltas: list[int] = []
    for c in run.code:
        before.append(rel)
        d = c.count("{") - c.count("}")
        deltas.append(d)
        rel += d
    anchor = None
    estimates: dict[int, int] = {}
    order: list[int] = []
    prev_ends = True
    for i, ((_, t), c) in enumerate(zip(run.lines, run.code)):
        s = c.strip()
        if not s:
            continue
        if t.startswith("{") and anchor is None:
            anchor = -before[i]  # the function's own brace: depth 0 before it
        if t.startswith("}"):
            anchor = -(before[i] + deltas[i])  # the function's end: depth 0 after it
            break
        statement = prev_ends
        prev_ends = _ends_statement(c)
        if not statement or s.startswith("#") or (t[:1] not in " \t" and _LABEL.match(s)):
            continue
        ind = _indent(t, spaces)
        est = ind + 1 - before[i] if s.startswith("}") or _CASE.match(s) else ind - before[i]
        if est not in estimates:
            order.append(est)
        estimates[est] = estimates.get(est, 0) + 1
    if opens_function:
        offset = 0
    elif anchor is not None:
        offset = anchor
    elif estimates:
        # the most common; on a tie the shallower (a deeper line is more likely the
        # body of an if without braces)
        offset = max(order, key=lambda e: (estimates[e], -e))
    else:
        offset = 1
    if not opens_function:
        # inside the body everywhere but after the function's own closing brace
        inner = [b for i, b in enumerate(before) if run.code[i].strip()
                 and not run.lines[i][1].startswith(("{", "}"))]
        if inner:
            offset = max(offset, 1 - min(inner))
        if anchor is None:
            offset = max(offset, 1 - rel)
    run.start = offset
    run.end = max(offset + rel, 0)
    run.before = before
    lead = next((i for i, c in enumerate(run.code) if c.strip()), None)
    if lead is not None and not opens_function:
        s = run.code[lead].strip()
        t = run.lines[lead][1]
        run.body_first = (_indent(t, spaces) == offset + 1 and before[lead] == 0
                          and s.endswith(";") and not s.startswith(("}", "#"))
                          and not _CASE.match(s) and not _LABEL.match(s))


def _openers(runs: list[_Run], j: int, outer: int, count: int) -> str:
    """The text that opens ``count`` blocks (their insides at depths ``outer`` + 1 ..
    ``outer`` + ``count``) before ``runs[j]``: ``do {`` for one a ``} while`` closes,
    ``if (UNSEEN) {`` before an ``} else``, ``switch`` for one holding case labels,
    else a plain block."""
    kinds = {}
    for k in range(outer + 1, outer + count + 1):
        kind = "{"
        for run in runs[j:]:
            if run.start < k:
                break  # closed where the hunks do not show
            closed = False
            for c, rel in zip(run.code, run.before):
                d = run.start + rel
                st = c.strip()
                if not st:
                    continue
                if d < k:
                    closed = True
                    break
                if d == k and st.startswith("}"):
                    rest = st[1:].lstrip()
                    if rest.startswith("while"):
                        kind = "do {"
                    elif rest.startswith("else"):
                        kind = "if (" + UNSEEN + ") {"
                    closed = True
                    break
                if d == k and _CASE.match(st) and kind == "{":
                    kind = "switch (" + UNSEEN + ") {"
            if closed or run.end < k:
                break
        kinds[k] = kind
    return " ".join(kinds[k] for k in range(outer + 1, outer + count + 1))


def _balance_preprocessor(text_by_line: dict[int, str]) -> None:
    """Leave out #if/#else/#endif lines whose other half the hunks do not show."""
    stack: list[list[int]] = []
    drop: list[int] = []
    for n in sorted(text_by_line):
        s = text_by_line[n].lstrip()
        if not s.startswith("#"):
            continue
        word = s[1:].lstrip().split(None, 1)[0] if s[1:].strip() else ""
        if word in ("if", "ifdef", "ifndef"):
            stack.append([n])
        elif word in ("else", "elif", "elifdef", "elifndef"):
            if stack:
                stack[-1].append(n)
            else:
                drop.append(n)
        elif word == "endif":
            if stack:
                stack.pop()
            else:
                drop.append(n)
    for group in stack:
        drop.extend(group)
    for n in drop:
        text_by_line[n] = ""


def _build_partial(p: _Partial) -> Function | None:
    p.lines.sort()
    if p.signature and not _signature_closed([t for _, t in p.signature]):
        # the hunk shows the start of the signature, the rest is unseen: complete it
        # like a hunk header's
        p.header = " ".join(t.strip() for _, t in p.signature)
        p.header_lines = p.header_lines | {n for n, _ in p.signature}
        p.signature = []
    known = {n: t for n, t in p.lines if n not in p.header_lines}
    if not known:
        return None
    lo, hi = min(known), max(known)
    sig_text = None  # a signature the hunk shows is parsed as it stands
    if not p.signature:
        sig_text = complete_signature(p.header or "") or f"void {p.name}()"
        if sig_text.startswith(p.name):
            sig_text = "int " + sig_text  # the return type sat on the line before
    runs: list[_Run] = []
    for n in sorted(known):
        if runs and n == runs[-1].last + 1:
            runs[-1].lines.append((n, known[n]))
        else:
            runs.append(_Run(lines=[(n, known[n])]))
    unseen = tuple((a.last + 1, b.first - 1) for a, b in zip(runs, runs[1:]))

    def build():
        return _reconstruct(p, runs, known, lo, hi, sig_text)

    f = lazy_function(build, name=p.name, start=p.start, end=hi, lines=tuple(p.lines),
                      complete=False, unseen=unseen)
    object.__setattr__(f, "_header", p.header or "")
    return f


def _reconstruct(p: _Partial, runs: list[_Run], known: dict[int, str], lo: int, hi: int,
                 sig_text: str | None):
    """(params, locals, calls, syntax) of a partial function: its runs made one text
    tree-sitter-c parses."""
    tabs = any(t.startswith("\t") for t in known.values())
    spaces = 8 if tabs else 4
    for i, run in enumerate(runs):
        _prepare_run(run, signature=(i == 0 and sig_text is None))
        _place_run(run, spaces, opens_function=(i == 0 and sig_text is None))
    synthetic: set[int] = set()
    text_by_line: dict[int, str] = {}
    for run in runs:
        for (n, t), keep in zip(run.lines, run.keep):
            text_by_line[n] = t if keep else ""
    # which open blocks are do-loops (closed out of view by "} while (...);")
    do_at: dict[int, bool] = {}

    def track(run: _Run) -> None:
        for c, rel in zip(run.code, run.before):
            d = run.start + rel
            is_do = _DO.match(c) is not None
            for ch in c:
                if ch == "{":
                    d += 1
                    do_at[d] = is_do
                    is_do = False
                elif ch == "}":
                    d -= 1

    def closes(frm: int, to: int) -> str:
        return " ".join("} while (" + UNSEEN + ");" if do_at.get(k) else "}"
                        for k in range(frm, to, -1))

    track(runs[0])
    for j, (a, b) in enumerate(zip(runs, runs[1:]), 1):
        tokens = ["*/"] if a.in_comment else []
        head_open = a.completion.endswith(" " + _UNSEEN_STMT) and b.start > a.end
        if head_open:
            # an if/for/while head cut off at the hunk's end whose block the next hunk
            # is inside: that block is its body
            tokens.append(a.completion[:-len(_UNSEEN_STMT) - 1])
        elif a.completion:
            tokens.append(a.completion)
        if a.end >= 1 and not head_open:
            tokens.append(_UNSEEN_STMT)
        if b.start < a.end:
            tokens.append(closes(a.end, b.start))
            if b.start >= 1:
                tokens.append(_UNSEEN_STMT)
        elif b.start > a.end:
            tokens.append(_openers(runs, j, a.end, b.start - a.end))
            tokens.append(_UNSEEN_STMT)
        if b.body_first:
            tokens.append("if (" + UNSEEN + ")")
        for k in range(a.end + 1, b.start + 1):
            do_at[k] = False  # opened out of view; a "do {" one is closed in view
        track(b)
        text_by_line[a.last + 1] = " ".join(tokens)
        synthetic.add(a.last + 1)
    _balance_preprocessor(text_by_line)
    first = lo
    head = runs[0]
    text_lines: list[str] = []
    guard = " if (" + UNSEEN + ")" if head.body_first else ""
    if sig_text is not None:
        first = lo - 1
        text_lines.append(sig_text + " { " + _openers(runs, 0, 1, head.start - 1) + guard
                          if head.start > 0 else sig_text)
        synthetic.add(first)
    elif head.start > 0:
        first = lo - 1
        text_lines.append(_openers(runs, 0, 0, head.start) + guard)
        synthetic.add(first)
    for n in range(lo, hi + 1):
        text_lines.append(text_by_line.get(n, ""))
    tail = runs[-1]
    tokens = ["*/"] if tail.in_comment else []
    if tail.completion:
        tokens.append(tail.completion)
    if tail.label_last:
        tokens.append(";")
    if tail.end > 0:
        tokens.append(closes(tail.end, 0))
    if tokens:
        text_lines.append(" ".join(tokens))
        synthetic.add(hi + 1)
    fns = [f for f in parse_functions("\n".join(text_lines), first_line=first)
           if f.start <= lo]
    parsed = fns[0] if fns else None
    if parsed is None or parsed.syntax is None:
        return (), (), (), None
    node, base, _, tree = parsed.syntax

    def declared_and_called():
        calls = tuple(c for c in parsed.calls if c.line not in synthetic)
        return parsed.params, parsed.locals, calls

    return _Parse((node, base, frozenset(synthetic), tree), declared_and_called)
