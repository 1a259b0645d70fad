"""The status page in headless Chromium on the scripted record at 10-17 10:03 (the core
outage): usable at 375 px, refreshing itself in place from /api/v1/status, its script
rendering what the server renders, its icon served.  Screenshots go to the test's tmp dir
(paths printed)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerting.notification import Priority
from alerting.store import AlertingStore
from slaguard.state import LiveState
from slaguard.statuspage import StatusPage, register_routes
from slaguard.store import SQLiteStore

from . import scenario as sc
from .browser import PHONE, assert_no_horizontal_overflow, browser, new_page, served

NOW = sc.at(17, 10, 3)


@dataclass
class Clock:
    now: int

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    page: StatusPage
    clock: Clock
    alerting: AlertingStore

    def app(self) -> web.Application:
        app = web.Application()
        register_routes(app, self.page)
        return app


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("status-browser") / "template.db"
    sc.store(sc.config(db)).close()
    return db


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[World]:
    db = tmp_path / "s.db"
    shutil.copyfile(template, db)
    cfg = sc.config(db)
    store, alerting = SQLiteStore(db), AlertingStore(db)
    sc.record_incidents(alerting)
    ev = sc.evaluator(cfg, store, alerting.maintenance_windows())
    state = LiveState()
    state.observe(list(sc.results(sc.START, NOW + 1)))
    state.slo_report = ev.current(NOW)
    clock = Clock(NOW)
    yield World(StatusPage(ev, state, alerting, now_ms=clock), clock, alerting)
    alerting.close()
    store.close()


async def test_usable_at_375_px_without_sideways_scrolling(world: World, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with served(world.app()) as base, browser() as b:
        page = await new_page(b, PHONE)
        await page.goto(base + "/status")
        await expect(page.get_by_role("heading", level=1)).to_have_text("服务状态 Service status")
        await assert_no_horizontal_overflow(page)
        # a day's tooltip, shown on focus, stays on the screen too (the first and last cells)
        for cell in (page.locator("#service-core li.day").first,
                     page.locator("#service-core li.day").last):
            await cell.focus()
            await expect(cell.locator(".tip")).to_be_visible()
            await assert_no_horizontal_overflow(page)
        for details in await page.locator("details.notable").all():
            await details.locator("summary").click()
        await assert_no_horizontal_overflow(page)
        shot = tmp_path / "status-375.png"
        await page.screenshot(path=str(shot), full_page=True)
        print(f"status page at 375 px: {shot}")
    assert shot.stat().st_size > 10_000


async def test_figures_share_one_stated_basis_and_incidents_show_their_timelines(
        world: World, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with served(world.app()) as base, browser() as b:
        page = await new_page(b)
        await page.goto(base + "/status")
        core = page.locator("#service-core")
        await expect(core.locator(".fig-month strong")).to_have_text("99.688 %")
        await expect(core.locator(".fig-uptime strong")).to_have_text("99.688 %")
        await expect(core.locator(".since")).to_have_text(
            "监测始于 monitored since 2025-10-16 18:00")
        await expect(page.locator("p.basis")).to_contain_text("都只统计开始监测")
        await expect(page.locator("p.basis")).to_contain_text(
            "both count only the time since monitoring began")
        history = page.locator("#history-body")
        await expect(history.get_by_role("heading", level=3)).to_have_text(
            ["2025-10-16", "2025-09-20"])
        inc4 = history.locator("li.incident").filter(has_text="昨日 API 超时")
        await expect(inc4.locator("li.event")).to_have_text([
            re.compile(r"^发生 Opened 2025-10-16 20:00$"),
            re.compile(r"^已响应 Acknowledged 2025-10-16 20:04 发生后 4 分钟 / after 4 min$"),
            re.compile(r"^已恢复 Restored 2025-10-16 20:40 发生后 40 分钟 / after 40 min$"),
            re.compile(r"^已解决 Resolved 2025-10-16 21:00 发生后 1 小时 / after 1 h$")])
        await expect(inc4.locator(".duration")).to_have_text("持续 Lasted 1 小时 / 1 h")
        await expect(inc4.locator("time").first).to_have_attribute(
            "title", "2025-10-16 12:00 UTC")
        await page.screenshot(path=str(tmp_path / "status-1100.png"), full_page=True)
        print(f"status page at 1100 px: {tmp_path / 'status-1100.png'}")


async def snapshot(page: Any) -> dict[str, Any]:
    """What a reader (and a screen reader) gets from the main content."""
    result: dict[str, Any] = await page.evaluate("""() => ({
        text: document.querySelector('main').innerText.replace(/\\s+/g, ' ').trim(),
        labels: Array.from(document.querySelectorAll('main [aria-label]'))
          .map(e => e.getAttribute('aria-label')),
        classes: Array.from(document.querySelectorAll('main li, main section, main .badge'))
          .map(e => e.className),
        titles: Array.from(document.querySelectorAll('main time'))
          .map(e => e.getAttribute('datetime') + ' ' + e.getAttribute('title'))})""")
    return result


async def refreshed(page: Any, base: str) -> None:
    """Let the page's 30 s timer fire (the page's clock is Playwright's) and wait for the
    fetch it starts."""
    async with page.expect_response(base + "/api/v1/status"):
        await page.clock.run_for(30_500)
    await page.wait_for_timeout(100)  # the response's handlers run after it arrives


async def test_the_script_renders_what_the_server_renders(world: World) -> None:
    async with served(world.app()) as base, browser() as b:
        page = await new_page(b)
        await page.clock.install()
        await page.goto(base + "/status")
        before = await snapshot(page)
        await refreshed(page, base)  # the same data, rendered again by status.js
        after = await snapshot(page)
        # (the server's markup has whitespace between elements, the script's has none:
        # every list was indeed rebuilt)
        assert await page.evaluate("""() => ['incidents-body', 'maintenance-body',
            'history-body'].every(id => Array.from(document.getElementById(id).childNodes)
            .every(n => n.nodeType !== Node.TEXT_NODE))""")
        assert after["text"] == before["text"]
        assert after["labels"] == before["labels"]
        assert after["classes"] == before["classes"]
        assert after["titles"] == before["titles"]
        assert len(before["labels"]) >= 180


async def test_the_page_refreshes_itself_in_place(world: World, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with served(world.app()) as base, browser() as b:
        page = await new_page(b)
        await page.clock.install()
        navigations: list[str] = []
        page.on("framenavigated", lambda f: navigations.append(f.url))
        await page.goto(base + "/status")
        await expect(page.locator("#refresh-note")).to_have_text(
            " · 每 30 秒自动更新 updates itself every 30 s")
        await expect(page.locator("#updated")).to_have_text("2025-10-17 10:03")
        await page.evaluate("window.__stillHere = true")
        await page.locator("#service-core li.day").last.focus()
        # The world moves on: ten minutes later a new P2 is open, the P1 acknowledged.
        with world.alerting.transaction() as tx:
            tx.insert_incident(sc.incident("storage", Priority.P2,
                                           "数据存储 / Data storage：写入失败", sc.at(17, 10, 10)))
            tx.update_incident(1, sc.at(17, 10, 5), responded_ms=sc.at(17, 10, 5))
        world.clock.now = later = sc.at(17, 10, 13)
        world.page.state.observe(list(sc.results(NOW + 1, later + 1)))
        world.page.state.slo_report = world.page.evaluator.current(later)  # the outage is over
        await page.clock.run_for(20_000)  # before the 30 s are up, nothing is fetched
        await expect(page.locator("#updated")).to_have_text("2025-10-17 10:03")
        await refreshed(page, base)
        await expect(page.locator("#updated")).to_have_text("2025-10-17 10:13")
        doc = await (await page.request.get(base + "/api/v1/status")).json()
        assert doc["state"] != "outage"
        banner = page.get_by_role("status")
        await expect(banner).to_have_class(f"banner state--{doc['state']}")
        await expect(banner).not_to_contain_text("服务中断")
        await expect(page.locator("#service-core .badge")).to_have_class(
            f"badge state--{doc['services'][0]['state']}")
        incidents = page.locator("#incidents-body li.incident")
        await expect(incidents).to_have_count(3)
        await expect(incidents.filter(has_text="写入失败")).to_contain_text("P2")
        p1 = incidents.filter(has_text="P1")
        await expect(p1.locator(".istate")).to_have_text("处理中 Identified")
        await expect(p1.locator("li.event")).to_have_count(2)
        await expect(p1.locator(".duration")).to_have_text("已持续 Ongoing for 12 分钟 / 12 min")
        today = await page.locator("#service-core li.day").last.get_attribute("aria-label")
        assert today is not None and "停机 downtime 5 分钟 / min" in today, today
        assert await page.evaluate("window.__stillHere === true")  # no reload
        assert navigations == [base + "/status"]
        await expect(page.locator("#service-core li.day").last).to_be_focused()  # focus kept
        await expect(page.locator("#refresh-error")).to_be_hidden()
        await page.screenshot(path=str(tmp_path / "status-refreshed.png"), full_page=True)


async def test_a_failed_refresh_says_so_and_the_next_one_recovers(world: World) -> None:
    from playwright.async_api import expect

    async with served(world.app()) as base, browser() as b:
        page = await new_page(b)
        await page.clock.install()
        await page.goto(base + "/status")
        await page.route(base + "/api/v1/status", lambda route: route.abort())
        await page.clock.run_for(30_500)
        await expect(page.get_by_role("alert")).to_have_text(
            "暂时无法更新，显示的是上次更新的数据。 "
            "Could not update; showing the last data received.")
        await page.unroute(base + "/api/v1/status")
        world.clock.now = sc.at(17, 10, 4)
        await refreshed(page, base)
        await expect(page.locator("#refresh-error")).to_be_hidden()
        await expect(page.locator("#updated")).to_have_text("2025-10-17 10:04")


async def test_the_page_has_an_icon(world: World) -> None:
    async with served(world.app()) as base, browser() as b:
        page = await new_page(b)
        await page.goto(base + "/status")
        hrefs = await page.eval_on_selector_all("link[rel=icon]", "ls => ls.map(l => l.href)")
        assert hrefs == [base + "/favicon.ico", base + "/static/favicon.svg"]
        for href, kind in zip(hrefs, ("image/x-icon", "image/svg+xml"), strict=True):
            resp = await page.request.get(href)
            assert (resp.status, resp.headers["content-type"]) == (200, kind), href
        ico = await (await page.request.get(hrefs[0])).body()
        assert ico[:4] == b"\x00\x00\x01\x00"  # an ICO directory
