"""Schema 3: a slow but complete result is a success carrying ``bound_exceeded_ms``;
schema 2: phases as columns.  Stores of schema 1 and 2 are migrated on open (or left
untouched); results already recorded keep their outcome."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.errors import StoreError
from slaguard.store import SQLiteStore, histograms, schema
from slo.runs import Run, runs_from_results

S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN
T0 = 1_790_784_000_000
INTERVALS = {"web": 30_000}

# The schema 1 SQL exactly as slaguard created it (slaguard/store/sqlite.py at 3ded955).
SCHEMA_1 = """
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
CODE = {S: 0, F: 1, U: 2}


def v1_results() -> list[ProbeResult]:
    out = []
    for i in range(300):  # 2.5 h across three UTC hours, some failures and unknowns
        outcome = F if 100 <= i < 104 else U if i == 200 else S
        out.append(ProbeResult(
            ts_ms=T0 - 1_800_000 + i * 30_000, target="web", service="core", location="sh",
            kind="http", outcome=outcome, duration_ms=100 + i % 37,
            phases_ms={"resolve": 1, "connect": 2, "processing": 90 + i % 37 - 3}
            if outcome is S else {"resolve": 1},
            status_code=200 if outcome is S else None, bytes=512 if outcome is S else None,
            error=ProbeError(ErrorClass.TIMEOUT, "timeout after 10s") if outcome is F else None,
            connection="warm" if i % 2 else "cold"))
    return out


def write_v1(path: Path, rs: list[ProbeResult]) -> None:
    """A store as slaguard with schema 1 left it (results, runs, meta)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA_1)
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute("INSERT INTO series VALUES (1, 'web', 'sh', 'core', 'http', 30000)")
    db.executemany("INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
        (1, r.ts_ms, CODE[r.outcome], r.duration_ms, r.status_code, r.bytes,
         r.error.cls.value if r.error else None, r.error.message if r.error else None,
         json.dumps(r.phases_ms, separators=(",", ":")) if r.phases_ms else None,
         r.cert_expiry, r.recovery_point_ms, None if r.connection == "cold" else r.connection)
        for r in rs])
    runs = runs_from_results([r.ts_ms for r in rs], [r.outcome for r in rs], 30_000)
    db.executemany("INSERT INTO runs VALUES (1,?,?,?,?)",
                   [(x.start_ms, x.last_ms, CODE[x.outcome], x.count) for x in runs])
    db.close()


def test_a_schema_1_store_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    rs = v1_results()
    write_v1(path, rs)
    store = SQLiteStore(path)
    try:
        assert store._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("4",)
        assert store.results("web") == rs
        lo, hi = T0 - 1_800_000, T0 + 10 * 3_600_000
        assert store.runs(lo, hi)[("web", "sh")] == runs_from_results(
            [r.ts_ms for r in rs], [r.outcome for r in rs], 30_000)
        # Histograms were built from the old rows, one per hour with a success.
        hours = store._db.execute("SELECT hour_ms FROM latency_hours ORDER BY hour_ms").fetchall()
        assert hours == [(T0 - 3_600_000,), (T0,), (T0 + 3_600_000,)]
        days = store._db.execute("SELECT day_ms FROM latency_days").fetchall()
        assert days == [(T0 - 16 * 3_600_000,)]  # T0 is 16:00 UTC: one UTC day
        values, counts = store.latency_histograms(["web"], T0 - 3_600_000, T0 + 7_200_000)[
            ("web", "sh")]
        successes = sorted(r.duration_ms for r in rs if r.outcome is S)
        assert [int(v) for v, c in zip(values, counts, strict=True) for _ in range(c)] == successes
        whole_day = store.latency_histograms(["web"], T0 - 16 * 3_600_000, T0 + 8 * 3_600_000)
        assert [a.tolist() for a in whole_day[("web", "sh")]] == [values.tolist(),
                                                                 counts.tolist()]
        # And it goes on as a schema 2 store: the open run continues.
        store.add([ProbeResult(rs[-1].ts_ms + 30_000, "web", "core", "sh", "http", S, 120)],
                  INTERVALS)
        assert store.runs(lo, hi)[("web", "sh")][-1] == Run(S, rs[201].ts_ms,
                                                            rs[-1].ts_ms + 30_000, 100)
    finally:
        store.close()
    SQLiteStore(path).close()  # a second open finds schema 3 and changes nothing


def test_a_failed_migration_leaves_the_schema_1_store_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    write_v1(path, v1_results())

    def broken(db: sqlite3.Connection, span_ms: int) -> list[tuple[int, int, int, bytes]]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(schema, "_histograms_of_results", broken)
    with pytest.raises(sqlite3.OperationalError):
        SQLiteStore(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta").fetchone() == ("1",)
    assert db.execute("SELECT COUNT(*) FROM results WHERE phases IS NOT NULL").fetchone() == (300,)
    assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'latency%'").fetchall() == []
    db.close()


def test_an_unknown_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE meta SET value='5' WHERE key='schema'")
    db.close()
    with pytest.raises(StoreError, match=r"new\.db: store schema 5, this slaguard reads 4 "
                                         r"\(and migrates 1, 2 and 3\)"):
        SQLiteStore(path)


def test_phases_are_columns_and_a_phase_never_measured_stays_absent(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        r = ProbeResult(T0, "web", "core", "sh", "http", S, 40,
                        phases_ms={"connect": 0, "processing": 40})
        bare = ProbeResult(T0 + 30_000, "web", "core", "sh", "http", U, 0)
        store.add([r, bare], INTERVALS)
        assert store.results("web") == [r, bare]
        assert store.latest()[0].phases_ms == {}
        row = store._db.execute("SELECT resolve_ms, connect_ms, tls_ms, processing_ms, "
                                "transfer_ms, send_ms FROM results WHERE ts_ms=?",
                                (T0,)).fetchone()
        assert row == (None, 0, None, 40, None, None)
        odd = ProbeResult(T0 + 60_000, "web", "core", "sh", "http", S, 5, phases_ms={"ttfb": 5})
        with pytest.raises(StoreError, match="unknown phases \\['ttfb'\\]"):
            store.add([odd], INTERVALS)
        assert store.count() == 2
    finally:
        store.close()


# -- schema 2 → 3: a slow but complete result was stored as a failure -------------------

# The schema 2 SQL exactly as slaguard created it (slaguard/store/schema.py at 1ce840d).
SCHEMA_2 = SCHEMA_1.replace(
    "    phases TEXT,\n",
    "    resolve_ms INTEGER, connect_ms INTEGER, tls_ms INTEGER, processing_ms INTEGER, "
    "transfer_ms INTEGER, send_ms INTEGER,\n") + """
