"""Availability, downtime and error budget of a service over a period.

Two layers:

* :func:`account` works in exact milliseconds on ``[lo, hi)``: which time is
  qualifying maintenance, observed downtime, monitoring gap, bad (downtime as
  the ``no_data`` policy counts it) and excluded from the denominator.  Burn
  rates use it directly.
* :func:`evaluate` turns that into the statement's whole seconds.  Rounding
  rule: bad time is widened to whole seconds (a started second of an outage is
  a second of downtime), excluded time is narrowed to whole seconds it fully
  covers (and never overlaps downtime), and the evaluated span is narrowed to
  whole seconds.  Every figure is then computed from those integers, so a
  reader can recompute availability, budget and outages from the printed
  numbers alone, and rounding always favours the customer by under a second
  per edge.

Precedence at any instant: qualifying maintenance (never downtime; available
or excluded per ``counts_as``) > observed down > gap (per ``no_data``) > up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from slo.intervals import EMPTY, IntervalSet
from slo.model import AvailabilityRules, ServiceSpec
from slo.periods import Period
from slo.timeline import ServiceTimeline

_S = 1000  # ms per second


@dataclass(frozen=True, eq=False, slots=True)
class Accounting:
    """Exact millisecond accounting of ``[lo, hi)``."""

    lo: int
    hi: int
    maintenance: IntervalSet  # qualifying maintenance
    observed_down: IntervalSet  # down per the timeline, outside maintenance
    gap: IntervalSet  # nobody knew the state, outside maintenance
    bad: IntervalSet  # downtime as counted (observed, plus gaps under no_data: down)
    excluded: IntervalSet  # removed from the denominator

    @property
    def span_ms(self) -> int:
        return self.hi - self.lo

    def error_ratio(self) -> Fraction:
        """Share of the (non-excluded) span that was bad; 0 for an empty span."""
        denom = self.span_ms - self.excluded.total()
        return Fraction(self.bad.total(), denom) if denom > 0 else Fraction(0)


def account(tl: ServiceTimeline, lo: int, hi: int, maintenance: IntervalSet,
            rules: AvailabilityRules) -> Accounting:
    m = maintenance.clip(lo, hi)
    observed = tl.down.clip(lo, hi).subtract(m)
    gap = tl.known.complement(lo, hi).subtract(m) if hi > lo else EMPTY
    bad = observed.union(gap) if rules.no_data == "down" else observed
    excluded = EMPTY
    if rules.counts_as == "exclude_from_period":
        excluded = excluded.union(m)
    if rules.no_data == "exclude":
        excluded = excluded.union(gap)
    return Accounting(lo, hi, m, observed, gap, bad, excluded)


@dataclass(frozen=True, slots=True)
class Outage:
    start_ms: int  # whole seconds, as printed
    end_ms: int
    seconds: int
    targets: tuple[str, ...]  # targets down during it (per quorum)
    locations: tuple[str, ...]  # locations that saw it (confirmed failures)
    cause: str  # "observed", "no_data" or "observed+no_data"
    ongoing: bool  # still down at the end of the evaluated span


@dataclass(frozen=True, slots=True)
class Availability:
    service: str
    objective_percent: Decimal
    period_seconds: int  # the whole period
    elapsed_seconds: int  # evaluated so far (= period_seconds once complete)
    excluded_seconds: int
    downtime_seconds: int
    gap_seconds: int
    maintenance_seconds: int  # qualifying maintenance inside the evaluated span
    coverage: Fraction  # share of the evaluated span some location could judge
    availability: Fraction  # exact: 1 − downtime / (elapsed − excluded)
    met: bool
    error_budget_seconds: Fraction  # (1 − objective) × (period − excluded)
    error_budget_remaining: Fraction | None  # 1 − downtime / budget; None if budget is 0
    outages: tuple[Outage, ...]
    blips: int  # unconfirmed failure episodes seen by any location

    @property
    def objective(self) -> Fraction:
        return Fraction(self.objective_percent) / 100


def _coverage(acc: Accounting) -> Fraction:
    return Fraction(acc.span_ms - acc.gap.total(), acc.span_ms) if acc.span_ms else Fraction(0)


def _seconds_span(lo_ms: int, hi_ms: int) -> tuple[int, int]:
    lo = -(-lo_ms // _S)
    return lo, max(lo, hi_ms // _S)


def _attribute(outages: IntervalSet, evidence: Iterable[tuple[str, IntervalSet]]) -> list[set[str]]:
    """For each outage, the names whose evidence intervals fall inside it.

    Evidence must already lie within the outages' union; each evidence interval
    then belongs to exactly one outage, found by binary search (no per-outage loop).
    """
    found: list[set[str]] = [set() for _ in range(len(outages))]
    for name, x in evidence:
        if x:
            idx = np.searchsorted(outages.starts, x.starts, side="right") - 1
            for k in np.unique(idx).tolist():
                found[k].add(name)
    return found


def _outages(acc: Accounting, bad_s: IntervalSet, tl: ServiceTimeline,
             end_s: int) -> tuple[Outage, ...]:
    """Each printed outage with the targets and locations whose evidence lies inside it;
    one reaching ``end_s`` (the evaluated span's last whole second) is ongoing."""
    if not bad_s:
        return ()
    ms = bad_s.scale(_S)
    lo, hi = int(ms.starts[0]), int(ms.ends[-1])
    seen = acc.observed_down.clip(lo, hi)
    blind = acc.bad.subtract(acc.observed_down).clip(lo, hi)
    kinds = _attribute(ms, [("observed", seen), ("no_data", blind)])
    locs = _attribute(ms, ((s.location, s.down.clip(lo, hi).intersect(seen))
                           for s in tl.all_series() if s.down))
    tgts = _attribute(ms, ((t.target, t.down.clip(lo, hi).intersect(seen))
                           for t in tl.targets if t.down))
    return tuple(
        Outage(a * _S, b * _S, b - a, tuple(sorted(tgts[k])), tuple(sorted(locs[k])),
               "+".join(c for c in ("observed", "no_data") if c in kinds[k]),
               b >= end_s)
        for k, (a, b) in enumerate(bad_s)
    )


def evaluate(tl: ServiceTimeline, service: ServiceSpec, period: Period, now_ms: int,
             maintenance: IntervalSet, rules: AvailabilityRules) -> Availability:
    """Availability of one service over ``period``, evaluated up to ``now_ms``."""
    acc = account(tl, period.start_ms, period.until(now_ms), maintenance, rules)
    lo_s, hi_s = _seconds_span(acc.lo, acc.hi)
    p_lo, p_hi = _seconds_span(period.start_ms, period.end_ms)
    bad_s = acc.bad.outward(_S).clip(lo_s, hi_s)
    excl_s = acc.excluded.inward(_S).subtract(bad_s).clip(lo_s, hi_s)
    downtime, excluded = bad_s.total(), excl_s.total()
    elapsed = hi_s - lo_s
    denom = elapsed - excluded
    availability = 1 - Fraction(downtime, denom) if denom > 0 else Fraction(1)
    budget = service.budget_ratio * (p_hi - p_lo - excluded)
    remaining = 1 - downtime / budget if budget > 0 else None
    blips = sum(len(s.blips.clip(acc.lo, acc.hi)) for s in tl.all_series())
    return Availability(
        service=service.name,
        objective_percent=service.objective_percent,
        period_seconds=p_hi - p_lo,
        elapsed_seconds=elapsed,
        excluded_seconds=excluded,
        downtime_seconds=downtime,
        gap_seconds=acc.gap.outward(_S).clip(lo_s, hi_s).total(),
        maintenance_seconds=acc.maintenance.inward(_S).total(),
        coverage=_coverage(acc),
        availability=availability,
        met=availability >= service.objective,
        error_budget_seconds=budget,
        error_budget_remaining=remaining,
        outages=_outages(acc, bad_s, tl, hi_s),
        blips=blips,
    )


def outage_spans(tl: ServiceTimeline, maintenance: IntervalSet) -> IntervalSet:
    """Observed outages at full extent (not cut at the period), outside qualifying maintenance.

    Used for RTO: an outage that began before the period keeps its true start.
    """
    return tl.down.subtract(maintenance)


def budget_seconds(objective_percent: Decimal, period_seconds: int,
                   excluded_seconds: int = 0) -> Fraction:
    """(1 − objective) × (period − excluded), exactly."""
    return (1 - Fraction(objective_percent) / 100) * (period_seconds - excluded_seconds)


def availability_of(downtime_seconds: int, period_seconds: int,
                    excluded_seconds: int = 0) -> Fraction:
    return 1 - Fraction(downtime_seconds, period_seconds - excluded_seconds)
