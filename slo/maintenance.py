"""Does an announced maintenance window qualify for exclusion?

A window qualifies only if at least N full working days lie *strictly between*
its announcement date and its start date, both dates taken in the contract's
time zone.  The verdict carries the days counted and a reason in words,
because the statement has to show the customer why a window was (or was not)
excluded.  When the calendar cannot decide, the verdict is ``needs_review``
and the window is treated as ordinary time: the evaluator never excludes time
on a guess.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from slo.calendar import CalendarUnknown, WorkingDayCalendar
from slo.intervals import IntervalSet
from slo.model import MaintenanceSpec
from slo.periods import Period, local_date


class Qualification(enum.StrEnum):
    QUALIFIED = "qualified"
    NOT_QUALIFIED = "not_qualified"
    NEEDS_REVIEW = "needs_review"  # the calendar has no data: a person decides


@dataclass(frozen=True, slots=True)
class MaintenanceAssessment:
    window: MaintenanceSpec
    status: Qualification
    required_days: int
    notice_days: int | None  # full working days counted; None when never announced
    notice_is_lower_bound: bool  # counting stopped at a year without calendar data
    announced_date: date | None
    start_date: date
    reason: str
    calendar: str

    @property
    def qualifies(self) -> bool:
        return self.status is Qualification.QUALIFIED


def _days_between(first: date, last: date) -> Iterable[date]:
    """Dates strictly between ``first`` and ``last``."""
    d = first + timedelta(days=1)
    while d < last:
        yield d
        d += timedelta(days=1)


def _count(cal: WorkingDayCalendar, first: date, last: date) -> tuple[int, CalendarUnknown | None]:
    """Working days strictly between; stops at the first date the calendar cannot judge."""
    n = 0
    for d in _days_between(first, last):
        try:
            n += cal.is_working_day(d)
        except CalendarUnknown as e:
            return n, e
    return n, None


def _sources(cal: WorkingDayCalendar, first: date, last: date) -> str:
    years = range(first.year, last.year + 1)
    return f"{cal.name}: " + "; ".join(f"{y} {cal.source(y)}" for y in years)


def assess(window: MaintenanceSpec, required_days: int, cal: WorkingDayCalendar,
           tz: str) -> MaintenanceAssessment:
    """Judge one window's notice."""
    start = local_date(window.start_ms, tz)
    if window.announced_ms is None:
        return MaintenanceAssessment(window, Qualification.NOT_QUALIFIED, required_days, None,
                                     False, None, start, "never announced", cal.name)
    announced = local_date(window.announced_ms, tz)
    source = _sources(cal, min(announced, start), start)

    def verdict(status: Qualification, n: int, lower: bool, reason: str) -> MaintenanceAssessment:
        return MaintenanceAssessment(window, status, required_days, n, lower, announced, start,
                                     reason, source)

    if window.announced_ms >= window.start_ms:
        return verdict(Qualification.NOT_QUALIFIED, 0, False, "announced after it started")
    n, unknown = _count(cal, announced, start)
    span = f"between {announced} and {start}"
    if unknown is None and n >= required_days:
        return verdict(Qualification.QUALIFIED, n, False,
                       f"{n} full working days {span}; {required_days} required")
    if unknown is None:
        return verdict(Qualification.NOT_QUALIFIED, n, False,
                       f"only {n} full working days {span}; {required_days} required")
    if n >= required_days:  # already enough before the unknown year: certain
        return verdict(Qualification.QUALIFIED, n, True,
                       f"at least {n} full working days {span} before {unknown.year}, "
                       f"for which {cal.name} has no data; {required_days} required")
    return verdict(Qualification.NEEDS_REVIEW, n, True,
                   f"{cal.name} calendar has no data for {unknown.year}; "
                   f"{n} working days counted {span} before it, {required_days} required: "
                   "a person must decide (not excluded)")


def assess_all(windows: Sequence[MaintenanceSpec], required_days: int, cal: WorkingDayCalendar,
               tz: str) -> tuple[MaintenanceAssessment, ...]:
    return tuple(assess(w, required_days, cal, tz) for w in windows)


def for_service(assessments: Iterable[MaintenanceAssessment], service: str,
                period: Period) -> tuple[MaintenanceAssessment, ...]:
    """The windows of ``service`` that overlap ``period``: what its report names."""
    return tuple(a for a in assessments if service in a.window.services
                 and a.window.end_ms > period.start_ms and a.window.start_ms < period.end_ms)


def qualifying_time(assessments: Iterable[MaintenanceAssessment], service: str) -> IntervalSet:
    """Union of the qualifying windows of ``service``: never downtime."""
    ws = [a.window for a in assessments if a.qualifies and service in a.window.services]
    return IntervalSet.of([w.start_ms for w in ws], [w.end_ms for w in ws])
