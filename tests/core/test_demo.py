"""`slaguard demo` end to end: simulated platform, three locations, scripted faults."""

from __future__ import annotations

import aiohttp
import pytest

from demo.platform import LOCATIONS
from slaguard.cli.demo import run_demo
from slaguard.domain import ErrorClass, Outcome
from tests.conftest import free_port


async def test_demo_shows_the_scripted_outage_from_every_location(
        tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    seen: dict[str, object] = {}

    async def inspect(app: object) -> None:
        seen["app"] = app

    # 30× speed: the 420 s fault cycle takes 14 s, probes run every second.
    await run_demo(port=port, data_dir=tmp_path / "demo", duration_s=6.5, speed=30,  # type: ignore[operator]
                   on_ready=inspect)
    out = capsys.readouterr().out
    assert f"metrics       http://127.0.0.1:{port}/metrics" in out
    assert "core-outage" in out and "[t=" in out

    from slaguard.store import SQLiteStore

    store = SQLiteStore(tmp_path / "demo" / "slaguard-demo.db")  # type: ignore[operator]
    try:
        results = store.results()
    finally:
        store.close()
    web = [r for r in results if r.target == "web-home"]
    assert {r.location for r in web} == set(LOCATIONS)
    outage = [r for r in web if r.outcome is Outcome.FAILURE]
    assert outage and all(r.error and r.error.cls is ErrorClass.HTTP_STATUS for r in outage)
    assert {r.location for r in outage} == set(LOCATIONS)  # everyone sees the core outage
    assert any(r.outcome is Outcome.SUCCESS for r in web)
    regional = [r for r in results if r.target == "storage-read"
                and r.outcome is Outcome.FAILURE]
    assert {r.location for r in regional} <= {"shenzhen"}
    fresh = [r for r in results if r.target == "backup-freshness"]
    assert fresh and fresh[0].recovery_point_ms is not None


async def test_demo_serves_metrics_while_running(tmp_path: pytest.TempPathFactory) -> None:
    port = free_port()
    body: dict[str, str] = {}

    async def scrape(app: object) -> None:
        import asyncio

        await asyncio.sleep(2.5)
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
            body["metrics"] = await r.text()

    await run_demo(port=port, data_dir=tmp_path / "demo", duration_s=0.1, speed=30,  # type: ignore[operator]
                   on_ready=scrape)
    text = body["metrics"]
    for loc in LOCATIONS:
        assert f'location="{loc}",service="core",target="web-home"' in text
    assert "slaguard_probe_duration_seconds_bucket" in text
