"""The results store's tables, their version, and the migrations from the previous ones.

Version 4 (this one) against version 3:

* ``journey_steps`` is new: one row per step of a journey run (``kind: journey``),
  keyed by its result (series, ts) and the step's position, in the run's own
  clock (``offset_ms``, ``elapsed_ms``).  Nothing stored before changes: the
  migration only creates the table (no journey was recorded before);
* ``browser_vitals`` is new: a browser check's page figures (``ProbeResult.vitals``:
  TTFB, FCP, LCP, CLS × 1000, DOMContentLoaded, load, bytes, requests, failed
  requests), one integer row per name beside its result row.

Version 3 against version 2:

* ``results.bound_exceeded_ms`` is new: the performance bound (``max_duration``)
  a *successful* result took longer than.  Until version 2 such a result was
  stored as a failure (``assertion``, "took N ms, more than max_duration Xs"),
  which counted a slow but complete upload as downtime.  The migration turns
  exactly those rows into successes carrying their bound (the message says both
  numbers) and rebuilds the runs and latency histograms of the series it
  touched, so past months are accounted as they are now: a performance breach,
  not downtime.  Statements already frozen stay as they were issued.

Version 2 against version 1:

* ``results`` keeps a probe's phases as six INTEGER columns instead of a JSON
  text (a phase never measured stays NULL: absent, not 0), about half the bytes
  per result;
* ``latency_hours`` and ``latency_days`` are new: per (series, UTC hour) the
  exact histogram of the successful results' durations and their maximum, and
  per (series, UTC day it has left) the sum of its hours' histograms, kept in
  the transaction that adds the results (see ``slaguard.store.histograms``).

A version 1, 2 or 3 store is migrated when it is opened, in one transaction: either
the whole store is at version 4 afterwards or it is left as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from itertools import groupby

from slaguard.domain import PHASES, Outcome
from slaguard.errors import StoreError
from slaguard.store import histograms

SCHEMA_VERSION = "4"

# How ``results.outcome`` and ``runs.outcome`` store an outcome.
OUTCOME_CODE = {Outcome.SUCCESS: 0, Outcome.FAILURE: 1, Outcome.UNKNOWN: 2}
CODE_OUTCOME = {code: outcome for outcome, code in OUTCOME_CODE.items()}

SERIES = """CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    location TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    UNIQUE (target, location)
)"""

PHASE_COLUMNS = tuple(f"{p}_ms" for p in PHASES)

RESULTS = f"""CREATE TABLE IF NOT EXISTS results (
    series_id INTEGER NOT NULL REFERENCES series(id),
    ts_ms INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    bytes INTEGER,
    error_class TEXT,
    error_message TEXT,
    {", ".join(f"{c} INTEGER" for c in PHASE_COLUMNS)},
    cert_expiry INTEGER,
    recovery_point_ms INTEGER,
    connection TEXT,
    bound_exceeded_ms INTEGER,
    PRIMARY KEY (series_id, ts_ms)
) WITHOUT ROWID"""
RESULT_COLUMNS = 12 + len(PHASE_COLUMNS)

RUNS = """CREATE TABLE IF NOT EXISTS runs (
    series_id INTEGER NOT NULL REFERENCES series(id),
    start_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (series_id, start_ms)
) WITHOUT ROWID"""

# hist NULL: the hour holds a duration beyond 32 bits, read its raw rows.
LATENCY_HOURS = """CREATE TABLE IF NOT EXISTS latency_hours (
    series_id INTEGER NOT NULL REFERENCES series(id),
    hour_ms INTEGER NOT NULL,
    max_ms INTEGER NOT NULL,
    hist BLOB,
    PRIMARY KEY (series_id, hour_ms)
) WITHOUT ROWID"""

# The sum of the day's latency_hours (hist NULL when one of them is NULL), for the
# days a series has left; readers take a day without a row from its hours.
LATENCY_DAYS = """CREATE TABLE IF NOT EXISTS latency_days (
    series_id INTEGER NOT NULL REFERENCES series(id),
    day_ms INTEGER NOT NULL,
    hist BLOB,
    PRIMARY KEY (series_id, day_ms)
) WITHOUT ROWID"""

# A journey run's steps, in order (``seq``), beside its result row.
JOURNEY_STEPS = """CREATE TABLE IF NOT EXISTS journey_steps (
    series_id INTEGER NOT NULL REFERENCES series(id),
    ts_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    step TEXT NOT NULL,
    offset_ms INTEGER NOT NULL,
    elapsed_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    status_code INTEGER,
    ok INTEGER NOT NULL,
    error_class TEXT,
    error_message TEXT,
    PRIMARY KEY (series_id, ts_ms, seq)
) WITHOUT ROWID"""
STEP_COLUMNS = 11

# A browser check's page figures by name (``ProbeResult.vitals``), beside its result.
BROWSER_VITALS = """CREATE TABLE IF NOT EXISTS browser_vitals (
    series_id INTEGER NOT NULL REFERENCES series(id),
    ts_ms INTEGER NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts_ms, name)
) WITHOUT ROWID"""

STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    SERIES,
    RESULTS,
    RUNS,
    "CREATE INDEX IF NOT EXISTS runs_by_end ON runs (series_id, last_ms)",
    LATENCY_HOURS,
    # Which hours hold a result above a limit, without reading the histograms:
    # the listing of the results that broke a latency bound starts from it.
    "CREATE INDEX IF NOT EXISTS latency_hours_by_max ON latency_hours "
    "(series_id, hour_ms, max_ms)",
    LATENCY_DAYS,
    JOURNEY_STEPS,
    BROWSER_VITALS,
)


def ensure(db: sqlite3.Connection, path: str) -> None:
    """Create the tables, or migrate a version 1 or 2 store, in one write transaction
    (two processes opening one file at once: the second sees the first's work)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(STATEMENTS[0])
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is not None and row[0] == "1":
            _migrate_from_1(db)
        elif row is not None and row[0] == "2":
            _migrate_from_2(db)
        elif row is not None and row[0] not in ("3", SCHEMA_VERSION):
            raise StoreError(f"{path}: store schema {row[0]}, this slaguard reads "
                             f"{SCHEMA_VERSION} (and migrates 1, 2 and 3)")
        # From 3 (and so from 1 and 2, which end at 3's tables): the statements below
        # create journey_steps and browser_vitals, the only differences.
        for statement in STATEMENTS:
            db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _migrate_from_1(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE results RENAME TO results_v1")
    db.execute(RESULTS)
    phases = ", ".join(f"json_extract(phases, '$.{p}')" for p in PHASES)
    db.execute(
        "INSERT INTO results (series_id, ts_ms, outcome, duration_ms, status_code, bytes, "
        f"error_class, error_message, {', '.join(PHASE_COLUMNS)}, cert_expiry, "
        "recovery_point_ms, connection) "
        "SELECT series_id, ts_ms, outcome, duration_ms, status_code, "
        f"bytes, error_class, error_message, {phases}, cert_expiry, recovery_point_ms, "
        "connection FROM results_v1 ORDER BY series_id, ts_ms")
    db.execute("DROP TABLE results_v1")
    db.execute(LATENCY_HOURS)
    db.executemany("INSERT INTO latency_hours VALUES (?,?,?,?)",
                   _histograms_of_results(db, histograms.HOUR_MS))
    db.execute(LATENCY_DAYS)
    db.executemany("INSERT INTO latency_days VALUES (?,?,?)",
                   (row[:2] + row[3:] for row in _histograms_of_results(
                       db, histograms.DAY_MS)))


def _histograms_of_results(db: sqlite3.Connection, span_ms: int,
                           series: Collection[int] | None = None
                           ) -> Iterator[tuple[int, int, int, bytes | None]]:
    """(series_id, start, max, histogram) per span, from the results table (successful
    results only, of ``series`` or all): latency_hours rows, or latency_days rows but
    for the max."""
    only = "" if series is None else \
        f"AND series_id IN ({','.join(str(int(sid)) for sid in series)}) "
    rows = db.execute(
        f"SELECT series_id, ts_ms - ((ts_ms % {span_ms}) + {span_ms}) % {span_ms} AS span, "
        f"duration_ms, COUNT(*) FROM results WHERE outcome = 0 {only}"
        "GROUP BY series_id, span, duration_ms ORDER BY series_id, span, duration_ms")
    for (sid, start), group in groupby(rows, key=lambda r: (r[0], r[1])):
        counts = {d: n for _s, _h, d, n in group}
        yield sid, start, max(counts), histograms.encode(counts)


def _migrate_from_2(db: sqlite3.Connection) -> None:
    # Results recorded before stay as they were recorded: a version 2 "too slow"
    # failure is evidence already reported (and maybe paid on); the new rule applies
    # from the upgrade on.
    db.execute("ALTER TABLE results ADD COLUMN bound_exceeded_ms INTEGER")
