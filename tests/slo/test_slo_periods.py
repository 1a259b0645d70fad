"""Periods: calendar months in the contract's zone, DST-correct, to date, ranges, rolling."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from slo_testkit import OCT_2026, TZ

from slo.availability import budget_seconds
from slo.periods import (
    Period,
    month,
    month_containing,
    parse_month,
    previous_month,
    rfc3339,
    rolling,
    to_ms,
)

H = 3_600_000


def test_month_is_local_midnight_to_local_midnight() -> None:
    p = parse_month("2026-10", TZ)
    assert p.start_ms == OCT_2026 == to_ms(datetime(2026, 9, 30, 16, tzinfo=UTC))
    assert rfc3339(p.start_ms, TZ) == "2026-10-01T00:00:00+08:00"
    assert rfc3339(p.end_ms, TZ) == "2026-11-01T00:00:00+08:00"
    assert p.duration_ms == 31 * 24 * H


@pytest.mark.parametrize(("label", "hours"), [("2025-03", 743), ("2025-10", 745),
                                              ("2025-04", 720), ("2024-02", 696)])
def test_europe_berlin_months_follow_dst(label: str, hours: int) -> None:
    assert parse_month(label, "Europe/Berlin").duration_ms == hours * H


@pytest.mark.parametrize(("label", "minutes"), [("2025-03", "44.58"), ("2025-10", "44.7")])
def test_berlin_dst_budgets_at_999(label: str, minutes: str) -> None:
    p = parse_month(label, "Europe/Berlin")
    assert budget_seconds(Decimal("99.9"), p.duration_ms // 1000) / 60 == Decimal(minutes)


def test_december_rolls_into_next_year() -> None:
    p = month(2026, 12, TZ)
    assert rfc3339(p.end_ms, TZ) == "2027-01-01T00:00:00+08:00"


def test_to_date_and_previous_month() -> None:
    now = OCT_2026 + 10 * 24 * H + 1
    cur = month_containing(now, TZ)
    assert cur.label == "2026-10"
    assert cur.until(now) == now and not cur.is_complete(now)
    assert previous_month(now, TZ).label == "2026-09"
    # one millisecond before local midnight is still September
    assert month_containing(OCT_2026 - 1, TZ).label == "2026-09"


def test_until_is_clamped_to_the_period() -> None:
    p = month(2026, 10, TZ)
    assert p.until(p.end_ms + 5) == p.end_ms
    assert p.until(p.start_ms - 5) == p.start_ms
    assert p.is_complete(p.end_ms)


def test_rolling_and_ranges() -> None:
    r = rolling(OCT_2026, 30 * 24 * H)
    assert r.end_ms == OCT_2026 and r.duration_ms == 30 * 24 * H
    with pytest.raises(ValueError):
        Period(5, 5, TZ)


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-10", "october"])
def test_parse_month_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_month(bad, TZ)
