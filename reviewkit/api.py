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
    lore_url: str = DEFAULT_LORE_URL  # the archive fetched from and linked to
    cwd: Path | None = None
    timeout: float = 5.0  # seconds, per request to the archive
    refresh: bool = False  # fetch again even when the cache is fresh
    offline: bool = False  # the cache only
    cache_ttl: float = 600.0  # seconds a cached thread counts as fresh
    compare_to: str | None = None  # an earlier revision: N, a Message-ID, a URL or a path
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


def _local_path(source: str, cwd: Path | None) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else (cwd or Path.cwd()) / path


def _input_size(source: str, cwd: Path | None) -> int:
    try:
        path = _local_path(source, cwd)
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def _remote_target(source: str, options: Options):
    """The lore target SOURCE names, or None when SOURCE is local."""
    from reviewkit.sources.local import looks_remote

    if source == "-" or _local_path(source, options.cwd).exists() or not looks_remote(source):
        return None
    from reviewkit.sources.lore import parse_target

    return parse_target(source, options.lore_url)


def fetch(source: str, options: Options = Options()):
    """The thread SOURCE names, fetched with b4 (or from the cache)."""
    target = _remote_target(source, options)
    if target is None:
        raise InputError(source, "not a Message-ID or an archive URL")
    return _fetch(target, options)


def _fetch(target, options: Options):
    from reviewkit.sources.cache import ThreadCache
    from reviewkit.sources.lore import fetch_thread

    return fetch_thread(target, timeout=options.timeout, cache=ThreadCache(),
                        refresh=options.refresh, offline=options.offline, ttl=options.cache_ttl)


