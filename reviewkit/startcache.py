"""Compiled start-up code kept between runs of the reviewkit command.

Every run builds the same things before it reads a byte of mail: the regular
expressions of reviewkit and of the libraries it imports (mail-parser, PyYAML,
jinja2, unidiff, click ...) are parsed and compiled by ``re``, and each
dataclass has its ``__init__``, ``__eq__``, ``__hash__``, ``__repr__`` and
frozen ``__setattr__`` generated as source text and compiled.  Together that
is about a third of a small review's time, spent on identical results.

``install()`` (called by the command's entry point, before anything else is
imported) keeps both results in one file of the user's cache directory,
``$XDG_CACHE_HOME/reviewkit/startup-<tag>.marshal``, where the tag names the
exact interpreter (its version, build and ``re`` engine):

- a regular expression's compiled form (what ``re``'s compiler hands to
  ``_sre.compile``) is stored under its pattern and flags; a later run hands
  the same arguments to ``_sre.compile`` directly, so the pattern object is the
  one ``re.compile`` would build;
- the code object of each source text ``dataclasses`` executes is stored under
  that text (compiled exactly as ``exec`` compiles it), so a later run executes
  the same code without compiling it.

Entries are keyed by their full input, so a changed pattern or class is
simply a miss.  The file is written, atomically, only when a run added
entries (past MAX_PATTERNS or MAX_CODES entries, with only those that run
used: patterns made from input do not pile up in a file every run reads), and
read only from a directory and file the current user owns and
nobody else can write (it holds code); anything odd (no cache directory, a
truncated or foreign file) leaves Python's own behaviour in place.
``REVIEWKIT_NO_STARTCACHE=1`` turns the cache off.  Library users (``import
reviewkit``) are not affected: only the command installs it.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys

_FORMAT = b"reviewkit-startcache-1\n"
# bounds on what one file holds (it is read whole by every run): past them, a run
# that adds entries keeps only those it used itself
MAX_PATTERNS = 800
MAX_CODES = 800

_regexes: dict = {}  # (is_bytes, pattern, flags) -> the arguments of _sre.compile after pattern
_codes: dict = {}  # source text -> code object
_used_regexes: set = set()  # the keys this run used or added
_used_codes: set = set()
_added = False
_installed = False


def _cache_file() -> str | None:
    import _sre

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not base or base.startswith("~"):
        return None
    tag = "|".join((sys.version, sys.implementation.cache_tag or "", str(_sre.MAGIC),
                    str(_sre.CODESIZE), str(sys.maxunicode)))
    try:  # the C module alone: hashlib would import OpenSSL's bindings as well
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover
        from hashlib import blake2b
    digest = blake2b(tag.encode(), digest_size=10).hexdigest()
    return os.path.join(base, "reviewkit", f"startup-{digest}.marshal")


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _valid(regexes, codes) -> bool:
    if type(regexes) is not dict or type(codes) is not dict:
        return False
    code_type = type(_valid.__code__)
    for key, args in regexes.items():
        if not (type(key) is tuple and len(key) == 3 and type(args) is tuple and len(args) == 5
                and type(args[1]) is list and type(args[3]) is dict):
            return False
    return all(type(k) is str and type(v) is code_type for k, v in codes.items())


def _load(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        with os.fdopen(fd, "rb") as fp:
            if not _private(os.fstat(fp.fileno())) or not _private(
                    os.stat(os.path.dirname(path))):
                return
            blob = fp.read()
    except OSError:
        return
    if not blob.startswith(_FORMAT):
        return
    try:
        regexes, codes = marshal.loads(blob[len(_FORMAT):])
    except (EOFError, ValueError, TypeError):
        return
    if _valid(regexes, codes):
        _regexes.update(regexes)
        _codes.update(codes)


def _save(path: str) -> None:
    if not _added:
        return
    regexes, codes = _regexes, _codes
    if len(regexes) > MAX_PATTERNS or len(codes) > MAX_CODES:
        regexes = {k: v for k, v in regexes.items() if k in _used_regexes}
        codes = {k: v for k, v in codes.items() if k in _used_codes}
    try:
        payload = marshal.dumps((regexes, codes))
    except ValueError:  # something marshal cannot hold: keep nothing
        return
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _private(os.stat(directory)):
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fp:
                fp.write(_FORMAT + payload)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        return


class _Recorder:
    """Stands in for ``_sre`` while ``re`` compiles one pattern: keeps the
    arguments of ``_sre.compile``; everything else is ``_sre``'s own."""

    def __init__(self, sre) -> None:
        self._sre = sre
        self.args: tuple | None = None

    def __getattr__(self, name: str):
        return getattr(self._sre, name)

    def compile(self, *args):
        self.args = args
        return self._sre.compile(*args)


def _cached_regex_compiler(compiler):
    import _sre
    import _thread

    original = compiler.compile
    lock = _thread.allocate_lock()
    debug = compiler.SRE_FLAG_DEBUG

    def compile(p, flags=0):
        global _added
        if type(p) not in (str, bytes) or type(flags) is not int or flags & debug:
            return original(p, flags)
        key = (type(p) is bytes, p, flags)
        args = _regexes.get(key)
        if args is not None:
            try:
                pattern = _sre.compile(p, *args)
            except Exception:  # noqa: BLE001 - an entry _sre refuses: compile afresh
                del _regexes[key]
            else:
                _used_regexes.add(key)
                return pattern
        with lock:  # the recorder replaces _sre in the compiler module meanwhile
            recorder = _Recorder(compiler._sre)
            compiler._sre = recorder
            try:
                pattern = original(p, flags)
            finally:
                compiler._sre = recorder._sre
        got = recorder.args
        if got is not None and got[0] is p and len(got) == 6:
            # as plain data (the opcodes are int subclasses, which marshal does not hold)
            flags_, code, groups, groupindex, indexgroup = got[1:]
            _regexes[key] = (int(flags_), [int(c) for c in code], int(groups),
                             {str(k): int(v) for k, v in groupindex.items()}, tuple(indexgroup))
            _used_regexes.add(key)
            _added = True
        return pattern

    compile.__wrapped__ = original  # type: ignore[attr-defined]
    return compile


def _cached_exec():
    builtin_exec = exec

    def exec_(source, globals=None, locals=None, /):
        global _added
        if type(source) is not str:
            return builtin_exec(source, globals, locals)
        code = _codes.get(source)
        if code is None:
            # as exec() compiles a string (the caller, dataclasses, has no __future__ flags)
            code = _codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
            _added = True
        _used_codes.add(source)
        return builtin_exec(code, globals, locals)

    return exec_


def install() -> None:
    """Use (and fill) the cache for the rest of this process.  Call it first."""
    global _installed
    if _installed or os.environ.get("REVIEWKIT_NO_STARTCACHE"):
        return
    import dataclasses
    from re import _compiler

    if not hasattr(_compiler, "_sre") or not hasattr(_compiler, "compile"):
        return  # another re than the one this was written for: nothing to do
    path = _cache_file()
    if path is None:
        return
    _installed = True
    _load(path)
    _compiler.compile = _cached_regex_compiler(_compiler)
    # dataclasses builds each method with exec(source); a module global shadows the builtin
    dataclasses.exec = _cached_exec()  # type: ignore[attr-defined]
    import atexit

    atexit.register(_save, path)
