"""Latency objectives over the durations of successful results.

Exactness rules (docs/design.md "Latency"): the mean is Σ duration / count over all
successful results of the objective's targets and locations — never a mean of
per-target or per-minute means — and percentiles are nearest-rank over the raw
values (rank ⌈p/100 · n⌉), never interpolated.  A bound *holds* when the value
is below it (``value < limit``, the standard's "平均 <3秒"), or for an inclusive
bound not above it (``≤``); a result *exceeds* a bound when it alone would not
meet it (``≥ limit``, resp. ``> limit``).  The objective holds when every bound
holds, and is undecided without samples.

Two equivalent inputs: raw durations (:class:`LatencySeries`, what
:func:`report_from_results` derives), or exact integer histograms per series
(:class:`LatencyHistograms`, what the store keeps so a month of ~86 M results is
not read row by row).  Integer-millisecond histograms lose nothing: the count,
the sum, every nearest-rank percentile and the maximum are the raw path's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from slaguard.domain import ProbeResult
from slo.model import LatencyBound, LatencyObjective


@dataclass(frozen=True, eq=False, slots=True)
class LatencySeries:
    """Durations of the *successful* results of one (target, location)."""

    target: str
    location: str
    ts_ms: Sequence[int] | NDArray[np.int64]
    duration_ms: Sequence[int] | NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LatencySample:
    ts_ms: int
    target: str
    location: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class BoundResult:
    bound: LatencyBound
    value: Fraction | None  # ms; None without samples
    holds: bool | None
    exceeding_count: int  # successful results that break the bound (≥ a strict limit)
    exceeding: tuple[LatencySample, ...]  # the first ``max_listed`` of them, by time


@dataclass(frozen=True, slots=True)
class LatencyResult:
    name: str
    targets: tuple[str, ...]
    count: int
    sum_ms: int
    mean_ms: Fraction | None
    max_ms: int | None
    bounds: tuple[BoundResult, ...]

    @property
    def met(self) -> bool | None:
        if self.count == 0:
            return None
        return all(b.holds for b in self.bounds)


def _rank(percentile: Fraction, n: int) -> int:
    """The nearest rank of ``percentile`` among ``n`` values: ⌈p/100 · n⌉, 1-based."""
    return min(max(-(-(percentile.numerator * n) // (percentile.denominator * 100)), 1), n)


def nearest_rank(sorted_values: NDArray[np.int64], percentile: Fraction) -> int:
    """The nearest-rank percentile of ascending values: element ⌈p/100 · n⌉ (1-based)."""
    n = int(sorted_values.size)
    if n == 0:
        raise ValueError("no values")
    return int(sorted_values[_rank(percentile, n) - 1])


def exact_mean(values: NDArray[np.int64]) -> Fraction:
    return Fraction(int(values.sum(dtype=np.int64)), int(values.size))


def latency_series_from_results(results: Iterable[ProbeResult]) -> list[LatencySeries]:
    """Group the successful results by (target, location)."""
    acc: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for r in results:
        if r.success:
            ts, d = acc.setdefault((r.target, r.location), ([], []))
            ts.append(r.ts_ms)
            d.append(r.duration_ms)
    return [LatencySeries(t, loc, ts, d) for (t, loc), (ts, d) in acc.items()]


@dataclass(frozen=True, eq=False, slots=True)
class _Pool:
    ts: NDArray[np.int64]
    dur: NDArray[np.int64]
    who: NDArray[np.int64]  # index into labels
    labels: tuple[tuple[str, str], ...]


def _pool(series: Iterable[LatencySeries], targets: Sequence[str], lo: int, hi: int) -> _Pool:
    wanted = set(targets)
    ts_parts: list[NDArray[np.int64]] = []
    d_parts: list[NDArray[np.int64]] = []
    who_parts: list[NDArray[np.int64]] = []
    labels: list[tuple[str, str]] = []
    for s in series:
        if s.target not in wanted:
            continue
        ts = np.asarray(s.ts_ms, dtype=np.int64)
        d = np.asarray(s.duration_ms, dtype=np.int64)
        keep = (ts >= lo) & (ts < hi)
        ts_parts.append(ts[keep])
        d_parts.append(d[keep])
        who_parts.append(np.full(int(keep.sum()), len(labels), dtype=np.int64))
        labels.append((s.target, s.location))
    if not labels:
        z = np.zeros(0, dtype=np.int64)
        return _Pool(z, z, z, ())
    return _Pool(np.concatenate(ts_parts), np.concatenate(d_parts), np.concatenate(who_parts),
                 tuple(labels))


def _exceeding(pool: _Pool, largest_within: int, max_listed: int
               ) -> tuple[LatencySample, ...]:
    idx = np.flatnonzero(pool.dur > largest_within)
    idx = idx[np.argsort(pool.ts[idx], kind="stable")][:max_listed]
    return tuple(
        LatencySample(int(pool.ts[i]), *pool.labels[int(pool.who[i])], int(pool.dur[i]))
        for i in idx
    )


def evaluate_latency(objective: LatencyObjective, series: Iterable[LatencySeries], lo: int,
                     hi: int, max_listed: int = 50) -> LatencyResult:
    """The objective over successful results with ``lo <= ts < hi``."""
    pool = _pool(series, objective.targets, lo, hi)
    values, counts = merge_counts(pool.dur, np.ones(pool.dur.size, dtype=np.int64))
    return _evaluate(objective, values, counts,
                     lambda within: _exceeding(pool, within, max_listed))


# -- the histogram path ------------------------------------------------------------

# Dense counting (one slot per millisecond between the smallest and the largest
# value) is linear; beyond this many slots per input value a sort is cheaper.
_DENSE_SLOTS_PER_VALUE = 4
_DENSE_MIN_SLOTS = 1 << 16


def merge_counts(values: NDArray[np.int64], counts: NDArray[np.int64]
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(value, count) pairs, in any order and with repeats, as a histogram:
    distinct ascending values and their summed counts (all positive)."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo < max(_DENSE_MIN_SLOTS, _DENSE_SLOTS_PER_VALUE * values.size):
        dense = np.zeros(hi - lo + 1, dtype=np.int64)
        np.add.at(dense, values - lo, counts)
        nz = np.flatnonzero(dense)
        return nz + lo, dense[nz]
    order = np.argsort(values, kind="stable")
    v, c = values[order], counts[order]
    starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
    return v[starts], np.add.reduceat(c, starts)


@dataclass(frozen=True, eq=False, slots=True)
class LatencyHistogram:
    """Durations of the successful results of one (target, location) as a histogram:
    ``counts[i]`` results took ``values[i]`` ms (values distinct and ascending)."""

    target: str
    location: str
    values: NDArray[np.int64]
    counts: NDArray[np.int64]


# (the objective's targets, the largest duration in ms that still meets a bound:
# its limit, or limit − 1 for a strict bound); the store lists results above it.
ExceedingKey = tuple[tuple[str, ...], int]


@dataclass(frozen=True, eq=False, slots=True)
class LatencyHistograms:
    """Everything a report's latency objectives need, summarised by the store.

    ``series`` cover exactly ``[lo, hi)``; ``exceeding`` holds, per objective's
    targets and bound (:data:`ExceedingKey`), the first ``max_listed`` successful
    results that break it in ``[lo, hi)`` by (ts, target, location) — a histogram
    counts the results that broke a bound but cannot name them.
    """

    lo: int
    hi: int
    max_listed: int
    series: tuple[LatencyHistogram, ...]
    exceeding: Mapping[ExceedingKey, tuple[LatencySample, ...]]


def exceeding_keys(objectives: Iterable[LatencyObjective]) -> list[ExceedingKey]:
    """The (targets, largest duration within the bound) pairs whose first exceeding
    results a report lists: the store's ``first_above`` of that duration."""
    return list(dict.fromkeys((o.targets, b.largest_within_ms)
                              for o in objectives for b in o.bounds))


