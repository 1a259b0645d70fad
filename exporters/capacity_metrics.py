"""Capacity runs (load tests run on purpose) as Prometheus gauges, read at scrape time.

Only each job's latest finished run is exported, so a dashboard shows "where the
release stands" and old runs leave no series behind (they go stale when the next
run of the job ends).  The job's label is ``capacity_job``: Prometheus's own ``job``
label (the scrape job) would otherwise rename it ``exported_job``.

    slaguard_capacity_running                                 1 while a run is under way
    slaguard_capacity_last_run_timestamp_seconds{capacity_job, run, verdict}
    slaguard_capacity_peak_users{capacity_job, run, verdict}
    slaguard_capacity_error_ratio{capacity_job, run, verdict}   failures / requests
    slaguard_capacity_endpoint_p95_seconds{capacity_job, run, endpoint}
    slaguard_capacity_endpoint_p95_threshold_seconds{capacity_job, run, endpoint}
    slaguard_capacity_endpoint_mean_seconds{capacity_job, run, endpoint}

The per-job gauges all carry ``run`` and ``verdict``: a Grafana table merges them into
one row per job without a join.  The record (``slaguard capacity show``) stays the
exact figures; a gauge is a float, for dashboards only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from capacity.store import CapacityStore

# How far back the latest run of every job is looked for: a job not run in the last
# this-many runs (all jobs together) is not exported.
RECENT_RUNS = 200
JOB = ["capacity_job", "run", "verdict"]
ENDPOINT = ["capacity_job", "run", "endpoint"]


def latest_per_job(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest finished run of each job (``docs`` newest first), by job name."""
    seen: dict[str, dict[str, Any]] = {}
    for d in docs:
        if d.get("verdict") != "running" and d.get("job") not in seen:
            seen[d["job"]] = d
    return [seen[name] for name in sorted(seen)]


def p95_thresholds_ms(doc: Mapping[str, Any]) -> dict[str, int]:
    """Each endpoint's p95 bound in ms, read back from the record's threshold rows
    (``"web p95 < 1000 ms"``: the number before the unit)."""
    out: dict[str, int] = {}
    for t in doc.get("thresholds") or []:
        if t.get("metric") != "p95" or t.get("endpoint") is None:
            continue
        words = str(t.get("expr", "")).split()
        if len(words) >= 2 and words[-1] == "ms" and words[-2].isdigit():
            out[t["endpoint"]] = int(words[-2])
    return out


class CapacityCollector(Collector):
    """The latest capacity run of each job, from the record at each scrape."""

    def __init__(self, store: CapacityStore):
        self.store = store

    def collect(self) -> Iterator[Metric]:
        docs = self.store.listing(RECENT_RUNS)
        running = GaugeMetricFamily(
            "slaguard_capacity_running", "1 while a capacity run (load test) is under way")
        running.add_metric([], 1.0 if any(d.get("verdict") == "running" for d in docs)
                           else 0.0)
        yield running
        latest = latest_per_job(docs)
        yield from self._per_job(latest)
        yield from self._per_endpoint(latest)

    @staticmethod
    def _per_job(latest: list[dict[str, Any]]) -> Iterator[Metric]:
        ended = GaugeMetricFamily(
            "slaguard_capacity_last_run_timestamp_seconds",
            "When the job's latest finished capacity run ended (Unix time)", labels=JOB)
        peak = GaugeMetricFamily(
            "slaguard_capacity_peak_users",
            "Concurrent users the job's latest capacity run reached", labels=JOB)
        errors = GaugeMetricFamily(
            "slaguard_capacity_error_ratio",
            "Failed share of the requests of the job's latest capacity run", labels=JOB)
        for d in latest:
            labels = [d["job"], d["id"], d["verdict"]]
            if d.get("end_ms") is not None:
                ended.add_metric(labels, d["end_ms"] / 1000)
            peak.add_metric(labels, float(d.get("peak_users") or 0))
            total = d.get("total") or {}
            if total.get("count"):
                errors.add_metric(labels, total["failures"] / total["count"])
        yield from (ended, peak, errors)

    @staticmethod
    def _per_endpoint(latest: list[dict[str, Any]]) -> Iterator[Metric]:
        p95 = GaugeMetricFamily(
            "slaguard_capacity_endpoint_p95_seconds",
            "An endpoint's p95 response time in the job's latest capacity run",
            labels=ENDPOINT)
        bound = GaugeMetricFamily(
            "slaguard_capacity_endpoint_p95_threshold_seconds",
            "The p95 an endpoint had to stay under for the run to pass", labels=ENDPOINT)
        mean = GaugeMetricFamily(
            "slaguard_capacity_endpoint_mean_seconds",
            "An endpoint's mean response time in the job's latest capacity run",
            labels=ENDPOINT)
        for d in latest:
            limits = p95_thresholds_ms(d)
            for e in d.get("endpoints") or []:
                labels = [d["job"], d["id"], e["name"]]
                if e.get("p95_ms") is not None:
                    p95.add_metric(labels, e["p95_ms"] / 1000)
                if e.get("mean_ms") is not None:
                    mean.add_metric(labels, e["mean_ms"] / 1000)
                if e["name"] in limits:
                    bound.add_metric(labels, limits[e["name"]] / 1000)
        yield from (p95, bound, mean)
