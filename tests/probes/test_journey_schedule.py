"""Journey runs never overlap: the scheduler starts a target only when its previous
run is over (APScheduler's ``max_instances=1``), and records each slot it skipped
meanwhile as ``unknown``/``missed`` ("previous run still in progress"), never
downtime.  Shown with the real journey probe against the fake platform."""

from __future__ import annotations

import asyncio
import itertools
import time

from aiohttp import web
from aiohttp.test_utils import TestServer

from probes import journey
from slaguard.domain import ErrorClass, Outcome, ProbeResult
from slaguard.scheduler import ProbeScheduler
from tests.probes.test_journey import Platform, journey_target, platform_app


async def test_a_run_longer_than_the_interval_is_never_overlapped() -> None:
    p = Platform(delays_s={"start": 0.3})  # a run takes ~0.4 s; its slot comes every 0.2 s
    spans: dict[str, list[float]] = {}

    @web.middleware
    async def timed(request: web.Request, handler: object) -> web.StreamResponse:
        probe = request.headers.get("X-Slaguard-Probe", "")
        span = spans.setdefault(probe, [time.monotonic(), 0.0])
        try:
            return await handler(request)  # type: ignore[operator]
        finally:
            span[1] = time.monotonic()

    app = platform_app(p)
    app.middlewares.append(timed)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    target = journey_target(str(server.make_url("/")).rstrip("/"), interval="200ms")
    got: list[ProbeResult] = []

    def submit(r: ProbeResult) -> None:
        got.append(r)
        p.polls = 0  # each run's job starts afresh

    s = ProbeScheduler([target], "sh", {"journey": journey.run}, submit, warm_up=None)
    try:
        s.start()
        deadline = time.monotonic() + 10
        while len([r for r in got if r.steps]) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        s.shutdown()
        await server.close()
    runs = [r for r in got if r.steps]
    assert len(runs) >= 2
    assert all(r.outcome is Outcome.SUCCESS for r in runs), [r.error for r in runs]
    # One run's requests end before the next run's first one.
    ordered = sorted(spans.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered)), ordered
    skipped = [r for r in got if not r.steps]
    assert skipped, "the slots that came during a run are recorded"
    assert all(r.outcome is Outcome.UNKNOWN and r.error is not None
               and r.error.cls is ErrorClass.MISSED
               and r.error.message == "previous run still in progress" for r in skipped)
