"""Command line.  Thin: parse options, call the api, render, choose the exit status.

Heavy modules (the parsers, b4, tree-sitter) are imported inside commands so
``reviewkit --help`` and small reviews start fast.
"""

from __future__ import annotations

import gc
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from reviewkit.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, ReviewkitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Review Linux kernel patch series (mm first) the way senior reviewers do.",
)


class Format(str, Enum):
    text = "text"
    terse = "terse"
    json = "json"
    email = "email"
    html = "html"


_FAIL_ON_HELP = ("exit 1 when a finding is at or above LEVEL[:CONFIDENCE] (error, warning, info "
                 "or never; a bare LEVEL means LEVEL:medium)")


def _fail_on(value: str) -> str:
    """Validate --fail-on before any work is done."""
    from reviewkit.report import parse_threshold

    try:
        parse_threshold(value)
    except ValueError as exc:
        raise ReviewkitError("--fail-on", str(exc)) from None
    return value


def _fail(message: str) -> None:
    from reviewkit.render.safe import terminal_safe

    typer.echo(f"reviewkit: error: {terminal_safe(message)}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _stream(write, output: Optional[Path]) -> None:
    """Call ``write(fp)`` on stdout or OUTPUT.

    A regular file is written beside and renamed into place when complete, so
    a failed run never leaves half a report; anything else (a pipe, /dev/null)
    is written directly.
    """
    if output is None or str(output) == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    try:
        if output.exists() and not output.is_file():
            with open(output, "w", encoding="utf-8") as fp:
                write(fp)
            return
        tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", encoding="utf-8") as fp:
                write(fp)
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        _fail(f"{output}: cannot write: {exc.strerror or exc}")


_TREE_HELP = ("a kernel git repository (pre-images by blob id, base-commit or HEAD) or a "
              "source directory: whole-file function context; only ever read (default: "
              "'tree' in the config file)")


@app.command()
def review(
    source: list[str] = typer.Argument(
        ..., metavar="SOURCE...",
        help="mbox, .eml/.patch, format-patch directory, maildir, '-' for stdin, a git "
             "range, a Message-ID or a lore URL; several are read as one input"),
    format: Format = typer.Option(Format.text, "--format", "-f", help="output format"),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o",
        help="write here, not stdout (email: a directory of .eml files, or FILE.mbox)"),
    fail_on: str = typer.Option("warning:medium", "--fail-on", metavar="LEVEL[:CONFIDENCE]",
                                help=_FAIL_ON_HELP),
    revision: Optional[int] = typer.Option(
        None, "--revision", "-r", help="review this revision (vN) when the input holds several"),
    series: Optional[str] = typer.Option(
        None, "--series", metavar="MSGID",
        help="the series to review when the input holds several: the Message-ID of any of "
             "its messages ('reviewkit series SOURCE' lists them)"),
    tree: Optional[Path] = typer.Option(None, "--tree", help=_TREE_HELP, metavar="DIR"),
    guess_base: bool = typer.Option(
        False, "--guess-base",
        help="with a git --tree: try recent commits for pre-images the patch applies to "
             "exactly (as b4 am --guess-base)"),
    select: list[str] = typer.Option(
        [], "--select", help="run only these rules (ids or globs such as 'mm/*'; repeat or "
                             "separate with commas)"),
    ignore: list[str] = typer.Option(
        [], "--ignore", help="skip these rules (ids or globs)"),
    waivers: Optional[Path] = typer.Option(
        None, "--waivers", help="YAML file of waived findings (rule, location, reason)",
        metavar="FILE"),
    email_min: str = typer.Option(
        "warning:medium", "--email-min",
        help="reply drafts cover findings at or above SEVERITY[:CONFIDENCE]"),
    sender: Optional[str] = typer.Option(
        None, "--from", help="From: of reply drafts (default: config, then git's user.name "
                             "and user.email)"),
    compare_to: Optional[str] = typer.Option(
        None, "--compare-to", metavar="REV",
        help="an earlier revision to compare with: N (in the same thread), a Message-ID, "
             "a URL or a path (default: the nearest older revision in the input)"),
    lore_url: Optional[str] = typer.Option(
        None, "--lore-url", metavar="URL",
        help="public-inbox archive to fetch from (default: $REVIEWKIT_LORE_URL, the config "
             "file, b4.midmask, https://lore.kernel.org/all)"),
    refresh: bool = typer.Option(False, "--refresh", help="fetch again, ignoring the cache"),
    offline: bool = typer.Option(False, "--offline", help="use only the cache; never fetch"),
    timeout: float = typer.Option(5.0, "--timeout", metavar="SECONDS",
                                  help="per-request time limit when fetching"),
) -> None:
    """Review a patch series and print what a reviewer would raise.

    SOURCE may also be a Message-ID, a lore URL or a patch.msgid.link URL:
    the thread is fetched with b4, and the newest revision is reviewed.
    """
    from dataclasses import replace

    from reviewkit import api
    from reviewkit.config import load_config

    try:
        _fail_on(fail_on)
        config = load_config()
        options = replace(_lore_options(api, config, lore_url, refresh, offline, timeout),
                          revision=revision, series=series, tree=tree or config.tree,
                          guess_base=guess_base, select=_split(select),
                          ignore=_split(ignore), waivers=waivers, compare_to=compare_to)
        _check_patterns(options)
        email_args = _email_args(email_min, sender, config) if format is Format.email else None
        report = api.review(source, options)
    except ReviewkitError as exc:
        _fail(str(exc))
    _emit(report, format, output, config, email_args)
    raise typer.Exit(EXIT_FINDINGS if report.at_or_above(fail_on) else EXIT_OK)


