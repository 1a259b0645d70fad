"""slaguard watching the demo platform with the demo's own configuration: the home
page in real Chromium and the bid-document journey, probed once each through a real
App (probe worker process, store, live state) against a platform whose clock the test
holds, so the run is exact: a calm page load, and a journey whose 100-page job is done
the moment the test moves the clock past its 60 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

from demo.config import demo_config
from demo.console import status_line
from demo.documents import PAGE_MS
from demo.platform import LOCATIONS, Platform
from probes.browser import close_browser
from slaguard.app import App
from slaguard.domain import Outcome
from tests.conftest import serve_local
from tests.demo_platform.conftest import Clock
from tests.demo_platform.test_site import chromium

STEPS = ["login", "upload", "start", "generate", "download", "cleanup"]


async def finish_jobs(platform: Platform, clock: Clock) -> None:
    """Once the journey has started its job, let 60 s of platform time pass."""
    while not platform.documents.jobs:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # a few polls see it running first
    clock.now += 100 * PAGE_MS / 1000


async def test_the_demo_watches_the_page_and_the_journey(tmp_path: Path) -> None:
    chromium()
    clock = Clock()
    platform = Platform(1.0, clock)
    clock.now = platform.t0 + 401  # calm: after slow generation, before the outage at 480
    runner, port = await serve_local(platform.app())
    url = f"http://127.0.0.1:{port}"
    cfg = demo_config(url, 0, tmp_path, 30, browser=True, credentials=platform.credentials)
    # probes in this process: no worker to spawn, the same probe code
    cfg = cfg.model_copy(update={"scheduling": cfg.scheduling.model_copy(
        update={"workers": 0})})
    app = App(cfg, locations=list(LOCATIONS), source_addresses=LOCATIONS, serve_http=False)
    await app.start(schedule=False)
    try:
        page = await app.run_once("web-page", "shanghai")
        assert page.outcome is Outcome.SUCCESS, page.error
        # the vital is rounded, duration_ms truncated (probes.browser): one ms apart at most
        assert abs(page.vitals["page_load"] - page.duration_ms) <= 1, page.vitals
        assert page.duration_ms < 3000 and page.bound_exceeded_ms is None
        assert page.vitals["requests"] == 5  # the HTML, its stylesheet, logo, script, chart
        mover = asyncio.create_task(finish_jobs(platform, clock))
        run = await app.run_once("bid-document", "shanghai")
        mover.cancel()  # the run may have failed before its job started
        assert run.outcome is Outcome.SUCCESS, [(s.step, s.error) for s in run.steps]
        assert [s.step for s in run.steps] == STEPS and all(s.ok for s in run.steps)
        generate = run.steps[STEPS.index("generate")]
        assert generate.attempts >= 2 and generate.status_code == 200
        assert not platform.documents.jobs and not platform.documents.files  # cleaned up
        books = platform.usage.as_dict()
        assert books["probe"]["documents"] == 1 and books["probe"]["pages"] == 100
        assert books["billable"] == {"requests": 0, "documents": 0, "pages": 0}
        while len(app.state.snapshot()) < 2:
            await asyncio.sleep(0.05)
        text = status_line(401, app.state.snapshot(), None, [], 0, books | {
            "capacity": platform.capacity.snapshot()})
        assert "    shanghai: page load " in text
        assert "    shanghai: login " in text and " · generate " in text
        assert "probes " in text and "0 pages; probes" in text
    finally:
        await app.stop()
        for s in app.schedulers:  # App.stop leaves an in-process Chromium (workers: 0)
            await close_browser(s.ctx)
        await runner.cleanup()
