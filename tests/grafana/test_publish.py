"""``grafana.publish`` through grafana-client against a fake Grafana HTTP API.

The fake (``fake_grafana.py``) is a real aiohttp server on loopback implementing
only the endpoints publish uses and recording every request: it checks what
publish sends and that a second run updates rather than duplicates.  It is not
evidence that Grafana accepts the dashboards — no Grafana server can run here;
the check that counts is test_dashboard_queries.py (every panel query against a
real Prometheus).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from grafana.build import DEFAULT_DIR
from grafana.dashboards import FOLDER_UID, INCIDENTS_UID, PROBES_UID, SELF_UID, SLA_UID
from grafana.publish import PublishError, epoch_ms, publish
from slaguard.config import parse_config
from slaguard.config.schema import MaintenanceWindow
from tests.conftest import free_port
from tests.grafana.fake_grafana import FakeGrafana

AiohttpServer = Callable[..., Awaitable[TestServer]]
TOKEN = "glsa_test_token"

WINDOW = MaintenanceWindow.model_validate({
    "id": "MW-2026-10-14", "services": ["core"], "title": "数据库升级",
    "start": "2026-10-14T02:00:00+08:00", "end": "2026-10-14T04:00:00+08:00",
    "announced": "2026-09-28T10:00:00+08:00"})
INCIDENTS: list[dict[str, Any]] = [
    {"id": "INC-7", "priority": "P1", "service": "core", "title": "web 503",
     "start": "2026-10-20T09:00:00+08:00", "end": datetime(2026, 10, 20, 1, 30, tzinfo=UTC)},
    {"id": "INC-8", "priority": "P3", "title": "slow uploads", "start": 1_792_000_000_000},
]


async def serve(aiohttp_server: AiohttpServer, fake: FakeGrafana, prefix: str = ""
                ) -> str:
    app = fake.app()
    if prefix:  # Grafana behind a reverse proxy at a sub-path
        root = web.Application()
        root.add_subapp(prefix, app)
        app = root
    server = await aiohttp_server(app)
    return str(server.make_url(prefix or "/")).rstrip("/")


async def run_publish(url: str, auth: Any = TOKEN, **kw: Any) -> Any:
    # grafana-client is synchronous: off the loop that runs the fake server.
    return await asyncio.to_thread(publish, url, auth, DEFAULT_DIR, **kw)


async def test_publish_creates_folder_dashboards_and_annotations(
        aiohttp_server: AiohttpServer) -> None:
    fake = FakeGrafana(f"Bearer {TOKEN}")
    url = await serve(aiohttp_server, fake)

    done = await run_publish(url, maintenance=[WINDOW], incidents=INCIDENTS)

    assert fake.folders[FOLDER_UID]["title"] == "slaguard"
    assert set(fake.dashboards) == {SLA_UID, PROBES_UID, INCIDENTS_UID, SELF_UID}
    saves = fake.calls("POST", "/api/dashboards/db")
    assert all(r.body["overwrite"] is True and r.body["folderUid"] == FOLDER_UID
               and "id" not in r.body["dashboard"] for r in saves)
    assert sorted(done.dashboards) == sorted(
        ["/d/slaguard-sla/sla-overview", "/d/slaguard-probes/probes",
         "/d/slaguard-incidents/incidents", "/d/slaguard-self/slaguard-itself"])
    assert (done.annotations_created, done.annotations_updated) == (3, 0)

    notes = {next(t for t in a["tags"] if t.startswith("id:")): a
             for a in fake.annotations.values()}
    mw = notes["id:maintenance-MW-2026-10-14"]
    assert (mw["time"], mw["timeEnd"]) == (1_791_914_400_000, 1_791_921_600_000)
    assert mw["tags"][:2] == ["slaguard", "maintenance"] and "service:core" in mw["tags"]
    assert "MW-2026-10-14" in mw["text"] and "数据库升级" in mw["text"]
    p1 = notes["id:incident-INC-7"]
    assert (p1["time"], p1["timeEnd"]) == (epoch_ms("2026-10-20T09:00:00+08:00"),
                                           epoch_ms("2026-10-20T09:30:00+08:00"))
    assert {"slaguard", "incident", "P1", "service:core"} <= set(p1["tags"])
    assert p1["text"] == "P1 INC-7 core: web 503"
    open_one = notes["id:incident-INC-8"]
    assert open_one["time"] == open_one["timeEnd"] == 1_792_000_000_000  # a point: still open
    assert open_one["text"].endswith("(open)")
    assert {r.authorization for r in fake.requests} == {f"Bearer {TOKEN}"}


async def test_publishing_again_updates_instead_of_duplicating(
        aiohttp_server: AiohttpServer) -> None:
    fake = FakeGrafana(f"Bearer {TOKEN}")
    url = await serve(aiohttp_server, fake)
    await run_publish(url, maintenance=[WINDOW], incidents=INCIDENTS[:1])
    fake.folders[FOLDER_UID]["title"] = "renamed by hand"

    closed = {**INCIDENTS[1], "end": "2026-10-21T00:00:00+08:00"}
    done = await run_publish(url, maintenance=[WINDOW], incidents=[INCIDENTS[0], closed])

    assert len(fake.calls("POST", "/api/folders")) == 1  # created once
    assert fake.folders[FOLDER_UID]["title"] == "slaguard"  # and its title restored
    assert {d["version"] for d in fake.dashboards.values()} == {2}
    assert (done.annotations_created, done.annotations_updated) == (1, 2)
    assert len(fake.annotations) == 3


async def test_publish_under_a_sub_path_with_basic_auth(aiohttp_server: AiohttpServer) -> None:
    basic = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    fake = FakeGrafana(basic)
    url = await serve(aiohttp_server, fake, prefix="/grafana/")

    await run_publish(url, auth=("admin", "s3cret"))

    assert len(fake.dashboards) == 4
    assert {r.path.split("/api/")[0] for r in fake.requests} == {"/grafana"}


async def test_without_a_directory_the_dashboards_are_built_from_the_config(
        aiohttp_server: AiohttpServer) -> None:
    fake = FakeGrafana(f"Bearer {TOKEN}")
    url = await serve(aiohttp_server, fake)
    cfg, _ = parse_config({"version": 1, "timezone": "Europe/Berlin",
                           "services": {"core": {"availability": "99.9%"}}}, env={})

    await asyncio.to_thread(publish, url, TOKEN, None, cfg=cfg)

    assert {d["dashboard"]["timezone"] for d in fake.dashboards.values()} == {"Europe/Berlin"}


async def test_a_refused_token_is_a_publish_error(aiohttp_server: AiohttpServer) -> None:
    fake = FakeGrafana("Bearer right")
    url = await serve(aiohttp_server, fake)
    with pytest.raises(PublishError, match=r"folder slaguard: .*Unauthorized"):
        await run_publish(url, auth="wrong")
    assert not fake.dashboards


async def test_an_unreachable_grafana_is_a_publish_error() -> None:
    with pytest.raises(PublishError, match="folder slaguard"):
        await run_publish(f"http://127.0.0.1:{free_port()}", timeout=3.0)


def test_an_incident_without_a_start_is_refused_before_any_call(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="missing 'start'"):
        publish("http://127.0.0.1:9", TOKEN, DEFAULT_DIR, incidents=[{"id": "INC-1"}])
    with pytest.raises(PublishError, match="no dashboard JSON"):
        publish("http://127.0.0.1:9", TOKEN, tmp_path)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        epoch_ms("2026-10-20T09:00:00")
