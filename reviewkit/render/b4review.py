"""Findings as ``b4 review`` inline comments: the review files b4 integrates.

b4 review reads ``.git/b4-review/<tip-sha>/`` of a review branch (b4's
``_integrate_agent_reviews``): ``identity.txt`` (``Name <email>``, the
reviewer the comments are attributed to), ``series.txt`` (a note on the
series as a whole) and ``NNNN.txt`` for patch N: a note, then the patch's
diff (``git diff <sha>~1 <sha>``) with every line quoted ``> `` and the
comments unquoted under the lines they are about.  b4 anchors each comment
to the last quoted line above it, so a maintainer sees the findings in the
review screen as comments to adopt into a reply.

Notes follow b4's "summary line, blank line, body" convention.  Pure: the
diffs come in, file names and texts go out.
"""

from __future__ import annotations

import re
import textwrap

from reviewkit.report import Finding, Report

IDENTITY = "reviewkit <reviewkit@reviewkit.invalid>"
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_DIFF_GIT = re.compile(r"^diff --git a/(.*) b/(.*)$")


def _comment(f: Finding) -> list[str]:
    text = textwrap.fill(" ".join(f.message.split()), width=72, break_long_words=False,
                         break_on_hyphens=False)
    return text.splitlines() + [f"[reviewkit {f.rule}: {f.severity}, {f.confidence} confidence]"]


def _counts(findings: list[Finding]) -> str:
    parts = []
    for sev in ("error", "warning", "info"):
        n = sum(f.severity == sev for f in findings)
        if n:
            word = "note" if sev == "info" else sev
            parts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return ", ".join(parts)


def _anchor(diff: str, findings: list[Finding]) -> dict[int, list[Finding]]:
    """Diff line index -> the findings about that line: a new-file line (added or
    context) by ``line``, a removed line by ``old_line``, matched by path."""
    out: dict[int, list[Finding]] = {}
    want_new = {(f.path, f.line): f for f in findings if f.path and f.line is not None}
    want_old = {(f.path, f.old_line): f for f in findings
                if f.path and f.line is None and f.old_line is not None}
    a_path = b_path = ""
    a = b = 0
    in_hunk = False
    for i, line in enumerate(diff.splitlines()):
        m = _DIFF_GIT.match(line)
        if m:
            a_path, b_path, in_hunk = m.group(1), m.group(2), False
            continue
        h = _HUNK.match(line)
        if h:
            a, b, in_hunk = int(h.group(1)), int(h.group(2)), True
            continue
        if not in_hunk or line.startswith("\\"):
            continue
        if line.startswith("-"):
            hits = [f for key in ((a_path, a), (b_path, a)) if (f := want_old.pop(key, None))]
            a += 1
        elif line.startswith("+"):
            hits = [f for key in ((b_path, b),) if (f := want_new.pop(key, None))]
            b += 1
        else:
            hits = [f for key in ((b_path, b),) if (f := want_new.pop(key, None))]
            a += 1
            b += 1
        if hits:
            out.setdefault(i, []).extend(hits)
    return out


def patch_file(findings: list[Finding], diff: str, report: Report) -> str:
    """One ``NNNN.txt``: the note, then the quoted diff with the comments."""
    anchored = _anchor(diff, findings)
    inline = {id(f) for fs in anchored.values() for f in fs}
    rest = [f for f in findings if id(f) not in inline]
    summary = f"reviewkit: {_counts(findings)} ({report.mode} mode)"
    body: list[str] = []
    if inline:
        n = len(inline)
        body.append(f"{n} {'finding is' if n == 1 else 'findings are'} inline below; "
                    "'reviewkit rules show RULE-ID' explains each rule.")
    for f in rest:
        where = f"{f.path}:{f.line or f.old_line}: " if f.path else ""
        body.append(where + "\n".join(_comment(f)))
    out = ["\n\n".join([summary, *body]), ""]
    for i, line in enumerate(diff.splitlines()):
        out.append(f"> {line}" if line else ">")
        for f in anchored.get(i, []):
            out += ["", *_comment(f), ""]
    return "\n".join(out) + "\n"


def series_file(findings: list[Finding], report: Report) -> str:
    summary = f"reviewkit: {_counts(findings)} on the series ({report.mode} mode)"
    body = ["\n".join(_comment(f)) for f in findings]
    return "\n\n".join([summary, *body]) + "\n"


def review_files(report: Report, diffs: dict[int, str], identity: str = IDENTITY,
                 skip: set[int] = frozenset()) -> dict[str, str]:
    """File name -> text for ``.git/b4-review/<tip>/``: ``identity.txt``, ``series.txt``
    for findings on the series or its cover letter, ``NNNN.txt`` for each patch N
    (1-based, its diff in ``diffs[N]``) that has findings and is not in ``skip``.
    A patch with nothing to say gets no file, as b4 asks."""
    shown = [f for f in report.findings if not f.rule.startswith("internal/stale")]
    files = {"identity.txt": identity.strip() + "\n"}
    series = [f for f in shown if f.patch in (None, 0)]
    if series and 0 not in skip:
        files["series.txt"] = series_file(series, report)
    for n, diff in sorted(diffs.items()):
        mine = [f for f in shown if f.patch == n]
        if mine and n not in skip:
            files[f"{n:04d}.txt"] = patch_file(mine, diff, report)
    return files
