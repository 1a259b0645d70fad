"""Issue 15 item 6: the backup schedule (数据安全承诺: 每日增量备份，每周全量备份).

A freshness target lists the backup kinds its endpoint reports; each is probed as
``<target>.<kind>`` and judged on its schedule: ``ok`` while its newest point is at
most ``every`` old, ``due`` within the ``grace`` after that, ``missed`` (an RPO
risk) past every + grace.  Reference: incremental every 1 d + 2 h grace, full every
7 d + 6 h grace.
"""

from __future__ import annotations

from typing import Any

import pytest

from exporters.prometheus import backup_gauges
from exporters.report_table import render
from slaguard.config import ConfigError, parse_config
from slaguard.config.schema import Config
from slaguard.policy import from_config
from slo.evaluator import build_report
from slo.model import BackupKindSpec
from slo.periods import parse_month
from slo.recovery import FreshnessSample, backup_status

MIN = 60_000
H = 60 * MIN
D = 24 * H
OCT = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
INCR = BackupKindSpec("bk.incremental", "bk", "incremental", D, 2 * H)
FULL = BackupKindSpec("bk.full", "bk", "full", 7 * D, 6 * H)

RAW: dict[str, Any] = {
    "version": 1,
    "services": {"backup": {"availability": "99.95%"}},
    "targets": [{"name": "bk", "service": "backup", "kind": "freshness",
                 "url": "https://ops.example.com/backups/latest", "interval": "5m",
                 "timestamp_field": "$.finished_at",
                 "backups": [{"name": "incremental", "every": "1d", "grace": "2h",
                              "timestamp_field": "$.incremental.finished_at"},
                             {"name": "full", "every": "7d", "grace": "6h",
                              "timestamp_field": "$.full.finished_at"}]}],
    "slos": [{"name": "rpo", "targets": ["bk"], "freshness": "< 1h"}],
}


def test_each_kind_is_probed_as_a_target_of_its_own() -> None:
    cfg, _ = parse_config(RAW, env={})
    assert [(t.name, getattr(t, "timestamp_field", None), t.availability)
            for t in cfg.targets] == [
        ("bk", "$.finished_at", True),
        ("bk.incremental", "$.incremental.finished_at", False),
        ("bk.full", "$.full.finished_at", False)]
    pol = from_config(cfg)
    assert pol.backup_kinds == (INCR, FULL)
    # its own objective: at most every + grace old (26 h, 174 h), inclusive ("at most")
    assert [(o.name, o.targets, o.max_age_ms, o.inclusive) for o in pol.freshness] == [
        ("rpo", ("bk",), H, False), ("bk.incremental", ("bk.incremental",), 26 * H, True),
        ("bk.full", ("bk.full",), 174 * H, True)]
    assert pol.service("backup").targets == ("bk",)  # kinds do not count in availability
    # deriving again (a re-validation) adds nothing
    again = Config._backup_kind_targets(cfg)  # type: ignore[operator]
    assert [t.name for t in again.targets] == ["bk", "bk.incremental", "bk.full"]


@pytest.mark.parametrize(("spec", "age_ms", "status"), [
    (INCR, D - 1, "ok"), (INCR, D, "ok"), (INCR, D + 1, "due"),
    (INCR, 26 * H - 1, "due"), (INCR, 26 * H, "due"), (INCR, 26 * H + 1, "missed"),
    (FULL, 7 * D, "ok"), (FULL, 7 * D + 1, "due"),
    (FULL, 174 * H, "due"), (FULL, 174 * H + 1, "missed"),
])
def test_status_at_and_either_side_of_every_and_every_plus_grace(
        spec: BackupKindSpec, age_ms: int, status: str) -> None:
    """Newest point ``age_ms`` old at ``at``: ok ≤ every < due ≤ every + grace < missed."""
    at = OCT + 20 * D
    s = backup_status(spec, [FreshnessSample(at - MIN, at - age_ms, spec.target)], OCT,
                      OCT + 31 * D, at)
    assert (s.age_ms, s.status, s.rpo_risk) == (age_ms, status, status == "missed")


