#!/usr/bin/env python3
"""Time the cross-file function index and tree-mode reviews against a git clone.

Prints figures; asserts nothing.  The kernel files come from Debian's
linux-source-6.1, extracted by ``scripts/fetch-linux-source.sh --dirs mm
include/linux`` into a cache directory outside the repository (or ``--source
DIR``, a directory holding mm/ and include/linux/).  A git repository is built
from them in a temporary directory: the 6.1 commit, then a commit that deletes
the files the 6.1 fixture series touches, so its HEAD no longer has them.

    python benchmarks/xref.py [--source DIR] [--runs 3]

Figures:
- index cold: every .c/.h file of mm/ and include/linux/ parsed with
  tree-sitter and stored (an empty $XDG_CACHE_HOME);
- index warm: the same tree again (nothing parsed: all blobs cached);
- review cold/warm: ``reviewkit review`` of the 6.1 fixture series with
  ``--tree`` the repository (pre-images by blob id), as a separate process,
  with an empty and with a filled cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERIES_61 = REPO / "tests" / "fixtures" / "linux-6.1" / "series.mbox"
DIRS = ("mm", "include/linux")
GONE = ("mm/gup.c", "mm/shmem.c", "mm/memory.c")


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="B", GIT_AUTHOR_EMAIL="b@example.org", GIT_COMMITTER_NAME="B",
               GIT_COMMITTER_EMAIL="b@example.org", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          env=env).stdout.decode()


def source_dirs(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    out = subprocess.run(["bash", str(REPO / "scripts" / "fetch-linux-source.sh"), "--dirs",
                          *DIRS], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def build_repo(src: Path, dest: Path) -> tuple[str, str]:
    dest.mkdir(parents=True)
    git(dest, "init", "-q", "-b", "master")
    for d in DIRS:
        shutil.copytree(src / d, dest / d)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "Linux 6.1: mm/ and include/linux/")
    base = git(dest, "rev-parse", "HEAD").strip()
    git(dest, "rm", "-q", *GONE)
    git(dest, "commit", "-q", "-m", "the files the series touches are gone")
    return base, git(dest, "rev-parse", "HEAD").strip()


def index_once(repo_dir: Path, commit: str, cache_file: Path) -> tuple[float, int, int]:
    sys.path.insert(0, str(REPO))
    from reviewkit.engine.xref import IndexCache, build_index
    from reviewkit.sources.gitrepo import probe

    repo = probe(repo_dir)
    t0 = time.perf_counter()
    listing = repo.tree_listing(commit, list(DIRS))
    cache = IndexCache(cache_file)
    index = build_index(listing, repo.read_blobs, cache)
    seconds = time.perf_counter() - t0
    cache.close()
    functions = sum(len(paths) for paths in index.where.values())
    return seconds, len(index.files), functions


def review(repo_dir: Path, cache_home: Path) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "reviewkit", "review", str(SERIES_61),
                           "--tree", str(repo_dir), "--format", "json", "--output",
                           os.devnull, "--fail-on", "never"], capture_output=True, text=True,
                          env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"review failed ({proc.returncode}): {proc.stderr.strip()}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", help="a directory holding mm/ and include/linux/ of 6.1")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    src = source_dirs(args.source)
    with tempfile.TemporaryDirectory(prefix="reviewkit-bench-xref-") as tmp:
        tmp = Path(tmp)
        repo_dir = tmp / "linux"
        t0 = time.perf_counter()
        base, head = build_repo(src, repo_dir)
        print(f"repository: {repo_dir} built in {time.perf_counter() - t0:.1f} s "
              f"(base {base[:12]}, HEAD {head[:12]} without {', '.join(GONE)})")

        cold, warm = [], []
        for n in range(args.runs):
            cache_file = tmp / f"cache-{n}" / "functions.sqlite3"
            cache_file.parent.mkdir()
            seconds, files, functions = index_once(repo_dir, base, cache_file)
            cold.append(seconds)
            warm.append(index_once(repo_dir, base, cache_file)[0])
        size = cache_file.stat().st_size / 1e6
        print(f"index of {', '.join(d + '/' for d in DIRS)} at 6.1: {files} files, "
              f"{functions} function definitions, {size:.1f} MB of SQLite")
        print(f"  cold build: median {statistics.median(cold):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in cold)}; {os.cpu_count()} CPUs)")
        print(f"  warm:       median {statistics.median(warm) * 1000:.0f} ms "
              f"(runs: {', '.join(f'{s * 1000:.0f}' for s in warm)})")

        cold_r, warm_r = [], []
        for n in range(args.runs):
            home = tmp / f"review-{n}"
            home.mkdir()
            cold_r.append(review(repo_dir, home))
            warm_r.append(review(repo_dir, home))
        print("review of the 6.1 series, --tree the repository (blob ids; HEAD moved on):")
        print(f"  cold cache: median {statistics.median(cold_r):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in cold_r)})")
        print(f"  warm cache: median {statistics.median(warm_r):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in warm_r)})")


if __name__ == "__main__":
    main()
