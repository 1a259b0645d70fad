"""The /metrics collector reads live state at scrape time (own registry per test)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from exporters.prometheus import ProbeCollector
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.state import LiveState

LABELS = {"target": "web", "service": "core", "location": "sh", "kind": "http"}


def result(ts: int, outcome: Outcome, duration_ms: int, **kw: object) -> ProbeResult:
    return ProbeResult(ts_ms=ts, target="web", service="core", location="sh", kind="http",
                       outcome=outcome, duration_ms=duration_ms, **kw)  # type: ignore[arg-type]


def registry_with(state: LiveState) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(ProbeCollector(state))
    return reg


def test_blackbox_compatible_gauges_follow_the_latest_result() -> None:
    state = LiveState()
    reg = registry_with(state)
    state.observe([result(1_000, Outcome.SUCCESS, 500, status_code=200, cert_expiry=1_900_000_000,
                          phases_ms={"resolve": 1, "connect": 2, "tls": 7, "processing": 400,
                                     "transfer": 90})])
    assert reg.get_sample_value("probe_success", LABELS) == 1.0
    assert reg.get_sample_value("probe_duration_seconds", LABELS) == 0.5
    assert reg.get_sample_value("probe_http_duration_seconds", {**LABELS, "phase": "tls"}) == 0.007
    assert reg.get_sample_value("probe_http_status_code", LABELS) == 200
    assert reg.get_sample_value("probe_ssl_earliest_cert_expiry", LABELS) == 1_900_000_000
    # Read at scrape time: a new result changes the next scrape.
    state.observe([result(31_000, Outcome.FAILURE, 3000, status_code=503,
                          error=ProbeError(ErrorClass.HTTP_STATUS, "503"))])
    assert reg.get_sample_value("probe_success", LABELS) == 0.0
    assert reg.get_sample_value("probe_http_status_code", LABELS) == 503


def test_probe_duration_seconds_has_the_resolution_it_was_measured_with() -> None:
    state = LiveState()
    reg = registry_with(state)
    state.observe([result(1_000, Outcome.SUCCESS, 21, duration_us=20_837)])
    assert reg.get_sample_value("probe_duration_seconds", LABELS) == 0.020837
    state.observe([result(2_000, Outcome.SUCCESS, 21)])  # restored from the record: ms
    assert reg.get_sample_value("probe_duration_seconds", LABELS) == 0.021


def test_unknown_result_withdraws_probe_success_but_counts() -> None:
    state = LiveState()
    reg = registry_with(state)
    state.observe([result(1_000, Outcome.UNKNOWN, 0,
                          error=ProbeError(ErrorClass.SELF_CHECK, "no network"))])
    assert reg.get_sample_value("probe_success", LABELS) is None
    assert reg.get_sample_value("slaguard_probe_results_total",
                                {**LABELS, "outcome": "unknown"}) == 1.0


def test_counters_and_histogram_with_sla_bucket_bounds() -> None:
    state = LiveState()
    reg = registry_with(state)
    durations = [100, 500, 501, 1000, 2999, 3000, 5000, 29_999, 30_000, 600_000]
    state.observe([result(i, Outcome.SUCCESS, d) for i, d in enumerate(durations)])
    state.observe([result(100, Outcome.FAILURE, 10_000)])  # failures stay out of the histogram
    h = "slaguard_probe_duration_seconds_bucket"
    counts = {le: reg.get_sample_value(h, {**LABELS, "le": le})
              for le in ("0.5", "1.0", "3.0", "5.0", "30.0", "600.0", "+Inf")}
    assert counts == {"0.5": 2, "1.0": 4, "3.0": 6, "5.0": 7, "30.0": 9, "600.0": 10, "+Inf": 10}
    assert reg.get_sample_value("slaguard_probe_duration_seconds_count", LABELS) == 10
    assert reg.get_sample_value("slaguard_probe_duration_seconds_sum", LABELS) == sum(
        durations) / 1000
    assert reg.get_sample_value("slaguard_probe_results_total",
                                {**LABELS, "outcome": "success"}) == 10
    assert reg.get_sample_value("slaguard_probe_results_total",
                                {**LABELS, "outcome": "failure"}) == 1
    text = generate_latest(reg).decode()
    assert 'probe_success{kind="http",location="sh",service="core",target="web"} 0.0' in text


def test_upload_throughput_and_recovery_point() -> None:
    state = LiveState()
    reg = registry_with(state)
    up = {**LABELS, "target": "up", "kind": "upload"}
    state.observe([ProbeResult(ts_ms=0, target="up", service="core", location="sh",
                               kind="upload", outcome=Outcome.SUCCESS, duration_ms=2100,
                               phases_ms={"send": 2000}, bytes=10_485_760)])
    assert reg.get_sample_value("slaguard_upload_throughput_bytes_per_second", up) == 5_242_880


def test_incident_metrics_read_the_record_at_scrape_time(tmp_path: Path) -> None:
    from alerting.clock import FakeClock
    from alerting.notification import Priority
    from exporters.prometheus import IncidentCollector
    from tests.alerting.test_incidents import make_service
    from tests.alerting.test_rules import MIN, NOW

    clock = FakeClock(NOW)
    svc, _ = make_service(tmp_path, clock)
    reg = CollectorRegistry()
    reg.register(IncidentCollector(svc.store, "Asia/Shanghai", clock.now_ms))
    p1 = {"priority": "P1"}
    assert reg.get_sample_value("slaguard_incidents_open", p1) == 0
    late = svc.incidents.create("core", "热线报障 / hotline", Priority.P1, "hotline")
    on_time = svc.incidents.create("core", "second", Priority.P1, "hotline")
    clock.advance(10 * MIN)
    svc.incidents.acknowledge(on_time.id, "oncall")
    clock.advance(10 * MIN)  # 20 min: past P1's 15 min response standard
    svc.incidents.acknowledge(late.id, "oncall")
    svc.incidents.restore(late.id, "oncall")
    assert reg.get_sample_value("slaguard_incidents_open", p1) == 2
    assert reg.get_sample_value("slaguard_incident_mtta_seconds", p1) == 15 * 60
    assert reg.get_sample_value("slaguard_incident_mttr_seconds", p1) == 20 * 60
    assert reg.get_sample_value("slaguard_incident_response_breaches_total", p1) == 1
    assert reg.get_sample_value("slaguard_incidents_open", {"priority": "P4"}) == 0
    svc.close()
