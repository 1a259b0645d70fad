"""Schema 2: phases as columns, a store of schema 1 migrated on open (or left untouched)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.errors import StoreError
from slaguard.store import SQLiteStore, schema
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
        assert store._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
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
    SQLiteStore(path).close()  # a second open finds schema 2 and changes nothing


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
    db.execute("UPDATE meta SET value='3' WHERE key='schema'")
    db.close()
    with pytest.raises(StoreError, match=r"new\.db: store schema 3, this slaguard reads 2"):
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
