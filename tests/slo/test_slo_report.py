"""The report document, the Config adapter and the convenience path from raw results."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from slo_testkit import IV, OCT_2026

from slaguard.config import parse_config
from slaguard.domain import Outcome, ProbeResult
from slaguard.policy import from_config
from slo.evaluator import (
    build_report,
    month_report,
    report_from_results,
    runs_window,
    series_runs_from_results,
)
from slo.model import LatencyBound, Policy
from slo.periods import parse_month
from slo.timeline import SeriesRuns

CONFIG: dict[str, Any] = {
    "version": 1,
    "timezone": "Asia/Shanghai",
    "location": "shanghai",
    "locations": ["shanghai", "beijing", "shenzhen"],
    "services": {
        "core": {"title": "核心服务 / Core service", "availability": "99.9%"},
        "backup": {"availability": "99.95%"},
    },
    "targets": [
        {"name": "web-home", "service": "core", "kind": "http",
         "url": "https://app.example.com/", "interval": "30s", "timeout": "10s"},
        {"name": "api-health", "service": "core", "kind": "http",
         "url": "https://api.example.com/v1/health", "interval": "30s", "timeout": "5s"},
        {"name": "backup-freshness", "service": "backup", "kind": "freshness",
         "url": "https://ops.example.com/backups/latest", "timestamp_field": "$.finished_at",
         "interval": "5m", "timeout": "10s"},
    ],
    "availability": {"confirm": 2, "quorum": "majority", "no_data": "up",
                     "maintenance": {"notice_working_days": 7, "calendar": "CN",
                                     "counts_as": "available"}},
    "slos": [
        {"name": "api-latency", "targets": ["api-health"],
         "latency": {"mean": "500ms", "p95": "1s"}},
        {"name": "rpo", "targets": ["backup-freshness"], "freshness": "1h"},
        {"name": "rto", "services": ["core", "backup"], "restore_within": "4h"},
    ],
    "maintenance": [{"id": "MW-2026-10-14", "services": ["core"],
                     "start": "2026-10-14T02:00:00+08:00", "end": "2026-10-14T04:00:00+08:00",
                     "announced": "2026-09-28T10:00:00+08:00"}],
}


@pytest.fixture(scope="module")
def pol() -> Policy:
    cfg, _ = parse_config(CONFIG, env={})
    return from_config(cfg)


def results(period_start: int, n: int, fail_from: int, fail_n: int) -> list[ProbeResult]:
    out = []
    for loc in ("shanghai", "beijing"):
        for i in range(n):
            bad = fail_from <= i < fail_from + fail_n
            out.append(ProbeResult(period_start + i * IV, "api-health", "core", loc, "http",
                                   Outcome.FAILURE if bad else Outcome.SUCCESS,
                                   900 if i % 10 else 1200))
    for i in range(n // 10):
        ts = period_start + i * 300_000
        out.append(ProbeResult(ts, "backup-freshness", "backup", "shanghai", "freshness",
                               Outcome.SUCCESS, 50, recovery_point_ms=ts - 30 * 60_000))
    return out


def test_policy_from_config(pol: Policy) -> None:
    core = pol.service("core")
    assert core.objective_percent == Decimal("99.9")
    assert core.targets == ("web-home", "api-health")
    assert pol.target("backup-freshness").interval_ms == 300_000
    assert pol.maintenance[0].start_ms == OCT_2026 + 13 * 86_400_000 + 2 * 3_600_000
    assert pol.latency[0].bounds == (LatencyBound("mean", 500), LatencyBound("p95", 1000))
    assert pol.freshness[0].max_age_ms == 3_600_000
    assert pol.restore[0].services == ("core", "backup")


def walk(node: Any) -> None:
    assert not isinstance(node, float), node
    if isinstance(node, dict):
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)


def test_json_report_fields(pol: Policy) -> None:
    p = parse_month("2026-10", pol.timezone)
    rep = report_from_results(pol, p, p.end_ms, results(p.start_ms, 2 * 2880, 100, 20))
    doc = json.loads(rep.to_json())
    walk(rep.to_dict())
    assert doc["period"] == {
        "start": "2026-10-01T00:00:00+08:00", "end": "2026-11-01T00:00:00+08:00",
        "timezone": "Asia/Shanghai", "label": "2026-10",
        "evaluated_until": "2026-11-01T00:00:00+08:00", "complete": True,
    }
    core = doc["services"][0]
    assert {k: core[k] for k in ("service", "objective", "period_seconds", "excluded_seconds",
                                 "downtime_seconds", "met")} == {
        "service": "core", "objective": "99.9", "period_seconds": 31 * 86_400,
        "excluded_seconds": 0, "downtime_seconds": 600, "met": True}
    assert core["error_budget_seconds"] == "2678.4"
    assert core["availability_percent"] == "99.977"
    assert core["outages"] == [{
        "start": "2026-10-01T00:50:00+08:00", "end": "2026-10-01T01:00:00+08:00",
        "seconds": 600, "targets": ["api-health"], "locations": ["beijing", "shanghai"],
        "cause": "observed", "ongoing": False,
        # the backup point taken at 00:50 (first reported at 01:20) is as old as the
        # outage: nothing written before it is at risk
        "data_at_risk": {"newest_backup": "2026-10-01T00:50:00+08:00",
                         "backup_target": "backup-freshness",
                         "first_seen": "2026-10-01T01:20:00+08:00", "first_seen_at": "shanghai",
                         "seconds": 0}}]
    assert core["maintenance"][0]["qualified"] is True
    assert core["maintenance"][0]["notice_working_days"] == 7
    assert isinstance(core["gap_seconds"], int) and isinstance(core["error_budget_remaining"], str)
    assert core["burn"] is None  # a closed month
    lat = doc["latency"][0]
    assert lat["mean_ms"] == "930" and lat["met"] is False  # mean 930 ms > 500 ms
    assert doc["rpo"][0]["compliant"] is True
    assert doc["rto"][0]["outages"][0]["elapsed_ms"] == 600_000


def test_open_month_has_burn_rates(pol: Policy) -> None:
    p = parse_month("2026-10", pol.timezone)
    now = p.start_ms + 3_600_000  # failing for the last 10 minutes
    rep = report_from_results(pol, p, now, results(p.start_ms, 120, 100, 20))
    burn = rep.to_dict()["services"][0]["burn"]
    assert [c["firing"] for c in burn["conditions"]] == [True, True, True, True]
    assert burn["windows"][2] == {"window": "1h", "seconds": 3600, "bad_ms": 600_000,
                                  "error_ratio": "0.16666666", "burn_rate": "166.666666"}
    assert rep.services[0].availability.outages[0].ongoing


def test_month_report_and_build_report_from_runs_agree(pol: Policy) -> None:
    p = parse_month("2026-10", pol.timezone)
    rs = results(p.start_ms, 2880, 100, 20)
    runs: list[SeriesRuns] = series_runs_from_results(pol, rs)
    a = month_report(pol, "2026-10", p.end_ms, runs).to_dict()
    b = build_report(pol, p, p.end_ms, runs).to_dict()
    assert a["services"] == b["services"]
    assert runs_window(p, p.end_ms) == (p.start_ms - 3 * 86_400_000, p.end_ms)
    assert runs_window(p, p.end_ms + 10**10)[1] == p.end_ms + 86_400_000
    assert runs_window(p, p.start_ms + 5) == (p.start_ms - 3 * 86_400_000, p.start_ms + 5)


def test_service_filter(pol: Policy) -> None:
    p = parse_month("2026-10", pol.timezone)
    rep = build_report(pol, p, p.end_ms, [], services=["backup"])
    assert [s.spec.name for s in rep.services] == ["backup"]
    with pytest.raises(KeyError):
        build_report(pol, p, p.end_ms, [], services=["nope"])
