"""The alert rules: one test per rule on real evaluator output, then flap damping.

Reports come from the real pure evaluator (``slo.report_from_results``) over
probe results written out here, so a rule is checked against what the
evaluator really produces, not against a hand-made imitation of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import slo
from alerting import rules
from alerting.notification import Priority
from alerting.rules import AlertState, Condition, EventKind, RuleSettings
from slaguard.config import Config, parse_config
from slaguard.domain import Outcome, ProbeResult
from slaguard.policy import from_config
from slaguard.state import LiveState
from slo.latency import BoundResult, LatencyResult
from slo.model import FreshnessObjective, LatencyBound
from slo.recovery import evaluate_rpo
from slo.report import Report

T0 = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
SEC, MIN, HOUR, DAY = 1000, 60_000, 3_600_000, 86_400_000
NOW = T0 + 2 * DAY
LOCATIONS = ("shanghai", "beijing", "shenzhen")
CHANNELS = ("phone", "sms", "email", "ticket", "oncall", "senior-engineer", "ops-director")


def raw_config(db: Path | str = "data/test.db") -> dict[str, Any]:
    """The reference example's incidents section, every channel a webhook (tests
    swap the webhook notifier for a recording one or point it at a real server)."""
    return {
        "version": 1, "timezone": "Asia/Shanghai", "storage": {"path": str(db)},
        "location": "shanghai", "locations": list(LOCATIONS),
        "services": {"core": {"title": "核心服务", "availability": "99.9%"},
                     "backup": {"availability": "99.95%"}},
        "targets": [
            {"name": "web-home", "service": "core", "kind": "http",
             "url": "https://app.example.com/", "interval": "30s", "timeout": "10s"},
            {"name": "upload-10mb", "service": "core", "kind": "upload",
             "url": "https://api.example.com/v1/files", "interval": "15m", "timeout": "60s"},
            {"name": "backup-freshness", "service": "backup", "kind": "freshness",
             "url": "https://ops.example.com/backups/latest", "timestamp_field": "$.finished_at",
             "interval": "5m", "timeout": "10s"},
        ],
        "slos": [
            {"name": "page-load", "targets": ["web-home"], "latency": {"mean": "3s", "p95": "5s"}},
            {"name": "upload-10mb", "targets": ["upload-10mb"], "latency": {"max": "30s"}},
            {"name": "rpo", "targets": ["backup-freshness"], "freshness": "1h"},
        ],
        "incidents": {
            "priorities": {
                "P1": {"respond": "15m", "restore": "4h", "resolve": "24h",
                       "escalate_after": "30m", "notify": ["phone", "sms", "email"]},
                "P2": {"respond": "30m", "restore": "8h", "resolve": "48h",
                       "escalate_after": "1h", "notify": ["phone", "email"]},
                "P3": {"respond": "2h", "resolve": "24h", "escalate_after": "4h",
                       "notify": ["ticket", "email"]},
                "P4": {"respond": "8h", "resolve": "72h", "escalate_after": "24h",
                       "notify": ["ticket"]},
            },
            "escalation": ["oncall", "senior-engineer", "ops-director"],
        },
        "channels": {name: {"kind": "webhook", "url": f"http://127.0.0.1:9/{name}"}
                     for name in CHANNELS},
    }


def make_config(db: Path | str = "data/test.db", **changes: Any) -> Config:
    return parse_config({**raw_config(db), **changes}, env={})[0]


def probe(ts: int, outcome: Outcome = Outcome.SUCCESS, *, target: str = "web-home",
          location: str = "shanghai", duration_ms: int = 200, **extra: Any) -> ProbeResult:
    service = {"backup-freshness": "backup"}.get(target, "core")
    kind = {"upload-10mb": "upload", "backup-freshness": "freshness"}.get(target, "http")
    return ProbeResult(ts_ms=ts, target=target, service=service, location=location, kind=kind,
                       outcome=outcome, duration_ms=duration_ms, **extra)


def web_results(start: int, end: int, down_from: int | None = None,
                down_at: Sequence[str] = ("shanghai", "beijing")) -> list[ProbeResult]:
    """web-home every 30 s from every location; failures at ``down_at`` from ``down_from``."""
    out = []
    for ts in range(start, end, 30 * SEC):
        for loc in LOCATIONS:
            bad = down_from is not None and ts >= down_from and loc in down_at
            out.append(probe(ts, Outcome.FAILURE if bad else Outcome.SUCCESS, location=loc))
    return out


def report_at(cfg: Config, now: int, results: Iterable[ProbeResult]) -> Report:
    policy = from_config(cfg)
    return slo.report_from_results(policy, slo.month_containing(now, policy.timezone), now,
                                   list(results), burn=True)


def snapshot(results: Iterable[ProbeResult]) -> list[Any]:
    state = LiveState()
    state.observe(list(results))
    return state.snapshot()


def outage_report(cfg: Config, now: int = NOW, minutes: int = 20,
                  down_at: Sequence[str] = ("shanghai", "beijing")) -> tuple[Report, list[Any]]:
    """``minutes`` of confirmed outage up to ``now``, seen from ``down_at``."""
    results = web_results(now - 4 * HOUR, now, now - minutes * MIN, down_at)
    return report_at(cfg, now, results), snapshot(results)


@pytest.fixture(scope="module")
def cfg() -> Config:
    return make_config()


@pytest.fixture(scope="module")
def settings(cfg: Config) -> RuleSettings:
    return rules.settings_from_config(cfg)


def by_rule(conds: Iterable[Condition]) -> dict[str, list[Condition]]:
    out: dict[str, list[Condition]] = {}
    for c in conds:
        out.setdefault(c.rule, []).append(c)
    return out


# -- confirmed outage and burn rates ------------------------------------------------------


def test_confirmed_outage_from_two_of_three_locations_is_p1(cfg: Config,
                                                          settings: RuleSettings) -> None:
    report, snap = outage_report(cfg)
    found = by_rule(rules.conditions(report, rules.latest_results(snap), NOW, settings))
    [outage] = found[rules.CONFIRMED_OUTAGE]
    assert outage.service == "core" and outage.priority is Priority.P1
    assert outage.labels["locations"] == "beijing,shanghai"
    assert "2026-10-02T23:40:00+08:00" in outage.summary  # the outage's first failure


def test_an_outage_of_a_browser_target_links_its_evidence(cfg: Config,
                                                         settings: RuleSettings) -> None:
    """A failed browser check kept a screenshot and a trace: the notification links the
    evidence of the outage's span (GET /api/v1/evidence, staff read)."""
    report, _ = outage_report(cfg)
    as_browser = replace(settings, evidence_targets=frozenset({"web-home"}),
                         evidence_base="https://sg.example.com/")
    [outage] = rules.outage_conditions(report, as_browser)
    url = ("https://sg.example.com/api/v1/evidence?target=web-home"
           f"&from={NOW - 20 * MIN}")
    assert outage.labels["evidence"] == url
    assert outage.summary.endswith(f"; 证据 / evidence: {url}")
    [plain] = rules.outage_conditions(report, settings)  # an http target keeps none
    assert "evidence" not in plain.labels and "evidence" not in plain.summary


