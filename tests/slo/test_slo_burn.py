"""Burn rates on the time-based timeline and the four multiwindow conditions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from slo_testkit import DAY, IV, OCT_2026, policy

from slaguard.domain import Outcome
from slo.burn import (
    DEFAULT_RULES,
    BurnReport,
    budget_consumed,
    factor_for,
    time_to_exhaustion_ms,
)
from slo.evaluator import service_burn
from slo.model import AvailabilityRules, Policy
from slo.runs import Run
from slo.timeline import SeriesRuns

S, F = Outcome.SUCCESS, Outcome.FAILURE
H = 3_600_000
PERIOD_30D = 30 * DAY
OUTAGE = OCT_2026 + 5 * DAY  # a full outage starts here, after days of successes


def burn_at(now_ms: int, pol: Policy | None = None) -> BurnReport:
    """A probe every 30 s since four days before the outage; every result fails from OUTAGE."""
    pol = pol or policy()
    start = OUTAGE - 4 * DAY
    n_fail = (now_ms - OUTAGE) // IV + 1
    runs = [Run(S, start, OUTAGE - IV, (OUTAGE - start) // IV),
            Run(F, OUTAGE, OUTAGE + (n_fail - 1) * IV, n_fail)]
    return service_burn(pol, "core", now_ms, [SeriesRuns("web", "a", runs)])


def firing(r: BurnReport) -> list[tuple[str, str]]:
    return [(c.long_window, c.short_window) for c in r.firing]


@pytest.mark.parametrize(("factor", "hours", "share"), [
    ("14.4", 1, "0.02"), ("6", 6, "0.05"), ("3", 24, "0.1"), ("1", 72, "0.1"),
])
def test_budget_used_by_each_rule_over_30_days(factor: str, hours: int, share: str) -> None:
    assert budget_consumed(Decimal(factor), hours * H, PERIOD_30D) == Fraction(share)
    assert factor_for(Decimal(share), hours * H, PERIOD_30D) == Fraction(factor)


@pytest.mark.parametrize(("rate", "hours"), [("14.4", 50), ("6", 120), ("3", 240),
                                             ("1000", Fraction("0.72"))])
def test_time_to_exhaustion(rate: str, hours: Fraction | int) -> None:
    assert time_to_exhaustion_ms(Decimal(rate), PERIOD_30D) == hours * H


def test_fast_page_trips_after_51_84_seconds_not_before() -> None:
    before = burn_at(OUTAGE + 51_840)
    assert before.window("1h").error_ratio == Fraction("0.0144")
    assert before.window("1h").burn_rate == Fraction("14.4")
    assert firing(before) == []
    after = burn_at(OUTAGE + 51_841)
    assert firing(after) == [("1h", "5m")]
    page = after.conditions[0]
    assert (page.severity, page.factor, page.threshold) == ("page", Decimal("14.4"),
                                                            Fraction("0.0144"))


def test_one_failure_is_not_yet_an_outage() -> None:
    r = burn_at(OUTAGE + 20_000)  # only the first failure so far (confirm = 2)
    assert r.window("5m").bad_ms == 0


@pytest.mark.parametrize(("seconds", "expected"), [
    (Fraction("4.32"), []),  # the 5 m window alone is not enough
    (Fraction("129.6"), [("1h", "5m")]),
    (Fraction("129.601"), [("1h", "5m"), ("6h", "30m")]),
    (Fraction("259.2"), [("1h", "5m"), ("6h", "30m")]),
    (Fraction("259.201"), [("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")]),
])
def test_longer_windows_trip_later(seconds: Fraction, expected: list[tuple[str, str]]) -> None:
    assert firing(burn_at(OUTAGE + int(seconds * 1000))) == expected


def test_short_window_reaches_its_threshold_after_4_32_seconds() -> None:
    # With confirm = 1 the first failure is down at once (notes §5: 5 m window, 4.32 s).
    pol = policy(rules=AvailabilityRules(confirm=1))
    assert burn_at(OUTAGE + 4_320, pol).window("5m").error_ratio == Fraction("0.0144")
    assert burn_at(OUTAGE + 4_321, pol).window("5m").error_ratio > Fraction("0.0144")


def test_conditions_are_data() -> None:
    r = burn_at(OUTAGE + 1000)
    assert [(c.severity, c.factor, c.long_window, c.short_window) for c in r.conditions] == [
        (x.severity, x.factor, x.long_window, x.short_window) for x in DEFAULT_RULES]
    assert [w.name for w in r.windows] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def test_maximum_burn_rate_is_one_over_the_budget() -> None:
    r = burn_at(OUTAGE + 2 * H, policy("90"))
    assert r.window("1h").burn_rate == 10  # 14.4 can never fire below 93.06 %
    assert not r.conditions[0].firing


def test_no_budget_at_100_percent() -> None:
    r = burn_at(OUTAGE + 2 * H, policy("100"))
    assert r.window("1h").burn_rate is None
    assert r.conditions[0].firing
