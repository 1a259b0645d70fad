"""No false pages after a restart: a real slaguard probes a real local site an hour
ago (its clocks shifted back), stops, and a second one starts now.  The hour in
between is slaguard's own absence: no probe-down incident against the target,
one self-monitoring event (service ``slaguard``, source ``self``) told once to a
real webhook, and the time is a gap in the report, not downtime."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerting import rules
from alerting.service import MONITORING_GAP, AlertingService
from probes.base import wall_ms
from slaguard.app import App
from slaguard.config import parse_config
from slaguard.domain import Outcome
from tests.conftest import serve_local

HOUR = 3_600_000


class Shifted:
    """Wall time moved back by ``offset_ms``: the first life ran an hour ago."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 - self.offset_ms


@pytest.fixture
async def servers() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """The watched site, and the on-call webhook (what it received)."""
    pages: list[dict[str, Any]] = []

    async def site(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def hook(request: web.Request) -> web.Response:
        pages.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_get("/", site)
    app.router.add_post("/hook", hook)
    runner, port = await serve_local(app)
    yield f"http://127.0.0.1:{port}", pages
    await runner.cleanup()


def config(tmp_path: Path, base: str) -> Any:
    every = {"respond": "2h", "resolve": "24h", "notify": ["oncall"]}
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "record.db")},
        "server": {"listen": "127.0.0.1:0", "public_url": "https://slaguard.example.com"},
        "location": "shanghai", "scheduling": {"workers": 0},
        "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "web-home", "service": "core", "kind": "http", "url": base + "/",
                     "interval": "30s", "timeout": "5s"}],
        "incidents": {"priorities": {"P3": every, "P4": every}},  # probe_down P3, gap P4
        "channels": {"oncall": {"kind": "webhook", "url": base + "/hook"}},
    }, env={})
    return cfg


async def first_life(cfg: Any, clock: Shifted) -> int:
    """Probe for real and evaluate, an hour ago; returns the newest result's instant."""
    app = App(cfg, serve_http=False)
    for s in app.schedulers:
        s.ctx = dataclasses.replace(s.ctx, now_ms=clock.now_ms)
    app.alerting = AlertingService.from_config(cfg, clock=clock, store=app.alerting.store)
    await app.start(schedule=False)
    try:
        results = [await app.run_once("web-home") for _ in range(3)]
        await app.pipeline.flush()
        outcome = app.alerting.evaluate(None, app.state.snapshot())
        assert outcome.events == ()  # fresh results, on its own clock
    finally:
        await app.stop()
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    return max(r.ts_ms for r in results)


async def test_a_restart_after_an_hour_pages_no_probe_and_tells_the_gap_once(
        tmp_path: Path, servers: tuple[str, list[dict[str, Any]]],
        caplog: pytest.LogCaptureFixture) -> None:
    base, pages = servers
    cfg = config(tmp_path, base)
    last = await first_life(cfg, Shifted(HOUR))
    assert wall_ms() - last > HOUR - 60_000

    caplog.set_level(logging.INFO)
    app = App(cfg, serve_http=False)
    # The record's latest results seed the live state, as after any restart ...
    assert [r.ts_ms for _, s in app.state.snapshot() for r in [s.latest]] == [last]
    # ... and, left to the rules alone, would page the probe as silent.
    unguarded = rules.evaluate(None, app.state.snapshot(), {}, wall_ms(), app.alerting.settings)
    assert [e.alert.rule for e in unguarded.events] == [rules.PROBE_DOWN]

    await app.start(schedule=False)  # the gap is written and told here
    try:
        await app.evaluate_now()  # report and rules at once, before any new probe
        await app.run_once("web-home")
        await app.evaluate_now()
        await app.alerting.tick()
        incidents = app.alerting.incidents.find()
        report = app.state.slo_report
    finally:
        await app.stop()

    assert [i.rule for i in incidents] == [MONITORING_GAP]
    [gap] = incidents
    assert (gap.service, gap.source, gap.state) == ("slaguard", "self", "resolved")
    assert (gap.opened_ms, gap.restored_ms) == (last, gap.resolved_ms)
    [page] = pages  # told once, to the P4 channel
    data = page["data"]
    assert page["type"] == "incident.restored" and data["service"] == "slaguard"
    assert data["rule"] == MONITORING_GAP and data["incident_id"] == gap.public_id
    assert "monitoring gap" in data["title"] and "not downtime" in data["summary"]
    assert data["url"] == f"https://slaguard.example.com/api/v1/incidents/{gap.public_id}"
    [core] = report.services
    a = core.availability
    assert a.downtime_seconds == 0  # the hour is a gap (unknown), not an outage
    assert a.gap_seconds >= min(3000, a.elapsed_seconds - 60)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(m.startswith("slaguard was not running from") for m in warned) == 1
    # Probing and recording say nothing at INFO: one line per incident event, not per probe.
    quiet = ("probes", "apscheduler", "slaguard.scheduler", "slaguard.pipeline",
             "slaguard.workers", "slaguard.store")
    chatty = [r.getMessage() for r in caplog.records
              if r.levelno == logging.INFO and r.name.startswith(quiet)]
    assert chatty == []


async def test_a_second_restart_right_after_tells_nothing_more(
        tmp_path: Path, servers: tuple[str, list[dict[str, Any]]]) -> None:
    base, pages = servers
    cfg = config(tmp_path, base)
    await first_life(cfg, Shifted(HOUR))
    for _ in range(2):  # a crash loop: started twice, nothing probed in between
        app = App(cfg, serve_http=False)
        await app.start(schedule=False)
        await app.evaluate_now()
        await app.alerting.tick()
        await app.stop()
    assert len(pages) == 1 and pages[0]["data"]["rule"] == MONITORING_GAP
