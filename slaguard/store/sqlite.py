"""SQLite store: the record.

Layout (``slaguard.store.schema``), chosen for the month queries of the evaluator:

* ``series``  one row per (target, location) with its service, kind and interval.
* ``results`` every raw result, clustered by (series, ts) (WITHOUT ROWID), so a
  month of one series is one contiguous range scan; a re-imported result with
  the same (series, ts) is a duplicate and is skipped, never doubled.
* ``runs``    run-length encoding of each series' outcomes, kept in the same
  transaction as the results: consecutive results with one outcome and no gap
  larger than 2 × interval.  Availability over a month reads runs (a handful
  per series) instead of 86 400 rows per series.
* ``latency_hours`` / ``latency_days`` per (series, UTC hour) and per (series,
  UTC day) the exact histogram of the successful results' durations, also kept
  in the same transaction: a month's latency objectives read ~30 day histograms
  per series, hour histograms where the period does not cover a whole UTC day
  (a month in Asia/Shanghai starts at 16:00 UTC), and raw rows only where it
  does not cover a whole hour.

WAL mode, one writer connection; a result is committed before ``add`` returns,
so nothing downstream ever sees a result the record does not have.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from slaguard.domain import PHASES, ErrorClass, ProbeError, ProbeResult, StepResult
from slaguard.store import histograms, schema
from slaguard.store.db import connect
from slaguard.store.writer import AddStats, TxWriter
from slo.latency import merge_counts
from slo.runs import Run

SCHEMA_VERSION = schema.SCHEMA_VERSION
CODE_OUTCOME = schema.CODE_OUTCOME
# The writer's page cache (KiB, negative for SQLite): a month's import touches a
# few GB of B-tree; the default 2 MiB keeps evicting the pages the next chunk needs.
WRITER_CACHE_KIB = 262_144
# first_above looks for candidate hours a day at a time, so a listing that fills
# in the first hours of a month does not fetch the whole month's candidates.
_SCAN_WINDOW_MS = 24 * histograms.HOUR_MS

_RESULT_COLUMNS = ("s.target, s.service, s.location, s.kind, r.ts_ms, r.outcome, "
                   "r.duration_ms, r.status_code, r.bytes, r.error_class, r.error_message, "
                   + ", ".join(f"r.{c}" for c in schema.PHASE_COLUMNS)
                   + ", r.cert_expiry, r.recovery_point_ms, r.connection, r.bound_exceeded_ms")

Histogram = tuple[NDArray[np.int64], NDArray[np.int64]]
StepRow = tuple[int, str, str, int, bool]  # ts_ms, location, step, elapsed_ms, ok


def _with_steps(db: sqlite3.Connection, results: list[ProbeResult]) -> list[ProbeResult]:
    """Journey results with their ``steps``, browser checks with their ``vitals``, read
    back (other kinds have neither)."""
    return [_steps_of(db, r) if r.kind == "journey" else
            _vitals_of(db, r) if r.kind == "browser" else r for r in results]


def _vitals_of(db: sqlite3.Connection, r: ProbeResult) -> ProbeResult:
    rows = db.execute(
        "SELECT v.name, v.value FROM browser_vitals v JOIN series s ON s.id = v.series_id "
        "WHERE s.target=? AND s.location=? AND v.ts_ms=?", (r.target, r.location, r.ts_ms))
    return r.with_(vitals=dict(rows.fetchall()))


def _steps_of(db: sqlite3.Connection, r: ProbeResult) -> ProbeResult:
    rows = db.execute(
        "SELECT j.step, j.offset_ms, j.elapsed_ms, j.attempts, j.status_code, j.ok, "
        "j.error_class, j.error_message FROM journey_steps j JOIN series s ON s.id = "
        "j.series_id WHERE s.target=? AND s.location=? AND j.ts_ms=? ORDER BY j.seq",
        (r.target, r.location, r.ts_ms)).fetchall()
    return r.with_(steps=tuple(
        StepResult(step, offset, elapsed, attempts, status, bool(ok),
                   ProbeError(ErrorClass(ecls), emsg or "") if ecls else None)
        for step, offset, elapsed, attempts, status, ok, ecls, emsg in rows))


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    id: int
    target: str
    location: str
    service: str
    kind: str
    interval_ms: int


def _ints(text: str | None) -> np.ndarray:
    """``"1,2,3"`` (SQLite's group_concat) → int64 array."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")


def _ceil(ts_ms: int, span_ms: int) -> int:
    return -(-ts_ms // span_ms) * span_ms


def _uncovered(lo: int, hi: int, covered: list[int], span_ms: int) -> list[tuple[int, int]]:
    """[lo, hi) less the ascending spans ``[c, c + span_ms)`` of ``covered``."""
    out = []
    for c in covered:
        if c > lo:
            out.append((lo, c))
        lo = c + span_ms
    return [*out, (lo, hi)] if lo < hi else out


def _histogram(db: sqlite3.Connection, sid: int, from_ms: int, to_ms: int) -> Histogram:
    hour, day = histograms.HOUR_MS, histograms.DAY_MS
    first, end = _ceil(from_ms, hour), to_ms - to_ms % hour  # the whole hours
    if first >= end:
        return _raw_histogram(db, sid, [(from_ms, to_ms)], [])
    blobs: list[bytes] = []
    days: list[int] = []
    for d, blob in db.execute("SELECT day_ms, hist FROM latency_days WHERE series_id=? "
                              "AND day_ms>=? AND day_ms<?",
                              (sid, _ceil(from_ms, day), to_ms - to_ms % day)):
        if blob is not None:  # else: read from its hours
            blobs.append(blob)
            days.append(d)
    raw = [(from_ms, first), (end, to_ms)]
    for lo, hi in _uncovered(first, end, days, day):
        for h, blob in db.execute("SELECT hour_ms, hist FROM latency_hours WHERE "
                                  "series_id=? AND hour_ms>=? AND hour_ms<?", (sid, lo, hi)):
            if blob is None:
                raw.append((h, h + hour))
            else:
                blobs.append(blob)
    return _raw_histogram(db, sid, raw, blobs)


def _raw_histogram(db: sqlite3.Connection, sid: int, ranges: list[tuple[int, int]],
                   blobs: list[bytes]) -> Histogram:
    """The stored ``blobs`` merged with the successful results of the raw ``ranges``."""
    values, counts = histograms.pairs(blobs)
    for lo, hi in ranges:
        if lo < hi:
            (text,) = db.execute(
                "SELECT group_concat(duration_ms) FROM results WHERE series_id=? "
                "AND ts_ms>=? AND ts_ms<? AND outcome=0", (sid, lo, hi)).fetchone()
            d = _ints(text)
            values = np.concatenate((values, d))
            counts = np.concatenate((counts, np.ones(d.size, dtype=np.int64)))
    return merge_counts(values, counts)


class SQLiteStore:
    """The record.  Thread-safe: one writer connection behind a lock; reads
    use a connection per thread (WAL lets them run beside the writer)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._db = connect(self.path)
        self._db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        schema.ensure(self._db, self.path)
        self._tx: TxWriter | None = None
        # Called inside add()'s transaction with its results: a durable sink's spool
        # is written in the same commit as the record, so no crash can fall between.
        self.in_commit: list[Callable[[sqlite3.Connection, Sequence[ProbeResult]], None]] = []

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

    # -- writing ----------------------------------------------------------------
    # What a transaction learns about series, runs and histograms is cached in its
    # TxWriter and dropped with it: another process (import-results beside a
    # running slaguard) may write the same file between two transactions.

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; on any error (the COMMIT's included) nothing is kept."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._tx = TxWriter(self._db)
            try:
                yield self._db
                self._tx.finish()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            finally:
                self._tx = None

    def add(self, results: Sequence[ProbeResult], intervals: dict[str, int]) -> AddStats:
        """Commit results (and their runs and histograms) in one transaction.

        ``intervals`` maps target → interval in ms (the timeline needs it).
        """
        with self.transaction() as db:
            stats = self.add_in(db, results, intervals)
            for feed in self.in_commit:
                feed(db, results)
            return stats

    def add_in(self, db: sqlite3.Connection, results: Sequence[ProbeResult],
               intervals: dict[str, int]) -> AddStats:
        """Add within an open ``transaction()`` (the importer's chunks)."""
        tx = self._tx
        if tx is not None and tx.db is db:
            return tx.add(results, intervals)
        # Not inside this store's transaction(): nothing outlives this call.
        tx = TxWriter(db)
        stats = tx.add(results, intervals)
        tx.finish()
        return stats

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
        sql = f"SELECT {_RESULT_COLUMNS} FROM results r JOIN series s ON s.id = r.series_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.ts_ms, s.target, s.location"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        db = self._reader()
        return _with_steps(db, [self._result(row) for row in db.execute(sql, args)])

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
        (target, service, location, kind, ts, outcome, duration, status, nbytes, ecls,
         emsg) = row[:11]
        cert, rp, conn, bound = row[-4:]
        phases = {p: v for p, v in zip(PHASES, row[11:-4], strict=True) if v is not None}
        return ProbeResult(
            ts_ms=ts, target=target, service=service, location=location, kind=kind,
            outcome=CODE_OUTCOME[outcome], duration_ms=duration, phases_ms=phases,
            status_code=status, bytes=nbytes,
            error=ProbeError(ErrorClass(ecls), emsg or "") if ecls else None,
            cert_expiry=cert, recovery_point_ms=rp, connection=conn or "cold",
            bound_exceeded_ms=bound,
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

    def latency_histograms(self, targets: Iterable[str], from_ms: int, to_ms: int
                           ) -> dict[tuple[str, str], Histogram]:
        """Per series, the exact histogram (distinct ascending durations, their counts)
        of the successful results in [from, to): whole UTC days from ``latency_days``,
        other whole hours from ``latency_hours``, the rest (a period's partial first
        and last hours, hours kept without a histogram) from the raw rows."""
        db = self._reader()
        return {(info.target, info.location): _histogram(db, info.id, from_ms, to_ms)
                for info in self._selected(targets)}

    def first_above(self, targets: Iterable[str], from_ms: int, to_ms: int, limit_ms: int,
                    max_listed: int) -> list[tuple[int, str, str, int]]:
        """(ts_ms, target, location, duration_ms) of the first ``max_listed`` successful
        results in [from, to) that took longer than ``limit_ms``, by (ts, target,
        location): the results that broke a latency bound.

        Only hours whose maximum is above the limit are read, in time order, and the
        walk stops at the end of the hour that completes the list: every later
        result is later than all of those found."""
        infos = {i.id: i for i in self._selected(targets)}
        if not infos or max_listed <= 0:
            return []
        db = self._reader()
        marks = ",".join("?" * len(infos))
        found: list[tuple[int, str, str, int]] = []
        window = histograms.hour_of(from_ms)
        while window < to_ms and len(found) < max_listed:
            end = min(window + _SCAN_WINDOW_MS, to_ms)
            candidates = db.execute(
                f"SELECT hour_ms, series_id FROM latency_hours WHERE series_id IN ({marks}) "
                "AND hour_ms>=? AND hour_ms<? AND max_ms>? ORDER BY hour_ms, series_id",
                (*infos, window, end, limit_ms)).fetchall()
            for h, group in groupby(candidates, key=itemgetter(0)):
                for _, sid in group:
                    info = infos[sid]
                    found += [(ts, info.target, info.location, d) for ts, d in db.execute(
                        "SELECT ts_ms, duration_ms FROM results WHERE series_id=? AND "
                        "ts_ms>=? AND ts_ms<? AND outcome=0 AND duration_ms>?",
                        (sid, max(h, from_ms), min(h + histograms.HOUR_MS, to_ms), limit_ms))]
                if len(found) >= max_listed:
                    break
            window = end
        return sorted(found)[:max_listed]

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
                f"SELECT {_RESULT_COLUMNS} "
                "FROM results r JOIN series s ON s.id = r.series_id WHERE r.series_id=? "
                "ORDER BY r.ts_ms DESC LIMIT 1", (info.id,)).fetchone()
            if row:
                out.append(self._result(row))
        return _with_steps(db, out)

    def step_elapsed(self, targets: Iterable[str], from_ms: int, to_ms: int
                     ) -> dict[str, list[StepRow]]:
        """Per journey target, its runs' steps in [from, to) as (ts_ms, location, step,
        elapsed_ms, ok), by ts: what step objectives (slo.steps) are judged on."""
        db = self._reader()
        out: dict[str, list[StepRow]] = {}
        for info in self._selected(targets):
            if info.kind != "journey":
                continue
            out.setdefault(info.target, []).extend(
                (ts, info.location, step, elapsed, bool(ok)) for ts, step, elapsed, ok in
                db.execute("SELECT ts_ms, step, elapsed_ms, ok FROM journey_steps WHERE "
                           "series_id=? AND ts_ms>=? AND ts_ms<? ORDER BY ts_ms, seq",
                           (info.id, from_ms, to_ms)))
        for rows in out.values():
            rows.sort(key=itemgetter(0, 1))
        return out

    def count(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM results").fetchone()[0])

    # -- windowed objectives (slo.rolling): counted events, never raw rows in Python ------

    def event_counts(self, targets: Iterable[str], from_ms: int, to_ms: int,
                     threshold_ms: int | None = None, inclusive: bool = False
                     ) -> tuple[int, int]:
        """(events, good events) of ``targets``' results in [from, to), every location:
        an event is a success or a failure (``unknown`` is none); good is a success,
        with ``threshold_ms`` one faster than it (``inclusive``: at it too).

        Successes and their durations come from the latency histograms (whole UTC
        days, then hours, raw rows only at the edges), failures from the runs: a
        failure run inside [from, to) counts whole, one crossing an edge is counted in
        the raw rows of its part inside.  A 30-day window of a 30 s series so reads ~30
        day histograms and a handful of runs, not 86 400 rows."""
        db = self._reader()
        total = good = 0
        for info in self._selected(targets):
            values, counts = _histogram(db, info.id, from_ms, to_ms)
            total += int(counts.sum())
            if threshold_ms is None:
                good += int(counts.sum())
            else:
                fast = values <= threshold_ms if inclusive else values < threshold_ms
                good += int(counts[fast].sum())
            total += _failures(db, info.id, from_ms, to_ms)
        return total, good

    def event_slices(self, targets: Iterable[str], origin_ms: int, slice_ms: int,
                     from_ms: int, to_ms: int, threshold_ms: int | None = None,
                     inclusive: bool = False) -> dict[int, tuple[int, int]]:
        """Per slice index (slice ``i`` is [origin + i × slice, origin + (i + 1) × slice))
        the (events, good events) of ``targets``' results in [from, to), counted as
        :meth:`event_counts` counts them; slices without events are absent.

        SQLite groups the raw rows itself and returns one row per slice: the rows are
        scanned (in C, along the (series, ts) key) but never come to Python.  Slices
        aligned to a rolling window's start do not fall on UTC hours, which is why the
        histograms cannot serve here."""
        ids = [info.id for info in self._selected(targets)]
        if not ids or from_ms >= to_ms:
            return {}
        # Group from a slice boundary at or before ``from`` so every offset is ≥ 0
        # (SQLite's integer division truncates towards zero).
        base = origin_ms + (from_ms - origin_ms) // slice_ms * slice_ms
        first = (base - origin_ms) // slice_ms
        fast = "1" if threshold_ms is None else f"duration_ms {'<=' if inclusive else '<'} ?"
        marks = ",".join("?" * len(ids))
        params: list[object] = [base, slice_ms]
        params += [] if threshold_ms is None else [threshold_ms]
        rows = self._reader().execute(
            f"SELECT (ts_ms - ?) / ? AS k, count(*), sum(outcome = 0 AND {fast}) FROM results "
            f"WHERE series_id IN ({marks}) AND ts_ms >= ? AND ts_ms < ? AND outcome < 2 "
            "GROUP BY k", (*params, *ids, from_ms, to_ms)).fetchall()
        return {first + k: (n, g) for k, n, g in rows}


def _failures(db: sqlite3.Connection, sid: int, from_ms: int, to_ms: int) -> int:
    """The failed results of one series in [from, to): whole failure runs inside, the
    raw rows of the parts inside of those crossing an edge."""
    failure = {o.value: code for o, code in schema.OUTCOME_CODE.items()}["failure"]
    n = 0
    for start, last, count in db.execute(
            "SELECT start_ms, last_ms, count FROM runs WHERE series_id=? AND outcome=? "
            "AND last_ms >= ? AND start_ms < ?", (sid, failure, from_ms, to_ms)):
        if from_ms <= start and last < to_ms:
            n += count
        else:
            (part,) = db.execute(
                "SELECT count(*) FROM results WHERE series_id=? AND outcome=? AND ts_ms>=? "
                "AND ts_ms<?", (sid, failure, max(start, from_ms), min(last + 1, to_ms))
            ).fetchone()
            n += part
    return int(n)
