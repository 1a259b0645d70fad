"""slaguard's own heartbeat against a real receiver: sent while healthy, withheld while
the record cannot commit (SQLite answers "database or disk is full"), resumed after;
a failing or hanging receiver never stops it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from exporters.self_metrics import SelfStats
from slaguard.app import App
from slaguard.config.loader import parse_config
from slaguard.heartbeat import Heartbeat
from tests.conftest import serve_local
from tests.core.test_self_metrics import fill_up, make_room, result, scrape, until, value


@dataclass
class Receiver:
    url: str
    pings: list[float] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A healthchecks-style endpoint (GET /ping/<check>) and a target to probe (GET /)."""
    rec = Receiver("")

    async def ping(_r: web.Request) -> web.Response:
        rec.pings.append(time.monotonic())
        await asyncio.sleep(rec.delay_s)
        return web.Response(status=rec.status, text="OK")

    async def ok(_r: web.Request) -> web.Response:
        return web.Response(text="up")

    app = web.Application()
    app.router.add_get("/ping/{check}", ping)
    app.router.add_get("/", ok)
    runner, port = await serve_local(app)
    rec.url = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


async def test_the_heartbeat_stops_while_the_writer_cannot_commit_and_resumes(
        tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "record.db")},
        "server": {"listen": "127.0.0.1:0"}, "location": "sh", "scheduling": {"workers": 0},
        "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "web", "service": "core", "kind": "http",
                     "url": f"{receiver.url}/", "interval": "1s", "timeout": "900ms"}],
        "heartbeat": {"url": f"{receiver.url}/ping/slaguard", "every": "1s", "timeout": "1s"},
    }, env={})
    app = App(cfg, serve_http=False)
    caplog.set_level(logging.INFO, logger="slaguard.heartbeat")
    await app.start()
    try:
        await until(lambda: len(receiver.pings) >= 2, 20, "two heartbeats")
        healthy = scrape(app.registry)
        assert value(healthy, "slaguard_heartbeat_up") == 1
        assert value(healthy, "slaguard_heartbeat_pings_total", outcome="ok") >= 2
        # Probing in the main process (workers: 0) reports its starts as worker "main" (the
        # first scheduled start may come after the first beats on a busy machine).
        await until(lambda: value(scrape(app.registry),
                                  "slaguard_probe_start_lateness_seconds_count",
                                  location="sh", worker="main") >= 1, 10, "a scheduled start")

        fill_up(app.store)  # the record cannot grow: a full disk for SQLite
        app.pipeline.submit_many([result(1_000 * i) for i in range(3000)])
        await until(lambda: app.pipeline.trouble() is not None, 10, "the writer failing")
        await asyncio.sleep(0.3)  # a beat already under way may land
        withheld_from = len(receiver.pings)
        await asyncio.sleep(3.0)  # three beats' worth
        assert len(receiver.pings) == withheld_from
        assert app.heartbeat is not None and app.heartbeat.stopped_for is not None
        assert app.heartbeat.stopped_for.startswith("store: cannot commit")
        assert value(scrape(app.registry), "slaguard_heartbeat_up") == 0

        make_room(app.store)
        await until(lambda: app.pipeline.trouble() is None, 20, "the writer committing")
        await until(lambda: len(receiver.pings) >= withheld_from + 2, 10, "heartbeats again")
        assert value(scrape(app.registry), "slaguard_heartbeat_up") == 1
    finally:
        await app.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "slaguard.heartbeat"]
    assert len([m for m in messages if m.startswith("heartbeat stopped: store: cannot commit")
                ]) == 1, messages
    assert messages.count("heartbeat resumes: slaguard is healthy again") == 1, messages


async def test_a_failing_receiver_is_logged_once_and_tried_again(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    stats = SelfStats()
    async with aiohttp.ClientSession() as session:  # beats driven by the test, no task
        hb = Heartbeat(f"{receiver.url}/ping/x", 1.0, 0.5, lambda: None,
                       on_beat=stats.heartbeat, session=session)
        receiver.status = 500
        assert not await hb.beat() and not await hb.beat()
        receiver.status = 200
        assert await hb.beat()
    assert stats.pings["failed"] >= 2 and stats.pings["ok"] >= 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if w.startswith("heartbeat request failed")]) == 1
    assert not [w for w in warnings if receiver.url in w]  # the URL may hold a credential


async def test_a_hanging_receiver_costs_one_timeout_not_more(receiver: Receiver) -> None:
    """The request is bounded by heartbeat.timeout; nothing else waits for it."""
    receiver.delay_s = 2.0
    async with aiohttp.ClientSession() as session:
        hb = Heartbeat(f"{receiver.url}/ping/x", 1.0, 0.3, lambda: None, session=session)
        started = time.monotonic()
        assert not await hb.beat()
        assert time.monotonic() - started < 1.0
        assert hb.failing is not None and "Timeout" in hb.failing


async def test_unhealthy_means_no_request_at_all(receiver: Receiver) -> None:
    reasons: list[str | None] = ["probing: no result for 40 s", None]
    async with aiohttp.ClientSession() as session:
        hb = Heartbeat(f"{receiver.url}/ping/x", 1.0, 0.5, lambda: reasons[0], session=session)
        assert not await hb.beat()
        assert receiver.pings == [] and hb.stopped_for == "probing: no result for 40 s"
        reasons[0] = None
        assert await hb.beat() and len(receiver.pings) == 1 and hb.stopped_for is None
