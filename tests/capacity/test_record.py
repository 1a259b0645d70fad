"""The pure parts of a capacity run: percentiles, thresholds, abort rules, verdicts,
the 10 s history, and flagging probe results inside a run's window."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from capacity.record import (
    History,
    abort_reason,
    figures_from_json,
    history_doc,
    nearest_rank,
    thresholds_doc,
    verdict,
)
from capacity.report import annotate_outages, capacity_section, render_capacity_table
from capacity.store import CapacityStore
from capacity.windows import RunWindow, flag_outages, flag_results
from slaguard.config.capacity import AbortRules, Thresholds
from slo.periods import parse_month


def _row(ts: int, name: str, users: int, count: int, failures: int, p95: str) -> dict[str, str]:
    return {"Timestamp": str(ts), "User Count": str(users), "Name": name, "95%": p95,
            "Total Request Count": str(count), "Total Failure Count": str(failures)}


def history(seconds: int, per_s: int, failed_per_s: int, p95: str = "20") -> History:
    h = History()
    for i in range(seconds + 1):
        count, failures = i * per_s, i * failed_per_s
        h.feed(_row(1000 + i, "api", 10, count, failures, p95))
        h.feed(_row(1000 + i, "Aggregated", 10, count, failures, p95))
    return h


def test_nearest_rank_over_a_histogram() -> None:
    hist = {10: 50, 20: 45, 900: 5}  # 100 values
    assert nearest_rank(hist, Decimal("0.5")) == 10
    assert nearest_rank(hist, Decimal("0.95")) == 20  # the 95th value
    assert nearest_rank(hist, Decimal("0.96")) == 900
    assert nearest_rank({}, Decimal("0.95")) is None


def test_figures_from_locust_json_per_endpoint_and_in_total() -> None:
    entries = [
        {"name": "b", "method": "GET", "num_requests": 4, "num_failures": 1,
         "total_response_time": 100.0, "max_response_time": 40.2,
         "response_times": {"10": 1, "20": 1, "30": 1, "40": 1}},
        {"name": "a", "method": "POST", "num_requests": 2, "num_failures": 0,
         "total_response_time": 3.0, "max_response_time": 2.0,
         "response_times": {"1": 1, "2": 1}},
    ]
    rows, total = figures_from_json(entries)
    assert [r.name for r in rows] == ["a", "b"]
    b = rows[1].to_dict()
    assert b == {"name": "b", "method": "GET", "count": 4, "failures": 1,
                      "error_rate_percent": "25.000", "mean_ms": 25, "p50_ms": 20,
                      "p95_ms": 40, "p99_ms": 40, "max_ms": 40}
    assert (total.count, total.failures, total.mean_ms, total.p95_ms, total.max_ms) == (
        6, 1, 17, 40, 40)  # 103 / 6 = 17.17 → 17


def test_thresholds_strict_inclusive_and_error_rate() -> None:
    _, total = figures_from_json([
        {"name": "api", "method": "GET", "num_requests": 100, "num_failures": 1,
         "total_response_time": 100 * 500.0, "max_response_time": 1000,
         "response_times": {"500": 95, "1000": 5}}])
    rows, _ = figures_from_json([
        {"name": "api", "method": "GET", "num_requests": 100, "num_failures": 1,
         "total_response_time": 100 * 500.0, "max_response_time": 1000,
         "response_times": {"500": 95, "1000": 5}}])
    strict = Thresholds.model_validate({"p95": "500ms", "mean": "<= 500ms", "error_rate": "1%"})
    doc = thresholds_doc(strict, rows, total)
    assert [(t["expr"], t["observed"], t["pass"]) for t in doc] == [
        ("api p95 < 500 ms", 500, False),  # the standard's "<": at the bound is a miss
        ("api mean <= 500 ms", 500, True),
        ("error rate <= 1 %", "1.000", True),
    ]
    assert verdict(doc, None, None) == "failed"
    assert verdict(doc, "kill switch: killed by alice", None) == "aborted"
    assert verdict(doc, "x", "generator saturated") == "invalid"
    assert verdict(doc[1:], None, None) == "passed"


def test_abort_on_errors_only_after_the_whole_window() -> None:
    rules = AbortRules.model_validate({"error_rate": "5%", "for": "10s", "p95_factor": None})
    th = Thresholds()
    # the first request comes at second 1: 10 s of requests by second 11
    assert abort_reason(history(10, 100, 10), rules, th, ["api"]) is None
    assert abort_reason(history(11, 100, 10), rules, th, ["api"]) == (
        "error rate 10.000 % over the last 10 s (abort above 5 %)")
    assert abort_reason(history(11, 100, 5), rules, th, ["api"]) is None  # 5 % is not above


def test_abort_on_p95_above_k_times_its_objective_for_the_window() -> None:
    rules = AbortRules.model_validate({"error_rate": None, "for": "5s", "p95_factor": 3})
    th = Thresholds.model_validate({"endpoints": {"api": {"p95": "1s"}}})
    assert abort_reason(history(6, 10, 0, p95="3000"), rules, th, ["api"]) is None
    assert abort_reason(history(6, 10, 0, p95="3100"), rules, th, ["api"]) == (
        "api: p95 above 3000 ms (3 × < 1000 ms) for 5 s (last 3100 ms)")


def test_history_in_10_second_steps() -> None:
    h = history(25, 10, 1)
    doc = history_doc(h, start_ms=1000 * 1000)
    assert [(s["t_s"], s["requests"], s["failures"], s["rps"]) for s in doc] == [
        (0, 90, 9, "9.0"), (10, 100, 10, "10.0"), (20, 60, 6, "6.0")]
    assert doc[0]["error_rate_percent"] == "10.000" and h.peak_users == 10


def test_probe_results_and_outages_inside_a_run_are_flagged() -> None:
    runs = [RunWindow("CAP-2", 5_000, 9_000), RunWindow("CAP-1", 1_000, 2_000),
            RunWindow("CAP-3", 20_000, None)]
    flagged = flag_results([500, 1_000, 1_999, 2_000, 8_999, 9_000, 25_000], runs,
                           lambda ts: ts)
    assert [r for _, r in flagged] == [None, "CAP-1", "CAP-1", None, "CAP-2", None, "CAP-3"]
    outages = flag_outages([(0, 1_001), (2_000, 5_000), (8_000, None)], runs, lambda o: o)
    assert [r for _, r in outages] == [["CAP-1"], [], ["CAP-2", "CAP-3"]]


def test_the_abort_window_is_configured_in_seconds() -> None:
    assert AbortRules().for_ == timedelta(seconds=60)


def test_the_months_capacity_section(tmp_path: Path) -> None:
    store = CapacityStore(tmp_path / "slaguard.db")
    try:
        nov = parse_month("2026-11", "Asia/Shanghai")
        done = store.start("release", nov.start_ms + 1000, {"job": "release", "start": "s",
                                                             "start_ms": nov.start_ms + 1000})
        store.finish(store.get(done) | {"end_ms": nov.start_ms + 61_000, "verdict": "failed",
                                        "peak_users": 5000,
                                        "total": {"count": 10, "failures": 2, "p95_ms": 900}})
        store.start("release", nov.end_ms + 5, {"job": "release", "start": "t",
                                                "start_ms": nov.end_ms + 5})  # December
        section = capacity_section(store, nov)
        assert [(r["id"], r["verdict"], r["requests"]) for r in section["runs"]] == [
            ("CAP-1", "failed", 10)]
        assert section["verdicts"]["failed"] == 1 and section["verdicts"]["passed"] == 0
        assert "never count in availability" in section["rule"]
        assert "CAP-1    release" in render_capacity_table(section)
        # the running December run is open-ended: it flags what comes after its start
        assert [w.run_id for w in store.windows(nov.end_ms, nov.end_ms + 10**9)] == ["CAP-2"]
        assert store.close_abandoned(nov.end_ms + 10) == ["CAP-2"]
        assert store.get("CAP-2")["verdict"] == "invalid"
    finally:
        store.close()


def test_outages_of_a_report_that_overlap_a_run_are_flagged_not_removed() -> None:
    report: dict[str, Any] = {"services": [{"service": "core", "outages": [
        {"start": "2026-11-02T01:00:00+08:00", "end": "2026-11-02T01:10:00+08:00"},
        {"start": "2026-11-03T01:00:00+08:00", "end": None}]}]}
    start = 1_793_552_400_000 + 300_000  # 2026-11-02 01:05 +08:00
    annotate_outages(report, [RunWindow("CAP-4", start, start + 3_600_000)])
    first, second = report["services"][0]["outages"]
    assert first["capacity_runs"] == ["CAP-4"] and "capacity_runs" not in second
