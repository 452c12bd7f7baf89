"""Findings and the Report that renderers receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reviewkit.model import Person, Series

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}
CONFIDENCES = ("high", "medium", "low")
CONFIDENCE_RANK = {"high": 3, "medium": 2, "low": 1}
# what --fail-on counts by default, and what a bare LEVEL means: findings a
# reviewer would raise on the list (the same bar as the reply drafts)
DEFAULT_CONFIDENCE = "medium"
DEFAULT_FAIL_ON = "warning:medium"


def parse_threshold(value: str) -> tuple[str, str] | None:
    """``LEVEL[:CONFIDENCE]`` -> (severity, lowest confidence counted); ``never`` -> None.

    A bare LEVEL counts that severity and above at medium confidence or higher.
    Raises ValueError on anything else.
    """
    text = value.strip().lower()
    if text == "never":
        return None
    sev, _, conf = text.partition(":")
    conf = conf or DEFAULT_CONFIDENCE
    if sev not in SEVERITY_RANK or conf not in CONFIDENCE_RANK:
        raise ValueError(f"{value!r} is not LEVEL[:CONFIDENCE] (LEVEL: error, warning, info "
                         "or never; CONFIDENCE: high, medium, low; e.g. warning:high)")
    return sev, conf


@dataclass(frozen=True)
class Remark:
    """A reviewer's comment in the thread: who, when, in which message, its first lines.

    On a finding (``raised_in``) it is a comment that already made the finding's
    point; on a patch it is a review point, with the lines it was written under.
    """

    author: Person
    date: datetime | None
    message_id: str
    excerpt: str  # the first lines of the comment, as written
    matched_by: str = ""  # raised_in: "line" (written under the lines) or "function"
    path: str | None = None  # review points: the file of the quoted lines
    line: int | None = None  # new-side line of the first quoted changed line
    old_line: int | None = None  # old-side line, when that line was removed
    function: str | None = None
    quoted: tuple[str, ...] = ()  # the changed lines quoted above the comment
    version: int | None = None  # the revision the comment answered

    def to_json(self, *, link: str | None = None, full: bool = True) -> dict:
        out = {
            "author": self.author.to_json(),
            "date": self.date.isoformat() if self.date else None,
            "message_id": self.message_id,
            "link": link,
            "excerpt": self.excerpt,
        }
        if not full:
            out["matched_by"] = self.matched_by
            out["version"] = self.version
            return out
        out.update({"path": self.path, "line": self.line, "old_line": self.old_line,
                    "function": self.function, "quoted": list(self.quoted),
                    "version": self.version})
        return out


@dataclass(frozen=True)
class Finding:
    rule: str  # stable rule id: group/slug
    severity: str  # error | warning | info
    confidence: str  # high | medium | low
    message: str
    patch: int | None = None  # 1-based patch index, 0 = cover letter, None = series-level
    path: str | None = None
    line: int | None = None  # new-side line number where one applies
    old_line: int | None = None  # old-side line number, for findings on removed lines
    function: str | None = None
    excerpt: tuple[str, ...] = ()  # the few diff lines the finding is about
    message_id: str | None = None
    raised_in: tuple[Remark, ...] = ()  # replies in the thread that already made the point

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 0)

    def sort_key(self) -> tuple:
        return (
            -1 if self.patch is None else self.patch,
            self.path or "",
            self.line if self.line is not None else (self.old_line or 0),
            -self.rank,
            self.rule,
            # a total order: findings equal so far (one rule, one place) come out
            # in the same order on every run, whatever order a set gave them
            self.message,
            self.message_id or "",
        )

    def to_json(self, link=None) -> dict:
        """``link`` turns a Message-ID into an archive URL (Report.link)."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "confidence": self.confidence,
            "patch": self.patch,
            "path": self.path,
            "line": self.line,
            "old_line": self.old_line,
            "function": self.function,
            "message": self.message,
            "excerpt": list(self.excerpt),
            "message_id": self.message_id,
            "raised_in": [r.to_json(link=link(r.message_id) if link else None, full=False)
                          for r in self.raised_in],
        }


@dataclass(frozen=True)
class Report:
    series: Series
    findings: tuple[Finding, ...]
    mode: str = "diff-only"  # diff-only | tree
    notes: tuple[str, ...] = ()  # things the run wants the reader to know
    source: str = ""
    lore_url: str | None = None  # base for message links, e.g. https://lore.kernel.org/all
    extra: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            out[f.severity] = out.get(f.severity, 0) + 1
        return out

    def summary_line(self) -> str:
        """checkpatch's summary, so scripts that read its ``total:`` line read ours
        (always plural, as checkpatch writes it)."""
        c = self.counts()
        return f"total: {c['error']} errors, {c['warning']} warnings, {c['info']} infos"

    def at_or_above(self, threshold: str) -> list[Finding]:
        """The findings ``--fail-on THRESHOLD`` counts (``LEVEL[:CONFIDENCE]`` or never)."""
        parsed = parse_threshold(threshold)
        if parsed is None:
            return []
        rank, conf = SEVERITY_RANK[parsed[0]], CONFIDENCE_RANK[parsed[1]]
        return [f for f in self.findings
                if f.rank >= rank and CONFIDENCE_RANK.get(f.confidence, 0) >= conf]

    def context_of(self, index: int) -> dict:
        """Where patch ``index`` was reviewed from: {"source": blob | base-commit |
        worktree | guessed | diff, "base": commit or None}."""
        ctx = self.extra.get("contexts", {}).get(index)
        return dict(ctx) if ctx else {"source": "diff", "base": None}

    def describe_context(self, index: int) -> str:
        """The per-patch context line of the text and HTML reports."""
        ctx = self.context_of(index)
        src, base = ctx["source"], (ctx["base"] or "")[:12]
        if src == "blob":
            return "blob (the pre-images its index lines name" + (
                f", as at {base})" if base else ")")
        if src == "base-commit":
            return f"base-commit {base}"
        if src == "worktree":
            return f"worktree (HEAD {base})" if base else "worktree (the files of the tree)"
        if src == "guessed":
            return f"guessed base {base}"
        return "diff only" + (" (no exact pre-image in the tree)" if self.extra.get("contexts")
                              else "")

    def link(self, message_id: str | None) -> str | None:
        if not message_id or not self.lore_url:
            return None
        return f"{self.lore_url.rstrip('/')}/{message_id}/"
