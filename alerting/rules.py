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
objective_burn          a burn alert of a windowed objective                P2 page,
                        (``slos[].objective.burn_alerts``) holds, and has   P3 ticket
                        held for its ``alert_after``
upload                  an upload target's latest result completed but      P3
                        took longer than its maximum (a performance
                        breach, not an outage: a failed upload is the
                        availability rules' business)
rpo                     the newest backup point is older than the RPO       P1
tls_expiry              a certificate expires within 14 days                P3
probe_down              a (target, location) silent for 3 intervals;        P3
                        never downtime, only "the probe is down"
probes_late             slaguard itself (service ``slaguard``, from         P3
                        ``SelfReadings``): > 10 % of the last 5 min's
                        probe starts over 1 s late or skipped
evaluation_failing      3 evaluation rounds in a row failed                 P2
outbox_backlog          the oldest waiting notification is > 10 min old     P3
channel_failing         a channel failed 3 deliveries in a row              P3
worker_restarting       a probe worker restarted 3 times in 15 min          P2
======================  ==================================================  ========

The rules on slaguard itself run only when ``evaluate`` is given readings; a
full disk stops slaguard from recording any incident, which is why the exported
Prometheus rules (``alerting.promrules.self_rules``) watch the same things.

Burn priorities follow the exported Prometheus rules (``alerting.promrules``),
so a page reads the same whichever engine raised it.

Dedup.  An alert is one (rule, service, subject); alerts join incidents by
``incident_key`` = service + incident rule, where ``confirmed_outage`` and
``burn_rate`` share the incident rule ``availability``: one outage seen by the
outage rule and two burn windows, from two locations, is one incident.

Holding.  A condition with ``hold_ms`` (a burn alert's ``alert_after``, OpenSLO's
alertAfter) is *pending* until it has held that long: kept in the states, no event.
It fires once it has; if it clears first it is dropped without a word (it never paged).

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
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from alerting.links import public_base_url
from alerting.notification import Priority
from slaguard.domain import ProbeResult
from slaguard.evidence_api import span_url
from slaguard.policy import inclusive
from slo.fmt import number
from slo.model import comparison, duration_label, within_bound
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
# slaguard itself (service ``slaguard``), from ``SelfReadings``.
PROBES_LATE = "probes_late"
EVALUATION_FAILING = "evaluation_failing"
OUTBOX_BACKLOG = "outbox_backlog"
CHANNEL_FAILING = "channel_failing"
WORKER_RESTARTING = "worker_restarting"
SELF_SERVICE = "slaguard"
OBJECTIVE_BURN = "objective_burn"
AVAILABILITY = "availability"

# Rules that need the SLO report: without a report they are not evaluated, and
# their alerts are carried over unchanged (a failed evaluation is not a recovery).
REPORT_RULES = frozenset({CONFIRMED_OUTAGE, BURN_RATE, LATENCY, RPO, OBJECTIVE_BURN})
SNAPSHOT_RULES = frozenset({UPLOAD, TLS_EXPIRY, PROBE_DOWN})
# Rules on slaguard itself: carried over when no readings are given.
SELF_RULES = frozenset({PROBES_LATE, EVALUATION_FAILING, OUTBOX_BACKLOG, CHANNEL_FAILING,
                        WORKER_RESTARTING})

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
    f"{OBJECTIVE_BURN}:page": Priority.P2,  # also by SLO: objective_burn:<slo>/<alert>
    f"{OBJECTIVE_BURN}:ticket": Priority.P3,
    UPLOAD: Priority.P3,
    RPO: Priority.P1,
    TLS_EXPIRY: Priority.P3,
    PROBE_DOWN: Priority.P3,
    DEAD_LETTER: Priority.P3,
    PROBES_LATE: Priority.P3,
    EVALUATION_FAILING: Priority.P2,
    OUTBOX_BACKLOG: Priority.P3,
    CHANNEL_FAILING: Priority.P3,
    WORKER_RESTARTING: Priority.P2,
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
    # upload target → whether its limit is met at the limit ("<= 30s"); absent: strict,
    # the standard's "10MB文件 <30秒"
    upload_inclusive: Mapping[str, bool] = field(default_factory=dict)
    priorities: Mapping[str, Priority] = field(default_factory=lambda: DEFAULT_PRIORITIES)
    clear_after_ms: int = DEFAULT_CLEAR_AFTER_MS
    clear_after_by_rule: Mapping[str, int] = field(default_factory=dict)
    cert_warning_ms: int = DEFAULT_CERT_WARNING_MS
    silent_intervals: int = DEFAULT_SILENT_INTERVALS
    # Browser targets (their failed checks leave a screenshot and a trace) and the base
    # of the links to that evidence, which an outage's notification carries.
    evidence_targets: frozenset[str] = frozenset()
    evidence_base: str = ""

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


def _upload_bounds(cfg: Config) -> dict[str, timedelta]:
    """Per upload target: its own ``max_duration``, else the tightest ``max`` latency
    bound of its SLOs (at equal limits a strict one is tighter)."""
    slo_max: dict[str, timedelta] = {}
    for s in cfg.slos:
        if s.latency and "max" in s.latency:
            bound = s.latency["max"]
            for name in s.targets or ():
                old = slo_max.get(name)
                if old is None or (bound, inclusive(bound)) < (old, inclusive(old)):
                    slo_max[name] = bound
    out: dict[str, timedelta] = {}
    for t in cfg.targets:
        if t.kind != "upload":
            continue
        own = t.max_duration or t.expect.max_duration
        found = own if own is not None else slo_max.get(t.name)
        if found is not None:
            out[t.name] = found
    return out


def settings_from_config(cfg: Config, *, priorities: Mapping[str, str | Priority] | None = None,
                         clear_after: timedelta = timedelta(minutes=5),
                         clear_after_by_rule: Mapping[str, timedelta] | None = None,
                         cert_warning: timedelta = timedelta(days=14),
                         silent_intervals: int = DEFAULT_SILENT_INTERVALS) -> RuleSettings:
    uploads = _upload_bounds(cfg)
    return RuleSettings(
        intervals_ms={t.name: _ms(t.interval) for t in cfg.targets},
        target_services=cfg.target_services,
        upload_max_ms={t: _ms(b) for t, b in uploads.items()},
        upload_inclusive={t: inclusive(b) for t, b in uploads.items()},
        priorities=merged_priorities(priorities),
        clear_after_ms=_ms(clear_after),
        clear_after_by_rule={k: _ms(v) for k, v in (clear_after_by_rule or {}).items()},
        cert_warning_ms=_ms(cert_warning),
        silent_intervals=silent_intervals,
        evidence_targets=frozenset(t.name for t in cfg.targets if t.kind == "browser"),
        evidence_base=public_base_url(cfg.server.public_url, cfg.server.listen),
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
    # How long it must hold before it fires (0: at once).
    hold_ms: int = 0

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
        # A browser target's failed checks kept a screenshot and a trace: link them.
        evidence = [span_url(t, o.start_ms, base=settings.evidence_base)
                    for t in o.targets if t in settings.evidence_targets]
        labels = {"locations": ",".join(o.locations), "targets": ",".join(o.targets)}
        if evidence:
            labels["evidence"] = " ".join(evidence)
        out.append(Condition(
            CONFIRMED_OUTAGE, "", name, settings.priority(CONFIRMED_OUTAGE),
            f"{s.spec.title or name}：服务中断（已确认） / service down (confirmed)",
            f"自 {rfc3339(o.start_ms, tz)} 起中断 / down since {rfc3339(o.start_ms, tz)}; "
            f"locations: {', '.join(o.locations) or '-'}; targets: {', '.join(o.targets) or '-'}"
            + "".join(f"; 证据 / evidence: {u}" for u in evidence),
            labels))
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
        failing = [f"{b.bound.key} {number(b.value, 3)} ms, objective {b.bound.comparison}"
                   for b in x.bounds if b.holds is False and b.value is not None]
        for service in sorted({settings.service_of(t) for t in x.targets}):
            out.append(Condition(
                LATENCY, x.name, service, settings.priority(f"{LATENCY}:{x.name}", LATENCY),
                f"{x.name}：延迟目标未达成 / latency objective not met",
                "; ".join(failing) + f" (month to date, {x.count} results)",
                {"slo": x.name}))
    return out


def objective_burn_conditions(report: Report, settings: RuleSettings) -> list[Condition]:
    """A windowed objective's burn alert that holds now, per service of its targets;
    its ``alert_after`` becomes the condition's ``hold_ms``."""
    out = []
    for x in report.objectives:
        for b in x.burn:
            if not b.holds or b.burn_rate is None:
                continue
            a = b.spec
            subject = f"{x.spec.name}/{a.name}"
            rate, limit = number(b.burn_rate, 2), number(a.threshold)
            lookback = duration_label(a.lookback_ms)
            for service in x.spec.services:
                out.append(Condition(
                    OBJECTIVE_BURN, subject, service,
                    settings.priority(f"{OBJECTIVE_BURN}:{subject}",
                                      f"{OBJECTIVE_BURN}:{a.severity}", OBJECTIVE_BURN),
                    f"{x.spec.name}：错误预算消耗速率 {rate} 倍 / error budget burn rate "
                    f"{rate}× ({a.name}, {lookback})",
                    f"burn rate {rate} over {lookback} ({_OPS[a.op]} {limit}, {a.severity}); "
                    f"objective {x.spec.target_percent}% over {x.spec.window_label} "
                    f"({x.spec.budgeting})",
                    {"slo": x.spec.name, "alert": a.name, "severity": a.severity,
                     "burn_rate": rate, "lookback": lookback},
                    hold_ms=a.alert_after_ms))
    return out


_OPS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


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
        incl = settings.upload_inclusive.get(target, False)
        slow = sorted((r for r in results if limit is not None and r.success
                       and not within_bound(r.duration_ms, limit, incl)),
                      key=lambda r: r.location)
        if not slow or limit is None:
            continue
        op = comparison(incl)
        service = settings.service_of(target, slow[0].service)
        out.append(Condition(
            UPLOAD, target, service, settings.priority(f"{UPLOAD}:{target}", UPLOAD),
            f"{target}：上传超过上限 / upload over its maximum",
            "; ".join(f"{r.location}: {r.duration_ms} ms, objective {op} {limit} ms"
                      for r in slow),
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
            if not within_bound(age, x.max_age_ms, x.inclusive):
                service = settings.service_of(target, results[0].service)
                stale[service].append(f"{target}: {age // 1000} s, objective {x.comparison}")
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


# -- slaguard itself ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SelfReadings:
    """What slaguard measured about itself (``exporters.self_metrics.SelfStats``)."""

    probes_started: int = 0  # scheduled probes started (or skipped) in the recent past
    probes_late: int = 0  # of those, started late or skipped
    evaluation_failing_rounds: int = 0  # evaluation rounds failed in a row
    outbox_pending: int = 0
    outbox_oldest_age_ms: int | None = None
    channels_failing: Mapping[str, int] = field(default_factory=dict)  # attempts in a row
    worker_restarts: Mapping[str, int] = field(default_factory=dict)  # in the recent past


@dataclass(frozen=True)
class SelfThresholds:
    """When slaguard's own rules fire; the Prometheus rules (``alerting.promrules``)
    use the same numbers."""

    late_after_s: int = 1  # a probe starting later than this after its slot is late
    late_share: Fraction = Fraction(1, 10)  # of recent probe starts late or skipped
    min_probes: int = 10  # fewer recent starts say nothing yet
    evaluation_rounds: int = 3
    outbox_age_ms: int = 10 * _MIN
    channel_attempts: int = 3
    worker_restarts: int = 3


SELF_THRESHOLDS = SelfThresholds()


def _self(rule: str, subject: str, settings: RuleSettings, title: str, summary: str,
          **labels: str) -> Condition:
    return Condition(rule, subject, SELF_SERVICE, settings.priority(rule), title, summary,
                     {"source": "self", **labels})


def self_conditions(r: SelfReadings, settings: RuleSettings,
                    th: SelfThresholds = SELF_THRESHOLDS) -> list[Condition]:
    """slaguard's own trouble, each with its runbook line (bilingual, as the exported
    rules' annotations)."""
    out: list[Condition] = []
    if r.probes_started >= th.min_probes and \
            Fraction(r.probes_late, r.probes_started) > th.late_share:
        out.append(_self(
            PROBES_LATE, "probes", settings, "探测启动延迟 / probes start late",
            f"最近 {r.probes_started} 次探测中 {r.probes_late} 次迟于计划时刻超过 "
            f"{th.late_after_s} 秒或被跳过。"
            "处理：查看 slaguard_probe_start_lateness_seconds 与 slaguard_probes_skipped_total，"
            "调大 scheduling.workers / max_concurrency 或减少目标。 / "
            f"{r.probes_late} of the last {r.probes_started} probes started over "
            f"{th.late_after_s} s late "
            "or were skipped. Runbook: check slaguard_probe_start_lateness_seconds and "
            "slaguard_probes_skipped_total; raise scheduling.workers or max_concurrency, "
            "or probe fewer targets."))
    if r.evaluation_failing_rounds >= th.evaluation_rounds:
        out.append(_self(
            EVALUATION_FAILING, "evaluation", settings, "SLO 评估失败 / evaluation failing",
            f"连续 {r.evaluation_failing_rounds} 轮评估失败，SLO 指标停留在旧值。处理：查看"
            "日志中的 \"SLO evaluation failed\"。 / "
            f"{r.evaluation_failing_rounds} evaluation rounds in a row failed; the SLO gauges "
            "keep old values. Runbook: the log says why (\"SLO evaluation failed\")."))
    age = r.outbox_oldest_age_ms
    if age is not None and age > th.outbox_age_ms:
        out.append(_self(
            OUTBOX_BACKLOG, "outbox", settings, "通知积压 / notifications backlog",
            f"{r.outbox_pending} 条通知待发，最早的已等待 {age // _MIN} 分钟。处理：检查渠道"
            "（slaguard_notification_failures_total）与网络。 / "
            f"{r.outbox_pending} notifications waiting, the oldest for {age // _MIN} min. "
            "Runbook: check the channels (slaguard_notification_failures_total) and the "
            "network."))
    for channel, n in sorted(r.channels_failing.items()):
        if n >= th.channel_attempts:
            out.append(_self(
                CHANNEL_FAILING, channel, settings, f"{channel}：通知渠道失败 / channel failing",
                f"渠道 {channel} 连续 {n} 次投递失败，通知在重试。处理：查看 outbox 的 "
                "last_error，检查地址、密钥与对方限流。 / "
                f"Channel {channel} failed {n} deliveries in a row; they are being retried. "
                "Runbook: read the outbox rows' last_error; check the URL, secret and the "
                "vendor's rate limit.", channel=channel))
    for worker, n in sorted(r.worker_restarts.items()):
        if n >= th.worker_restarts:
            out.append(_self(
                WORKER_RESTARTING, f"worker-{worker}", settings,
                f"探测进程 {worker} 反复重启 / probe worker restarting in a loop",
                f"探测进程 {worker} 15 分钟内重启 {n} 次，其目标出现监控缺口。处理：查看该进程"
                "日志（probe-worker-N）。 / "
                f"Probe worker {worker} restarted {n} times in 15 min; its targets have "
                "monitoring gaps. Runbook: read its log (probe-worker-N).", worker=worker))
    return out


def conditions(report: Report | None, latest: Sequence[ProbeResult], now_ms: int,
               settings: RuleSettings) -> list[Condition]:
    out = upload_conditions(latest, settings) + tls_conditions(latest, now_ms, settings) \
        + probe_down_conditions(latest, now_ms, settings)
    if report is not None:
        out += outage_conditions(report, settings) + burn_conditions(report, settings) \
            + latency_conditions(report, settings) + rpo_conditions(report, latest, settings) \
            + objective_burn_conditions(report, settings)
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
    fired: bool = True  # False: pending, holding for less than its hold_ms yet

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
                "last_true_ms": self.last_true_ms, "clear_since_ms": self.clear_since_ms,
                "fired": self.fired}

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
                      dict(c.labels), now_ms, now_ms, fired=c.hold_ms <= 0)


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
        state = _started(c, now_ms) if prev is None else _continued(prev, c, now_ms)
        if not state.fired and now_ms - state.since_ms >= c.hold_ms:
            state = replace(state, fired=True)
        alerts[key] = state
        if state.fired and (prev is None or not prev.fired):
            events.append(AlertEvent(EventKind.FIRING, state, now_ms))
    for key, prev in previous.items():
        if key in now:
            continue
        if evaluated is not None and prev.rule not in evaluated:
            alerts[key] = prev
            continue
        if not prev.fired:  # pending and clear again: it never paged, nothing to resolve
            continue
        clear_since = now_ms if prev.clear_since_ms is None else prev.clear_since_ms
        if now_ms - clear_since >= settings.clear_after(prev.rule):
            events.append(AlertEvent(EventKind.RESOLVED, replace(prev, clear_since_ms=clear_since),
                                     now_ms))
        else:
            alerts[key] = replace(prev, clear_since_ms=clear_since)
    return RuleOutcome(alerts, tuple(events))


def evaluate(report: Report | None, snapshot: Snapshot, previous: Mapping[str, AlertState],
             now_ms: int, settings: RuleSettings, health: SelfReadings | None = None
             ) -> RuleOutcome:
    """The rules at ``now_ms``: the new alert states and what changed (pure).
    ``health`` (slaguard's own readings) runs the rules on slaguard itself."""
    latest = latest_results(snapshot)
    evaluated = SNAPSHOT_RULES | (REPORT_RULES if report is not None else frozenset()) \
        | (SELF_RULES if health is not None else frozenset())
    current = conditions(report, latest, now_ms, settings)
    if health is not None:
        current += self_conditions(health, settings)
    return step(current, previous, now_ms, settings, frozenset(evaluated))