def _messages(source: str, options: Options):
    """(raw messages, b4's trailers or None, notes) for SOURCE, local or remote."""
    target = _remote_target(source, options)
    if target is not None:
        import time

        from reviewkit.parse.mbox import split_bytes
        from reviewkit.parse.series import RawMessage

        thread = _fetch(target, options)
        msgs = [RawMessage(f"{thread.target.msgid}:{n}", d) for n, d in split_bytes(thread.mbox)]
        notes = [f"fetched {thread.target.thread_url}"]
        if thread.cached_at is not None:
            minutes = max(0, int((time.time() - thread.cached_at) // 60))
            notes = [f"thread from the cache, fetched {minutes} min ago from "
                     f"{thread.target.thread_url} (--refresh fetches it again)"]
        return msgs, thread.trailers, notes
    from reviewkit.sources.local import open_local

    return open_local(source, options.cwd), None, []


def _revision_number(value: str | None) -> int | None:
    if value is None:
        return None
    v = value.strip().lower().lstrip("v")
    return int(v) if v.isdigit() else None


def load_series(source: str, options: Options = Options()):
    return _load(source, options)[0]


def _load(source: str, options: Options):
    """(Series, notes about where it came from)."""
    from dataclasses import replace

    from reviewkit.parse.series import NoPatchesError, build_series

    messages, b4_trailers, notes = _messages(source, options)
    compare_n = _revision_number(options.compare_to)
    workers = os.cpu_count() or 1
    try:
        if workers > 1 and _input_size(source, options.cwd) > PARALLEL_BYTES:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(workers) as pool:
                series = build_series(messages, source=source, revision=options.revision,
                                      compare_to=compare_n,
                                      mapper=lambda fn, it: pool.imap(fn, it, chunksize=64))
        else:
            series = build_series(messages, source=source, revision=options.revision,
                                  compare_to=compare_n)
    except NoPatchesError as exc:
        text = str(exc)
        if text.startswith(source + ": "):  # the message already names this input
            text = text[len(source) + 2:]
        raise InputError(source, text) from None
    if b4_trailers:
        series = _with_b4_trailers(series, b4_trailers)
        if series.previous is not None:
            series = replace(series, previous=_with_b4_trailers(series.previous, b4_trailers))
    if options.compare_to is not None and compare_n is None:
        other = load_series(options.compare_to, replace(options, compare_to=None,
                                                        revision=None))
        series = replace(series, previous=replace(other, previous=None))
    return series, notes


def _with_b4_trailers(series, trailers: dict):
    """Add the follow-up trailers b4 found (its archive search included) that the
    thread's own replies did not already give."""
    from dataclasses import replace

    from reviewkit.model import Person, Trailer

    out = []
    for p in series.patches:
        have = {(t.kind, t.person.email) for t in p.trailers if t.person}
        extra = []
        for kind, name, email, msgid in trailers.get(p.message_id, []):
            if (kind, email) in have:
                continue
            have.add((kind, email))
            extra.append(Trailer(kind=kind, value=f"{name} <{email}>",
                                 person=Person(name=name, email=email), source="reply",
                                 message_id=msgid or None))
        out.append(replace(p, trailers=p.trailers + tuple(extra)) if extra else p)
    return replace(series, patches=tuple(out))


def fetch_mbox(source: str, options: Options = Options()) -> tuple[bytes, int, int]:
    """The chosen revision of a fetched thread as an mbox: cover letter, patches in
    order, then the replies.  Returns (mbox, revision, number of patches)."""
    from reviewkit.parse.mbox import join_messages, split_bytes
    from reviewkit.parse.series import RawMessage, classify

    thread = fetch(source, options)
    items = []
    for n, data in split_bytes(thread.mbox):
        items.append((classify(RawMessage(f"{thread.target.msgid}:{n}", data)), data))
    versions = sorted({c.patch.version for c, _ in items if c.kind == "patch"})
    if not versions:
        raise InputError(source, "the thread holds no patch")
    chosen = options.revision if options.revision is not None else versions[-1]
    if chosen not in versions:
        raise InputError(source, f"no revision v{chosen} in the thread (found: "
                                 f"{', '.join(f'v{v}' for v in versions)})")
    covers = [d for c, d in items if c.kind == "cover" and c.patch.version == chosen][:1]
    patches = sorted(((c.patch.index, d) for c, d in items
                      if c.kind == "patch" and c.patch.version == chosen), key=lambda x: x[0])
    replies = [d for c, d in items if c.kind == "reply"]
    return join_messages(covers + [d for _, d in patches] + replies), chosen, len(patches)


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
    report = Report(series=series, findings=tuple(sorted(set(findings), key=Finding.sort_key)),
                    mode=result.mode, notes=tuple(notes), source=source,
                    lore_url=options.lore_url,
                    extra={"waived": [(f, w) for f, w in waived],
                           "rules": {r.id: r for r in rules},
                           "tree_patches": result.tree_patches})
    comparison = _comparison(series, options, report)
    if comparison is not None:
        report.extra["comparison"] = comparison
    return report


def review(source: str, options: Options = Options()) -> Report:
    from dataclasses import replace

    series, notes = _load(source, options)
    report = review_series(series, options, source=source)
    return replace(report, notes=tuple(notes) + report.notes) if notes else report


def _comparison(series, options: Options, report: Report) -> dict | None:
    from dataclasses import replace

    from reviewkit.compare import compare

    if series.previous is None:
        return None
    old = review_series(replace(series.previous, previous=None),
                        replace(options, waivers=None), source="")
    return compare(series, series.previous, report.findings, old.findings)


def review_commits(selection, cwd: Path, options: Options = Options(), cover=None) -> Report:
    """Review the commits of a self-review selection (``sources.selfreview``), with
    the repository at their base as the tree; each patch carries its commit.

    Commits have no cover letter: COVER (a Patch) is the one to review with them,
    and without one its absence is not reported."""
    from dataclasses import replace

    from reviewkit.parse.series import NoPatchesError, build_series
    from reviewkit.sources import selfreview

    label = f"git:{selection.label}"
    try:
        series = build_series(selfreview.read_selection(selection, cwd), source=label)
    except NoPatchesError as exc:
        raise InputError(label, str(exc)) from None
    commits = dict(enumerate(selection.commits, 1))
    series = replace(series, patches=tuple(replace(p, commit=commits.get(p.index))
                                           for p in series.patches))
    if cover is not None:
        series = replace(series, cover=cover)
    else:
        options = replace(options, ignore=options.ignore + ("series/cover-letter-missing",))
    paths = {p for patch in series.patches for f in patch.files
             for p in (f.old_path, f.new_path) if p}
    with selfreview.base_tree(cwd, selection.base, paths) as tree:
        return review_series(series, replace(options, tree=tree), source=label)


def review_message(data: bytes, options: Options = Options(), source: str = "<stdin>") -> Report:
    """Review one patch mail given as bytes (b4's check commands pass one on stdin).

    Raises InputError when the bytes hold no patch: empty input, not mail, or a
    message without a diff."""
    from reviewkit.parse.series import NoPatchesError, RawMessage, build_series

    if not data.strip():
        raise InputError(source, "empty input: no patch mail")
    try:
        series = build_series([RawMessage(source, data)], source=source)
    except NoPatchesError as exc:
        text = str(exc)
        raise InputError(source, text[len(source) + 2:] if text.startswith(source + ": ")
                         else text) from None
    return review_series(series, options, source=source)
