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

if os.environ.get("NO_COLOR"):  # typer's rich help and errors would still be bold
    os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402

from reviewkit.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, ReviewkitError

_CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=_CONTEXT,
    help="Review Linux kernel patch series (mm first) the way senior reviewers do.",
)


def _print_version(value: bool) -> None:
    if value:
        from reviewkit import __version__

        typer.echo(f"reviewkit {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _global(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="print the version and exit"),
    no_pager: bool = typer.Option(False, "--no-pager", "-P",
                                  help="never page the output (as git's --no-pager)"),
) -> None:
    """Review Linux kernel patch series (mm first) the way senior reviewers do."""


def _paging() -> bool:
    """Page the output: on a terminal, unless --no-pager was given."""
    # typer 0.28 (pinned) carries its own click; the root context holds --no-pager
    from typer._click.globals import get_current_context

    from reviewkit import terminal

    ctx = get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.params.get("no_pager"):
        return False
    return terminal.is_tty(sys.stdout)


def _show(text: str) -> None:
    """Text for a reader: on a terminal, wrapped to its width and paged like git."""
    from reviewkit import terminal

    if terminal.is_tty(sys.stdout):
        text = terminal.wrap(text, terminal.width())
        if _paging() and terminal.page(text):
            return
    sys.stdout.write(text)
    sys.stdout.flush()


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
        if output is None or str(output) == "-":
            _show(text)
        else:
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

    problems: list[str] = []
    messages = email_reply.build_replies(report, sender, min_severity=severity,
                                         confidences=confidences, template_dir=tdir,
                                         problems=problems)
    from reviewkit.render.safe import terminal_safe

    for text in problems:
        typer.echo(f"reviewkit: note: {terminal_safe(text)}", err=True)
    if output is not None and str(output) != "-" and output.suffix != ".mbox":
        try:
            output.mkdir(parents=True, exist_ok=True)
            paths = []
            for name, data in email_reply.draft_files(messages):
                (output / name).write_bytes(data)
                paths.append(output / name)
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
    args: Optional[list[str]] = typer.Argument(
        None, metavar="[RANGE]",
        help="commits to review (default: the branch's commits not in its upstream, or HEAD "
             "when it has none); with --pre-push, the remote's name and URL git passes"),
    pre_push: bool = typer.Option(
        False, "--pre-push",
        help="review exactly what a push sends, read from git's pre-push hook input on stdin"),
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
    args = args or []
    cwd = Path.cwd()
    try:
        _fail_on(fail_on)
        config = load_config()
        options = api.Options(select=_split(select), ignore=_split(ignore), waivers=waivers,
                              limits=config.limits)
        _check_patterns(options)
        if pre_push:
            if len(args) > 2:
                raise ReviewkitError("--pre-push", "takes the remote's name and URL only")
            selfreview.require_repo(cwd)
            refs = selfreview.parse_pre_push(sys.stdin.read())
            remote = args[0] if args else None
            selections = [s for s in (selfreview.pushed_selection(r, remote, cwd) for r in refs)
                          if s is not None]
            if not any(s.commits for s in selections):
                typer.echo("reviewkit: nothing to review: this push sends no new commit",
                           err=True)
                raise typer.Exit(EXIT_OK)
        elif len(args) > 1:
            raise ReviewkitError(" ".join(args), "check takes one RANGE")
        elif args:
            selections = [selfreview.select_range(args[0], cwd)]
        else:
            sel, upstream = selfreview.default_selection(cwd)
            if not sel.commits:
                typer.echo(f"reviewkit: nothing to review: no commits ahead of {upstream}",
                           err=True)
                raise typer.Exit(EXIT_OK)
            selections = [sel]
        reports = [api.review_commits(s, cwd, options) for s in selections if s.commits]
    except ReviewkitError as exc:
        _fail(str(exc))
    if not reports:
        typer.echo(f"reviewkit: nothing to review: {selections[0].label} holds no commit",
                   err=True)
        raise typer.Exit(EXIT_OK)
    for report in reports:
        _emit(report, format, output, config)
    failed = any(r.at_or_above(fail_on) for r in reports)
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_OK)


class CheckFormat(str, Enum):
    json = "json"
    terse = "terse"


