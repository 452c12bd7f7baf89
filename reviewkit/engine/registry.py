"""Semantic rule checks: ``@check("group/slug")`` binds a function to a manifest.

A check receives a read-only context (PatchContext or SeriesContext) and
yields Hit objects; the engine turns them into Findings with the manifest's
severity, confidence and message.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Iterable

CHECK_MODULES = (
    "reviewkit.checks.input",
    "reviewkit.checks.series",
    "reviewkit.checks.commit",
    "reviewkit.checks.mm_dirty",
    "reviewkit.checks.mm_gup",
    "reviewkit.checks.mm_zap",
    "reviewkit.checks.mm_pin",
    "reviewkit.checks.mm_cow",
    "reviewkit.checks.mm_pte",
)


@dataclass(frozen=True)
class Hit:
    """Where a rule fires, and what fills its message."""

    line: int | None = None  # new-side line
    old_line: int | None = None  # old-side line, for findings on removed lines
    path: str | None = None
    function: str | None = None
    args: dict = field(default_factory=dict)  # placeholders of the manifest message
    patch: int | None | str = "this"  # "this" = the patch under review
    excerpt: tuple[str, ...] = ()
    confidence: str | None = None  # overrides the manifest's
    severity: str | None = None  # overrides the manifest's
    message_id: str | None = None


CheckFn = Callable[[object], Iterable[Hit]]


def check(rule_id: str) -> Callable[[CheckFn], CheckFn]:
    """Mark a function as the check of ``rule_id`` (found by ``registered``)."""

    def bind(fn: CheckFn) -> CheckFn:
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        return fn

    return bind


def registered(modules: tuple[str, ...] = CHECK_MODULES) -> dict[str, CheckFn]:
    """rule id -> check function, from the check modules.  Two checks for one id fail."""
    out: dict[str, CheckFn] = {}
    for name in modules:
        mod = importlib.import_module(name)
        for value in vars(mod).values():
            rid = getattr(value, "rule_id", None)
            if callable(value) and isinstance(rid, str):
                if rid in out and out[rid] is not value:
                    raise ValueError(f"two checks for {rid}: {out[rid].__qualname__} and "
                                     f"{value.__qualname__}")
                out[rid] = value
    return out
