"""Helpers for the slo tests: readable series patterns and a tiny policy builder.

A pattern is one character per probe slot of ``interval_ms``: ``S`` success,
``F`` failure, ``U`` unknown, ``.`` no result (the probe did not run).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from slaguard.domain import Outcome
from slo.intervals import IntervalSet
from slo.model import AvailabilityRules, MaintenanceSpec, Policy, ServiceSpec, TargetSpec
from slo.periods import Period
from slo.runs import runs_from_results
from slo.timeline import SeriesRuns, ServiceTimeline, build_service_timeline

TZ = "Asia/Shanghai"
IV = 30_000
DAY = 86_400_000
# 2026-10-01T00:00:00+08:00
OCT_2026 = 1_790_784_000_000
CODES = {"S": Outcome.SUCCESS, "F": Outcome.FAILURE, "U": Outcome.UNKNOWN}


def results(pattern: str, t0: int, interval_ms: int = IV) -> tuple[list[int], list[Outcome]]:
    ts, out = [], []
    for i, ch in enumerate(pattern):
        if ch != ".":
            ts.append(t0 + i * interval_ms)
            out.append(CODES[ch])
    return ts, out


def series(target: str, location: str, pattern: str, t0: int,
           interval_ms: int = IV) -> SeriesRuns:
    ts, out = results(pattern, t0, interval_ms)
    return SeriesRuns(target, location, runs_from_results(ts, out, interval_ms))


def policy(objective: str = "99.9", targets: Sequence[str] = ("web",), interval_ms: int = IV,
           rules: AvailabilityRules | None = None, down_when: str = "any",
           maintenance: Sequence[MaintenanceSpec] = (), tz: str = TZ) -> Policy:
    return Policy(
        timezone=tz,
        services=(ServiceSpec("core", Decimal(objective), tuple(targets), down_when),  # type: ignore[arg-type]
                  ),
        targets=tuple(TargetSpec(t, "core", interval_ms) for t in targets),
        rules=rules or AvailabilityRules(),
        maintenance=tuple(maintenance),
    )


def timeline(pol: Policy, runs: Sequence[SeriesRuns], until_ms: int) -> ServiceTimeline:
    return build_service_timeline(pol.services[0], runs, pol, until_ms)


def days(start_ms: int, n: int, tz: str = TZ) -> Period:
    return Period(start_ms, start_ms + n * DAY, tz, f"{n}d")


def ms_pairs(s: IntervalSet) -> list[tuple[int, int]]:
    return s.pairs()
