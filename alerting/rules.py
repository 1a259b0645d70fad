"""Alert rules: pure decisions from what the evaluator and the probes say now.

    evaluate(report, snapshot, previous, now_ms, settings) -> RuleOutcome(alerts, events)

``report`` is this month's ``slo.Report`` (with burn rates), ``snapshot`` the
live state's latest result per (target, location), ``previous`` the alert
states returned by the last call.  Nothing here reads a clock, a file or the
network, so every rule is a unit test away from being checked.

The rules (alert rule names; priorities are defaults, overridable by mapping):

======================  ==================================================  ========
rule                    condition                                           priority
======================  ==================================================  ========
confirmed_outage        the report has an ongoing *observed* outage         P1
                        (confirmation and quorum already applied)
burn_rate               a multiwindow burn condition of the report fires    P1 1h/5m,
                        (14.4 and 6 page, 3 and 1 ticket)                   P2 6h/30m,
                                                                            P3 1d/2h,
                                                                            P4 3d/6h
latency                 a latency objective is not met (month to date)      P3
upload                  an upload target's latest result completed but      P3
                        took longer than its maximum (a performance
                        breach, not an outage: a failed upload is the
                        availability rules' business)
rpo                     the newest backup point is older than the RPO       P1
tls_expiry              a certificate expires within 14 days                P3
probe_down              a (target, location) silent for 3 intervals;        P3
                        never downtime, only "the probe is down"
======================  ==================================================  ========

Burn priorities follow the exported Prometheus rules (``alerting.promrules``),
so a page reads the same whichever engine raised it.

Dedup.  An alert is one (rule, service, subject); alerts join incidents by
``incident_key`` = service + incident rule, where ``confirmed_outage`` and
``burn_rate`` share the incident rule ``availability``: one outage seen by the
outage rule and two burn windows, from two locations, is one incident.

Flap damping.  An alert resolves only after its condition has been clear for
``clear_after`` (5 min by default, per rule overridable); a condition that
comes back meanwhile continues the same alert without a new event.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from alerting.notification import Priority
from slaguard.domain import ProbeResult
from slo.fmt import number
from slo.periods import rfc3339
from slo.report import Report

if TYPE_CHECKING:
    from slaguard.config.schema import Config

CONFIRMED_OUTAGE = "confirmed_outage"
BURN_RATE = "burn_rate"
LATENCY = "latency"
UPLOAD = "upload"
RPO = "rpo"
TLS_EXPIRY = "tls_expiry"
PROBE_DOWN = "probe_down"
# Raised by the outbox, not by a rule here; listed so its priority is configurable too.
DEAD_LETTER = "notification_dead_letter"
AVAILABILITY = "availability"

# Rules that need the SLO report: without a report they are not evaluated, and
# their alerts are carried over unchanged (a failed evaluation is not a recovery).
REPORT_RULES = frozenset({CONFIRMED_OUTAGE, BURN_RATE, LATENCY, RPO})
SNAPSHOT_RULES = frozenset({UPLOAD, TLS_EXPIRY, PROBE_DOWN})

# Alert rule → incident rule: symptoms of one outage share one incident.
INCIDENT_RULES: Mapping[str, str] = MappingProxyType({
    CONFIRMED_OUTAGE: AVAILABILITY, BURN_RATE: AVAILABILITY,
})

DEFAULT_PRIORITIES: Mapping[str, Priority] = MappingProxyType({
    CONFIRMED_OUTAGE: Priority.P1,
    f"{BURN_RATE}:1h/5m": Priority.P1,
    f"{BURN_RATE}:6h/30m": Priority.P2,
    f"{BURN_RATE}:1d/2h": Priority.P3,
    f"{BURN_RATE}:3d/6h": Priority.P4,
    f"{BURN_RATE}:page": Priority.P2,  # burn rules with other windows, by severity
    f"{BURN_RATE}:ticket": Priority.P3,
    LATENCY: Priority.P3,
    UPLOAD: Priority.P3,
    RPO: Priority.P1,
    TLS_EXPIRY: Priority.P3,
    PROBE_DOWN: Priority.P3,
    DEAD_LETTER: Priority.P3,
})
_MIN = 60_000
DEFAULT_CLEAR_AFTER_MS = 5 * _MIN
DEFAULT_CERT_WARNING_MS = 14 * 1440 * _MIN
DEFAULT_SILENT_INTERVALS = 3


def incident_rule(rule: str) -> str:
    return INCIDENT_RULES.get(rule, rule)


def incident_key(service: str, rule: str) -> str:
    """The dedup key of incidents: service + incident rule."""
    return f"{service}/{incident_rule(rule)}"


# -- settings -----------------------------------------------------------------------------


def _ms(td: timedelta) -> int:
    return td // timedelta(milliseconds=1)


@dataclass(frozen=True)
class RuleSettings:
    """What the rules need besides the report and the snapshot; built from config once."""

    intervals_ms: Mapping[str, int] = field(default_factory=dict)  # target → interval
    target_services: Mapping[str, str] = field(default_factory=dict)
    upload_max_ms: Mapping[str, int] = field(default_factory=dict)  # upload target → limit
    priorities: Mapping[str, Priority] = field(default_factory=lambda: DEFAULT_PRIORITIES)
    clear_after_ms: int = DEFAULT_CLEAR_AFTER_MS
    clear_after_by_rule: Mapping[str, int] = field(default_factory=dict)
    cert_warning_ms: int = DEFAULT_CERT_WARNING_MS
    silent_intervals: int = DEFAULT_SILENT_INTERVALS

    def priority(self, *keys: str) -> Priority:
        """The first of ``keys`` (most specific first) with a priority; P3 otherwise."""
        for key in keys:
            if key in self.priorities:
                return self.priorities[key]
        return Priority.P3

    def clear_after(self, rule: str) -> int:
        return self.clear_after_by_rule.get(rule, self.clear_after_ms)

    def service_of(self, target: str, fallback: str = "") -> str:
        return self.target_services.get(target, fallback)


def merged_priorities(overrides: Mapping[str, str | Priority] | None) -> Mapping[str, Priority]:
    """The defaults with ``overrides`` on top; keys as in ``DEFAULT_PRIORITIES``
    (``latency``, ``burn_rate:6h/30m``, ``burn_rate:page``, ``latency:page-load``...)."""
    out = dict(DEFAULT_PRIORITIES)
    out.update({k: Priority(v) for k, v in (overrides or {}).items()})
    return MappingProxyType(out)


def _upload_limits(cfg: Config) -> dict[str, int]:
    """Per upload target: its own ``max_duration``, else an SLO's ``max`` latency bound."""
    slo_max: dict[str, int] = {}
    for s in cfg.slos:
        if s.latency and "max" in s.latency:
            limit = _ms(s.latency["max"])
            for name in s.targets or ():
                slo_max[name] = min(slo_max.get(name, limit), limit)
    out: dict[str, int] = {}
    for t in cfg.targets:
        if t.kind != "upload":
            continue
        own = t.max_duration or t.expect.max_duration
        found = _ms(own) if own is not None else slo_max.get(t.name)
        if found is not None:
            out[t.name] = found
    return out


