"""A durable FIFO of text lines in SQLite: the outbox of an exporter.

Lines survive outages and restarts.  A consumer reads the oldest lines as a
:class:`Batch` and then either removes exactly that batch once the far end
acknowledged it (:meth:`Spool.ack`) or moves it aside, with the error, when
the far end will never accept it (:meth:`Spool.bury`).

The tables live in the store's SQLite file (one file to back up, one place
where "nothing is lost" is decided) but on a connection of their own, so the
store's writer lock and caches are untouched.  WAL lets the two connections
take turns writing; ``busy_timeout`` makes each wait for the other instead of
failing with "database is locked".

A spool has one consumer.  Two processes shipping the same spool would both
send its head: run one slaguard per store file.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slaguard.store.db import connect

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Batch:
    """The oldest lines of a spool, ids ``first_id..last_id`` (contiguous in the table)."""

    first_id: int
    last_id: int
    lines: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.lines)

    def body(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class DeadLine:
    id: int
    spool_id: int  # its id while it was queued
    line: str
    status: int | None  # HTTP status of the refusal, if there was one
    error: str
    failed_ms: int


class Spool:
    """Tables ``{name}_spool`` (queued lines) and ``{name}_dead`` (refused lines).

    Thread-safe (one lock around the connection), but meant to be driven from
    one worker thread so that the event loop never waits on SQLite.
    """

    def __init__(self, path: str | Path, name: str = "influx", busy_timeout_ms: int = 10_000):
        if not _NAME.match(name):
            raise ValueError(f"spool name must be a lower-case identifier, got {name!r}")
        self.path = str(path)
        self.queue_table, self.dead_table = f"{name}_spool", f"{name}_dead"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = self._connect(busy_timeout_ms)
        self._create()
        self._size = int(self._db.execute(f"SELECT COUNT(*) FROM {self.queue_table}")
                         .fetchone()[0])

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        return connect(self.path, busy_timeout_ms, "InfluxDB spool")

    def _create(self) -> None:
        # AUTOINCREMENT: ids are never reused, even after the queue empties, so
        # "ids first..last" always names exactly the rows a batch was read from.
        self._db.executescript(f"""
            CREATE TABLE IF NOT EXISTS {self.queue_table} (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                line TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS {self.dead_table} (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                spool_id INTEGER NOT NULL,
                line TEXT NOT NULL,
                status INTEGER,
                error TEXT NOT NULL,
                failed_ms INTEGER NOT NULL
            );
        """)

    def _write(self, change: Callable[[sqlite3.Connection], int]) -> int:
        """Run ``change`` in one write transaction; it returns the change in queue length."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                delta = change(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._size += delta
            return delta

    # -- producer -----------------------------------------------------------------

    def append(self, lines: Sequence[str]) -> None:
        """Queue ``lines`` at the end, all or none (one transaction)."""
        if not lines:
            return

        def insert(db: sqlite3.Connection) -> int:
            db.executemany(f"INSERT INTO {self.queue_table} (line) VALUES (?)",
                           [(line,) for line in lines])
            return len(lines)

        self._write(insert)

    def append_in(self, db: sqlite3.Connection, lines: Sequence[str]) -> None:
        """Queue ``lines`` within another connection's open transaction on the same file
        (the record's commit); :meth:`appended` counts them once it has committed."""
        db.executemany(f"INSERT INTO {self.queue_table} (line) VALUES (?)",
                       [(line,) for line in lines])

    def appended(self, n: int) -> None:
        with self._lock:
            self._size += n

    # -- consumer -----------------------------------------------------------------

    def peek(self, limit: int) -> Batch | None:
        """The oldest ``limit`` lines, or None when the queue is empty."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, line FROM {self.queue_table} ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        if not rows:
            return None
        return Batch(rows[0][0], rows[-1][0], tuple(line for _, line in rows))

    def ack(self, batch: Batch) -> None:
        """Remove ``batch``: the far end has it."""

        def delete(db: sqlite3.Connection) -> int:
            n = db.execute(f"DELETE FROM {self.queue_table} WHERE id BETWEEN ? AND ?",
                           (batch.first_id, batch.last_id)).rowcount
            if n != len(batch):
                # Only possible with a second consumer: what is left of the
                # range was still sent by us, so removing it stays right.
                log.warning("spool %s: acknowledged %d lines but removed %d; is another "
                            "process shipping this store?", self.queue_table, len(batch), n)
            return -n

        self._write(delete)

    def bury(self, batch: Batch, error: str, status: int | None = None,
             now_ms: int | None = None) -> None:
        """Move ``batch`` to the dead table with the reason (one transaction)."""
        failed_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms

        def move(db: sqlite3.Connection) -> int:
            db.execute(
                f"INSERT INTO {self.dead_table} (spool_id, line, status, error, failed_ms) "
                f"SELECT id, line, ?, ?, ? FROM {self.queue_table} "
                "WHERE id BETWEEN ? AND ? ORDER BY id",
                (status, error, failed_ms, batch.first_id, batch.last_id))
            return -db.execute(f"DELETE FROM {self.queue_table} WHERE id BETWEEN ? AND ?",
                               (batch.first_id, batch.last_id)).rowcount

        self._write(move)

    # -- inspection and repair ------------------------------------------------------

    def __len__(self) -> int:
        """Queued lines (kept as a counter: COUNT(*) on a day-long backlog is a table scan)."""
        return self._size

    def dead(self, limit: int = 100) -> list[DeadLine]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, spool_id, line, status, error, failed_ms FROM {self.dead_table} "
                "ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [DeadLine(*row) for row in rows]

    def dead_count(self) -> int:
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM {self.dead_table}")
                       .fetchone()[0])

    def requeue_dead(self) -> int:
        """Queue every dead line again, at the end, in its original order (after a fix)."""

        def move(db: sqlite3.Connection) -> int:
            n = db.execute(f"INSERT INTO {self.queue_table} (line) SELECT line FROM "
                           f"{self.dead_table} ORDER BY id").rowcount
            db.execute(f"DELETE FROM {self.dead_table}")
            return n

        return self._write(move)

    def close(self) -> None:
        with self._lock:
            self._db.close()
