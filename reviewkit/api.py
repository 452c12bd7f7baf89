"""One function wires the stages: source -> messages -> Series -> findings -> Report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from reviewkit.errors import InputError, ReviewkitError
from reviewkit.report import Finding, Report

if TYPE_CHECKING:
    from reviewkit.config import Limits

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
    tree: Path | None = None  # a kernel git repository, or a directory at the series' base
    guess_base: bool = False  # search recent commits for one the series applies to
    tree_base: str | None = None  # the commit the series applies to, when the caller knows it
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    waivers: Path | None = None
    rules_dir: Path | None = None
    patch_only: bool = False  # leave out series-level rules (one patch checked alone)
    series: str | None = None  # the series to review, by any of its Message-IDs
    limits: "Limits | None" = None  # bounds on hostile or huge input (None: the defaults)

    @property
    def bounds(self) -> "Limits":
        from reviewkit.config import DEFAULT_LIMITS

        return self.limits or DEFAULT_LIMITS


class RulesError(ReviewkitError):
    """The rule set does not load."""


class SeveralSeriesError(InputError):
    """The input holds more than one series and none was chosen."""


def lore_settings(options: Options):
    from reviewkit.sources.resolve import LoreSettings

    return LoreSettings(archive=options.lore_url, timeout=options.timeout,
                        refresh=options.refresh, offline=options.offline, ttl=options.cache_ttl,
                        max_bytes=options.bounds.fetch_bytes,
                        max_input=options.bounds.input_bytes)


def sources(names, options: Options = Options()) -> list:
    """Each SOURCE resolved, once, into a typed source (sources.resolve)."""
    from reviewkit.sources.resolve import resolve

    if isinstance(names, str):
        names = [names]
    settings = lore_settings(options)
    return [resolve(n, cwd=options.cwd, lore=settings) for n in names]


def fetch(source: str, options: Options = Options(), notes: list | None = None):
    """The thread SOURCE names, fetched with b4 (or from the cache)."""
    from reviewkit.sources.resolve import LoreThreadSource

    src = sources(source, options)[0]
    if not isinstance(src, LoreThreadSource):
        raise InputError(source, "not a Message-ID or an archive URL")
    thread = src.fetch()
    if notes is not None:
        notes.extend(n for n in src.notes if not n.startswith(("fetched ", "thread from ")))
    return thread


def _revision_number(value: str | None) -> int | None:
    if value is None:
        return None
    v = value.strip().lower().lstrip("v")
    return int(v) if v.isdigit() else None


def group(srcs: list, *, keep: bool = True, digest: bool = False):
    """(envelopes, series groups newest first, orphan indices) of every message of SRCS."""
    from reviewkit.parse import grouping
    from reviewkit.sources.resolve import read

    envelopes = list(read(srcs, keep=keep, digest=digest))
    groups, orphans = grouping.group(envelopes)
    return envelopes, groups, orphans


def _label(srcs: list) -> str:
    return " ".join(s.label for s in srcs)


def _args(srcs: list) -> str:
    """SRCS as command-line arguments that name them again (stdin is ``-``)."""
    import shlex

    return " ".join("-" if s.kind == "stdin" else shlex.quote(s.label) for s in srcs)


def load_series(source, options: Options = Options()):
    return _load(sources(source, options), options)[0]


def _load(srcs: list, options: Options):
    """(Series, notes about where it came from) of the one series in SRCS (or the
    one ``options.series`` names)."""
    from reviewkit.parse import grouping
    from reviewkit.parse.series import RawMessage

    envelopes, groups, _ = group(srcs)
    label = _label(srcs)
    if options.series is not None:
        chosen = grouping.pick(groups, envelopes, options.series)
        if chosen is None:
            raise InputError(label, f"no series holds the message {options.series!r} "
                                    f"(found {len(groups)} series)")
        members = [envelopes[i] for i in chosen.members]
    elif len(groups) > 1:
        raise SeveralSeriesError(
            label, f"holds {len(groups)} series; review one with --series MSGID "
                   f"('reviewkit series {_args(srcs)}' lists them), or all of them with "
                   f"'reviewkit dashboard {_args(srcs)} -o DIR'")
    elif groups:
        members = [envelopes[i] for i in groups[0].members]
    else:
        members = envelopes  # nothing looks like a patch: let the parser say why
    trailers: dict = {}
    notes: list[str] = []
    for s in srcs:
        trailers.update(s.trailers or {})
        notes.extend(s.notes)
    # a thread fetched from an archive is the whole series as it was sent
    whole = any(s.kind == "lore-thread" for s in srcs)
    series = build(label, [RawMessage(e.origin, e.raw()) for e in members], options,
                   trailers=trailers, from_archive=whole)
    if options.tree is not None:
        chosen_ids = {id(e) for e in members}
        series = _with_prerequisites(series, [e for e in envelopes if id(e) not in chosen_ids])
    return series, notes


def _with_prerequisites(series, others: list):
    """Attach the patches of the rest of the input that the series'
    ``prerequisite-patch-id:`` lines name (git patch-id --stable, as b4 computes it)."""
    from dataclasses import replace

    from reviewkit.engine.tree import series_prerequisites, unified_diff

    wanted = set(series_prerequisites(series))
    if not wanted or not others:
        return series
    from reviewkit.parse.series import RawMessage, classify
    from reviewkit.sources.gitrepo import patch_id

    found = []
    for e in others:
        item = classify(RawMessage(e.origin, e.raw()))
        if item.kind == "patch" and patch_id(unified_diff(item.patch.files)) in wanted:
            found.append(item.patch)
    return replace(series, prerequisites=tuple(found)) if found else series


def build(label: str, messages, options: Options, trailers: dict | None = None,
          from_archive: bool = False):
    """The Series of one group's raw messages (the revision options ask for).
    ``from_archive``: the messages are a thread as an archive holds it, so what
    is absent from them was not sent (series.from_archive)."""
    from dataclasses import replace

    from reviewkit.parse.series import NoPatchesError, build_series

    compare_n = _revision_number(options.compare_to)
    try:
        series = build_series(messages, source=label, revision=options.revision,
                              limits=options.bounds,
                              compare_to=compare_n)
    except NoPatchesError as exc:
        text = str(exc)
        if text.startswith(label + ": "):  # the message already names this input
            text = text[len(label) + 2:]
        raise InputError(label, text) from None
    if from_archive:
        series = replace(series, from_archive=True)
        if series.previous is not None:
            series = replace(series, previous=replace(series.previous, from_archive=True))
    if trailers:
        series = _with_b4_trailers(series, trailers)
        if series.previous is not None:
            series = replace(series, previous=_with_b4_trailers(series.previous, trailers))
    if options.compare_to is not None and compare_n is None:
        other = load_series(options.compare_to, replace(options, compare_to=None,
                                                        revision=None, series=None))
        series = replace(series, previous=replace(other, previous=None))
    return series


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


def fetch_mbox(source: str, options: Options = Options(),
               notes: list | None = None) -> tuple[bytes, int, int]:
    """The chosen revision of a fetched thread as an mbox: cover letter, patches in
    order, then the replies.  Returns (mbox, revision, number of patches)."""
    from reviewkit.parse.mbox import join_messages, split_bytes
    from reviewkit.parse.series import RawMessage, classify

    thread = fetch(source, options, notes)
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


_RULESETS: dict = {}


def ruleset(options: Options = Options()):
    """The rule set (loaded once per process and rules directory)."""
    from reviewkit.engine import RuleSetError, load_ruleset
    from reviewkit.engine.manifest import ManifestError

    key = str(options.rules_dir) if options.rules_dir else None
    if key not in _RULESETS:
        try:
            _RULESETS[key] = load_ruleset(key)
        except (ManifestError, RuleSetError) as exc:
            raise RulesError("rules", str(exc)) from None
    return _RULESETS[key]


def review_series(series, options: Options = Options(), source: str = "") -> Report:
    from dataclasses import replace

    from reviewkit import engine
    from reviewkit.engine.waivers import apply_waivers, load_waivers

    rs = ruleset(options)
    rules = engine.select_rules(rs, options.select, options.ignore)
    if options.patch_only:
        rules = [r for r in rules if r.scope != "series" or r.group == "input"]
    notes: list[str] = []
    images = tree_images(series, options)
    result = engine.run(series, rules, rs, images=images)
    notes.extend(result.notes)
    findings = list(result.findings)
    waived = []
    if options.waivers is not None:
        waivers = load_waivers(options.waivers,
                               rule_ids={n for r in rs.rules for n in (r.id, *r.aliases)})
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
                           "tree_patches": result.tree_patches,
                           "contexts": {i: c.to_json() for i, c in result.contexts.items()}})
    from reviewkit import thread

    seen = thread.view(series, report.findings)
    report = replace(report, findings=seen.findings)
    report.extra["review_points"] = seen.review_points
    report.extra["unanswered_review_points"] = seen.unanswered
    comparison = _comparison(series, options, report)
    if comparison is not None:
        report.extra["comparison"] = comparison
    return report


def tree_images(series, options: Options):
    """The pre- and post-images of the series from ``options.tree`` (None without one)."""
    if options.tree is None:
        return None
    from reviewkit.engine.tree import build_images, open_tree

    tree = options.tree.expanduser().resolve()
    if not tree.is_dir():
        raise InputError(str(options.tree), "--tree is not a directory")
    repo = open_tree(tree)
    if repo is not None and options.tree_base is not None and repo.resolve(
            options.tree_base) is None:
        raise InputError(repo.label, f"commit {options.tree_base} is not in the repository")
    return build_images(series, tree, repo=repo, guess_base=options.guess_base,
                        base=options.tree_base, prerequisites=_prerequisites(series))


def _prerequisites(series) -> tuple:
    """Other patches of the input that ``prerequisite-patch-id:`` may name."""
    out = list(series.prerequisites)
    prev = series.previous
    while prev is not None:
        out.extend(prev.patches)
        prev = prev.previous
    return tuple(out)


def review(source, options: Options = Options()) -> Report:
    """Review the series SOURCE holds (one SOURCE, or a list of them)."""
    from dataclasses import replace

    srcs = sources(source, options)
    series, notes = _load(srcs, options)
    report = review_series(series, options, source=_label(srcs))
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
    the repository as the tree for function context (pre-images by the commits'
    blob ids, the rest at the selection's base); each patch carries its commit.

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
    return review_series(series, replace(options, tree=selfreview.toplevel(cwd),
                                         tree_base=selection.base), source=label)


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
