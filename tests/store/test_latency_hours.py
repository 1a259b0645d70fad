"""Latency histograms (hours, days): the store's summary must give exactly what the raw
rows give."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import slo
from slaguard.domain import Outcome, ProbeResult
from slaguard.evaluation import latency_histograms
from slaguard.store import SQLiteStore, histograms
from slo.latency import LatencyResult, evaluate_latency, evaluate_latency_histograms
from slo.model import LatencyBound, LatencyObjective

S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN
HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00, a whole UTC hour
INTERVALS = {"api": 30_000, "web": 30_000, "other": 30_000}
API = LatencyObjective("api", ("api",), (LatencyBound("mean", 300), LatencyBound("p95", 400),
                                         LatencyBound("p50", 250), LatencyBound("max", 900)))
BOTH = LatencyObjective("both", ("api", "web"), (LatencyBound("p99", 500),
                                                 LatencyBound("mean", 250)))


def result(ts: int, duration: int, outcome: Outcome = S, target: str = "api",
           location: str = "sh") -> ProbeResult:
    return ProbeResult(ts_ms=ts, target=target, service="core", location=location, kind="http",
                       outcome=outcome, duration_ms=duration)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "s.db")
    yield s
    s.close()


def both_paths(store: SQLiteStore, objectives: Sequence[LatencyObjective], lo: int, hi: int,
               max_listed: int = 50) -> list[tuple[LatencyResult, LatencyResult]]:
    """(raw path, histogram path) per objective over [lo, hi)."""
    data = latency_histograms(store, objectives, lo, hi, max_listed)
    out = []
    for o in objectives:
        raw = [slo.LatencySeries(t, loc, ts, d)
               for (t, loc), (ts, d) in store.durations(o.targets, lo, hi).items()]
        out.append((evaluate_latency(o, raw, lo, hi, max_listed),
                    evaluate_latency_histograms(o, data, lo, hi, max_listed)))
    return out


def assert_same(store: SQLiteStore, lo: int, hi: int, max_listed: int = 50) -> None:
    for raw, hist in both_paths(store, [API, BOTH], lo, hi, max_listed):
        assert hist == raw
    assert_days_sum_their_hours(store)


def assert_days_sum_their_hours(store: SQLiteStore) -> None:
    """A day a series has left has a row, the sum of its hours; its newest day none."""
    db = store._reader()
    hours: dict[tuple[int, int], list[bytes | None]] = {}
    for sid, hour, blob in db.execute("SELECT series_id, hour_ms, hist FROM latency_hours"):
        hours.setdefault((sid, histograms.day_of(hour)), []).append(blob)
    days = {(sid, day): blob for sid, day, blob in db.execute(
        "SELECT series_id, day_ms, hist FROM latency_days")}
    newest = {sid: histograms.day_of(ts) for sid, ts in db.execute(
        "SELECT series_id, MAX(ts_ms) FROM results GROUP BY series_id")}
    assert set(days) == {(sid, day) for sid, day in hours if day < newest[sid]}
    for key, day in days.items():
        blobs = hours[key]
        if any(b is None for b in blobs):
            assert day is None
            continue
        assert day is not None
        total: dict[int, int] = {}
        for b in blobs:
            assert b is not None
            for v, c in histograms.decode(b).items():
                total[v] = total.get(v, 0) + c
        assert histograms.decode(day) == total


def test_a_day_of_two_locations_and_an_other_target(store: SQLiteStore) -> None:
    rng = random.Random(3)
    rs = [result(T0 + i * 30_000 + k, rng.randint(100, 1000), rng.choice([S] * 8 + [F, U]),
                 target, loc)
          for i in range(2880) for k, (target, loc) in enumerate(
              [("api", "sh"), ("api", "bj"), ("web", "sh"), ("other", "sh")])]
    for i in range(0, len(rs), 5000):
        with store.transaction() as db:
            store.add_in(db, rs[i:i + 5000], INTERVALS)
    assert_same(store, T0, T0 + 86_400_000)
    # Edges inside hours, a window inside one hour, an empty one, one beyond the data.
    for lo, hi in [(T0 + 1_234_567, T0 + 20 * HOUR + 999), (T0 + 5 * HOUR + 10, T0 + 5 * HOUR
                   + 3_000_000), (T0 + 7, T0 + 7), (T0 - 3 * HOUR - 1, T0 + 2 * HOUR + 1),
                   (T0 + 23 * HOUR + 1, T0 + 30 * HOUR)]:
        assert_same(store, lo, hi, max_listed=7)
    # The listing is by time across series, and the count is of all of them.
    raw, hist = both_paths(store, [BOTH], T0, T0 + 86_400_000, max_listed=3)[0]
    assert hist == raw
    assert hist.bounds[0].exceeding_count > 3 and len(hist.bounds[0].exceeding) == 3
    assert [x.ts_ms for x in hist.bounds[0].exceeding] == sorted(
        x.ts_ms for x in hist.bounds[0].exceeding)


def test_ties_at_the_percentile_rank(store: SQLiteStore) -> None:
    # 20 values; p95 is the 19th: both 19th and 20th are 500 on one location, ties across two.
    ds = [100] * 9 + [500] * 11
    store.add([result(T0 + i * 30_000, d, location="sh" if i % 2 else "bj")
               for i, d in enumerate(ds)], INTERVALS)
    (raw, hist), _ = both_paths(store, [API, BOTH], T0, T0 + HOUR)
    assert hist == raw
    assert {b.bound.key: b.value for b in hist.bounds}["p95"] == 500
    assert {b.bound.key: b.value for b in hist.bounds}["p50"] == 500  # rank 10 = first 500


def test_duplicates_are_counted_once_and_back_fill_is_counted(store: SQLiteStore) -> None:
    first = [result(T0 + i * 30_000, 200 + i) for i in range(0, 240, 2)]
    store.add(first, INTERVALS)
    store.add(first[:50], INTERVALS)  # a re-import: nothing new
    late = [result(T0 + i * 30_000, 700 + i) for i in range(1, 240, 2)]
    random.Random(1).shuffle(late)
    store.add(late[:60] + first[60:70], INTERVALS)  # back-fill, with duplicates in it
    with store.transaction() as db:  # the rest in chunks of one transaction
        store.add_in(db, late[60:90], INTERVALS)
        store.add_in(db, [*late[90:], late[0], late[90]], INTERVALS)
    assert store.count() == 240
    data = latency_histograms(store, [API], T0, T0 + 2 * HOUR)
    (hist,) = data.series
    assert int(hist.counts.sum()) == 240
    assert sorted(np.repeat(hist.values, hist.counts).tolist()) == sorted(
        [200 + i for i in range(0, 240, 2)] + [700 + i for i in range(1, 240, 2)])
    assert_same(store, T0, T0 + 2 * HOUR)
    assert_same(store, T0 + 1_000_001, T0 + HOUR + 17)


def test_many_small_transactions_on_one_hour(store: SQLiteStore) -> None:
    """The live pipeline: a transaction or two per probe, each merging into the hour."""
    for i in range(60):
        store.add([result(T0 + i * 30_000, 300 + i % 7), result(T0 + i * 30_000, 300 + i % 7,
                                                                 location="bj")], INTERVALS)
    assert_same(store, T0, T0 + HOUR)
    counts = store.latency_histograms(["api"], T0, T0 + HOUR)[("api", "sh")][1]
    assert int(counts.sum()) == 60


def test_two_writers_keep_one_histogram_exact(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    live, importer = SQLiteStore(path), SQLiteStore(path)
    try:
        live.add([result(T0 + i * 30_000, 100 + i) for i in range(10)], INTERVALS)
        importer.add([result(T0 + i * 30_000 + 15_000, 500 + i) for i in range(10)], INTERVALS)
        live.add([result(T0 + i * 30_000, 100 + i) for i in range(10, 20)], INTERVALS)
        _values, counts = live.latency_histograms(["api"], T0, T0 + HOUR)[("api", "sh")]
        assert int(counts.sum()) == 30
        assert_same(live, T0, T0 + HOUR)
    finally:
        live.close()
        importer.close()


def test_durations_beyond_32_bits_are_read_from_the_raw_rows(store: SQLiteStore) -> None:
    huge = 2**40
    store.add([result(T0 + i * 30_000, huge if i == 3 else 10 + i) for i in range(20)]
              + [result(T0 + HOUR + i * 30_000, 10 + i) for i in range(20)], INTERVALS)
    hours = store._reader().execute("SELECT hour_ms, max_ms, hist IS NULL FROM latency_hours "
                                    "ORDER BY hour_ms").fetchall()
    assert hours == [(T0, huge, 1), (T0 + HOUR, 29, 0)]
    store.add([result(T0 + 10 * 30_000 + 1, 5)], INTERVALS)  # a late one: the hour stays raw
    values, counts = store.latency_histograms(["api"], T0, T0 + 2 * HOUR)[("api", "sh")]
    assert int(values[-1]) == huge and int(counts.sum()) == 41
    assert_same(store, T0, T0 + 2 * HOUR)


def test_first_above_reads_only_hours_above_the_limit(store: SQLiteStore) -> None:
    rs = [result(T0 + h * HOUR + i * 60_000, 100, location=loc)
          for h in range(5) for i in range(60) for loc in ("sh", "bj")]
    slow = {(T0 + 3 * HOUR + 120_000, "bj"): 900, (T0 + 3 * HOUR + 120_000, "sh"): 950,
            (T0 + 4 * HOUR, "sh"): 901, (T0 + 2 * HOUR + 59 * 60_000, "bj"): 800}
    store.add([result(r.ts_ms, slow.get((r.ts_ms, r.location), 100), location=r.location)
               for r in rs], INTERVALS)
    got = store.first_above(["api"], T0, T0 + 5 * HOUR, 500, 3)
    assert got == [(T0 + 2 * HOUR + 59 * 60_000, "api", "bj", 800),
                   (T0 + 3 * HOUR + 120_000, "api", "bj", 900),
                   (T0 + 3 * HOUR + 120_000, "api", "sh", 950)]
    assert store.first_above(["api"], T0 + 3 * HOUR + 120_001, T0 + 5 * HOUR, 850, 9) == [
        (T0 + 4 * HOUR, "api", "sh", 901)]
    assert store.first_above(["api"], T0, T0 + 5 * HOUR, 1000, 9) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3 * 24 * 6 - 1), st.sampled_from(["sh", "bj"]),
                          st.integers(0, 12), st.sampled_from([S, S, S, F, U])),
                min_size=1, max_size=300),
       st.integers(1, 40), st.integers(0, 3 * DAY), st.integers(0, 3 * DAY),
       st.integers(1, 5), st.randoms(use_true_random=False))
def test_histograms_equal_raw_whatever_the_arrival(
        items: list[tuple[int, str, int, Outcome]], chunk: int, a: int, b: int,
        max_listed: int, rnd: random.Random) -> None:
    """Random results over three days (few distinct durations: ties), arriving in random
    order and chunks (back-fill, duplicates, several transactions), over a random window
    (whole days, whole hours and raw edges)."""
    rs = [result(T0 - 7 * HOUR + slot * 600_000 + 7 * d, 100 + 50 * d, outcome,
                 "api" if d % 3 else "web", loc)
          for slot, loc, d, outcome in items]
    rnd.shuffle(rs)
    store = SQLiteStore(":memory:")
    try:
        for i in range(0, len(rs), chunk * 3):
            with store.transaction() as db:
                for k in range(i, min(i + chunk * 3, len(rs)), chunk):
                    store.add_in(db, rs[k:min(k + chunk, i + chunk * 3)], INTERVALS)
        lo, hi = T0 + min(a, b), T0 + max(a, b)
        assert_same(store, lo, hi, max_listed)
        assert_same(store, T0 - 8 * HOUR, T0 + 3 * DAY, max_listed)
        assert_same(store, T0 + 3 * HOUR, T0 + 2 * DAY - 16 * HOUR, max_listed)
    finally:
        store.close()
