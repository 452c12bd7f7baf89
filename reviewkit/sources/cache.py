"""A SQLite cache of fetched threads, under $XDG_CACHE_HOME/reviewkit.

Keyed by archive and Message-ID.  An entry is written in one transaction
after the whole thread has been fetched and checked, so a killed fetch
leaves nothing behind; WAL mode and a busy timeout let concurrent runs share
the file.
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


class ThreadCache:
    def __init__(self, path: Path | None = None):
        self.path = path or default_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=15.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=15000")
        conn.executescript(SCHEMA)
        return conn

    @staticmethod
    def key(base_url: str, msgid: str) -> str:
        return f"{base_url.rstrip('/')}|{msgid}"

    def get(self, base_url: str, msgid: str) -> Entry | None:
        conn = self._connect()
        try:
            row = conn.execute("SELECT msgid, url, fetched, mbox, meta FROM threads WHERE key = ?",
                               (self.key(base_url, msgid),)).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        return Entry(msgid=row[0], url=row[1], fetched=row[2], mbox=bytes(row[3]),
                     meta=json.loads(row[4]))

    def put(self, base_url: str, msgid: str, url: str, mbox: bytes, meta: dict) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO threads (key, msgid, url, fetched, mbox, meta) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (self.key(base_url, msgid), msgid, url, time.time(), mbox,
                          json.dumps(meta)))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
