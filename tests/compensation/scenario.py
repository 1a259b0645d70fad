"""A small month for the golden statements: October 2026, two services, two locations.

* core (99.9 %): ``web`` fails from both locations 10-20 10:00–10:45 (45 min) and
  during maintenance MW-2026-10-14 02:00–02:20, announced 09-30: the National
  Day holiday leaves 5 working days of the 7 required, so those 20 min count; both
  core targets are silent 10-25 12:00–12:10 (a monitoring gap, counted as up).
* storage (99.99 %): down 10-21 03:00–03:05; failures inside the qualifying
  maintenance MW-2026-10-27 are not downtime.
* incidents: a P1 answered 3 min late (20 %: 5 %), a P3 answered 1 h 30 min late
  (75 %: 10 %) with 30 min of data lost (50 %), one of another customer and one
  of September (both ignored).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slaguard.config import Config, parse_config
from slaguard.domain import Outcome
from slaguard.policy import from_config
from slo import Report, build_report, make_calendar, parse_month
from slo.compensation import IncidentRecord
from slo.periods import to_ms
from slo.runs import runs_from_results
from slo.timeline import SeriesRuns

TZ = "Asia/Shanghai"
IV = 60_000
LOCATIONS = ("shanghai", "beijing")

CONFIG: dict[str, Any] = {
    "version": 1,
    "timezone": TZ,
    "location": "shanghai",
    "locations": list(LOCATIONS),
    "services": {
        "core": {"title": "核心服务 / Core service", "availability": "99.9%"},
        "storage": {"title": "数据存储 / Data storage", "availability": "99.99%"},
    },
    "targets": [
        {"name": "web", "service": "core", "kind": "http", "url": "https://app.example.com/",
         "interval": "60s", "timeout": "10s"},
        {"name": "api", "service": "core", "kind": "http",
         "url": "https://api.example.com/v1/health", "interval": "60s", "timeout": "5s"},
        {"name": "store", "service": "storage", "kind": "http",
         "url": "https://api.example.com/v1/storage/probe-object", "interval": "60s",
         "timeout": "5s"},
    ],
    "maintenance": [
        {"id": "MW-2026-10-14", "services": ["core"], "title": "数据库升级 / database upgrade",
         "start": "2026-10-14T02:00:00+08:00", "end": "2026-10-14T04:00:00+08:00",
         "announced": "2026-09-30T10:00:00+08:00"},
        {"id": "MW-2026-10-27", "services": ["storage"], "title": "存储扩容 / storage expansion",
         "start": "2026-10-27T01:00:00+08:00", "end": "2026-10-27T01:30:00+08:00",
         "announced": "2026-10-09T10:00:00+08:00"},
    ],
    "incidents": {"priorities": {
        "P1": {"respond": "15m", "restore": "4h", "resolve": "24h"},
        "P2": {"respond": "30m", "restore": "8h", "resolve": "48h"},
        "P3": {"respond": "2h", "resolve": "24h"},
        "P4": {"respond": "8h", "resolve": "72h"},
    }},
    "compensation": {
        "policy_version": "2026.1", "currency": "CNY",
        "availability": {"mode": "tiered",
                         "tiers": [[99.0, 10], [95.0, 25], [90.0, 50], [0, 100]],
                         "linear_factor": 10},
        "interruption": "prorata",
        "response": {"combine": "worst", "tiers": [[50, 5], [100, 10], [".inf", 20]]},
        "data_loss": {"tiers": [["1h", 50], ["24h", 100], [".inf", 300]]},
        "cap": "100%",
        "settlement": ["fee_reduction", "extension"],
    },
    "customers": [
        {"id": "acme", "name": "某某建设集团有限公司", "monthly_fee": "12000.00",
         "services": ["core", "storage"], "contract": "HT-2026-0042"},
        {"id": "globex", "name": "Globex Ltd.", "monthly_fee": "800.00", "services": ["core"]},
    ],
}


@functools.cache
def at(text: str) -> int:
    """``"10-20 10:00"`` in October 2026, Shanghai time, as epoch ms."""
    return to_ms(datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(
        tzinfo=ZoneInfo(TZ)))


START, END = at("10-01 00:00"), at("11-02 00:00")  # a day past the month for the lookahead
NOW = at("11-06 09:00")  # the 5th working day of November

Rule = Callable[[int], Outcome | None]  # ts → outcome, None for no result


def _between(ts: int, lo: str, hi: str) -> bool:
    return at(lo) <= ts < at(hi)


def _web(ts: int) -> Outcome | None:
    if _between(ts, "10-25 12:00", "10-25 12:10"):
        return None
    down = _between(ts, "10-20 10:00", "10-20 10:45") or _between(ts, "10-14 02:00",
                                                                     "10-14 02:20")
    return Outcome.FAILURE if down else Outcome.SUCCESS


def _api(ts: int) -> Outcome | None:
    return None if _between(ts, "10-25 12:00", "10-25 12:10") else Outcome.SUCCESS


def _store(ts: int) -> Outcome | None:
    down = _between(ts, "10-21 03:00", "10-21 03:05") or _between(ts, "10-27 01:00",
                                                                    "10-27 01:30")
    return Outcome.FAILURE if down else Outcome.SUCCESS


RULES: dict[str, Rule] = {"web": _web, "api": _api, "store": _store}


def series() -> list[SeriesRuns]:
    out = []
    for target, rule in RULES.items():
        ts, outcomes = [], []
        for t in range(START, END, IV):
            outcome = rule(t)
            if outcome is not None:
                ts.append(t)
                outcomes.append(outcome)
        runs = runs_from_results(ts, outcomes, IV)
        out += [SeriesRuns(target, loc, runs) for loc in LOCATIONS]
    return out


def config() -> Config:
    cfg, _ = parse_config(CONFIG, env={})
    return cfg


def report(cfg: Config, month: str = "2026-10", now_ms: int = NOW) -> Report:
    pol = from_config(cfg)
    return build_report(pol, parse_month(month, TZ), now_ms, series(),
                        calendar=make_calendar("CN"))


INCIDENTS = (
    IncidentRecord("INC-0999", "P1", at("09-30 23:00"), at("09-30 23:50")),
    IncidentRecord("INC-1001", "P1", at("10-20 10:02"), at("10-20 10:20"), at("10-20 10:45"),
                   at("10-20 16:00"), title="前端不可用 / web front end down"),
    IncidentRecord("INC-1002", "P3", at("10-21 03:01"), at("10-21 06:31"), at("10-21 03:05"),
                   at("10-21 12:00"), data_lost_seconds=1800, services=("storage",),
                   title="存储读取错误 / storage read errors"),
    IncidentRecord("INC-1003", "P2", at("10-22 09:00"), at("10-22 12:00"), customer="globex"),
)
