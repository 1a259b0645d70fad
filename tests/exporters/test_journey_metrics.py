"""probe_journey_* gauges from LiveState, rendered by a real registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from exporters.journey_metrics import JourneyCollector
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult, StepResult
from slaguard.state import LiveState

T0 = 1_790_784_000_000
FAIL = ProbeError(ErrorClass.ASSERTION, "step generate: $.state is 'failed' (fail_if)")


def run(ts: int, outcome: Outcome, steps: tuple[StepResult, ...], kind: str = "journey",
        target: str = "bid-doc") -> ProbeResult:
    return ProbeResult(ts_ms=ts, target=target, service="core", location="sh", kind=kind,
                       outcome=outcome, duration_ms=1234, steps=steps)


OK_STEPS = (StepResult("login", 0, 60), StepResult("generate", 60, 250, attempts=5))


def lines(state: LiveState, collector: JourneyCollector | None = None) -> set[str]:
    reg = CollectorRegistry()
    reg.register(collector or JourneyCollector(state))
    return {x for x in generate_latest(reg).decode().splitlines() if not x.startswith("#")}


def test_latest_run_and_its_steps() -> None:
    state = LiveState()
    state.observe([run(T0, Outcome.SUCCESS, OK_STEPS),
                   ProbeResult(T0, "web", "core", "sh", "http", Outcome.SUCCESS, 40)])
    assert lines(state) == {
        'probe_journey_success{location="sh",service="core",target="bid-doc"} 1.0',
        'probe_journey_duration_seconds{location="sh",service="core",target="bid-doc"} 1.234',
        'probe_journey_step_duration_seconds{journey="bid-doc",location="sh",service="core",'
        'step="login"} 0.06',
        'probe_journey_step_duration_seconds{journey="bid-doc",location="sh",service="core",'
        'step="generate"} 0.25',
        'probe_journey_step_success{journey="bid-doc",location="sh",service="core",'
        'step="login"} 1.0',
        'probe_journey_step_success{journey="bid-doc",location="sh",service="core",'
        'step="generate"} 1.0',
        'probe_journey_step_attempts{journey="bid-doc",location="sh",service="core",'
        'step="login"} 1.0',
        'probe_journey_step_attempts{journey="bid-doc",location="sh",service="core",'
        'step="generate"} 5.0',
    }


def test_a_failed_run_and_a_skipped_slot() -> None:
    state = LiveState()
    collector = JourneyCollector(state)
    failed = (StepResult("login", 0, 60), StepResult("generate", 60, 90, attempts=2, ok=False,
                                                     error=FAIL))
    state.observe([run(T0, Outcome.FAILURE, failed)])
    got = lines(state, collector)
    assert 'probe_journey_success{location="sh",service="core",target="bid-doc"} 0.0' in got
    assert ('probe_journey_step_success{journey="bid-doc",location="sh",service="core",'
            'step="generate"} 0.0') in got
    # The next slot came while a run went on: an unknown result without steps.  The
    # gauges keep the failed run's values.
    state.observe([run(T0 + 60_000, Outcome.UNKNOWN, ())])
    assert lines(state, collector) == got


def test_no_journey_no_series() -> None:
    state = LiveState()
    state.observe([ProbeResult(T0, "web", "core", "sh", "http", Outcome.SUCCESS, 40)])
    assert lines(state) == set()
