"""Prometheus exposition: a custom Collector reading live state at scrape time.

Metric names follow blackbox_exporter where they overlap, with labels
target, service, location, kind, so dashboards and rules written here work on
blackbox data too.  slaguard's own metrics are prefixed ``slaguard_``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from alerting.incidents import lateness, response_stats
from alerting.store import AlertingStore
from slaguard.domain import Outcome, ProbeResult
from slaguard.state import DURATION_BUCKETS_MS, LiveState
from slo.periods import month_containing

LABELS = ["target", "service", "location", "kind"]
OUTCOMES = (Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN)


def _s(ms: int) -> float:
    return ms / 1000


def _seconds(r: ProbeResult) -> float:
    """The probe's duration at the resolution it was measured (µs when live)."""
    return r.duration_us / 1_000_000 if r.duration_us is not None else _s(r.duration_ms)


class ProbeCollector(Collector):
    def __init__(self, state: LiveState):
        self.state = state

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "probe_success",
            "Whether the last probe succeeded (absent while the probe cannot judge)", labels=LABELS)
        duration = GaugeMetricFamily(
            "probe_duration_seconds", "Duration of the last probe in seconds", labels=LABELS)
        phases = GaugeMetricFamily(
            "probe_http_duration_seconds", "Duration of the last probe's HTTP phases",
            labels=[*LABELS, "phase"])
        status = GaugeMetricFamily(
            "probe_http_status_code", "HTTP status code of the last probe (0 if none)",
            labels=LABELS)
        cert = GaugeMetricFamily(
            "probe_ssl_earliest_cert_expiry",
            "Earliest NotAfter of the presented TLS chain, unix seconds", labels=LABELS)
        recovery = GaugeMetricFamily(
            "slaguard_recovery_point_timestamp_seconds",
            "Newest recoverable backup point seen by a freshness probe", labels=LABELS)
        throughput = GaugeMetricFamily(
            "slaguard_upload_throughput_bytes_per_second",
            "Throughput of the last upload probe over its send phase", labels=LABELS)
        last = GaugeMetricFamily(
            "slaguard_probe_last_timestamp_seconds", "When the last probe started",
            labels=LABELS)
        results = CounterMetricFamily(
            "slaguard_probe_results", "Probe results by outcome", labels=[*LABELS, "outcome"])
        hist = HistogramMetricFamily(
            "slaguard_probe_duration_seconds",
            "Durations of successful probes; bucket bounds at the SLA thresholds",
            labels=LABELS)

        for key, st in self.state.snapshot():
            labels = list(key)
            r = st.latest
            if r.outcome is not Outcome.UNKNOWN:
                success.add_metric(labels, 1.0 if r.success else 0.0)
            duration.add_metric(labels, _seconds(r))
            last.add_metric(labels, _s(r.ts_ms))
            for phase, ms in sorted(r.phases_ms.items()):
                phases.add_metric([*labels, phase], _s(ms))
            if r.kind != "freshness" or r.status_code is not None:
                status.add_metric(labels, float(r.status_code or 0))
            if r.cert_expiry is not None:
                cert.add_metric(labels, float(r.cert_expiry))
            if r.recovery_point_ms is not None:
                recovery.add_metric(labels, _s(r.recovery_point_ms))
            bps = r.throughput_bps()
            if bps is not None:
                throughput.add_metric(labels, float(bps))
            for outcome in OUTCOMES:
                results.add_metric([*labels, outcome.value], float(st.outcomes[outcome]))
            buckets = [(str(_s(b)), float(n)) for b, n in zip(DURATION_BUCKETS_MS, st.buckets,
                                                            strict=True)]
            buckets.append(("+Inf", float(st.count)))
            hist.add_metric(labels, buckets, sum_value=_s(st.sum_ms))

        yield from (success, duration, phases, status, cert, recovery, throughput, last,
                    results, hist)


