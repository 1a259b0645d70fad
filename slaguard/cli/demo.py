"""``slaguard demo``: the built-in simulated platform (``demo``), probed, evaluated,
alerted on and served by a full slaguard."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capacity.runner import CapacityRefused, CapacityRunner, Settings
from capacity.store import CapacityStore
from demo.config import DemoTokens, demo_config
from demo.console import banner, status_line
from demo.platform import LOCATIONS, Platform, start_platform
from probes.base import wall_ms
from slaguard import eventloop
from slaguard.app import App, stop_requested
from slaguard.cli.common import EXIT_OK
from slaguard.config import Config
from slaguard.units import format_duration


def browser_missing() -> str | None:
    """Why the demo cannot run its browser target here, or None when it can."""
    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        return "no Chromium found (Debian: sudo scripts/install-system-deps, or apt-get " \
               "install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed (make demo installs it)"
    return None


def notes(cfg: Config, platform: Platform, missing: str | None) -> list[str]:
    """The banner's lines on the browser target, the journey and the capacity jobs."""
    user, password = platform.credentials
    lines = []
    for t in cfg.targets:
        every = format_duration(t.interval)
        if t.kind == "browser":
            lines.append(f"  browser       {t.name}: the home page in Chromium from "
                         f"{', '.join(t.locations or LOCATIONS)}, every {every}")
        elif t.kind == "journey":
            lines.append(f"  journey       {t.name}: log in, upload, 100 pages, download, "
                         f"delete, every {every} (sign-in {user} / {password})")
    if missing is not None:
        lines.append(f"  browser       web-page skipped: {missing}")
    jobs = "|".join(j.name for j in cfg.capacity.jobs)
    if jobs:
        lines.append(f"  capacity      slaguard demo --capacity {jobs}   (a load test of "
                     "the platform, its verdict printed)")
    return lines


def capacity_summary(record: dict[str, Any], platform: Platform) -> str:
    """A finished capacity run: its verdict, each threshold, and the platform's own
    count of what it served and shed (which agree with the run's requests)."""
    lines = [f"capacity {record.get('id')} ({record.get('job')}): {record.get('verdict')}"
             + (f", {record['aborted_by']}" if record.get("aborted_by") else "")
             + (f", {record['invalid_reason']}" if record.get("invalid_reason") else "")]
    lines += [f"  {'pass' if t['pass'] else 'FAIL'}  {t['expr']}: observed {t['observed']}"
              for t in record.get("thresholds", [])]
    c = platform.capacity.snapshot()
    lines.append(f"  the platform served {c['served']} requests and shed {c['rejected']} "
                 f"past its knee of {c['knee']} in flight (peak {c['peak_in_flight']})")
    return "\n".join(lines)


async def run_capacity(cfg: Config, platform: Platform, name: str,
                       stop: threading.Event) -> None:
    """One capacity job against the platform, Locust in its own processes (its runner
    blocks, so it runs in a thread); progress every 5 s, then the verdict."""
    runner = CapacityRunner(Settings.from_config(cfg), CapacityStore(cfg.storage.path),
                            stop=stop)
    def progress(line: str) -> None:
        print(line, flush=True)
    try:
        record = await asyncio.to_thread(runner.run, name, "demo", progress)
    except CapacityRefused as e:
        print(f"capacity {name}: not started: {e}", flush=True)
        return
    finally:
        runner.store.close()
    print(capacity_summary(record, platform), flush=True)


async def run_demo(port: int = 9108, data_dir: Path = Path("demo-data"),
                   duration_s: float | None = None, speed: float = 1.0,
                   on_ready: Callable[[Any], Any] | None = None,
                   browser: bool | None = None, capacity: str | None = None) -> None:
    """``browser``: watch the home page in Chromium (None: when Chromium is here);
    ``capacity``: run this capacity job once slaguard watches (its verdict is printed
    and recorded; ``slaguard capacity list -c`` is not needed: the demo prints it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("slaguard-demo.db*"):  # a fresh record; nothing else is touched
        old.unlink()
    missing = browser_missing() if browser is None else None
    platform, runner, platform_url = await start_platform(speed)
    tokens = DemoTokens()
    cfg = demo_config(platform_url, port, data_dir, speed, tokens,
                      browser=missing is None if browser is None else browser,
                      credentials=platform.credentials)
    app = App(cfg, locations=list(LOCATIONS), source_addresses=LOCATIONS)
    await app.start()
    platform.restart_script()  # the script's first fault comes a minute into watching
    print(banner(app.url or f"http://{cfg.server.listen}", platform_url, speed, tokens,
                 notes=notes(cfg, platform, missing)), flush=True)
    stop_capacity = threading.Event()
    load = None if capacity is None else asyncio.create_task(
        run_capacity(cfg, platform, capacity, stop_capacity))
    try:
        if on_ready is not None:
            await on_ready(app)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        stop = stop_requested()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(10.0, duration_s or 10.0))
            print(await _status(app, platform), file=sys.stdout, flush=True)
    finally:
        if load is not None:  # a run still going is stopped and recorded (aborted)
            stop_capacity.set()
            await asyncio.gather(load, return_exceptions=True)
        await app.stop()
        await runner.cleanup()


async def _status(app: App, platform: Platform) -> str:
    incidents = await asyncio.to_thread(app.alerting.store.recent_incidents, 50)
    usage = {**platform.usage.as_dict(), "capacity": platform.capacity.snapshot()}
    return status_line(platform.t(), app.state.snapshot(), app.state.slo_report, incidents,
                       wall_ms(), usage)


def cmd_demo(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        eventloop.run(run_demo(port=args.port, data_dir=Path(args.data_dir),
                               duration_s=args.duration, speed=args.speed,
                               capacity=getattr(args, "capacity", None)))
    return EXIT_OK
