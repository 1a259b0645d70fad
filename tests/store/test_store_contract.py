"""The store contract, run against every backend (file and in-memory SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.errors import StoreError
from slaguard.store import SQLiteStore
from slo.runs import Run, runs_from_results

S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN
INTERVALS = {"web": 30_000, "api": 15_000}
T0 = 1_790_000_000_000  # 2026-09-21T14:13:20Z


def result(ts: int, outcome: Outcome = S, target: str = "web", location: str = "sh",
           **kw: object) -> ProbeResult:
    return ProbeResult(ts_ms=ts, target=target, service="core", location=location, kind="http",
                       outcome=outcome, duration_ms=kw.pop("duration_ms", 120),  # type: ignore[arg-type]
                       **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "db" / "slaguard.db" if request.param == "file" else ":memory:")
    yield s
    s.close()


def test_round_trip_keeps_every_field(store: SQLiteStore) -> None:
    r = result(T0, F, phases_ms={"resolve": 1, "connect": 2, "tls": 3, "processing": 40,
                                 "transfer": 5}, status_code=503, bytes=123,
               error=ProbeError(ErrorClass.HTTP_STATUS, "status 503 not in [200]"),
               cert_expiry=1_800_000_000, connection="warm")
    fresh = result(T0 + 1, target="api", recovery_point_ms=T0 - 3_600_000)
    # Complete and correct but over its max_duration: a success that keeps its bound.
    slow = result(T0 + 2, target="api", duration_ms=1_300, bound_exceeded_ms=1_000)
    assert store.add([r, fresh, slow], INTERVALS).added == 3
    assert store.results(target="web") == [r]
    assert store.results(target="api") == [fresh, slow]
    assert store.count() == 3


def test_time_range_is_half_open(store: SQLiteStore) -> None:
    store.add([result(T0 + i * 30_000) for i in range(5)], INTERVALS)
    got = store.results("web", T0 + 30_000, T0 + 90_000)
    assert [r.ts_ms for r in got] == [T0 + 30_000, T0 + 60_000]


def test_duplicates_are_skipped_not_doubled(store: SQLiteStore) -> None:
    batch = [result(T0 + i * 30_000) for i in range(3)]
    assert store.add(batch, INTERVALS).added == 3
    stats = store.add([*batch, result(T0 + 90_000)], INTERVALS)
    assert (stats.added, stats.duplicates) == (1, 3)
    assert store.count() == 4


def test_runs_follow_outcomes_and_gaps(store: SQLiteStore) -> None:
    outcomes = [S, S, F, F, F, S, U, S]
    store.add([result(T0 + i * 30_000, o) for i, o in enumerate(outcomes)], INTERVALS)
    # A gap longer than 2 × interval breaks a run even with the same outcome.
    store.add([result(T0 + 7 * 30_000 + 61_000, S)], INTERVALS)
    runs = store.runs(T0, T0 + 10 * 30_000)[("web", "sh")]
    assert runs == [
        Run(S, T0, T0 + 30_000, 2),
        Run(F, T0 + 60_000, T0 + 120_000, 3),
        Run(S, T0 + 150_000, T0 + 150_000, 1),
        Run(U, T0 + 180_000, T0 + 180_000, 1),
        Run(S, T0 + 210_000, T0 + 210_000, 1),
        Run(S, T0 + 271_000, T0 + 271_000, 1),
    ]


def test_late_results_rebuild_runs_exactly(store: SQLiteStore) -> None:
    outcomes = [S, S, F, F, S, S, F, S, S, S]
    ts = [T0 + i * 30_000 for i in range(len(outcomes))]
    order = [0, 1, 2, 5, 6, 7, 9, 3, 4, 8]  # arrivals out of order, in three batches
    for chunk in (order[:5], order[5:7], order[7:]):
        store.add([result(ts[i], outcomes[i]) for i in chunk], INTERVALS)
    assert store.runs(T0, T0 + 10**9)[("web", "sh")] == runs_from_results(ts, outcomes, 30_000)


def test_runs_query_includes_the_run_open_at_period_start(store: SQLiteStore) -> None:
    store.add([result(T0 + i * 30_000, F) for i in range(10)], INTERVALS)
    runs = store.runs(T0 + 200_000, T0 + 250_000)
    assert runs[("web", "sh")] == [Run(F, T0, T0 + 270_000, 10)]


def test_failed_transaction_leaves_nothing(store: SQLiteStore) -> None:
    store.add([result(T0)], INTERVALS)
    with pytest.raises(StoreError), store.transaction() as db:
        store.add_in(db, [result(T0 + 30_000, F)], INTERVALS)
        store.add_in(db, [result(T0 + 60_000, target="nope")], INTERVALS)
    assert store.count() == 1
    store.add([result(T0 + 30_000)], INTERVALS)
    assert store.runs(T0, T0 + 10**6)[("web", "sh")] == [Run(S, T0, T0 + 30_000, 2)]


def test_reopen_continues_the_open_run(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = SQLiteStore(path)
    s.add([result(T0), result(T0 + 30_000)], INTERVALS)
    s.close()
    s = SQLiteStore(path)
    try:
        s.add([result(T0 + 60_000)], INTERVALS)
        assert s.runs(T0, T0 + 10**6)[("web", "sh")] == [Run(S, T0, T0 + 60_000, 3)]
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [r.ts_ms for r in s.latest()] == [T0 + 60_000]
    finally:
        s.close()


def test_conflicting_duplicate_in_one_batch_keeps_the_first_and_the_runs_exact(
        store: SQLiteStore) -> None:
    batch = [result(T0 + i * 30_000, F) for i in range(6)]
    batch.insert(3, result(T0 + 2 * 30_000, S))  # same (series, ts) as a failure
    stats = store.add(batch, INTERVALS)
    assert (stats.added, stats.duplicates) == (6, 1)
    assert [r.outcome for r in store.results("web")] == [F] * 6
    assert store.runs(T0, T0 + 10**6)[("web", "sh")] == [Run(F, T0, T0 + 150_000, 6)]


def test_two_writers_on_one_file_never_wedge_or_overlap(tmp_path: Path) -> None:
    """`import-results` runs beside a live slaguard: two stores on one file."""
    path = tmp_path / "s.db"
    live, importer = SQLiteStore(path), SQLiteStore(path)
    try:
        live.add([result(T0 + i * 30_000) for i in range(3)], INTERVALS)
        # The importer creates a series the live store has never written...
        importer.add([result(T0, location="bj")], INTERVALS)
        live.add([result(T0 + 30_000, location="bj")], INTERVALS)  # ...which it then writes
        # ...and back-fills a failure into a series the live store keeps extending.
        importer.add([result(T0 + 90_000, F), result(T0 + 120_000, F)], INTERVALS)
        live.add([result(T0 + 150_000)], INTERVALS)
        ts = [r.ts_ms for r in live.results("web", location="sh")]
        outcomes = [r.outcome for r in live.results("web", location="sh")]
        assert live.runs(T0, T0 + 10**6)[("web", "sh")] == runs_from_results(ts, outcomes,
                                                                               30_000)
        assert live.runs(T0, T0 + 10**6)[("web", "bj")] == [Run(S, T0, T0 + 30_000, 2)]
    finally:
        live.close()
        importer.close()


def test_durations_are_the_successful_results_in_range(store: SQLiteStore) -> None:
    rs = [result(T0 + i * 30_000, F if i == 2 else S, duration_ms=100 + i) for i in range(6)]
    store.add(rs, INTERVALS)
    ts, dur = store.durations(["web"], T0 + 30_000, T0 + 150_000)[("web", "sh")]
    assert ts.tolist() == [T0 + 30_000, T0 + 90_000, T0 + 120_000]
    assert dur.tolist() == [101, 103, 104]
    empty_ts, empty_dur = store.durations(["web"], 0, 1)[("web", "sh")]
    assert empty_ts.size == 0 and empty_dur.size == 0