def test_one_location_down_is_not_an_outage_under_majority(cfg: Config,
                                                           settings: RuleSettings) -> None:
    report, snap = outage_report(cfg, down_at=("shanghai",))
    found = by_rule(rules.conditions(report, rules.latest_results(snap), NOW, settings))
    assert rules.CONFIRMED_OUTAGE not in found and rules.BURN_RATE not in found


def test_a_single_failure_is_a_blip_not_an_outage(cfg: Config, settings: RuleSettings) -> None:
    results = web_results(NOW - HOUR, NOW, NOW - 30 * SEC)  # one failed probe per location
    report = report_at(cfg, NOW, results)
    assert rules.outage_conditions(report, settings) == []


def test_burn_conditions_map_to_the_exported_rules_priorities(cfg: Config,
                                                              settings: RuleSettings) -> None:
    report, _ = outage_report(cfg)
    burns = {c.subject: c for c in rules.burn_conditions(report, settings)}
    # 20 of the last 60 minutes down: every window pair is above its threshold.
    assert {k: v.priority for k, v in burns.items()} == {
        "1h/5m": Priority.P1, "6h/30m": Priority.P2, "1d/2h": Priority.P3,
        "3d/6h": Priority.P4}
    assert burns["1h/5m"].labels["severity"] == "page"
    assert burns["3d/6h"].labels["severity"] == "ticket"