def _exact_sum(values: NDArray[np.int64], counts: NDArray[np.int64]) -> int:
    n = int(counts.sum())
    if max(abs(int(values[0])), abs(int(values[-1]))) * n < 2**63:
        return int(np.dot(values, counts))
    return sum(v * c for v, c in zip(values.tolist(), counts.tolist(), strict=True))


def evaluate_latency_histograms(objective: LatencyObjective, data: LatencyHistograms,
                                lo: int, hi: int, max_listed: int = 50) -> LatencyResult:
    """The objective over successful results with ``lo <= ts < hi``, from histograms;
    the same :class:`LatencyResult` as :func:`evaluate_latency` on the raw durations."""
    if (lo, hi) != (data.lo, data.hi):
        raise ValueError(f"histograms cover [{data.lo}, {data.hi}), not [{lo}, {hi})")
    if max_listed > data.max_listed:
        raise ValueError(f"histograms list {data.max_listed} exceeding results, "
                         f"{max_listed} wanted")
    wanted = set(objective.targets)
    mine = [h for h in data.series if h.target in wanted]
    empty = np.zeros(0, dtype=np.int64)
    values, counts = merge_counts(np.concatenate([empty, *(h.values for h in mine)]),
                                  np.concatenate([empty, *(h.counts for h in mine)]))
    return _evaluate(objective, values, counts,
                     lambda within: data.exceeding[(objective.targets, within)][:max_listed])


def _evaluate(objective: LatencyObjective, values: NDArray[np.int64], counts: NDArray[np.int64],
              listed: Callable[[int], tuple[LatencySample, ...]]) -> LatencyResult:
    """The objective over one histogram of its successful results; ``listed(within)``
    names the first results above the largest duration a bound allows (a histogram
    cannot)."""
    n = int(counts.sum())
    if n == 0:
        none = tuple(BoundResult(b, None, None, 0, ()) for b in objective.bounds)
        return LatencyResult(objective.name, objective.targets, 0, 0, None, None, none)
    total = _exact_sum(values, counts)
    mean = Fraction(total, n)
    cum = np.cumsum(counts)
    results = []
    for b in objective.bounds:
        value = _histogram_value(b, values, cum, mean)
        within = b.largest_within_ms
        not_above = int(np.searchsorted(values, within, side="right"))
        count = n - (int(cum[not_above - 1]) if not_above else 0)
        results.append(BoundResult(b, value, b.holds(value), count, listed(within)))
    return LatencyResult(objective.name, objective.targets, n, total, mean, int(values[-1]),
                         tuple(results))


def _histogram_value(bound: LatencyBound, values: NDArray[np.int64], cum: NDArray[np.int64],
                     mean: Fraction) -> Fraction:
    if bound.key == "mean":
        return mean
    if bound.key == "max":
        return Fraction(int(values[-1]))
    p = bound.percentile
    assert p is not None
    # The first value whose cumulative count reaches the rank: nearest rank.
    rank = _rank(p, int(cum[-1]))
    return Fraction(int(values[int(np.searchsorted(cum, rank, side="left"))]))
