"""/status, /api/v1/status and / on the scripted record, during the 10-17 core outage."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from alerting.store import AlertingStore
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
from slo.fmt import percent_down

from . import scenario as sc

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
NOW = sc.at(17, 10, 3)  # three minutes into the core outage (a and b fail, c does not)
OUTAGE_TITLE = sc.OUTAGE_TITLE


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatusPage]:
    cfg = sc.config(tmp_path_factory.mktemp("status") / "s.db")
    store = sc.store(cfg)
    alerting = AlertingStore(cfg.storage.path)
    sc.record_incidents(alerting)
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


async def test_json_states_incidents_and_maintenance(client: TestClient[Any, Any],
                                                     page: StatusPage) -> None:
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
    # One basis: October's bars, i.e. monitored time from 10-16 18:00 (21 600 s that day,
    # 36 180 s today): 180 s down of 57 780 s.  The SLO report's month (from 10-01 00:00,
    # the unmonitored time counted as up) says 99.987 %.
    assert core["month"] == {"month": "2025-10", "basis": "monitored",
                             "availability_percent": "99.688", "downtime_seconds": 180,
                             "monitored_seconds": 57_780, "met": False}
    assert core["uptime_percent"] == "99.688"  # all 90 days: the same monitored time
    assert core["monitored_since"] == "2025-10-16T18:00:00+08:00"
    assert page.state.slo_report is not None
    assert percent_down(page.state.slo_report.service("core").availability.availability) == (
        "99.987")
    assert [(i["id"], i["priority_label"], i["opened"], i["state"]) for i in doc["incidents"]] == [
        ("INC-1", "P1 紧急问题 (Critical)", "2025-10-17T10:01:00+08:00", "opened"),
        ("INC-2", "P3 中优先级 (Medium)", "2025-10-17T09:30:00+08:00", "opened")]
    # the last 90 days, newest first: INC-5 (09-20) is before monitoring began, still listed
    assert [i["id"] for i in doc["resolved_incidents"]] == ["INC-4", "INC-5"]
    inc4 = doc["resolved_incidents"][0]
    assert [(e["event"], e["at"], e["after_seconds"], e["after"]) for e in inc4["timeline"]] == [
        ("opened", "2025-10-16T20:00:00+08:00", 0, ["不到 1 分钟", "under 1 min"]),
        ("acknowledged", "2025-10-16T20:04:00+08:00", 240, ["4 分钟", "4 min"]),
        ("restored", "2025-10-16T20:40:00+08:00", 2400, ["40 分钟", "40 min"]),
        ("resolved", "2025-10-16T21:00:00+08:00", 3600, ["1 小时", "1 h"])]
    assert (inc4["ongoing"], inc4["duration_seconds"], inc4["duration"]) == (
        False, 3600, ["1 小时", "1 h"])
    p1 = doc["incidents"][0]  # open: its duration runs to now
    assert [e["event"] for e in p1["timeline"]] == ["opened"]
    assert (p1["ongoing"], p1["duration"]) == (True, ["2 分钟", "2 min"])
    assert doc["refresh_seconds"] == 30
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
    for path in ("/static/slaguard.css", "/static/status.js", "/static/favicon.svg",
                 "/favicon.ico"):
        resp = await client.get(path)
        assert resp.status == 200, path
    resp = await client.get("/favicon.ico")
    assert resp.content_type == "image/x-icon" and (await resp.read())[:4] == b"\0\0\1\0"


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
        assert [(s["state"], s["month"]["availability_percent"], s["uptime_percent"],
                 s["monitored_since"]) for s in doc["services"]] == [
            ("nodata", None, None, None), ("nodata", None, None, None)]
        html = await (await client.get("/status")).text()
        assert "部分服务暂无监测数据" in html and "当前没有未解决的事件" in html
    finally:
        alerting.close()
        store.close()
