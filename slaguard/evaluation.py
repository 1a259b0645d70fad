"""The I/O side of evaluation: read the record, call the pure ``slo`` evaluator.

The CLI (``report``), the API (``/api/v1/slo``) and the scheduled SLO job all
come through here, so they agree to the second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable

import slo
from slaguard.config import Config
from slaguard.store import SQLiteStore
from slo.calendar import WorkingDayCalendar
from slo.compensation import IncidentRecord
from slo.model import MaintenanceSpec


class Evaluator:
    """``maintenance``: windows created at run time (the API), merged with the
    configured ones; ``incidents``: incidents of a period from the alerting
    record, for statements."""

    def __init__(self, cfg: Config, store: SQLiteStore, calendar: WorkingDayCalendar,
                 maintenance: Callable[[], Iterable[MaintenanceSpec]] = tuple,
                 incidents: Callable[[slo.Period], list[IncidentRecord]] = lambda _: []):
        self.cfg = cfg
        self.store = store
        self.calendar = calendar
        self.maintenance = maintenance
        self.incidents = incidents
        self.policy = slo.from_config(cfg)
        self._latency_targets = sorted({t for o in self.policy.latency for t in o.targets})
        self._freshness_targets = sorted({t for o in self.policy.freshness for t in o.targets})

    def report(self, period: slo.Period, now_ms: int,
               services: Collection[str] | None = None, burn: bool | None = None) -> slo.Report:
        lo, hi = slo.runs_window(period, now_ms)
        series = [slo.SeriesRuns(target, location, runs)
                  for (target, location), runs in self.store.runs(lo, hi).items()]
        until = period.until(now_ms)
        latency = [slo.LatencySeries(t, loc, ts, d) for (t, loc), (ts, d) in
                   self.store.durations(self._latency_targets, period.start_ms, until).items()]
        freshness = self.store.recovery_points(self._freshness_targets, period.start_ms, until)
        policy = dataclasses.replace(
            self.policy, maintenance=self.policy.maintenance + tuple(self.maintenance()))
        return slo.build_report(policy, period, now_ms, series, calendar=self.calendar,
                                latency=latency, services=services, burn=burn,
                                freshness=[slo.FreshnessSample(ts, rp, t, loc)
                                           for t, loc, ts, rp in freshness])

    def month(self, month: str, now_ms: int, services: Collection[str] | None = None
              ) -> slo.Report:
        return self.report(slo.parse_month(month, self.policy.timezone), now_ms, services)

    def current(self, now_ms: int) -> slo.Report:
        """This month to date, with burn rates: what the gauges and alerting read."""
        return self.report(slo.month_containing(now_ms, self.policy.timezone), now_ms, burn=True)
