"""The command's cache of compiled regular expressions and dataclass code
(reviewkit.startcache): what a run builds from the cache behaves exactly as
what Python builds itself, and a cache file that is not the user's own, or
not a cache file, is never used.

Each case runs in a fresh interpreter (the cache patches ``re`` and
``dataclasses`` for the process that installs it), with its own cache directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

EXAMPLE = str(REPO / "examples" / "zap-shmem-uffd-v4.mbox")

# builds patterns and dataclasses of every kind the cache stores, prints how they behave
PROBE = r'''
import json, os, re, sys
from reviewkit import startcache
startcache.install()
import dataclasses
from dataclasses import dataclass, field

out = {"loaded": len(startcache._regexes), "codes": len(startcache._codes)}
patterns = [
    (r"(?P<name>[\w.]+)@(?P<host>[^\s>]+)", 0),
    (r"^\s*(Reviewed|Acked)-by:\s*(.*)$", re.M | re.I),
    (r"[\u0080-\ud7ff\ue000-\U0010ffff]+", 0),
    (rb"\x00+(?P<tail>\xff)?", 0),
    (r"a.b", re.S | re.X),
    (r"(?i)caf\u00e9", 0),
]
texts = ["Peter Xu <peterx@redhat.com>", "  reviewed-BY: someone\nAcked-by: x",
         "plain \u00e9\u4e2d\U0001f600 text", "caf\u00c9", "a\nb"]
for pat, flags in patterns:
    p = re.compile(pat, flags)
    data = [b"\x00\x00\xff", b"x"] if isinstance(pat, bytes) else texts
    out[repr((pat, flags))] = {
        "flags": p.flags, "groups": p.groups, "groupindex": dict(p.groupindex),
        "findall": [repr(p.findall(t)) for t in data],
        "match": [repr(m.groupdict() if m else None) for m in map(p.search, data)],
    }

@dataclass(frozen=True, slots=True)
class Frozen:
    a: int
    b: str = "x"
    c: tuple = ()

@dataclass(order=True)
class Ordered:
    n: int
    tags: list = field(default_factory=list)

f = Frozen(1, c=(2,))
try:
    f.a = 3
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
out["dataclasses"] = [repr(f), f == Frozen(1, "x", (2,)), hash(f) == hash(Frozen(1, c=(2,))),
                      frozen, repr(dataclasses.replace(f, b="y")), Ordered(1) < Ordered(2),
                      repr(Ordered(3)), str(Frozen.__init__.__annotations__),
                      Frozen.__doc__, [x.name for x in dataclasses.fields(Ordered)]]
out["added"] = startcache._added
print(json.dumps(out))
'''


def probe(cache, **env) -> dict:
    full = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    full.pop("REVIEWKIT_NO_STARTCACHE", None)
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env=full, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def behaviour(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("loaded", "codes", "added")}


def cache_files(cache):
    return sorted((cache / "reviewkit").glob("startup-*.marshal"))


def test_a_cached_run_builds_what_python_builds(tmp_path):
    plain = probe(tmp_path / "off", REVIEWKIT_NO_STARTCACHE="1")
    first = probe(tmp_path / "on")
    files = cache_files(tmp_path / "on")
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    second = probe(tmp_path / "on")
    # the first run compiled and stored; the second found everything in the cache
    assert first["loaded"] == 0 and first["added"] is True
    assert second["loaded"] > 0 and second["codes"] > 0 and second["added"] is False
    assert behaviour(first) == behaviour(plain) == behaviour(second)


def test_a_cache_file_others_can_write_is_not_used(tmp_path):
    probe(tmp_path)
    (path,) = cache_files(tmp_path)
    path.chmod(0o666)
    assert probe(tmp_path)["loaded"] == 0
    path.chmod(0o600)
    (tmp_path / "reviewkit").chmod(0o777)
    try:
        assert probe(tmp_path)["loaded"] == 0
    finally:
        (tmp_path / "reviewkit").chmod(0o700)


def test_a_damaged_cache_file_is_ignored(tmp_path):
    plain = probe(tmp_path / "off", REVIEWKIT_NO_STARTCACHE="1")
    probe(tmp_path)
    (path,) = cache_files(tmp_path)
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], b"not a cache\n" + data, b""):
        path.write_bytes(damaged)
        got = probe(tmp_path)
        assert got["loaded"] == 0 and behaviour(got) == behaviour(plain)
        # and the run wrote a good one again
        assert probe(tmp_path)["loaded"] > 0


def test_the_review_is_the_same_with_the_cache_cold_warm_and_off(tmp_path):
    def review(**env):
        full = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "NO_COLOR": "1"}
        full.pop("REVIEWKIT_NO_STARTCACHE", None)
        full.update(env)
        proc = subprocess.run([sys.executable, "-m", "reviewkit", "review", EXAMPLE,
                               "--format", "json"], capture_output=True, env=full, timeout=120)
        return proc.returncode, proc.stdout

    off = review(REVIEWKIT_NO_STARTCACHE="1")
    assert not cache_files(tmp_path)
    cold = review()
    assert cache_files(tmp_path)
    warm = review()
    assert off == cold == warm
    assert off[0] == 1 and json.loads(off[1])["findings"]


def test_a_full_cache_keeps_what_the_run_that_adds_to_it_used(tmp_path):
    probe(tmp_path)
    script = (
        "import re, sys\n"
        "from reviewkit import startcache\n"
        "startcache.install()\n"
        "startcache.MAX_PATTERNS = 1\n"
        "re.compile(r'only (this|one) [a-z]+ pattern')\n"
        "print(len(startcache._regexes), len(startcache._used_regexes))\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("REVIEWKIT_NO_STARTCACHE", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    held, used = map(int, proc.stdout.split())
    assert held > used >= 1
    # the next run reads only what that run used (its own pattern among them)
    assert probe(tmp_path)["loaded"] == used


def test_an_entry_the_regex_engine_refuses_is_compiled_afresh(tmp_path):
    """A well-formed file whose compiled code for a pattern is wrong (a cache
    written by a buggy or foreign build) costs a compile, never a wrong answer."""
    probe(tmp_path)
    script = (
        "import marshal, re\n"
        "from reviewkit import startcache\n"
        "path = startcache._cache_file()\n"
        "startcache._load(path)\n"
        "key = (False, r'(?P<name>[\\w.]+)@(?P<host>[^\\s>]+)', 0)\n"
        "flags, code, groups, gi, ig = startcache._regexes[key]\n"
        "startcache._regexes[key] = (flags, [99999] + code[1:], groups, gi, ig)\n"
        "startcache._added = True\n"
        "startcache._save(path)\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("REVIEWKIT_NO_STARTCACHE", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    plain = probe(tmp_path / "off", REVIEWKIT_NO_STARTCACHE="1")
    got = probe(tmp_path)
    assert got["loaded"] > 0 and got["added"] is True  # the refused entry was compiled again
    assert behaviour(got) == behaviour(plain)
