"""One function wires the stages: source -> messages -> Series -> findings -> Report."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import InputError, ReviewkitError
from reviewkit.report import Finding, Report

DEFAULT_LORE_URL = "https://lore.kernel.org/all"


@dataclass(frozen=True)
class Options:
    revision: int | None = None
    lore_url: str = DEFAULT_LORE_URL
    cwd: Path | None = None
    tree: Path | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    waivers: Path | None = None
    rules_dir: Path | None = None
    patch_only: bool = False  # leave out series-level rules (one patch checked alone)


class RulesError(ReviewkitError):
    """The rule set does not load."""


# inputs larger than this are parsed by a pool of worker processes
PARALLEL_BYTES = 4 << 20


def _input_size(source: str, cwd: Path | None) -> int:
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def load_series(source: str, options: Options = Options()):
    from reviewkit.parse.series import NoPatchesError, build_series
    from reviewkit.sources.local import open_local

    messages = open_local(source, options.cwd)
    workers = os.cpu_count() or 1
    try:
        if workers > 1 and _input_size(source, options.cwd) > PARALLEL_BYTES:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(workers) as pool:
                return build_series(messages, source=source, revision=options.revision,
                                    mapper=lambda fn, it: pool.imap(fn, it, chunksize=64))
        return build_series(messages, source=source, revision=options.revision)
    except NoPatchesError as exc:
        text = str(exc)
        if text.startswith(source + ": "):  # the message already names this input
            text = text[len(source) + 2:]
        raise InputError(source, text) from None


def ruleset(options: Options = Options()):
    from reviewkit.engine import RuleSetError, load_ruleset
    from reviewkit.engine.manifest import ManifestError

    try:
        return load_ruleset(str(options.rules_dir) if options.rules_dir else None)
    except (ManifestError, RuleSetError) as exc:
        raise RulesError("rules", str(exc)) from None


def review_series(series, options: Options = Options(), source: str = "") -> Report:
    from reviewkit import engine
    from reviewkit.engine.waivers import apply_waivers, load_waivers

    rs = ruleset(options)
    rules = engine.select_rules(rs, options.select, options.ignore)
    if options.patch_only:
        rules = [r for r in rules if r.scope != "series" or r.group == "input"]
    tree = None
    notes: list[str] = []
    if options.tree is not None:
        tree = options.tree.expanduser().resolve()
        if not tree.is_dir():
            raise InputError(str(options.tree), "--tree is not a directory")
    result = engine.run(series, rules, rs, tree=tree)
    notes.extend(result.notes)
    findings = list(result.findings)
    waived = []
    if options.waivers is not None:
        waivers = load_waivers(options.waivers)
        findings, waived, stale = apply_waivers(findings, waivers)
        for w in stale:
            findings.append(Finding(
                rule="internal/stale-waiver", severity="info", confidence="high",
                message=f"waiver for {w.describe()} matches no finding any more "
                        f"(reason was: {w.reason})"))
        if waived:
            notes.append(f"{len(waived)} finding(s) waived by {options.waivers}")
    if result.mode == "diff-only":
        notes.append("no source tree: function context comes from the patch alone "
                     "(use --tree DIR for whole-file context)")
    return Report(series=series, findings=tuple(sorted(set(findings), key=Finding.sort_key)),
                  mode=result.mode, notes=tuple(notes), source=source,
                  lore_url=options.lore_url,
                  extra={"waived": [(f, w) for f, w in waived],
                         "rules": {r.id: r for r in rules},
                         "tree_patches": result.tree_patches})


def review(source: str, options: Options = Options()) -> Report:
    series = load_series(source, options)
    return review_series(series, options, source=source)
