"""``objective_burn``: a windowed objective's burn alert becomes a condition, pending for
its ``alert_after``, then an incident event; reports come from the real pure evaluator
(``slo.report_from_results``)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from alerting import promrules, rules
from alerting.notification import Priority
from alerting.rules import AlertState, EventKind, RuleSettings
from slaguard.config.schema import Config
from slaguard.domain import Outcome, ProbeResult
from slo.evaluator import report_from_results
from slo.model import BurnAlertSpec, Policy, ServiceSpec, TargetSpec, WindowedSpec
from slo.periods import month_containing
from slo.report import Report
from tests.conftest import require_binary

T0 = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
TZ = "Asia/Shanghai"
ALERT = BurnAlertSpec("fast-burn", "page", Decimal("14.4"), "gt", HOUR, 5 * MIN)
SPEC = WindowedSpec("portal-28d", ("web",), "availability", Decimal("99.9"), 28 * DAY,
                    burn_alerts=(ALERT,), services=("core",))
POLICY = Policy(TZ, (ServiceSpec("core", Decimal("99.9"), ("web",)),),
                (TargetSpec("web", "core", MIN),), windowed=(SPEC,))
SETTINGS = RuleSettings(target_services={"web": "core"})


def report(now: int, failing_from: int, failing_until: int) -> Report:
    """One result a minute for two days; failures in [failing_from, failing_until)."""
    rs = [ProbeResult(ts, "web", "core", "sh", "http",
                      Outcome.FAILURE if failing_from <= ts < failing_until else Outcome.SUCCESS,
                      100) for ts in range(now - 2 * DAY, now, MIN)]
    return report_from_results(POLICY, month_containing(now, TZ), now, rs, burn=False)


def run(now: int, prev: Mapping[str, AlertState], failing: tuple[int, int]
        ) -> rules.RuleOutcome:
    """The rules at ``now``, keeping only objective_burn (the outage rules see the same
    failures and are tested elsewhere)."""
    out = rules.evaluate(report(now, *failing), [], prev, now, SETTINGS)
    return rules.RuleOutcome(
        {k: a for k, a in out.alerts.items() if a.rule == rules.OBJECTIVE_BURN},
        tuple(e for e in out.events if e.alert.rule == rules.OBJECTIVE_BURN))


def test_burn_alert_fires_only_after_alert_after_then_resolves() -> None:
    """Failing from T: at T + 1 min one of the last 60 results failed: 1/60 = 1.67 % →
    burn rate 16.7 > 14.4: the condition holds, pending.  At T + 5 min (held since
    T + 1 min for 4 min) still pending; at T + 6 min it has held 5 min: FIRING, P2
    (page).  Once the failures stop, the hour's share falls below 1.44 % only after
    they leave the lookback; then 5 min of damping and RESOLVED."""
    t = T0 + 10 * DAY
    failing = (t, t + 10 * MIN)
    out = run(t + MIN, {}, failing)
    (state,) = out.alerts.values()
    assert not state.fired and out.events == ()
    assert state.labels["burn_rate"] == "16.66" and state.service == "core"
    out = run(t + 5 * MIN, out.alerts, failing)
    assert out.events == ()
    out = run(t + 6 * MIN, out.alerts, failing)
    (event,) = out.events
    assert event.kind is EventKind.FIRING and event.alert.priority is Priority.P2
    assert event.alert.rule == "objective_burn" and event.alert.subject == "portal-28d/fast-burn"
    assert "burn rate" in event.alert.summary and "> 14.4" in event.alert.summary
    # 10 failures leave the 1 h lookback at t + 70 min; clear for 5 min → resolved.
    late = t + 70 * MIN
    out = run(late, out.alerts, failing)
    assert out.events == () and next(iter(out.alerts.values())).clear_since_ms == late
    out = run(late + 5 * MIN, out.alerts, failing)
    assert [e.kind for e in out.events] == [EventKind.RESOLVED]


def test_a_pending_burn_that_clears_never_pages() -> None:
    """One failure: 1/60 holds for the hour it stays in the lookback … unless the
    lookback no longer sees it: evaluated again 61 min later it is clear, and the
    pending state is dropped without an event."""
    t = T0 + 10 * DAY
    out = run(t + MIN, {}, (t, t + 1))
    assert len(out.alerts) == 1 and out.events == ()
    out = run(t + 2 * MIN, out.alerts, (t, t + 1))
    out = run(t + 62 * MIN, out.alerts, (t, t + 1))
    assert out.alerts == {} and out.events == ()


def test_zero_alert_after_fires_at_once_and_state_round_trips() -> None:
    t = T0 + 10 * DAY
    now = t + MIN
    r = report(now, t, t + MIN)
    assert r.objectives[0].burn[0].holds
    (cond,) = rules.objective_burn_conditions(r, SETTINGS)
    assert cond.hold_ms == 5 * MIN
    instant = rules.step([replace(cond, hold_ms=0)], {}, now, SETTINGS)
    assert [e.kind for e in instant.events] == [EventKind.FIRING]
    (state,) = run(now, {}, (t, t + MIN)).alerts.values()
    assert AlertState.from_dict(state.to_dict()) == state and not state.fired
    # A state persisted before ``fired`` existed reads as fired (it paged).
    old = {k: v for k, v in state.to_dict().items() if k != "fired"}
    assert AlertState.from_dict(old).fired


# -- the Prometheus copy (alerting.promrules) ------------------------------------------

OBJECTIVE_CONFIG = {
    "version": 1, "timezone": "Asia/Shanghai",
    "services": {"core": {"availability": "99.9%"}},
    "targets": [{"name": "web-home", "service": "core", "kind": "http",
                 "url": "http://127.0.0.1:1/", "interval": "1m"}],
    "slos": [
        {"name": "portal-28d", "services": ["core"], "objective": {
            "sli": "availability", "target": "99%", "window": "28d", "burn_alerts": [
                {"name": "fast-burn", "severity": "page", "threshold": 14.4,
                 "lookback": "1h", "alert_after": "5m"},
                {"name": "quiet", "severity": "ticket", "threshold": "0.5", "op": "lte",
                 "lookback": "6h"}]}},
        # Latency and timeslices stay slaguard's own: no Prometheus rule.
        {"name": "page-28d", "targets": ["web-home"], "objective": {
            "sli": "latency", "threshold": "< 3s", "target": "95%", "window": "28d",
            "burn_alerts": [{"name": "x", "severity": "page", "threshold": 2,
                             "lookback": "1h"}]}},
    ],
}
FAST_EXPR = (
    'sum(increase(slaguard_probe_results_total{target="web-home", outcome="failure"}[1h]))\n'
    "/\n"
    'sum(increase(slaguard_probe_results_total{target="web-home", outcome=~"failure|success"}'
    "[1h]))\n> 0.144")


def objective_config() -> Config:
    """Built by the schema alone until check-config accepts an SLO with only an
    objective (the validate.py diff in the lead's hands)."""
    return Config.model_validate(OBJECTIVE_CONFIG)


def test_prometheus_rules_for_availability_occurrences_only() -> None:
    fast, quiet = promrules.objective_burn_alerts(objective_config())
    assert fast["alert"] == "SlaguardObjectiveBurn" and fast["expr"] == FAST_EXPR
    assert fast["for"] == "5m" and "for" not in quiet
    assert fast["labels"] == {"severity": "page", "priority": "P2", "service": "core",
                              "slo": "portal-28d", "burn_alert": "fast-burn",
                              "rule": "objective_burn"}
    # 0.5 × (1 − 99 %) = 0.5 %: "burning slower than half the budget's pace".
    assert quiet["expr"].endswith("\n<= 0.005") and quiet["labels"]["priority"] == "P3"
    assert "(threshold > 14.4 %, objective 99 % over 28d)" in fast["annotations"]["description"]


PROMTOOL_SCENARIO = """
rule_files: [rules.yml]
evaluation_interval: 15s
tests:
  - interval: 1m
    input_series:
      # one result a minute: 60 min of successes, then failures
      - series: 'slaguard_probe_results_total{target="web-home", location="sh", outcome="success"}'
        values: '0+1x60 60x60'
      - series: 'slaguard_probe_results_total{target="web-home", location="sh", outcome="failure"}'
        values: '0x60 1+1x60'
    alert_rule_test:
      - eval_time: 65m   # 5 of 60 failed: 8.3 % < 14.4 %
        alertname: SlaguardObjectiveBurn
        exp_alerts: []
      - eval_time: 72m   # above 14.4 % since ~69 min: pending for its 5 minutes
        alertname: SlaguardObjectiveBurn
        exp_alerts: []
      - eval_time: 90m
        alertname: SlaguardObjectiveBurn
        exp_alerts:
          - exp_labels: {severity: page, priority: P2, service: core, slo: portal-28d,
                         burn_alert: fast-burn, rule: objective_burn}
            exp_annotations:
              summary: "portal-28d：错误预算消耗速率 > 14.4 倍 / error budget burn rate > \\
                14.4× (fast-burn, 1h)"
              description: "1h 内失败结果占 50%（阈值 > 14.4 %，目标 99 %，窗口 28d）。 / \\
                Failed results 50% of 1h (threshold > 14.4 %, objective 99 % over 28d)."
"""


@pytest.mark.integration
def test_promtool_fires_the_objective_burn_after_alert_after(tmp_path: Path) -> None:
    """One failure a minute after an hour of successes: the failed share of the last hour
    passes 14.4 % after ~8.6 min of failures; ``for: 5m`` holds it back until ~14 min."""
    promtool = require_binary("promtool")
    cfg = objective_config()
    doc = {"groups": [{"name": "objectives", "interval": "15s",
                       "rules": promrules.objective_burn_alerts(cfg)}]}
    text = promrules.dump_yaml(doc, "objective burn alerts")
    (tmp_path / "rules.yml").write_text(text, encoding="utf-8")
    (tmp_path / "test.yml").write_text(PROMTOOL_SCENARIO, encoding="utf-8")
    for argv in (["check", "rules", "rules.yml"], ["test", "rules", "test.yml"]):
        done = subprocess.run([promtool, *argv], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
