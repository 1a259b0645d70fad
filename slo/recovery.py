"""RPO and RTO compliance.

* RPO: at every freshness probe, the age of the newest recoverable point
  (``ts − recovery_point``).  Compliant when every age in the period meets the
  objective ("RPO <1小时": an age of exactly 1 h breaches a strict objective;
  an inclusive one allows it); undecided without samples.  Ages are sampled at probes only, so
  the probe interval bounds how late a breach is seen.
* RTO: per outage, restoration − start, where restoration is the first instant
  after the outage at which the service is *known* to be up again (a gap after
  an outage does not count as restored; outages separated only by gaps are one
  outage).  Compliant when every outage overlapping the period was restored
  within the objective (strictly below it unless the objective is inclusive);
  an outage still open at ``now`` breaches once no restoration could still meet
  the objective and is pending until then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from slaguard.domain import ProbeResult
from slo.fmt import number
from slo.intervals import EMPTY, IntervalSet
from slo.model import (
    BackupKindSpec,
    FreshnessObjective,
    RestoreObjective,
    comparison,
    within_bound,
)


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
    inclusive: bool
    samples: int
    worst: FreshnessSample | None
    breach_count: int
    breaches: tuple[FreshnessSample, ...]  # the first ``max_listed``, by time

    @property
    def compliant(self) -> bool | None:
        return None if self.samples == 0 else self.breach_count == 0

    @property
    def comparison(self) -> str:
        """The objective as printed: ``"< 3600 s"``."""
        return f"{comparison(self.inclusive)} {_seconds(self.max_age_ms)} s"


def _seconds(ms: int) -> str:
    return number(Fraction(ms, 1000), 3)


def freshness_from_results(results: Iterable[ProbeResult]) -> list[FreshnessSample]:
    return [FreshnessSample(r.ts_ms, r.recovery_point_ms, r.target, r.location)
            for r in results if r.recovery_point_ms is not None]


def evaluate_rpo(objective: FreshnessObjective, samples: Iterable[FreshnessSample], lo: int,
                 hi: int, max_listed: int = 50) -> RpoResult:
    """RPO over the freshness samples of the objective's targets with ``lo <= ts < hi``."""
    wanted = set(objective.targets)
    inside = sorted((s for s in samples if s.target in wanted and lo <= s.ts_ms < hi),
                    key=lambda s: s.ts_ms)
    breaches = [s for s in inside
                if not within_bound(s.age_ms, objective.max_age_ms, objective.inclusive)]
    worst = max(inside, key=lambda s: s.age_ms, default=None)
    return RpoResult(objective.name, objective.targets, objective.max_age_ms,
                     objective.inclusive, len(inside), worst, len(breaches),
                     tuple(breaches[:max_listed]))


def data_loss_ms(failure_ms: int, samples: Iterable[FreshnessSample]) -> int | None:
    """Realised data loss of an incident: failure time − newest point recoverable by then."""
    points = [s.recovery_point_ms for s in samples
              if s.ts_ms <= failure_ms and s.recovery_point_ms <= failure_ms]
    return failure_ms - max(points) if points else None


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """A backup kind on its schedule at ``at_ms`` (now, or the end of a closed period).

    ``ok``: the newest point is at most ``every`` old; ``due``: older, but within the
    grace; ``missed``: older than every + grace, an RPO risk (a restore would have
    to start from an older point of this kind); ``unknown``: no point seen yet.
    """

    spec: BackupKindSpec
    at_ms: int
    newest_ms: int | None
    seen_ms: int | None  # the last probe (≤ at) that reported it
    late_samples: int  # probes in the period that found it older than every + grace

    @property
    def age_ms(self) -> int | None:
        return None if self.newest_ms is None else self.at_ms - self.newest_ms

    @property
    def due_ms(self) -> int | None:
        return None if self.newest_ms is None else self.newest_ms + self.spec.every_ms

    @property
    def deadline_ms(self) -> int | None:
        return None if self.newest_ms is None else self.newest_ms + self.spec.max_age_ms

    @property
    def status(self) -> str:
        age = self.age_ms
        if age is None:
            return "unknown"
        if age <= self.spec.every_ms:
            return "ok"
        return "due" if age <= self.spec.max_age_ms else "missed"

    @property
    def rpo_risk(self) -> bool:
        return self.status in ("missed", "unknown")


