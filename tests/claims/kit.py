"""A small real record for the lifecycle and claim tests.

October 2026, Asia/Shanghai, one location, 5-minute probes (so a month is
~18 000 results and the record is written once per session):

* ``web`` (core, 99.9 %) fails 10-20 10:00–10:45: 45 min down, 99.899 %, the
  10 % tier: acme (12 000.00, core + storage) is owed 1 200.00 and globex
  (800.00, core) 80.00;
* ``store`` (storage, 99.99 %) is always up.

The statements of October are frozen on 2026-11-06, the 5th working day of
November.  :func:`add_late_incident` imports a late P1 into the record
afterwards, so a live statement changes while a frozen one must not.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from compensation.archive import StatementArchive
from compensation.claims import ClaimService, ClaimStore
from compensation.incidents_import import import_incidents
from compensation.lifecycle import StatementLifecycle
from slaguard.config import Config, parse_config
from slaguard.config.calendar import load_calendar
from slaguard.domain import Outcome, ProbeResult
from slaguard.evaluation import Evaluator
from slaguard.store import SQLiteStore
from slo.periods import to_ms

TZ = "Asia/Shanghai"
IV = 300_000
STAFF_TOKEN = "staff-s3cret"
ACME_TOKEN = "acme-t0ken"
GLOBEX_TOKEN = "globex-t0ken"
STAFF = {"Authorization": f"Bearer {STAFF_TOKEN}"}
ACME = {"Authorization": f"Bearer {ACME_TOKEN}"}
GLOBEX = {"Authorization": f"Bearer {GLOBEX_TOKEN}"}


def at(text: str, year: int = 2026) -> int:
    """``"10-20 10:00"`` (Shanghai time) as epoch ms."""
    return to_ms(datetime.strptime(f"{year}-{text}", "%Y-%m-%d %H:%M").replace(
        tzinfo=ZoneInfo(TZ)))


GENERATION_DAY = at("11-06 00:00")  # working day 5 of November 2026
AFTER = at("11-06 09:00")
BEFORE = at("11-05 23:59")


def config_dict(db: Path, api_token: str | None = STAFF_TOKEN,
                claim_window_days: int = 60) -> dict[str, Any]:
    return {
        "version": 1, "timezone": TZ, "location": "shanghai",
        "storage": {"path": str(db)},
        "server": {"api_token": api_token},
        "services": {
            "core": {"title": "核心服务 / Core service", "availability": "99.9%"},
            "storage": {"title": "数据存储 / Data storage", "availability": "99.99%"},
        },
        "targets": [
            {"name": "web", "service": "core", "kind": "http", "url": "https://app.example.com/",
             "interval": "5m", "timeout": "10s"},
            {"name": "store", "service": "storage", "kind": "http",
             "url": "https://api.example.com/storage", "interval": "5m", "timeout": "10s"},
        ],
        "incidents": {"priorities": {"P1": {"respond": "15m"}, "P2": {"respond": "30m"},
                                     "P3": {"respond": "2h"}, "P4": {"respond": "8h"}}},
        "compensation": {"policy_version": "2026.1", "claim_window_days": claim_window_days,
                         "settlement": ["fee_reduction", "extension"]},
        "customers": [
            {"id": "acme", "name": "某某建设集团有限公司", "monthly_fee": "12000.00",
             "services": ["core", "storage"], "contract": "HT-2026-0042", "token": ACME_TOKEN},
            {"id": "globex", "name": "Globex Ltd.", "monthly_fee": "800.00",
             "services": ["core"], "token": GLOBEX_TOKEN},
        ],
    }


def config(db: Path, **kw: Any) -> Config:
    cfg, _ = parse_config(copy.deepcopy(config_dict(db, **kw)), env={})
    return cfg


def _result(target: str, service: str, ts: int, down: bool) -> ProbeResult:
    return ProbeResult(ts, target, service, "shanghai", "http",
                       Outcome.FAILURE if down else Outcome.SUCCESS, 120,
                       status_code=503 if down else 200)


def results(start: int, end: int, web_down: tuple[int, int]) -> list[ProbeResult]:
    out = []
    for ts in range(start, end, IV):
        out.append(_result("web", "core", ts, web_down[0] <= ts < web_down[1]))
        out.append(_result("store", "storage", ts, False))
    return out


def write_record(db: Path) -> None:
    store = SQLiteStore(db)
    try:
        store.add(results(at("10-01 00:00"), at("11-02 00:00"),
                          (at("10-20 10:00"), at("10-20 10:45"))),
                  {"web": IV, "store": IV})
    finally:
        store.close()


LATE_INCIDENT = {"id": "INC-7", "priority": "P1", "opened": "2026-10-20T10:02:00+08:00",
                 "responded": "2026-10-20T10:30:00+08:00", "customer": "acme",
                 "title": "web down, answered late"}


def add_late_incident(db: Path) -> None:
    """A P1 of October answered 28 min after opening (15 min standard: 10 %), imported
    after the month was frozen: acme's live statement gains 1 200.00, the frozen one not."""
    path = db.parent / "incidents.jsonl"
    path.write_text(json.dumps(LATE_INCIDENT) + "\n", encoding="utf-8")
    import_incidents(db, path)


@dataclass
class Clock:
    now: int

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    cfg: Config
    store: SQLiteStore
    archive: StatementArchive
    lifecycle: StatementLifecycle
    claims: ClaimService
    clock: Clock

    def close(self) -> None:
        self.claims.close()
        self.archive.close()
        self.store.close()


def world(template: Path, tmp: Path, now: int = AFTER, **kw: Any) -> World:
    db = tmp / "slaguard.db"
    shutil.copyfile(template, db)
    cfg = config(db, **kw)
    store = SQLiteStore(db)
    archive = StatementArchive(db)
    lifecycle = StatementLifecycle(Evaluator(cfg, store, load_calendar(cfg)), archive)
    clock = Clock(now)
    return World(cfg, store, archive, lifecycle, ClaimService(ClaimStore(db), lifecycle, clock),
                 clock)
