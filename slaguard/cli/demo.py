"""``slaguard demo``: the built-in simulated platform (``demo``), probed, evaluated,
alerted on and served by a full slaguard."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo.config import DemoTokens, demo_config
from demo.console import banner, status_line
from demo.platform import LOCATIONS, start_platform
from probes.base import wall_ms
from slaguard import eventloop
from slaguard.app import App, stop_requested
from slaguard.cli.common import EXIT_OK


async def run_demo(port: int = 9108, data_dir: Path = Path("demo-data"),
                   duration_s: float | None = None, speed: float = 1.0,
                   on_ready: Callable[[Any], Any] | None = None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("slaguard-demo.db*"):  # a fresh record; nothing else is touched
        old.unlink()
    platform, runner, platform_url = await start_platform(speed)
    tokens = DemoTokens()
    cfg = demo_config(platform_url, port, data_dir, speed, tokens)
    app = App(cfg, locations=list(LOCATIONS), source_addresses=LOCATIONS)
    await app.start()
    print(banner(app.url or f"http://{cfg.server.listen}", platform_url, speed, tokens),
          flush=True)
    try:
        if on_ready is not None:
            await on_ready(app)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        stop = stop_requested()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(10.0, duration_s or 10.0))
            print(await _status(app, platform.t()), file=sys.stdout, flush=True)
    finally:
        await app.stop()
        await runner.cleanup()


async def _status(app: App, t_s: float) -> str:
    incidents = await asyncio.to_thread(app.alerting.store.recent_incidents, 50)
    return status_line(t_s, app.state.snapshot(), app.state.slo_report, incidents, wall_ms())


def cmd_demo(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        eventloop.run(run_demo(port=args.port, data_dir=Path(args.data_dir),
                               duration_s=args.duration, speed=args.speed))
    return EXIT_OK