def test_no_point_seen_is_a_risk_and_late_probes_are_counted() -> None:
    """Full backup taken 10-01 00:00; probes every 6 h from 10-01 to 10-10 00:00 see
    only it.  Late (age > 174 h) from 10-08 06:00 + 1 ms: the probes at 10-08 12:00,
    18:00, 10-09 00:00 ... 10-10 00:00 → 7 late.  At 10-10 00:00: missed, age 216 h."""
    samples = [FreshnessSample(OCT + i * 6 * H, OCT, "bk.full") for i in range(37)]
    s = backup_status(FULL, samples, OCT, OCT + 31 * D, OCT + 9 * D)
    assert (s.status, s.age_ms, s.late_samples) == ("missed", 9 * D, 7)
    assert s.deadline_ms == OCT + 174 * H
    assert backup_status(FULL, [], OCT, OCT + D, OCT + D).status == "unknown"


def test_report_json_table_gauges_a_missed_full_is_an_rpo_risk() -> None:
    """October 2026 evaluated to 10-20 00:00: incremental 10-19 02:00 (22 h old: ok), full
    10-11 02:00 (214 h old > 174 h: missed).  The report names the risk."""
    pol = from_config(parse_config(RAW, env={})[0])
    period = parse_month("2026-10", "Asia/Shanghai")
    now = OCT + 19 * D
    fresh = [FreshnessSample(now - 5 * MIN, now - 22 * H, "bk.incremental", "a"),
             FreshnessSample(now - 5 * MIN, now - 214 * H, "bk.full", "a")]
    doc = build_report(pol, period, now, [], freshness=fresh).to_dict()
    assert [(b["kind"], b["status"], b["age_ms"], b["rpo_risk"]) for b in doc["backups"]] == [
        ("incremental", "ok", 22 * H, False), ("full", "missed", 214 * H, True)]
    assert doc["rpo_risk"] == ["bk.full: missed"]
    full = doc["backups"][1]
    assert (full["newest"], full["missed_after"]) == ("2026-10-11T02:00:00+08:00",
                                                      "2026-10-18T08:00:00+08:00")
    rpo = {x["slo"]: x for x in doc["rpo"]}
    assert rpo["bk.full"]["compliant"] is False and rpo["bk.full"]["comparison"] == "≤ 626400 s"
    table = render(doc)
    assert ("backup bk full (every 168h00m00s, grace 6h00m00s): newest "
            "2026-10-11T02:00:00+08:00, age 214h00m00s at 2026-10-20T00:00:00+08:00: MISSED: "
            "RPO risk; 1 probes found it late") in table
    rep = build_report(pol, period, now, [], freshness=fresh)
    gauges = {m.name: {tuple(s.labels.values()): s.value for s in m.samples}
              for m in backup_gauges(rep)}
    assert gauges["slaguard_slo_backup_missed"] == {("bk", "incremental"): 0.0,
                                                    ("bk", "full"): 1.0}
    assert gauges["slaguard_slo_backup_age_seconds"][("bk", "full")] == 214 * 3600.0


@pytest.mark.parametrize(("backups", "error"), [
    ([{"name": "full", "every": "7d", "timestamp_field": "$.a"},
      {"name": "full", "every": "1d", "timestamp_field": "$.b"}],
     "targets[0].backups[1].name: duplicate backup kind 'full'"),
    ([{"name": "x", "every": "500ms", "timestamp_field": "$.a"}],
     "targets[0].backups[0].every: must be at least 1s"),
])
def test_bad_schedules_are_refused(backups: list[dict[str, Any]], error: str) -> None:
    raw = {**RAW, "targets": [{**RAW["targets"][0], "backups": backups}]}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, env={})
    assert error in exc.value.errors


def test_a_missed_kind_is_alerted_by_the_rpo_rule() -> None:
    """The newest full backup 174 h old at the latest probe: at most every + grace, no
    alert; 174 h + 1 s: the rpo rule fires for bk.full (service backup)."""
    from alerting import rules
    from slaguard.domain import Outcome, ProbeResult
    from slo.evaluator import report_from_results

    cfg = parse_config(RAW, env={})[0]
    pol = from_config(cfg)
    settings = rules.settings_from_config(cfg)
    now = OCT + 19 * D
    for age, fires in ((174 * H, False), (174 * H + 1000, True)):
        latest = [ProbeResult(now - MIN, "bk.full", "backup", "local", "freshness",
                              Outcome.SUCCESS, 30, recovery_point_ms=now - MIN - age)]
        rep = report_from_results(pol, parse_month("2026-10", "Asia/Shanghai"), now, latest)
        fired = [c for c in rules.rpo_conditions(rep, latest, settings)]
        assert [(c.subject, c.service) for c in fired] == (
            [("bk.full", "backup")] if fires else [])
