"""slaguard watching itself, with the real parts: a real Prometheus scrapes a running
slaguard and evaluates the generated rules, a real Alertmanager runs the generated
configuration.

* The always-firing Watchdog reaches the heartbeat receiver (``heartbeat.watchdog_url``,
  here a local aiohttp server standing in for a healthchecks-style check).
* A probe worker killed three times fires SlaguardWorkerRestarting in Prometheus; it
  comes back through Alertmanager to slaguard's webhook and joins the incident that
  slaguard's own ``worker_restarting`` rule opens: one incident, two engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerting.amconfig import RouteTiming, render_alertmanager
from alerting.promrules import RuleOptions, render_rules
from exporters.scrape_config import scrape_job
from slaguard.app import App
from slaguard.config import parse_config
from tests.conftest import free_port, require_binary, serve_local
from tests.integration.servers import Prometheus, get_json, process

TOKEN = "self-token"
FAST = RouteTiming(timedelta(seconds=1), timedelta(seconds=5), timedelta(minutes=5))


async def _until(check: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    return found


async def _heartbeat_receiver(posts: list[dict[str, Any]]) -> tuple[web.AppRunner, int]:
    async def watchdog(request: web.Request) -> web.Response:
        posts.append(json.loads(await request.text()))
        return web.Response(text="OK")

    async def ok(_r: web.Request) -> web.Response:
        return web.Response(text="up")

    app = web.Application()
    app.router.add_post("/watchdog", watchdog)
    app.router.add_get("/", ok)
    return await serve_local(app)


@contextlib.contextmanager
def _prometheus(tmp: Path, rules: Path, alertmanager: str, jobs: list[dict[str, Any]]
                ) -> Iterator[Prometheus]:
    """As ``tests.integration.servers.prometheus``, resending firing alerts every 2 s
    (default 1m): an alert firing at the first evaluation, like the Watchdog, is sent
    before Prometheus has discovered the Alertmanager, and would next be sent a minute
    later."""
    port = free_port()
    conf = tmp / "prometheus.yml"
    conf.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": jobs, "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
    }), encoding="utf-8")
    argv = [require_binary("prometheus"), f"--config.file={conf}",
            f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=2s"]
    with process(argv, f"http://127.0.0.1:{port}/-/ready", tmp / "prometheus.log"):
        yield Prometheus(f"http://127.0.0.1:{port}")


def _firing(prom: Prometheus, alertname: str) -> list[dict[str, Any]]:
    return prom.query(f'ALERTS{{alertname="{alertname}", alertstate="firing"}}')


@pytest.mark.integration
async def test_the_watchdog_and_a_self_alert_fire_in_real_prometheus(tmp_path: Path) -> None:
    am_binary = require_binary("prometheus-alertmanager", "alertmanager")
    require_binary("prometheus")
    posts: list[dict[str, Any]] = []
    receiver, r_port = await _heartbeat_receiver(posts)
    port, am_port = free_port(), free_port()
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "s.db")},
        "server": {"listen": f"127.0.0.1:{port}", "api_token": TOKEN,
                   "metrics_token": "self-scrape-token"},
        "location": "sh",
        "scheduling": {"workers": 1, "evaluate_every": "2s"},
        "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "web", "service": "core", "kind": "http",
                     "url": f"http://127.0.0.1:{r_port}/", "interval": "1s",
                     "timeout": "500ms"}],
        "heartbeat": {"watchdog_url": f"http://127.0.0.1:{r_port}/watchdog"},
    }, env={})
    rules = tmp_path / "slaguard-rules.yml"
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
            prom = await asyncio.to_thread(stack.enter_context, _prometheus(
                tmp_path, rules, f"127.0.0.1:{am_port}", scrape_job(cfg)["scrape_configs"]))

            # The dead man's switch: Prometheus fires it, Alertmanager delivers it.
            assert await _until(lambda: posts, 30), (
                "no Watchdog at the heartbeat receiver; Prometheus: "
                f"{prom.query('ALERTS')}; Alertmanager: "
                f"{get_json(f'http://127.0.0.1:{am_port}/api/v2/alerts')}")
            (alert,) = posts[0]["alerts"]
            assert alert["labels"] == {"alertname": "Watchdog", "severity": "none"}
            assert posts[0]["receiver"] == "heartbeat"
            assert _firing(prom, "Watchdog")

            # A worker restarting in a loop: each new process killed as soon as it is there
            # (ready or still warming up), three times.
            assert app.pool is not None
            pool = app.pool

            def replaced(old: int, n: int) -> Callable[[], bool]:
                return lambda: pool.restarts == n and bool(pool.pids) and pool.pids != [old]

            for n in (1, 2, 3):
                (pid,) = pool.pids
                os.kill(pid, signal.SIGKILL)
                assert await _until(replaced(pid, n), 30), n
            assert await _until(lambda: pool.running == 1, 60), "not back after the crash loop"
            firing = await _until(lambda: _firing(prom, "SlaguardWorkerRestarting"), 30)
            assert firing, "SlaguardWorkerRestarting did not fire"
            assert firing[0]["metric"]["worker"] == "0"
            assert firing[0]["metric"]["rule"] == "worker_restarting"

            def both_sources() -> list[str]:
                with app.alerting.store.reading() as tx:
                    inc = tx.open_incident("slaguard/worker_restarting")
                    return [] if inc is None else tx.sources(inc.id)

            sources = await _until(
                lambda: [s for s in both_sources() if s.startswith("am:")]
                and [s for s in both_sources() if s.startswith("rule:")], 30)
            assert sources, f"not one incident from both engines: {both_sources()}"
            stack.close()
    finally:
        await app.stop()
        await receiver.cleanup()
