"""Browser checks' page figures as Prometheus gauges, read from ``LiveState`` at
scrape time (the latest result of each browser target × location).

Named as Grafana Synthetic Monitoring's browser checks name them where they
overlap, so its dashboards (``quantile_over_time(0.75,
probe_browser_web_vital_lcp[$__range])``, in ms) work on slaguard's data:

    probe_browser_web_vital_{ttfb,fcp,lcp}{target,service,location,rating}   ms
    probe_browser_web_vital_cls{target,service,location,rating}              unitless
    probe_browser_data_received{target,service,location}                     bytes

``rating`` is web.dev's: ``good`` up to the first threshold, ``poor`` above the
second, ``needs-improvement`` between (LCP 2.5 s / 4 s, FCP 1.8 s / 3 s, TTFB
0.8 s / 1.8 s, CLS 0.1 / 0.25).  slaguard's own, beside them:

    slaguard_browser_page_load_seconds        the SLA figure (navigation duration)
    slaguard_browser_dom_content_loaded_seconds
    slaguard_browser_requests, slaguard_browser_failed_requests

``probe_success`` and ``probe_duration_seconds`` (= the page load) come from
``exporters.prometheus`` for every kind, browser included.  A vital the page did
not produce (no contentful paint) is absent, not 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from slaguard.state import LiveState

LABELS = ["target", "service", "location"]
# vital → (good up to, poor above), in the unit ``vitals`` keeps (ms; CLS × 1000).
THRESHOLDS: Mapping[str, tuple[int, int]] = {
    "ttfb": (800, 1800),
    "fcp": (1800, 3000),
    "lcp": (2500, 4000),
    "cls": (100, 250),
}
_HELP = {
    "ttfb": "Time to first byte of the main document (ms)",
    "fcp": "First contentful paint (ms)",
    "lcp": "Largest contentful paint (ms)",
    "cls": "Cumulative layout shift (unitless)",
}
# slaguard's own gauges: name → (vital, divisor, help)
_OWN: Mapping[str, tuple[str, int, str]] = {
    "slaguard_browser_page_load_seconds": (
        "page_load", 1000, "Page load: the main navigation's duration, start to the end of "
        "its load event (the SLA figure)"),
    "slaguard_browser_dom_content_loaded_seconds": (
        "dcl", 1000, "DOMContentLoaded end, from the navigation's start"),
    "slaguard_browser_requests": ("requests", 1, "Requests the page made"),
    "slaguard_browser_failed_requests": (
        "failed_requests", 1, "Requests that failed or were answered 4xx/5xx"),
}

# Every family this collector exports (names built from THRESHOLDS are not literals:
# the exclude check's test reads this).
FAMILIES = (*(f"probe_browser_web_vital_{v}" for v in THRESHOLDS),
            "probe_browser_data_received", *_OWN)


def rating(vital: str, value: int) -> str:
    """web.dev's rating of a vital (``value`` in ``vitals``' units)."""
    good, poor = THRESHOLDS[vital]
    if value <= good:
        return "good"
    return "poor" if value > poor else "needs-improvement"


class BrowserCollector(Collector):
    """The latest browser result of each target × location, as gauges."""

    def __init__(self, state: LiveState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        vitals = {v: GaugeMetricFamily(f"probe_browser_web_vital_{v}", _HELP[v],
                                       labels=[*LABELS, "rating"]) for v in THRESHOLDS}
        received = GaugeMetricFamily("probe_browser_data_received",
                                     "Bytes the page received (document and resources)",
                                     labels=LABELS)
        own = {name: GaugeMetricFamily(name, text, labels=LABELS)
               for name, (_, _, text) in _OWN.items()}
        for (target, service, location, kind), r in self.state.latest():
            if kind != "browser" or not r.vitals:
                continue
            labels = [target, service, location]
            for v, family in vitals.items():
                if v in r.vitals:
                    value = r.vitals[v]
                    family.add_metric([*labels, rating(v, value)],
                                      value / 1000 if v == "cls" else float(value))
            if "bytes" in r.vitals:
                received.add_metric(labels, float(r.vitals["bytes"]))
            for name, (key, divisor, _) in _OWN.items():
                if key in r.vitals:
                    own[name].add_metric(labels, r.vitals[key] / divisor)
        yield from vitals.values()
        yield received
        yield from own.values()
