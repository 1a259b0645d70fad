"""The store's counted events for windowed objectives (``event_counts`` from histograms
and runs, ``event_slices`` grouped in SQLite) must equal counting the raw results
(``slo.rolling.events_from_results``), at every edge: inside a failure run, inside an
hour, exactly at a result."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from slaguard.domain import Outcome, ProbeResult
from slaguard.store import SQLiteStore
from slo.model import WindowedSpec
from slo.rolling import Counts, Lookback, WindowPlan, events_from_results

S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00, a whole UTC hour
INTERVAL = 30_000


def series(rng: random.Random, target: str, location: str) -> list[ProbeResult]:
    """3 days at 30 s: failure runs of 1–40 results, unknown stretches, a gap, and
    durations around 2.5–3.5 s so a 3 s threshold splits the successes."""
    out: list[ProbeResult] = []
    ts, state, left = T0, S, 0
    while ts < T0 + 3 * DAY:
        if left == 0:
            state = rng.choices([S, F, U], weights=[90, 7, 3])[0]
            left = rng.randint(1, 40) if state is not S else rng.randint(20, 400)
        left -= 1
        if not T0 + DAY + 2 * HOUR <= ts < T0 + DAY + 3 * HOUR:  # a gap
            out.append(ProbeResult(ts, target, "core", location, "http", state,
                                   rng.choice([2500, 2999, 3000, 3001, 3500])))
        ts += INTERVAL
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SQLiteStore,
                                                                       list[ProbeResult]]]:
    rng = random.Random(7)
    results = sorted(series(rng, "web", "sh") + series(rng, "web", "bj")
                     + series(rng, "api", "sh"), key=lambda r: r.ts_ms)
    store = SQLiteStore(Path(tmp_path_factory.mktemp("events")) / "s.db")
    for i in range(0, len(results), 5000):  # as the importer writes: days left behind
        store.add(results[i:i + 5000], {"web": INTERVAL, "api": INTERVAL})
    yield store, results
    store.close()


def spec(threshold: int | None, inclusive: bool = False, slice_ms: int | None = None
         ) -> WindowedSpec:
    return WindowedSpec("x", ("web",), "latency" if threshold else "availability",
                        Decimal(99), 2 * DAY, "ratio_timeslices" if slice_ms else "occurrences",
                        threshold, inclusive, slice_ms)


# Edges: whole days, mid-hour, exactly at a result, a ms after one.
EDGES = [(T0, T0 + 3 * DAY), (T0 + 17 * MIN + 1, T0 + 2 * DAY + 5 * HOUR + 7),
         (T0 + 90 * INTERVAL, T0 + 91 * INTERVAL), (T0 + 13 * HOUR + 1, T0 + 13 * HOUR + 2),
         (T0 + DAY + 2 * HOUR + 5, T0 + DAY + 3 * HOUR)]


@pytest.mark.parametrize("threshold,inclusive", [(None, False), (3000, False), (3000, True)])
@pytest.mark.parametrize("lo,hi", EDGES)
def test_event_counts_equal_the_raw_count(stored: tuple[SQLiteStore, list[ProbeResult]],
                                          lo: int, hi: int, threshold: int | None,
                                          inclusive: bool) -> None:
    store, results = stored
    s = spec(threshold, inclusive)
    want = events_from_results(s, WindowPlan(lo, hi, None, lo, ()), results).window
    assert Counts(*store.event_counts(["web"], lo, hi, threshold, inclusive)) == want
    assert want.total > 0 or hi - lo < HOUR


@pytest.mark.parametrize("slice_ms", [MIN, 7 * MIN, HOUR])
def test_event_slices_equal_the_raw_slices(stored: tuple[SQLiteStore, list[ProbeResult]],
                                           slice_ms: int) -> None:
    """Slices from a window start inside an hour, and a lookback reaching before it
    (negative slice indices)."""
    store, results = stored
    s = spec(3000, False, slice_ms)
    start, end = T0 + DAY + 123_457, T0 + 3 * DAY - 5
    p = WindowPlan(start, end, slice_ms, start - 10 * slice_ms, (Lookback("a", start - 1),))
    want = events_from_results(s, p, results).slices
    got = store.event_slices(["web"], start, slice_ms, p.slices_from_ms, end, 3000, False)
    assert {i: Counts(*c) for i, c in got.items()} == dict(want)
    assert min(got) == -10


def test_unknown_targets_and_empty_ranges_count_nothing(
        stored: tuple[SQLiteStore, list[ProbeResult]]) -> None:
    store, _ = stored
    assert store.event_counts(["nope"], T0, T0 + DAY) == (0, 0)
    assert store.event_slices(["web"], T0, MIN, T0 + DAY, T0 + DAY) == {}
