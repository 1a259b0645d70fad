"""Adding results inside one write transaction: rows, runs and hourly histograms.

A :class:`TxWriter` lives exactly as long as one ``BEGIN IMMEDIATE`` transaction
and caches what that transaction learns about each series (its id, its open run,
the histogram of its current hour), so a chunk of 5000 results costs one
``executemany`` and no per-series queries.  Nothing survives the transaction:
another process (``import-results`` beside a running slaguard) may write the
same file in between, and the write lock is the only thing that makes a cache
true.

The common case is the *fast path*: a series' results in a chunk come, in time
order, after everything the series already has (a probe's new results, a
time-ordered import).  They cannot be duplicates, so they are inserted as they
are and folded into the open run right here, on integer outcome codes.  Anything
else (duplicates, back-fill, disorder) takes the *slow path*, which asks the
record which results it already has and rebuilds the runs from the first one
touched.
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from slaguard.domain import PHASES, Outcome, ProbeResult
from slaguard.errors import StoreError
from slaguard.store import histograms
from slaguard.store.schema import OUTCOME_CODE, RESULT_COLUMNS, STEP_COLUMNS
from slo.latency import merge_counts

SUCCESS = OUTCOME_CODE[Outcome.SUCCESS]

INSERT_RESULT = f"INSERT INTO results VALUES ({','.join('?' * RESULT_COLUMNS)})"
UPSERT_RUN = "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?)"
INSERT_STEP = f"INSERT INTO journey_steps VALUES ({','.join('?' * STEP_COLUMNS)})"
INSERT_VITAL = "INSERT INTO browser_vitals VALUES (?,?,?,?)"
# SQLite's default limit on the parameters of one statement is 32766; stay well below.
_IN_BATCH = 500

# A run in the making: [outcome code, start_ms, last_ms, count].
OpenRun = list[int]
RunRow = tuple[int, int, int, int, int]  # series_id, start_ms, last_ms, outcome, count


def result_row(series_id: int, r: ProbeResult, code: int) -> tuple[object, ...]:
    """The ``results`` row of ``r``."""
    e = r.error
    p = r.phases_ms
    phases: tuple[int | None, ...] = tuple(map(p.get, PHASES)) if p else (None,) * len(PHASES)
    if p and len(p) != len(PHASES) - phases.count(None):
        raise StoreError(f"unknown phases {sorted(set(p) - set(PHASES))} "
                         f"(known: {', '.join(PHASES)})")
    return (series_id, r.ts_ms, code, r.duration_ms, r.status_code, r.bytes,
            e.cls.value if e else None, e.message if e else None, *phases,
            r.cert_expiry, r.recovery_point_ms, None if r.connection == "cold" else r.connection,
            r.bound_exceeded_ms)


def step_rows(series_id: int, r: ProbeResult) -> Iterator[tuple[object, ...]]:
    """The ``journey_steps`` rows of ``r`` (none unless it is a journey run)."""
    for seq, st in enumerate(r.steps):
        e = st.error
        yield (series_id, r.ts_ms, seq, st.step, st.offset_ms, st.elapsed_ms, st.attempts,
               st.status_code, int(st.ok), e.cls.value if e else None,
               e.message if e else None)


def vital_rows(series_id: int, r: ProbeResult) -> Iterator[tuple[object, ...]]:
    """The ``browser_vitals`` rows of ``r`` (none unless it is a browser check)."""
    return ((series_id, r.ts_ms, name, value) for name, value in sorted(r.vitals.items()))


@dataclass(slots=True)
class _Series:
    """What the transaction knows about one series."""

    id: int
    service: str
    kind: str
    interval_ms: int
    run: OpenRun | None  # the open (last) run; its last_ms is the series' newest ts
    run_dirty: bool = False
    hour: int | None = None  # the hour ``hist`` counts
    hist: dict[int, int] = field(default_factory=dict)
    # UTC days whose hours changed (their latency_days row is stale).
    stale_days: set[int] = field(default_factory=set)
    # The day of the newest result when the days were last looked after: when the
    # series has left it since, it gets its row.
    known_day: int | None = None


@dataclass(frozen=True, slots=True)
class AddStats:
    added: int
    duplicates: int


class TxWriter:
    """Adds results within one open write transaction; :meth:`finish` before COMMIT."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self._series: dict[tuple[str, str], _Series] = {}
        self._by_id: dict[int, _Series] = {}
        # Counts of hours a series has moved past, written after each add.
        self._ready: dict[tuple[int, int], dict[int, int]] = {}
        self._failed = False
        # Steps of the journey results and vitals of the browser checks added but not yet
        # written (after their results).
        self._steps: list[tuple[object, ...]] = []
        self._vitals: list[tuple[object, ...]] = []

    # -- the transaction's life -------------------------------------------------------

    def add(self, results: Sequence[ProbeResult], intervals: dict[str, int]) -> AddStats:
        if self._failed:
            raise StoreError("an earlier add failed in this transaction; roll it back")
        groups = _by_series(results, intervals)
        try:
            rows: list[tuple[object, ...]] = []
            closed: list[RunRow] = []
            slow = 0
            for rs in groups:
                s = self._state(rs[0], intervals[rs[0].target])
                if not self._append(s, rs, rows, closed):
                    slow += self._add_slow(s, rs)
            self.db.executemany(INSERT_RESULT, rows)
            self.db.executemany(UPSERT_RUN, closed)
            self.db.executemany(INSERT_STEP, self._steps)
            self.db.executemany(INSERT_VITAL, self._vitals)
            self._steps.clear()
            self._vitals.clear()
            self._flush_ready()
        except BaseException:
            self._failed = True  # the caches may no longer match the tables
            raise
        added = len(rows) + slow
        return AddStats(added, len(results) - added)

    def finish(self) -> None:
        """Write what is still cached: the open runs and the current hours' counts."""
        if self._failed:
            raise StoreError("an earlier add failed in this transaction; roll it back")
        for s in self._series.values():
            self._write_run(s)
            self._retire_hour(s)
        self._flush_ready()
        for s in self._series.values():
            self._keep_days(s)

    # -- series -----------------------------------------------------------------------

    def _state(self, r: ProbeResult, interval_ms: int) -> _Series:
        s = self._series.get((r.target, r.location))
        if s is not None and (s.service, s.kind, s.interval_ms) == (r.service, r.kind,
                                                                      interval_ms):
            return s
        row = self.db.execute(
            "INSERT INTO series (target, location, service, kind, interval_ms) "
            "VALUES (?,?,?,?,?) ON CONFLICT (target, location) DO UPDATE SET "
            "service=excluded.service, kind=excluded.kind, interval_ms=excluded.interval_ms "
            "RETURNING id", (r.target, r.location, r.service, r.kind, interval_ms)).fetchone()
        if s is not None:
            s.service, s.kind, s.interval_ms = r.service, r.kind, interval_ms
            return s
        run = self._last_run(int(row[0]))
        s = _Series(int(row[0]), r.service, r.kind, interval_ms, run,
                    known_day=None if run is None else histograms.day_of(run[2]))
        self._series[(r.target, r.location)] = self._by_id[s.id] = s
        return s

    def _last_run(self, sid: int) -> OpenRun | None:
        row = self.db.execute("SELECT outcome, start_ms, last_ms, count FROM runs "
                              "WHERE series_id=? ORDER BY start_ms DESC LIMIT 1",
                              (sid,)).fetchone()
        return None if row is None else list(row)

    def _write_run(self, s: _Series) -> None:
        if s.run_dirty and s.run is not None:
            code, start, last, n = s.run
            self.db.execute(UPSERT_RUN, (s.id, start, last, code, n))
            s.run_dirty = False

    # -- the fast path ----------------------------------------------------------------

    def _append(self, s: _Series, rs: Sequence[ProbeResult], rows: list[tuple[object, ...]],
                closed: list[RunRow]) -> bool:
        """Rows, runs and counts of results that all follow the series' newest one,
        in time order; False (nothing done) when they do not."""
        ts = [r.ts_ms for r in rs]
        if (s.run is not None and ts[0] <= s.run[2]) or not all(map(operator.lt, ts, ts[1:])):
            return False
        codes = [OUTCOME_CODE[r.outcome] for r in rs]
        rows.extend(map(result_row, itertools.repeat(s.id), rs, codes))
        self._keep_steps(s.id, rs)
        s.run = _fold(s.id, s.run, zip(ts, codes, strict=True), 2 * s.interval_ms,
                      closed)
        s.run_dirty = True
        for r, code in zip(rs, codes, strict=True):
            if code == SUCCESS:
                self._count(s, r.ts_ms, r.duration_ms)
        return True

    def _keep_steps(self, sid: int, rs: Sequence[ProbeResult]) -> None:
        """What a result keeps beside its row: a journey's steps, a browser's vitals."""
        self._steps.extend(row for r in rs if r.steps for row in step_rows(sid, r))
        self._vitals.extend(row for r in rs if r.vitals for row in vital_rows(sid, r))

    def _count(self, s: _Series, ts: int, duration_ms: int) -> None:
        hour = ts - ts % histograms.HOUR_MS
        if hour != s.hour:
            self._retire_hour(s)
            s.hour = hour
        s.hist[duration_ms] = s.hist.get(duration_ms, 0) + 1

    def _retire_hour(self, s: _Series) -> None:
        """Hand the counts of the series' current hour over to be written."""
        if s.hour is None or not s.hist:
            return
        ready = self._ready.setdefault((s.id, s.hour), {})
        for v, c in s.hist.items():
            ready[v] = ready.get(v, 0) + c
        s.stale_days.add(histograms.day_of(s.hour))
        s.hour, s.hist = None, {}

    def _flush_ready(self) -> None:
        """Add the retired hours' counts to ``latency_hours`` (read, merge, write), then
        look after the days of the series they belong to."""
        rows = []
        for (sid, hour), counts in self._ready.items():
            old = self.db.execute("SELECT max_ms, hist FROM latency_hours WHERE series_id=? "
                                  "AND hour_ms=?", (sid, hour)).fetchone()
            if old is None:
                rows.append((sid, hour, max(counts), histograms.encode(counts)))
            else:
                rows.append((sid, hour, max(old[0], *counts),
                             histograms.merged(old[1], counts)))
        self.db.executemany("INSERT OR REPLACE INTO latency_hours VALUES (?,?,?,?)", rows)
        sids = {sid for sid, _hour in self._ready}
        self._ready.clear()
        for sid in sids:
            self._keep_days(self._by_id[sid])

    def _keep_days(self, s: _Series) -> None:
        """``latency_days`` holds a row for each day a series has left, the sum of its
        hours; the day of its newest result keeps none (readers take its hours), so
        the live pipeline, which adds to that day all day long, never rewrites a
        day's histogram."""
        if s.run is None:
            return
        newest = histograms.day_of(s.run[2])
        if s.known_day is not None and s.known_day < newest:
            s.stale_days.add(s.known_day)  # the day the series has just left
        for day in s.stale_days:
            if day < newest:
                self._write_day(s.id, day)
            else:
                self.db.execute("DELETE FROM latency_days WHERE series_id=? AND day_ms=?",
                                (s.id, day))
        s.stale_days, s.known_day = set(), newest

    def _write_day(self, sid: int, day: int) -> None:
        """A day's histogram as the sum of its hours' (none when one of them has none)."""
        blobs = [b for (b,) in self.db.execute(
            "SELECT hist FROM latency_hours WHERE series_id=? AND hour_ms>=? AND hour_ms<?",
            (sid, day, day + histograms.DAY_MS))]
        if blobs:
            hist = None if None in blobs else histograms.encode_arrays(
                *merge_counts(*histograms.pairs(blobs)))
            self.db.execute("INSERT OR REPLACE INTO latency_days VALUES (?,?,?)",
                            (sid, day, hist))

    # -- the slow path ----------------------------------------------------------------

    def _add_slow(self, s: _Series, rs: Sequence[ProbeResult]) -> int:
        """Duplicates, back-fill or disorder: keep the first result of each ts the
        record does not have yet; returns how many were added."""
        first: dict[int, ProbeResult] = {}
        for r in rs:
            first.setdefault(r.ts_ms, r)
        newest = s.run[2] if s.run is not None else None
        had = self._existing(s.id, [t for t in first if newest is not None and t <= newest])
        new = sorted((r for t, r in first.items() if t not in had), key=lambda r: r.ts_ms)
        if not new:
            return 0
        rows: list[tuple[object, ...]] = []
        closed: list[RunRow] = []
        if self._append(s, new, rows, closed):  # only in-batch duplicates or disorder
            self.db.executemany(INSERT_RESULT, rows)
            self.db.executemany(UPSERT_RUN, closed)
            return len(new)
        self.db.executemany(INSERT_RESULT,
                            [result_row(s.id, r, OUTCOME_CODE[r.outcome]) for r in new])
        self._keep_steps(s.id, new)
        for r in new:
            if r.outcome is Outcome.SUCCESS:
                self._count(s, r.ts_ms, r.duration_ms)
        self._rebuild_runs(s, new[0].ts_ms)
        return len(new)

    def _existing(self, sid: int, ts: list[int]) -> set[int]:
        out: set[int] = set()
        for i in range(0, len(ts), _IN_BATCH):
            part = ts[i:i + _IN_BATCH]
            out.update(t for (t,) in self.db.execute(
                f"SELECT ts_ms FROM results WHERE series_id=? AND ts_ms IN "
                f"({','.join('?' * len(part))})", (sid, *part)))
        return out

    def _rebuild_runs(self, s: _Series, from_ts: int) -> None:
        """Runs from the first one ``from_ts`` touches, refolded from the record."""
        self._write_run(s)
        row = self.db.execute("SELECT MAX(start_ms) FROM runs WHERE series_id=? "
                              "AND start_ms<=?", (s.id, from_ts)).fetchone()
        start = from_ts if row[0] is None else row[0]
        self.db.execute("DELETE FROM runs WHERE series_id=? AND start_ms>=?", (s.id, start))
        closed: list[RunRow] = []
        s.run = _fold(s.id, self._last_run(s.id), self.db.execute(
            "SELECT ts_ms, outcome FROM results WHERE series_id=? AND ts_ms>=? ORDER BY ts_ms",
            (s.id, start)), 2 * s.interval_ms, closed)
        s.run_dirty = True
        self.db.executemany(UPSERT_RUN, closed)


def _fold(sid: int, run: OpenRun | None, items: Iterable[tuple[int, int]], two_intervals: int,
          closed: list[RunRow]) -> OpenRun | None:
    """``slo.runs.RunBuilder.add`` on integer outcome codes, for time-ordered (ts, code)
    pairs: extends ``run``, appends the runs it closes to ``closed``, returns the open one.
    (The builder's objects cost more than the rest of adding a result.)"""
    for t, code in items:
        if run is None:
            run = [code, t, t, 1]
        elif code == run[0] and t - run[2] <= two_intervals:
            run[2] = t
            run[3] += 1
        else:
            closed.append((sid, run[1], run[2], run[0], run[3]))
            run = [code, t, t, 1]
    return run


def _by_series(results: Sequence[ProbeResult], intervals: dict[str, int]
               ) -> list[list[ProbeResult]]:
    """Results grouped per (target, location), in arrival order; every target known."""
    groups: dict[tuple[str, str], list[ProbeResult]] = {}
    for r in results:
        key = (r.target, r.location)
        g = groups.get(key)
        if g is None:
            if r.target not in intervals:
                raise StoreError(f"unknown target {r.target!r} (no interval)")
            groups[key] = [r]
        else:
            g.append(r)
    return list(groups.values())
