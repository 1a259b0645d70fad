"""Opening the record's SQLite file: one way, for every module that keeps tables in it.

The results store, the alerting store, the InfluxDB spool, the statement
archive, claims and imported incidents each hold their own connection to the
same file; WAL lets them read beside one writer, and ``busy_timeout`` makes a
writer wait for another instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

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


TxT = TypeVar("TxT")


class TableStore(Generic[TxT]):
    """A module's own tables in the record's file, on its own connection, used under
    a lock (API handlers call in from worker threads; every use holds the lock for
    its whole statement or transaction).

    Subclasses name their tables' schema, its version, the ``<prefix>_meta`` table
    that records the version, and ``tx``: what wraps the connection inside a
    transaction (the module's queries).
    """

    what: ClassVar[str]
    schema: ClassVar[str]
    schema_version: ClassVar[str]
    meta_table: ClassVar[str]

    def __init__(self, path: str | Path, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS):
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = connect(self.path, busy_timeout_ms, self.what)
        with self._lock:
            self._db.executescript(self.schema)
            self._check_version()

    def tx(self, db: sqlite3.Connection) -> TxT:
        raise NotImplementedError

    def _check_version(self) -> None:
        row = self._db.execute(f"SELECT value FROM {self.meta_table} WHERE key='schema'"
                               ).fetchone()
        if row is None:
            self._db.execute(f"INSERT INTO {self.meta_table} VALUES ('schema', ?)",
                             (self.schema_version,))
        elif row[0] != self.schema_version:
            raise StoreError(f"{self.path}: {self.what} schema {row[0]}, this slaguard needs "
                             f"{self.schema_version}")

    @contextmanager
    def transaction(self) -> Iterator[TxT]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front, so a
        read-then-write inside cannot lose a race.  On any error nothing is kept."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self.tx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[TxT]:
        """Reads under the lock; several statements see one snapshot."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self.tx(self._db)
            finally:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
