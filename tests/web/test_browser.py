"""The status page and the portal in headless Chromium (Debian's, through Playwright), on
the running demo: the scripted core outage (cycle 60–150 s, 30× speed) must show as an
outage with an open P1 incident, in words and not only in colour; a customer signs in and
opens its statement.  A full-page screenshot is written to the test's tmp dir (path printed).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from compensation import portal
from demo.config import demo_config
from demo.platform import CYCLE_S, LOCATIONS, Platform, start_platform
from slaguard.app import App
from slaguard.config import Config
from slaguard.server import serve
from slo.periods import from_ms, month_containing
from tests.conftest import REQUIRE_INTEGRATION, free_port, require_binary

SPEED = 30  # probes every second; the outage is confirmed by cycle 120 s (4 s in)
TOKEN = "demo-portal-4f1e9c2a7b"
# Debian's Chromium, headless, quiet: no network of its own, no first-run work.  Playwright
# gives every launch a fresh temporary profile (it refuses --user-data-dir here).
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]


def chromium() -> str:
    path = require_binary("chromium")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        if REQUIRE_INTEGRATION:
            pytest.fail("SLAGUARD_REQUIRE_INTEGRATION=1 but the playwright package is missing")
        pytest.skip("the playwright Python package is not installed")
    return path


def with_token(cfg: Config) -> Config:
    return cfg.model_copy(update={
        "customers": [c.model_copy(update={"token": TOKEN}) for c in cfg.customers]})


async def open_during_outage(app: App, platform: Platform, page: Any, base: str) -> None:
    """Evaluate inside the outage window (as the SLO job would) and load the page; the
    window is 0.5 s of real time, so try the next cycles if the page missed it."""
    for _ in range(3):
        while not 120 <= platform.t() % CYCLE_S < 135:
            await asyncio.sleep(0.02)
        await app.evaluate_now()
        await page.goto(base + "/")
        if "服务中断" in await page.locator("#service-core .badge").inner_text():
            return
    raise AssertionError("the core service never showed as an outage")


async def check_status_page(app: App, page: Any, base: str) -> None:
    from playwright.async_api import expect

    assert page.url == base + "/status"
    await expect(page.get_by_role("heading", level=1)).to_have_text("服务状态 Service status")
    await expect(page.get_by_role("status")).to_contain_text("服务中断 Service outage")
    await expect(page.locator("#service-core .badge")).to_have_text("服务中断 Outage")
    incidents = page.locator("section[aria-labelledby=h-incidents] li.incident")
    p1 = incidents.filter(has_text="P1 紧急问题 (Critical)")
    await expect(p1).to_contain_text("核心服务 / Core service：服务中断（已确认）")
    opened = next(i for i in app.alerting.store.recent_incidents(20)
                  if i.service == "core" and i.is_open and i.priority.value == "P1")
    local = from_ms(opened.opened_ms, app.cfg.timezone).strftime("%Y-%m-%d %H:%M")
    await expect(p1.locator("time")).to_have_text(local)
    today = page.locator("#service-core li.day").last
    label = await today.get_attribute("aria-label") or ""
    assert re.match(r"\d{4}-\d{2}-\d{2}：服务中断 Outage，可用性 availability \d+\.\d{3} %，"
                    r"停机 downtime [\d.]+ 分钟 / min", label), label
    assert await page.locator("#service-core li.day").count() == 90


async def check_keyboard_and_tooltip(page: Any) -> None:
    from playwright.async_api import expect

    cells = page.locator("#service-core li.day")
    await cells.nth(89).focus()
    await page.keyboard.press("ArrowLeft")
    await expect(cells.nth(88)).to_be_focused()
    await expect(cells.nth(88).locator(".tip")).to_be_visible()
    await page.keyboard.press("End")
    await expect(cells.nth(89).locator(".tip")).to_be_visible()


async def check_portal(page: Any, context: Any, base: str, month: str) -> None:
    from playwright.async_api import expect

    await page.goto(base + "/portal")
    await page.get_by_label(re.compile("访问令牌")).fill(TOKEN)
    await page.get_by_role("button", name=re.compile("登录")).click()
    await expect(page.get_by_role("heading", name=re.compile("服务补偿对账单"))).to_be_visible()
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies[portal.COOKIE]["httpOnly"] and TOKEN not in cookies[portal.COOKIE]["value"]
    await page.get_by_role("link", name=f"{month} HTML").click()
    await expect(page.locator("body")).to_contain_text("演示建设集团 / Demo Construction Group")
    resp = await page.goto(f"{base}/portal/statements/someone-else/{month}.html")
    assert resp is not None and resp.status == 403


async def test_status_page_and_portal_in_chromium(tmp_path: Path) -> None:
    exe = chromium()
    from playwright.async_api import async_playwright

    platform, platform_runner, url = await start_platform(SPEED)
    (tmp_path / "data").mkdir()
    cfg = with_token(demo_config(url, free_port(), tmp_path / "data", SPEED))
    app = App(cfg, locations=list(LOCATIONS), source_addresses=LOCATIONS, serve_http=False)
    await app.start()
    runner = await serve(app.web_app(), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    shot = tmp_path / "status-page.png"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=exe, args=LAUNCH_ARGS)
            context = await browser.new_context(timezone_id="Asia/Shanghai", locale="zh-CN",
                                                viewport={"width": 1100, "height": 900})
            page = await context.new_page()
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            await open_during_outage(app, platform, page, base)
            await check_status_page(app, page, base)
            await check_keyboard_and_tooltip(page)
            await page.screenshot(path=str(shot), full_page=True)
            print(f"status page screenshot: {shot}")
            assert requested and all(u.startswith(base) for u in requested), requested
            month = month_containing(app.state.slo_report.now_ms, cfg.timezone).label
            await check_portal(page, context, base, month)
            await page.goto(base + "/portal")
            await page.screenshot(path=str(tmp_path / "portal.png"), full_page=True)
            print(f"portal screenshot: {tmp_path / 'portal.png'}")
            await browser.close()
    finally:
        await runner.cleanup()
        await app.stop()
        await platform_runner.cleanup()
    assert shot.stat().st_size > 10_000
