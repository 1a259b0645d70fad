"""`slaguard report` and `GET /api/v1/slo` over a real store: the numbers to the second."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from exporters.prometheus import SloCollector
from slaguard.access import STAFF_READ, Principals
from slaguard.cli import main
from slaguard.config import load_config
from slaguard.config.calendar import load_calendar
from slaguard.domain import Outcome, ProbeResult, parse_ts
from slaguard.evaluation import Evaluator
from slaguard.server import ServerDeps, make_app
from slaguard.state import LiveState
from slaguard.store import SQLiteStore

LOCATIONS = ("shanghai", "beijing", "shenzhen")
START = parse_ts("2026-10-20T10:00:00+08:00")
OUTAGE = (parse_ts("2026-10-20T10:30:00+08:00"), parse_ts("2026-10-20T10:45:00+08:00"))
BLIP = parse_ts("2026-10-20T11:00:00+08:00")
NOV_1 = parse_ts("2026-11-01T00:00:00+08:00")
OCTOBER_S = 31 * 86_400

CONFIG = """
version: 1
timezone: Asia/Shanghai
storage: {{path: {db}}}
location: shanghai
locations: [shanghai, beijing, shenzhen]
services:
  core: {{title: 核心服务 / Core service, availability: 99.9%}}
targets:
  - {{name: web-home, service: core, kind: http, url: "http://127.0.0.1:1/", interval: 30s}}
slos:
  - {{name: page-load, targets: [web-home], latency: {{mean: 3s, p95: 5s}}}}
incidents:
  priorities:
    P1: {{respond: 15m, restore: 4h, resolve: 24h}}
customers:
  - {{id: acme, name: 某某建设集团有限公司, monthly_fee: "10000.00", services: [core]}}
  - {{id: other, name: Other Co, monthly_fee: "500.00", services: [core]}}
maintenance:
  - id: MW-2026-10-14
    services: [core]
    start: 2026-10-14T02:00:00+08:00
    end: 2026-10-14T04:00:00+08:00
    announced: 2026-09-28T10:00:00+08:00