@app.command("b4-check")
def b4_check(
    tree: Optional[Path] = typer.Option(None, "--tree", help=_TREE_HELP, metavar="DIR"),
    select: list[str] = typer.Option([], "--select", help="run only these rules"),
    ignore: list[str] = typer.Option([], "--ignore", help="skip these rules"),
    series: bool = typer.Option(
        False, "--series",
        help="the series check (b4.review-series-check-cmd): the cover letter on stdin, the "
             "series from b4's review branch or fetched by its Message-ID"),
    format: CheckFormat = typer.Option(
        CheckFormat.json, "--format", "-f",
        help="json: b4 review's protocol; terse: checkpatch-style lines for b4 prep --check "
             "and b4 am --check"),
    git_config: bool = typer.Option(
        False, "--git-config",
        help="print the git config commands that make b4 run this reviewkit beside checkpatch"),
) -> None:
    """b4's check command: one patch mail on stdin, b4's check result on stdout.

    Set it up with: reviewkit b4-check --git-config (then run the lines it prints)
    """
    from reviewkit import api
    from reviewkit.render import b4check

    if git_config:
        typer.echo(b4check.git_config(_self_command()), nl=False)
        return
    terse = format is CheckFormat.terse
    options = api.Options(tree=tree, select=_split(select), ignore=_split(ignore),
                          patch_only=not series)
    from reviewkit.config import DEFAULT_LIMITS

    # one patch, or (--series) the whole series: read no more than that may be
    limit = DEFAULT_LIMITS.input_bytes if series else DEFAULT_LIMITS.message_bytes
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        reason = f"<stdin>: larger than {limit} bytes (limits)"
        sys.stdout.write(b4check.terse_failure(reason) if terse else b4check.dumps(
            b4check.failure(f"not reviewed: {reason}",
                            tool="reviewkit-series" if series else "reviewkit")))
        sys.stdout.flush()
        return
    try:
        _check_patterns(options)
        if series:
            report = _b4_series_report(data, options)
            out = b4check.terse_result(report) if terse else b4check.dumps(
                b4check.series_result(report))
        else:
            report = api.review_message(data, options)
            out = b4check.terse_result(report) if terse else b4check.dumps(
                b4check.result(report))
    except ReviewkitError as exc:
        out = b4check.terse_failure(str(exc)) if terse else b4check.dumps(
            b4check.failure(f"not reviewed: {exc}",
                            tool="reviewkit-series" if series else "reviewkit"))
    sys.stdout.write(out)
    sys.stdout.flush()


def _b4_series_report(cover: bytes, options):
    """The series b4's series check is about: the patch commits of the review branch
    b4 names (in $B4_TRACKING_FILE, or the cover letter's change-id), else the thread
    fetched by the cover letter's Message-ID."""
    from dataclasses import replace

    from reviewkit import api
    from reviewkit.config import load_config
    from reviewkit.parse.series import RawMessage, classify
    from reviewkit.sources import b4branch

    if not cover.strip():
        raise ReviewkitError("<stdin>", "empty input: no cover letter or patch mail")
    item = classify(RawMessage("<stdin>", cover))
    if item.kind not in ("cover", "patch"):
        reason = item.diagnostic.message if item.diagnostic else "not a cover letter or patch"
        raise ReviewkitError("<stdin>", reason.removeprefix("<stdin>: "))
    cwd = Path.cwd()
    tracking = b4branch.tracking_from_env()
    branch = b4branch.branch_of(tracking) if tracking else None
    if branch:
        sel = b4branch.selection(cwd, tracking, branch)
        if sel.commits:
            return api.review_commits(sel, cwd, replace(options, patch_only=False),
                                      cover=item.patch if item.kind == "cover" else None)
    config = load_config()
    lore = _lore_options(api, config, None, False, False, 5.0)
    return api.review(item.patch.message_id, replace(options, lore_url=lore.lore_url,
                                                     patch_only=False))


