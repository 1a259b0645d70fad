"""``kind: browser`` against real Debian Chromium and a real local aiohttp site.

The site's pages delay their load event by a known amount (an image answered after
N ms), so the page-load figure is checked against a number the test controls.
Chromium missing: skipped with the reason (failed under SLAGUARD_REQUIRE_INTEGRATION=1).
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import uvloop
from aiohttp import web

from probes import PROBES
from probes.base import ProbeContext
from probes.browser import BrowserPool, close_browser, deadline_s, run, warm
from slaguard.config.browser import BrowserTarget
from slaguard.domain import ErrorClass, Outcome, ProbeResult
from slaguard.evidence import EvidenceStore
from tests.conftest import serve_local
from tests.web.browser import chromium

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4f10000000049454e44ae426082")
COOKIE_VALUE = "c00kie-SECRET-4711"
AUTH_VALUE = "Bearer auth-SECRET-0815"


@dataclass
class Site:
    url: str
    in_flight: int = 0
    max_in_flight: int = 0
    # Server-side clock (monotonic ns): when /page was asked for, when /img answered.
    page_asked_ns: int = 0
    img_answered_ns: int = 0


def _site_app(site: Site) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        # /page?img=800 : an image answered after 800 ms holds the load event that long
        site.page_asked_ns = time.monotonic_ns()
        ms = request.query.get("img")
        img = f'<img src="/img?ms={ms}" alt="">' if ms else ""
        script = request.query.get("script", "")
        html = (f"<!doctype html><html><head><title>bid</title></head><body>"
                f"<h1 id=\"title\">AI标书 writer</h1><p>ready</p>{img}"
                f"{'<script>' + script + '</script>' if script else ''}</body></html>")
        return web.Response(text=html, content_type="text/html",
                            headers={"Set-Cookie": f"session={COOKIE_VALUE}; Path=/"})

    async def img(request: web.Request) -> web.Response:
        site.in_flight += 1
        site.max_in_flight = max(site.max_in_flight, site.in_flight)
        try:  # answers after ?ms, or stops once the browser has gone (a closed context)
            until_ns = time.monotonic_ns() + int(request.query.get("ms") or 0) * 1_000_000
            while time.monotonic_ns() < until_ns:
                if request.transport is None or request.transport.is_closing():
                    raise asyncio.CancelledError
                await asyncio.sleep(min(0.02, (until_ns - time.monotonic_ns()) / 1e9))
        finally:
            site.in_flight -= 1
        site.img_answered_ns = time.monotonic_ns()
        return web.Response(body=PNG, content_type="image/png")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="down",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/img", img)
    app.router.add_get("/status/{code}", status)
    return app


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    chromium()  # skip (or fail under CI) before serving anything
    if not isinstance(asyncio.get_running_loop(), uvloop.Loop):
        # tests/probes runs every test on both loops; real Chromium runs once, on the
        # loop slaguard's processes run on (Playwright's driver is loop-agnostic).
        pytest.skip("real Chromium runs on uvloop only (slaguard's loop), to keep it fast")
    s = Site("")
    runner, port = await serve_local(_site_app(s))
    s.url = f"http://127.0.0.1:{port}"
    try:
        yield s
    finally:
        await runner.cleanup()


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ProbeContext]:
    c = ProbeContext(location="sh", options={"evidence": EvidenceStore(tmp_path / "evidence")})
    try:
        yield c
    finally:
        await close_browser(c)


def target(url: str, **kw: Any) -> BrowserTarget:
    doc: dict[str, Any] = {"name": "home", "service": "core", "kind": "browser", "url": url,
                           "settle": "0s", **kw}
    return BrowserTarget.model_validate(doc)


def chromium_processes() -> list[psutil.Process]:
    """This process's Chromium descendants (through Playwright's driver)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "chrom" in p.name().lower() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


async def until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def pool(ctx: ProbeContext) -> BrowserPool:
    p: BrowserPool = ctx.options["browser_pool"]
    return p


# -- the figure ------------------------------------------------------------------------


