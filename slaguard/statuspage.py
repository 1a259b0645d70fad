"""The public status page: ``GET /status`` (HTML), ``GET /api/v1/status`` (JSON), ``/`` → /status.

What it shows, per service: the current state (operational, degraded, outage,
maintenance, no data) from the live probe state and the current SLO report; 90
daily bars in the contract's time zone, each day's availability computed
exactly as the SLO report computes a month (same timeline, confirmation,
quorum, maintenance and no-data rules, via ``slo.availability.evaluate``);
then the open incidents, the incidents of the last 90 days with their
timelines (opened, acknowledged, restored, resolved, each with the time since
opening) and the announced maintenance that is upcoming or in progress.

One basis for every figure on the page: only monitored time, from a service's
first result on.  "This month" is the sum of this month's bars, "90 days" the
sum of all bars, and the page says so in words.  (The monthly SLA report and
the statements keep the contract's whole-month basis, where time before the
first result falls under the no-data rule.)

Day bars:

* A day is evaluated from the later of its local midnight and the service's
  first observation (days before a service was monitored are *no data*, not
  100 %) up to the earlier of its end and ``now``.
* Its state, worst first: *outage* (availability below the objective),
  *degraded* (downtime, but within the objective), *maintenance* (qualifying
  maintenance, no downtime), *no data* (nobody could judge the day),
  *operational*.
* The 90-day figure divides the summed downtime by the summed evaluated time of
  those days, so it is the sum of what the bars print.
* Closed days are cached once they can no longer change (a settling time after
  midnight covers confirmation chains that cross it); a new or changed
  maintenance window clears the cache.

Everything is server-rendered and self-contained (no external resources) and
works without JavaScript.  ``static/status.js`` adds arrow-key movement between
the day cells and refreshes the page in place every ``REFRESH_S`` seconds from
``/api/v1/status`` (the labels it needs are embedded as a JSON data block, as
CSP allows no inline script).  ``/favicon.ico`` and ``/static/favicon.svg`` are
the icon.
"""

from __future__ import annotations

import asyncio
import enum
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from itertools import groupby
from typing import Any

import numpy as np
from aiohttp import web

from alerting.store import AlertingStore, IncidentRecord
from probes.base import wall_ms
from slaguard.domain import Outcome
from slaguard.evaluation import Evaluator
from slaguard.jsonapi import dumps
from slaguard.state import LiveState, SeriesKey, SeriesState
from slaguard.web import Pair, add_static, html_response
from slo.availability import Availability, evaluate
from slo.evaluator import LOOKBACK_MS
from slo.fmt import percent_down, percent_text
from slo.intervals import IntervalSet
from slo.maintenance import assess_all, qualifying_time
from slo.model import AvailabilityRules, MaintenanceSpec, Policy, ServiceSpec
from slo.periods import (
    Period,
    from_ms,
    local_date,
    local_midnight_ms,
    month_containing,
    rfc3339,
)
from slo.report import Report
from slo.timeline import SeriesRuns, ServiceTimeline, build_service_timeline, quorum_holds

DAYS = 90
REFRESH_S = 30  # how often the page refreshes itself from /api/v1/status
MAX_INCIDENTS = 200  # past incidents listed (the newest)
SILENT_INTERVALS = 3  # a latest result older than this many intervals is not "live"
MIN_SETTLE_MS = 10 * 60_000