@app.command("b4-review")
def b4_review(
    branch: Optional[str] = typer.Argument(
        None, metavar="[BRANCH]",
        help="a b4 review branch, b4/review/<change-id> (default: the checked-out branch)"),
    identity: Optional[str] = typer.Option(
        None, "--identity", metavar="'NAME <EMAIL>'",
        help="whom b4 attributes the comments to (default: reviewkit <reviewkit@reviewkit.invalid>)"),
    select: list[str] = typer.Option([], "--select", help="run only these rules"),
    ignore: list[str] = typer.Option([], "--ignore", help="skip these rules"),
) -> None:
    """Write the findings on a b4 review branch as b4 review inline comments.

    The files go to .git/b4-review/<tip>/, where b4 review picks them up the next
    time it opens the series: a note per patch and the comments under the diff
    lines they are about, ready to adopt into a reply.
    """
    from email.utils import parseaddr

    from reviewkit import api
    from reviewkit.render import b4review
    from reviewkit.sources import b4branch, selfreview

    who = identity or b4review.IDENTITY
    name, addr = parseaddr(who)
    if not name or "@" not in addr:
        _fail(f"--identity: {who!r} is not 'Name <email>'")
    cwd = Path.cwd()
    try:
        options = api.Options(select=_split(select), ignore=_split(ignore))
        _check_patterns(options)
        selfreview.require_repo(cwd)
        rb = b4branch.load(cwd, branch)
        sel = b4branch.selection(cwd, rb.tracking, rb.branch)
        if not sel.commits:
            raise ReviewkitError(rb.branch, "the review branch holds no patch commit")
        report = api.review_commits(sel, cwd, options, cover=_tracking_cover(rb))
        diffs = {n: b4branch.patch_diff(cwd, sha) for n, sha in enumerate(sel.commits, 1)}
        files = b4review.review_files(report, diffs, f"{name} <{addr}>",
                                      b4branch.skipped(rb.tracking))
        where = b4branch.review_dir(cwd, rb.tip)
        try:
            b4branch.write_review_files(where, files)
        except OSError as exc:
            raise ReviewkitError(str(where), f"cannot write: {exc.strerror or exc}") from None
    except ReviewkitError as exc:
        _fail(str(exc))
    notes = sorted(n for n in files if n != "identity.txt")
    typer.echo(f"reviewkit: {len(notes)} review file(s) in {where}"
               + (f" ({', '.join(notes)})" if notes else " (no findings)")
               + "; b4 review reads them when it next opens the series", err=True)


def _tracking_cover(rb):
    """The review branch's cover letter as a Patch (None when the series had none)."""
    from reviewkit.parse.series import RawMessage, classify

    series = rb.tracking["series"]

    def one_line(value) -> str:
        return " ".join(str(value or "").split())

    subject = one_line(series.get("subject"))
    if not subject:
        return None
    body = rb.cover_text.split("\n", 1)[1] if "\n" in rb.cover_text else ""
    msgid = one_line((series.get("header-info") or {}).get("msgid")) or "cover@b4-review.invalid"
    author = f"{one_line(series.get('fromname'))} <{one_line(series.get('fromemail'))}>"
    data = (f"From: {author}\nSubject: {subject}\nMessage-ID: <{msgid.strip('<>')}>\n\n"
            f"{body.lstrip()}\n").encode("utf-8")
    item = classify(RawMessage(rb.branch, data))
    return item.patch if item.kind == "cover" else None


def _self_command() -> list[str]:
    """The argv that starts this reviewkit again, as an absolute path."""
    import shutil

    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0.endswith("__main__.py") or argv0 == "-c":
        return [os.path.abspath(sys.executable), "-m", "reviewkit"]
    path = argv0 if os.sep in argv0 else (shutil.which(argv0) or argv0)
    return [os.path.abspath(path)]


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


rules_app = typer.Typer(add_completion=False, no_args_is_help=True, context_settings=_CONTEXT,
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
    _show(render_rule(rule))


@app.command()
def version() -> None:
    """Print the version (as --version does)."""
    _print_version(True)


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@app.command()
def completion(shell: Shell = typer.Argument(..., help="the shell to complete in")) -> None:
    """Print the shell completion script.

    bash: eval "$(reviewkit completion bash)" in ~/.bashrc;
    zsh:  eval "$(reviewkit completion zsh)" in ~/.zshrc;
    fish: reviewkit completion fish > ~/.config/fish/completions/reviewkit.fish
    """
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name="reviewkit", complete_var="_REVIEWKIT_COMPLETE",
                                     shell=shell.value))


def _only_the_command_run(argv: list[str]) -> None:
    """Register only the command this process runs, when ARGV names it first.

    typer turns every registered function into a click command (inspecting
    its signature and type hints) before it dispatches to one: 4 ms of every
    run for commands it does not run.  Help for the whole program, options
    before the command, a misspelt command and shell completion see them all."""
    name = argv[1] if len(argv) > 1 else ""
    commands = [c for c in app.registered_commands
                if (c.name or getattr(c.callback, "__name__", "").lower().replace("_", "-"))
                == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) == 1:
        app.registered_commands, app.registered_groups = commands, groups


def main() -> None:
    # a review allocates many small, long-lived objects (lines, hunks, functions);
    # the default collector thresholds rescan them over and over on large series
    gc.set_threshold(50_000, 20, 100)
    if os.environ.get("_REVIEWKIT_COMPLETE"):  # the shell asks for completions
        from typer.completion import completion_init

        completion_init()
    else:
        _only_the_command_run(sys.argv)
    try:
        app(prog_name="reviewkit")
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
