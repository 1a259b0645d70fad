"""The first probe of a process is timed like every later one (issue 13, point 9).

A process's first probe used to include 30–55 ms of one-time set-up in its
clock (mostly the system CA store, loaded when the first SSL context was
built, even for plain http); ``probes.warm_up`` now does that set-up before
any clock starts, in ``slaguard probe``, in every probe worker (new or
restarted) and in a scheduler probing in the main process.

The targets are real local aiohttp servers that answer after a known 20 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from probes.base import ProbeContext
from slaguard.app import App
from slaguard.config.loader import parse_config
from slaguard.domain import Outcome, ProbeResult
from slaguard.scheduler import ProbeScheduler
from tests.conftest import ROOT, serve_local

DELAY_S = 0.020
# How far above the warm median a first probe may read.  The defect was
# 30–55 ms; on a loaded 2-core machine (other test suites, other engineers'
# benchmarks) a single probe of this 20 ms endpoint scatters by ~1–3 ms around
# its median, with rare outliers of more.  Medians of several first probes
# (one fresh process each) against the median of warm ones keep one outlier
# from deciding, and 5 ms is still six times smaller than the defect.
TOLERANCE_US = 5_000
FRESH_PROCESSES = 5
WARM_PROBES = 15  # in one process; the first 3 are dropped as not yet warm

# Probes in one process, no warm-up asked for: what "warm" reads, independently
# of the warm-up under test.
WARM_SESSION = """
import sys
from probes import PROBES, close_connectors
from probes.base import ProbeContext
from slaguard import eventloop
from slaguard.cli.common import load

async def main():
    target = load(sys.argv[1]).target(sys.argv[2])
    ctx = ProbeContext(location="test")
    try:
        for _ in range(int(sys.argv[3])):
            result = await PROBES[target.kind](target, ctx)
            print(result.outcome.value, result.duration_us, flush=True)
    finally:
        await close_connectors(ctx)

eventloop.run(main())
"""


# What the ``slaguard`` console script runs.
CLI = "import sys; from slaguard.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
async def delayed() -> AsyncIterator[str]:
    """http://127.0.0.1:PORT/ answering 200 after 20 ms; also used as the
    worker test's target."""
    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(DELAY_S)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", slow)
    runner, port = await serve_local(app)
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def _python(*args: str) -> str:
    """Run this venv's Python in the repository (the server keeps serving meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _config_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "slaguard.yaml"
    path.write_text(f"""
version: 1
location: sh
storage: {{path: "{tmp_path / 'record.db'}"}}
services: {{web: {{availability: 99.9%}}}}
targets:
  - {{name: slow, service: web, kind: http, url: "{url}", timeout: 5s}}