def settings_from_config(cfg: Config, *, priorities: Mapping[str, str | Priority] | None = None,
                         clear_after: timedelta = timedelta(minutes=5),
                         clear_after_by_rule: Mapping[str, timedelta] | None = None,
                         cert_warning: timedelta = timedelta(days=14),
                         silent_intervals: int = DEFAULT_SILENT_INTERVALS) -> RuleSettings:
    return RuleSettings(
        intervals_ms={t.name: _ms(t.interval) for t in cfg.targets},
        target_services=cfg.target_services,
        upload_max_ms=_upload_limits(cfg),
        priorities=merged_priorities(priorities),
        clear_after_ms=_ms(clear_after),
        clear_after_by_rule={k: _ms(v) for k, v in (clear_after_by_rule or {}).items()},
        cert_warning_ms=_ms(cert_warning),
        silent_intervals=silent_intervals,
    )


# -- conditions: what holds now -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    rule: str
    subject: str  # what within the service: a burn window pair, an SLO, a target@location
    service: str
    priority: Priority
    title: str
    summary: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.service, self.subject)


def alert_key(rule: str, service: str, subject: str) -> str:
    return f"{rule}|{service}|{subject}"


class HasLatest(Protocol):
    @property
    def latest(self) -> ProbeResult: ...


