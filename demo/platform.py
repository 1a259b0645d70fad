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

Three simulated locations probe it, each from its own loopback source
address (127.0.0.2–4), which is how the platform tells them apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from slaguard.config import Config, parse_config
from slo.fmt import percent_down

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
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if slow:
                await asyncio.sleep(0.25)  # 64 KiB per 0.25 s ≈ 256 KiB/s
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


def demo_config(platform_url: str, port: int, data_dir: Path, speed: float = 1.0) -> Config:
    def target(name: str, service: str, path: str, interval_s: float,
               **extra: Any) -> dict[str, Any]:
        interval_ms = max(1000, int(interval_s * 1000 / speed))
        return {"name": name, "service": service, "kind": "http", "url": platform_url + path,
                "interval": f"{interval_ms}ms", "timeout": f"{interval_ms * 4 // 5}ms", **extra}

    raw = {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "storage": {"path": str(data_dir / "slaguard-demo.db")},
        "server": {"listen": f"127.0.0.1:{port}"},
        "location": "shanghai",
        "locations": list(LOCATIONS),
        "scheduling": {"evaluate_every": f"{max(1.0, 10 / speed)}s"},
        "services": {
            "core": {"title": "核心服务 / Core service", "availability": "99.9%"},
            "storage": {"title": "数据存储 / Data storage", "availability": "99.99%"},
            "backup": {"title": "备份服务 / Backup service", "availability": "99.95%"},
        },
        "targets": [
            target("web-home", "core", "/", 5, expect={"status": [200],
                                                       "body_contains": "AI标书"}),
            target("api-health", "core", "/v1/health", 5,
                   expect={"status": [200], "json": {"$.status": "ok"}}),
            target("storage-read", "storage", "/v1/storage/probe-object", 5),
            {**target("upload-2mb", "core", "/v1/files", 20), "kind": "upload",
             "size": "2MiB", "max_duration": "5s"},
            {**target("backup-freshness", "backup", "/backups/latest", 15),
             "kind": "freshness", "timestamp_field": "$.finished_at"},
        ],
        "incidents": {"priorities": {
            "P1": {"respond": "15m", "restore": "4h", "resolve": "24h"},
            "P2": {"respond": "30m", "restore": "8h", "resolve": "48h"},
            "P3": {"respond": "2h", "resolve": "24h"},
            "P4": {"respond": "8h", "resolve": "72h"},
        }},
        "customers": [{"id": "demo", "name": "演示建设集团 / Demo Construction Group",
                       "monthly_fee": "12000.00", "services": ["core", "storage", "backup"]}],
        "slos": [
            {"name": "page-load", "targets": ["web-home"], "latency": {"mean": "3s", "p95": "5s"}},
            {"name": "api-latency", "targets": ["api-health"],
             "latency": {"mean": "500ms", "p95": "1s"}},
            {"name": "upload", "targets": ["upload-2mb"], "latency": {"max": "5s"}},
            {"name": "rpo", "targets": ["backup-freshness"], "freshness": "1h"},
        ],
    }
    cfg, _ = parse_config(raw, env={})
    return cfg


async def start_platform(speed: float) -> tuple[Platform, web.AppRunner, str]:
    platform = Platform(speed)
    runner = web.AppRunner(platform.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return platform, runner, f"http://127.0.0.1:{port}"


def banner(url: str, platform_url: str, speed: float) -> str:
    lines = [
        "slaguard demo: a simulated AI bid-document platform, probed from "
        f"{', '.join(LOCATIONS)}",
        f"  platform      {platform_url}/",
        f"  status page   {url}/status",
        f"  metrics       {url}/metrics",
        f"  results       {url}/api/v1/results?target=web-home",
        f"  SLO report    {url}/api/v1/slo",
        f"  incidents     {url}/api/v1/incidents",
        f"  health        {url}/healthz",
        f"  fault script  (repeats every {CYCLE_S / speed:.0f} s)",
    ]
    lines += [f"    {f.start_s / speed:6.0f}–{f.end_s / speed:.0f} s  {f.name}"
              + (f" ({', '.join(f.locations)} only)" if f.locations else "") for f in SCRIPT]
    lines.append("Ctrl-C stops it.")
    return "\n".join(lines)


def status_line(app: Any, platform: Platform) -> str:
    """One line per target: each location's last outcome and duration."""
    marks = {"success": "ok  ", "failure": "FAIL", "unknown": "??  "}
    rows: dict[str, list[str]] = {}
    for (target, _svc, loc, _kind), st in app.state.snapshot():
        r = st.latest
        rows.setdefault(target, []).append(f"{loc} {marks[r.outcome.value]} {r.duration_ms:>5} ms")
    active = [f.name for f in SCRIPT if f.active(platform.t(), None)
              or f.active(platform.t(), (f.locations or ("",))[0])]
    head = f"[t={platform.t():5.0f}s] faults: {', '.join(active) or 'none'}"
    report = app.state.slo_report
    if report is not None:
        head += "; this month: " + ", ".join(
            f"{s.spec.name} {percent_down(s.availability.availability)}% "
            f"({s.availability.downtime_seconds} s down)" for s in report.services)
    return "\n".join([head] + [f"  {t:<18} " + " | ".join(cells) for t, cells in rows.items()])
