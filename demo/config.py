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


def demo_config(platform_url: str, port: int, data_dir: Path, speed: float = 1.0,
                tokens: DemoTokens | None = None) -> Config:
    """What slaguard watches on the platform, its objectives, and the demo customer.

    ``speed`` compresses intervals and the incident clocks with the fault script, so
    a recovered fault's incident is restored and resolved within one cycle."""
    tokens = tokens or DemoTokens()
    def target(name: str, service: str, path: str, interval_s: float,
               **extra: Any) -> dict[str, Any]:
        interval_ms = max(1000, int(interval_s * 1000 / speed))
        return {"name": name, "service": service, "kind": "http", "url": platform_url + path,
                "interval": f"{interval_ms}ms", "timeout": f"{interval_ms * 4 // 5}ms", **extra}

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
        ],
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
            {"name": "page-load", "targets": ["web-home"], "latency": {"mean": "3s", "p95": "5s"}},
            {"name": "api-latency", "targets": ["api-health"],
             "latency": {"mean": "500ms", "p95": "1s"}},
            {"name": "upload", "targets": ["upload-2mb"], "latency": {"max": "5s"}},
            {"name": "rpo", "targets": ["backup-freshness"], "freshness": "1h"},
        ],
    }
    cfg, _ = parse_config(raw, env={})
    return cfg
