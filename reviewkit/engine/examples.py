"""Run a rule's own examples: the diff or mail it must fire on, and stay quiet on.

In a diff example, ``//~`` at the end of a line marks where the rule must
fire (the marker is removed before the rule sees the line).  Hunk headers are
recounted, so an example's ``@@ -70 +70 @@`` needs no exact line counts.  An
example with ``tree:`` runs in tree mode on a scratch tree holding those files.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reviewkit.engine.manifest import Example, Rule
from reviewkit.parse.mbox import looks_like_mbox, split_bytes
from reviewkit.parse.series import RawMessage, build_series

_MARK = re.compile(r"\s*//~.*$")
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")

_WRAPPER = """From: Example Author <author@example.org>
To: linux-mm@kvack.org
Subject: [PATCH] mm: example change
Date: Mon, 2 Mar 2026 10:00:00 +0000
Message-ID: <example-1@reviewkit.invalid>
Content-Type: text/plain; charset=utf-8

An example change.

Signed-off-by: Example Author <author@example.org>
---
"""


def prepare_diff(diff: str) -> tuple[str, set[tuple[str, int]]]:
    """Strip markers and recount hunks; return (diff text, expected positions).

    A position is ("new", line) for an added or context line, ("old", line)
    for a removed one.
    """
    src = diff.rstrip("\n").split("\n")
    out: list[str] = []
    expected: set[tuple[str, int]] = set()
    i = 0
    while i < len(src):
        m = _HUNK.match(src[i])
        if not m:
            out.append(_MARK.sub("", src[i]) if src[i].startswith(("+", "-", " ")) else src[i])
            i += 1
            continue
        old, new = int(m.group(1)), int(m.group(2))
        body: list[str] = []
        j = i + 1
        while j < len(src) and not _HUNK.match(src[j]) and not src[j].startswith("diff --git ") \
                and not (src[j].startswith("--- ") and j + 1 < len(src)
                         and src[j + 1].startswith("+++ ")):
            body.append(src[j])
            j += 1
        o, n = old, new
        old_len = new_len = 0
        clean = []
        for ln in body:
            marked = _MARK.search(ln) is not None
            ln = _MARK.sub("", ln)
            kind = ln[:1] if ln[:1] in "+-" else " "
            if not ln.startswith(("+", "-", " ")):
                ln = " " + ln
            if kind == "-":
                if marked:
                    expected.add(("old", o))
                o += 1
                old_len += 1
            elif kind == "+":
                if marked:
                    expected.add(("new", n))
                n += 1
                new_len += 1
            else:
                if marked:
                    expected.add(("new", n))
                o += 1
                n += 1
                old_len += 1
                new_len += 1
            clean.append(ln)
        out.append(f"@@ -{old},{old_len} +{new},{new_len} @@{m.group(3)}")
        out.extend(clean)
        i = j
    return "\n".join(out) + "\n", expected


@dataclass
class ExampleRun:
    expected: set
    got: set
    mode: str
    findings: tuple = ()  # the rule's findings, in full

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def example_series(example: Example):
    if example.diff is not None:
        diff, expected = prepare_diff(example.diff)
        data = (_WRAPPER + "\n" + diff).encode("utf-8")
        series = build_series([RawMessage("example", data)], source="example")
        return series, {(1, kind, line) for kind, line in expected}
    data = (example.mbox or "").encode("utf-8")
    if looks_like_mbox(data):
        msgs = [RawMessage(f"example:{n}", d) for n, d in split_bytes(data)]
    else:
        msgs = [RawMessage("example", data)]
    series = build_series(msgs, source="example")
    marked: set[tuple] = set()
    for f in example.findings:
        line = f.get("line")
        kind = "old" if f.get("old") else ("new" if line is not None else None)
        marked.add((f.get("patch"), kind, line))
    return series, marked


def position(f) -> tuple:
    if f.line is not None:
        return (f.patch, "new", f.line)
    if f.old_line is not None:
        return (f.patch, "old", f.old_line)
    return (f.patch, None, None)


def run_example(rule: Rule, ruleset, example: Example) -> ExampleRun:
    from reviewkit.engine import run

    series, expected = example_series(example)
    if example.tree:
        with tempfile.TemporaryDirectory(prefix="reviewkit-example-") as tmp:
            root = Path(tmp)
            for path, text in example.tree.items():
                dst = root / path
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(text, encoding="utf-8")
            result = run(series, [rule], ruleset, tree=root)
    else:
        result = run(series, [rule], ruleset)
    got = {position(f) for f in result.findings if f.rule == rule.id}
    crashed = [f.message for f in result.findings if f.rule == "internal/rule-crashed"]
    if crashed:
        got.add(("crashed", crashed[0], None))
    return ExampleRun(expected=expected, got=got, mode=result.mode,
                      findings=tuple(f for f in result.findings if f.rule == rule.id))
