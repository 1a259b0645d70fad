"""exporters.capacity_metrics: each job's latest finished run as gauges, read from the
record at scrape time (an own registry per test), rendered by prometheus_client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from capacity.store import CapacityStore
from exporters.capacity_metrics import CapacityCollector
from slaguard.config.validate import METRIC_FAMILIES


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CapacityStore]:
    s = CapacityStore(tmp_path / "slaguard.db")
    yield s
    s.close()


def finished(store: CapacityStore, job: str, start_ms: int, verdict: str,
             **doc: Any) -> str:
    run = store.start(job, start_ms, {"job": job, "start_ms": start_ms})
    store.finish({"id": run, "job": job, "start_ms": start_ms, "end_ms": start_ms + 60_000,
                  "verdict": verdict, "peak_users": 0, "total": {"count": 0, "failures": 0},
                  "endpoints": [], "thresholds": []} | doc)
    return run


def scrape(store: CapacityStore) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(CapacityCollector(store))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_the_latest_finished_run_of_each_job_with_its_figures(store: CapacityStore) -> None:
    finished(store, "release", 1_000_000, "failed", peak_users=10)
    run = finished(
        store, "release", 2_000_000, "passed", peak_users=5000,
        total={"count": 1000, "failures": 5},
        endpoints=[{"name": "bid/login", "mean_ms": 120, "p95_ms": 450},
                   {"name": "search", "mean_ms": None, "p95_ms": None}],
        thresholds=[{"endpoint": "bid/login", "metric": "p95",
                     "expr": "bid/login p95 < 500 ms", "observed": 450, "pass": True},
                    {"endpoint": "bid/login", "metric": "mean",
                     "expr": "bid/login mean < 200 ms", "observed": 120, "pass": True},
                    {"endpoint": None, "metric": "error_rate", "expr": "error rate <= 1 %",
                     "observed": "0.500", "pass": True}])
    other = finished(store, "nightly", 3_000_000, "invalid")
    store.start("nightly", 4_000_000, {"job": "nightly", "start_ms": 4_000_000})  # running
    got = scrape(store)
    job = (("capacity_job", "release"), ("run", run), ("verdict", "passed"))
    ep = (("capacity_job", "release"), ("endpoint", "bid/login"), ("run", run))
    assert got == {
        ("slaguard_capacity_running", ()): 1.0,
        ("slaguard_capacity_last_run_timestamp_seconds", job): 2060.0,
        ("slaguard_capacity_peak_users", job): 5000.0,
        ("slaguard_capacity_error_ratio", job): 0.005,
        ("slaguard_capacity_endpoint_p95_seconds", ep): 0.45,
        ("slaguard_capacity_endpoint_mean_seconds", ep): 0.12,
        ("slaguard_capacity_endpoint_p95_threshold_seconds", ep): 0.5,
        # The running nightly run is not the latest finished: the invalid one is.
        ("slaguard_capacity_last_run_timestamp_seconds",
         (("capacity_job", "nightly"), ("run", other), ("verdict", "invalid"))): 3060.0,
        ("slaguard_capacity_peak_users",
         (("capacity_job", "nightly"), ("run", other), ("verdict", "invalid"))): 0.0,
    }


def test_no_run_yet_is_not_running_and_nothing_else(store: CapacityStore) -> None:
    assert scrape(store) == {("slaguard_capacity_running", ()): 0.0}


def test_every_family_is_known_to_exporters_prometheus_exclude(store: CapacityStore) -> None:
    names = {m.name for m in CapacityCollector(store).collect()}
    assert len(names) == 7 and names <= METRIC_FAMILIES
