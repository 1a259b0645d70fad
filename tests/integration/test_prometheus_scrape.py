"""A real Prometheus scrapes slaguard's /metrics while slaguard probes real targets."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from slaguard.app import App
from slaguard.config import parse_config
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


async def test_prometheus_scrapes_probe_success_for_each_target(tmp_path: Path) -> None:
    target_runner, tport = await start_target()
    port = free_port()
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "s.db")},
        "server": {"listen": f"127.0.0.1:{port}"}, "location": "shanghai",
        "services": {"core": {"availability": "99.9%"}, "storage": {"availability": "99.99%"}},
        "targets": [
            {"name": "web-home", "service": "core", "kind": "http",
             "url": f"http://127.0.0.1:{tport}/ok", "interval": "1s", "timeout": "500ms"},
            {"name": "storage-read", "service": "storage", "kind": "http",
             "url": f"http://127.0.0.1:{tport}/broken", "interval": "1s", "timeout": "500ms"},
        ]}, env={})
    app = App(cfg)
    await app.start()
    try:
        def scrape() -> dict[str, dict[str, object]]:
            with prometheus(tmp_path, [f"127.0.0.1:{port}"]) as prom:
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