def _emit(report, format: Format, output: Optional[Path], config, email_args=None) -> None:
    try:
        _render(report, format, output, config, email_args)
    except Exception as exc:  # jinja2 is imported only by the formats that use templates
        jinja2 = sys.modules.get("jinja2")
        if jinja2 is None or not isinstance(exc, jinja2.TemplateError):
            raise
        where = f"{config.templates_dir}: " if config.templates_dir else ""
        _fail(f"{where}template {getattr(exc, 'name', None) or ''}: {exc}".replace(" : ", ": "))


def _render(report, format: Format, output: Optional[Path], config, email_args=None) -> None:
    tdir = config.templates_dir
    if format is Format.json:
        from reviewkit.render import json_report

        _stream(lambda fp: json_report.write(report, fp), output)
    elif format is Format.terse:
        from reviewkit.render import terse

        text = terse.render(report)
        _stream(lambda fp: fp.write(text), output)
    elif format is Format.html:
        from reviewkit.render import html

        text = html.render(report, template_dir=tdir)
        _stream(lambda fp: fp.write(text), output)
    elif format is Format.email:
        _emit_email(report, output, tdir, *email_args)
    else:
        from reviewkit.render import text as text_render

        colour = output is None and text_render.use_colour(sys.stdout)
        text = text_render.render(report, colour=colour, template_dir=tdir)
        _stream(lambda fp: fp.write(text), output)


def _lore_options(api, config, lore_url, refresh, offline, timeout):
    from reviewkit.sources.archive import choose_archive

    if timeout <= 0 or timeout > 300:
        raise ReviewkitError("--timeout", "must be between 0 and 300 seconds")
    if refresh and offline:
        raise ReviewkitError("--offline", "cannot be combined with --refresh")
    return api.Options(lore_url=choose_archive(lore_url, config.lore_url), refresh=refresh,
                       offline=offline, timeout=timeout, limits=config.limits)


