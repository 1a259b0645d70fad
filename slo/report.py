"""Report types and their JSON form.

The report is frozen data built by ``slo.evaluator``; ``to_dict`` gives the
``report --format json`` document (docs/design.md "Interfaces"), ``to_json`` its text.
Every number in it is an ``int`` or an exact decimal string: no floats.
Instants are RFC 3339 in the period's time zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from slo.availability import Availability, Outage
from slo.burn import BurnReport
from slo.fmt import fraction_text, number, percent_down, percent_text
from slo.incidents import ClockResult, IncidentsReport, IncidentTimes, PriorityFigures
from slo.latency import BoundResult, LatencyResult, LatencySample
from slo.maintenance import MaintenanceAssessment
from slo.model import ServiceSpec, comparison
from slo.periods import Period, rfc3339
from slo.recovery import (
    BackupStatus,
    FreshnessSample,
    RecoveryPoint,
    Restoration,
    RpoResult,
    RtoResult,
    data_loss_at,
)
from slo.rolling import BurnAlertResult, WindowedResult
from slo.steps import StepObjectiveResult


@dataclass(frozen=True, slots=True)
class LocationSummary:
    location: str
    coverage: Fraction  # share of the evaluated span this location could judge
    down_ms: int
    failing_ms: int  # every failure, blips included
    blips: int


@dataclass(frozen=True, slots=True)
class TargetSummary:
    target: str
    coverage: Fraction
    down_ms: int
    locations: tuple[LocationSummary, ...]


@dataclass(frozen=True, slots=True)
class ServiceReport:
    spec: ServiceSpec
    availability: Availability
    maintenance: tuple[MaintenanceAssessment, ...]
    targets: tuple[TargetSummary, ...]
    burn: BurnReport | None


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    now_ms: int
    services: tuple[ServiceReport, ...]
    latency: tuple[LatencyResult, ...] = ()
    rpo: tuple[RpoResult, ...] = ()
    rto: tuple[RtoResult, ...] = ()
    # Backup points the RPO objectives' probes reported in the period: what a failure
    # loses is measured against them (data loss = start − newest point before it).
    recovery_points: tuple[RecoveryPoint, ...] = ()
    # Incidents opened in the period, live and imported: each clock against the
    # priority's standard, and MTTA / MTTR per priority.
    incidents: IncidentsReport | None = None
    # Each backup kind on its schedule at the end of the evaluated span.
    backups: tuple[BackupStatus, ...] = ()
    # slos[].objective: each windowed objective at the end of the evaluated span
    # (slo.rolling), beside the month; more sections join the same way.
    objectives: tuple[WindowedResult, ...] = ()
    # Journeys' step objectives ("100 pages < 10 min"), over the period's runs.
    steps: tuple[StepObjectiveResult, ...] = ()

    def service(self, name: str) -> ServiceReport:
        for s in self.services:
            if s.spec.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return _Json(self.period.timezone).report(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def _opt(x: Fraction | None, fn: Any = number) -> str | None:
    return None if x is None else fn(x)


@dataclass(frozen=True, slots=True)
class _Json:
    """Serialisation with the period's time zone at hand."""

    tz: str

    def ts(self, ms: int | None) -> str | None:
        return None if ms is None else rfc3339(ms, self.tz)

    def report(self, r: Report) -> dict[str, Any]:
        p = r.period
        return {
            "period": {
                "start": self.ts(p.start_ms), "end": self.ts(p.end_ms), "timezone": p.timezone,
                "label": p.label, "evaluated_until": self.ts(p.until(r.now_ms)),
                "complete": p.is_complete(r.now_ms),
            },
            "now": self.ts(r.now_ms),
            "services": [self.service(s, r.recovery_points) for s in r.services],
            "latency": [self.latency(x) for x in r.latency],
            "rpo": [self.rpo(x) for x in r.rpo],
            "rto": [self.rto(x) for x in r.rto],
            "incidents": None if r.incidents is None else self.incidents(r.incidents),
            "backups": [self.backup(b) for b in r.backups],
            "rpo_risk": [f"{b.spec.target}: {b.status}" for b in r.backups if b.rpo_risk],
            "objectives": [self.objective(x) for x in r.objectives],
            "steps": [self.step(x) for x in r.steps],
        }

    def data_loss(self, at_ms: int, points: tuple[RecoveryPoint, ...]) -> dict[str, Any] | None:
        """A failure at ``at_ms`` restored from backups loses the data since the newest
        point before it: which point, seen by which probe, and how old."""
        if not points:
            return None
        loss = data_loss_at(at_ms, points)
        p = loss.point
        return {"newest_backup": None if p is None else self.ts(p.point_ms),
                "backup_target": None if p is None else p.target,
                "first_seen": None if p is None else self.ts(p.first_seen_ms),
                "first_seen_at": None if p is None else p.location,
                "seconds": loss.seconds}

    def service(self, s: ServiceReport, points: tuple[RecoveryPoint, ...] = ()
                ) -> dict[str, Any]:
        a = s.availability
        return {
            "service": s.spec.name,
            "title": s.spec.title,
            "objective": percent_text(a.objective_percent),
            "period_seconds": a.period_seconds,
            "elapsed_seconds": a.elapsed_seconds,
            "excluded_seconds": a.excluded_seconds,
            "downtime_seconds": a.downtime_seconds,
            "gap_seconds": a.gap_seconds,
            "maintenance_seconds": a.maintenance_seconds,
            "coverage_percent": percent_down(a.coverage),
            "availability_percent": percent_down(a.availability),
            "availability_exact": fraction_text(a.availability),
            "met": a.met,
            "error_budget_seconds": number(a.error_budget_seconds),
            "error_budget_remaining": _opt(a.error_budget_remaining),
            "blips": a.blips,
            "outages": [self.outage(o, points) for o in a.outages],
            "maintenance": [self.maintenance(m) for m in s.maintenance],
            "targets": [self.target(t) for t in s.targets],
            "burn": None if s.burn is None else self.burn(s.burn),
        }

    def outage(self, o: Outage, points: tuple[RecoveryPoint, ...] = ()) -> dict[str, Any]:
        return {"start": self.ts(o.start_ms), "end": self.ts(o.end_ms), "seconds": o.seconds,
                "targets": list(o.targets), "locations": list(o.locations), "cause": o.cause,
                "ongoing": o.ongoing, "data_at_risk": self.data_loss(o.start_ms, points)}

    def maintenance(self, m: MaintenanceAssessment) -> dict[str, Any]:
        w = m.window
        return {
            "id": w.id, "title": w.title, "services": list(w.services),
            "start": self.ts(w.start_ms), "end": self.ts(w.end_ms),
            "announced": self.ts(w.announced_ms),
            "notice_working_days": m.notice_days,
            "notice_is_lower_bound": m.notice_is_lower_bound,
            "required_working_days": m.required_days,
            "status": m.status.value, "qualified": m.qualifies,
            "reason": m.reason, "calendar": m.calendar,
        }

    def target(self, t: TargetSummary) -> dict[str, Any]:
        return {
            "target": t.target, "coverage_percent": percent_down(t.coverage),
            "down_ms": t.down_ms,
            "locations": [
                {"location": loc.location, "coverage_percent": percent_down(loc.coverage),
                 "down_ms": loc.down_ms, "failing_ms": loc.failing_ms, "blips": loc.blips}
                for loc in t.locations
            ],
        }

    def burn(self, b: BurnReport) -> dict[str, Any]:
        return {
            "now": self.ts(b.now_ms),
            "windows": [
                {"window": w.name, "seconds": w.window_ms // 1000, "bad_ms": w.bad_ms,
                 "error_ratio": number(w.error_ratio, 8), "burn_rate": _opt(w.burn_rate)}
                for w in b.windows
            ],
            "conditions": [
                {"severity": c.severity, "factor": number(c.factor),
                 "long_window": c.long_window, "short_window": c.short_window,
                 "threshold": number(c.threshold, 8),
                 "long_burn_rate": _opt(c.long_burn_rate),
                 "short_burn_rate": _opt(c.short_burn_rate), "firing": c.firing}
                for c in b.conditions
            ],
        }

    def sample(self, s: LatencySample) -> dict[str, Any]:
        return {"ts": self.ts(s.ts_ms), "target": s.target, "location": s.location,
                "duration_ms": s.duration_ms}

    def bound(self, b: BoundResult) -> dict[str, Any]:
        return {"bound": b.bound.key, "limit_ms": b.bound.limit_ms,
                "inclusive": b.bound.inclusive, "comparison": b.bound.comparison,
                "value_ms": _opt(b.value, lambda v: number(v, 3)), "holds": b.holds,
                "exceeding_count": b.exceeding_count,
                "exceeding": [self.sample(s) for s in b.exceeding]}

    def latency(self, x: LatencyResult) -> dict[str, Any]:
        return {
            "slo": x.name, "targets": list(x.targets), "count": x.count,
            "mean_ms": _opt(x.mean_ms, lambda v: number(v, 3)),
            "mean_ms_exact": _opt(x.mean_ms, fraction_text),
            "max_ms": x.max_ms, "met": x.met, "bounds": [self.bound(b) for b in x.bounds],
        }

    def freshness(self, s: FreshnessSample) -> dict[str, Any]:
        return {"ts": self.ts(s.ts_ms), "target": s.target, "location": s.location,
                "recovery_point": self.ts(s.recovery_point_ms), "age_ms": s.age_ms}

    def rpo(self, x: RpoResult) -> dict[str, Any]:
        return {
            "slo": x.name, "targets": list(x.targets), "objective_ms": x.max_age_ms,
            "inclusive": x.inclusive, "comparison": x.comparison,
            "samples": x.samples, "compliant": x.compliant,
            "worst": None if x.worst is None else self.freshness(x.worst),
            "breach_count": x.breach_count,
            "breaches": [self.freshness(s) for s in x.breaches],
        }

    def restoration(self, r: Restoration) -> dict[str, Any]:
        return {"service": r.service, "start": self.ts(r.start_ms),
                "restored": self.ts(r.restored_ms), "elapsed_ms": r.elapsed_ms,
                "within": r.within}

    def rto(self, x: RtoResult) -> dict[str, Any]:
        return {"slo": x.name, "services": list(x.services), "objective_ms": x.within_ms,
                "inclusive": x.inclusive, "comparison": x.comparison,
                "compliant": x.compliant, "pending": x.pending,
                "outages": [self.restoration(r) for r in x.outages]}

    def clock(self, c: ClockResult) -> dict[str, Any]:
        return {"standard_ms": c.standard_ms, "due": self.ts(c.due_ms), "done": self.ts(c.done_ms),
                "took_ms": c.took_ms, "late_ms": c.late_ms, "met": c.met}

    def incident(self, t: IncidentTimes) -> dict[str, Any]:
        i = t.incident
        return {"id": i.id, "priority": i.priority, "source": t.source, "title": i.title,
                "services": list(i.services), "customer": i.customer,
                "opened": self.ts(i.opened_ms),
                **{c.clock: self.clock(c) for c in t.clocks}, "late": list(t.late)}

    def figures(self, f: PriorityFigures) -> dict[str, Any]:
        return {"priority": f.priority, "incidents": f.incidents, "answered": f.answered,
                "restored": f.restored, "resolved": f.resolved,
                "mtta_ms": _opt(f.mtta_ms, lambda v: number(v, 3)),
                "mttr_ms": _opt(f.mttr_ms, lambda v: number(v, 3)),
                "late": dict(f.late)}

    def incidents(self, x: IncidentsReport) -> dict[str, Any]:
        return {
            "standards": [{"priority": s.priority, "respond_ms": s.respond_ms,
                           "restore_ms": s.restore_ms, "resolve_ms": s.resolve_ms}
                          for s in x.standards],
            "list": [self.incident(t) for t in x.incidents],
            "by_priority": [self.figures(f) for f in x.by_priority],
        }

    def backup(self, b: BackupStatus) -> dict[str, Any]:
        k = b.spec
        return {"target": k.target, "of": k.parent, "kind": k.kind, "every_ms": k.every_ms,
                "grace_ms": k.grace_ms, "at": self.ts(b.at_ms), "newest": self.ts(b.newest_ms),
                "last_seen": self.ts(b.seen_ms), "age_ms": b.age_ms, "due": self.ts(b.due_ms),
                "missed_after": self.ts(b.deadline_ms), "status": b.status,
                "rpo_risk": b.rpo_risk, "late_probes": b.late_samples}

    def objective(self, x: WindowedResult) -> dict[str, Any]:
        s = x.spec
        return {
            "name": s.name, "sli": s.sli, "targets": list(s.targets),
            "services": list(s.services),
            "threshold": None if s.threshold_ms is None else
            f"{comparison(s.inclusive)} {s.threshold_ms} ms",
            "target": percent_text(s.target_percent), "window": s.window_label,
            "budgeting": s.budgeting, "timeslice_window_ms": s.slice_ms,
            "timeslice_target": None if s.slice_target_percent is None
            else percent_text(s.slice_target_percent),
            "start": self.ts(x.start_ms), "end": self.ts(x.end_ms),
            "events": x.events.total, "good_events": x.events.good,
            "slices": None if s.slice_ms is None else x.units,
            "ratio": _opt(x.ratio), "ratio_percent": _opt(x.ratio, percent_down),
            "met": x.met,
            "budget": {"allowed": number(x.allowed), "bad": number(x.bad),
                       "remaining": number(x.remaining), "consumed": _opt(x.consumed),
                       "remaining_ratio": _opt(x.remaining_ratio)},
            "burn_alerts": [self.objective_burn(b) for b in x.burn],
        }

    def step(self, x: StepObjectiveResult) -> dict[str, Any]:
        return {
            "journey": x.journey, "step": x.step,
            "bound": f"{comparison(x.inclusive)} {x.bound_ms} ms",
            "runs": x.runs, "met": x.met, "breached": x.breached,
            "not_judged": x.not_judged, "worst_ms": x.worst_ms, "compliant": x.compliant,
            "breaches": [{"ts": self.ts(b.ts_ms), "location": b.location,
                          "elapsed_ms": b.elapsed_ms, "step_ok": b.ok} for b in x.breaches],
        }

    def objective_burn(self, b: BurnAlertResult) -> dict[str, Any]:
        a = b.spec
        return {"name": a.name, "severity": a.severity, "op": a.op,
                "threshold": number(a.threshold), "lookback_ms": a.lookback_ms,
                "alert_after_ms": a.alert_after_ms, "from": self.ts(b.from_ms),
                "counted": b.units, "bad_ratio": _opt(b.bad_ratio),
                "burn_rate": _opt(b.burn_rate), "holds": b.holds}