Snapshot = Iterable[tuple[Any, HasLatest]]


def latest_results(snapshot: Snapshot) -> list[ProbeResult]:
    return [state.latest for _, state in snapshot]


def outage_conditions(report: Report, settings: RuleSettings) -> list[Condition]:
    """One per service with an ongoing outage that some location observed.

    A stretch that is "down" only because nobody could judge (``no_data: down``)
    is not a confirmed outage: that is the probes' trouble, paged as probe_down.
    """
    tz = report.period.timezone
    out = []
    for s in report.services:
        ongoing = [o for o in s.availability.outages if o.ongoing and "observed" in o.cause]
        if not ongoing:
            continue
        o = ongoing[-1]
        name = s.spec.name
        out.append(Condition(
            CONFIRMED_OUTAGE, "", name, settings.priority(CONFIRMED_OUTAGE),
            f"{s.spec.title or name}：服务中断（已确认） / service down (confirmed)",
            f"自 {rfc3339(o.start_ms, tz)} 起中断 / down since {rfc3339(o.start_ms, tz)}; "
            f"locations: {', '.join(o.locations) or '-'}; targets: {', '.join(o.targets) or '-'}",
            {"locations": ",".join(o.locations), "targets": ",".join(o.targets)}))
    return out


def burn_conditions(report: Report, settings: RuleSettings) -> list[Condition]:
    out = []
    for s in report.services:
        for c in (s.burn.firing if s.burn is not None else ()):
            windows = f"{c.long_window}/{c.short_window}"
            factor = number(c.factor)
            rate = "-" if c.long_burn_rate is None else number(c.long_burn_rate, 2)
            out.append(Condition(
                BURN_RATE, windows, s.spec.name,
                settings.priority(f"{BURN_RATE}:{windows}", f"{BURN_RATE}:{c.severity}",
                                  BURN_RATE),
                f"{s.spec.title or s.spec.name}：错误预算 {factor} 倍速消耗"
                f" / error budget burning at {factor}× ({c.long_window}, {c.short_window})",
                f"burn rate {rate} over {c.long_window} (threshold {factor}×, {c.severity})",
                {"severity": c.severity, "burn_rate": factor, "long": c.long_window,
                 "short": c.short_window}))
    return out


def latency_conditions(report: Report, settings: RuleSettings) -> list[Condition]:
    """An objective not met, per service of its targets.  Objectives over upload
    targets only are left to the upload rule, which looks at the latest upload
    instead of the month (one slow upload would otherwise alert twice)."""
    out = []
    for x in report.latency:
        if x.met is not False or set(x.targets) <= set(settings.upload_max_ms):
            continue
        failing = [f"{b.bound.key} {number(b.value, 3)} ms > {b.bound.limit_ms} ms"
                   for b in x.bounds if b.holds is False and b.value is not None]
        for service in sorted({settings.service_of(t) for t in x.targets}):
            out.append(Condition(
                LATENCY, x.name, service, settings.priority(f"{LATENCY}:{x.name}", LATENCY),
                f"{x.name}：延迟目标未达成 / latency objective not met",
                "; ".join(failing) + f" (month to date, {x.count} results)",
                {"slo": x.name}))
    return out


def _by_target(latest: Iterable[ProbeResult]) -> dict[str, list[ProbeResult]]:
    grouped: dict[str, list[ProbeResult]] = defaultdict(list)
    for r in latest:
        grouped[r.target].append(r)
    return grouped