class SloCollector(Collector):
    """This month's SLO figures (as last evaluated) and live RPO ages."""

    def __init__(self, state: LiveState, now_ms: Callable[[], int]):
        self.state, self.now_ms = state, now_ms

    def collect(self) -> Iterator[Metric]:
        yield self._rpo_age()
        report = self.state.slo_report
        if report is None:
            return
        svc = ["service"]
        families = {
            "availability": GaugeMetricFamily(
                "slaguard_slo_availability_ratio",
                "Availability this month to date (exact ratio as float)", labels=svc),
            "objective": GaugeMetricFamily(
                "slaguard_slo_objective_ratio", "Availability objective", labels=svc),
            "remaining": GaugeMetricFamily(
                "slaguard_slo_error_budget_remaining_ratio",
                "Share of this month's error budget left (negative when overspent)", labels=svc),
            "downtime": GaugeMetricFamily(
                "slaguard_slo_downtime_seconds", "Confirmed downtime this month", labels=svc),
            "gaps": GaugeMetricFamily(
                "slaguard_slo_gap_seconds", "Time no location could judge this month",
                labels=svc),
            "coverage": GaugeMetricFamily(
                "slaguard_slo_coverage_ratio", "Share of this month some location could judge",
                labels=svc),
        }
        burn = GaugeMetricFamily("slaguard_slo_burn_rate",
                                 "Error-budget burn rate over the window", labels=[*svc, "window"])
        firing = GaugeMetricFamily(
            "slaguard_slo_burn_condition_firing", "Multiwindow burn-rate condition (1 firing)",
            labels=[*svc, "severity", "long_window", "short_window"])
        for s in report.services:
            a, name = s.availability, [s.spec.name]
            families["availability"].add_metric(name, float(a.availability))
            families["objective"].add_metric(name, float(a.objective))
            if a.error_budget_remaining is not None:
                families["remaining"].add_metric(name, float(a.error_budget_remaining))
            families["downtime"].add_metric(name, float(a.downtime_seconds))
            families["gaps"].add_metric(name, float(a.gap_seconds))
            families["coverage"].add_metric(name, float(a.coverage))
            if s.burn is None:
                continue
            for w in s.burn.windows:
                if w.burn_rate is not None:
                    burn.add_metric([*name, w.name], float(w.burn_rate))
            for c in s.burn.conditions:
                firing.add_metric([*name, c.severity, c.long_window, c.short_window],
                                  1.0 if c.firing else 0.0)
        exposure = GaugeMetricFamily(
            "slaguard_compensation_exposure_cny",
            "What the customer's statement credits so far this month", labels=["customer"])
        for customer, amount in sorted(self.state.exposure.items()):
            exposure.add_metric([customer], float(amount))
        yield from (*families.values(), burn, firing, exposure)

    def _rpo_age(self) -> Metric:
        age = GaugeMetricFamily("slaguard_rpo_age_seconds",
                                "Age of the newest recoverable backup point now", labels=LABELS)
        now = self.now_ms()
        for key, st in self.state.snapshot():
            if st.latest.recovery_point_ms is not None:
                age.add_metric(list(key), _s(now - st.latest.recovery_point_ms))
        return age


def this_month(now_ms: int, timezone: str) -> str:
    return month_containing(now_ms, timezone).label


class IncidentCollector(Collector):
    """Incidents as the on-call dashboard shows them, read from the record at scrape time."""

    PRIORITIES = ("P1", "P2", "P3", "P4")

    def __init__(self, records: AlertingStore, timezone: str, now_ms: Callable[[], int]):
        self.records, self.timezone, self.now_ms = records, timezone, now_ms

    def collect(self) -> Iterator[Metric]:
        now = self.now_ms()
        incidents = self.records.recent_incidents(100_000)
        labels = ["priority"]
        open_ = GaugeMetricFamily("slaguard_incidents_open", "Incidents not resolved yet",
                                  labels=labels)
        mtta = GaugeMetricFamily("slaguard_incident_mtta_seconds",
                                 "Mean time to acknowledge, incidents opened this month",
                                 labels=labels)
        mttr = GaugeMetricFamily("slaguard_incident_mttr_seconds",
                                 "Mean time to restore, incidents opened this month",
                                 labels=labels)
        breaches = CounterMetricFamily("slaguard_incident_response_breaches",
                                       "Incidents acknowledged (or still open) past their "
                                       "response standard", labels=labels)
        month = this_month(now, self.timezone)
        stats = {s.priority.value: s for s in response_stats(incidents, self.timezone, now)
                 if s.month == month}
        for p in self.PRIORITIES:
            mine = [i for i in incidents if i.priority.value == p]
            open_.add_metric([p], float(sum(1 for i in mine if i.resolved_ms is None)))
            breaches.add_metric([p], float(sum(1 for i in mine
                                               if (lateness(i, now).respond_ms or 0) > 0)))
            s = stats.get(p)
            if s is not None and s.mtta_ms is not None:
                mtta.add_metric([p], _s(s.mtta_ms))
            if s is not None and s.mttr_ms is not None:
                mttr.add_metric([p], _s(s.mttr_ms))
        yield from (open_, mtta, mttr, breaches)


class StoreBacklog(Protocol):
    """What the store collector reads (slaguard.pipeline.ResultPipeline)."""

    @property
    def pending(self) -> int: ...

    dropped: int

    def trouble(self) -> str | None: ...


class StoreCollector(Collector):
    """The writer's backlog: results not yet in the record, and those it had to drop."""

    def __init__(self, pipeline: StoreBacklog):
        self.pipeline = pipeline

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "slaguard_store_uncommitted_results",
            "Results not yet committed to the record (in memory and in storage.spill_dir)")
        waiting.add_metric([], float(self.pipeline.pending))
        dropped = CounterMetricFamily(
            "slaguard_store_dropped_results",
            "Results dropped past storage.buffer_results and the spill directory "
            "(recorded as gaps)")
        dropped.add_metric([], float(self.pipeline.dropped))
        failing = GaugeMetricFamily(
            "slaguard_store_commit_failing",
            "1 while results cannot be committed to the record (/healthz says why), else 0")
        failing.add_metric([], 0.0 if self.pipeline.trouble() is None else 1.0)
        yield from (waiting, dropped, failing)
