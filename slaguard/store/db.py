"""Opening the record's SQLite file: one way, for every module that keeps tables in it.

The results store, the alerting store, the InfluxDB spool, the statement
archive, claims and imported incidents each hold their own connection to the
same file; WAL lets them read beside one writer, and ``busy_timeout`` makes a
writer wait for another instead of failing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from slaguard.errors import StoreError

DEFAULT_BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
            what: str = "store") -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit ``BEGIN IMMEDIATE``,
    so a read never upgrades to a write half-way and deadlocks), WAL journal."""
    path = str(path)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                             timeout=busy_timeout_ms / 1000)
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a crash of the process in WAL mode; a power
        # loss may lose the last commit, never corrupt the file.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the {what}: {e}") from None
    return db