@app.command()
def fetch(
    source: str = typer.Argument(..., metavar="SOURCE",
                                 help="a Message-ID, a lore URL or a patch.msgid.link URL"),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="mbox to write (default: stdout)"),
    revision: Optional[int] = typer.Option(None, "--revision", "-r",
                                           help="this revision (default: the newest)"),
    lore_url: Optional[str] = typer.Option(None, "--lore-url", metavar="URL",
                                           help="public-inbox archive to fetch from"),
    refresh: bool = typer.Option(False, "--refresh", help="fetch again, ignoring the cache"),
    offline: bool = typer.Option(False, "--offline", help="use only the cache; never fetch"),
    timeout: float = typer.Option(5.0, "--timeout", metavar="SECONDS",
                                  help="per-request time limit"),
) -> None:
    """Fetch a series with b4 into an mbox: cover letter, patches in order, replies."""
    from dataclasses import replace

    from reviewkit import api
    from reviewkit.config import load_config

    try:
        options = replace(_lore_options(api, load_config(), lore_url, refresh, offline, timeout),
                          revision=revision)
        notes: list[str] = []
        data, rev, count = api.fetch_mbox(source, options, notes)
    except ReviewkitError as exc:
        _fail(str(exc))
    from reviewkit.render.safe import terminal_safe

    for note in notes:
        typer.echo(f"reviewkit: note: {terminal_safe(note)}", err=True)
    if output is None or str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        _stream(lambda fp: fp.write(data.decode("utf-8", "surrogateescape")), output)
    typer.echo(f"v{rev}: {count} patch(es)" + (f" written to {output}" if output else ""),
               err=True)


@app.command()
def dashboard(
    source: list[str] = typer.Argument(
        None, metavar="[SOURCE]...",
        help="inputs as for review (an inbox mbox, a maildir, several files); with --query, "
             "none is needed"),
    output: Path = typer.Option(..., "--output", "-o", metavar="DIR",
                                help="directory for index.html, index.json and the series pages"),
    query: list[str] = typer.Option(
        [], "--query", "-q", metavar="QUERY",
        help="a public-inbox search on the archive, e.g. 'dfn:mm/gup.c AND rt:7.days.ago..' "
             "(whole threads; cached like fetched threads)"),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", metavar="N",
                                       help="series reviewed in parallel (default: the number "
                                            "of CPUs)"),
    tree: Optional[Path] = typer.Option(None, "--tree", help=_TREE_HELP, metavar="DIR"),
    select: list[str] = typer.Option([], "--select", help="run only these rules"),
    ignore: list[str] = typer.Option([], "--ignore", help="skip these rules"),
    lore_url: Optional[str] = typer.Option(None, "--lore-url", metavar="URL",
                                           help="public-inbox archive to search and link to"),
    refresh: bool = typer.Option(False, "--refresh", help="search again, ignoring the cache"),
    offline: bool = typer.Option(False, "--offline", help="use only the cache; never fetch"),
    timeout: float = typer.Option(5.0, "--timeout", metavar="SECONDS",
                                  help="per-request time limit when fetching"),
) -> None:
    """Review every series of the inputs into DIR: an index page with one row per series,
    a report page per series, index.json.  A rerun reviews only new or changed series."""
    from dataclasses import replace

    from reviewkit import api, dashboard as board
    from reviewkit.config import load_config
    from reviewkit.sources.resolve import query as query_source

    if not source and not query:
        _fail("dashboard: give a SOURCE or --query")
    if jobs is not None and jobs < 1:
        _fail("--jobs: must be at least 1")
    try:
        config = load_config()
        options = replace(_lore_options(api, config, lore_url, refresh, offline, timeout),
                          tree=tree, select=_split(select), ignore=_split(ignore))
        _check_patterns(options)
        if options.tree is not None and not options.tree.is_dir():
            raise ReviewkitError(str(options.tree), "--tree is not a directory")
        srcs = api.sources(list(source or []), options)
        srcs += [query_source(q, api.lore_settings(options)) for q in query]
        outcome = board.run(srcs, output, options, jobs=jobs,
                            template_dir=config.templates_dir)
    except ReviewkitError as exc:
        _fail(str(exc))
    typer.echo(board.summary(outcome, output), err=True)
    if outcome.interrupted:
        raise typer.Exit(130)


