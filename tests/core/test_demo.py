"""`slaguard demo` end to end: simulated platform, three locations, scripted faults."""

from __future__ import annotations

import re

import aiohttp
import pytest

from demo.platform import LOCATIONS
from slaguard.cli.demo import run_demo
from slaguard.domain import ErrorClass, Outcome


async def test_demo_shows_the_scripted_outage_from_every_location(
        tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, object] = {}

    async def inspect(app: object) -> None:
        seen["app"], seen["url"] = app, app.url  # type: ignore[attr-defined]

    # 30× speed: the 420 s fault cycle takes 14 s, probes run every second.
    # Port 0: the kernel's choice, no race with the probes' own ephemeral ports.
    await run_demo(port=0, data_dir=tmp_path / "demo", duration_s=6.5, speed=30,  # type: ignore[operator]
                   on_ready=inspect)
    out = capsys.readouterr().out
    assert f"metrics       {seen['url']}/metrics" in out
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
    body: dict[str, str] = {}

    async def scrape(app: object) -> None:
        import asyncio

        await asyncio.sleep(2.5)
        url = app.url  # type: ignore[attr-defined]
        staff = app.cfg.server.api_token  # type: ignore[attr-defined]
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}/metrics") as r:  # not public
                body["anonymous"] = str(r.status)
            async with s.get(f"{url}/metrics", headers={"Authorization": f"Bearer {staff}"}
                             ) as r:  # the staff token the banner prints
                body["metrics"] = await r.text()

    await run_demo(port=0, data_dir=tmp_path / "demo", duration_s=0.1, speed=30,  # type: ignore[operator]
                   on_ready=scrape)
    text = body["metrics"]
    assert body["anonymous"] == "401"
    for loc in LOCATIONS:
        assert f'location="{loc}",service="core",target="web-home"' in text
    assert "slaguard_probe_duration_seconds_bucket" in text


async def test_demo_prints_where_to_look_and_its_portal_can_be_signed_into(
        tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, int] = {}
    urls: list[str] = []

    async def sign_in(app: object) -> None:
        token = app.cfg.customers[0].token  # type: ignore[attr-defined]
        urls.append(url := app.url)  # type: ignore[attr-defined]
        # unsafe: aiohttp's jar keeps no cookie of an IP address otherwise
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.post(f"{url}/portal/login", data={"token": token},
                              allow_redirects=False) as r:
                seen["login"] = r.status
            async with s.get(f"{url}/portal") as r:
                seen["portal"] = r.status

    await run_demo(port=0, data_dir=tmp_path / "demo", duration_s=0.1, speed=30,  # type: ignore[operator]
                   on_ready=sign_in)
    out = capsys.readouterr().out
    [url] = urls
    staff = re.search(r"staff token   (\S+)", out)
    customer = re.search(r"portal        \S+/portal   sign in as customer 'demo' with token (\S+)",
                         out)
    assert staff and customer and staff.group(1) != customer.group(1)
    for line in (f"status page   {url}/status", f"metrics       {url}/metrics",
                 f"SLO report    {url}/api/v1/slo", "slaguard incidents ack INC-n"):
        assert line in out
    assert "incidents:" in out  # the ten-second lines list open incidents
    assert seen == {"login": 303, "portal": 200}


async def test_a_scripted_fault_recovers_and_its_incident_is_restored_and_resolved(
        tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    """At 30× the core outage runs 2 s–5 s of each 14 s cycle; restore_after is 1 s
    and auto_resolve_after 2 s, so by about 9 s its incident has been opened, restored
    (after the last failure) and resolved.  The demo runs 15 s: slack for a busy 2-core
    machine (11 s once fell short in CI), and still before the next cycle's outage at
    16 s could re-open it."""
    apps: list[object] = []

    async def keep(app: object) -> None:
        apps.append(app)

    await run_demo(port=0, data_dir=tmp_path / "demo", duration_s=15, speed=30,  # type: ignore[operator]
                   on_ready=keep)
    out = capsys.readouterr().out
    assert re.search(r"P\d INC-\d+ .*open \d+s", out), out  # an open incident with its clock
    from alerting.store import AlertingStore

    records = AlertingStore(tmp_path / "demo" / "slaguard-demo.db")  # type: ignore[operator]
    try:
        core = [i for i in records.recent_incidents(50) if i.service == "core"]
    finally:
        records.close()
    assert core, "the core outage opened no incident"
    done = [i for i in core if i.restored_ms is not None and i.resolved_ms is not None]
    assert done, [(i.public_id, i.state) for i in core]
    assert all(i.opened_ms <= i.restored_ms <= i.resolved_ms for i in done)  # type: ignore[operator]
