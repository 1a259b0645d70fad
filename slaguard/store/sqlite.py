"""SQLite store: the record.

Layout, chosen for the month queries of the evaluator:

* ``series``  one row per (target, location) with its service, kind and interval.
* ``results`` every raw result, clustered by (series, ts) (WITHOUT ROWID), so a
  month of one series is one contiguous range scan; a re-imported result with
  the same (series, ts) is a duplicate and is skipped, never doubled.
* ``runs``    run-length encoding of each series' outcomes, kept in the same
  transaction as the results: consecutive results with one outcome and no gap
  larger than 2 × interval.  Availability over a month reads runs (a handful
  per series) instead of 86 400 rows per series.

WAL mode, one writer connection; a result is committed before ``add`` returns,
so nothing downstream ever sees a result the record does not have.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.errors import StoreError
from slaguard.store.db import connect
from slo.runs import Run, RunBuilder

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    location TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    UNIQUE (target, location)
);
CREATE TABLE IF NOT EXISTS results (
    series_id INTEGER NOT NULL REFERENCES series(id),
    ts_ms INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    bytes INTEGER,
    error_class TEXT,
    error_message TEXT,
    phases TEXT,
    cert_expiry INTEGER,
    recovery_point_ms INTEGER,
    connection TEXT,
    PRIMARY KEY (series_id, ts_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    series_id INTEGER NOT NULL REFERENCES series(id),
    start_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (series_id, start_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_end ON runs (series_id, last_ms);
"""
SCHEMA_VERSION = "1"

OUTCOME_CODE = {Outcome.SUCCESS: 0, Outcome.FAILURE: 1, Outcome.UNKNOWN: 2}
CODE_OUTCOME = {v: k for k, v in OUTCOME_CODE.items()}

Row = tuple[int, int, int, int, int | None, int | None, str | None, str | None, str | None,
            int | None, int | None, str | None]


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    id: int
    target: str
    location: str
    service: str
    kind: str
    interval_ms: int


@dataclass(frozen=True, slots=True)
class AddStats:
    added: int
    duplicates: int