def test_the_fast_burn_fires_only_after_the_threshold(cfg: Config,
                                                      settings: RuleSettings) -> None:
    # 14.4 × 0.1 % of 1 h is 51.84 s of outage: 40 s is not enough, 52 s is.
    first_failure = NOW - 40 * SEC
    results = web_results(first_failure - 4 * HOUR, first_failure)
    results += [probe(ts, Outcome.FAILURE, location=loc)
                for ts in (first_failure, first_failure + 30 * SEC)
                for loc in ("shanghai", "beijing")]

    def fast(now: int) -> bool:
        subjects = {c.subject for c in rules.burn_conditions(report_at(cfg, now, results),
                                                             settings)}
        return "1h/5m" in subjects

    assert not fast(NOW) and fast(NOW + 12 * SEC)


def test_priorities_are_overridable_by_mapping(cfg: Config) -> None:
    settings = rules.settings_from_config(cfg, priorities={"burn_rate:6h/30m": "P1",
                                                           "confirmed_outage": "P2"})
    report, _ = outage_report(cfg)
    burns = {c.subject: c.priority for c in rules.burn_conditions(report, settings)}
    assert burns["6h/30m"] is Priority.P1 and burns["1h/5m"] is Priority.P1
    assert rules.outage_conditions(report, settings)[0].priority is Priority.P2


# -- latency and upload ---------------------------------------------------------------------


def latency_result(name: str, targets: tuple[str, ...], value_ms: int, limit_ms: int,
                   key: str = "p95") -> LatencyResult:
    bound = BoundResult(LatencyBound(key, limit_ms), Fraction(value_ms), value_ms < limit_ms,
                        0, ())
    return LatencyResult(name, targets, 100, 100 * value_ms, Fraction(value_ms), value_ms,
                         (bound,))


def test_latency_objective_breaking_is_p3(cfg: Config, settings: RuleSettings) -> None:
    results = [probe(NOW - i * 30 * SEC, duration_ms=6000 if i % 2 else 200)
               for i in range(1, 101)]
    report = report_at(cfg, NOW, results)
    [cond] = rules.latency_conditions(report, settings)
    assert (cond.rule, cond.subject, cond.service, cond.priority) == (
        "latency", "page-load", "core", Priority.P3)
    assert "mean 3100 ms, objective < 3000 ms" in cond.summary
    assert "p95 6000 ms, objective < 5000 ms" in cond.summary


def test_latency_objective_met_raises_nothing(cfg: Config, settings: RuleSettings) -> None:
    report = report_at(cfg, NOW, [probe(NOW - i * 30 * SEC) for i in range(1, 50)])
    assert rules.latency_conditions(report, settings) == []


def test_upload_only_objectives_are_left_to_the_upload_rule(cfg: Config,
                                                            settings: RuleSettings) -> None:
    report = replace(report_at(cfg, NOW, []),
                     latency=(latency_result("upload-10mb", ("upload-10mb",), 41_000, 30_000,
                                             "max"),))
    assert rules.latency_conditions(report, settings) == []


def test_upload_over_its_maximum(settings: RuleSettings) -> None:
    assert settings.upload_max_ms == {"upload-10mb": 30_000}  # from the SLO's max bound
    latest = [probe(NOW - MIN, target="upload-10mb", location="shanghai", duration_ms=41_000),
              probe(NOW - MIN, target="upload-10mb", location="beijing", duration_ms=29_000)]
    [cond] = rules.upload_conditions(latest, settings)
    assert (cond.rule, cond.subject, cond.priority) == ("upload", "upload-10mb", Priority.P3)
    assert cond.summary == "shanghai: 41000 ms, objective < 30000 ms"


@pytest.mark.parametrize(("duration_ms", "bound", "fires"), [
    (29_999, "30s", False), (30_000, "30s", True), (30_001, "30s", True),
    (29_999, "<= 30s", False), (30_000, "<= 30s", False), (30_001, "<= 30s", True),
])
def test_upload_bound_at_and_either_side(duration_ms: int, bound: str, fires: bool) -> None:
    """"10MB文件 <30秒": a bare 30s is strict, so an upload of exactly 30 000 ms breaks
    it (30000 < 30000 is false); "<= 30s" is met at 30 000 ms and broken at 30 001."""
    raw = raw_config()
    raw["targets"][1]["max_duration"] = bound
    settings = rules.settings_from_config(parse_config(raw, env={})[0])
    latest = [probe(NOW - MIN, target="upload-10mb", location="shanghai",
                    duration_ms=duration_ms)]
    assert bool(rules.upload_conditions(latest, settings)) is fires


