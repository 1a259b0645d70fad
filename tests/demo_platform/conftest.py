"""A demo platform on a real loopback server whose fault clock the test sets by hand
(``clock.at(t)``: the cycle second, at speed 1), so every scripted fault and every job
timing is exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from demo.load import CapacityModel
from demo.platform import Platform
from tests.conftest import serve_local


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    platform: Platform
    clock: Clock
    url: str
    http: aiohttp.ClientSession

    def at(self, t: float) -> None:
        """Moves the platform's clock to ``t`` seconds since it started."""
        self.clock.now = self.platform.t0 + t

    async def login(self) -> dict[str, str]:
        user, password = self.platform.credentials
        async with self.http.post(f"{self.url}/api/login",
                                  json={"user": user, "password": password}) as r:
            assert r.status == 200, await r.text()
            return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def running(capacity: CapacityModel | None = None) -> AsyncIterator[Running]:
    clock = Clock()
    platform = Platform(1.0, clock, capacity=capacity)
    runner, port = await serve_local(platform.app())
    # limit=0: the capacity tests open hundreds of connections at once
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        try:
            yield Running(platform, clock, f"http://127.0.0.1:{port}", http)
        finally:
            await runner.cleanup()


@pytest.fixture
async def demo() -> AsyncIterator[Running]:
    async for r in running():
        yield r