""", encoding="utf-8")
    return path


async def test_the_first_probe_of_slaguard_probe_reads_like_a_warm_one(
        tmp_path: Path, delayed: str) -> None:
    """``slaguard probe`` in a fresh process: its one probe is a first probe.

    Tolerance: the median first probe of 5 fresh processes must be at most
    5 ms above the median of 12 warm probes measured in the same test against
    the same server (see ``TOLERANCE_US``: a robust bound on a loaded 2-core
    machine, six times below the 30–55 ms the defect added)."""
    cfg = _config_file(tmp_path, delayed)
    warm_lines = (await _python("-c", WARM_SESSION, str(cfg), "slow",
                                str(WARM_PROBES))).split()
    assert warm_lines[::2] == ["success"] * WARM_PROBES
    warm = [int(us) for us in warm_lines[1::2]][3:]
    firsts = []
    for _ in range(FRESH_PROCESSES):
        doc = json.loads(await _python("-c", CLI, "probe", "-c", str(cfg), "slow"))
        assert doc["outcome"] == "success", doc
        firsts.append(doc["duration_us"])
    warm_median, first_median = statistics.median(warm), statistics.median(firsts)
    assert first_median >= DELAY_S * 1e6  # it did wait for the answer
    assert first_median <= warm_median + TOLERANCE_US, (
        f"first probes {firsts} µs, warm median {warm_median:.0f} µs ({sorted(warm)})")


def _app(tmp_path: Path, url: str) -> App:
    cfg, _ = parse_config({
        "version": 1,
        "storage": {"path": str(tmp_path / "record.db")},
        "location": "sh",
        "scheduling": {"workers": 1},
        "services": {"web": {"availability": "99.9%"}},
        "targets": [{"name": "slow", "service": "web", "kind": "http", "url": url,
                     "interval": "1h", "timeout": "5s"}],
    }, env={})
    return App(cfg, serve_http=False)


async def _us(app: App) -> int:
    result = await app.run_once("slow")
    assert result.outcome is Outcome.SUCCESS and result.duration_us is not None
    return result.duration_us


async def _restart_worker(app: App) -> None:
    assert app.pool is not None
    app.pool.restart_after_s = 0.1
    (pid,) = app.pool.pids
    restarts = app.pool.restarts
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (app.pool.restarts == restarts or app.pool.pids in ([], [pid])) \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert app.pool.restarts == restarts + 1


async def test_a_new_or_restarted_worker_times_its_first_probe_like_the_rest(
        tmp_path: Path, delayed: str) -> None:
    """A worker warms up before it says it is ready, so its first probe, after a
    start and after each restart, reads like a warm one.

    Tolerance: as for ``slaguard probe``, the median of the first probes (the
    new worker's and two restarted ones') at most 5 ms above the median of the
    warm probes taken after each."""
    app = _app(tmp_path, delayed)
    await app.start(schedule=False)
    firsts: list[int] = []
    warm: list[int] = []
    try:
        for restart in range(3):
            if restart:
                await _restart_worker(app)
            firsts.append(await _us(app))
            warm += [await _us(app) for _ in range(6)]
    finally:
        await app.stop()
    assert statistics.median(firsts) <= statistics.median(warm) + TOLERANCE_US, (
        f"first probes {firsts} µs, warm {sorted(warm)}")


# -- the scheduler's side (stand-in probes, as in test_scheduler.py) ---------------


def _target(name: str) -> Any:
    return SimpleNamespace(name=name, service="web", kind="http",
                           interval=timedelta(seconds=1))


def _probe(log: list[str]) -> Any:
    async def run(t: Any, ctx: ProbeContext) -> ProbeResult:
        log.append(f"probe {t.name}")
        return ProbeResult(ts_ms=ctx.now_ms(), target=t.name, service=t.service,
                           location=ctx.location, kind=t.kind, outcome=Outcome.SUCCESS,
                           duration_ms=0)
    return run


async def _until_scheduled(s: ProbeScheduler) -> None:
    deadline = time.monotonic() + 5
    while set(s.next_runs()) != set(s.targets) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert set(s.next_runs()) == set(s.targets)


async def test_the_scheduler_warms_up_once_before_any_probe_or_schedule() -> None:
    log: list[str] = []

    async def warm_up(targets: Any, ctx: ProbeContext) -> None:
        log.append(f"warm-up {sorted(t.name for t in targets)} {ctx.location}")
        await asyncio.sleep(0.3)
        log.append("warm")

    s = ProbeScheduler([_target("a"), _target("b")], "sh", {"http": _probe(log)},
                       lambda r: None, warm_up=warm_up)
    s.start()
    assert s.next_runs() == {}  # nothing scheduled while it warms up
    await asyncio.gather(s.run_once("a"), s.run_once("b"))
    assert log[:2] == ["warm-up ['a', 'b'] sh", "warm"]
    assert sorted(log[2:]) == ["probe a", "probe b"]
    await _until_scheduled(s)  # scheduled once warm
    await s.run_once("a")
    assert log.count("warm") == 1
    s.shutdown()


async def test_a_failing_warm_up_never_stops_probing() -> None:
    log: list[str] = []

    async def broken(targets: Any, ctx: ProbeContext) -> None:
        raise RuntimeError("no loopback here")

    s = ProbeScheduler([_target("a")], "sh", {"http": _probe(log)}, lambda r: None,
                       warm_up=broken)
    assert (await s.run_once("a")).outcome is Outcome.SUCCESS
    s.start()
    await _until_scheduled(s)
    s.shutdown()


async def test_shutdown_while_warming_up_schedules_nothing() -> None:
    async def slow(targets: Any, ctx: ProbeContext) -> None:
        await asyncio.sleep(0.2)

    s = ProbeScheduler([_target("a")], "sh", {"http": _probe([])}, lambda r: None,
                       warm_up=slow)
    s.start()
    s.shutdown()
    await asyncio.sleep(0.3)
    assert s.next_runs() == {}
