"""What slaguard watches on the demo platform: targets from three locations, the
standard's objectives, one customer, and incident clocks short enough that an
incident opened by a scripted fault is restored and resolved within the cycle."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.platform import LOCATIONS
from slaguard.config import Config, parse_config

# A recovered fault's incident counts as restored this long after the last failure,
# and resolves itself this long after that (at speed 1; divided by the speed).
RESTORE_AFTER_S = 30
RESOLVE_AFTER_S = 60


def _token() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class DemoTokens:
    """Fresh for each run: the staff API token and the demo customer's portal token."""

    staff: str = field(default_factory=_token)
    customer: str = field(default_factory=_token)


def _ms(seconds: float, speed: float, floor_s: float = 1.0) -> str:
    """A demo-clock duration compressed by ``speed`` (never below ``floor_s``)."""
    return f"{max(int(floor_s * 1000), int(seconds * 1000 / speed))}ms"


def browser_target(platform_url: str, speed: float) -> dict[str, Any]:
    """The home page in real Chromium from one location (a browser per location would
    triple the demo's heaviest probe for no new fact: the page faults are global).
    The interval never drops below 10 s: a cold Chromium page load of ≈ 3.6 s in the
    latency spike, plus settling, must fit in 0.8 of it."""
    return {"name": "web-page", "service": "core", "kind": "browser",
            "url": platform_url + "/", "locations": ["shanghai"],
            "interval": _ms(30, speed, 10), "timeout": _ms(24, speed, 8),
            "availability": False,  # evidence for the page-load objective; web-home counts
            # on the page and every asset, so the platform keeps the check off its bill
            "headers": {"X-Slaguard-Probe": "web-page"},
            "expect": {"status": [200], "selectors": ["#chart img"],
                       "text": "已就绪 / ready", "max_page_load": "< 3s"}}


def journey_target(platform_url: str, speed: float, user: str, password: str
                   ) -> dict[str, Any]:
    """Log in, upload a 2 MiB tender, start a 100-page bid, poll it, download and
    delete it.  Generation runs on the demo clock (60 s normally, 12 min in the
    slow-generation window), so its objective and waits are compressed by ``speed``;
    the interval (17 demo minutes) is longer than the longest run and, against the
    7-minute fault cycle, lands each run 3 minutes later in it than the last, so in
    turn every fault window is met."""
    auth = {"Authorization": "Bearer {{token}}"}
    return {
        "name": "bid-document", "service": "core", "kind": "journey", "url": platform_url,
        "interval": _ms(17 * 60, speed), "timeout": _ms(16 * 60, speed),
        # judged by its step objectives and each run's outcome: an hourly-ish run cannot
        # time an outage to the second, so web-home and api-health count availability
        "availability": False,
        "vars": {"user": user, "password": {"value": password, "secret": True}},
        "objectives": [{"step": "generate", "elapsed": f"< {_ms(10 * 60, speed)}"},
                       {"step": "upload", "elapsed": "< 5s"}],
        "steps": [
            {"id": "login", "request": {
                "method": "POST", "url": "{{base}}/api/login",
                "json": {"user": "{{vars.user}}", "password": "{{vars.password}}"}},
             "extract": {"token": {"jsonpath": "$.token", "secret": True}}},
            {"id": "upload", "request": {
                "method": "POST", "url": "{{base}}/api/files", "headers": auth,
                "multipart": {"file": {"generate": "2MiB", "filename": "tender.docx"}}},
             "expect": [{"status": 201}], "extract": {"file_id": {"jsonpath": "$.id"}}},
            {"id": "start", "request": {
                "method": "POST", "url": "{{base}}/api/documents", "headers": auth,
                "json": {"file": "{{file_id}}", "pages": 100}},
             "expect": [{"status": 202}], "extract": {"job": {"jsonpath": "$.job_id"}}},
            {"id": "generate", "clock_from": "start", "poll": {
                "request": {"url": "{{base}}/api/jobs/{{job}}", "headers": auth},
                "until": {"jsonpath": "$.state", "equals": "done"},
                "fail_if": {"jsonpath": "$.state", "in": ["failed"]},
                "every": _ms(10, speed, 0.2), "within": _ms(15 * 60, speed)}},
            {"id": "download", "request": {
                "url": "{{base}}/api/documents/{{job}}/file", "headers": auth},
             "expect": [{"status": 200}, {"header": "content-type", "matches": "pdf"},
                        {"body_size": {"gt": "100KiB"}}]},
            {"id": "cleanup", "always_run": True, "critical": False, "request": {
                "method": "DELETE", "url": "{{base}}/api/documents/{{job}}",
                "headers": auth}},
        ],
    }