"""


def outcome(ts: int, location: str) -> Outcome:
    if OUTAGE[0] <= ts < OUTAGE[1]:
        return Outcome.FAILURE
    if ts == BLIP and location == "beijing":  # one failure, one location: a blip
        return Outcome.FAILURE
    return Outcome.SUCCESS


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """Two hours of results on 2026-10-20 from three locations, a 15-minute outage."""
    path = tmp_path / "slaguard.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db"), encoding="utf-8")
    store = SQLiteStore(tmp_path / "s.db")
    results = [
        ProbeResult(ts_ms=START + i * 30_000, target="web-home", service="core", location=loc,
                    kind="http", outcome=outcome(START + i * 30_000, loc),
                    duration_ms=200 + (i % 20) * 10, status_code=200)
        for loc in LOCATIONS for i in range(240)
    ]
    store.add(results, {"web-home": 30_000})
    store.close()
    return path


def test_report_json_has_the_design_fields_and_exact_numbers(
        config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-c", str(config_path), "--month", "2026-10", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["period"]["start"] == "2026-10-01T00:00:00+08:00"
    assert doc["period"]["end"] == "2026-11-01T00:00:00+08:00"
    assert doc["period"]["timezone"] == "Asia/Shanghai"
    (core,) = doc["services"]
    assert core["service"] == "core" and core["objective"] == "99.9"
    assert core["period_seconds"] == OCTOBER_S
    assert core["excluded_seconds"] == 0
    assert core["downtime_seconds"] == 900  # 10:30:00 → 10:45:00, the blip is not downtime
    # Nobody judged the rest of the month but the two hours of results and the
    # two hours of qualifying maintenance (counted as available).
    assert core["maintenance_seconds"] == 7200
    assert core["gap_seconds"] == OCTOBER_S - 7200 - 7200
    # 1 − 900 / 2 678 400 = 0.99966397…, displayed rounded down
    assert core["availability_percent"] == "99.966"
    assert core["met"] is True
    assert core["error_budget_seconds"] == "2678.4"
    assert core["error_budget_remaining"].startswith("0.66397")
    assert core["outages"] == [{
        "start": "2026-10-20T10:30:00+08:00", "end": "2026-10-20T10:45:00+08:00",
        "seconds": 900, "targets": ["web-home"], "locations": list(sorted(LOCATIONS)),
        "cause": core["outages"][0]["cause"], "ongoing": False,
        "data_at_risk": None}]  # no backup objective here
    # Announced 09-28 for 10-14: National Day leaves exactly 7 working days between
    # (09-29, 09-30, 10-08, 10-09, 10-10 a working Saturday, 10-12, 10-13).
    (mw,) = core["maintenance"]
    assert mw["qualified"] is True and mw["notice_working_days"] == 7
    (lat,) = doc["latency"]
    assert lat["slo"] == "page-load" and lat["met"] is True
    assert lat["count"] == 3 * 240 - 3 * 30 - 1


def test_report_table_and_errors(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-c", str(config_path), "--month", "2026-10"]) == 0
    out = capsys.readouterr().out
    assert "SLA report 2026-10 (Asia/Shanghai)" in out
    assert "99.966%" in out and "15m00s" in out
    assert "outage 2026-10-20T10:30:00+08:00 → 2026-10-20T10:45:00+08:00" in out
    assert main(["report", "-c", str(config_path), "--month", "2026-13"]) == 2
    assert "--month: not a month: '2026-13'" in capsys.readouterr().err
    assert main(["report", "-c", str(config_path), "--service", "ai"]) == 2


ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


async def test_api_slo_matches_the_cli(config_path: Path, aiohttp_client: ClientFactory,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _ = load_config(config_path)
    store = SQLiteStore(cfg.storage.path)
    evaluator = Evaluator(cfg, store, load_calendar(cfg))
    client = await aiohttp_client(make_app(ServerDeps(
        store=store, registry=CollectorRegistry(), started_ms=0, now_ms=lambda: NOV_1 + 5,
        evaluator=evaluator, principals=Principals([("staff", STAFF_READ)]))),
        headers={"Authorization": "Bearer staff"})
    resp = await client.get("/api/v1/slo", params={"month": "2026-10"})
    assert resp.status == 200
    api = await resp.json()
    assert api["services"][0]["downtime_seconds"] == 900
    assert api["services"][0]["availability_percent"] == "99.966"
    bad = await client.get("/api/v1/slo", params={"month": "October"})
    assert bad.status == 400 and "month: not a month" in await bad.text()
    assert (await client.get("/api/v1/slo", params={"service": "ai"})).status == 404
    store.close()


def test_slo_gauges_on_metrics(config_path: Path) -> None:
    cfg, _ = load_config(config_path)
    store = SQLiteStore(cfg.storage.path)
    state = LiveState()
    now = parse_ts("2026-10-20T12:00:00+08:00")
    state.slo_report = Evaluator(cfg, store, load_calendar(cfg)).current(now)
    reg = CollectorRegistry()
    reg.register(SloCollector(state, lambda: now))
    core = {"service": "core"}
    assert reg.get_sample_value("slaguard_slo_objective_ratio", core) == 0.999
    assert reg.get_sample_value("slaguard_slo_downtime_seconds", core) == 900
    elapsed = now - parse_ts("2026-10-01T00:00:00+08:00")
    assert reg.get_sample_value("slaguard_slo_availability_ratio", core) == pytest.approx(
        1 - 900_000 / elapsed)
    # The 3 d window saw 900 s down of 7200 s known: burn = (900/7200)/0.001... over counted time.
    assert reg.get_sample_value("slaguard_slo_burn_rate", {**core, "window": "5m"}) == 0.0
    assert reg.get_sample_value("slaguard_slo_burn_rate", {**core, "window": "3d"}) > 1
    assert reg.get_sample_value("slaguard_slo_burn_condition_firing", {
        **core, "severity": "ticket", "long_window": "3d", "short_window": "6h"}) == 1.0
    store.close()


def test_statement_with_an_imported_late_response(
        config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    incidents = tmp_path / "incidents.jsonl"
    incidents.write_text(json.dumps({
        "id": "INC-1", "priority": "P1", "opened": "2026-10-20T10:30:00+08:00",
        "responded": "2026-10-20T10:55:00+08:00", "restored": "2026-10-20T10:45:00+08:00",
        "resolved": "2026-10-20T12:00:00+08:00", "data_lost_seconds": 0,
        "customer": "acme"}) + "\n", encoding="utf-8")
    assert main(["import-incidents", "-c", str(config_path), str(incidents)]) == 0
    assert "1 incidents, 1 added" in capsys.readouterr().out
    assert main(["statement", "-c", str(config_path), "--customer", "acme", "--month",
                 "2026-10", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["customer"] == "acme"
    kinds = {line["kind"]: line for line in doc["lines"]}
    # 99.966 % meets 99.9 %: no availability credit, but the pro-rata refund is owed
    # every month: 10 000 × 900 s / 2 678 400 s = 3.3602 → 3.36.  Responded 25 min after
    # a 15 min standard: 10 min late = 66.7 % of the standard → 10 % of the fee.
    assert kinds["interruption"]["amount"] == "3.36"
    assert kinds["response"]["amount"] == "1000.00" and kinds["response"]["percent"] == "10"
    assert doc["total"] == "1003.36" and doc["total_in_words"] == "壹仟零叁元叁角陆分"
    assert len(doc["hash"]) == 64
    pdf = tmp_path / "acme.pdf"
    assert main(["statement", "-c", str(config_path), "--customer", "acme", "--month",
                 "2026-10", "--format", "pdf", "-o", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert main(["statement", "-c", str(config_path), "--customer", "nobody", "--month",
                 "2026-10"]) == 2  # an unknown entity, as a bad month is
    assert "no customer 'nobody' (customers: acme, other)" in capsys.readouterr().err
