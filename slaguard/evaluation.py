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
from slaguard.config.journey import step_objective_specs
from slaguard.config.schema import SLO
from slaguard.policy import duration_ms, from_config, inclusive
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
from slo.evaluator import windowed_at
from slo.latency import exceeding_keys
from slo.model import BurnAlertSpec, LatencyObjective, MaintenanceSpec, WindowedSpec
from slo.rolling import Counts, WindowedResult, WindowEvents, WindowPlan, evaluate_windowed, plan
from slo.steps import StepObjectiveResult, step_objectives

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


def windowed_spec(cfg: Config, s: SLO) -> WindowedSpec:
    """``slos[].objective`` as plain data: its targets are the listed ones, else every
    target of its services."""
    o = s.objective
    assert o is not None
    wanted = set(s.services or ())
    targets = tuple(s.targets) if s.targets is not None else tuple(
        t.name for t in cfg.targets if t.service in wanted)
    by_target = cfg.target_services
    window_ms = None if isinstance(o.window, str) else duration_ms(o.window)
    return WindowedSpec(
        name=s.name, targets=targets, sli=o.sli, target_percent=o.target, window_ms=window_ms,
        budgeting=o.budgeting,
        threshold_ms=None if o.threshold is None else duration_ms(o.threshold),
        inclusive=o.threshold is not None and inclusive(o.threshold),
        slice_ms=None if o.timeslice_window is None else duration_ms(o.timeslice_window),
        slice_target_percent=o.timeslice_target,
        burn_alerts=tuple(BurnAlertSpec(a.name, a.severity, a.threshold, a.op,
                                        duration_ms(a.lookback), duration_ms(a.alert_after))
                          for a in o.burn_alerts),
        services=tuple(sorted({by_target[t] for t in targets if t in by_target})))


def windowed_specs(cfg: Config) -> tuple[WindowedSpec, ...]:
    return tuple(windowed_spec(cfg, s) for s in cfg.slos if s.objective is not None)


def window_events(store: SQLiteStore, spec: WindowedSpec, p: WindowPlan) -> WindowEvents:
    """What the store counts for one windowed objective's plan: the window's events and
    each lookback's (occurrences), or the events per slice (timeslices)."""
    thr, incl = spec.threshold_ms, spec.inclusive
    if p.slice_ms is None:
        window = Counts(*store.event_counts(spec.targets, p.start_ms, p.end_ms, thr, incl))
        return WindowEvents(window, lookbacks={
            lb.alert: Counts(*store.event_counts(spec.targets, lb.from_ms, p.end_ms, thr, incl))
            for lb in p.lookbacks})
    slices = {i: Counts(*c) for i, c in store.event_slices(
        spec.targets, p.start_ms, p.slice_ms, p.slices_from_ms, p.end_ms, thr, incl).items()}
    window = sum((c for i, c in slices.items() if i >= 0), Counts())
    return WindowEvents(window, slices)


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
        self.policy = dataclasses.replace(policy, maintenance=tuple(configured),
                                          windowed=policy.windowed or windowed_specs(cfg))
        self._latency_targets = sorted({t for o in self.policy.latency for t in o.targets})
        self._freshness_targets = sorted({t for o in self.policy.freshness for t in o.targets})
        self._step_specs = step_objective_specs(cfg.targets)

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

    def objectives(self, at_ms: int) -> tuple[WindowedResult, ...]:
        """Every windowed objective (``slos[].objective``) at ``at_ms``."""
        out = []
        for spec in self.policy.windowed:
            p = plan(spec, at_ms, self.policy.timezone)
            out.append(evaluate_windowed(spec, p, window_events(self.store, spec, p)))
        return tuple(out)

    def steps(self, from_ms: int, to_ms: int) -> tuple[StepObjectiveResult, ...]:
        """Every journey step objective over the runs in [from, to)."""
        if not self._step_specs:
            return ()
        rows = self.store.step_elapsed({j for j, *_ in self._step_specs}, from_ms, to_ms)
        return tuple(step_objectives(self._step_specs, rows, MAX_LISTED))

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
                                objectives=self.objectives(windowed_at(period, now_ms)),
                                steps=self.steps(period.start_ms, until),
                                freshness=[slo.FreshnessSample(ts, rp, t, loc)
                                           for t, loc, ts, rp in freshness])

    def month(self, month: str, now_ms: int, services: Collection[str] | None = None
              ) -> slo.Report:
        return self.report(slo.parse_month(month, self.policy.timezone), now_ms, services)

    def current(self, now_ms: int) -> slo.Report:
        """This month to date, with burn rates: what the gauges and alerting read."""
        return self.report(slo.month_containing(now_ms, self.policy.timezone), now_ms, burn=True)
