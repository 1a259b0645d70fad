"""Journeys (``kind: journey``) as Prometheus gauges, read from LiveState at scrape time.

Per journey and location, from its latest run (the record keeps every run; a
dashboard wants the newest, as blackbox_exporter's ``probe_success`` is):

    probe_journey_success{target, service, location}               1 the run went through
    probe_journey_duration_seconds{target, service, location}      the whole run
    probe_journey_step_duration_seconds{journey, step, service, location}
                                          the step's elapsed time (from its clock_from)
    probe_journey_step_success{journey, step, service, location}   1 the step passed
    probe_journey_step_attempts{journey, step, service, location}  requests (every poll)

A skipped slot (``missed``/``overrun``: no steps) leaves the previous run's values.
A step the latest run did not reach (an earlier step failed) has no series until a
run reaches it again: absent, not 0, so a dashboard never reads a skipped step as
instant.  Exact ms are in the record and the API; these floats are for dashboards.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from slaguard.domain import Outcome, ProbeResult
from slaguard.state import LiveState, SeriesKey

RUN_LABELS = ["target", "service", "location"]
STEP_LABELS = ["journey", "step", "service", "location"]


class JourneyCollector(Collector):
    """The latest run of every journey series in ``state``."""

    def __init__(self, state: LiveState):
        self.state = state
        # The latest *run* per series: a skipped slot (missed, overrun while a long
        # run goes on, overloaded) is recorded as an ``unknown`` result without steps;
        # it says nothing of the journey, so the gauges keep the run before it.
        self._runs: dict[SeriesKey, ProbeResult] = {}

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily("probe_journey_success",
                                    "Whether the journey's latest run went through",
                                    labels=RUN_LABELS)
        duration = GaugeMetricFamily("probe_journey_duration_seconds",
                                     "The journey's latest run, every step", labels=RUN_LABELS)
        step_s = GaugeMetricFamily(
            "probe_journey_step_duration_seconds",
            "A step's elapsed time in the latest run (from its clock_from step's start)",
            labels=STEP_LABELS)
        step_ok = GaugeMetricFamily("probe_journey_step_success",
                                    "Whether the step passed in the latest run",
                                    labels=STEP_LABELS)
        attempts = GaugeMetricFamily("probe_journey_step_attempts",
                                     "Requests the step made in the latest run (every poll)",
                                     labels=STEP_LABELS)
        for r in self._journeys():
            run = [r.target, r.service, r.location]
            success.add_metric(run, 1.0 if r.outcome is Outcome.SUCCESS else 0.0)
            duration.add_metric(run, r.duration_ms / 1000)
            for st in r.steps:
                labels = [r.target, st.step, r.service, r.location]
                step_s.add_metric(labels, st.elapsed_ms / 1000)
                step_ok.add_metric(labels, 1.0 if st.ok else 0.0)
                attempts.add_metric(labels, float(st.attempts))
        yield from (success, duration, step_s, step_ok, attempts)

    def _journeys(self) -> list[ProbeResult]:
        # A run always records its first step; a skipped slot records none.
        for key, r in self.state.latest():
            if r.kind == "journey" and r.steps:
                self._runs[key] = r
        return [self._runs[k] for k in sorted(self._runs)]
