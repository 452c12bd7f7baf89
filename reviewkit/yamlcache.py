"""YAML data files (rule manifests, the kernel vocabulary) parsed once per content.

Parsing YAML is most of the cost of loading the rules at start-up, on every
run, for files that change only with an upgrade.  The parsed data (plain
dicts, lists, strings, numbers) is kept in the user's cache directory,
``$XDG_CACHE_HOME/reviewkit/yaml/``, in ``marshal`` format, one file per
source file, named by the BLAKE2 hash of the source's bytes (and of the
Python and PyYAML versions).  A cached copy is used only when its name and the
hash recorded inside it match the file being loaded now — an edited manifest
has another hash, so a stale copy is never read — and only from a directory
and file the current user owns and nobody else can write.  Anything odd (no
cache directory, a truncated or foreign file, data marshal cannot hold) falls
back to parsing the YAML, which stays the authority: errors and their line
numbers always come from it.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
from pathlib import Path

try:  # the C module alone: hashlib would import OpenSSL's bindings as well
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b

_FORMAT = b"reviewkit-yaml-1\n"


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "reviewkit" / "yaml"


def _key(data: bytes) -> str:
    h = blake2b(digest_size=20)
    h.update(_FORMAT)
    h.update(sys.version.encode())
    h.update(data)
    return h.hexdigest()


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: Path, key: str):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fp:
        if not _private(os.fstat(fp.fileno())) or not _private(path.parent.stat()):
            return None
        blob = fp.read()
    head = _FORMAT + key.encode() + b"\n"
    if not blob.startswith(head):
        return None
    try:
        return (marshal.loads(blob[len(head):]),)
    except (EOFError, ValueError, TypeError):
        return None


def _write(path: Path, key: str, value) -> None:
    try:
        payload = marshal.dumps(value)
    except ValueError:  # not plain data: do not cache
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _private(path.parent.stat()):
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fp:
            fp.write(_FORMAT + key.encode() + b"\n" + payload)
        os.replace(tmp, path)
    except OSError:
        return


def load(path: Path, parse):
    """``parse(text)`` of the file at PATH, from the cache when its content was
    parsed before.  ``parse`` raises on bad YAML as it always does."""
    data = path.read_bytes()
    key = _key(data)
    where = cache_dir() / f"{key}.marshal"
    got = _read(where, key)
    if got is not None:
        return got[0]
    value = parse(data.decode("utf-8"))
    _write(where, key, value)
    return value


def load_many(paths: list[Path], build, salt: bytes = b""):
    """``build(paths)`` — one value made from the files at PATHS (a directory of
    rule manifests, parsed and validated) — from the cache when the same files
    held the same bytes before.  The key covers every file's name and bytes, and
    SALT (the code that builds the value: a change to it is a miss).  ``build``
    raises as it always does; nothing is cached then."""
    h = blake2b(digest_size=20)
    h.update(_FORMAT + b"many\n")
    h.update(sys.version.encode())
    h.update(len(salt).to_bytes(8, "little") + salt)
    for path in paths:
        data = path.read_bytes()
        name = str(path).encode("utf-8", "surrogateescape")
        h.update(len(name).to_bytes(8, "little") + name)
        h.update(len(data).to_bytes(8, "little") + data)
    key = h.hexdigest()
    where = cache_dir() / f"{key}.marshal"
    got = _read(where, key)
    if got is not None:
        return got[0]
    value = build(paths)
    _write(where, key, value)
    return value