class State(enum.StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    OUTAGE = "outage"
    MAINTENANCE = "maintenance"
    NODATA = "nodata"


# Worst first wins for the page banner.
RANK: Mapping[State, int] = {State.OUTAGE: 4, State.DEGRADED: 3, State.MAINTENANCE: 2,
                             State.NODATA: 1, State.OPERATIONAL: 0}

STATE_LABELS: Mapping[State, Pair] = {
    State.OPERATIONAL: ("正常运行", "Operational"),
    State.DEGRADED: ("性能下降", "Degraded"),
    State.OUTAGE: ("服务中断", "Outage"),
    State.MAINTENANCE: ("计划维护", "Maintenance"),
    State.NODATA: ("暂无数据", "No data"),
}
BANNERS: Mapping[State, Pair] = {
    State.OPERATIONAL: ("所有服务运行正常", "All systems operational"),
    State.DEGRADED: ("部分服务性能下降", "Some services are degraded"),
    State.OUTAGE: ("服务中断", "Service outage"),
    State.MAINTENANCE: ("计划维护进行中", "Maintenance in progress"),
    State.NODATA: ("部分服务暂无监测数据", "Some services have no current data"),
}
EVENTS: Mapping[str, Pair] = {
    "opened": ("发生", "Opened"),
    "acknowledged": ("已响应", "Acknowledged"),
    "restored": ("已恢复", "Restored"),
    "resolved": ("已解决", "Resolved"),
}
INCIDENT_STATES: Mapping[str, Pair] = {
    "opened": ("调查中", "Investigating"),
    "acknowledged": ("处理中", "Identified"),
    "restored": ("已恢复，观察中", "Monitoring"),
    "resolved": ("已解决", "Resolved"),
}
LABELS: Mapping[str, Pair] = {
    "title": ("服务状态", "Service status"),
    "updated": ("更新于", "Updated"),
    "timezone": ("时区", "Time zone"),
    "services": ("服务", "Services"),
    "this_month": ("本月可用性", "This month"),
    "since": ("监测始于", "monitored since"),
    "not_monitored": ("尚未开始监测", "not monitored yet"),
    "basis": ("“本月可用性”与“{n} 天可用性”口径相同：都只统计开始监测（收到第一个探测结果）"
              "以后的时间，之前没有数据的时间不计入。月度 SLA 报告与补偿对账单按合同口径计算整月。",
              "This month's figure and the {n}-day figure use one basis: both count only "
              "the time since monitoring began (the first probe result); time before it is "
              "left out. "
              "The monthly SLA report and the statements use the contract's whole-month "
              "basis."),
    "refresh": ("每 {s} 秒自动更新", "updates itself every {s} s"),
    "refresh_failed": ("暂时无法更新，显示的是上次更新的数据。",
                       "Could not update; showing the last data received."),
    "objective": ("承诺", "objective"),
    "days": ("天", "days"),
    "uptime": ("{n} 天可用性", "{n}-day availability"),
    "days_ago": ("天前", "days ago"),
    "today": ("今天", "Today"),
    "availability": ("可用性", "availability"),
    "downtime": ("停机", "downtime"),
    "minutes": ("分钟", "min"),
    "maintenance_time": ("计划维护", "maintenance"),
    "coverage": ("监测覆盖率", "coverage"),
    "no_data": ("无数据", "no data"),
    "notable_days": ("异常日", "Days with downtime or maintenance"),
    "none_notable": ("近 90 天无停机", "No downtime in the last 90 days"),
    "date": ("日期", "Date"),
    "state": ("状态", "State"),
    "incidents": ("未解决事件", "Open incidents"),
    "no_incidents": ("当前没有未解决的事件", "No open incidents"),
    "history": ("近 {n} 天已解决的事件", "Resolved in the last {n} days"),
    "no_history": ("近 {n} 天没有已解决的事件", "No resolved incidents in the last {n} days"),
    "after": ("发生后 ", "after "),
    "lasted": ("持续", "Lasted"),
    "ongoing": ("已持续", "Ongoing for"),
    "maintenance": ("计划维护", "Scheduled maintenance"),
    "no_maintenance": ("暂无已公告的计划维护", "No announced maintenance"),
    "priority": ("优先级", "Priority"),
    "service": ("服务", "Service"),
    "opened": ("发生时间", "Opened"),
    "resolved": ("解决时间", "Resolved"),
    "window": ("维护时间", "Window"),
    "announced": ("公告时间", "Announced"),
    "in_progress": ("进行中", "In progress"),
    "upcoming": ("即将进行", "Upcoming"),
    "legend": ("图例", "Legend"),
    "json": ("JSON 数据", "JSON"),
    "method": ("每日可用性按合同时区的自然日计算，与月度 SLA 报告口径一致：仅计入已确认的停机，"
               "按时公告的计划维护不计为停机。每日色条与多日可用性只统计开始监测以后的时间。",
               "Each day is a calendar day in the contract's time zone, computed like the "
               "monthly SLA report: only confirmed downtime counts, and maintenance announced "
               "in time is not downtime. The day bars and the multi-day figure count only "
               "time since monitoring began."),
}


# -- daily bars (pure) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayBar:
    day: date
    state: State
    elapsed_seconds: int = 0  # evaluated part of the day; 0: nothing to evaluate
    excluded_seconds: int = 0
    downtime_seconds: int = 0
    maintenance_seconds: int = 0
    gap_seconds: int = 0
    coverage: Fraction = Fraction(0)
    availability: Fraction | None = None


def window_days(now_ms: int, tz: str, days: int = DAYS) -> list[date]:
    """The ``days`` local dates ending today, oldest first."""
    today = local_date(now_ms, tz)
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def day_span(day: date, tz: str) -> tuple[int, int]:
    return local_midnight_ms(day, tz), local_midnight_ms(day + timedelta(days=1), tz)


def day_state(a: Availability) -> State:
    if a.downtime_seconds:
        return State.DEGRADED if a.met else State.OUTAGE
    if a.maintenance_seconds:
        return State.MAINTENANCE
    if a.coverage == 0:
        return State.NODATA
    return State.OPERATIONAL


def day_bar(tl: ServiceTimeline, spec: ServiceSpec, day: date, tz: str, now_ms: int,
            since_ms: int | None, maintenance: IntervalSet, rules: AvailabilityRules) -> DayBar:
    """One day of one service, evaluated from ``max(midnight, since_ms)`` to ``min(end, now)``."""
    start, end = day_span(day, tz)
    lo = start if since_ms is None else max(start, since_ms)
    if since_ms is None or lo >= min(end, now_ms):
        return DayBar(day, State.NODATA)
    a = evaluate(tl, spec, Period(lo, end, tz, day.isoformat()), now_ms, maintenance, rules)
    if a.elapsed_seconds == 0:
        return DayBar(day, State.NODATA)
    return DayBar(day, day_state(a), a.elapsed_seconds, a.excluded_seconds, a.downtime_seconds,
                  a.maintenance_seconds, a.gap_seconds, a.coverage, a.availability)


def uptime(bars: Sequence[DayBar]) -> Fraction | None:
    """Availability over the bars: summed downtime over summed evaluated time."""
    counted = sum(b.elapsed_seconds - b.excluded_seconds for b in bars)
    if counted <= 0:
        return None
    return 1 - Fraction(sum(b.downtime_seconds for b in bars), counted)


def settle_ms(policy: Policy) -> int:
    """How long after midnight a day can still change: confirmation chains and coverage
    that cross midnight (2 × interval per result, ``confirm`` + 1 results)."""
    longest = max((t.interval_ms for t in policy.targets if t.availability), default=0)
    return max(MIN_SETTLE_MS, 2 * longest * (policy.rules.confirm + 1))


DayBars = dict[str, DayBar]  # service → bar, for one day


class DailyBars:
    """Daily bars per service over the last ``days`` days, closed days cached.

    ``reuse_ms``: the open days of a computation are reused for that long (a
    status page is read most when something is down: many readers, one query).
    Thread-safe: handlers call it from worker threads.
    """

    def __init__(self, evaluator: Evaluator, days: int = DAYS, reuse_ms: int = 5000):
        self.evaluator = evaluator
        self.days = days
        self.reuse_ms = reuse_ms
        self.settle_ms = settle_ms(evaluator.policy)
        self._lock = threading.Lock()
        self._windows: tuple[MaintenanceSpec, ...] | None = None
        self._closed: dict[date, DayBars] = {}
        self._since: dict[str, int] = {}  # first observation of each service
        self._recent: tuple[int, dict[date, DayBars]] | None = None

    @property
    def policy(self) -> Policy:
        return self.evaluator.policy

    def windows(self) -> tuple[MaintenanceSpec, ...]:
        """Configured and API-created maintenance windows (config first, by id); only
        those the evaluator can use (``Evaluator.windows``)."""
        merged = {w.id: w for w in (*self.evaluator.windows(), *self.policy.maintenance)}
        return tuple(sorted(merged.values(), key=lambda w: (w.start_ms, w.id)))

    def bars(self, now_ms: int) -> dict[str, list[DayBar]]:
        with self._lock:
            days = window_days(now_ms, self.policy.timezone, self.days)
            self._check_windows()
            fresh = self._open_days(days, now_ms)
            return {s.name: [self._closed.get(d, fresh.get(d, {})).get(s.name)
                             or DayBar(d, State.NODATA) for d in days]
                    for s in self.policy.services}

    def since(self, service: str) -> int | None:
        """The service's first observation, once ``bars`` has seen it."""
        with self._lock:
            return self._since.get(service)

    def _check_windows(self) -> None:
        windows = self.windows()
        if windows != self._windows:
            self._windows, self._recent = windows, None
            self._closed.clear()

    def _open_days(self, days: list[date], now_ms: int) -> dict[date, DayBars]:
        todo = [d for d in days if d not in self._closed]
        if not todo:
            return {}
        if self._recent is not None and 0 <= now_ms - self._recent[0] < self.reuse_ms \
                and set(todo) <= self._recent[1].keys():
            return self._recent[1]
        computed = self._compute(todo, now_ms)
        tz = self.policy.timezone
        for d, bars in computed.items():
            if day_span(d, tz)[1] + self.settle_ms <= now_ms:
                self._closed[d] = bars
        for d in [d for d in self._closed if d < days[0]]:
            del self._closed[d]
        self._recent = (now_ms, computed)
        return computed

    def _series(self, from_ms: int, now_ms: int) -> list[SeriesRuns]:
        targets = sorted({t for s in self.policy.services for t in s.targets})
        runs = self.evaluator.store.runs(from_ms - LOOKBACK_MS, now_ms, targets)
        return [SeriesRuns(t, loc, r) for (t, loc), r in runs.items()]

    def _compute(self, todo: list[date], now_ms: int) -> dict[date, DayBars]:
        policy, tz = self.policy, self.policy.timezone
        series = self._series(day_span(todo[0], tz)[0], now_ms)
        assessments = assess_all(self._windows or (), policy.rules.notice_working_days,
                                 self.evaluator.calendar, tz)
        out: dict[date, DayBars] = {d: {} for d in todo}
        for spec in policy.services:
            tl = build_service_timeline(spec, series, policy, now_ms)
            if spec.name not in self._since and tl.known:
                self._since[spec.name] = int(tl.known.starts[0])
            m = qualifying_time(assessments, spec.name)
            for d in todo:
                out[d][spec.name] = day_bar(tl, spec, d, tz, now_ms, self._since.get(spec.name),
                                            m, policy.rules)
        return out


# -- current state (pure) -----------------------------------------------------------------------


class Live(enum.StrEnum):
    """What the newest results of a service say right now."""

    UP = "up"
    FAILING = "failing"  # some location sees a failure, no quorum
    DOWN = "down"  # the quorum rule holds on the newest results (not yet confirmed)
    UNKNOWN = "unknown"  # nothing recent enough to judge


def _quorum_down(outcomes: Sequence[Outcome], policy: Policy) -> bool:
    down = np.array([sum(o is Outcome.FAILURE for o in outcomes)], dtype=np.int64)
    known = np.array([len(outcomes)], dtype=np.int64)
    return bool(quorum_holds(down, known, policy.rules.quorum)[0])


def live_verdict(spec: ServiceSpec, policy: Policy,
                 snapshot: Sequence[tuple[SeriesKey, SeriesState]], now_ms: int) -> Live:
    intervals = {t.name: t.interval_ms for t in policy.targets}
    by_target: dict[str, list[Outcome]] = {}
    for (target, service, _loc, _kind), st in snapshot:
        r = st.latest
        fresh = target in intervals and now_ms - r.ts_ms <= SILENT_INTERVALS * intervals[target]
        if service == spec.name and fresh and r.outcome is not Outcome.UNKNOWN:
            by_target.setdefault(target, []).append(r.outcome)
    if not by_target:
        return Live.UNKNOWN
    votes = [_quorum_down(by_target[t], policy) for t in spec.targets if t in by_target]
    down = any(votes) if spec.down_when == "any" else bool(votes) and all(votes)
    if down:
        return Live.DOWN
    failing = any(o is Outcome.FAILURE for os in by_target.values() for o in os)
    return Live.FAILING if failing else Live.UP


def _service_report(report: Report | None, name: str) -> Any:
    if report is None:
        return None
    try:
        return report.service(name)
    except KeyError:
        return None


def ongoing_outage(report: Report | None, name: str) -> bool:
    s = _service_report(report, name)
    return s is not None and bool(s.availability.outages) and s.availability.outages[-1].ongoing


def burning(report: Report | None, name: str) -> bool:
    s = _service_report(report, name)
    return s is not None and s.burn is not None and bool(s.burn.firing)


def service_state(name: str, live: Live, report: Report | None, in_maintenance: bool) -> State:
    """Maintenance > confirmed outage not yet recovered > degraded > no data > operational."""
    if in_maintenance:
        return State.MAINTENANCE
    if live in (Live.DOWN, Live.UNKNOWN) and ongoing_outage(report, name):
        return State.OUTAGE
    if live in (Live.DOWN, Live.FAILING) or burning(report, name):
        return State.DEGRADED
    if live is Live.UNKNOWN:
        return State.NODATA
    return State.OPERATIONAL


def overall(states: Sequence[State]) -> State:
    if not states:
        return State.NODATA
    if all(s is State.NODATA for s in states):
        return State.NODATA
    return max(states, key=lambda s: RANK[s])


# -- the document (the JSON, and what the template reads) ----------------------------------------


def minutes_text(seconds: int) -> str:
    """Whole seconds as minutes, rounded *up* to 0.1 (5 s of downtime never shows as 0)."""
    tenths = -(-seconds * 10 // 60)
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"


def duration_text(seconds: int) -> Pair:
    """A duration for people: "2 小时 5 分钟" / "2 h 5 min"; whole minutes, rounded down
    (days drop the minutes: "1 天 3 小时")."""
    if seconds < 60:
        return "不到 1 分钟", "under 1 min"
    days, rest = divmod(seconds // 60, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "天", "d"), (hours, "小时", "h")] if days else \
        [(hours, "小时", "h"), (minutes, "分钟", "min")]
    shown = [(n, zh, en) for n, zh, en in parts if n]
    return (" ".join(f"{n} {zh}" for n, zh, _ in shown),
            " ".join(f"{n} {en}" for n, _, en in shown))


def day_doc(b: DayBar) -> dict[str, Any]:
    return {
        "date": b.day.isoformat(),
        "state": b.state.value,
        "availability_percent": None if b.availability is None else percent_down(b.availability),
        "downtime_seconds": b.downtime_seconds,
        "downtime_minutes": minutes_text(b.downtime_seconds),
        "maintenance_seconds": b.maintenance_seconds,
        "maintenance_minutes": minutes_text(b.maintenance_seconds),
        "gap_seconds": b.gap_seconds,
        "evaluated_seconds": b.elapsed_seconds,
        "coverage_percent": None if b.elapsed_seconds == 0 else percent_down(b.coverage),
    }


def month_doc(bars: Sequence[DayBar], spec: ServiceSpec, label: str) -> dict[str, Any]:
    """This month on the page's basis: this month's bars, i.e. monitored time only."""
    total = uptime(bars)
    return {"month": label, "basis": "monitored",
            "availability_percent": None if total is None else percent_down(total),
            "downtime_seconds": sum(b.downtime_seconds for b in bars),
            "monitored_seconds": sum(b.elapsed_seconds for b in bars),
            "met": None if total is None else total >= Fraction(spec.objective_percent) / 100}


def timeline(i: IncidentRecord, tz: str) -> list[dict[str, Any]]:
    """Opened, acknowledged, restored, resolved: those reached, each with its delay."""
    steps = (("opened", i.opened_ms), ("acknowledged", i.responded_ms),
             ("restored", i.restored_ms), ("resolved", i.resolved_ms))
    return [{"event": event, "at": rfc3339(ms, tz), "after_seconds": (ms - i.opened_ms) // 1000,
             "after": duration_text(max(0, ms - i.opened_ms) // 1000)}
            for event, ms in steps if ms is not None]


def incident_doc(i: IncidentRecord, titles: Mapping[str, str], tz: str,
                 now_ms: int) -> dict[str, Any]:
    end = now_ms if i.resolved_ms is None else i.resolved_ms
    seconds = max(0, end - i.opened_ms) // 1000
    return {
        "id": i.public_id, "service": i.service, "service_title": titles.get(i.service, i.service),
        "priority": i.priority.value, "priority_label": i.priority.label,
        "title": i.title, "state": i.state, "opened": rfc3339(i.opened_ms, tz),
        "acknowledged": None if i.responded_ms is None else rfc3339(i.responded_ms, tz),
        "restored": None if i.restored_ms is None else rfc3339(i.restored_ms, tz),
        "resolved": None if i.resolved_ms is None else rfc3339(i.resolved_ms, tz),
        "timeline": timeline(i, tz), "ongoing": i.resolved_ms is None,
        "duration_seconds": seconds, "duration": duration_text(seconds),
    }


def by_day(incidents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Incident documents (newest first) grouped by the local date they were opened."""
    return [{"date": d, "incidents": list(group)}
            for d, group in groupby(incidents, key=lambda i: str(i["opened"])[:10])]


def maintenance_doc(w: MaintenanceSpec, titles: Mapping[str, str], tz: str,
                    now_ms: int) -> dict[str, Any]:
    return {
        "id": w.id, "title": w.title, "services": list(w.services),
        "service_titles": [titles.get(s, s) for s in w.services],
        "start": rfc3339(w.start_ms, tz), "end": rfc3339(w.end_ms, tz),
        "announced": None if w.announced_ms is None else rfc3339(w.announced_ms, tz),
        "in_progress": w.start_ms <= now_ms < w.end_ms,
    }


def announced(windows: Sequence[MaintenanceSpec], now_ms: int) -> list[MaintenanceSpec]:
    """Windows already announced that have not ended (an unannounced window is not public)."""
    return [w for w in windows
            if w.announced_ms is not None and w.announced_ms <= now_ms < w.end_ms]


def public(incidents: Sequence[IncidentRecord], services: Mapping[str, str]
           ) -> list[IncidentRecord]:
    """Incidents of configured services; slaguard's own (``internal``, ``self``: its
    monitoring gaps) stay private."""
    return [i for i in incidents
            if i.source not in ("internal", "self") and i.service in services]


@dataclass
class StatusPage:
    """What ``/status`` and ``/api/v1/status`` read: the evaluator (policy, record,
    calendar, maintenance), the live state (newest results, the current SLO report)
    and the alerting store (incidents)."""

    evaluator: Evaluator
    state: LiveState
    alerting: AlertingStore
    now_ms: Callable[[], int] = wall_ms
    days: int = DAYS
    refresh_s: int = REFRESH_S
    daily: DailyBars = field(init=False)

    def __post_init__(self) -> None:
        self.daily = DailyBars(self.evaluator, self.days)

    @property
    def titles(self) -> dict[str, str]:
        return {s.name: s.title or s.name for s in self.evaluator.policy.services}

    def document(self) -> dict[str, Any]:
        now, policy = self.now_ms(), self.evaluator.policy
        tz = policy.timezone
        windows = announced(self.daily.windows(), now)
        services = self._services(now, windows)
        open_, resolved = self._incidents(now)
        return {
            "generated": rfc3339(now, tz), "timezone": tz,
            "utc_offset": from_ms(now, tz).strftime("%z"), "days": self.days,
            "refresh_seconds": self.refresh_s,
            "state": overall([State(s["state"]) for s in services]).value,
            "services": services,
            "incidents": [incident_doc(i, self.titles, tz, now) for i in open_],
            "resolved_incidents": [incident_doc(i, self.titles, tz, now) for i in resolved],
            "maintenance": [maintenance_doc(w, self.titles, tz, now) for w in windows],
        }

    def _services(self, now: int, windows: Sequence[MaintenanceSpec]) -> list[dict[str, Any]]:
        policy, report = self.evaluator.policy, self.state.slo_report
        bars, snapshot = self.daily.bars(now), self.state.snapshot()
        month = month_containing(now, policy.timezone)
        out = []
        for spec in policy.services:
            live = live_verdict(spec, policy, snapshot, now)
            in_m = any(w.start_ms <= now and spec.name in w.services for w in windows)
            total, since = uptime(bars[spec.name]), self.daily.since(spec.name)
            this_month = [b for b in bars[spec.name]
                          if local_midnight_ms(b.day, policy.timezone) >= month.start_ms]
            out.append({
                "service": spec.name, "title": spec.title or spec.name,
                "state": service_state(spec.name, live, report, in_m).value, "live": live.value,
                "objective": percent_text(spec.objective_percent),
                "monitored_since": None if since is None else rfc3339(since, policy.timezone),
                "month": month_doc(this_month, spec, month.label),
                "uptime_percent": None if total is None else percent_down(total),
                "days": [day_doc(b) for b in bars[spec.name]],
            })
        return out

    def _incidents(self, now: int) -> tuple[list[IncidentRecord], list[IncidentRecord]]:
        """Open incidents (worst first), and those resolved that were opened in the days
        the bars show (newest first)."""
        first_day = window_days(now, self.evaluator.policy.timezone, self.days)[0]
        since = local_midnight_ms(first_day, self.evaluator.policy.timezone)
        with self.alerting.reading() as tx:
            open_ = tx.incidents(only_open=True, newest_first=True, limit=100)
            recent = tx.incidents(since, None, newest_first=True, limit=MAX_INCIDENTS)
        # One that cannot be shown (an instant past 2100) is left out, not a 500.
        open_ = self.evaluator.usable_shown(open_, "status page open")
        recent = self.evaluator.usable_shown(recent, "status page recent")
        open_.sort(key=lambda i: i.priority.value)  # stable: newest first within a priority
        return public(open_, self.titles), public([i for i in recent if not i.is_open],
                                                  self.titles)


def script_labels() -> str:
    """What ``status.js`` needs to render what the template renders, as a JSON data block
    (``</`` escaped so no text can close the element)."""
    doc = {"L": LABELS, "STATES": {s.value: p for s, p in STATE_LABELS.items()},
           "BANNERS": {s.value: p for s, p in BANNERS.items()},
           "INCIDENT_STATES": INCIDENT_STATES, "EVENTS": EVENTS}
    return json.dumps(doc, ensure_ascii=False).replace("</", "<\\/")


# -- handlers -----------------------------------------------------------------------------------

STATUS_KEY: web.AppKey[StatusPage] = web.AppKey("status_page", StatusPage)


async def _document(request: web.Request) -> dict[str, Any]:
    return await asyncio.to_thread(request.app[STATUS_KEY].document)


async def status_html(request: web.Request) -> web.Response:
    doc = await _document(request)
    resp = html_response("status.html.j2", doc=doc, L=LABELS, STATES=STATE_LABELS,
                         BANNERS=BANNERS, INCIDENT_STATES=INCIDENT_STATES, EVENTS=EVENTS,
                         State=State, history=by_day(doc["resolved_incidents"]),
                         labels_json=script_labels())
    resp.headers["Cache-Control"] = "no-cache"
    return resp


async def status_json(request: web.Request) -> web.Response:
    doc = await _document(request)
    return web.json_response(doc, dumps=dumps, headers={"Cache-Control": "no-cache"})


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/status")



def register_routes(app: web.Application, page: StatusPage) -> None:
    """``/`` (redirect), ``/status``, ``/api/v1/status``, ``/static/`` and ``/favicon.ico``."""
    app[STATUS_KEY] = page
    app.router.add_get("/", root)
    app.router.add_get("/status", status_html)
    app.router.add_get("/api/v1/status", status_json)
    add_static(app)
