"""Latency objectives over raw durations of successful results.

Exactness rules (DESIGN "Latency"): the mean is Σ duration / count over all
successful results of the objective's targets and locations — never a mean of
per-target or per-minute means — and percentiles are nearest-rank over the raw
values (rank ⌈p/100 · n⌉), never interpolated.  A bound *holds* when the value
is not above it (``value ≤ limit``, the Prometheus ``le`` convention); the
objective holds when every bound holds, and is undecided without samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    exceeding_count: int  # successful results above the limit
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


def nearest_rank(sorted_values: NDArray[np.int64], percentile: Fraction) -> int:
    """The nearest-rank percentile of ascending values: element ⌈p/100 · n⌉ (1-based)."""
    n = int(sorted_values.size)
    if n == 0:
        raise ValueError("no values")
    rank = -(-(percentile.numerator * n) // (percentile.denominator * 100))
    return int(sorted_values[min(max(rank, 1), n) - 1])


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


def _exceeding(pool: _Pool, limit: int, max_listed: int) -> tuple[int, tuple[LatencySample, ...]]:
    idx = np.flatnonzero(pool.dur > limit)
    count = int(idx.size)
    idx = idx[np.argsort(pool.ts[idx], kind="stable")][:max_listed]
    samples = tuple(
        LatencySample(int(pool.ts[i]), *pool.labels[int(pool.who[i])], int(pool.dur[i]))
        for i in idx
    )
    return count, samples


def _bound_value(bound: LatencyBound, ordered: NDArray[np.int64], mean: Fraction) -> Fraction:
    if bound.key == "mean":
        return mean
    if bound.key == "max":
        return Fraction(int(ordered[-1]))
    p = bound.percentile
    assert p is not None
    return Fraction(nearest_rank(ordered, p))


def evaluate_latency(objective: LatencyObjective, series: Iterable[LatencySeries], lo: int,
                     hi: int, max_listed: int = 50) -> LatencyResult:
    """The objective over successful results with ``lo <= ts < hi``."""
    pool = _pool(series, objective.targets, lo, hi)
    n = int(pool.dur.size)
    if n == 0:
        empty = tuple(BoundResult(b, None, None, 0, ()) for b in objective.bounds)
        return LatencyResult(objective.name, objective.targets, 0, 0, None, None, empty)
    ordered = np.sort(pool.dur)
    mean = exact_mean(pool.dur)
    results = []
    for b in objective.bounds:
        value = _bound_value(b, ordered, mean)
        count, listed = _exceeding(pool, b.limit_ms, max_listed)
        results.append(BoundResult(b, value, value <= b.limit_ms, count, listed))
    return LatencyResult(objective.name, objective.targets, n, int(pool.dur.sum()), mean,
                         int(ordered[-1]), tuple(results))
