"""/status, /api/v1/status and / on the scripted record, during the 10-17 core outage."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from alerting.notification import Priority
from alerting.store import AlertingStore, EscalationSnapshot, NewIncident
from slaguard.domain import Outcome, ProbeResult
from slaguard.state import LiveState
from slaguard.statuspage import (
    Live,
    State,
    StatusPage,
    live_verdict,
    overall,
    register_routes,
    service_state,
)
from slo.model import MaintenanceSpec

from . import scenario as sc

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
NOW = sc.at(17, 10, 3)  # three minutes into the core outage (a and b fail, c does not)
OUTAGE_TITLE = "核心服务 / Core service：服务中断（已确认） / service down (confirmed)"


def incident(service: str, priority: Priority, title: str, opened: int,
             source: str = "rules") -> NewIncident:
    return NewIncident(f"{service}/{title}", service, "availability", priority, title, "", source,
                       {}, opened, None, None, None, EscalationSnapshot(), None)


def record_incidents(alerting: AlertingStore) -> None:
    with alerting.transaction() as tx:
        tx.insert_incident(incident("core", Priority.P1, OUTAGE_TITLE, sc.at(17, 10, 1)))
        tx.insert_incident(incident("storage", Priority.P3, "数据存储 / Data storage：延迟偏高",
                                    sc.at(17, 9, 30)))
        tx.insert_incident(incident("-", Priority.P3, "通知投递失败 / notification dead-lettered",
                                    sc.at(17, 9), source="internal"))
        done = tx.insert_incident(incident("core", Priority.P2, "昨日 API 超时 / API timeouts",
                                           sc.at(16, 20)))
        tx.update_incident(done, sc.at(16, 21), resolved_ms=sc.at(16, 21))
        tx.insert_maintenance(MaintenanceSpec(
            "mw-storage", ("storage",), sc.at(22, 1), sc.at(22, 2), sc.at(16, 19),
            "存储扩容 / Storage expansion"), sc.at(16, 19), "ops")
        tx.insert_maintenance(MaintenanceSpec(  # not announced yet: not public
            "mw-secret", ("core",), sc.at(24, 1), sc.at(24, 2), None, "未公告 / Unannounced"),
            sc.at(16, 19), "ops")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatusPage]:
    cfg = sc.config(tmp_path_factory.mktemp("status") / "s.db")
    store = sc.store(cfg)
    alerting = AlertingStore(cfg.storage.path)
    record_incidents(alerting)
    ev = sc.evaluator(cfg, store, alerting.maintenance_windows())
    state = LiveState()
    state.observe(list(sc.results(sc.START, NOW + 1)))
    state.slo_report = ev.current(NOW)
    yield StatusPage(ev, state, alerting, now_ms=lambda: NOW)
    alerting.close()
    store.close()


@pytest.fixture
async def client(page: StatusPage, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    app = web.Application()
    register_routes(app, page)
    return await aiohttp_client(app)


async def test_root_redirects_to_the_status_page(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/status")


async def test_json_states_incidents_and_maintenance(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/status")
    assert resp.status == 200
    doc = await resp.json()
    assert (doc["state"], doc["timezone"], doc["generated"], doc["days"]) == (
        "outage", "Asia/Shanghai", "2025-10-17T10:03:00+08:00", 90)
    core, storage = doc["services"]
    assert (core["service"], core["state"], core["live"], core["objective"]) == (
        "core", "outage", "down", "99.9")
    assert (storage["state"], storage["live"]) == ("operational", "up")
    today = core["days"][-1]  # 00:00–10:03 so far, down since 10:00:00
    assert today == {"date": "2025-10-17", "state": "outage",
                     "availability_percent": "99.502", "downtime_seconds": 180,
                     "downtime_minutes": "3", "maintenance_seconds": 0,
                     "maintenance_minutes": "0", "gap_seconds": 0,
                     "evaluated_seconds": 36_180, "coverage_percent": "100.000"}
    assert core["month"]["month"] == "2025-10" and core["month"]["downtime_seconds"] == 180
    assert [(i["id"], i["priority_label"], i["opened"], i["state"]) for i in doc["incidents"]] == [
        ("INC-1", "P1 紧急问题 (Critical)", "2025-10-17T10:01:00+08:00", "opened"),
        ("INC-2", "P3 中优先级 (Medium)", "2025-10-17T09:30:00+08:00", "opened")]
    assert [i["id"] for i in doc["resolved_incidents"]] == ["INC-4"]
    assert [(m["id"], m["in_progress"]) for m in doc["maintenance"]] == [
        ("upgrade", False), ("mw-storage", False)]


async def test_html_is_bilingual_accessible_and_self_contained(
        client: TestClient[Any, Any]) -> None:
    resp = await client.get("/status")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    for text in ("服务状态", "Service status", "服务中断", "Outage", "正常运行", "Operational",
                 "P1 紧急问题 (Critical)", OUTAGE_TITLE, "2025-10-17 10:01", "Asia/Shanghai",
                 "数据库升级 / Database upgrade", "存储扩容 / Storage expansion",
                 "昨日 API 超时 / API timeouts"):
        assert text in html, text
    for hidden in ("未公告", "dead-lettered"):
        assert hidden not in html
    # every day cell has an accessible name with the date, the state in words and the numbers
    assert ('aria-label="2025-10-17：服务中断 Outage，可用性 availability 99.502 %，'
            '停机 downtime 3 分钟 / min"') in html
    assert html.count('class="day state--') == 180
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("/", "#")) for r in refs), refs
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_static_files_are_served(client: TestClient[Any, Any]) -> None:
    for path in ("/static/slaguard.css", "/static/status.js"):
        resp = await client.get(path)
        assert resp.status == 200, path


# -- the current state (pure) ------------------------------------------------------------------


def latest(outcomes: dict[str, Outcome], ts: int = NOW - 1000,
           target: str = "web") -> LiveState:
    state = LiveState()
    state.observe([ProbeResult(ts, target, "core", loc, "http", o, 100)
                   for loc, o in outcomes.items()])
    return state


F, S, U = Outcome.FAILURE, Outcome.SUCCESS, Outcome.UNKNOWN


@pytest.mark.parametrize(("outcomes", "verdict"), [
    ({"a": S, "b": S, "c": S}, Live.UP),
    ({"a": F, "b": S, "c": S}, Live.FAILING),
    ({"a": F, "b": F, "c": S}, Live.DOWN),  # majority
    ({"a": F, "b": U, "c": S}, Live.FAILING),  # 1 of the 2 that know: no majority
    ({"a": F, "b": U, "c": U}, Live.DOWN),
    ({"a": U, "b": U}, Live.UNKNOWN),
    ({}, Live.UNKNOWN),
])
def test_live_verdict_applies_the_quorum_to_the_newest_results(
        page: StatusPage, outcomes: dict[str, Outcome], verdict: Live) -> None:
    policy = page.evaluator.policy
    snap = latest(outcomes).snapshot()
    assert live_verdict(policy.service("core"), policy, snap, NOW) is verdict


def test_results_older_than_three_intervals_are_not_live(page: StatusPage) -> None:
    policy = page.evaluator.policy
    snap = latest({"a": F, "b": F}, ts=NOW - 3 * sc.IV - 1).snapshot()
    assert live_verdict(policy.service("core"), policy, snap, NOW) is Live.UNKNOWN
    snap = latest({"a": F, "b": F}, ts=NOW - 3 * sc.IV).snapshot()
    assert live_verdict(policy.service("core"), policy, snap, NOW) is Live.DOWN


@pytest.mark.parametrize(("live", "ongoing", "maintenance", "state"), [
    (Live.DOWN, True, False, State.OUTAGE),
    (Live.UNKNOWN, True, False, State.OUTAGE),  # probes silent: the last word stands
    (Live.UP, True, False, State.DEGRADED),  # recovered, but the 1 h/5 m burn still fires
    (Live.UP, False, False, State.OPERATIONAL),
    (Live.FAILING, True, False, State.DEGRADED),  # below quorum: partial
    (Live.DOWN, False, False, State.DEGRADED),  # not confirmed yet
    (Live.UNKNOWN, False, False, State.NODATA),
    (Live.DOWN, True, True, State.MAINTENANCE),
])
def test_service_state(page: StatusPage, live: Live, ongoing: bool, maintenance: bool,
                       state: State) -> None:
    report = page.state.slo_report  # core: an ongoing outage at NOW
    core = "core" if ongoing else "storage"
    assert service_state(core, live, report, maintenance) is state


def test_banner_takes_the_worst_state() -> None:
    assert overall([State.OPERATIONAL, State.MAINTENANCE, State.DEGRADED]) is State.DEGRADED
    assert overall([State.OPERATIONAL, State.NODATA]) is State.NODATA
    assert overall([State.NODATA, State.NODATA]) is State.NODATA
    assert overall([State.OPERATIONAL]) is State.OPERATIONAL


async def test_before_any_result_or_evaluation_every_service_is_no_data(
        tmp_path: Any, aiohttp_client: ClientFactory) -> None:
    from slaguard.store import SQLiteStore

    cfg = sc.config(tmp_path / "empty.db")
    store, alerting = SQLiteStore(cfg.storage.path), AlertingStore(cfg.storage.path)
    try:
        app = web.Application()
        register_routes(app, StatusPage(sc.evaluator(cfg, store), LiveState(), alerting,
                                        now_ms=lambda: sc.NOW))
        client = await aiohttp_client(app)
        doc = await (await client.get("/api/v1/status")).json()
        assert doc["state"] == "nodata" and doc["incidents"] == []
        assert [(s["state"], s["month"], s["uptime_percent"]) for s in doc["services"]] == [
            ("nodata", None, None), ("nodata", None, None)]
        html = await (await client.get("/status")).text()
        assert "部分服务暂无监测数据" in html and "当前没有未解决的事件" in html
    finally:
        alerting.close()
        store.close()