def _ints(text: str | None) -> np.ndarray:
    """``"1,2,3"`` (SQLite's group_concat) → int64 array."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")


def _row(series_id: int, r: ProbeResult) -> Row:
    return (
        series_id, r.ts_ms, OUTCOME_CODE[r.outcome], r.duration_ms, r.status_code, r.bytes,
        r.error.cls.value if r.error else None, r.error.message if r.error else None,
        json.dumps(r.phases_ms, separators=(",", ":")) if r.phases_ms else None,
        r.cert_expiry, r.recovery_point_ms, None if r.connection == "cold" else r.connection,
    )


def fold_runs(run: Run | None, items: Iterable[tuple[int, Outcome]], interval_ms: int
              ) -> list[Run]:
    """Extend the open ``run`` with time-ordered results; returns every run to
    upsert (the closed ones, then the new open run)."""
    builder = RunBuilder(interval_ms, resume=run)
    out = [closed for ts, outcome in items if (closed := builder.add(ts, outcome))]
    assert builder.current is not None
    return [*out, builder.current]


class SQLiteStore:
    """The record.  Thread-safe: one writer connection behind a lock; reads
    use a connection per thread (WAL lets them run beside the writer)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._db = connect(self.path)
        self._db.executescript(SCHEMA)
        self._check_version()

    # -- connections ------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            return self._db
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: store schema {row[0]}, this slaguard needs "
                             f"{SCHEMA_VERSION}")

    # -- writing ----------------------------------------------------------------
    # Nothing about series or runs is cached between transactions: another
    # process (import-results beside a running slaguard) may write the same file.

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; on any error (the COMMIT's included) nothing is kept."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @staticmethod
    def _series_id(db: sqlite3.Connection, r: ProbeResult, interval_ms: int) -> int:
        row = db.execute(
            "INSERT INTO series (target, location, service, kind, interval_ms) "
            "VALUES (?,?,?,?,?) ON CONFLICT (target, location) DO UPDATE SET "
            "service=excluded.service, kind=excluded.kind, interval_ms=excluded.interval_ms "
            "RETURNING id", (r.target, r.location, r.service, r.kind, interval_ms)).fetchone()
        return int(row[0])

    def add(self, results: Sequence[ProbeResult], intervals: dict[str, int]) -> AddStats:
        """Commit results (and their runs) in one transaction.

        ``intervals`` maps target → interval in ms (the timeline needs it).
        """
        with self.transaction() as db:
            return self.add_in(db, results, intervals)

    def add_in(self, db: sqlite3.Connection, results: Sequence[ProbeResult],
               intervals: dict[str, int]) -> AddStats:
        """Add within an open ``transaction()`` (the importer's chunks)."""
        by_series: dict[tuple[str, str], list[ProbeResult]] = {}
        for r in results:
            if r.target not in intervals:
                raise StoreError(f"unknown target {r.target!r} (no interval)")
            by_series.setdefault((r.target, r.location), []).append(r)
        added = 0
        for rs in by_series.values():
            interval = intervals[rs[0].target]
            sid = self._series_id(db, rs[0], interval)
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           [_row(sid, r) for r in rs])
            n = db.total_changes - before
            added += n
            if n:
                self._update_runs(db, sid, rs, interval, exact=n == len(rs))
        return AddStats(added, len(results) - added)

    @staticmethod
    def _last_run(db: sqlite3.Connection, sid: int) -> Run | None:
        row = db.execute("SELECT start_ms, last_ms, outcome, count FROM runs WHERE series_id=? "
                         "ORDER BY start_ms DESC LIMIT 1", (sid,)).fetchone()
        return None if row is None else Run(CODE_OUTCOME[row[2]], row[0], row[1], row[3])

    def _update_runs(self, db: sqlite3.Connection, sid: int, rs: Sequence[ProbeResult],
                     interval: int, exact: bool) -> None:
        """Extend the series' runs with ``rs``; ``exact``: every one of them was new."""
        run = self._last_run(db, sid)
        ordered = sorted((r.ts_ms, r.outcome) for r in rs)
        if not exact or (run is not None and ordered[0][0] <= run.last_ms):
            # Late, back-filled or duplicated results: rebuild the runs from the
            # first one they touch, reading the record itself.
            row = db.execute("SELECT MAX(start_ms) FROM runs WHERE series_id=? AND start_ms<=?",
                             (sid, ordered[0][0])).fetchone()
            start = ordered[0][0] if row[0] is None else row[0]
            db.execute("DELETE FROM runs WHERE series_id=? AND start_ms>=?", (sid, start))
            run = self._last_run(db, sid)
            ordered = [(ts, CODE_OUTCOME[code]) for ts, code in db.execute(
                "SELECT ts_ms, outcome FROM results WHERE series_id=? AND ts_ms>=? "
                "ORDER BY ts_ms", (sid, start))]
        changed = fold_runs(run, ordered, interval)
        db.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?)",
                       [(sid, x.start_ms, x.last_ms, OUTCOME_CODE[x.outcome], x.count)
                        for x in changed])

    # -- reading ------------------------------------------------------------------

    def series(self) -> list[SeriesInfo]:
        return [SeriesInfo(*row) for row in self._reader().execute(
            "SELECT id, target, location, service, kind, interval_ms FROM series "
            "ORDER BY target, location")]

    def results(self, target: str | None = None, from_ms: int | None = None,
                to_ms: int | None = None, location: str | None = None,
                limit: int | None = None) -> list[ProbeResult]:
        """Results in [from_ms, to_ms), oldest first."""
        where, args = self._filters(target, location)
        if from_ms is not None:
            where.append("r.ts_ms >= ?")
            args.append(from_ms)
        if to_ms is not None:
            where.append("r.ts_ms < ?")
            args.append(to_ms)
        sql = ("SELECT s.target, s.service, s.location, s.kind, r.ts_ms, r.outcome, "
               "r.duration_ms, r.phases, r.status_code, r.bytes, r.error_class, "
               "r.error_message, r.cert_expiry, r.recovery_point_ms, r.connection "
               "FROM results r JOIN series s ON s.id = r.series_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.ts_ms, s.target, s.location"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._result(row) for row in self._reader().execute(sql, args)]

    @staticmethod
    def _filters(target: str | None, location: str | None) -> tuple[list[str], list[object]]:
        where: list[str] = []
        args: list[object] = []
        if target is not None:
            where.append("s.target = ?")
            args.append(target)
        if location is not None:
            where.append("s.location = ?")
            args.append(location)
        return where, args

    @staticmethod
    def _result(row: tuple) -> ProbeResult:
        (target, service, location, kind, ts, outcome, duration, phases, status, nbytes,
         ecls, emsg, cert, rp, conn) = row
        return ProbeResult(
            ts_ms=ts, target=target, service=service, location=location, kind=kind,
            outcome=CODE_OUTCOME[outcome], duration_ms=duration,
            phases_ms=json.loads(phases) if phases else {}, status_code=status, bytes=nbytes,
            error=ProbeError(ErrorClass(ecls), emsg or "") if ecls else None,
            cert_expiry=cert, recovery_point_ms=rp, connection=conn or "cold",
        )

    def _selected(self, targets: Iterable[str] | None) -> list[SeriesInfo]:
        wanted = None if targets is None else set(targets)
        return [s for s in self.series() if wanted is None or s.target in wanted]

    def runs(self, from_ms: int, to_ms: int,
             targets: Iterable[str] | None = None) -> dict[tuple[str, str], list[Run]]:
        """Runs with ``last_ms >= from_ms`` and ``start_ms < to_ms`` per (target, location).

        ``slo.runs_window`` says how far around a period to ask (the evaluator
        needs the state the period opened in)."""
        db = self._reader()
        out: dict[tuple[str, str], list[Run]] = {}
        for info in self._selected(targets):
            rows = db.execute(
                "SELECT start_ms, last_ms, outcome, count FROM runs WHERE series_id=? "
                "AND last_ms >= ? AND start_ms < ? ORDER BY start_ms",
                (info.id, from_ms, to_ms),
            ).fetchall()
            out[(info.target, info.location)] = [
                Run(CODE_OUTCOME[o], s, last, c) for s, last, o, c in rows
            ]
        return out

    def durations(self, targets: Iterable[str], from_ms: int, to_ms: int
                  ) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """(ts_ms, duration_ms) arrays of the successful results in [from, to) per series:
        the raw values exact means and nearest-rank percentiles need."""
        db = self._reader()
        out = {}
        for info in self._selected(targets):
            # One text column per field, parsed by numpy in C: about three times
            # faster than a Python tuple per row, which is what a month's latency
            # report spends its time on.
            ts, dur = db.execute(
                "SELECT group_concat(ts_ms), group_concat(duration_ms) FROM results "
                "WHERE series_id=? AND ts_ms>=? AND ts_ms<? AND outcome=0",
                (info.id, from_ms, to_ms)).fetchone()
            out[(info.target, info.location)] = (_ints(ts), _ints(dur))
        return out

    def recovery_points(self, targets: Iterable[str], from_ms: int, to_ms: int
                        ) -> list[tuple[str, str, int, int]]:
        """(target, location, ts_ms, recovery_point_ms) of freshness results in [from, to)."""
        db = self._reader()
        out: list[tuple[str, str, int, int]] = []
        for info in self._selected(targets):
            out += [(info.target, info.location, ts, rp) for ts, rp in db.execute(
                "SELECT ts_ms, recovery_point_ms FROM results WHERE series_id=? AND ts_ms>=? "
                "AND ts_ms<? AND recovery_point_ms IS NOT NULL ORDER BY ts_ms",
                (info.id, from_ms, to_ms))]
        return out

    def latest(self) -> list[ProbeResult]:
        """The newest result of every series (the exporter's state after a restart)."""
        out = []
        db = self._reader()
        for info in self.series():
            row = db.execute(
                "SELECT s.target, s.service, s.location, s.kind, r.ts_ms, r.outcome, "
                "r.duration_ms, r.phases, r.status_code, r.bytes, r.error_class, "
                "r.error_message, r.cert_expiry, r.recovery_point_ms, r.connection "
                "FROM results r JOIN series s ON s.id = r.series_id WHERE r.series_id=? "
                "ORDER BY r.ts_ms DESC LIMIT 1", (info.id,)).fetchone()
            if row:
                out.append(self._result(row))
        return out

    def count(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM results").fetchone()[0])