def test_upload_target_max_duration_wins_over_the_slo() -> None:
    raw = raw_config()
    raw["targets"][1]["max_duration"] = "20s"
    settings = rules.settings_from_config(parse_config(raw, env={})[0])
    assert settings.upload_max_ms == {"upload-10mb": 20_000}


# -- RPO, TLS, silent probes ------------------------------------------------------------------


def rpo_report(cfg: Config, latest: list[ProbeResult]) -> Report:
    objective = FreshnessObjective("rpo", ("backup-freshness",), HOUR)
    samples = slo.FreshnessSample(NOW - MIN, NOW - MIN - 30 * MIN, "backup-freshness")
    return replace(report_at(cfg, NOW, []),
                   rpo=(evaluate_rpo(objective, [samples], T0, NOW),))


def test_rpo_age_over_the_objective_is_p1(cfg: Config, settings: RuleSettings) -> None:
    stale = [probe(NOW - MIN, target="backup-freshness", recovery_point_ms=NOW - MIN - HOUR - SEC)]
    [cond] = rules.rpo_conditions(rpo_report(cfg, stale), stale, settings)
    assert (cond.rule, cond.service, cond.priority) == ("rpo", "backup", Priority.P1)
    assert cond.summary == "backup-freshness: 3601 s, objective < 3600 s"


def test_rpo_age_at_the_objective_breaches_below_it_is_fine(cfg: Config,
                                                           settings: RuleSettings) -> None:
    """"RPO <1小时": an age of exactly 3600 s breaches; 3599.999 s does not."""
    at = [probe(NOW - MIN, target="backup-freshness", recovery_point_ms=NOW - MIN - HOUR)]
    [cond] = rules.rpo_conditions(rpo_report(cfg, at), at, settings)
    assert cond.summary == "backup-freshness: 3600 s, objective < 3600 s"
    below = [probe(NOW - MIN, target="backup-freshness",
                   recovery_point_ms=NOW - MIN - HOUR + 1)]
    assert rules.rpo_conditions(rpo_report(cfg, below), below, settings) == []


def test_rpo_uses_the_newest_point_any_location_saw(cfg: Config, settings: RuleSettings) -> None:
    latest = [probe(NOW - MIN, target="backup-freshness", location="shanghai",
                    recovery_point_ms=NOW - 3 * HOUR),
              probe(NOW - 2 * MIN, target="backup-freshness", location="beijing",
                    recovery_point_ms=NOW - 10 * MIN)]
    assert rules.rpo_conditions(rpo_report(cfg, latest), latest, settings) == []


