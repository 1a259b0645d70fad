"""The evaluator's entry points: runs, samples, a period and ``now`` in; a report out.

Pure: no clock (``now_ms`` is an argument), no I/O, no state between calls.
The CLI, the API and the scheduler call :func:`build_report` (or
:func:`month_report`) with what the store returns; :func:`report_from_results`
is the convenience path from raw ``ProbeResult``s (it builds runs first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from fractions import Fraction

from slaguard.domain import ProbeResult
from slo.availability import evaluate, outage_spans
from slo.burn import WINDOWS, BurnReport, burn_report
from slo.calendar import WorkingDayCalendar, make_calendar
from slo.compensation import IncidentRecord
from slo.incidents import evaluate_incidents
from slo.latency import (
    LatencyHistograms,
    LatencyResult,
    LatencySeries,
    evaluate_latency,
    evaluate_latency_histograms,
    latency_series_from_results,
)
from slo.maintenance import MaintenanceAssessment, assess_all, for_service, qualifying_time
from slo.model import Policy, ServiceSpec
from slo.periods import Period, parse_month
from slo.recovery import (
    FreshnessSample,
    backup_status,
    evaluate_rpo,
    evaluate_rto,
    freshness_from_results,
    recovery_points,
)
from slo.report import LocationSummary, Report, ServiceReport, TargetSummary
from slo.rolling import WindowedResult, windowed_from_results
from slo.runs import runs_from_results
from slo.steps import StepObjectiveResult
from slo.timeline import SeriesRuns, ServiceTimeline, build_service_timeline

# How far before a period's start the store should fetch runs: the longest burn
# window, which also covers confirmation chains and outages that began earlier.
LOOKBACK_MS = max(WINDOWS.values())
# And after a closed period's end: the first run after the end fixes the coverage
# of the last result before it, and shows when an outage crossing the end was restored.
LOOKAHEAD_MS = 86_400_000


def runs_window(period: Period, now_ms: int) -> tuple[int, int]:
    """``[from, to)`` of the runs to fetch for :func:`build_report`: every run with
    ``last_ms >= from`` and ``start_ms < to``."""
    return (min(period.start_ms, now_ms) - LOOKBACK_MS,
            min(now_ms, period.end_ms + LOOKAHEAD_MS))


def _share(part: int, whole: int) -> Fraction:
    return Fraction(part, whole) if whole > 0 else Fraction(0)


def _targets(tl: ServiceTimeline, lo: int, hi: int) -> tuple[TargetSummary, ...]:
    span = hi - lo
    out = []
    for t in tl.targets:
        locs = tuple(
            LocationSummary(s.location, _share(s.known.clip(lo, hi).total(), span),
                            s.down.clip(lo, hi).total(), s.failing.clip(lo, hi).total(),
                            len(s.blips.clip(lo, hi)))
            for s in sorted(t.series, key=lambda s: s.location)
        )
        out.append(TargetSummary(t.target, _share(t.known.clip(lo, hi).total(), span),
                                 t.down.clip(lo, hi).total(), locs))
    return tuple(out)


def _service(spec: ServiceSpec, tl: ServiceTimeline, policy: Policy, period: Period, now_ms: int,
             assessments: Sequence[MaintenanceAssessment], with_burn: bool) -> ServiceReport:
    m = qualifying_time(assessments, spec.name)
    avail = evaluate(tl, spec, period, now_ms, m, policy.rules)
    burn = burn_report(tl, spec, now_ms, m, policy.rules) if with_burn else None
    return ServiceReport(spec, avail, for_service(assessments, spec.name, period),
                         _targets(tl, period.start_ms, period.until(now_ms)), burn)


def _latency(policy: Policy, latency: Iterable[LatencySeries] | LatencyHistograms, lo: int,
             hi: int, max_listed: int) -> tuple[LatencyResult, ...]:
    if isinstance(latency, LatencyHistograms):
        return tuple(evaluate_latency_histograms(o, latency, lo, hi, max_listed)
                     for o in policy.latency)
    lat = list(latency)
    return tuple(evaluate_latency(o, lat, lo, hi, max_listed) for o in policy.latency)


def _selected(policy: Policy, services: Collection[str] | None) -> list[ServiceSpec]:
    if services is None:
        return list(policy.services)
    unknown = set(services) - {s.name for s in policy.services}
    if unknown:
        raise KeyError(f"unknown services {sorted(unknown)}")
    return [s for s in policy.services if s.name in services]


def build_report(
    policy: Policy,
    period: Period,
    now_ms: int,
    series: Iterable[SeriesRuns],
    *,
    calendar: WorkingDayCalendar | None = None,
    latency: Iterable[LatencySeries] | LatencyHistograms = (),
    freshness: Iterable[FreshnessSample] = (),
    services: Collection[str] | None = None,
    burn: bool | None = None,
    max_listed: int = 50,
    incidents: Iterable[tuple[IncidentRecord, str]] | None = None,
    objectives: Iterable[WindowedResult] = (),
    steps: Iterable[StepObjectiveResult] = (),
) -> Report:
    """Evaluate ``period`` up to ``now_ms``.

    ``series``: runs per (target, location) covering :func:`runs_window`.
    ``latency``: successful results' durations, raw or as the store's histograms
    over ``[period.start, period.until(now_ms))``; ``freshness``: recovery points.
    ``calendar``: working days for maintenance notice (default: the policy's
    calendar without overrides).  ``burn``: include burn rates at ``now``
    (default: only while the period is open).  ``services`` limits the
    availability section; latency, RPO and RTO always cover every objective.
    ``incidents``: (incident, source) pairs, live and imported; those opened in the
    period get the incidents section (None: no section).  ``objectives``: the
    windowed objectives, evaluated by ``slo.rolling`` at ``period.until(now_ms)``
    (:func:`windowed_at` says when) from what the store counted.  ``steps``: the
    journeys' step objectives over the period (``slo.steps``, from the store's
    ``step_elapsed``).
    """
    cal = calendar if calendar is not None else make_calendar(policy.rules.calendar)
    series = list(series)
    assessments = assess_all(policy.maintenance, policy.rules.notice_working_days, cal,
                             policy.timezone)
    with_burn = burn if burn is not None else not period.is_complete(now_ms)
    timelines = {s.name: build_service_timeline(s, series, policy, now_ms)
                 for s in policy.services}
    reports = tuple(_service(s, timelines[s.name], policy, period, now_ms, assessments, with_burn)
                    for s in _selected(policy, services))
    lo, hi = period.start_ms, period.until(now_ms)
    fresh = list(freshness)
    backup_targets = {t for o in policy.freshness for t in o.targets}
    outages = {n: outage_spans(tl, qualifying_time(assessments, n)) for n, tl in timelines.items()}
    up = {n: tl.known.subtract(tl.down) for n, tl in timelines.items()}
    return Report(
        period=period,
        now_ms=now_ms,
        services=reports,
        latency=_latency(policy, latency, lo, hi, max_listed),
        rpo=tuple(evaluate_rpo(o, fresh, lo, hi, max_listed) for o in policy.freshness),
        rto=tuple(evaluate_rto(o, outages, up, lo, hi, now_ms) for o in policy.restore),
        recovery_points=recovery_points(s for s in fresh if s.target in backup_targets),
        incidents=None if incidents is None else evaluate_incidents(
            incidents, policy.incident_standards, lo, hi, now_ms),
        backups=tuple(backup_status(k, fresh, lo, hi, hi) for k in policy.backup_kinds),
        objectives=tuple(objectives),
        steps=tuple(steps),
    )


def windowed_at(period: Period, now_ms: int) -> int:
    """The instant a report evaluates its windowed objectives at: the end of what it
    evaluates (``now`` in the current month, the month's end for a closed one), so a
    past month's report shows the windows that ended with it."""
    return period.until(now_ms)


def month_report(
    policy: Policy,
    month: str,
    now_ms: int,
    series: Iterable[SeriesRuns],
    *,
    calendar: WorkingDayCalendar | None = None,
    latency: Iterable[LatencySeries] | LatencyHistograms = (),
    freshness: Iterable[FreshnessSample] = (),
    services: Collection[str] | None = None,
    burn: bool | None = None,
) -> Report:
    """``report --month YYYY-MM``: that calendar month in the policy's time zone, to date
    when ``now_ms`` falls inside it."""
    return build_report(policy, parse_month(month, policy.timezone), now_ms, series,
                        calendar=calendar, latency=latency, freshness=freshness,
                        services=services, burn=burn)


def series_runs_from_results(policy: Policy,
                             results: Iterable[ProbeResult]) -> list[SeriesRuns]:
    """Group results per (target, location) and build their runs (unknown targets skipped)."""
    intervals = {t.name: t.interval_ms for t in policy.targets}
    grouped: dict[tuple[str, str], list[ProbeResult]] = defaultdict(list)
    for r in results:
        if r.target in intervals:
            grouped[(r.target, r.location)].append(r)
    return [
        SeriesRuns(t, loc, runs_from_results([r.ts_ms for r in rs], [r.outcome for r in rs],
                                             intervals[t]))
        for (t, loc), rs in grouped.items()
    ]


def report_from_results(
    policy: Policy,
    period: Period,
    now_ms: int,
    results: Iterable[ProbeResult],
    *,
    calendar: WorkingDayCalendar | None = None,
    services: Collection[str] | None = None,
    burn: bool | None = None,
) -> Report:
    """Convenience path from raw results: runs, latency and freshness samples are derived."""
    rs = list(results)
    at = windowed_at(period, now_ms)
    return build_report(policy, period, now_ms, series_runs_from_results(policy, rs),
                        calendar=calendar, latency=latency_series_from_results(rs),
                        freshness=freshness_from_results(rs), services=services, burn=burn,
                        objectives=[windowed_from_results(w, at, policy.timezone, rs)
                                    for w in policy.windowed])


def service_burn(policy: Policy, service: str, now_ms: int, series: Iterable[SeriesRuns], *,
                 calendar: WorkingDayCalendar | None = None) -> BurnReport:
    """Burn rates and multiwindow conditions of one service at ``now_ms``, for alerting.

    ``series`` should cover ``[now − 3 d − 2 × interval, now)``.
    """
    spec = policy.service(service)
    cal = calendar if calendar is not None else make_calendar(policy.rules.calendar)
    assessments = assess_all(policy.maintenance, policy.rules.notice_working_days, cal,
                             policy.timezone)
    tl = build_service_timeline(spec, series, policy, now_ms)
    return burn_report(tl, spec, now_ms, qualifying_time(assessments, service), policy.rules)
