"""Which public-inbox archive a run fetches from and links to.

Kept apart from the lore adapter so that a local review, which needs the
archive only for its links, does not import b4's side of the code: the URL
is checked (sources.lore.normalise_archive) only when one is configured.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEFAULT_ARCHIVE = "https://lore.kernel.org/all"


def git_midmask(cwd: Path | None = None) -> str | None:
    """b4.midmask from the user's own git configuration, when set."""
    try:
        out = subprocess.run(["git", "config", "--get", "b4.midmask"], cwd=cwd,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def choose_archive(cli: str | None, config_url: str | None, cwd: Path | None = None) -> str:
    """--lore-url, then $REVIEWKIT_LORE_URL, then the config file, then b4.midmask."""
    for label, value in (("--lore-url", cli), ("REVIEWKIT_LORE_URL",
                                               os.environ.get("REVIEWKIT_LORE_URL")),
                         ("lore-url", config_url), ("b4.midmask", None)):
        if label == "b4.midmask":
            value = git_midmask(cwd)
        if value:
            from reviewkit.sources.lore import normalise_archive

            return normalise_archive(value, label)
    return DEFAULT_ARCHIVE
