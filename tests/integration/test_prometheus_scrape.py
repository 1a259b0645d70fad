"""A real Prometheus scrapes slaguard's /metrics while slaguard probes real targets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from exporters.scrape_config import scrape_job
from slaguard.app import App
from slaguard.config import Config, parse_config
from tests.conftest import free_port, serve_local
from tests.integration.servers import prometheus


async def start_target() -> tuple[web.AppRunner, int]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="AI标书 ok")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    return await serve_local(app)


def _config(tmp_path: Path, tport: int, server: dict[str, str]) -> Config:
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "s.db")},
        "server": server, "location": "shanghai",
        "services": {"core": {"availability": "99.9%"}, "storage": {"availability": "99.99%"}},
        "targets": [
            {"name": "web-home", "service": "core", "kind": "http",
             "url": f"http://127.0.0.1:{tport}/ok", "interval": "1s", "timeout": "500ms"},
            {"name": "storage-read", "service": "storage", "kind": "http",
             "url": f"http://127.0.0.1:{tport}/broken", "interval": "1s", "timeout": "500ms"},
        ]}, env={})
    return cfg


async def test_prometheus_scrapes_probe_success_for_each_target(tmp_path: Path) -> None:
    """Prometheus runs the scrape job `slaguard rules` writes, bearer token and all: the
    same /metrics answers an anonymous client 401."""
    target_runner, tport = await start_target()
    port = free_port()
    cfg = _config(tmp_path, tport, {"listen": f"127.0.0.1:{port}",
                                    "metrics_token": "scrape-secret"})
    job = scrape_job(cfg)["scrape_configs"]
    assert job[0]["authorization"] == {"type": "Bearer", "credentials": "scrape-secret"}
    app = App(cfg)
    await app.start()
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/metrics") as anonymous:
            assert anonymous.status == 401

        def scrape() -> tuple[dict[str, dict[str, object]], list[dict[str, Any]]]:
            with prometheus(tmp_path, [], jobs=job) as prom:
                got = prom.wait_for("probe_success", min_series=2)
                slo = prom.wait_for("slaguard_slo_objective_ratio", min_series=2)
                return {r["metric"]["target"]: r for r in got}, slo

        series, slo = await asyncio.to_thread(scrape)
    finally:
        await app.stop()
        await target_runner.cleanup()
    assert set(series) == {"web-home", "storage-read"}
    web_home = series["web-home"]
    assert web_home["metric"]["service"] == "core"  # type: ignore[index]
    assert web_home["metric"]["location"] == "shanghai"  # type: ignore[index]
    assert web_home["metric"]["kind"] == "http"  # type: ignore[index]
    assert web_home["value"][1] == "1"  # type: ignore[index]
    assert series["storage-read"]["value"][1] == "0"  # type: ignore[index]
    objectives = {r["metric"]["service"]: r["value"][1] for r in slo}
    assert objectives == {"core": "0.999", "storage": "0.9999"}


async def test_prometheus_scrapes_the_internal_listener_without_a_token(
        tmp_path: Path) -> None:
    """With server.internal_listen the job scrapes it, no token; the public listener keeps
    /metrics behind its role, and the internal one serves nothing but /metrics and
    /healthz."""
    target_runner, tport = await start_target()
    port, internal = free_port(), free_port()
    cfg = _config(tmp_path, tport, {"listen": f"127.0.0.1:{port}",
                                    "internal_listen": f"127.0.0.1:{internal}"})
    job = scrape_job(cfg)["scrape_configs"]
    assert "authorization" not in job[0]
    assert job[0]["static_configs"] == [{"targets": [f"127.0.0.1:{internal}"]}]
    app = App(cfg)
    await app.start()
    try:
        assert app.internal_url == f"http://127.0.0.1:{internal}"
        async with aiohttp.ClientSession() as http:
            for url, status in ((f"http://127.0.0.1:{port}/metrics", 403),  # no token has it
                                (f"http://127.0.0.1:{internal}/healthz", 200),
                                (f"http://127.0.0.1:{internal}/api/v1/incidents", 404),
                                (f"http://127.0.0.1:{internal}/status", 404)):
                async with http.get(url) as resp:
                    assert resp.status == status, url

        def scrape() -> list[dict[str, Any]]:
            with prometheus(tmp_path, [], jobs=job) as prom:
                return prom.wait_for("probe_success", min_series=2)

        assert len(await asyncio.to_thread(scrape)) == 2
    finally:
        await app.stop()
        await target_runner.cleanup()
