"""One bad record never stops evaluation or alerting.

Records an old version or a bug could have written (a maintenance window ending
9999-12-31, one announced then, an imported ticket resolved then) are put straight
into the real store with SQL, bypassing the API.  A real slaguard probing a real
failing site still answers ``/status``, ``/api/v1/slo`` and a statement, still opens
the outage incident, names each bad record once in its log and raises one
self-monitoring incident (service ``slaguard``, source ``self``), restored once the
records are gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from alerting import rules
from alerting.notification import Priority
from alerting.service import BAD_RECORD
from compensation.incidents_import import connect as incidents_db
from probes.base import wall_ms
from slaguard.app import App
from slaguard.config import parse_config
from slaguard.records import MAINTENANCE, usable_incidents, usable_maintenance
from slo.compensation import IncidentRecord
from slo.model import MaintenanceSpec
from slo.periods import month_containing
from tests.conftest import serve_local

STAFF = "staff-token-for-bad-records"
YEAR_9999 = 253_402_300_799_000  # 9999-12-31T23:59:59Z: past datetime's range in +08:00
HOUR = 3_600_000


@pytest.fixture
async def failing_site() -> AsyncIterator[str]:
    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/", down)
    runner, port = await serve_local(app)
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


def config(tmp_path: Path, url: str) -> Any:
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "record.db")},
        "server": {"listen": "127.0.0.1:0", "api_token": STAFF},
        "location": "shanghai", "scheduling": {"workers": 0},
        "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "web-home", "service": "core", "kind": "http", "url": url,
                     "interval": "30s", "timeout": "5s"}],
        "customers": [{"id": "acme", "name": "Acme", "monthly_fee": "100.00",
                       "services": ["core"], "token": "acme-token"}],
    }, env={})
    return cfg


def poison(db_path: str, now: int) -> None:
    """What the API once stored with a 500, and an import a bug let through."""
    with incidents_db(db_path):  # the imported tickets' table, as import-incidents makes it
        pass
    db = sqlite3.connect(db_path)
    try:
        for window_id, start, end, announced in (
                ("MW-ENDLESS", now - HOUR, YEAR_9999, None),
                ("MW-LATE-NOTICE", now - 2 * HOUR, now - HOUR, YEAR_9999)):
            db.execute("INSERT INTO alerting_maintenance (id, services, start_ms, end_ms, "
                       "announced_ms, title, created_ms, created_by) VALUES (?,?,?,?,?,?,?,?)",
                       (window_id, json.dumps(["core"]), start, end, announced, "old", now,
                        "v0"))
        db.execute("INSERT INTO imported_incidents (id, priority, opened_ms, responded_ms, "
                   "restored_ms, resolved_ms, data_lost_seconds, customer, services, title, "
                   "source, imported_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   ("TICKET-9", "P2", now - HOUR, None, None, YEAR_9999, 0, "acme",
                    json.dumps(["core"]), "old", "bug", now))
        db.commit()
    finally:
        db.close()


def stored(db_path: str, sql: str, *args: Any) -> None:
    db = sqlite3.connect(db_path)
    try:
        db.execute(sql, args)
        db.commit()
    finally:
        db.close()


def cure(db_path: str) -> None:
    db = sqlite3.connect(db_path)
    try:
        db.execute("DELETE FROM alerting_maintenance")
        db.execute("DELETE FROM imported_incidents")
        db.commit()
    finally:
        db.close()


async def test_bad_records_are_left_out_and_alerted_once(
        tmp_path: Path, failing_site: str, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path, failing_site)
    now = wall_ms()
    app = App(cfg, serve_http=False)
    poison(cfg.storage.path, now)
    month = month_containing(now, cfg.timezone).label
    caplog.set_level(logging.INFO)
    await app.start(schedule=False)
    try:
        # An incident of the alerting record restored "then" (shown on /status, counted
        # in statements).
        hand = app.alerting.incidents.create("core", "by hand", Priority.P2, "alice", "", {})
        stored(cfg.storage.path, "UPDATE alerting_incidents SET restored_ms=? WHERE id=?",
               YEAR_9999, hand.id)
        for _ in range(3):  # confirmed: at least two failures in a row
            await app.run_once("web-home")
        await asyncio.sleep(2)  # downtime is counted in whole seconds
        for _ in range(3):  # evaluation rounds
            await app.evaluate_now()
        async with TestClient(TestServer(app.web_app())) as client:
            staff = {"Authorization": f"Bearer {STAFF}"}
            answers = {path: await client.get(path, headers=staff) for path in (
                "/status", "/api/v1/status", "/api/v1/slo",
                f"/api/v1/statements/acme/{month}", "/api/v1/incidents",
                f"/api/v1/incidents/{hand.public_id}", "/api/v1/incidents/stats",
                "/api/v1/maintenance", "/metrics")}
            statuses = {path: r.status for path, r in answers.items()}
            statement = await answers[f"/api/v1/statements/acme/{month}"].json()
        incidents = app.alerting.incidents.find()

        cure(cfg.storage.path)  # corrected by hand: the alert restores itself
        stored(cfg.storage.path, "UPDATE alerting_incidents SET restored_ms=NULL WHERE id=?",
               hand.id)
        async with TestClient(TestServer(app.web_app())) as client:
            assert (await client.get("/status")).status == 200
        await app.evaluate_now()
        after = app.alerting.incidents.find()
    finally:
        await app.stop()

    assert statuses == dict.fromkeys(statuses, 200)
    assert statement  # a statement body, with the ticket left out
    assert "TICKET-9" not in json.dumps(statement)
    outage = [i for i in incidents if i.rule == rules.AVAILABILITY]
    assert [(i.service, i.state) for i in outage] == [("core", "opened")]
    own = [i for i in incidents if i.rule == BAD_RECORD]
    assert [(i.service, i.source, i.state) for i in own] == [("slaguard", "self", "opened")]
    logged = [r.getMessage() for r in caplog.records if "left out of evaluation" in r.getMessage()]
    for name in ("MW-ENDLESS", "MW-LATE-NOTICE", "TICKET-9", hand.public_id):
        assert sum(f"'{name}'" in m for m in logged) == 1, logged
    assert "253402300799000 lies outside 2000-01-01..2100-01-01" in logged[0]
    [restored] = [i for i in after if i.rule == BAD_RECORD]
    assert restored.id == own[0].id and restored.restored_ms is not None


def window(**changes: Any) -> MaintenanceSpec:
    base: dict[str, Any] = {"id": "MW-1", "services": ("core",), "start_ms": 1_800_000_000_000,
                            "end_ms": 1_800_003_600_000, "announced_ms": None, "title": ""}
    return MaintenanceSpec(**(base | changes))


@pytest.mark.parametrize(("changes", "reason"), [
    ({"end_ms": YEAR_9999}, "end: 253402300799000 lies outside"),
    ({"announced_ms": YEAR_9999}, "announced: 253402300799000 lies outside"),
    ({"start_ms": -1}, "start: -1 lies outside"),
    ({"end_ms": 1_800_000_000_000}, "end: must be after the start"),
    ({"start_ms": "2027-01-15"}, "start: expected epoch milliseconds, got str"),
    ({"announced_ms": True}, "announced: expected epoch milliseconds, got bool"),
    ({"services": ()}, "services: expected a list of names"),
    ({"services": (1,)}, "services: expected a list of names"),
    ({"id": ""}, "id: expected a non-empty string"),
])
def test_a_window_that_cannot_be_evaluated_is_named_with_why(
        changes: dict[str, Any], reason: str) -> None:
    good = window(id="MW-GOOD")
    usable, [rejected] = usable_maintenance([good, window(**changes)])
    assert usable == [good]
    assert rejected.kind == MAINTENANCE and rejected.reason.startswith(reason)


def test_an_incident_a_statement_cannot_count_is_left_out() -> None:
    good = IncidentRecord("INC-1", "P2", 1_800_000_000_000, restored_ms=1_800_000_600_000)
    bad = [IncidentRecord("INC-2", "P9", 1_800_000_000_000),
           IncidentRecord("INC-3", "P2", 1_800_000_000_000, resolved_ms=YEAR_9999),
           IncidentRecord("INC-4", "P2", 1_800_000_000_000, data_lost_seconds=10**30)]
    usable, rejected = usable_incidents([good, *bad], {"P1", "P2", "P3", "P4"})
    assert usable == [good]
    assert [(r.id, r.reason.split(":")[0]) for r in rejected] == [
        ("INC-2", "priority"), ("INC-3", "resolved"), ("INC-4", "data_lost_seconds")]
