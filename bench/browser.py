"""Browser checks: slaguard's pool (one Chromium, a fresh context per check) against
the naive way (a new Chromium per check), and slaguard's page-load figure against a
plain Playwright script's.

    .venv/bin/python bench/browser.py [--checks 1000] [--naive-checks 100]
                                      [--concurrency 2 4] [--pairs 20]

Prints one JSON document:

* ``runs``: per way and concurrency, ``checks``, ``failures``, ``checks_per_minute``,
  memory (PSS: RSS with shared pages divided among their sharers) of this process and
  all its descendants (Playwright's driver, every Chromium
  process) sampled every 10 checks: ``rss_mib_100_200`` and ``rss_mib_last_100``
  (checks 100-200 and the last 100), ``rss_growth_percent`` between them,
  ``leaked_processes`` (Chromium processes left once the way has closed);
* ``speedup``: slaguard's rate over the naive rate, per concurrency;
* ``page_load``: the same local page (its load event held ~300 ms by an image)
  loaded ``--pairs`` times each by slaguard's probe and by a plain script reading
  ``performance.getEntriesByType('navigation')[0].duration``; medians and their
  difference in ms;
* ``goals``: ≥ 5× the naive rate, RSS within 10 %, 0 leaked, page load within 50 ms.

Both ways do the same per check (fresh context, load, read the navigation entry);
``settle`` is 0 s so neither waits for late vitals.  The naive way runs fewer
checks (``--naive-checks``): its rate is steady after a few, and 1 000 launches
would take most of an hour.  Needs Debian's ``chromium``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes._browser_pool import LAUNCH_ARGS, find_chromium
from probes.base import ProbeContext
from probes.browser import close_browser, run
from slaguard.config.browser import BrowserTarget

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4f10000000049454e44ae426082")
NAV_JS = "() => performance.getEntriesByType('navigation')[0].duration"


async def _site() -> tuple[web.AppRunner, str]:
    async def page(request: web.Request) -> web.Response:
        ms = request.query.get("img", "0")
        return web.Response(
            text=f"<!doctype html><title>bench</title><h1>AI标书</h1><p>ready</p>"
                 f"<img src='/img?ms={ms}' alt=''>", content_type="text/html")

    async def img(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.query.get("ms", "0")) / 1000)
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/img", img)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def _tree_rss() -> int:
    """PSS of this process and its descendants: RSS summed over Chromium's processes
    would count the shared libraries once per process."""
    me = psutil.Process()
    total = 0
    for p in (me, *me.children(recursive=True)):
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _chromium_count() -> int:
    n = 0
    for p in psutil.Process().children(recursive=True):
        try:
            if "chrom" in p.name().lower() and p.status() != psutil.STATUS_ZOMBIE:
                n += 1
        except psutil.NoSuchProcess:
            continue
    return n


def _mib(samples: dict[int, int], lo: int, hi: int) -> float | None:
    chosen = [v for k, v in samples.items() if lo <= k <= hi]
    return round(statistics.mean(chosen) / 2**20, 1) if chosen else None


async def _drive(name: str, checks: int, concurrency: int,
                 one: Callable[[], Awaitable[bool]]) -> dict[str, Any]:
    """``checks`` calls of ``one``, ``concurrency`` at a time; RSS every 10 done."""
    gate = asyncio.Semaphore(concurrency)
    done = failures = 0
    samples: dict[int, int] = {}

    async def task() -> None:
        nonlocal done, failures
        async with gate:
            ok = await one()
        done += 1
        failures += not ok
        if done % 10 == 0:
            samples[done] = _tree_rss()
        if done % 100 == 0:
            print(f"{name}: {done}/{checks} checks, {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(checks)))
    took = time.perf_counter() - started
    first, last = _mib(samples, 100, 200), _mib(samples, checks - 100, checks)
    return {"checks": checks, "failures": failures, "seconds": round(took, 1),
            "checks_per_minute": round(checks * 60 / took, 1),
            "rss_mib_100_200": first, "rss_mib_last_100": last,
            "rss_growth_percent": round((last - first) * 100 / first, 1)
            if first and last else None}


async def _slaguard(url: str, checks: int, concurrency: int) -> dict[str, Any]:
    ctx = ProbeContext(location="bench")
    target = BrowserTarget(name="bench", service="bench", kind="browser", url=url,
                           settle=timedelta(0), concurrency=concurrency, relaunch_after=200)

    async def one() -> bool:
        return (await run(target, ctx)).success

    try:
        out = await _drive(f"slaguard c{concurrency}", checks, concurrency, one)
        out["browser_launches"] = ctx.options["browser_pool"].launches
    finally:
        await close_browser(ctx)
    return out


async def _naive(pw: Any, url: str, checks: int, concurrency: int) -> dict[str, Any]:
    exe = find_chromium()

    async def one() -> bool:
        browser = await pw.chromium.launch(executable_path=exe, args=list(LAUNCH_ARGS))
        try:
            context = await browser.new_context(service_workers="block")
            page = await context.new_page()
            response = await page.goto(url, wait_until="load")
            await page.evaluate(NAV_JS)
            return response is not None and response.ok
        except Exception:
            return False
        finally:
            await browser.close()

    return await _drive(f"naive c{concurrency}", checks, concurrency, one)


async def _leaked_after(what: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    out = await what
    deadline = time.monotonic() + 10
    while _chromium_count() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    out["leaked_processes"] = _chromium_count()
    return out


async def _page_load(pw: Any, url: str, pairs: int) -> dict[str, Any]:
    """slaguard's figure and a plain script's on the same page, alternating."""
    ctx = ProbeContext(location="bench")
    target = BrowserTarget(name="bench", service="bench", kind="browser", url=url,
                           settle=timedelta(0))
    plain = await pw.chromium.launch(executable_path=find_chromium(), args=list(LAUNCH_ARGS))
    ours: list[float] = []
    theirs: list[float] = []
    try:
        for i in range(pairs + 1):  # the first pair warms both up, not counted
            r = await run(target, ctx)
            page = await plain.new_page()
            await page.goto(url, wait_until="load")
            duration = await page.evaluate(NAV_JS)
            await page.close()
            if i and r.duration_us is not None:
                ours.append(r.duration_us / 1000)
                theirs.append(float(duration))
    finally:
        await plain.close()
        await close_browser(ctx)
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    return {"pairs": pairs, "slaguard_median_ms": round(m_ours, 1),
            "plain_script_median_ms": round(m_theirs, 1),
            "difference_ms": round(abs(m_ours - m_theirs), 1),
            "slaguard_ms": [round(x) for x in ours], "plain_script_ms": [round(x) for x in theirs]}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    runner, base = await _site()
    url = f"{base}/page"
    out: dict[str, Any] = {"checks": args.checks, "naive_checks": args.naive_checks,
                           "cpus": psutil.cpu_count(), "runs": {}, "speedup": {}}
    try:
        async with async_playwright() as pw:
            out["page_load"] = await _page_load(pw, f"{base}/page?img=300", args.pairs)
            for c in args.concurrency:
                ours = await _leaked_after(_slaguard(url, args.checks, c))
                naive = await _leaked_after(_naive(pw, url, args.naive_checks, c))
                out["runs"][f"slaguard_c{c}"], out["runs"][f"naive_c{c}"] = ours, naive
                out["speedup"][f"c{c}"] = round(
                    ours["checks_per_minute"] / naive["checks_per_minute"], 2)
    finally:
        await runner.cleanup()
    runs = [v for k, v in out["runs"].items() if k.startswith("slaguard")]
    out["goals"] = {
        "speedup_at_least_5x": all(s >= 5 for s in out["speedup"].values()),
        "rss_flat_within_10_percent": all(
            r["rss_growth_percent"] is not None and abs(r["rss_growth_percent"]) <= 10
            for r in runs),
        "no_leaked_processes": all(r["leaked_processes"] == 0 for r in out["runs"].values()),
        "page_load_within_50ms": out["page_load"]["difference_ms"] <= 50,
    }
    return out


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checks", type=int, default=1000)
    p.add_argument("--naive-checks", type=int, default=100)
    p.add_argument("--concurrency", type=int, nargs="+", default=[2, 4])
    p.add_argument("--pairs", type=int, default=20)
    return p.parse_args()


if __name__ == "__main__":
    if find_chromium() is None:
        sys.exit("bench/browser.py: chromium is not installed (Debian package chromium)")
    try:
        import uvloop
        result = uvloop.run(main(_args()))
    except ImportError:
        result = asyncio.run(main(_args()))
    print(json.dumps(result, indent=2))
