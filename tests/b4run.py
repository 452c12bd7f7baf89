"""Drive b4's own code (the pinned b4) the way ``b4 review`` does, in a fresh process.

b4 keeps its configuration in module globals, read once from git: each test
runs this script as a child with its own GIT_CONFIG_GLOBAL, so what b4 does
follows only from the configuration the test wrote.

    python b4run.py make-branch REPO MBOX     create b4/review/<change-id> from MBOX
    python b4run.py checks REPO MBOX          run the configured check commands
    python b4run.py local-checks REPO MBOX    b4 prep/am --check's commands on each patch
    python b4run.py integrate REPO BRANCH     read .git/b4-review/<tip>/ into the tracking data

Each prints one JSON document on stdout.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
import tempfile


def messages(mbox: str) -> list:
    """The messages of a ``git format-patch``/mboxrd file (stdlib parsing: this is b4's
    input format, handed to b4)."""
    data = open(mbox, "rb").read()
    out, cur = [], []
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From ") and (cur or not out):
            if cur:
                out.append(b"".join(cur))
            cur = []
            continue
        cur.append(line)
    if cur:
        out.append(b"".join(cur))
    return [email.message_from_bytes(m, policy=email.policy.default) for m in out]


def lore_series(mbox: str):
    import b4

    lmbx = b4.LoreMailbox()
    for msg in messages(mbox):
        lmbx.add_message(msg)
    return lmbx.get_series(max(lmbx.series), codereview_trailers=False)


def make_branch(repo: str, mbox: str) -> dict:
    """What b4 review's "check out" does (review_tui/_tracking_app.py): git am the
    series at its base into FETCH_HEAD, then create the review branch from it."""
    import io

    import b4
    from b4.review import _review

    lser = lore_series(mbox)
    am_msgs = lser.get_am_ready(noaddtrailers=True, addmysob=False, addlink=False,
                                cherrypick=None, copyccs=False, allowbadchars=False,
                                showchecks=False)
    ifh = io.BytesIO()
    b4.save_git_am_mbox(am_msgs, ifh)
    change_id = lser.change_id or "reviewkit-test"
    branch = _review.REVIEW_BRANCH_PREFIX + change_id
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    b4.git_fetch_am_into_repo(repo, ambytes=ifh.getvalue(), at_base=base)
    _review.create_review_branch(repo, branch, base, lser, "https://lore.kernel.org/r/x",
                                 "https://lore.kernel.org/r/%s")
    return {"branch": branch}


def checks(repo: str, mbox: str) -> dict:
    """What b4 review's check screen runs: per-patch commands on each patch, the series
    commands on the cover letter, with the tracking data in B4_TRACKING_FILE when the
    series has a review branch (as b4/review_tui/_common.py does)."""
    import b4
    from b4.review import _review
    from b4.review import checks as bchecks

    perpatch, series = bchecks.load_check_cmds()
    msgs = messages(mbox)
    cover, patches = None, []
    for msg in msgs:
        ls = b4.LoreSubject(msg.get("subject", ""))
        msgid = msg.get("message-id", "").strip("<> ")
        if ls.counter == 0 and ls.expected > 0:
            cover = (msgid, msg)
        elif ls.patch and not ls.reply:
            patches.append((msgid, msg))
    extra_env = {}
    branch = os.environ.get("B4RUN_BRANCH")
    tracking_file = None
    if branch:
        _cover, tracking = _review.load_tracking(repo, branch)
        fd, tracking_file = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as fp:
            json.dump(tracking, fp)
        extra_env["B4_TRACKING_FILE"] = tracking_file
    per = bchecks.run_perpatch_checks(patches, perpatch, repo, extra_env=extra_env)
    ser = bchecks.run_series_checks(cover or patches[0], series, repo, extra_env=extra_env) \
        if series else []
    if tracking_file:
        os.unlink(tracking_file)
    return {"perpatch_cmds": perpatch, "series_cmds": series,
            "perpatch": [per[m] for m, _ in patches], "series": ser}


def local_checks(repo: str, mbox: str) -> dict:
    """What b4 prep --check (ez.check) and b4 am --check run on each patch: the
    configured commands through LoreMessage.run_local_check."""
    import b4
    import b4.ez
    import b4.review.checks

    prep, _series = b4.ez.get_check_cmds()
    am = b4.get_main_config().get("am-perpatch-check-cmd") or []
    out: dict = {"prep_cmds": prep, "am_cmds": am, "prep": [], "am": []}
    for msg in messages(mbox):
        ls = b4.LoreSubject(msg.get("subject", ""))
        if not ls.patch or ls.counter == 0:
            continue
        for key, cmds in (("prep", prep), ("am", am)):
            rep = []
            for cmd in cmds:
                rep.extend(b4.LoreMessage.run_local_check(b4.review.checks.parse_cmd(cmd),
                                                          msg.get("message-id", ""), msg,
                                                          nocache=True))
            out[key].append(rep)
    return out


def integrate(repo: str, branch: str) -> dict:
    """b4 review's start of a session: integrate the review files of the branch tip."""
    from b4.review import _review

    cover_text, tracking = _review.load_tracking(repo, branch)
    first = tracking["series"]["first-patch-commit"]
    shas = subprocess.run(["git", "rev-list", "--reverse", f"{first}~1..{branch}~1"],
                          cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    patches = tracking["patches"]
    done = _review._integrate_agent_reviews(repo, cover_text, tracking, shas, patches,
                                            branch=branch)
    _cover, saved = _review.load_tracking(repo, branch)  # what b4 stored on the branch
    return {"integrated": done, "series": saved["series"].get("reviews", {}),
            "patches": [p.get("reviews", {}) for p in saved["patches"]]}


def main() -> None:
    import argparse

    import b4

    cmd, *args = sys.argv[1:]
    os.chdir(args[0])  # b4 runs in the repository it works on
    b4.setup_config(argparse.Namespace(config={}))
    result = {"make-branch": make_branch, "checks": checks, "integrate": integrate,
              "local-checks": local_checks}[cmd](*args)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
