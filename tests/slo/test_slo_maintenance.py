"""Maintenance notice in Chinese working days, and refusal for unknown years."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from slo_testkit import TZ

from slo.calendar import (
    CalendarUnknown,
    ChineseWorkingDays,
    WeekdayCalendar,
    chinese_calendar_years,
    make_calendar,
    parse_overrides,
)
from slo.maintenance import Qualification, assess
from slo.model import MaintenanceSpec
from slo.periods import to_ms

CN = ChineseWorkingDays()


def at(y: int, m: int, d: int, hh: int = 10) -> int:
    return to_ms(datetime(y, m, d, hh, tzinfo=ZoneInfo(TZ)))


def window(start: int, announced: int | None, hours: int = 2) -> MaintenanceSpec:
    return MaintenanceSpec("MW", ("core",), start, start + hours * 3_600_000, announced)


def test_working_saturday_after_national_day_counts() -> None:
    # 10-10 is an adjusted working Saturday; 10-11, 10-17 and 10-18 are off.
    a = assess(window(at(2026, 10, 20, 2), at(2026, 10, 9, 18)), 7, CN, TZ)
    assert a.status is Qualification.QUALIFIED
    assert a.notice_days == 7
    assert "between 2026-10-09 and 2026-10-20" in a.reason


def test_national_day_holidays_do_not_count() -> None:
    # Strictly between 09-24 and 10-12: 09-28, 09-29, 09-30, 10-08, 10-09, 10-10 = 6.
    a = assess(window(at(2026, 10, 12, 2), at(2026, 9, 24)), 7, CN, TZ)
    assert a.status is Qualification.NOT_QUALIFIED
    assert a.notice_days == 6
    assert "only 6" in a.reason and "7 required" in a.reason


def test_reference_window_of_the_example_configuration_qualifies() -> None:
    a = assess(window(at(2026, 10, 14, 2), at(2026, 9, 28, 10)), 7, CN, TZ)
    assert (a.status, a.notice_days) == (Qualification.QUALIFIED, 7)


def test_dates_are_taken_in_the_contract_time_zone() -> None:
    # 2026-10-09T18:00Z is already Saturday 10-10 in Shanghai: the working Saturday
    # is then the announcement day itself and does not count.
    announced = to_ms(datetime(2026, 10, 9, 18, tzinfo=ZoneInfo("UTC")))
    a = assess(window(at(2026, 10, 20, 2), announced), 7, CN, TZ)
    assert (a.announced_date, a.notice_days) == (date(2026, 10, 10), 6)
    assert not a.qualifies


def test_unannounced_or_late_announcement_never_qualifies() -> None:
    assert assess(window(at(2026, 10, 20), None), 7, CN, TZ).reason == "never announced"
    late = assess(window(at(2026, 10, 20, 2), at(2026, 10, 20, 3)), 0, CN, TZ)
    assert late.status is Qualification.NOT_QUALIFIED


def test_chinese_calendar_has_no_2027_yet() -> None:
    if 2027 in chinese_calendar_years():
        pytest.skip("chinese_calendar now publishes 2027; the refusal is tested on a later year")
    with pytest.raises(CalendarUnknown) as e:
        CN.is_working_day(date(2027, 1, 4))
    assert e.value.year == 2027


def first_unknown_year() -> int:
    return chinese_calendar_years().stop


def test_a_year_without_data_is_refused_and_flagged_for_a_person() -> None:
    y = first_unknown_year()
    a = assess(window(at(y, 3, 15), at(y, 2, 1)), 7, CN, TZ)
    assert a.status is Qualification.NEEDS_REVIEW
    assert not a.qualifies
    assert a.notice_is_lower_bound and a.notice_days == 0
    assert "a person must decide" in a.reason


def test_an_override_makes_the_year_decidable() -> None:
    y = first_unknown_year()
    cal = make_calendar("CN", {y: {
        "holidays": [f"{y}-02-16", f"{y}-02-17", f"{y}-02-18"],  # a made-up Spring Festival
        "workdays": [date(y, 2, 20)],
        "source": "State Council notice (test)",
    }})
    assert not cal.is_working_day(date(y, 2, 16))
    a = assess(window(at(y, 3, 15), at(y, 2, 1)), 7, cal, TZ)
    assert a.status is Qualification.QUALIFIED
    assert "State Council notice (test)" in a.calendar


def test_2027_becomes_decidable_with_an_override() -> None:
    if 2027 in chinese_calendar_years():
        pytest.skip("chinese_calendar now publishes 2027")
    refused = assess(window(at(2027, 1, 20, 2), at(2027, 1, 5)), 7, CN, TZ)
    assert refused.status is Qualification.NEEDS_REVIEW
    cal = make_calendar("CN", {2027: {"holidays": ["2027-01-01"], "workdays": [],
                                      "source": "test"}})
    decided = assess(window(at(2027, 1, 20, 2), at(2027, 1, 5)), 7, cal, TZ)
    assert (decided.status, decided.notice_days) == (Qualification.QUALIFIED, 10)


def test_enough_known_days_before_an_unknown_year_is_already_certain() -> None:
    y = first_unknown_year()
    a = assess(window(at(y, 1, 20), at(y - 1, 12, 1)), 7, CN, TZ)
    assert a.status is Qualification.QUALIFIED
    assert a.notice_is_lower_bound and a.notice_days is not None and a.notice_days >= 7
    assert f"at least {a.notice_days}" in a.reason


def test_override_corrects_a_known_year() -> None:
    cal = make_calendar("CN", {2026: {"holidays": ["2026-10-10"], "source": "correction"}})
    assert CN.is_working_day(date(2026, 10, 10))
    assert not cal.is_working_day(date(2026, 10, 10))
    assert cal.is_working_day(date(2026, 10, 9))  # the rest still from chinese_calendar


@pytest.mark.parametrize("raw", [
    {2027: {"holidays": ["2026-12-31"]}},
    {2027: {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}},
    {2027: {"holiday": []}},
])
def test_bad_overrides_are_rejected(raw: dict[int, dict[str, list[str]]]) -> None:
    with pytest.raises(ValueError):
        parse_overrides(raw)


def test_weekday_calendar() -> None:
    cal = make_calendar("none")
    assert isinstance(cal, WeekdayCalendar)
    assert cal.is_working_day(date(2026, 10, 1))  # a holiday in China, a Thursday
    assert not cal.is_working_day(date(2026, 10, 10))