@app.command("series")
def series_list(
    source: list[str] = typer.Argument(..., metavar="SOURCE...",
                                       help="any input review takes; several are one input"),
    lore_url: Optional[str] = typer.Option(None, "--lore-url", metavar="URL",
                                           help="public-inbox archive to fetch from"),
    offline: bool = typer.Option(False, "--offline", help="use only the cache; never fetch"),
    timeout: float = typer.Option(5.0, "--timeout", metavar="SECONDS",
                                  help="per-request time limit when fetching"),
) -> None:
    """List the series an input holds, newest first: Message-ID, revisions, patches, subject."""
    import time

    from reviewkit import api
    from reviewkit.config import load_config

    try:
        options = _lore_options(api, load_config(), lore_url, False, offline, timeout)
        envelopes, groups, orphans = api.group(api.sources(source, options))
    except ReviewkitError as exc:
        _fail(str(exc))
    for g in groups:
        rev = g.newest
        patches = sum(1 for i in rev.members if envelopes[i].kind == "patch")
        versions = ",".join(f"v{r.version}" for r in g.revisions)
        day = time.strftime("%Y-%m-%d", time.gmtime(rev.date)) if rev.head.date else "-"
        typer.echo(f"{g.key}  {versions}  {patches} patch(es)  {day}  "
                   f"{rev.head.author_name or rev.head.author}: {_one_line(rev.title)}")
    typer.echo(f"{len(groups)} series" + (f", {len(orphans)} message(s) in none"
                                          if orphans else ""), err=True)


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))


_CONFIDENCE_ORDER = ("high", "medium", "low")


def _email_args(email_min: str, sender: Optional[str], config):
    from email.utils import parseaddr

    from reviewkit.model import Person

    from reviewkit.report import parse_threshold

    try:
        parsed = parse_threshold(email_min)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ReviewkitError("--email-min", f"{email_min!r} is not SEVERITY[:CONFIDENCE] "
                                            "(e.g. warning:medium, error:high)")
    sev, conf = parsed
    confidences = _CONFIDENCE_ORDER[:_CONFIDENCE_ORDER.index(conf) + 1]
    raw = sender or config.sender or _git_identity()
    if not raw:
        raise ReviewkitError("--from", "no sender for the reply drafts: pass --from "
                                       "'Name <email>' or set git's user.name and user.email")
    name, addr = parseaddr(raw)
    if "@" not in addr:
        raise ReviewkitError("--from", f"{raw!r} is not 'Name <email>'")
    return Person(name=name, email=addr), sev, confidences


