"""The I/O side of evaluation: read the record, call the pure ``slo`` evaluator.

The CLI (``report``), the API (``/api/v1/slo``) and the scheduled SLO job all
come through here, so they agree to the second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from typing import TypeVar

import slo
from slaguard.config import Config
from slaguard.policy import from_config
from slaguard.records import (
    CONFIGURED_MAINTENANCE,
    INCIDENT,
    MAINTENANCE,
    RecordGuard,
    Rejected,
    usable_incidents,
    usable_maintenance,
    usable_timed,
)
from slaguard.store import SQLiteStore
from slo.calendar import WorkingDayCalendar
from slo.compensation import IncidentRecord
from slo.latency import exceeding_keys
from slo.model import LatencyObjective, MaintenanceSpec

# Results listed per broken latency bound (the rest are counted).
MAX_LISTED = 50
T = TypeVar("T")
PRIORITIES = frozenset({"P1", "P2", "P3", "P4"})


def latency_histograms(store: SQLiteStore, objectives: Iterable[LatencyObjective], from_ms: int,
                       to_ms: int, max_listed: int = MAX_LISTED) -> slo.LatencyHistograms:
    """What latency objectives need of [from, to): the store's histograms of their
    series and, per objective and bound, the first results above the bound's limit."""
    objectives = list(objectives)
    targets = sorted({t for o in objectives for t in o.targets})
    series = tuple(slo.LatencyHistogram(t, loc, values, counts) for (t, loc), (values, counts)
                   in store.latency_histograms(targets, from_ms, to_ms).items())
    exceeding = {
        (ts, limit): tuple(slo.LatencySample(*x) for x in store.first_above(
            ts, from_ms, to_ms, limit, max_listed))
        for ts, limit in exceeding_keys(objectives)
    }
    return slo.LatencyHistograms(from_ms, to_ms, max_listed, series, exceeding)


class Evaluator:
    """``maintenance``: windows created at run time (the API), merged with the
    configured ones; ``incidents``: incidents of a period from the alerting
    record, for statements; ``imported``: those of ``import-incidents`` (both go
    into the report's incidents section, an imported one winning over a live one
    with the same id, as on statements).

    Every record passes ``slaguard.records`` before the pure evaluator sees it: one
    it cannot use is left out and logged once, and stays in ``rejected()`` (which
    the runtime turns into slaguard's own alert) until it is corrected or deleted."""

    def __init__(self, cfg: Config, store: SQLiteStore, calendar: WorkingDayCalendar,
                 maintenance: Callable[[], Iterable[MaintenanceSpec]] = tuple,
                 incidents: Callable[[slo.Period], list[IncidentRecord]] = lambda _: [],
                 imported: Callable[[slo.Period], list[IncidentRecord]] = lambda _: []):
        self.cfg = cfg
        self._imported = imported
        self.store = store
        self.calendar = calendar
        self.maintenance = maintenance
        self._incidents = incidents
        self.guard = RecordGuard()
        policy = from_config(cfg)
        configured, rejected = usable_maintenance(policy.maintenance, CONFIGURED_MAINTENANCE)
        self.guard.update(CONFIGURED_MAINTENANCE, "", rejected)
        self.policy = dataclasses.replace(policy, maintenance=tuple(configured))
        self._latency_targets = sorted({t for o in self.policy.latency for t in o.targets})
        self._freshness_targets = sorted({t for o in self.policy.freshness for t in o.targets})

    def rejected(self) -> list[Rejected]:
        """The records left out of evaluation now."""
        return self.guard.current()

    def windows(self) -> list[MaintenanceSpec]:
        """The usable windows created at run time (the configured ones are in
        ``policy.maintenance``)."""
        # A store that cannot be read fails the round (retried next round): evaluating
        # as if no window existed would page maintenance as an outage.
        usable, rejected = usable_maintenance(self.maintenance())
        self.guard.update(MAINTENANCE, "", rejected)
        return usable

    def usable_incidents(self, records: Iterable[IncidentRecord], scope: str
                         ) -> list[IncidentRecord]:
        """``records`` (all of ``scope``, e.g. one period's imported tickets) without
        those a statement cannot count, which are left out and logged once."""
        usable, rejected = usable_incidents(records, PRIORITIES)
        self.guard.update(INCIDENT, scope, rejected)
        return usable

    def usable_shown(self, records: Iterable[T], scope: str) -> list[T]:
        """Incidents of the alerting record as read for display (``scope``: who reads),
        without those whose instants cannot be shown (left out, logged once)."""
        usable, rejected = usable_timed(records, INCIDENT)
        self.guard.update(INCIDENT, scope, rejected)
        return usable

    def incidents(self, period: slo.Period) -> list[IncidentRecord]:
        """The usable incidents of ``period`` from the alerting record."""
        return self.usable_incidents(self._incidents(period), f"alerting {period.label}")

    def all_incidents(self, period: slo.Period) -> list[tuple[IncidentRecord, str]]:
        """Imported and live incidents of ``period`` with their source; an imported
        ticket with a live incident's id is that incident and wins."""
        imported = self.usable_incidents(self._imported(period), f"imported {period.label}")
        ids = {i.id for i in imported}
        return [(i, "imported") for i in imported] + [
            (i, "live") for i in self.incidents(period) if i.id not in ids]

    def latency(self, from_ms: int, to_ms: int, max_listed: int = MAX_LISTED
                ) -> slo.LatencyHistograms:
        return latency_histograms(self.store, self.policy.latency, from_ms, to_ms, max_listed)

    def report(self, period: slo.Period, now_ms: int,
               services: Collection[str] | None = None, burn: bool | None = None) -> slo.Report:
        lo, hi = slo.runs_window(period, now_ms)
        series = [slo.SeriesRuns(target, location, runs)
                  for (target, location), runs in self.store.runs(lo, hi).items()]
        until = period.until(now_ms)
        latency = self.latency(period.start_ms, until)
        freshness = self.store.recovery_points(self._freshness_targets, period.start_ms, until)
        policy = dataclasses.replace(
            self.policy, maintenance=self.policy.maintenance + tuple(self.windows()))
        return slo.build_report(policy, period, now_ms, series, calendar=self.calendar,
                                latency=latency, services=services, burn=burn,
                                max_listed=MAX_LISTED, incidents=self.all_incidents(period),
                                freshness=[slo.FreshnessSample(ts, rp, t, loc)
                                           for t, loc, ts, rp in freshness])

    def month(self, month: str, now_ms: int, services: Collection[str] | None = None
              ) -> slo.Report:
        return self.report(slo.parse_month(month, self.policy.timezone), now_ms, services)

    def current(self, now_ms: int) -> slo.Report:
        """This month to date, with burn rates: what the gauges and alerting read."""
        return self.report(slo.month_containing(now_ms, self.policy.timezone), now_ms, burn=True)