async def test_page_load_is_the_navigation_duration_within_50ms(
        site: Site, ctx: ProbeContext) -> None:
    t = target(f"{site.url}/page?img=800", settle="100ms")
    await warm([t], ctx)  # the browser starts off every clock
    assert pool(ctx).launches == 1
    # The load event waits for the image, answered 800 ms after it was asked for; the
    # page's own parse and render add to it.  The site sees the whole span, from the
    # document asked for to the image answered: the figure is that span within 50 ms
    # (not TTFB, not DOMContentLoaded).  A busy 2-core CI only ever adds to the
    # browser's side: one of five checks must come that close.
    gaps = []
    for _ in range(5):
        r = await run(t, ctx)
        assert r.outcome is Outcome.SUCCESS, r.error
        span_ms = (site.img_answered_ns - site.page_asked_ns) // 1_000_000
        assert r.duration_ms >= span_ms - 50 and r.duration_ms >= 800
        gaps.append(r.duration_ms - span_ms)
        if abs(gaps[-1]) <= 50:
            break
    assert abs(gaps[-1]) <= 50, gaps
    assert r.kind == "browser" and r.status_code == 200 and r.id == f"home@sh@{r.ts_ms}"
    assert r.duration_us is not None and r.duration_us // 1000 == r.duration_ms
    v = r.vitals
    assert v["page_load"] - 1 <= r.duration_ms <= v["page_load"]
    assert {"ttfb", "fcp", "lcp", "cls", "dcl", "load", "bytes", "requests",
            "failed_requests"} <= set(v)
    assert 0 < v["ttfb"] <= v["dcl"] < 800 <= v["load"] <= v["page_load"]
    assert v["fcp"] < 800 and v["cls"] == 0
    assert v["requests"] == 2 and v["failed_requests"] == 0 and v["bytes"] > len(PNG)
    assert r.bytes == v["bytes"]
    # Over a max_page_load bound: still a success (performance, not availability).
    slow = await run(target(f"{site.url}/page?img=300", expect={"max_page_load": "< 200ms"}),
                     ctx)
    assert slow.outcome is Outcome.SUCCESS and slow.bound_exceeded_ms == 200
    assert pool(ctx).launches == 1  # one browser for every check


# -- assertions ------------------------------------------------------------------------


async def test_missing_selector_fails_with_its_screenshot_stored(
        site: Site, ctx: ProbeContext) -> None:
    ok = await run(target(f"{site.url}/page", expect={"selectors": ["#title", "h1"],
                                                      "text": "AI标书"}), ctx)
    assert ok.outcome is Outcome.SUCCESS, ok.error
    r = await run(target(f"{site.url}/page", expect={"selectors": ["#title", "#upload"]}), ctx)
    assert r.outcome is Outcome.FAILURE and r.error is not None
    assert r.error.cls is ErrorClass.ASSERTION
    assert r.error.message == "selector '#upload' not found"
    store: EvidenceStore = ctx.options["evidence"]
    assert store.files(ok.id) == []  # a success keeps nothing
    names = {f.name for f in store.files(r.id)}
    assert names == {"screenshot.png", "trace.zip", "meta.json"}
    shot = store.path(r.id, "screenshot.png")
    assert shot is not None and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trace = store.path(r.id, "trace.zip")
    assert trace is not None and "trace.trace" in zipfile.ZipFile(trace).namelist()


async def test_text_status_console_and_connection_failures(
        site: Site, ctx: ProbeContext) -> None:
    async def error_of(url: str, **kw: Any) -> tuple[ErrorClass, str] | None:
        r = await run(target(url, artefacts={"on_failure": False}, **kw), ctx)
        assert (r.outcome is Outcome.SUCCESS) == (r.error is None)
        return None if r.error is None else (r.error.cls, r.error.message)

    assert await error_of(f"{site.url}/page", expect={"text": "标书 reader"}) == (
        ErrorClass.ASSERTION, "text '标书 reader' not on the page")
    assert await error_of(f"{site.url}/status/503") == (
        ErrorClass.HTTP_STATUS, "status 503, expected 2xx or 3xx")
    assert await error_of(f"{site.url}/status/503", expect={"status": [503]}) is None
    # Console errors fail a check only when asked.
    noisy = f"{site.url}/page?script=console.error('boom%20here')"
    assert await error_of(noisy) is None
    assert await error_of(noisy, expect={"no_console_errors": True}) == (
        ErrorClass.ASSERTION, "console error: boom here")
    thrown = await error_of(f"{site.url}/page?script=undefinedThing()",
                            expect={"no_console_errors": True})
    assert thrown is not None and "undefinedThing" in thrown[1]
    # ``block``: a third party's slowness left out of the page's figures, not a failure.
    blocked = await run(target(f"{site.url}/page?img=2000", block=["**/img*"]), ctx)
    assert blocked.outcome is Outcome.SUCCESS and blocked.duration_ms < 1500
    assert blocked.vitals["failed_requests"] == 0 and blocked.vitals["requests"] == 2
    # Nobody listening: a connect failure naming Chromium's error.
    runner, port = await serve_local(web.Application())
    await runner.cleanup()
    refused = await error_of(f"http://127.0.0.1:{port}/")
    assert refused is not None and refused[0] is ErrorClass.CONNECT
    assert "ERR_CONNECTION_REFUSED" in refused[1]


# -- the deadline ----------------------------------------------------------------------


async def test_timeout_is_min_of_timeout_and_most_of_the_interval(
        site: Site, ctx: ProbeContext) -> None:
    t = target(f"{site.url}/page?img=30000", interval="1500ms", timeout="1400ms")
    assert deadline_s(t) == pytest.approx(1.2)  # 0.8 × 1.5 s < 1.4 s
    await warm([t], ctx)
    started = time.monotonic()
    r = await run(t, ctx)
    took = time.monotonic() - started
    assert r.outcome is Outcome.FAILURE and r.error is not None
    assert (r.error.cls, r.error.message) == (ErrorClass.TIMEOUT, "page not loaded within 1.2 s")
    # The visit is cut at the deadline: its duration reads the deadline (truncated to ms).
    assert 1190 <= r.duration_ms < 1400 and took < 1.2 + 5.0
    store: EvidenceStore = ctx.options["evidence"]
    assert "screenshot.png" in {f.name for f in store.files(r.id)}  # what was on screen
    await until(lambda: site.in_flight == 0, 5, "the closed context to drop its request")


