"""End to end once: real Prometheus evaluates slaguard's exported rules on its /metrics,
real Alertmanager delivers to slaguard's inbound webhook, an incident opens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from alerting.amconfig import RouteTiming, render_alertmanager
from alerting.promrules import RuleOptions, render_rules
from exporters.scrape_config import scrape_job
from slaguard.app import App
from slaguard.config import parse_config
from tests.conftest import free_port, require_binary, serve_local
from tests.integration.servers import process, prometheus

TOKEN = "e2e-token"
FAST = RouteTiming(timedelta(seconds=1), timedelta(seconds=5), timedelta(minutes=5))


async def broken_target() -> tuple[web.AppRunner, int]:
    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/", down)
    return await serve_local(app)


async def test_prometheus_rule_pages_through_alertmanager_into_an_incident(
        tmp_path: Path) -> None:
    am_binary = require_binary("prometheus-alertmanager", "alertmanager")
    require_binary("prometheus")
    target, t_port = await broken_target()
    port, am_port = free_port(), free_port()
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "s.db")},
        "server": {"listen": f"127.0.0.1:{port}", "api_token": TOKEN,
                   "metrics_token": "e2e-scrape-token"},
        "location": "shanghai",
        # slaguard's own rules stay quiet here (first run before any data): the
        # incident must come through Prometheus and Alertmanager.
        "scheduling": {"evaluate_every": "1h"},
        "services": {"core": {"title": "核心服务 / Core", "availability": "99.9%"}},
        "targets": [{"name": "web-home", "service": "core", "kind": "http",
                     "url": f"http://127.0.0.1:{t_port}/", "interval": "1s",
                     "timeout": "500ms"}],
        "incidents": {"priorities": {"P1": {"respond": "15m", "restore": "4h"}}},
    }, env={})
    rules = tmp_path / "slaguard-rules.yml"
    # The exported rules as `slaguard rules` writes them, on a 1 s evaluation step
    # so the test takes seconds, not minutes.
    rules.write_text(render_rules(cfg, RuleOptions(evaluation_interval=timedelta(seconds=1))),
                     encoding="utf-8")
    am_conf = tmp_path / "alertmanager.yml"
    am_conf.write_text(render_alertmanager(cfg, timings={p: FAST for p in
                                                         ("P1", "P2", "P3", "P4")}),
                       encoding="utf-8")
    app = App(cfg)
    await app.start()
    try:
        with contextlib.ExitStack() as stack:
            await asyncio.to_thread(stack.enter_context, process(
                [am_binary, f"--config.file={am_conf}", f"--storage.path={tmp_path / 'am'}",
                 f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                f"http://127.0.0.1:{am_port}/-/ready", tmp_path / "am.log"))
            await asyncio.to_thread(stack.enter_context, prometheus(
                tmp_path, [], rule_files=[rules], alertmanager=f"127.0.0.1:{am_port}",
                jobs=scrape_job(cfg)["scrape_configs"]))  # as `slaguard rules` writes it
            deadline = time.monotonic() + 60
            incidents = []
            while time.monotonic() < deadline and not incidents:
                await asyncio.sleep(0.5)
                incidents = [i for i in app.alerting.store.recent_incidents(10)
                             if i.source == "alertmanager"]
            stack.close()
    finally:
        await app.stop()
        await target.cleanup()
    assert incidents, "no incident arrived through Alertmanager within 60 s"
    (incident,) = incidents
    assert incident.service == "core" and incident.priority.value == "P1"
    assert incident.labels.get("alertname") == "SlaguardServiceDown"
