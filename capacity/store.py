"""The record of capacity runs: one JSON document per run in the record's file.

A run is ``CAP-n``.  Its row is written when it starts (verdict ``running``) and
replaced by the whole document when it ends, so a run in progress is visible (and
its window flags probe results) while it goes.  A row still ``running`` when the
next run takes the lock belongs to a process that died: it is closed ``invalid``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.windows import RunWindow
from slaguard.errors import StoreError
from slaguard.store.db import DEFAULT_BUSY_TIMEOUT_MS, TableStore

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS capacity_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS capacity_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    verdict TEXT NOT NULL CHECK (verdict IN ('running', 'passed', 'failed', 'aborted',
                                             'invalid')),
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS capacity_runs_started ON capacity_runs (started_ms);
"""
_ID = re.compile(r"^(?:CAP-)?([0-9]{1,12})$", re.IGNORECASE)


class RunNotFound(StoreError):
    """No such capacity run."""


def run_number(run_id: str) -> int:
    """``CAP-7`` or ``7`` → 7; :class:`RunNotFound` for anything else."""
    m = _ID.match(run_id.strip())
    if m is None:
        raise RunNotFound(f"not a capacity run id: {run_id!r} (CAP-7 or 7)")
    return int(m.group(1))


def public_id(number: int) -> str:
    return f"CAP-{number}"


@dataclass(frozen=True)
class CapacityTx:
    db: sqlite3.Connection

    def start(self, job: str, started_ms: int, doc: dict[str, Any]) -> str:
        cur = self.db.execute(
            "INSERT INTO capacity_runs (job, started_ms, verdict, doc) VALUES (?, ?, 'running', "
            "'{}')", (job, started_ms))
        number = int(cur.lastrowid or 0)
        doc = doc | {"id": public_id(number), "verdict": "running"}
        self.db.execute("UPDATE capacity_runs SET doc = ? WHERE id = ?",
                        (json.dumps(doc, ensure_ascii=False), number))
        return public_id(number)

    def finish(self, doc: dict[str, Any]) -> None:
        self.db.execute("UPDATE capacity_runs SET ended_ms = ?, verdict = ?, doc = ? WHERE id = ?",
                        (doc["end_ms"], doc["verdict"], json.dumps(doc, ensure_ascii=False),
                         run_number(doc["id"])))

    def running(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT doc FROM capacity_runs WHERE verdict = 'running' "
                               "ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def get(self, number: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM capacity_runs WHERE id = ?", (number,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def listing(self, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT doc FROM capacity_runs ORDER BY id DESC LIMIT ?",
                               (limit,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def between(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT doc FROM capacity_runs WHERE started_ms < ? AND (ended_ms IS NULL OR "
            "ended_ms > ?) ORDER BY started_ms", (end_ms, start_ms)).fetchall()
        return [json.loads(r[0]) for r in rows]


class CapacityStore(TableStore[CapacityTx]):
    """Capacity runs in the record's file."""

    what = "capacity runs"
    schema = SCHEMA
    schema_version = SCHEMA_VERSION
    meta_table = "capacity_meta"

    def __init__(self, path: str | Path, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS):
        try:
            super().__init__(path, busy_timeout_ms)
        except sqlite3.Error as e:
            raise StoreError(f"{path}: capacity runs: {e}") from None

    def tx(self, db: sqlite3.Connection) -> CapacityTx:
        return CapacityTx(db)

    def start(self, job: str, started_ms: int, doc: dict[str, Any]) -> str:
        with self.transaction() as tx:
            return tx.start(job, started_ms, doc)

    def finish(self, doc: dict[str, Any]) -> None:
        with self.transaction() as tx:
            tx.finish(doc)

    def close_abandoned(self, now_ms: int) -> list[str]:
        """Close the runs a dead process left ``running`` (call with the run lock held)."""
        closed = []
        with self.transaction() as tx:
            for doc in tx.running():
                doc |= {"end_ms": now_ms, "verdict": "invalid",
                        "invalid_reason": "slaguard stopped during the run; nothing was "
                                          "recorded after its start"}
                tx.finish(doc)
                closed.append(doc["id"])
        return closed

    def running(self) -> dict[str, Any] | None:
        with self.reading() as tx:
            docs = tx.running()
        return docs[-1] if docs else None

    def get(self, run_id: str) -> dict[str, Any]:
        number = run_number(run_id)
        with self.reading() as tx:
            doc = tx.get(number)
        if doc is None:
            raise RunNotFound(f"no capacity run {public_id(number)}")
        return doc

    def listing(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.reading() as tx:
            return tx.listing(limit)

    def between(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Runs whose window overlaps ``[start_ms, end_ms)``, oldest first."""
        with self.reading() as tx:
            return tx.between(start_ms, end_ms)

    def windows(self, start_ms: int, end_ms: int) -> list[RunWindow]:
        """The windows of those runs (for :mod:`capacity.windows`)."""
        return [RunWindow(d["id"], d["start_ms"], d.get("end_ms"))
                for d in self.between(start_ms, end_ms)]
