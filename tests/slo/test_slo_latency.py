"""Latency: exact mean over results, nearest-rank percentiles, bounds and offenders."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaguard.domain import Outcome, ProbeResult
from slo.latency import (
    LatencyHistogram,
    LatencyHistograms,
    LatencySeries,
    evaluate_latency,
    evaluate_latency_histograms,
    exact_mean,
    latency_series_from_results,
    merge_counts,
    nearest_rank,
)
from slo.model import LatencyBound, LatencyObjective

T0 = 1_790_784_000_000


def objective(**bounds: int) -> LatencyObjective:
    return LatencyObjective("api", ("api",), tuple(LatencyBound(k, v) for k, v in bounds.items()))


def test_p95_of_1_to_20_is_19() -> None:
    assert nearest_rank(np.arange(1, 21, dtype=np.int64), Fraction(95)) == 19


@pytest.mark.parametrize(("p", "expected"), [(50, 10), (90, 18), (100, 20), (1, 1), (0, 1)])
def test_nearest_rank_edges(p: int, expected: int) -> None:
    assert nearest_rank(np.arange(1, 21, dtype=np.int64), Fraction(p)) == expected


def test_mean_is_sum_over_count_not_mean_of_means() -> None:
    fast = LatencySeries("api", "a", [T0 + i for i in range(1000)], [200] * 1000)
    slow = LatencySeries("api", "b", [T0 + i for i in range(10)], [3000] * 10)
    r = evaluate_latency(objective(mean=500), [fast, slow], T0, T0 + 10_000)
    assert r.mean_ms == Fraction(230_000, 1010)
    assert round(r.mean_ms / 1000, 4) == Fraction("0.2277")  # not (0.2 + 3) / 2 = 1.6 s
    assert r.count == 1010 and r.met


def test_bounds_and_the_results_that_broke_them() -> None:
    durations = [100] * 94 + [6000] * 6
    s = LatencySeries("api", "a", [T0 + i * 1000 for i in range(100)], durations)
    r = evaluate_latency(objective(mean=3000, p95=5000, max=30_000), [s], T0, T0 + 100_000,
                         max_listed=2)
    by_key = {b.bound.key: b for b in r.bounds}
    assert by_key["p95"].value == 6000 and by_key["p95"].holds is False
    assert by_key["mean"].value == Fraction(94 * 100 + 6 * 6000, 100) and by_key["mean"].holds
    assert by_key["max"].holds
    assert by_key["p95"].exceeding_count == 6
    assert [(x.ts_ms, x.location, x.duration_ms) for x in by_key["p95"].exceeding] == [
        (T0 + 94_000, "a", 6000), (T0 + 95_000, "a", 6000)]
    assert r.met is False


def test_an_inclusive_bound_holds_at_its_limit_a_strict_one_does_not() -> None:
    """One result of 5000 ms: "≤ 5000 ms" holds (5000 ≤ 5000), the standard's
    "< 5000 ms" does not (5000 < 5000 is false)."""
    s = LatencySeries("api", "a", [T0], [5000])
    inclusive = LatencyObjective("api", ("api",), (LatencyBound("p95", 5000, True),
                                                   LatencyBound("max", 5000, True)))
    assert evaluate_latency(inclusive, [s], T0, T0 + 1).met
    assert evaluate_latency(objective(p95=5000, max=5000), [s], T0, T0 + 1).met is False


def test_period_filter_other_targets_and_no_samples() -> None:
    s = LatencySeries("api", "a", [T0 - 1, T0, T0 + 10], [9999, 1, 9999])
    other = LatencySeries("web", "a", [T0], [9999])
    r = evaluate_latency(objective(max=10), [s, other], T0, T0 + 10)
    assert (r.count, r.max_ms, r.met) == (1, 1, True)
    empty = evaluate_latency(objective(max=10), [], T0, T0 + 10)
    assert empty.met is None and empty.bounds[0].holds is None


def test_only_successful_results_are_samples() -> None:
    def res(outcome: Outcome, d: int) -> ProbeResult:
        return ProbeResult(T0, "api", "core", "a", "http", outcome, d)

    got = latency_series_from_results([res(Outcome.SUCCESS, 10), res(Outcome.FAILURE, 9000),
                               res(Outcome.UNKNOWN, 9000)])
    assert [list(s.duration_ms) for s in got] == [[10]]


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=200),
       st.integers(1, 100))
def test_nearest_rank_definition(values: list[int], p: int) -> None:
    arr = np.sort(np.asarray(values, dtype=np.int64))
    v = nearest_rank(arr, Fraction(p))
    # at least p % of the values are <= v, and fewer than p % are < v
    assert 100 * int((arr <= v).sum()) >= p * arr.size
    assert 100 * int((arr < v).sum()) < p * arr.size
    assert exact_mean(arr) == Fraction(sum(values), len(values))


# -- the histogram path: the same results from (value, count) pairs ---------------------


def _histograms(series: list[LatencySeries], lo: int, hi: int, objective: LatencyObjective,
                max_listed: int) -> LatencyHistograms:
    """What a store would hand over: per series histograms of [lo, hi), the listings."""
    hs = []
    for s in series:
        ts, d = np.asarray(s.ts_ms, dtype=np.int64), np.asarray(s.duration_ms, dtype=np.int64)
        keep = (ts >= lo) & (ts < hi)
        v, c = merge_counts(d[keep], np.ones(int(keep.sum()), dtype=np.int64))
        hs.append(LatencyHistogram(s.target, s.location, v, c))
    # The listing comes from the raw path here: what it lists is the store's business.
    raw = evaluate_latency(objective, series, lo, hi, max_listed)
    exceeding = {(objective.targets, b.bound.largest_within_ms): b.exceeding for b in raw.bounds}
    return LatencyHistograms(lo, hi, max_listed, tuple(hs), exceeding)


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 99),
                          st.integers(0, 40)), min_size=0, max_size=150),
       st.integers(0, 100), st.integers(0, 100), st.sampled_from([1, 2, 50]))
def test_histograms_give_the_raw_results(items: list[tuple[str, int, int]], a: int, b: int,
                                         max_listed: int) -> None:
    by_loc: dict[str, dict[int, int]] = {}
    for loc, t, d in items:
        by_loc.setdefault(loc, {}).setdefault(T0 + t, 10 * d)  # one result per ts
    series = [LatencySeries("api", loc, list(v), list(v.values())) for loc, v in by_loc.items()]
    series.append(LatencySeries("web", "a", [T0], [7]))  # another target: not pooled
    o = objective(mean=200, p95=300, p50=150, p99=400, max=390)
    lo, hi = T0 + min(a, b), T0 + max(a, b)
    got = evaluate_latency_histograms(o, _histograms(series, lo, hi, o, max_listed), lo, hi,
                                      max_listed)
    assert got == evaluate_latency(o, series, lo, hi, max_listed)


def test_merge_counts_sparse_and_dense() -> None:
    v = np.array([5, 3, 5, 10**12, 3, 3], dtype=np.int64)
    c = np.array([1, 2, 3, 1, 1, 1], dtype=np.int64)
    values, counts = merge_counts(v, c)  # the span forces the sorting branch
    assert values.tolist() == [3, 5, 10**12] and counts.tolist() == [4, 4, 1]
    values, counts = merge_counts(v[v < 100], c[v < 100])
    assert values.tolist() == [3, 5] and counts.tolist() == [4, 4]


def test_histograms_must_cover_the_period_and_list_enough() -> None:
    o = objective(max=10)
    data = LatencyHistograms(T0, T0 + 10, 5, (), {(o.targets, 10): ()})
    with pytest.raises(ValueError, match="cover"):
        evaluate_latency_histograms(o, data, T0, T0 + 11)
    with pytest.raises(ValueError, match="list 5"):
        evaluate_latency_histograms(o, data, T0, T0 + 10, max_listed=6)
    assert evaluate_latency_histograms(o, data, T0, T0 + 10, max_listed=5).met is None


def test_a_huge_sum_stays_exact() -> None:
    big = 2**62
    data = LatencyHistograms(T0, T0 + 10, 1, (LatencyHistogram(
        "api", "a", np.array([1, big], dtype=np.int64), np.array([1, 3], dtype=np.int64)),),
        {(("api",), 9): ()})  # "< 10 ms": above 9 ms breaks it
    r = evaluate_latency_histograms(objective(mean=10), data, T0, T0 + 10, max_listed=1)
    assert r.sum_ms == 1 + 3 * big and r.mean_ms == Fraction(1 + 3 * big, 4)
