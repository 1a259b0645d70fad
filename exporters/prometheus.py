"""Prometheus exposition: a custom Collector reading live state at scrape time.

Metric names follow blackbox_exporter where they overlap, with labels
target, service, location, kind, so dashboards and rules written here work on
blackbox data too.  slaguard's own metrics are prefixed ``slaguard_``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from slaguard.domain import Outcome
from slaguard.state import DURATION_BUCKETS_MS, LiveState

LABELS = ["target", "service", "location", "kind"]
OUTCOMES = (Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN)


def _s(ms: int) -> float:
    return ms / 1000


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
            duration.add_metric(labels, _s(r.duration_ms))
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
        yield from slo_metrics(self.state)


def slo_metrics(state: LiveState) -> Iterator[Metric]:
    """SLO gauges, filled in by the evaluator job (issue 3); empty until then."""
    yield from state.slo.get("metrics", [])
