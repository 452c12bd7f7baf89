"""One function wires the stages: source -> messages -> Series -> findings -> Report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import InputError
from reviewkit.report import Report

DEFAULT_LORE_URL = "https://lore.kernel.org/all"


@dataclass(frozen=True)
class Options:
    revision: int | None = None
    lore_url: str = DEFAULT_LORE_URL
    cwd: Path | None = None


def load_series(source: str, options: Options = Options()):
    from reviewkit.parse.series import NoPatchesError, build_series
    from reviewkit.sources.local import open_local

    messages = open_local(source, options.cwd)
    try:
        return build_series(messages, source=source, revision=options.revision)
    except NoPatchesError as exc:
        raise InputError(source, str(exc)) from None


def review(source: str, options: Options = Options()) -> Report:
    from reviewkit import engine

    series = load_series(source, options)
    findings = engine.run(series)
    return Report(series=series, findings=findings, mode="diff-only", source=source,
                  lore_url=options.lore_url)
