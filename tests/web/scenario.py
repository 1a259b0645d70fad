"""A scripted record for the status page and the portal: October 2025, Asia/Shanghai.

Three locations probe ``web`` (core, 99.9 %) and ``db`` (storage, 99.99 %) every
30 s from 2025-10-16 18:00 (the first observation) up to ``NOW`` = 10-20 12:00:

====================  ==========================================================
10-17 10:00–10:05     web fails at a and b (2 of 3: quorum): 300 s down → outage
10-18 15:00–15:01     web fails at a and b: 60 s down, 99.930 % ≥ 99.9 → degraded
10-18 16:00           web fails once at c alone: a blip, not downtime
10-18 20:00–21:00     db: no results anywhere (a monitoring gap, counted as up)
10-19 02:00–03:00     web fails everywhere inside maintenance "upgrade", announced
                      09-20 (qualifies): maintenance, no downtime
10-20 09:00–09:01     db fails at b and c: 60 s of 43 200 s so far → outage
====================  ==========================================================

``record_incidents`` adds what the alerting record would hold by 10-17 10:03: an open
P1 of the core outage (INC-1), an open P3 (INC-2), slaguard's own internal one (INC-3,
never public), a P2 of 10-16 acknowledged, restored and resolved (INC-4), a P3 of 09-20
resolved (INC-5: before monitoring began, still within the 90 days), and maintenance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerting.notification import Priority
from alerting.store import AlertingStore, EscalationSnapshot, NewIncident
from slaguard.config import Config, parse_config
from slaguard.config.calendar import load_calendar
from slaguard.domain import Outcome, ProbeResult
from slaguard.evaluation import Evaluator
from slaguard.store import SQLiteStore
from slo.model import MaintenanceSpec
from slo.periods import to_ms

TZ = "Asia/Shanghai"
IV = 30_000
LOCATIONS = ("a", "b", "c")


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 10) -> int:
    return to_ms(datetime(2025, month, day, hour, minute, second, tzinfo=ZoneInfo(TZ)))


START = at(16, 18)
NOW = at(20, 12)


def raw_config(db: Path, customers: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    def target(name: str, service: str) -> dict[str, Any]:
        return {"name": name, "service": service, "kind": "http",
                "url": f"http://127.0.0.1:9/{name}", "interval": "30s", "timeout": "10s"}

    return {
        "version": 1, "timezone": TZ, "storage": {"path": str(db)},
        "location": "a", "locations": list(LOCATIONS),
        "services": {
            "core": {"title": "核心服务 / Core service", "availability": "99.9%"},
            "storage": {"title": "数据存储 / Data storage", "availability": "99.99%"},
        },
        "targets": [target("web", "core"), target("db", "storage")],
        "maintenance": [{
            "id": "upgrade", "services": ["core"], "title": "数据库升级 / Database upgrade",
            "start": "2025-10-19T02:00:00+08:00", "end": "2025-10-19T03:00:00+08:00",
            "announced": "2025-09-20T10:00:00+08:00"}],
        "customers": list(customers),
    }


def config(db: Path, customers: Sequence[dict[str, Any]] = ()) -> Config:
    cfg, _ = parse_config(raw_config(db, customers), env={})
    return cfg


# (target, from, to, locations): results in [from, to) fail at those locations.
FAULTS = (
    ("web", at(17, 10), at(17, 10, 5), "ab"),
    ("web", at(18, 15), at(18, 15, 1), "ab"),
    ("web", at(18, 16), at(18, 16) + 1, "c"),
    ("web", at(19, 2), at(19, 3), "abc"),
    ("db", at(20, 9), at(20, 9, 1), "bc"),
)


def failing(target: str, location: str, ts: int) -> bool:
    return any(t == target and lo <= ts < hi and location in locs
               for t, lo, hi, locs in FAULTS)


def silent(target: str, ts: int) -> bool:
    return target == "db" and at(18, 20) <= ts < at(18, 21)


def results(start: int = START, end: int = NOW) -> Iterator[ProbeResult]:
    service = {"web": "core", "db": "storage"}
    for ts in range(start, end, IV):
        for target in ("web", "db"):
            for loc in LOCATIONS:
                if silent(target, ts):
                    continue
                bad = failing(target, loc, ts)
                yield ProbeResult(ts, target, service[target], loc, "http",
                                  Outcome.FAILURE if bad else Outcome.SUCCESS, 120,
                                  status_code=503 if bad else 200)


def store(cfg: Config, extra: Sequence[ProbeResult] = ()) -> SQLiteStore:
    s = SQLiteStore(cfg.storage.path)
    s.add([*extra, *results()], {"web": IV, "db": IV})
    return s


def evaluator(cfg: Config, s: SQLiteStore,
              api_windows: list[MaintenanceSpec] | None = None) -> Evaluator:
    windows = api_windows if api_windows is not None else []
    return Evaluator(cfg, s, load_calendar(cfg), maintenance=lambda: list(windows))


OUTAGE_TITLE = "核心服务 / Core service：服务中断（已确认） / service down (confirmed)"


def incident(service: str, priority: Priority, title: str, opened: int,
             source: str = "rules") -> NewIncident:
    return NewIncident(f"{service}/{title}", service, "availability", priority, title, "", source,
                       {}, opened, None, None, None, EscalationSnapshot(), None)


def record_incidents(alerting: AlertingStore) -> None:
    with alerting.transaction() as tx:
        tx.insert_incident(incident("core", Priority.P1, OUTAGE_TITLE, at(17, 10, 1)))
        tx.insert_incident(incident("storage", Priority.P3, "数据存储 / Data storage：延迟偏高",
                                    at(17, 9, 30)))
        tx.insert_incident(incident("-", Priority.P3, "通知投递失败 / notification dead-lettered",
                                    at(17, 9), source="internal"))
        done = tx.insert_incident(incident("core", Priority.P2, "昨日 API 超时 / API timeouts",
                                           at(16, 20)))
        tx.update_incident(done, at(16, 21), responded_ms=at(16, 20, 4),
                           restored_ms=at(16, 20, 40), resolved_ms=at(16, 21))
        old = tx.insert_incident(incident("storage", Priority.P3, "上月存储变慢 / Slow storage",
                                          at(20, 8, month=9)))
        tx.update_incident(old, at(21, 10, month=9), resolved_ms=at(21, 10, 30, month=9))
        tx.insert_maintenance(MaintenanceSpec(
            "mw-storage", ("storage",), at(22, 1), at(22, 2), at(16, 19),
            "存储扩容 / Storage expansion"), at(16, 19), "ops")
        tx.insert_maintenance(MaintenanceSpec(  # not announced yet: not public
            "mw-secret", ("core",), at(24, 1), at(24, 2), None, "未公告 / Unannounced"),
            at(16, 19), "ops")
