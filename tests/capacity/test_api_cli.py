"""The capacity API on a real aiohttp server (mounted without the access middleware,
as the other capability APIs are tested; slaguard.access's table is the lead's) and
the ``slaguard capacity`` commands: run in the foreground, list, show, kill through
the API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from capacity.api import CapacityApi, add_routes
from capacity.job import CapacityScheduler, due
from slaguard.cli import main
from slaguard.cli.capacity import add_capacity
from tests.capacity.conftest import Rig, Target, until
from tests.conftest import serve_local


@dataclass
class Served:
    url: str
    session: aiohttp.ClientSession
    rig: Rig
    scheduler: CapacityScheduler
    target: Target

    async def call(self, method: str, path: str, status: int, body: Any = None) -> Any:
        async with self.session.request(method, f"{self.url}/api/v1/capacity{path}",
                                        json=body) as resp:
            doc = await (resp.text() if resp.content_type == "text/html" else resp.json())
            assert resp.status == status, doc
            return doc


@pytest.fixture
async def served(target: Target, rig: Callable[..., Rig]) -> AsyncIterator[Served]:
    r = rig(target.url, profile={"hold": "60s"})
    scheduler = CapacityScheduler(r.runner)
    app = web.Application()
    add_routes(app, CapacityApi(r.store, scheduler))
    runner, port = await serve_local(app)
    try:
        async with aiohttp.ClientSession() as session:
            yield Served(f"http://127.0.0.1:{port}", session, r, scheduler, target)
    finally:
        await scheduler.stop()
        await runner.cleanup()


async def cli(*argv: str) -> int:
    return int(await asyncio.to_thread(main, list(argv)))


async def test_start_list_kill_show_over_the_api_and_the_cli(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    assert await served.call("GET", "/runs", 200) == {"runs": [], "running": None}
    assert await served.call("POST", "/kill", 409) == {
        "error": "no capacity run is under way", "field": None}
    assert (await served.call("POST", "/runs", 404, {"job": "nope"}))["field"] == "job"
    assert (await served.call("POST", "/runs", 400, {"job": 5}))["error"] == (
        "job: expected a string, got int")
    assert (await served.call("GET", "/runs?limit=x", 400))["field"] == "limit"
    started = await served.call("POST", "/runs", 202, {"job": "load", "by": "alice"})
    run_id = started["run"]
    assert started == {"run": run_id, "job": "load", "url": f"/api/v1/capacity/runs/{run_id}"}
    busy = await served.call("POST", "/runs", 409, {"job": "load"})
    assert busy["error"].startswith("a capacity run is under way (job load started by "
                                    "api:alice")
    listing = await served.call("GET", "/runs", 200)
    assert listing["running"] == run_id and listing["runs"][0]["verdict"] == "running"
    await until(lambda: served.target.count > 0, 30, "the run's first requests")
    assert "running" in await served.call("GET", f"/runs/{run_id}/page", 200)
    t0 = time.monotonic()
    assert await cli("capacity", "kill", "--url", served.url, "--token", "staff-token",
                     "--by", "bob", "-c", str(served.rig.path)) == 0
    assert f"{run_id} told to stop (by bob)" in capsys.readouterr().out
    await until(lambda: served.rig.store.running() is None, 5, "the run stopped")
    assert time.monotonic() - t0 < 5
    run = (await served.call("GET", f"/runs/{run_id}", 200))["run"]
    assert (run["verdict"], run["aborted_by"], run["started_by"]) == (
        "aborted", "kill switch: killed by api:bob", "api:alice")
    page = await served.call("GET", f"/runs/{run_id}/page", 200)
    assert "<svg" in page and "<polyline" in page and "kill switch: killed by api:bob" in page
    assert (await served.call("GET", "/runs/CAP-99", 404))["error"] == "id: no capacity run CAP-99"
    assert (await served.call("GET", "/runs/x", 404))["field"] == "id"

    # the record from the command line
    assert await cli("capacity", "list", "--json", "-c", str(served.rig.path)) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["id"] == run_id
    assert await cli("capacity", "show", run_id, "--format", "json", "-c",
                     str(served.rig.path)) == 0
    assert json.loads(capsys.readouterr().out) == run
    out = served.rig.path.parent / "run.html"
    assert await cli("capacity", "show", run_id, "--format", "html", "-o", str(out), "-c",
                     str(served.rig.path)) == 0
    assert "<polyline" in out.read_text(encoding="utf-8")
    assert await cli("capacity", "show", "CAP-99", "-c", str(served.rig.path)) == 2
    assert "error: no capacity run CAP-99" in capsys.readouterr().err
    assert await cli("capacity", "kill", "--url", served.url, "--token", "staff-token",
                     "-c", str(served.rig.path)) == 1
    assert "409 no capacity run is under way" in capsys.readouterr().err


async def test_capacity_run_in_the_foreground_prints_the_verdict(
        target: Target, rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]) -> None:
    r = rig(target.url, profile={"hold": "2s"}, thresholds={"p95": "5s"})
    assert await cli("capacity", "run", "load", "-c", str(r.path)) == 0
    out = capsys.readouterr()
    assert out.out.startswith("CAP-1 load: PASSED  peak 20 users, ")
    assert await cli("capacity", "run", "nope", "-c", str(r.path)) == 2
    assert "error: no capacity job 'nope' (load)" in capsys.readouterr().err
    assert await cli("capacity", "list", "-c", str(r.path)) == 0
    assert "CAP-1    load" in capsys.readouterr().out
    run = r.store.get("CAP-1")
    month = run["start"][:7]  # the report's section for that month
    report: dict[str, Any] = {"services": [{"service": "core", "outages": [
        {"start": run["start"], "end": run["end"]}]}]}
    add_capacity(report, r.cfg, month)
    assert [(x["id"], x["verdict"]) for x in report["capacity"]["runs"]] == [("CAP-1", "passed")]
    assert report["services"][0]["outages"][0]["capacity_runs"] == ["CAP-1"]


def test_the_schedule_picks_the_next_start_in_the_contract_zone() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    after = datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo("UTC"))  # 20:00 in Shanghai
    at, name = due([("weekly", "0 2 * * 6"), ("nightly", "30 1 * * *")], "Asia/Shanghai",
                   after) or (None, None)
    assert name == "nightly" and at is not None
    assert at.isoformat() == "2026-12-04T01:30:00+08:00"


async def test_a_scheduled_job_starts_on_its_cron(target: Target,
                                                  rig: Callable[..., Rig]) -> None:
    """Every minute, all day off-peak; the scheduler's clock is set 3 s before a minute
    turns, so the start comes soon and is recorded as started by the schedule."""
    from datetime import UTC, datetime, timedelta

    r = rig(target.url, schedule="* * * * *", profile={"hold": "1s"})
    real = datetime.now(UTC)
    turn = real.replace(second=0, microsecond=0) + timedelta(minutes=1)
    offset = turn - real - timedelta(seconds=3)
    scheduler = CapacityScheduler(r.runner, now=lambda: datetime.now(UTC) + offset)
    await scheduler.start()
    try:
        await until(lambda: any(d["verdict"] not in ("running",)
                                for d in r.store.listing()), 30, "a scheduled run done")
    finally:
        await scheduler.stop()
    (doc, *_) = r.store.listing()[-1:]
    assert doc["started_by"] == "schedule" and doc["verdict"] == "passed", doc


def test_an_unknown_job_is_refused_before_the_record_is_opened(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from tests.capacity.conftest import capacity_config

    doc = capacity_config(tmp_path, "http://127.0.0.1:9/")
    doc["storage"] = {"path": str(tmp_path / "none" / "slaguard.db")}
    path = tmp_path / "slaguard.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert main(["capacity", "run", "nope", "-c", str(path)]) == 2
    assert "error: no capacity job 'nope' (load)" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # a typo creates no record