def capacity_section(platform_url: str) -> dict[str, Any]:
    """Two on-demand load tests of the platform's capacity model (demo.load): 100
    users thinking ~1 s stay far below its knee and pass; 400 push it to the knee, a
    quarter of their requests answer 503 and the run fails its error-rate threshold
    (measured with a plain closed-model client: 100 users p95 11 ms, no errors; 400
    users p95 202 ms, 24 % 503).  The abort rule sits above that share, so the run
    goes to the end and its verdict comes from the thresholds."""
    def job(name: str, users: int) -> dict[str, Any]:
        return {"name": name, "targets": ["web-home", "api-health"],
                "profile": {"users": users, "spawn_rate": 50, "hold": "30s",
                            "think_min": "500ms", "think_max": "1500ms"},
                "thresholds": {"error_rate": "1%", "p95": "< 1s", "mean": "< 500ms"},
                "abort": {"error_rate": "50%", "for": "10s"},
                "max_duration": "2m"}
    host = platform_url.split("//", 1)[1]
    # one Locust process: the demo shares its machine with the platform and slaguard
    return {"allow_hosts": [host], "generator": {"workers": 0},
            "jobs": [job("within-capacity", 100),
                     job("past-the-knee", 400)]}


def demo_config(platform_url: str, port: int, data_dir: Path, speed: float = 1.0,
                tokens: DemoTokens | None = None, *, browser: bool = False,
                credentials: tuple[str, str] | None = None) -> Config:
    """What slaguard watches on the platform, its objectives, and the demo customer.

    ``speed`` compresses intervals and the incident clocks with the fault script, so
    a recovered fault's incident is restored and resolved within one cycle.
    ``browser``: add the Chromium page-load target (only where Chromium runs);
    ``credentials``: the platform's document-API sign-in, for the bid-document journey
    (without them there is no journey)."""
    tokens = tokens or DemoTokens()
    def target(name: str, service: str, path: str, interval_s: float,
               **extra: Any) -> dict[str, Any]:
        interval_ms = max(1000, int(interval_s * 1000 / speed))
        return {"name": name, "service": service, "kind": "http", "url": platform_url + path,
                "interval": f"{interval_ms}ms", "timeout": f"{interval_ms * 4 // 5}ms", **extra}

    extra_targets = ([browser_target(platform_url, speed)] if browser else []) + (
        [journey_target(platform_url, speed, *credentials)] if credentials else [])
    raw = {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "storage": {"path": str(data_dir / "slaguard-demo.db")},
        "server": {"listen": f"127.0.0.1:{port}", "api_token": tokens.staff,
                   "public_url": f"http://127.0.0.1:{port}"},
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
            *extra_targets,
        ],
        "capacity": capacity_section(platform_url),
        "incidents": {
            "restore_after": f"{max(1, round(RESTORE_AFTER_S / speed))}s",
            "auto_resolve_after": f"{max(1, round(RESOLVE_AFTER_S / speed))}s",
            "priorities": {
            "P1": {"respond": "15m", "restore": "4h", "resolve": "24h"},
            "P2": {"respond": "30m", "restore": "8h", "resolve": "48h"},
            "P3": {"respond": "2h", "resolve": "24h"},
            "P4": {"respond": "8h", "resolve": "72h"},
            }},
        "customers": [{"id": "demo", "name": "演示建设集团 / Demo Construction Group",
                       "monthly_fee": "12000.00", "services": ["core", "storage", "backup"],
                       "token": tokens.customer}],
        "slos": [
            # the standard's page load is what a browser lives through, when one runs
            {"name": "page-load", "targets": ["web-page" if browser else "web-home"],
             "latency": {"mean": "3s", "p95": "5s"}},
            {"name": "api-latency", "targets": ["api-health"],
             "latency": {"mean": "500ms", "p95": "1s"}},
            {"name": "upload", "targets": ["upload-2mb"], "latency": {"max": "5s"}},
            {"name": "rpo", "targets": ["backup-freshness"], "freshness": "1h"},
        ],
    }
    cfg, _ = parse_config(raw, env={})
    return cfg