# -- evidence without secrets --------------------------------------------------------------


async def test_trace_and_har_keep_no_cookie_or_authorization(
        site: Site, ctx: ProbeContext) -> None:
    t = target(f"{site.url}/page?img=10", headers={"Authorization": AUTH_VALUE},
               expect={"selectors": ["#absent"]}, artefacts={"har": True})
    r = await run(t, ctx)
    assert r.outcome is Outcome.FAILURE
    store: EvidenceStore = ctx.options["evidence"]
    assert {f.name for f in store.files(r.id)} == {"screenshot.png", "trace.zip", "page.har",
                                                    "meta.json"}
    trace, har = store.path(r.id, "trace.zip"), store.path(r.id, "page.har")
    assert trace is not None and har is not None
    with zipfile.ZipFile(io.BytesIO(trace.read_bytes())) as z:
        members = {n: z.read(n) for n in z.namelist()}
    # The secrets were sent (the cookie the page set went back with the image request)...
    assert b'"name":"Cookie","value":"[scrubbed]"' in members["trace.network"]
    assert b"[scrubbed]" in har.read_bytes()
    # ...and no member of the archive, nor the HAR, holds them any more.
    for secret in (COOKIE_VALUE, AUTH_VALUE, AUTH_VALUE.split()[1]):
        for name, data in members.items():
            assert secret.encode() not in data, (secret, name)
        assert secret.encode() not in har.read_bytes()
    # The page and its requests are still there to read.
    assert b"/img?ms=10" in members["trace.network"]


# -- the pool: bounded, relaunched, no leaks ------------------------------------------------


async def test_concurrency_bounded_and_relaunch_after_n_checks(
        site: Site, ctx: ProbeContext) -> None:
    slow = [target(f"{site.url}/page?img=300", name=f"p{i}", concurrency=2,
                   artefacts={"on_failure": False}) for i in range(4)]
    results = await asyncio.gather(*(run(t, ctx) for t in slow))
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    assert pool(ctx).peak_concurrency == 2  # four due at once, two at a time
    assert site.max_in_flight <= 2
    t = target(f"{site.url}/page", relaunch_after=3)
    results = [await run(t, ctx) for _ in range(5)]
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    # The first browser had served 4: its 5th check retires it; 3 on the second; then a third.
    assert pool(ctx).launches == 3
    await until(lambda: len(browser_mains()) == 1, 10, "the retired browsers to close")


def browser_mains() -> list[psutil.Process]:
    """Chromium main processes (the renderers and helpers are their children)."""
    procs = chromium_processes()
    pids = {p.pid for p in procs}
    mains = []
    for p in procs:
        try:
            if p.ppid() not in pids:
                mains.append(p)
        except psutil.NoSuchProcess:  # one exiting just now
            continue
    return mains


async def test_a_killed_browser_is_unknown_mid_check_then_relaunched(
        site: Site, ctx: ProbeContext) -> None:
    t = target(f"{site.url}/page?img=3000", artefacts={"on_failure": False})
    await warm([t], ctx)
    check = asyncio.ensure_future(run(t, ctx))
    await until(lambda: site.in_flight == 1, 10, "the page to be loading")
    [main] = browser_mains()
    os.kill(main.pid, signal.SIGKILL)
    r: ProbeResult = await check
    # Our browser died, not the target: unknown, never downtime.
    assert r.outcome is Outcome.UNKNOWN and r.error is not None
    assert r.error.cls is ErrorClass.PROBE_ERROR
    after = await run(target(f"{site.url}/page"), ctx)
    assert after.outcome is Outcome.SUCCESS, after.error
    assert pool(ctx).launches == 2


async def test_no_chromium_left_after_200_checks(site: Site) -> None:
    c = ProbeContext(location="sh")
    before = {p.pid for p in chromium_processes()}
    t = target(f"{site.url}/page", relaunch_after=50, concurrency=2)
    results: list[ProbeResult] = []
    try:
        for _ in range(100):
            results += await asyncio.gather(run(t, c), run(t, c))
            assert len(browser_mains()) <= 2  # the current one, and one being retired
    finally:
        await close_browser(c)
    assert sum(r.outcome is Outcome.SUCCESS for r in results) == 200
    assert pool(c).launches == 4
    await until(lambda: not {p.pid for p in chromium_processes()} - before, 10,
                "every Chromium process to exit")


async def test_registered_and_never_raises_without_chromium(tmp_path: Path) -> None:
    assert PROBES["browser"] is run
    c = ProbeContext(location="sh", options={"chromium": str(tmp_path / "no-chromium")})
    try:
        r = await run(target("http://127.0.0.1:9/"), c)
    finally:
        await close_browser(c)
    assert r.outcome is Outcome.UNKNOWN and r.error is not None
    assert r.error.cls is ErrorClass.PROBE_ERROR
    assert r.error.message.startswith("cannot launch Chromium")
