"""The incident API and the Alertmanager webhook through aiohttp's test client."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from alerting.api import AlertingApi, fingerprint, register_routes
from alerting.clock import FakeClock
from alerting.notifiers import RecordingNotifier
from alerting.service import AlertingService
from slo.model import MaintenanceSpec
from tests.alerting.test_incidents import channel_of, make_service
from tests.alerting.test_rules import HOUR, MIN, SEC, T0

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Harness:
    def __init__(self, client: TestClient[Any, Any], svc: AlertingService,
                 rec: RecordingNotifier, clock: FakeClock) -> None:
        self.client, self.svc, self.rec, self.clock = client, svc, rec, clock

    async def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        resp = await self.client.post(path, json=body, headers=AUTH)
        doc = await resp.json()
        assert resp.status == status, doc
        return doc

    async def get(self, path: str, status: int = 200, **params: str) -> Any:
        resp = await self.client.get(path, params=params)
        doc = await resp.json()
        assert resp.status == status, doc
        return doc


async def harness(tmp_path: Path, aiohttp_client: ClientFactory,
                  token: str | None = TOKEN) -> Harness:
    clock = FakeClock(T0)
    svc, rec = make_service(tmp_path, clock)
    app = web.Application()
    register_routes(app, AlertingApi(svc, token, "Asia/Shanghai", {"core", "backup"}))
    return Harness(await aiohttp_client(app), svc, rec, clock)


@pytest.fixture
async def h(tmp_path: Path, aiohttp_client: ClientFactory) -> Harness:
    return await harness(tmp_path, aiohttp_client)


HOTLINE = {"service": "core", "title": "客户无法登录 / customers cannot log in",
           "priority": "P1", "by": "hotline-zhang", "summary": "reported by phone"}


# -- authentication ---------------------------------------------------------------------------


async def test_writes_are_refused_with_403_when_no_token_is_configured(
        tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    h = await harness(tmp_path, aiohttp_client, token=None)
    for path in ("/api/v1/incidents", "/api/v1/alertmanager", "/api/v1/maintenance",
                 "/api/v1/incidents/1/acknowledge"):
        resp = await h.client.post(path, json=HOTLINE, headers=AUTH)
        assert resp.status == 403
        assert "set server.api_token" in (await resp.json())["error"]
    assert (await h.get("/api/v1/incidents"))["incidents"] == []


async def test_writes_need_the_bearer_token(h: Harness) -> None:
    resp = await h.client.post("/api/v1/incidents", json=HOTLINE)
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await h.client.post("/api/v1/incidents", json=HOTLINE,
                               headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await h.client.post("/api/v1/incidents", json=HOTLINE,
                               headers={"Authorization": f"Basic {TOKEN}"})
    assert resp.status == 401
    assert h.svc.incidents.find() == []
    await h.post("/api/v1/incidents", HOTLINE, 201)


# -- incidents ---------------------------------------------------------------------------------


async def test_the_whole_lifecycle_through_the_api(h: Harness) -> None:
    created = (await h.post("/api/v1/incidents", HOTLINE, 201))["incident"]
    assert created["id"] == "INC-1" and created["state"] == "opened"
    assert created["opened"] == "2026-10-01T00:00:00+08:00"
    assert created["due"]["respond"] == "2026-10-01T00:15:00+08:00"
    assert created["source"] == "manual" and created["escalation"]["next"] == \
        "2026-10-01T00:30:00+08:00"
    h.clock.set(T0 + 17 * MIN + 30 * SEC)
    acked = (await h.post("/api/v1/incidents/INC-1/acknowledge", {"by": "bob"}))["incident"]
    assert acked["state"] == "acknowledged" and acked["responded_by"] == "bob"
    assert acked["late_seconds"]["respond"] == 150 and acked["escalation"]["next"] is None
    h.clock.set(T0 + HOUR)
    restored = (await h.post("/api/v1/incidents/1/restore", {"by": "bob"}))["incident"]
    assert restored["state"] == "restored" and restored["late_seconds"]["restore"] == 0
    h.clock.set(T0 + 2 * HOUR)
    resolved = (await h.post("/api/v1/incidents/1/resolve", {"by": "carol"}))["incident"]
    assert resolved["state"] == "resolved" and resolved["resolved_by"] == "carol"
    got = (await h.get("/api/v1/incidents/INC-1"))["incident"]
    assert [e["kind"] for e in got["log"]] == ["opened", "created", "acknowledged", "restored",
                                               "resolved"]
    assert got["log"][2]["detail"]["late_ms"] == 150_000
    resp = await h.client.post("/api/v1/incidents/1/acknowledge", json={}, headers=AUTH)
    assert resp.status == 409  # a late acknowledgement of a resolved incident is dropped



async def test_priority_changes_are_audited(h: Harness) -> None:
    await h.post("/api/v1/incidents", {**HOTLINE, "priority": "P3"}, 201)
    missing = await h.client.post("/api/v1/incidents/1/priority",
                                  json={"priority": "P1", "by": "alice"}, headers=AUTH)
    assert missing.status == 400 and "reason" in (await missing.json())["error"]
    h.clock.set(T0 + 5 * MIN)
    changed = (await h.post("/api/v1/incidents/1/priority",
                            {"priority": "P1", "by": "alice",
                             "reason": "all customers affected"}))["incident"]
    assert changed["priority"] == "P1" and changed["due"]["respond"] == \
        "2026-10-01T00:15:00+08:00"
    [entry] = [e for e in (await h.get("/api/v1/incidents/1"))["incident"]["log"]
               if e["kind"] == "priority_changed"]
    assert entry == {"at": "2026-10-01T00:05:00+08:00", "kind": "priority_changed",
                     "actor": "alice", "detail": {"from": "P3", "to": "P1",
                                                  "reason": "all customers affected"}}


async def test_bad_input_is_a_clear_4xx(h: Harness) -> None:
    cases = [
        ("/api/v1/incidents", {**HOTLINE, "priority": "P9"}, 400, "priority"),
        ("/api/v1/incidents", {**HOTLINE, "service": "nope"}, 400, "service"),
        ("/api/v1/incidents", {**HOTLINE, "title": ""}, 400, "title"),
        ("/api/v1/incidents/99/acknowledge", {}, 404, "INC-99"),
    ]
    for path, body, status, word in cases:
        resp = await h.client.post(path, json=body, headers=AUTH)
        assert resp.status == status and word in (await resp.json())["error"]
    resp = await h.client.post("/api/v1/incidents", data=b"{not json", headers=AUTH)
    assert resp.status == 400
    assert (await h.get("/api/v1/incidents/7", status=404))["error"] == "no incident INC-7"


async def test_list_filters_by_state_and_month_and_stats(h: Harness) -> None:
    await h.post("/api/v1/incidents", HOTLINE, 201)
    await h.post("/api/v1/incidents", {**HOTLINE, "priority": "P3"}, 201)
    h.clock.set(T0 + 10 * MIN)
    await h.post("/api/v1/incidents/1/acknowledge", {"by": "bob"})
    h.clock.set(T0 + 40 * MIN)
    await h.post("/api/v1/incidents/1/resolve", {"by": "bob"})
    assert [i["id"] for i in (await h.get("/api/v1/incidents", state="open"))["incidents"]] \
        == ["INC-2"]
    assert len((await h.get("/api/v1/incidents", month="2026-10"))["incidents"]) == 2
    assert (await h.get("/api/v1/incidents", month="2026-09"))["incidents"] == []
    stats = await h.get("/api/v1/incidents/stats", month="2026-10")
    assert stats["month"] == "2026-10"
    assert stats["priorities"][0] == {"priority": "P1", "incidents": 1, "acknowledged": 1,
                                      "restored": 1, "late_responses": 0, "mtta_seconds": 600,
                                      "mttr_seconds": 2400}
    assert stats["priorities"][1]["priority"] == "P3"
    assert stats["priorities"][1]["mtta_seconds"] is None
    await h.get("/api/v1/incidents/stats", 400, month="October")


# -- maintenance ------------------------------------------------------------------------------


async def test_maintenance_windows_and_announcements(h: Harness) -> None:
    window = {"id": "MW-2026-10-20", "services": ["core"], "title": "DB upgrade",
              "start": "2026-10-20T02:00:00+08:00", "end": "2026-10-20T04:00:00+08:00"}
    created = (await h.post("/api/v1/maintenance", window, 201))["maintenance"]
    assert created["announced"] is None and created["created_by"] == "api"
    await h.post("/api/v1/maintenance", window, 409)
    await h.post("/api/v1/maintenance", {**window, "id": "x", "end": window["start"]}, 400)
    await h.post("/api/v1/maintenance", {**window, "id": "y", "start": "2026-10-20T02:00"}, 400)
    h.clock.set(T0 + 2 * HOUR)
    announced = (await h.post("/api/v1/maintenance/MW-2026-10-20/announce", {}))["maintenance"]
    assert announced["announced"] == "2026-10-01T02:00:00+08:00"
    await h.post("/api/v1/maintenance/nope/announce", {}, 404)
    listed = (await h.get("/api/v1/maintenance"))["maintenance"]
    assert [m["id"] for m in listed] == ["MW-2026-10-20"]
    # What the evaluator side merges into its Policy.maintenance:
    assert h.svc.maintenance_windows() == [MaintenanceSpec(
        "MW-2026-10-20", ("core",), T0 + 19 * 24 * HOUR + 2 * HOUR,
        T0 + 19 * 24 * HOUR + 4 * HOUR, T0 + 2 * HOUR, "DB upgrade")]


# -- Alertmanager -----------------------------------------------------------------------------

FIRING_ALERT = {
    "status": "firing",
    "labels": {"alertname": "SlaguardConfirmedOutage", "rule": "confirmed_outage",
               "service": "core", "severity": "P1"},
    "annotations": {"summary": "core down (confirmed)", "description": "2/3 locations"},
    "startsAt": "2026-09-30T16:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph", "fingerprint": "8d4c2d6b9a1f3e57",
}
WEBHOOK = {
    "version": "4", "groupKey": '{}:{rule="confirmed_outage", service="core"}',
    "truncatedAlerts": 0, "status": "firing", "receiver": "slaguard",
    "groupLabels": {"rule": "confirmed_outage"}, "commonLabels": {}, "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093", "alerts": [FIRING_ALERT],
    "notification_reason": "new_alerts", "routeLabels": {"x": "y"},  # newer keys: ignored
}


def webhook(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {**copy.deepcopy(WEBHOOK), "status": status, "alerts": list(alerts)}


def test_fingerprint_matches_alertmanager() -> None:
    assert fingerprint({"alertname": "SlaguardConfirmedOutage", "rule": "confirmed_outage",
                        "service": "portal", "severity": "P1"}) == "62a4d8cc0959278b"


async def test_alertmanager_opens_dedups_and_restores(h: Harness) -> None:
    first = await h.post("/api/v1/alertmanager", webhook(FIRING_ALERT))
    assert first == {"accepted": 1, "incidents": ["INC-1"]}
    [inc] = h.svc.incidents.find()
    assert (inc.service, inc.rule, inc.priority, inc.source) == (
        "core", "availability", "P1", "alertmanager")
    assert inc.labels["fingerprint"] == "8d4c2d6b9a1f3e57"
    await h.svc.tick()
    assert sorted(channel_of(k) for k in h.rec.keys) == ["email", "phone", "sms"]
    # Alertmanager repeats the firing alert: same fingerprint, nothing new.
    h.clock.set(T0 + 15 * MIN)
    await h.post("/api/v1/alertmanager", webhook(FIRING_ALERT))
    await h.svc.tick()
    assert len(h.svc.incidents.find()) == 1 and len(h.rec.sent) == 3
    h.clock.set(T0 + 20 * MIN)
    resolved = {**FIRING_ALERT, "status": "resolved", "endsAt": "2026-09-30T16:20:00Z"}
    await h.post("/api/v1/alertmanager", webhook(resolved, status="resolved"))
    [inc] = h.svc.incidents.find()
    assert inc.state == "restored" and inc.restored_ms == T0 + 20 * MIN
    assert inc.restored_by == "alertmanager"


async def test_alertmanager_labels_map_to_rule_and_priority(h: Harness) -> None:
    burn_labels = {"alertname": "SlaguardErrorBudgetBurn", "service": "core",
                   "severity": "ticket"}
    burn = {"status": "firing", "labels": burn_labels, "annotations": {}}
    silent = {"status": "firing", "labels": {"alertname": "SlaguardProbeSilent",
                                             "service": "backup", "severity": "page",
                                             "target": "backup-freshness"},
              "annotations": {}}
    reply = await h.post("/api/v1/alertmanager", webhook(burn, silent))
    assert reply["incidents"] == ["INC-1", "INC-2"]
    by_key = {i.dedup_key: i for i in h.svc.incidents.find()}
    assert by_key["core/availability"].priority == "P3"  # severity ticket → P3
    assert by_key["backup/probe_down"].priority == "P1"  # severity page → P1
    # No fingerprint in the payload: computed as Alertmanager does.
    assert by_key["core/availability"].labels["fingerprint"] == fingerprint(burn_labels)
    # The confirmed outage joins the burn's incident and makes it P1.
    await h.post("/api/v1/alertmanager", webhook(FIRING_ALERT))
    assert h.svc.incidents.get(1)[0].priority == "P1"


async def test_alertmanager_input_errors(h: Harness) -> None:
    resp = await h.client.post("/api/v1/alertmanager", json=webhook(FIRING_ALERT))
    assert resp.status == 401
    for body in ({**WEBHOOK, "version": "3"}, {**WEBHOOK, "alerts": {}}, [1, 2],
                 webhook({**FIRING_ALERT, "status": "pending"}),
                 webhook({**FIRING_ALERT, "labels": {"service": 1}})):
        resp = await h.client.post("/api/v1/alertmanager", json=body, headers=AUTH)
        assert resp.status == 400, body
    assert h.svc.incidents.find() == []


async def test_alertmanager_gets_503_when_the_store_fails(h: Harness) -> None:
    h.svc.store.close()
    resp = await h.client.post("/api/v1/alertmanager", json=webhook(FIRING_ALERT),
                               headers=AUTH)
    assert resp.status == 503  # Alertmanager retries 5xx, not 4xx