def test_tls_certificate_expiring_within_14_days_is_p3(settings: RuleSettings) -> None:
    soon = (NOW + 13 * DAY) // 1000
    latest = [probe(NOW - MIN, cert_expiry=soon, location="shanghai"),
              probe(NOW - MIN, cert_expiry=(NOW + 90 * DAY) // 1000, location="beijing")]
    [cond] = rules.tls_conditions(latest, NOW, settings)
    assert (cond.rule, cond.subject, cond.priority) == ("tls_expiry", "web-home", Priority.P3)
    assert "(13 days)" in cond.summary
    later = [probe(NOW - MIN, cert_expiry=(NOW + 14 * DAY) // 1000)]
    assert rules.tls_conditions(later, NOW, settings) == []


def test_a_location_silent_for_three_intervals_is_probe_down_not_downtime(
        cfg: Config, settings: RuleSettings) -> None:
    results = web_results(NOW - HOUR, NOW - 90 * SEC)  # last round at NOW − 120 s
    results += [probe(ts, location=loc) for ts in range(NOW - 90 * SEC, NOW, 30 * SEC)
                for loc in ("shanghai", "beijing")]
    report, snap = report_at(cfg, NOW, results), snapshot(results)
    found = by_rule(rules.conditions(report, rules.latest_results(snap), NOW, settings))
    [down] = found[rules.PROBE_DOWN]
    assert (down.subject, down.service, down.priority) == (
        "web-home@shenzhen", "core", Priority.P3)
    assert rules.CONFIRMED_OUTAGE not in found
    assert report.service("core").availability.downtime_seconds == 0
    # Exactly three intervals of silence is not yet "silent for 3 intervals".
    assert rules.probe_down_conditions(rules.latest_results(snap), NOW - 30 * SEC,
                                       settings) == []


# -- alert states: events and flap damping -------------------------------------------------


def cond(rule: str = rules.CONFIRMED_OUTAGE, subject: str = "", service: str = "core",
         priority: Priority = Priority.P1) -> Condition:
    return Condition(rule, subject, service, priority, f"{rule} title", "summary")


def test_a_new_condition_fires_once(settings: RuleSettings) -> None:
    first = rules.step([cond()], {}, NOW, settings)
    assert [e.kind for e in first.events] == [EventKind.FIRING]
    again = rules.step([cond()], first.alerts, NOW + MIN, settings)
    assert again.events == ()
    [state] = again.alerts.values()
    assert (state.since_ms, state.last_true_ms) == (NOW, NOW + MIN)


def test_flap_damping_resolves_only_after_clear_for_the_damping_time() -> None:
    settings = RuleSettings(clear_after_ms=5 * MIN)
    state = rules.step([cond()], {}, NOW, settings).alerts
    clearing = rules.step([], state, NOW + MIN, settings)
    assert clearing.events == () and clearing.alerts[cond().key].clear_since_ms == NOW + MIN
    # Back within the damping time: the same alert continues, no new event.
    back = rules.step([cond()], clearing.alerts, NOW + 3 * MIN, settings)
    assert back.events == () and back.alerts[cond().key].clear_since_ms is None
    assert back.alerts[cond().key].since_ms == NOW
    # Clear again: nothing until 5 min of continuous clear, then one resolution.
    s1 = rules.step([], back.alerts, NOW + 4 * MIN, settings)
    s2 = rules.step([], s1.alerts, NOW + 9 * MIN - 1, settings)
    assert s2.events == () and cond().key in s2.alerts
    s3 = rules.step([], s2.alerts, NOW + 9 * MIN, settings)
    assert [e.kind for e in s3.events] == [EventKind.RESOLVED] and s3.alerts == {}


def test_damping_is_configurable_per_rule() -> None:
    settings = RuleSettings(clear_after_ms=5 * MIN, clear_after_by_rule={"tls_expiry": 0})
    start = rules.step([cond(), cond(rules.TLS_EXPIRY, "web-home", priority=Priority.P3)], {},
                       NOW, settings)
    gone = rules.step([], start.alerts, NOW + MIN, settings)
    assert [e.alert.rule for e in gone.events] == ["tls_expiry"]
    assert list(gone.alerts) == [cond().key]


def test_without_a_report_report_rules_are_carried_over(cfg: Config,
                                                         settings: RuleSettings) -> None:
    report, snap = outage_report(cfg)
    firing = rules.evaluate(report, snap, {}, NOW, settings)
    later = rules.evaluate(None, snap, firing.alerts, NOW + MIN, settings)
    assert later.events == ()
    assert {a.rule for a in later.alerts.values()} >= {"confirmed_outage", "burn_rate"}
    assert all(a.clear_since_ms is None for a in later.alerts.values())


def test_outage_and_burn_alerts_share_one_incident_key(cfg: Config,
                                                       settings: RuleSettings) -> None:
    report, snap = outage_report(cfg)
    outcome = rules.evaluate(report, snap, {}, NOW, settings)
    availability = [a for a in outcome.alerts.values() if a.service == "core"
                    and a.rule in ("confirmed_outage", "burn_rate")]
    assert len(availability) == 5
    assert {a.incident_key for a in availability} == {"core/availability"}


def test_alert_state_round_trips_through_its_stored_form() -> None:
    state = AlertState("burn_rate", "1h/5m", "core", Priority.P1, "t", "s", {"a": "b"}, 1, 2, 3)
    assert AlertState.from_dict(state.to_dict()) == state


def test_objective_decimal_is_exact_in_burn_labels(cfg: Config, settings: RuleSettings) -> None:
    report, _ = outage_report(cfg)
    assert {c.labels["burn_rate"] for c in rules.burn_conditions(report, settings)} == {
        "14.4", "6", "3", "1"}
    assert report.service("core").spec.objective_percent == Decimal("99.9")
