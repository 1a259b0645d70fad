"""Working-day calendars behind one interface.

The contract counts notice in *working days*.  For China that means statutory
holidays off and adjusted weekend working days (调休) on, published year by
year; ``chinese_calendar`` carries the published years and a YAML override
(already parsed into a dict by the caller) can add or correct years.  For a
year nobody has data for the calendar raises :class:`CalendarUnknown` rather
than guessing from weekdays: guessing would silently exclude maintenance the
contract may not allow to be excluded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

import chinese_calendar


class CalendarUnknown(LookupError):
    """The calendar has no data for this date's year; a person must decide."""

    def __init__(self, day: date, calendar: str) -> None:
        super().__init__(f"calendar {calendar} has no data for {day.year} (asked about {day})")
        self.day = day
        self.year = day.year
        self.calendar = calendar


@runtime_checkable
class WorkingDayCalendar(Protocol):
    @property
    def name(self) -> str: ...

    def is_working_day(self, day: date) -> bool:
        """True on a working day; raises :class:`CalendarUnknown` for an unknown year."""
        ...

    def source(self, year: int) -> str:
        """Where this year's data comes from, for the statement."""
        ...


@dataclass(frozen=True, slots=True)
class WeekdayCalendar:
    """Monday to Friday, no holidays (``calendar: none``)."""

    name: str = "weekdays"

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5

    def source(self, year: int) -> str:
        return "Monday-Friday, no holidays"


@dataclass(frozen=True, slots=True)
class YearOverride:
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def parse_overrides(raw: Mapping[Any, Any] | None) -> dict[int, YearOverride]:
    """``{year: {holidays: [...], workdays: [...], source: str}}`` → checked overrides.

    Dates may be ``date`` objects (as YAML loads them) or ISO strings.  Each
    date must belong to its year and may not be both a holiday and a workday.
    """
    out: dict[int, YearOverride] = {}
    for key, body in (raw or {}).items():
        year = int(key)
        body = body or {}
        unknown = set(body) - {"holidays", "workdays", "source"}
        if unknown:
            raise ValueError(f"calendar override {year}: unknown keys {sorted(unknown)}")
        hol = frozenset(_as_date(d) for d in body.get("holidays") or ())
        work = frozenset(_as_date(d) for d in body.get("workdays") or ())
        wrong = sorted(d for d in hol | work if d.year != year)
        if wrong:
            raise ValueError(f"calendar override {year}: dates of another year {wrong}")
        both = sorted(hol & work)
        if both:
            raise ValueError(f"calendar override {year}: both holiday and workday {both}")
        out[year] = YearOverride(hol, work, str(body.get("source") or "override"))
    return out


@functools.cache
def chinese_calendar_years() -> range:
    """Years the installed ``chinese_calendar`` package has published data for."""
    years = [d.year for d in chinese_calendar.holidays]
    return range(min(years), max(years) + 1)


@dataclass(frozen=True)
class ChineseWorkingDays:
    """Chinese working days: ``chinese_calendar`` plus per-year overrides.

    An override year decides its listed dates; its other dates fall back to the
    package when it covers the year, else to Monday–Friday (declaring the year
    in the override is what makes it decidable).
    """

    overrides: Mapping[int, YearOverride] = field(default_factory=dict)
    name: str = "CN"

    @staticmethod
    def with_overrides(raw: Mapping[Any, Any] | None) -> ChineseWorkingDays:
        return ChineseWorkingDays(parse_overrides(raw))

    def knows(self, year: int) -> bool:
        return year in self.overrides or year in chinese_calendar_years()

    def is_working_day(self, day: date) -> bool:
        ov = self.overrides.get(day.year)
        if ov is not None:
            if day in ov.holidays:
                return False
            if day in ov.workdays:
                return True
        if day.year in chinese_calendar_years():
            return bool(chinese_calendar.is_workday(day))
        if ov is not None:
            return day.weekday() < 5
        raise CalendarUnknown(day, self.name)

    def source(self, year: int) -> str:
        parts = []
        if year in chinese_calendar_years():
            parts.append(f"chinese_calendar {getattr(chinese_calendar, '__version__', '')}".strip())
        if year in self.overrides:
            parts.append(self.overrides[year].source)
        return " + ".join(parts) or "none"


def make_calendar(kind: str, overrides: Mapping[Any, Any] | None = None) -> WorkingDayCalendar:
    """The calendar for ``availability.maintenance.calendar`` (``CN`` or ``none``)."""
    if kind == "CN":
        return ChineseWorkingDays.with_overrides(overrides)
    if kind == "none":
        return WeekdayCalendar()
    raise ValueError(f"unknown working-day calendar {kind!r}")


def count_working_days(cal: WorkingDayCalendar, days: Iterable[date]) -> int:
    return sum(1 for d in days if cal.is_working_day(d))