def _git_identity() -> Optional[str]:
    import subprocess

    def get(key: str) -> str:
        try:
            out = subprocess.run(["git", "config", "--get", key], capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip()

    name, email = get("user.name"), get("user.email")
    return f"{name} <{email}>" if email else None


def _emit_email(report, output: Optional[Path], tdir, sender, severity, confidences) -> None:
    from reviewkit.render import email_reply

    messages = email_reply.build_replies(report, sender, min_severity=severity,
                                         confidences=confidences, template_dir=tdir)
    if output is not None and str(output) != "-" and output.suffix != ".mbox":
        try:
            paths = email_reply.write_dir(messages, output)
        except OSError as exc:
            _fail(f"{output}: cannot write: {exc.strerror or exc}")
        typer.echo(f"{len(paths)} reply draft(s) in {output}", err=True)
        return
    data = email_reply.to_mbox(messages)
    if output is None or str(output) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    _stream(lambda fp: fp.write(data.decode("utf-8")), output)


@app.command()
def check(
    rev_range: Optional[str] = typer.Argument(
        None, metavar="RANGE",
        help="commits to review (default: the branch's commits not in its upstream, or HEAD)"),
    format: Format = typer.Option(Format.terse, "--format", "-f", help="output format"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write here, not stdout"),
    fail_on: str = typer.Option("warning:medium", "--fail-on", metavar="LEVEL[:CONFIDENCE]",
                                help=_FAIL_ON_HELP),
    select: list[str] = typer.Option([], "--select", help="run only these rules"),
    ignore: list[str] = typer.Option([], "--ignore", help="skip these rules"),
    waivers: Optional[Path] = typer.Option(None, "--waivers", metavar="FILE",
                                           help="YAML file of waived findings"),
) -> None:
    """Self-review your own commits before sending them, with this repository as the tree."""
    from reviewkit import api
    from reviewkit.config import load_config
    from reviewkit.sources import selfreview

    if format is Format.email:
        _fail("--format email is for replying to others' patches; use review")
    try:
        _fail_on(fail_on)
        config = load_config()
        options = api.Options(select=_split(select), ignore=_split(ignore), waivers=waivers,
                              limits=config.limits)
        _check_patterns(options)
        rng = selfreview.default_range(Path.cwd()) if rev_range is None else rev_range
        report = api.review_commits(rng, Path.cwd(), options)
    except ReviewkitError as exc:
        _fail(str(exc))
    _emit(report, format, output, config)
    raise typer.Exit(EXIT_FINDINGS if report.at_or_above(fail_on) else EXIT_OK)


@app.command("b4-check")
def b4_check(
    tree: Optional[Path] = typer.Option(None, "--tree", help=_TREE_HELP, metavar="DIR"),
    select: list[str] = typer.Option([], "--select", help="run only these rules"),
    ignore: list[str] = typer.Option([], "--ignore", help="skip these rules"),
) -> None:
    """b4 review's per-patch check: one patch mail on stdin, a JSON list on stdout.

    Enable with: git config b4.review-perpatch-check-cmd 'reviewkit b4-check'
    """
    from reviewkit import api
    from reviewkit.render import b4check

    options = api.Options(tree=tree, select=_split(select), ignore=_split(ignore))
    data = sys.stdin.buffer.read()
    from reviewkit.parse.series import NoPatchesError

    try:
        _check_patterns(options)
        result = b4check.output(api.review_patch_mail(data, options))
    except NoPatchesError as exc:
        result = b4check.not_reviewed(str(exc))
    except ReviewkitError as exc:
        result = b4check.failure(str(exc))
    sys.stdout.write(result)
    sys.stdout.flush()


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _check_patterns(options) -> None:
    """An id or glob in --select/--ignore that names no rule is a typo: say so."""
    import fnmatch

    from reviewkit import api

    names = [n for r in api.ruleset(options).rules for n in (r.id, *r.aliases)]
    for flag, patterns in (("--select", options.select), ("--ignore", options.ignore)):
        for p in patterns:
            if not any(fnmatch.fnmatchcase(n, p) for n in names):
                raise ReviewkitError(flag, f"{p!r} matches no rule (see 'reviewkit rules list')")


rules_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="List the rules and show their documentation and examples.")
app.add_typer(rules_app, name="rules")


@rules_app.command("list")
def rules_list(
    select: list[str] = typer.Option([], "--select", help="only these ids or globs"),
) -> None:
    """One line per rule: id, severity, confidence, title."""
    from reviewkit import api, engine

    try:
        rs = api.ruleset()
    except ReviewkitError as exc:
        _fail(str(exc))
    rules = engine.select_rules(rs, _split(select))
    width = max((len(r.id) for r in rules), default=10)
    for r in rules:
        typer.echo(f"{r.id:<{width}}  {r.severity:<7}  {r.confidence:<6}  {r.title}")


@rules_app.command("show")
def rules_show(rule_id: str = typer.Argument(..., metavar="RULE-ID",
                                            help="a rule id, e.g. mm/pte-used-after-unmap")
               ) -> None:
    """A rule's documentation, references and examples."""
    from reviewkit import api
    from reviewkit.render.rules import render_rule

    try:
        rule = api.ruleset().get(rule_id)
    except ReviewkitError as exc:
        _fail(str(exc))
    if rule is None:
        _fail(f"{rule_id}: no such rule (see 'reviewkit rules list')")
    typer.echo(render_rule(rule), nl=False)


@app.command()
def version() -> None:
    """Print the version."""
    from reviewkit import __version__

    typer.echo(f"reviewkit {__version__}")


def main() -> None:
    # a review allocates many small, long-lived objects (lines, hunks, functions);
    # the default collector thresholds rescan them over and over on large series
    gc.set_threshold(50_000, 20, 100)
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("reviewkit: interrupted\n")
        sys.exit(130)
    except ReviewkitError as exc:  # raised lazily by a source while rendering
        from reviewkit.render.safe import terminal_safe

        sys.stderr.write(f"reviewkit: error: {terminal_safe(exc)}\n")
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 - a user never gets a traceback
        if os.environ.get("REVIEWKIT_DEBUG"):
            raise
        from reviewkit.render.safe import terminal_safe

        text = terminal_safe(f"{type(exc).__name__}: {exc}")
        sys.stderr.write(
            f"reviewkit: internal error: {text[:500]} "
            "(set REVIEWKIT_DEBUG=1 for a traceback)\n")
        sys.exit(EXIT_USAGE)