CREATE TABLE IF NOT EXISTS latency_hours (
    series_id INTEGER NOT NULL REFERENCES series(id),
    hour_ms INTEGER NOT NULL,
    max_ms INTEGER NOT NULL,
    hist BLOB,
    PRIMARY KEY (series_id, hour_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS latency_hours_by_max ON latency_hours (series_id, hour_ms, max_ms);
CREATE TABLE IF NOT EXISTS latency_days (
    series_id INTEGER NOT NULL REFERENCES series(id),
    day_ms INTEGER NOT NULL,
    hist BLOB,
    PRIMARY KEY (series_id, day_ms)
) WITHOUT ROWID;
"""
UPLOAD_EVERY = 20_000
SLOW = range(50, 53)  # three slow uploads in a row: two make a confirmed outage in schema 2


def v2_results() -> list[ProbeResult]:
    """Two series as schema 2 recorded them: ``upload`` (every 20 s, bound 5 s) with
    three slow uploads stored as failures, a real timeout, and an assertion that
    only looks like a slow one; ``web`` (every 30 s) with one "too slow" of its own."""
    out = []
    for i in range(200):
        ts = T0 + i * UPLOAD_EVERY
        if i in SLOW:
            d, err = 8_000 + i, f"took {8_000 + i} ms, more than max_duration 5s"
        elif i == 120:
            d, err = 16_001, None
        elif i == 150:  # the message is about another duration: not ours to reinterpret
            d, err = 9_000, "took 9999 ms, more than max_duration 5s"
        else:
            d, err = 2_000 + i, None
        failed = i in SLOW or i in (120, 150)
        cls = ErrorClass.TIMEOUT if i == 120 else ErrorClass.ASSERTION
        out.append(ProbeResult(
            ts, "upload", "core", "sh", "upload", F if failed else S, d,
            phases_ms={"send": d - 10, "transfer": 10}, status_code=None if i == 120 else 201,
            bytes=2 * 2**20, error=ProbeError(cls, err or "no complete response within 16s")
            if failed else None))
    out.append(ProbeResult(T0, "web", "core", "sh", "http", F, 1_500,
                           error=ProbeError(ErrorClass.ASSERTION,
                                            "took 1500 ms, more than max_duration 0.5s")))
    out.append(ProbeResult(T0 + 30_000, "web", "core", "sh", "http", S, 90))
    return out


def write_v2(path: Path, rs: list[ProbeResult]) -> None:
    """A store as slaguard with schema 2 left it: results, runs, hour and day histograms."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA_2)
    db.execute("INSERT INTO meta VALUES ('schema', '2')")
    ids = {"upload": 1, "web": 2}
    db.execute("INSERT INTO series VALUES (1, 'upload', 'sh', 'core', 'upload', 20000)")
    db.execute("INSERT INTO series VALUES (2, 'web', 'sh', 'core', 'http', 30000)")
    db.executemany(f"INSERT INTO results VALUES ({','.join('?' * 17)})", [
        (ids[r.target], r.ts_ms, CODE[r.outcome], r.duration_ms, r.status_code, r.bytes,
         r.error.cls.value if r.error else None, r.error.message if r.error else None,
         *(r.phases_ms.get(p) for p in ("resolve", "connect", "tls", "processing", "transfer",
                                         "send")),
         r.cert_expiry, r.recovery_point_ms, None) for r in rs])
    for target, sid in ids.items():
        mine = [r for r in rs if r.target == target]
        interval = UPLOAD_EVERY if target == "upload" else 30_000
        runs = runs_from_results([r.ts_ms for r in mine], [r.outcome for r in mine], interval)
        db.executemany("INSERT INTO runs VALUES (?,?,?,?,?)",
                       [(sid, x.start_ms, x.last_ms, CODE[x.outcome], x.count) for x in runs])
        # Every result lies in the series' newest UTC day, which keeps no day row.
        db.executemany("INSERT INTO latency_hours VALUES (?,?,?,?)",
                       [(sid, hour, max(counts), histograms.encode(counts))
                        for hour, counts in hour_counts(mine).items()])
    db.close()


def hour_counts(rs: list[ProbeResult]) -> dict[int, dict[int, int]]:
    """{UTC hour: {duration: count}} of the successful results."""
    out: dict[int, dict[int, int]] = {}
    for r in rs:
        if r.outcome is S:
            counts = out.setdefault(histograms.hour_of(r.ts_ms), {})
            counts[r.duration_ms] = counts.get(r.duration_ms, 0) + 1
    return out


def test_a_schema_2_store_is_migrated_and_keeps_its_results_as_recorded(tmp_path: Path
                                                                       ) -> None:
    """Schema 2 stored a slow but complete answer as a failure.  Those results are
    evidence already reported (and maybe paid on): the migration adds the column and
    leaves them, their runs and histograms as they were; the new rule applies from the
    upgrade on."""
    path = tmp_path / "v2.db"
    old = v2_results()
    write_v2(path, old)
    store = SQLiteStore(path)
    try:
        assert store._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("4",)
        assert store.results("upload") == [r for r in old if r.target == "upload"]
        assert store.results("web") == [r for r in old if r.target == "web"]
        runs = store.runs(T0, T0 + 10 * 3_600_000)
        assert runs[("upload", "sh")][:3] == [
            Run(S, T0, T0 + 49 * UPLOAD_EVERY, 50),
            Run(F, T0 + 50 * UPLOAD_EVERY, T0 + 52 * UPLOAD_EVERY, 3),
            Run(S, T0 + 53 * UPLOAD_EVERY, T0 + 119 * UPLOAD_EVERY, 67)]
        stored = dict(store._db.execute("SELECT hour_ms, hist FROM latency_hours "
                                        "WHERE series_id = 1"))
        assert {h: histograms.decode(b) for h, b in stored.items()} == hour_counts(
            [r for r in old if r.target == "upload"])
        # And it goes on as a schema 3 store: a slow upload now is a success.
        late = ProbeResult(T0 + 200 * UPLOAD_EVERY, "upload", "core", "sh", "upload", S, 6_000,
                           bound_exceeded_ms=5_000)
        store.add([late], {"upload": UPLOAD_EVERY})
        assert store.results("upload")[-1] == late
        assert store.runs(T0, T0 + 10 * 3_600_000)[("upload", "sh")][-1] == Run(
            S, T0 + 151 * UPLOAD_EVERY, late.ts_ms, 50)
    finally:
        store.close()
    SQLiteStore(path).close()  # a second open finds schema 3 and changes nothing


def test_a_failed_migration_leaves_the_schema_2_store_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v2.db"
    write_v2(path, v2_results())
    # The tables are created after the migration, in the same transaction.
    monkeypatch.setattr(schema, "STATEMENTS", (*schema.STATEMENTS, "CREATE TABLE broken ("))
    with pytest.raises(sqlite3.OperationalError):
        SQLiteStore(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta").fetchone() == ("2",)
    columns = [c[1] for c in db.execute("PRAGMA table_info(results)")]
    assert "bound_exceeded_ms" not in columns
    assert db.execute("SELECT COUNT(*) FROM results WHERE outcome = 1").fetchone() == (6,)
    db.close()


def test_a_slow_result_is_a_success_that_keeps_its_bound(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        slow = ProbeResult(T0, "web", "core", "sh", "http", S, 1_200, status_code=200,
                           bound_exceeded_ms=1_000)
        store.add([slow], INTERVALS)
        assert store.results("web") == [slow] and store.latest() == [slow]
        assert store.runs(T0, T0 + 60_000)[("web", "sh")] == [Run(S, T0, T0, 1)]
        assert store.first_above(["web"], T0, T0 + 60_000, 1_000, 5) == [
            (T0, "web", "sh", 1_200)]
    finally:
        store.close()