def upload_conditions(latest: Sequence[ProbeResult], settings: RuleSettings) -> list[Condition]:
    """Uploads that completed but too slowly: the standard's performance objective
    ("10 MB < 30 s", 性能指标), a P3 of its own.  The probe records such an upload
    as a success (``bound_exceeded_ms``), so it is never an outage; an upload that
    failed or timed out is a failure, left to the availability rules (a timeout's
    duration is where the probe gave up, not how long the upload took)."""
    out = []
    for target, results in sorted(_by_target(latest).items()):
        limit = settings.upload_max_ms.get(target)
        slow = sorted((r for r in results
                       if limit is not None and r.success and r.duration_ms > limit),
                      key=lambda r: r.location)
        if not slow or limit is None:
            continue
        service = settings.service_of(target, slow[0].service)
        out.append(Condition(
            UPLOAD, target, service, settings.priority(f"{UPLOAD}:{target}", UPLOAD),
            f"{target}：上传超过上限 / upload over its maximum",
            "; ".join(f"{r.location}: {r.duration_ms} ms > {limit} ms" for r in slow),
            {"target": target, "locations": ",".join(r.location for r in slow)}))
    return out


def rpo_conditions(report: Report, latest: Sequence[ProbeResult],
                   settings: RuleSettings) -> list[Condition]:
    """Age of the newest backup point at the newest probe, as the evaluator measures
    RPO (at probes), against each freshness objective of the report."""
    by_target = _by_target(r for r in latest if r.recovery_point_ms is not None)
    out = []
    for x in report.rpo:
        stale: dict[str, list[str]] = defaultdict(list)
        for target in x.targets:
            results = by_target.get(target)
            if not results:
                continue
            age = max(r.ts_ms for r in results) - max(r.recovery_point_ms or 0 for r in results)
            if age > x.max_age_ms:
                service = settings.service_of(target, results[0].service)
                stale[service].append(f"{target}: {age // 1000} s > {x.max_age_ms // 1000} s")
        out += [Condition(RPO, x.name, service, settings.priority(f"{RPO}:{x.name}", RPO),
                          f"{x.name}：备份超过 RPO / newest backup older than the RPO",
                          "; ".join(lines), {"slo": x.name})
                for service, lines in sorted(stale.items())]
    return out


def tls_conditions(latest: Sequence[ProbeResult], now_ms: int,
                   settings: RuleSettings) -> list[Condition]:
    """The earliest expiry any location saw: one location may meet an old certificate."""
    out = []
    for target, results in sorted(_by_target(latest).items()):
        expiries = [r.cert_expiry for r in results if r.cert_expiry is not None]
        if not expiries:
            continue
        expiry_ms = min(expiries) * 1000
        if expiry_ms - now_ms >= settings.cert_warning_ms:
            continue
        days_left = (expiry_ms - now_ms) // (1440 * _MIN)
        out.append(Condition(
            TLS_EXPIRY, target, settings.service_of(target, results[0].service),
            settings.priority(f"{TLS_EXPIRY}:{target}", TLS_EXPIRY),
            f"{target}：TLS 证书即将过期 / TLS certificate expiring",
            f"expires {rfc3339(expiry_ms, 'UTC')} ({days_left} days)", {"target": target}))
    return out


def probe_down_conditions(latest: Sequence[ProbeResult], now_ms: int,
                          settings: RuleSettings) -> list[Condition]:
    """A (target, location) with no result for more than ``silent_intervals`` intervals.

    The evaluator already treats that time as a gap, never as downtime; this
    only tells someone that a probe stopped.  Targets no longer configured
    (no interval known) are ignored.
    """
    out = []
    for r in sorted(latest, key=lambda r: (r.target, r.location)):
        interval = settings.intervals_ms.get(r.target)
        if interval is None or now_ms - r.ts_ms <= settings.silent_intervals * interval:
            continue
        subject = f"{r.target}@{r.location}"
        out.append(Condition(
            PROBE_DOWN, subject, settings.service_of(r.target, r.service),
            settings.priority(f"{PROBE_DOWN}:{subject}", PROBE_DOWN),
            f"{r.target} @ {r.location}：探测无数据 / probe silent",
            f"no result since {rfc3339(r.ts_ms, 'UTC')}; not counted as downtime",
            {"target": r.target, "location": r.location}))
    return out


