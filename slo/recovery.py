"""RPO and RTO compliance.

* RPO: at every freshness probe, the age of the newest recoverable point
  (``ts − recovery_point``).  Compliant when no age in the period is above the
  objective; undecided without samples.  Ages are sampled at probes only, so
  the probe interval bounds how late a breach is seen.
* RTO: per outage, restoration − start, where restoration is the first instant
  after the outage at which the service is *known* to be up again (a gap after
  an outage does not count as restored; outages separated only by gaps are one
  outage).  Compliant when every outage overlapping the period was restored
  within the objective; an outage still open at ``now`` breaches once it has
  lasted longer than the objective and is pending until then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from slaguard.domain import ProbeResult
from slo.intervals import EMPTY, IntervalSet
from slo.model import FreshnessObjective, RestoreObjective


@dataclass(frozen=True, slots=True)
class FreshnessSample:
    ts_ms: int
    recovery_point_ms: int
    target: str
    location: str = ""

    @property
    def age_ms(self) -> int:
        return self.ts_ms - self.recovery_point_ms


@dataclass(frozen=True, slots=True)
class RpoResult:
    name: str
    targets: tuple[str, ...]
    max_age_ms: int
    samples: int
    worst: FreshnessSample | None
    breach_count: int
    breaches: tuple[FreshnessSample, ...]  # the first ``max_listed``, by time

    @property
    def compliant(self) -> bool | None:
        return None if self.samples == 0 else self.breach_count == 0


def freshness_from_results(results: Iterable[ProbeResult]) -> list[FreshnessSample]:
    return [FreshnessSample(r.ts_ms, r.recovery_point_ms, r.target, r.location)
            for r in results if r.recovery_point_ms is not None]


def evaluate_rpo(objective: FreshnessObjective, samples: Iterable[FreshnessSample], lo: int,
                 hi: int, max_listed: int = 50) -> RpoResult:
    """RPO over the freshness samples of the objective's targets with ``lo <= ts < hi``."""
    wanted = set(objective.targets)
    inside = sorted((s for s in samples if s.target in wanted and lo <= s.ts_ms < hi),
                    key=lambda s: s.ts_ms)
    breaches = [s for s in inside if s.age_ms > objective.max_age_ms]
    worst = max(inside, key=lambda s: s.age_ms, default=None)
    return RpoResult(objective.name, objective.targets, objective.max_age_ms, len(inside), worst,
                     len(breaches), tuple(breaches[:max_listed]))


def data_loss_ms(failure_ms: int, samples: Iterable[FreshnessSample]) -> int | None:
    """Realised data loss of an incident: failure time − newest point recoverable by then."""
    points = [s.recovery_point_ms for s in samples
              if s.ts_ms <= failure_ms and s.recovery_point_ms <= failure_ms]
    return failure_ms - max(points) if points else None


@dataclass(frozen=True, slots=True)
class Restoration:
    service: str
    start_ms: int
    restored_ms: int | None  # None: not (yet) known to be up again
    elapsed_ms: int  # restored − start, or now − start while open
    within: bool | None  # None: still open and not yet over the objective


@dataclass(frozen=True, slots=True)
class RtoResult:
    name: str
    services: tuple[str, ...]
    within_ms: int
    outages: tuple[Restoration, ...]

    @property
    def compliant(self) -> bool:
        return all(o.within is not False for o in self.outages)

    @property
    def pending(self) -> bool:
        return any(o.within is None for o in self.outages)


def _first_up(up: IntervalSet, t: int) -> int | None:
    """The first instant at or after ``t`` inside ``up``, if any."""
    j = int(np.searchsorted(up.ends, t, side="right"))
    return None if j == len(up) else max(t, int(up.starts[j]))


def restorations(service: str, outages: IntervalSet, up: IntervalSet, now_ms: int,
                 within_ms: int) -> list[Restoration]:
    """Each outage with its restoration: the first known-up instant at or after its end.

    Consecutive outages with the same restoration (only gaps between them) merge.
    """
    merged: list[tuple[int, int | None]] = []
    for start, end in outages:
        restored = _first_up(up, end)
        if merged and merged[-1][1] == restored:
            start = merged.pop()[0]
        merged.append((start, restored))
    return [_restoration(service, s, r, now_ms, within_ms) for s, r in merged]


def _restoration(service: str, start: int, restored: int | None, now_ms: int,
                 within_ms: int) -> Restoration:
    if restored is not None:
        elapsed = restored - start
        return Restoration(service, start, restored, elapsed, elapsed <= within_ms)
    elapsed = now_ms - start
    return Restoration(service, start, None, elapsed, False if elapsed > within_ms else None)


def evaluate_rto(objective: RestoreObjective, outages: Mapping[str, IntervalSet],
                 up: Mapping[str, IntervalSet], lo: int, hi: int, now_ms: int) -> RtoResult:
    """RTO of the outages (full extent, per service) that overlap ``[lo, hi)``."""
    found: list[Restoration] = []
    for svc in objective.services:
        for r in restorations(svc, outages.get(svc, EMPTY), up.get(svc, EMPTY), now_ms,
                              objective.within_ms):
            end = r.restored_ms if r.restored_ms is not None else now_ms
            if r.start_ms < hi and end > lo:
                found.append(r)
    found.sort(key=lambda r: (r.start_ms, r.service))
    return RtoResult(objective.name, objective.services, objective.within_ms, tuple(found))
