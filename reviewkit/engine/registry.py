"""Semantic rule checks: ``@check("group/slug")`` binds a function to a manifest.

A check receives a frozen context (PatchContext or SeriesContext) and yields
Hit objects; the engine turns them into Findings with the manifest's
severity, confidence and message.  Check modules are found automatically:
every module of ``reviewkit.checks`` whose name does not start with ``_``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Hit:
    """Where a rule fires, and what fills its message."""

    line: int | None = None  # new-side line
    old_line: int | None = None  # old-side line, for findings on removed lines
    path: str | None = None
    function: str | None = None
    args: dict[str, Any] = field(default_factory=dict)  # placeholders of the message
    patch: int | None | str = "this"  # "this" = the patch under review
    excerpt: tuple[str, ...] = ()
    confidence: Confidence | None = None  # overrides the manifest's
    severity: Severity | None = None  # overrides the manifest's
    message_id: str | None = None
    # the finding claims something is absent from the function ("nothing else
    # dirties the page"): on a function the patch shows only in part it is info
    absence: bool = False


CheckFn = Callable[[Any], Iterable[Hit]]


def check(rule_id: str) -> Callable[[CheckFn], CheckFn]:
    """Mark a function as the check of ``rule_id`` (found by ``registered``)."""

    def bind(fn: CheckFn) -> CheckFn:
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        return fn

    return bind


def check_modules(package: str = "reviewkit.checks") -> tuple[str, ...]:
    """Every check module of ``package`` (names starting with ``_`` are helpers)."""
    pkg = importlib.import_module(package)
    return tuple(sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                        if not m.name.startswith("_")))


def registered(modules: tuple[str, ...] | None = None) -> dict[str, CheckFn]:
    """rule id -> check function, from the check modules.  Two checks for one id fail."""
    out: dict[str, CheckFn] = {}
    for name in modules if modules is not None else check_modules():
        mod = importlib.import_module(name)
        for value in vars(mod).values():
            rid = getattr(value, "rule_id", None)
            if callable(value) and isinstance(rid, str):
                if rid in out and out[rid] is not value:
                    raise ValueError(f"two checks for {rid}: {out[rid].__qualname__} and "
                                     f"{value.__qualname__}")
                out[rid] = value
    return out
