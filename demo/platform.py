"""``slaguard demo``: the whole pipeline on a built-in simulated platform.

The platform (an aiohttp app on loopback) serves a web page, an API health
endpoint, a storage object, an upload endpoint and a backup-status document,
and follows a fault script that repeats every cycle:

====================  =========================================================
cycle time            fault
====================  =========================================================
60 s – 150 s          core outage: web page and API answer 503 everywhere
100 s – 130 s         regional: storage fails only for shenzhen (below quorum)
200 s – 260 s         latency spike: the API takes 1.2 s
300 s – 360 s         slow upload: the upload endpoint reads at ~256 KiB/s
====================  =========================================================

The latency spike and the slow upload are performance faults: every answer is
still correct, only late, so they breach the API-latency and upload objectives
(and open the upload rule's P3) but add no downtime.

Three simulated locations probe it, each from its own loopback source
address (127.0.0.2–4), which is how the platform tells them apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

LOCATIONS = {"shanghai": "127.0.0.2", "beijing": "127.0.0.3", "shenzhen": "127.0.0.4"}
CYCLE_S = 420


@dataclass(frozen=True)
class Fault:
    name: str
    start_s: int
    end_s: int
    locations: tuple[str, ...] = ()  # empty: every location

    def active(self, t: float, location: str | None) -> bool:
        return self.start_s <= t % CYCLE_S < self.end_s and (
            not self.locations or location in self.locations
        )


SCRIPT = (
    Fault("core-outage", 60, 150),
    Fault("storage-regional", 100, 130, ("shenzhen",)),
    Fault("api-latency", 200, 260),
    Fault("slow-upload", 300, 360),
)


class Platform:
    """The simulated SaaS platform and its fault clock."""

    def __init__(self, speed: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.speed, self.clock, self.t0 = speed, clock, clock()
        self.backup_at = datetime.now(UTC).replace(microsecond=0)

    def t(self) -> float:
        return (self.clock() - self.t0) * self.speed

    def fault(self, name: str, request: web.Request) -> bool:
        loc = next((k for k, v in LOCATIONS.items() if v == request.remote), None)
        return any(f.name == name and f.active(self.t(), loc) for f in SCRIPT)

    async def home(self, request: web.Request) -> web.Response:
        if self.fault("core-outage", request):
            return web.Response(status=503, text="维护中 / unavailable")
        return web.Response(text="<html><body><h1>AI标书 智能创作平台</h1></body></html>",
                            content_type="text/html")

    async def health(self, request: web.Request) -> web.Response:
        if self.fault("core-outage", request):
            return web.json_response({"status": "down"}, status=503)
        if self.fault("api-latency", request):
            await asyncio.sleep(1.2)
        return web.json_response({"status": "ok"})

    async def storage(self, request: web.Request) -> web.Response:
        if self.fault("storage-regional", request):
            return web.Response(status=502, text="bad gateway")
        return web.Response(body=b"x" * 4096)

    async def upload(self, request: web.Request) -> web.Response:
        slow = self.fault("slow-upload", request)
        size = 0
        try:
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if slow:
                    await asyncio.sleep(0.25)  # 64 KiB per 0.25 s ≈ 256 KiB/s
        except ConnectionResetError:  # the prober went away (slaguard stopping)
            return web.Response(status=400)
        return web.json_response({"received": size}, status=201)

    async def backups(self, request: web.Request) -> web.Response:
        return web.json_response({"finished_at": self.backup_at.isoformat()})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_get("/", self.home)
        app.router.add_get("/v1/health", self.health)
        app.router.add_get("/v1/storage/probe-object", self.storage)
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/backups/latest", self.backups)
        return app


async def start_platform(speed: float) -> tuple[Platform, web.AppRunner, str]:
    platform = Platform(speed)
    runner = web.AppRunner(platform.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return platform, runner, f"http://127.0.0.1:{port}"
