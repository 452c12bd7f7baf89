"""A SQLite cache of fetched threads, under $XDG_CACHE_HOME/reviewkit.

Keyed by archive and Message-ID.  An entry is written in one transaction
after the whole thread has been fetched and checked, so a killed fetch
leaves nothing behind; WAL mode and a busy timeout let concurrent runs share
the file.

The cache is a convenience, never a reason to fail: a corrupt or truncated
file is moved aside (``threads.sqlite3.broken-<time>``) and a new one
started; a read-only, locked or full one is left alone and not used.  Either
way a one-line note naming the file is added to ``notes`` and the fetch
proceeds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    key      TEXT PRIMARY KEY,
    msgid    TEXT NOT NULL,
    url      TEXT NOT NULL,
    fetched  REAL NOT NULL,
    mbox     BLOB NOT NULL,
    meta     TEXT NOT NULL
);
"""


def default_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "reviewkit" / "threads.sqlite3"


@dataclass(frozen=True)
class Entry:
    msgid: str
    url: str
    fetched: float
    mbox: bytes
    meta: dict


_CORRUPT = ("not a database", "malformed", "file is encrypted", "no such table",
            "no such column", "database corrupt")


class ThreadCache:
    def __init__(self, path: Path | None = None, notes: list | None = None):
        self.path = path or default_path()
        self.notes = notes if notes is not None else []
        self.disabled = False

    def _connect(self, busy: float) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=busy, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            conn.execute("SELECT key, msgid, url, fetched, mbox, meta FROM threads LIMIT 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _guard(self, action, busy: float):
        """Run ``action(conn)``; on a broken cache, move it aside and retry once; on an
        unusable one, note it and give up (None)."""
        if self.disabled:
            return None
        for attempt in (1, 2):
            try:
                conn = self._connect(busy)
                try:
                    return action(conn)
                finally:
                    conn.close()
            except (sqlite3.Error, OSError, ValueError) as exc:
                why = " ".join(str(exc).split()) or type(exc).__name__
                if attempt == 1 and isinstance(exc, sqlite3.DatabaseError) and any(
                        w in why.lower() for w in _CORRUPT):
                    aside = self._move_aside()
                    if aside is not None:
                        self._note(f"cache {self.path} was unreadable ({why}); moved aside to "
                                   f"{aside.name}, starting a new one")
                        continue
                self._note(f"cache {self.path} not used: {why}")
                self.disabled = True
                return None
        return None

    def _move_aside(self) -> Path | None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.broken-{stamp}-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except OSError:
            return None
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            try:
                os.replace(side, aside.with_name(aside.name + suffix))
            except OSError:
                pass
        return aside

    @staticmethod
    def key(base_url: str, msgid: str) -> str:
        return f"{base_url.rstrip('/')}|{msgid}"

    def get(self, base_url: str, msgid: str) -> Entry | None:
        row = self._guard(lambda conn: conn.execute(
            "SELECT msgid, url, fetched, mbox, meta FROM threads WHERE key = ?",
            (self.key(base_url, msgid),)).fetchone(), busy=3.0)
        if row is None:
            return None
        try:
            meta = json.loads(row[4])
            if not isinstance(meta, dict) or not isinstance(row[3], (bytes, memoryview)):
                raise ValueError("not a thread entry")
            return Entry(msgid=str(row[0]), url=str(row[1]), fetched=float(row[2]),
                         mbox=bytes(row[3]), meta=meta)
        except (TypeError, ValueError):
            self._note(f"cache {self.path}: the entry for {msgid} is damaged; fetching again")
            return None

    def put(self, base_url: str, msgid: str, url: str, mbox: bytes, meta: dict) -> None:
        def write(conn):
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT OR REPLACE INTO threads (key, msgid, url, fetched, mbox, "
                             "meta) VALUES (?, ?, ?, ?, ?, ?)",
                             (self.key(base_url, msgid), msgid, url, time.time(), mbox,
                              json.dumps(meta)))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return True

        self._guard(write, busy=10.0)
