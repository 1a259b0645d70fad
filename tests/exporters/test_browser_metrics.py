"""Browser checks' gauges (exporters.browser_metrics) in Grafana Synthetic Monitoring's
names, rendered by prometheus_client from a registry of their own; and the
blackbox-style families every kind gets, for a browser result."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporters.browser_metrics import BrowserCollector, rating
from exporters.prometheus import ProbeCollector
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.state import LiveState

VITALS = {"ttfb": 120, "fcp": 1900, "lcp": 4200, "cls": 80, "dcl": 900, "load": 2990,
          "page_load": 3001, "bytes": 123_456, "requests": 17, "failed_requests": 1}


def browser_result(ts_ms: int = 1_796_000_000_000, **kw: object) -> ProbeResult:
    doc: dict[str, object] = dict(
        ts_ms=ts_ms, target="web-home", service="core", location="shanghai", kind="browser",
        outcome=Outcome.SUCCESS, duration_ms=3001, duration_us=3_001_400, status_code=200,
        bytes=123_456, vitals=dict(VITALS))
    doc.update(kw)
    return ProbeResult(**doc)  # type: ignore[arg-type]


def samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = generate_latest(registry).decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


@pytest.mark.parametrize(("vital", "value", "expected"), [
    ("lcp", 2500, "good"), ("lcp", 2501, "needs-improvement"), ("lcp", 4000,
                                                                "needs-improvement"),
    ("lcp", 4001, "poor"), ("fcp", 1800, "good"), ("fcp", 3001, "poor"),
    ("ttfb", 800, "good"), ("ttfb", 1801, "poor"), ("cls", 100, "good"),
    ("cls", 101, "needs-improvement"), ("cls", 251, "poor"),
])
def test_web_dev_ratings(vital: str, value: int, expected: str) -> None:
    assert rating(vital, value) == expected


def test_vitals_in_synthetic_monitoring_names() -> None:
    state = LiveState()
    http = ProbeResult(ts_ms=1, target="api", service="core", location="shanghai", kind="http",
                       outcome=Outcome.SUCCESS, duration_ms=20)
    state.observe([browser_result(), http])
    registry = CollectorRegistry()
    registry.register(BrowserCollector(state))
    got = samples(registry)
    where = {"target": "web-home", "service": "core", "location": "shanghai"}
    assert got["probe_browser_web_vital_lcp"] == [(where | {"rating": "poor"}, 4200.0)]
    assert got["probe_browser_web_vital_fcp"] == [
        (where | {"rating": "needs-improvement"}, 1900.0)]
    assert got["probe_browser_web_vital_ttfb"] == [(where | {"rating": "good"}, 120.0)]
    assert got["probe_browser_web_vital_cls"] == [(where | {"rating": "good"}, 0.08)]
    assert got["probe_browser_data_received"] == [(where, 123_456.0)]
    assert got["slaguard_browser_page_load_seconds"] == [(where, 3.001)]
    assert got["slaguard_browser_dom_content_loaded_seconds"] == [(where, 0.9)]
    assert got["slaguard_browser_requests"] == [(where, 17.0)]
    assert got["slaguard_browser_failed_requests"] == [(where, 1.0)]
    assert all(labels["target"] == "web-home" for series in got.values()
               for labels, _ in series)  # the http target has no browser gauges


def test_latest_result_wins_and_missing_vitals_are_absent() -> None:
    state = LiveState()
    failed = browser_result(ts_ms=1_796_000_060_000, outcome=Outcome.FAILURE,
                            error=ProbeError(ErrorClass.TIMEOUT, "page not loaded within 8 s"),
                            duration_ms=8000, duration_us=8_000_000,
                            vitals={"requests": 3, "failed_requests": 0})
    state.observe([browser_result(), failed])
    registry = CollectorRegistry()
    registry.register(BrowserCollector(state))
    got = samples(registry)
    assert "probe_browser_web_vital_lcp" not in got  # no paint: no number, not 0
    assert got["slaguard_browser_requests"][0][1] == 3.0


def test_browser_results_show_in_probe_success_and_duration() -> None:
    state = LiveState()
    state.observe([browser_result()])
    registry = CollectorRegistry()
    registry.register(ProbeCollector(state))
    got = samples(registry)
    labels = {"target": "web-home", "service": "core", "location": "shanghai",
              "kind": "browser"}
    assert got["probe_success"] == [(labels, 1.0)]
    assert got["probe_duration_seconds"] == [(labels, 3.0014)]
