"""Issue 15 item 2: the standard writes its performance and recovery bounds with "<"
(页面加载 平均 <3秒、95%请求 <5秒; API 平均 <500ms、95%请求 <1秒; 10MB文件 <30秒;
RPO <1小时, RTO <4小时).  A value exactly at such a bound is *not* met; a bound
written "<= …" in the configuration is met at it.  Each case: at the bound and one
unit (1 ms) either side.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from slaguard.config import parse_config
from slaguard.policy import from_config
from slo.intervals import IntervalSet
from slo.latency import LatencySeries, evaluate_latency
from slo.model import FreshnessObjective, LatencyBound, LatencyObjective, RestoreObjective
from slo.recovery import FreshnessSample, evaluate_rpo, evaluate_rto

T0 = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
H = 3_600_000


def one(key: str, limit_ms: int, inclusive: bool = False) -> LatencyObjective:
    return LatencyObjective("x", ("web",), (LatencyBound(key, limit_ms, inclusive),))


def series(*durations: int) -> list[LatencySeries]:
    return [LatencySeries("web", "a", [T0 + i for i in range(len(durations))], list(durations))]


@pytest.mark.parametrize(("key", "limit", "value", "strict", "inclusive"), [
    # page load mean < 3 s: one result of 2999 / 3000 / 3001 ms
    ("mean", 3000, 2999, True, True), ("mean", 3000, 3000, False, True),
    ("mean", 3000, 3001, False, False),
    # page load p95 < 5 s
    ("p95", 5000, 4999, True, True), ("p95", 5000, 5000, False, True),
    ("p95", 5000, 5001, False, False),
    # API mean < 500 ms, p95 < 1 s
    ("mean", 500, 499, True, True), ("mean", 500, 500, False, True),
    ("mean", 500, 501, False, False),
    ("p95", 1000, 999, True, True), ("p95", 1000, 1000, False, True),
    ("p95", 1000, 1001, False, False),
    # upload 10 MB < 30 s, as the reference configuration's {max: 30s}
    ("max", 30_000, 29_999, True, True), ("max", 30_000, 30_000, False, True),
    ("max", 30_000, 30_001, False, False),
])
def test_latency_bounds_at_and_either_side(key: str, limit: int, value: int, strict: bool,
                                           inclusive: bool) -> None:
    """One result of ``value`` ms: mean = p95 = max = value.  Strict: met iff
    value < limit (limit − 1 yes; limit, limit + 1 no).  Inclusive: met iff
    value ≤ limit (limit yes; limit + 1 no)."""
    s = series(value)
    assert evaluate_latency(one(key, limit), s, T0, T0 + 10).met is strict
    assert evaluate_latency(one(key, limit, True), s, T0, T0 + 10).met is inclusive


def test_a_mean_just_below_a_strict_bound_meets_it() -> None:
    """Results 2999 and 3000 ms: mean 5999/2 = 2999.5 ms < 3000 ms → met, although
    one result is at the bound; that result counts as exceeding (3000 ≥ 3000), the
    2999 ms one does not."""
    r = evaluate_latency(one("mean", 3000), series(2999, 3000), T0, T0 + 10)
    (b,) = r.bounds
    assert b.value == Fraction(5999, 2) and b.holds is True
    assert b.exceeding_count == 1 and [x.duration_ms for x in b.exceeding] == [3000]


def test_p95_nearest_rank_exactly_at_the_bound_is_missed() -> None:
    """20 results 1..19 ms and 5000 ms, then p95 rank ⌈0.95 · 20⌉ = 19 → the 19th
    smallest.  With 18 fast results (1..18 ms) and two at 5000 ms, the 19th is
    5000 ms: "95%请求 <5秒" is missed; "≤ 5 s" is met."""
    values = [*range(1, 19), 5000, 5000]
    assert evaluate_latency(one("p95", 5000), series(*values), T0, T0 + 100).met is False
    assert evaluate_latency(one("p95", 5000, True), series(*values), T0, T0 + 100).met is True


@pytest.mark.parametrize(("age_ms", "strict", "inclusive"), [
    (H - 1, True, True), (H, False, True), (H + 1, False, False),
])
def test_rpo_at_and_either_side_of_one_hour(age_ms: int, strict: bool, inclusive: bool) -> None:
    """RPO <1小时: a probe at T0 + 2 h whose newest recovery point is ``age_ms`` old.
    3 599 999 ms: compliant; 3 600 000 ms: breach (strict), compliant (≤);
    3 600 001 ms: breach either way."""
    sample = FreshnessSample(T0 + 2 * H, T0 + 2 * H - age_ms, "backup")
    strict_r = evaluate_rpo(FreshnessObjective("rpo", ("backup",), H), [sample], T0, T0 + 3 * H)
    incl_r = evaluate_rpo(FreshnessObjective("rpo", ("backup",), H, True), [sample], T0,
                          T0 + 3 * H)
    assert strict_r.compliant is strict and incl_r.compliant is inclusive
    assert strict_r.comparison == "< 3600 s" and incl_r.comparison == "≤ 3600 s"


@pytest.mark.parametrize(("elapsed_ms", "strict", "inclusive"), [
    (4 * H - 1, True, True), (4 * H, False, True), (4 * H + 1, False, False),
])
def test_rto_at_and_either_side_of_four_hours(elapsed_ms: int, strict: bool,
                                              inclusive: bool) -> None:
    """RTO <4小时: an outage from T0 restored (first known-up instant) at
    T0 + ``elapsed_ms``.  4 h − 1 ms: within; exactly 4 h: late (strict), within
    (≤); 4 h + 1 ms: late either way."""
    outages = {"core": IntervalSet.from_pairs([(T0, T0 + elapsed_ms)])}
    up = {"core": IntervalSet.from_pairs([(T0 + elapsed_ms, T0 + 10 * H)])}
    now = T0 + 10 * H
    s = evaluate_rto(RestoreObjective("rto", ("core",), 4 * H), outages, up, T0, now, now)
    i = evaluate_rto(RestoreObjective("rto", ("core",), 4 * H, True), outages, up, T0, now, now)
    assert s.compliant is strict and i.compliant is inclusive
    assert s.comparison == "< 14400 s"


@pytest.mark.parametrize(("open_for_ms", "within"), [
    (4 * H - 1, None), (4 * H, False), (4 * H + 1, False),
])
def test_an_open_outage_is_late_once_the_strict_bound_is_reached(open_for_ms: int,
                                                                 within: bool | None) -> None:
    """Still down at ``now`` = T0 + ``open_for_ms``: restored at this instant it would
    take ``open_for_ms``.  At 4 h − 1 ms that would still be < 4 h: pending (None);
    at 4 h it could no longer be: late (False)."""
    outages = {"core": IntervalSet.from_pairs([(T0, T0 + open_for_ms)])}
    now = T0 + open_for_ms
    r = evaluate_rto(RestoreObjective("rto", ("core",), 4 * H), outages, {}, T0, now, now)
    assert r.outages[0].within is within


RAW = {
    "version": 1,
    "services": {"core": {"availability": "99.9%"}, "backup": {"availability": "99.95%"}},
    "targets": [
        {"name": "web", "service": "core", "kind": "http", "url": "http://x/"},
        {"name": "bk", "service": "backup", "kind": "freshness", "url": "http://x/",
         "timestamp_field": "$.t", "interval": "5m"},
    ],
    "slos": [
        {"name": "page-load", "targets": ["web"], "latency": {"mean": "3s", "p95": "<= 5s"}},
        {"name": "rpo", "targets": ["bk"], "freshness": "< 1h"},
        {"name": "rto", "services": ["core"], "restore_within": "≤ 4h"},
    ],
}


def test_the_configuration_states_each_bound_and_defaults_to_the_standard() -> None:
    """A bare 3s follows the standard's "<" (strict); "<= 5s" and "≤ 4h" are inclusive;
    "< 1h" is strict.  The policy carries it and the report prints it."""
    cfg, _ = parse_config(RAW, env={})
    pol = from_config(cfg)
    mean, p95 = pol.latency[0].bounds
    assert (mean.inclusive, mean.comparison) == (False, "< 3000 ms")
    assert (p95.inclusive, p95.comparison) == (True, "≤ 5000 ms")
    assert pol.freshness[0].inclusive is False and pol.restore[0].inclusive is True
    assert cfg.slos[0].model_dump()["latency"] == {"mean": "< 3s", "p95": "<= 5s"}


def test_the_report_prints_the_comparison() -> None:
    from slo.evaluator import build_report
    from slo.periods import parse_month

    cfg, _ = parse_config(RAW, env={})
    pol = from_config(cfg)
    period = parse_month("2026-10", pol.timezone)
    doc = build_report(pol, period, period.end_ms, [], latency=series(3000)).to_dict()
    (mean, p95) = doc["latency"][0]["bounds"]
    assert (mean["comparison"], mean["inclusive"], mean["holds"]) == ("< 3000 ms", False, False)
    assert (p95["comparison"], p95["holds"]) == ("≤ 5000 ms", True)
    assert doc["rpo"][0]["comparison"] == "< 3600 s"
    assert doc["rto"][0]["comparison"] == "≤ 14400 s"
