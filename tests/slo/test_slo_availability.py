"""Availability, downtime, budgets, maintenance and no-data policies, to the second."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from slo_testkit import DAY, IV, OCT_2026, days, policy, timeline

from slaguard.domain import Outcome
from slo.availability import Availability, availability_of, budget_seconds, evaluate
from slo.calendar import chinese_calendar_years
from slo.evaluator import build_report
from slo.fmt import number, percent_down
from slo.intervals import EMPTY, IntervalSet
from slo.model import AvailabilityRules, MaintenanceSpec
from slo.periods import Period, month
from slo.runs import Run
from slo.timeline import SeriesRuns

S, F = Outcome.SUCCESS, Outcome.FAILURE
MIN = 60_000


@pytest.mark.parametrize(("objective", "n_days", "minutes"), [
    ("99.9", 30, "43.2"), ("99.95", 30, "21.6"), ("99.99", 30, "4.32"),
    ("99.9", 31, "44.64"), ("99.95", 31, "22.32"), ("99.99", 31, "4.464"),
    ("99.9", 28, "40.32"), ("99.95", 28, "20.16"), ("99.99", 28, "4.032"),
    ("99.9", 29, "41.76"), ("99.95", 29, "20.88"), ("99.99", 29, "4.176"),
])
def test_budget_minutes(objective: str, n_days: int, minutes: str) -> None:
    assert budget_seconds(Decimal(objective), n_days * 86_400) / 60 == Decimal(minutes)


def test_budget_ratio_is_exact() -> None:
    assert policy("99.9").services[0].budget_ratio == Fraction(1, 1000)
    assert number(budget_seconds(Decimal("99.99"), 30 * 86_400)) == "259.2"


def outage_runs(t0: int, end: int, outage_start: int, outage_ms: int,
                location: str = "a", target: str = "web") -> SeriesRuns:
    """A success series over ``[t0, end)`` with one failure run covering exactly ``outage_ms``
    (the first success after it comes at ``outage_start + outage_ms``)."""
    n = -(-outage_ms // IV)
    back = outage_start + outage_ms
    return SeriesRuns(target, location, [
        Run(S, t0, outage_start - IV, (outage_start - t0) // IV),
        Run(F, outage_start, outage_start + (n - 1) * IV, n),
        Run(S, back, back + ((end - back) // IV - 1) * IV, (end - back) // IV),
    ])


def run_month(pol_rules: AvailabilityRules, outage_ms: int, maintenance: IntervalSet = EMPTY,
              period: Period | None = None) -> Availability:
    p = period or days(OCT_2026, 30)
    pol = policy(rules=pol_rules)
    runs = [outage_runs(p.start_ms, p.end_ms, p.start_ms + 5 * DAY, outage_ms)]
    tl = timeline(pol, runs, p.end_ms)
    return evaluate(tl, pol.services[0], p, p.end_ms, maintenance, pol.rules)


def test_maintenance_vector_from_the_notes() -> None:
    """30 d, 240 min qualifying maintenance, 43.0 min outage (notes §5)."""
    p = days(OCT_2026, 30)
    m = IntervalSet.span(p.start_ms + 20 * DAY, p.start_ms + 20 * DAY + 240 * MIN)
    excl = run_month(AvailabilityRules(counts_as="exclude_from_period"), 43 * MIN, m)
    assert (excl.downtime_seconds, excl.excluded_seconds) == (2580, 14_400)
    assert excl.error_budget_seconds == Fraction("2577.6")  # 42.96 min
    assert percent_down(excl.availability, 4) == "99.8999"
    assert not excl.met
    avail = run_month(AvailabilityRules(counts_as="available"), 43 * MIN, m)
    assert (avail.excluded_seconds, avail.maintenance_seconds) == (0, 14_400)
    assert avail.error_budget_seconds == 2592
    assert percent_down(avail.availability, 4) == "99.9004"
    assert avail.met


def test_objective_boundary_is_inclusive_and_display_rounds_down() -> None:
    at_budget = run_month(AvailabilityRules(), 2592_000)
    assert at_budget.availability == Fraction(999, 1000)
    assert at_budget.met and percent_down(at_budget.availability) == "99.900"
    assert at_budget.error_budget_remaining == 0
    over = run_month(AvailabilityRules(), 2592_000 + IV)
    assert not over.met
    assert percent_down(over.availability) == "99.898"  # 99.89884 shown rounded down


def test_remaining_budget() -> None:
    a = run_month(AvailabilityRules(), 648_000)  # a quarter of 2592 s
    assert a.error_budget_remaining == Fraction(3, 4)


def test_outage_seen_by_two_of_three_locations() -> None:
    p = days(OCT_2026, 1)
    o = p.start_ms + 3_600_000
    runs = [outage_runs(p.start_ms, p.end_ms, o, 5 * MIN, loc) for loc in ("a", "b")]
    runs.append(outage_runs(p.start_ms, p.end_ms, o + 20 * MIN, 5 * MIN, "c"))
    pol = policy()
    a = evaluate(timeline(pol, runs, p.end_ms), pol.services[0], p, p.end_ms, EMPTY, pol.rules)
    assert [(o_.start_ms, o_.seconds, o_.locations, o_.cause) for o_ in a.outages] == [
        (o, 300, ("a", "b"), "observed")]
    assert a.downtime_seconds == 300


def test_sub_second_edges_round_outwards_and_figures_add_up() -> None:
    p = days(OCT_2026, 1)
    o = p.start_ms + 3_600_000 + 500  # results at .5 s
    pol = policy()
    runs = [outage_runs(p.start_ms + 500, p.end_ms, o, 60_000)]
    a = evaluate(timeline(pol, runs, p.end_ms), pol.services[0], p, p.end_ms, EMPTY, pol.rules)
    assert a.downtime_seconds == 61 == sum(x.seconds for x in a.outages)
    assert a.availability == availability_of(61, 86_400)


def gap_series(p: Period) -> list[SeriesRuns]:
    """Success all day except a 10-minute hole in the results after the first hour."""
    hole = p.start_ms + 3_600_000
    return [SeriesRuns("web", "a", [
        Run(S, p.start_ms, hole - IV, 120),
        Run(S, hole + 10 * MIN, p.end_ms - IV, (p.end_ms - hole - 10 * MIN) // IV),
    ])]


@pytest.mark.parametrize(("no_data", "downtime", "excluded", "budget"), [
    ("up", 0, 0, "86.4"), ("down", 600, 0, "86.4"), ("exclude", 0, 600, "85.8"),
])
def test_no_data_policies(no_data: str, downtime: int, excluded: int, budget: str) -> None:
    p = days(OCT_2026, 1)
    pol = policy(rules=AvailabilityRules(no_data=no_data))  # type: ignore[arg-type]
    a = evaluate(timeline(pol, gap_series(p), p.end_ms), pol.services[0], p, p.end_ms, EMPTY,
                 pol.rules)
    assert a.gap_seconds == 600
    assert a.coverage == Fraction(86_400 - 600, 86_400)
    assert (a.downtime_seconds, a.excluded_seconds, number(a.error_budget_seconds)) == (
        downtime, excluded, budget)
    if no_data == "down":
        assert [(x.seconds, x.cause, x.locations) for x in a.outages] == [(600, "no_data", ())]


def test_open_period_is_evaluated_to_date_against_the_whole_month_budget() -> None:
    p = days(OCT_2026, 30)
    now = p.start_ms + 10 * DAY + 30 * MIN
    pol = policy()
    full = [Run(S, p.start_ms, now - 30 * MIN - IV, (10 * DAY) // IV),
            Run(F, now - 30 * MIN, now - IV, 60)]  # failing since 30 min, still failing
    a = evaluate(timeline(pol, [SeriesRuns("web", "a", full)], now), pol.services[0], p, now,
                 EMPTY, pol.rules)
    assert a.elapsed_seconds == 10 * 86_400 + 1800
    assert a.period_seconds == 30 * 86_400
    assert a.downtime_seconds == 1800
    assert a.error_budget_seconds == 2592
    assert a.outages[-1].ongoing
    assert a.availability == 1 - Fraction(1800, 10 * 86_400 + 1800)


def test_qualifying_maintenance_is_never_downtime_and_unqualified_counts() -> None:
    p = days(OCT_2026, 30)
    start = p.start_ms + 13 * DAY + 2 * 3_600_000  # 2026-10-14 02:00 +08:00
    early = MaintenanceSpec("MW-1", ("core",), start, start + 2 * 3_600_000,
                            OCT_2026 - 30 * DAY)
    late = MaintenanceSpec("MW-1", ("core",), start, start + 2 * 3_600_000, start - DAY)
    runs = [outage_runs(p.start_ms, p.end_ms, start + 30 * MIN, 30 * MIN)]
    for window, downtime in ((early, 0), (late, 1800)):
        pol = policy(maintenance=[window])
        r = build_report(pol, p, p.end_ms, runs)
        assert r.services[0].availability.downtime_seconds == downtime
        assert r.services[0].maintenance[0].qualifies is (downtime == 0)


def test_needs_review_window_is_not_excluded() -> None:
    y = chinese_calendar_years().stop
    p = month(y, 3, "Asia/Shanghai")
    w = MaintenanceSpec("MW-X", ("core",), p.start_ms + 10 * DAY, p.start_ms + 10 * DAY + 3_600_000,
                        p.start_ms)
    pol = policy(maintenance=[w], rules=AvailabilityRules(counts_as="exclude_from_period"))
    runs = [outage_runs(p.start_ms, p.end_ms, p.start_ms + 10 * DAY, 60 * MIN)]
    r = build_report(pol, p, p.end_ms, runs).services[0]
    assert r.maintenance[0].status.value == "needs_review"
    assert (r.availability.downtime_seconds, r.availability.excluded_seconds) == (3600, 0)
