"""C functions for rules: names, parameters, locals, calls, and a call graph.

Whole files (tree mode) and whole functions that a hunk carries are parsed
with tree-sitter-c.  Kernel attribute macros are blanked with spaces of the
same length first, so line and column numbers stay true.  A function that a
hunk shows only in part is described from the lines the hunk has, with the
name taken from its signature or the hunk header, and marked incomplete.
"""

from __future__ import annotations

import re
from bisect import bisect_right
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


def _function_from_node(node, src: bytes, line_texts: list[str], first: int,
                        calls: list["Call"], decls: list, tree=None) -> Function | None:
    decl = node.child_by_field_name("declarator")
    fdecl = decl
    while fdecl is not None and fdecl.type != "function_declarator":
        fdecl = fdecl.child_by_field_name("declarator")
    if fdecl is None:
        return None
    name, _ = _declarator_name(fdecl.child_by_field_name("declarator"), src)
    if not name:
        return None
    params: list[Var] = []
    plist = fdecl.child_by_field_name("parameters")
    if plist is not None:
        for p in plist.named_children:
            if p.type == "parameter_declaration":
                params.extend(_vars_of(p, src))
    locals_: list[Var] = []
    for d in decls:
        locals_.extend(_vars_of(d, src))
    start, end = node.start_point[0] + first, node.end_point[0] + first
    return Function(name=name, start=start, end=end, params=tuple(params),
                    locals=tuple(locals_), calls=tuple(sorted(calls, key=lambda c: c.line)),
                    lines=tuple((i, line_texts[i - first]) for i in range(start, end + 1)
                                if i - first < len(line_texts)),
                    complete=True, syntax=(node, first, frozenset(), tree))


def parse_functions(text: str, first_line: int = 1) -> list[Function]:
    """Every function definition in a C source text (including inside #ifdef blocks).

    ``first_line`` is the line number of the text's first line (for a fragment).
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
    if not nodes:
        return []
    nodes.sort(key=lambda n: n.start_byte)
    starts = [n.start_byte for n in nodes]
    calls: list[list[Call]] = [[] for _ in nodes]
    decls: list[list] = [[] for _ in nodes]

    def owner(byte: int) -> int | None:
        i = bisect_right(starts, byte) - 1
        if i >= 0 and byte < nodes[i].end_byte:
            return i
        return None

    from tree_sitter import QueryCursor

    for _, caps in QueryCursor(_query()).matches(tree.root_node):
        if "decl" in caps:
            d = caps["decl"][0]
            i = owner(d.start_byte)
            if i is not None:
                decls[i].append(d)
            continue
        call, fn, args = caps["call"][0], caps["fn"][0], caps["args"][0]
        i = owner(call.start_byte)
        if i is None:
            continue
        arg_texts = tuple(" ".join(_node_text(a, src).split())
                          for a in args.named_children if a.type != "comment")
        calls[i].append(Call(name=_node_text(fn, src), line=call.start_point[0] + first_line,
                             args=arg_texts, text=" ".join(_node_text(call, src).split())))
    out = []
    for i, node in enumerate(nodes):
        f = _function_from_node(node, src, line_texts, first_line, calls[i], decls[i], tree)
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


def partial_functions(hunk_lines: list[list[tuple[int, str]]],
                      headers: list[str]) -> list[Function]:
    """Functions as far as hunks show them, each parsed with tree-sitter.

    ``hunk_lines`` holds, per hunk, the (line number, text) pairs of one side;
    ``headers`` the hunk section headers (git's guess at the enclosing function).
    Parts of one function seen in several hunks are merged; two definitions of
    one name (``#ifdef`` variants) are kept apart.  What the hunks do not show is
    completed so the text parses: the signature from the hunk header (cut-off
    parameter lists keep their complete parameters) plus the signature lines the
    hunk shows, the braces of blocks that open or close out of view.
    """
    found: list[_Partial] = []

    def last_named(name: str) -> _Partial | None:
        for p in reversed(found):
            if p.name == name:
                return p
        return None

    for lines, header in zip(hunk_lines, headers):
        current: _Partial | None = None
        hname = function_start_name(header.strip()) if header else None
        rest = lines
        if hname and lines:
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
            current.signature_done = True
        for n, t in rest:
            name = function_start_name(t)
            if name:
                current = _Partial(name=name, start=n, signature=[(n, t)])
                current.signature_done = "{" in t or _signature_closed([t])
                current.lines.append((n, t))
                found.append(current)
                continue
            if current is None:
                continue
            if not current.signature_done:
                current.signature.append((n, t))
                if "{" in t or _signature_closed([x for _, x in current.signature]):
                    current.signature_done = True
            current.lines.append((n, t))
            if t.startswith("}"):
                current = None
    out = []
    for p in found:
        f = _build_partial(p)
        if f is not None:
            out.append(f)
    return out


def _build_partial(p: _Partial) -> Function | None:
    p.lines.sort()
    known = {n: t for n, t in p.lines if n not in p.header_lines}
    if not known:
        return None
    lo, hi = min(known), max(known)
    sig_text = None  # a signature the hunk shows is parsed as it stands
    if not p.signature:
        sig_text = complete_signature(p.header or "") or f"void {p.name}()"
        if sig_text.startswith(p.name):
            sig_text = "int " + sig_text  # the return type sat on the line before
    depth = low = 0
    for n in range(lo, hi + 1):
        t = known.get(n)
        if t is None:
            continue
        d, lw = _braces(t)
        low = min(low, depth + lw)
        depth += d
    synthetic = set()
    text_lines: list[str] = []
    first = lo
    opened = -low
    if sig_text is not None:
        first = lo - 1
        if known[lo].startswith("{"):
            text_lines.append(sig_text)  # the body's own brace is shown
        else:
            ends = any(t.startswith("}") for t in known.values())
            opened = max(1, opened + (0 if ends else 1))  # + the body's own brace
            text_lines.append(sig_text + " " + "{" * opened)
            synthetic.add(first)
    elif opened:
        first = lo - 1
        text_lines.append("{" * opened)
        synthetic.add(first)
    for n in range(lo, hi + 1):
        text_lines.append(known.get(n, ""))
    close = opened + depth
    if close > 0:
        text_lines.append("}" * close)
        synthetic.add(hi + 1)
    fns = [f for f in parse_functions("\n".join(text_lines), first_line=first)
           if f.start <= lo]
    parsed = fns[0] if fns else None
    if parsed is None or parsed.syntax is None:
        return Function(name=p.name, start=p.start, end=hi, lines=tuple(p.lines),
                        complete=False)
    node, base, _, tree = parsed.syntax
    calls = tuple(c for c in parsed.calls if c.line not in synthetic)
    return Function(name=p.name, start=p.start, end=hi, params=parsed.params,
                    locals=parsed.locals, calls=calls, lines=tuple(p.lines), complete=False,
                    syntax=(node, base, frozenset(synthetic), tree))