def conditions(report: Report | None, latest: Sequence[ProbeResult], now_ms: int,
               settings: RuleSettings) -> list[Condition]:
    out = upload_conditions(latest, settings) + tls_conditions(latest, now_ms, settings) \
        + probe_down_conditions(latest, now_ms, settings)
    if report is not None:
        out += outage_conditions(report, settings) + burn_conditions(report, settings) \
            + latency_conditions(report, settings) + rpo_conditions(report, latest, settings)
    return out


# -- alert states and their transitions ---------------------------------------------------


class EventKind(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertState:
    rule: str
    subject: str
    service: str
    priority: Priority
    title: str
    summary: str
    labels: Mapping[str, str]
    since_ms: int  # first seen
    last_true_ms: int  # last evaluation at which the condition held
    clear_since_ms: int | None = None  # None: holds now; else clear since (damping)

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.service, self.subject)

    @property
    def incident_rule(self) -> str:
        return incident_rule(self.rule)

    @property
    def incident_key(self) -> str:
        return incident_key(self.service, self.rule)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "subject": self.subject, "service": self.service,
                "priority": self.priority.value, "title": self.title, "summary": self.summary,
                "labels": dict(self.labels), "since_ms": self.since_ms,
                "last_true_ms": self.last_true_ms, "clear_since_ms": self.clear_since_ms}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AlertState:
        values = dict(doc)
        values["priority"] = Priority(values["priority"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    kind: EventKind
    alert: AlertState
    at_ms: int


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    alerts: Mapping[str, AlertState]  # the states to pass as ``previous`` next time
    events: tuple[AlertEvent, ...]


def _continued(prev: AlertState, c: Condition, now_ms: int) -> AlertState:
    return replace(prev, priority=c.priority, title=c.title, summary=c.summary,
                   labels=dict(c.labels), last_true_ms=now_ms, clear_since_ms=None)


def _started(c: Condition, now_ms: int) -> AlertState:
    return AlertState(c.rule, c.subject, c.service, c.priority, c.title, c.summary,
                      dict(c.labels), now_ms, now_ms)


def step(current: Iterable[Condition], previous: Mapping[str, AlertState], now_ms: int,
         settings: RuleSettings, evaluated: frozenset[str] | None = None) -> RuleOutcome:
    """Advance the alert states by one evaluation.

    ``evaluated`` names the rules that were evaluated this time (all when
    None); alerts of other rules are carried over untouched.
    """
    now = {c.key: c for c in current}
    alerts: dict[str, AlertState] = {}
    events: list[AlertEvent] = []
    for key, c in now.items():
        prev = previous.get(key)
        alerts[key] = _started(c, now_ms) if prev is None else _continued(prev, c, now_ms)
        if prev is None:
            events.append(AlertEvent(EventKind.FIRING, alerts[key], now_ms))
    for key, prev in previous.items():
        if key in now:
            continue
        if evaluated is not None and prev.rule not in evaluated:
            alerts[key] = prev
            continue
        clear_since = now_ms if prev.clear_since_ms is None else prev.clear_since_ms
        if now_ms - clear_since >= settings.clear_after(prev.rule):
            events.append(AlertEvent(EventKind.RESOLVED, replace(prev, clear_since_ms=clear_since),
                                     now_ms))
        else:
            alerts[key] = replace(prev, clear_since_ms=clear_since)
    return RuleOutcome(alerts, tuple(events))


def evaluate(report: Report | None, snapshot: Snapshot, previous: Mapping[str, AlertState],
             now_ms: int, settings: RuleSettings) -> RuleOutcome:
    """The rules at ``now_ms``: the new alert states and what changed (pure)."""
    latest = latest_results(snapshot)
    evaluated = SNAPSHOT_RULES | (REPORT_RULES if report is not None else frozenset())
    return step(conditions(report, latest, now_ms, settings), previous, now_ms, settings,
                frozenset(evaluated))
