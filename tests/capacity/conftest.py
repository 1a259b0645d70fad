"""A local target for capacity runs: an aiohttp server on a free loopback port that
counts the requests it answers and times each one itself, and a configuration around
it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from capacity.runner import CapacityRunner, Settings
from capacity.store import CapacityStore
from slaguard.config import Config, parse_config
from tests.conftest import serve_local


@dataclass
class Target:
    """``/work`` answers after ``delay_s``; ``failing`` makes it answer 500."""
    url: str = ""
    count: int = 0
    timings_ms: list[float] = field(default_factory=list)
    delay_s: float = 0.02
    failing: bool = False

    async def work(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        self.count += 1
        await asyncio.sleep(self.delay_s)
        self.timings_ms.append((time.perf_counter() - t0) * 1000)
        return web.Response(status=500 if self.failing else 200, text="ok")

    def p95_ms(self) -> float:
        t = sorted(self.timings_ms)
        return t[max(0, math.ceil(len(t) * 0.95) - 1)]


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = Target()
    app = web.Application()
    app.router.add_get("/work", t.work)
    runner, port = await serve_local(app)
    t.url = f"http://127.0.0.1:{port}/work"
    try:
        yield t
    finally:
        await runner.cleanup()


def capacity_config(tmp: Path, url: str, **job: Any) -> dict[str, Any]:
    """One service, one http target at ``url``, one capacity job ``load`` on it;
    ``generator`` and ``kill_switch`` as keyword arguments go to ``capacity``."""
    cap: dict[str, Any] = {"allow_hosts": ["127.0.0.1"], "off_peak": "00:00-24:00",
                           "generator": job.pop("generator", {"workers": 0, "max_cpu": "100%"})}
    for key in ("kill_switch", "distributed"):
        if key in job:
            cap[key] = job.pop(key)
    profile = {"users": 20, "spawn_rate": 20, "hold": "3s", "think_min": "0.2s",
               "think_max": "0.5s"} | job.pop("profile", {})
    cap["jobs"] = [{"name": "load", "targets": ["web"], "profile": profile} | job]
    return {"version": 1, "storage": {"path": str(tmp / "slaguard.db")},
            "server": {"api_token": "staff-token", "read_token": "read-token"},
            "scheduling": {"workers": 0},
            "services": {"core": {"availability": "99.9%"}},
            "targets": [{"name": "web", "service": "core", "kind": "http", "url": url}],
            "capacity": cap}


@dataclass
class Rig:
    cfg: Config
    store: CapacityStore
    runner: CapacityRunner
    path: Path


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """``rig(url, **job)``: the configuration written to a file, its store and runner."""
    made: list[CapacityStore] = []

    def make(url: str, **job: Any) -> Rig:
        import yaml

        doc = capacity_config(tmp_path, url, **job)
        path = tmp_path / "slaguard.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        cfg = parse_config(doc, env={})[0]
        store = CapacityStore(cfg.storage.path)
        made.append(store)
        return Rig(cfg, store, CapacityRunner(Settings.from_config(cfg, str(path)), store), path)

    yield make
    for s in made:
        s.close()


async def until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.1)
