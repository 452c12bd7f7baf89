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
                        calls: list["Call"], decls: list) -> Function | None:
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
                    complete=True)


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
        f = _function_from_node(node, src, line_texts, first_line, calls[i], decls[i])
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


_BRACKET = re.compile(r"[()\[\]{},]")
_OPEN = {")": "(", "]": "[", "}": "{"}


def scan_calls(lines: list[tuple[int, str]]) -> tuple[Call, ...]:
    """Calls in a run of known lines, arguments split at top-level commas."""
    text = "\n".join(t for _, t in lines)
    starts = []
    pos = 0
    for _, t in lines:
        starts.append(pos)
        pos += len(t) + 1
    # one pass over the brackets: where each "(" closes, and its top-level commas
    close: dict[int, int] = {}
    commas: dict[int, list[int]] = {}
    stack: list[tuple[str, int]] = []
    for m in _BRACKET.finditer(text):
        ch, at = m.group(), m.start()
        if ch in "([{":
            stack.append((ch, at))
            if ch == "(":
                commas[at] = []
        elif ch == ",":
            if stack and stack[-1][0] == "(":
                commas[stack[-1][1]].append(at)
        else:
            if stack and stack[-1][0] == _OPEN[ch]:
                opener, where = stack.pop()
                if opener == "(":
                    close[where] = at
    out = []
    for m in _CALL.finditer(text):
        name = m.group(1)
        if name in _KEYWORDS:
            continue
        open_at = m.end() - 1
        end = close.get(open_at)
        if end is None:
            continue  # unbalanced: the call runs past the known lines
        cuts = [open_at] + commas.get(open_at, []) + [end]
        args = tuple(" ".join(text[a + 1:b].split()) for a, b in zip(cuts, cuts[1:]))
        if args == ("",):
            args = ()
        line = lines[bisect_right(starts, m.start()) - 1][0]
        out.append(Call(name=name, line=line, args=args, text=" ".join(text[m.start():end + 1]
                                                                       .split())))
    return tuple(out)


@lru_cache(maxsize=4096)
def parse_signature_params(signature: str) -> tuple[Var, ...]:
    """Parameters of a signature text such as ``int f(struct vm_fault *vmf)``."""
    if ")" not in signature:
        return ()
    fns = parse_functions(signature.rstrip().rstrip("{") + "\n{\n}\n")
    return fns[0].params if fns else ()


@dataclass
class _Partial:
    name: str
    signature: list[tuple[int, str]] = field(default_factory=list)
    lines: list[tuple[int, str]] = field(default_factory=list)
    start: int = 0
    signature_done: bool = False


def partial_functions(hunk_lines: list[list[tuple[int, str]]],
                      headers: list[str]) -> list[Function]:
    """Functions as far as hunks show them.

    ``hunk_lines`` holds, per hunk, the (line number, text) pairs of one side;
    ``headers`` the hunk section headers (git's guess at the enclosing function).
    Parts of one function seen in several hunks are merged.
    """
    found: dict[str, _Partial] = {}
    order: list[str] = []

    def get(name: str, start: int) -> _Partial:
        if name not in found:
            found[name] = _Partial(name=name, start=start)
            order.append(name)
        return found[name]

    for lines, header in zip(hunk_lines, headers):
        current: _Partial | None = None
        hname = function_start_name(header.strip()) if header else None
        if hname and lines:
            current = get(hname, lines[0][0])
            current.signature_done = True
            if not current.signature:
                current.signature = [(0, header.strip())]
        for n, t in lines:
            name = function_start_name(t)
            if name:
                current = get(name, n)
                current.start = n
                current.signature = [(n, t)]
                current.signature_done = "{" in t or t.rstrip().endswith(")")
                current.lines.append((n, t))
                continue
            if current is None:
                continue
            if not current.signature_done:
                current.signature.append((n, t))
                if t.strip() == "{" or t.rstrip().endswith(")") or "{" in t:
                    current.signature_done = True
            current.lines.append((n, t))
            if t.startswith("}"):
                current = None
    out = []
    for name in order:
        p = found[name]
        p.lines.sort()
        sig = " ".join(t.strip() for _, t in p.signature)
        params = parse_signature_params(sig) if p.signature else ()
        body = [(n, t) for n, t in p.lines]
        locals_ = _scan_locals(body)
        start = p.start or (body[0][0] if body else 0)
        end = body[-1][0] if body else start
        out.append(Function(name=name, start=start, end=end, params=params, locals=locals_,
                            calls=tuple(c for c in scan_calls(body) if c.name != name
                                        or c.line != start),
                            lines=tuple(body), complete=False))
    return out


_LOCAL_DECL = re.compile(
    r"^\s+((?:const\s+|struct\s+|union\s+|enum\s+|unsigned\s+|signed\s+|long\s+)*[A-Za-z_]\w*)"
    r"\s*(\*+\s*|\s+)([A-Za-z_]\w*)\s*(=|;|,|\[)")


def _scan_locals(lines: list[tuple[int, str]]) -> tuple[Var, ...]:
    out = []
    for _, t in lines:
        m = _LOCAL_DECL.match(t)
        if m and m.group(1).split()[-1] not in _KEYWORDS and m.group(1) not in ("return", "goto"):
            stars = m.group(2).strip()
            out.append(Var(type=(" ".join(m.group(1).split()) + " " + stars).strip(),
                           name=m.group(3)))
    return tuple(out)