def backup_status(spec: BackupKindSpec, samples: Iterable[FreshnessSample], lo: int, hi: int,
                  at_ms: int) -> BackupStatus:
    """``spec``'s kind at ``at_ms`` from its target's samples (any location): the newest
    point any probe up to ``at_ms`` reported; and how many probes in ``[lo, hi)`` found
    it older than every + grace (the schedule missed then)."""
    mine = [s for s in samples if s.target == spec.target and s.ts_ms <= at_ms]
    newest = max(mine, key=lambda s: (s.recovery_point_ms, -s.ts_ms), default=None)
    seen = max((s.ts_ms for s in mine if newest is not None
                and s.recovery_point_ms == newest.recovery_point_ms), default=None)
    late = sum(1 for s in mine if lo <= s.ts_ms < hi and s.age_ms > spec.max_age_ms)
    return BackupStatus(spec, at_ms, None if newest is None else newest.recovery_point_ms,
                        seen, late)


@dataclass(frozen=True, slots=True)
class RecoveryPoint:
    """A backup point the freshness probes reported: when it was taken, by which
    target (backup kind) and when and where a probe first saw it."""

    point_ms: int
    target: str
    first_seen_ms: int
    location: str = ""


def recovery_points(samples: Iterable[FreshnessSample]) -> tuple[RecoveryPoint, ...]:
    """The distinct points (per target) of ``samples``, each with its first sighting,
    oldest first."""
    first: dict[tuple[str, int], FreshnessSample] = {}
    for s in samples:
        key = (s.target, s.recovery_point_ms)
        if key not in first or (s.ts_ms, s.location) < (first[key].ts_ms, first[key].location):
            first[key] = s
    return tuple(sorted((RecoveryPoint(rp, t, s.ts_ms, s.location)
                         for (t, rp), s in first.items()),
                        key=lambda p: (p.point_ms, p.target)))


@dataclass(frozen=True, slots=True)
class DataLoss:
    """What a failure beginning at ``at_ms`` loses when restored from backups:
    everything since the newest recoverable point before it (docs/design.md "RPO")."""

    at_ms: int
    point: RecoveryPoint | None  # None: no point known before ``at_ms``

    @property
    def seconds(self) -> int | None:
        """Whole seconds lost, rounded *up*: a part-second of data lost is lost."""
        if self.point is None:
            return None
        return -(-(self.at_ms - self.point.point_ms) // 1000)


def data_loss_at(at_ms: int, points: Iterable[RecoveryPoint]) -> DataLoss:
    """The newest point taken at or before ``at_ms`` (any backup kind: each restores).

    A point counts whenever a probe reported it, even first after ``at_ms``: its
    timestamp says the backup was complete by then.  Points after ``at_ms`` do not."""
    before = [p for p in points if p.point_ms <= at_ms]
    newest = max(before, key=lambda p: (p.point_ms, -p.first_seen_ms), default=None)
    return DataLoss(at_ms, newest)


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
    inclusive: bool
    outages: tuple[Restoration, ...]

    @property
    def comparison(self) -> str:
        """The objective as printed: ``"< 14400 s"``."""
        return f"{comparison(self.inclusive)} {_seconds(self.within_ms)} s"

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
                 within_ms: int, inclusive: bool = False) -> list[Restoration]:
    """Each outage with its restoration: the first known-up instant at or after its end.

    Consecutive outages with the same restoration (only gaps between them) merge.
    """
    merged: list[tuple[int, int | None]] = []
    for start, end in outages:
        restored = _first_up(up, end)
        if merged and merged[-1][1] == restored:
            start = merged.pop()[0]
        merged.append((start, restored))
    return [_restoration(service, s, r, now_ms, within_ms, inclusive) for s, r in merged]


def _restoration(service: str, start: int, restored: int | None, now_ms: int,
                 within_ms: int, inclusive: bool) -> Restoration:
    if restored is not None:
        elapsed = restored - start
        return Restoration(service, start, restored, elapsed,
                           within_bound(elapsed, within_ms, inclusive))
    elapsed = now_ms - start
    # Restored this instant it would take ``elapsed``: once that no longer meets the
    # objective, no later restoration can.
    late = not within_bound(elapsed, within_ms, inclusive)
    return Restoration(service, start, None, elapsed, False if late else None)


def evaluate_rto(objective: RestoreObjective, outages: Mapping[str, IntervalSet],
                 up: Mapping[str, IntervalSet], lo: int, hi: int, now_ms: int) -> RtoResult:
    """RTO of the outages (full extent, per service) that overlap ``[lo, hi)``."""
    found: list[Restoration] = []
    for svc in objective.services:
        for r in restorations(svc, outages.get(svc, EMPTY), up.get(svc, EMPTY), now_ms,
                              objective.within_ms, objective.inclusive):
            end = r.restored_ms if r.restored_ms is not None else now_ms
            if r.start_ms < hi and end > lo:
                found.append(r)
    found.sort(key=lambda r: (r.start_ms, r.service))
    return RtoResult(objective.name, objective.services, objective.within_ms,
                     objective.inclusive, tuple(found))
