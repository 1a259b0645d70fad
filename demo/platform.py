"""``slaguard demo``: the built-in simulated AI bid-document platform.

The platform (an aiohttp app on loopback) serves a home page with its assets
(``demo.site``), an API health endpoint, a storage object, an upload endpoint, a
backup-status document, the document-generation API (``demo.documents``) and its
usage counters (``GET /api/usage``: probe traffic kept out of billing), under a
capacity model (``demo.load``), and follows a fault script that repeats every cycle:

====================  =========================================================
cycle time            fault
====================  =========================================================
60 s – 150 s          core outage: home page, assets and APIs answer 503 everywhere
100 s – 130 s         regional: storage fails only for shenzhen (below quorum)
160 s – 195 s         failed jobs: generation jobs started now fail at page 37
200 s – 260 s         latency spike: the HTML takes 0.4 s more, each asset 1.6 s
                      (a browser's page load ≈ 3.6 s: three requests deep; one
                      fetch of the HTML sees 0.4 s), every API answer 1.2 s
300 s – 360 s         slow upload: both upload endpoints read at ~256 KiB/s
360 s – 400 s         slow generation: jobs started now take 7.2 s a page
                      (100 pages: 12 min, past the 10 min objective)
====================  =========================================================

Cycle times and generation run on the platform's clock, compressed by ``--speed``;
the latency spike's delays and the upload rate are real time.  The latency spike, the
slow upload and slow generation are performance faults: every answer is still
correct, only late, so they breach the latency, upload and generation objectives but
add no downtime (unless a probe's timeout is shorter than the delay).

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

from demo import site
from demo.documents import Documents
from demo.load import CapacityModel, Usage

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
    Fault("failed-jobs", 160, 195),
    Fault("latency-spike", 200, 260),
    Fault("slow-upload", 300, 360),
    Fault("slow-generation", 360, 400),
)
# Real seconds the latency spike adds: to every API answer, to the HTML, and to each
# asset.  The HTML's stays short so a plain HTTP probe of "/" barely sees the spike (and
# the demo's 800 ms probe timeouts at 30× speed hold): only a real page load shows it.
SPIKE_S = 1.2
SPIKE_HTML_S = 0.4
SPIKE_ASSET_S = 1.6


class Platform:
    """The simulated SaaS platform, its fault clock, its books and its capacity."""

    def __init__(self, speed: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 capacity: CapacityModel | None = None):
        self.speed, self.clock, self.t0 = speed, clock, clock()
        self.backup_at = datetime.now(UTC).replace(microsecond=0)
        self.capacity = capacity or CapacityModel()
        self.usage = Usage()
        self.documents = Documents(self.t, self.fault, self.usage, SPIKE_S)
        self.assets = site.assets()

    @property
    def credentials(self) -> tuple[str, str]:
        """The demo user's sign-in for the document API (the password is per run)."""
        return self.documents.user, self.documents.password

    def t(self) -> float:
        return (self.clock() - self.t0) * self.speed

    def restart_script(self) -> None:
        """Starts the fault script (and the generation clock) over at 0: the demo calls it
        once slaguard is watching, however long its start took on a busy machine."""
        self.t0 = self.clock()

    def fault(self, name: str, request: web.Request) -> bool:
        loc = next((k for k, v in LOCATIONS.items() if v == request.remote), None)
        return any(f.name == name and f.active(self.t(), loc) for f in SCRIPT)

    async def _spike(self, request: web.Request, seconds: float) -> None:
        if self.fault("latency-spike", request):
            await asyncio.sleep(seconds)

    async def home(self, request: web.Request) -> web.Response:
        if self.fault("core-outage", request):
            return web.Response(status=503, text="维护中 / unavailable")
        await self._spike(request, SPIKE_HTML_S)
        return web.Response(text=site.home_html(), content_type="text/html",
                            headers=site.NO_STORE)

    async def static(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info["name"])
        if asset is None:
            return web.Response(status=404, text="not found")
        if self.fault("core-outage", request):
            return web.Response(status=503, text="unavailable")
        await self._spike(request, SPIKE_ASSET_S)
        return web.Response(body=asset.body, content_type=asset.content_type,
                            headers=site.NO_STORE)

    async def health(self, request: web.Request) -> web.Response:
        if self.fault("core-outage", request):
            return web.json_response({"status": "down"}, status=503)
        await self._spike(request, SPIKE_S)
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

    async def usage_report(self, request: web.Request) -> web.Response:
        """The books: billable traffic, probe traffic (never billed) and the load."""
        return web.json_response({**self.usage.as_dict(),
                                  "capacity": self.capacity.snapshot()})

    def app(self) -> web.Application:
        # usage outermost: a request the capacity model sheds was still a request
        app = web.Application(client_max_size=64 * 2**20,
                              middlewares=[self.usage.middleware, self.capacity.middleware])
        app.router.add_get("/", self.home)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/v1/health", self.health)
        app.router.add_get("/v1/storage/probe-object", self.storage)
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/backups/latest", self.backups)
        app.router.add_get("/api/usage", self.usage_report)
        self.documents.routes(app)
        return app


async def start_platform(speed: float, capacity: CapacityModel | None = None
                         ) -> tuple[Platform, web.AppRunner, str]:
    platform = Platform(speed, capacity=capacity)
    runner = web.AppRunner(platform.app(), access_log=None)
    await runner.setup()
    site_ = web.TCPSite(runner, "127.0.0.1", 0)
    await site_.start()
    port = runner.addresses[0][1]
    return platform, runner, f"http://127.0.0.1:{port}"
