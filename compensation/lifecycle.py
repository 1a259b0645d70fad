"""The statement lifecycle: provisional, preliminary, frozen; the monthly job; the CLI.

A customer's statement for a month is, depending on ``now``:

* **provisional** while the month is open: computed live, never stored;
* **preliminary** once the month is closed but before its generation day (the
  ``nth`` — by default 5th — working day of the next month by the configured
  working-day calendar), or when the calendar has no data for that year: computed
  live, not stored, because late data (imported tickets, results) may still
  change it and, for an unknown year, a person decides when it is final;
* **frozen** from the generation day on: the first request (the monthly job,
  the CLI or the API, whichever comes first) stores version 1 in the archive,
  and every later request is served from the archive, in every format, byte for
  byte.  Only an explicit reissue, with a reason, adds a version.

The job (:class:`MonthlyStatementJob`) is called periodically by the App with
``now``; on or after the generation day it freezes last month's statement of
every customer not yet frozen, from one report shared by all
(``statement_from_report``: the same path as the CLI and API).  It is
idempotent: frozen customers are skipped, and a concurrent freeze cannot add a
second version 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from compensation.archive import (
    CONTENT_TYPES,
    FORMATS,
    ArchivedVersion,
    StatementArchive,
    render_live,
)
from compensation.statements import customer as find_customer
from compensation.statements import make_statement, statement_from_report
from probes.base import wall_ms
from slaguard.config import Config
from slaguard.config.schema import Customer
from slaguard.errors import SlaguardError
from slaguard.evaluation import Evaluator
from slo.calendar import CalendarUnknown, WorkingDayCalendar
from slo.compensation import money_text
from slo.periods import Period, local_date, parse_month, previous_month
from slo.statement import Statement

log = logging.getLogger(__name__)

NTH_WORKING_DAY = 5  # as Alibaba and Tencent: after late tickets and data are in
SEARCH_DAYS = 62  # a month always has 5 working days; past this the calendar is broken
FREEZE_CHUNK = 500  # statements per archive transaction (keeps the write lock short)
JOB_BY = "statement-job"
State = Literal["provisional", "preliminary", "frozen"]


class StatementLifecycleError(SlaguardError):
    """A statement cannot be produced in the state asked for (API: 409)."""


class NoSuchVersion(SlaguardError):
    """The archive has no such version (API: 404)."""


# -- the generation day ------------------------------------------------------------------


def generation_date(period: Period, calendar: WorkingDayCalendar,
                    nth: int = NTH_WORKING_DAY) -> date:
    """The ``nth`` working day of the month after ``period`` (local dates).

    Raises :class:`CalendarUnknown` for a year the calendar has no data for:
    counting weekdays instead would pick a day the contract may not mean."""
    day = local_date(period.end_ms, period.timezone)
    seen = 0
    for _ in range(SEARCH_DAYS):
        if calendar.is_working_day(day):
            seen += 1
            if seen == nth:
                return day
        day += timedelta(days=1)
    raise ValueError(f"calendar {calendar.name}: fewer than {nth} working days in the "
                     f"{SEARCH_DAYS} days after {period.label}")


@dataclass(frozen=True, slots=True)
class Due:
    """Whether a closed month's statements may be frozen at ``now``, and why."""

    due: bool
    on: date | None  # the generation day; None when the calendar cannot say
    why: str


# -- renderings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    format: str
    state: State
    number: str
    hash: str  # the statement's content hash
    total: str
    version: int | None  # archive version when frozen
    note: str  # why this state, for people (stderr, a response header)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def filename(self) -> str:
        suffix = f"-v{self.version}" if self.version is not None else f"-{self.state}"
        return f"{self.number}{suffix}.{self.format}"


def _frozen(v: ArchivedVersion, body: bytes, fmt: str) -> Rendered:
    return Rendered(body, fmt, "frozen", v.number, v.hash, v.total, v.version,
                    f"frozen version {v.version} ({v.reason})")


def _live(st: Statement, fmt: str, state: State, note: str) -> Rendered:
    return Rendered(render_live(st, fmt), fmt, state, st.number, st.hash, money_text(st.total),
                    None, note)


@dataclass(frozen=True, slots=True)
class Generation:
    month: str
    generated: int  # frozen by this call
    already: int  # frozen before


class StatementLifecycle:
    """Statements by state (provisional, preliminary, frozen) over the archive."""

    def __init__(self, evaluator: Evaluator, archive: StatementArchive,
                 nth_working_day: int = NTH_WORKING_DAY) -> None:
        self.evaluator = evaluator
        self.archive = archive
        self.nth = nth_working_day

    @property
    def cfg(self) -> Config:
        return self.evaluator.cfg

    @property
    def timezone(self) -> str:
        return self.evaluator.policy.timezone

    @property
    def claim_window_days(self) -> int:
        return self.evaluator.cfg.compensation.claim_window_days

    def period(self, month: str) -> Period:
        return parse_month(month, self.timezone)

    def due(self, period: Period, now_ms: int) -> Due:
        if not period.is_complete(now_ms):
            return Due(False, None, f"{period.label} is not over: provisional, never frozen")
        try:
            on = generation_date(period, self.evaluator.calendar, self.nth)
        except CalendarUnknown as e:
            return Due(False, None, f"{e}: the generation day cannot be determined; a person "
                                    "decides (slaguard generate-statements --force)")
        if local_date(now_ms, period.timezone) < on:
            return Due(False, on, f"preliminary: {period.label} is frozen on {on} (working day "
                                  f"{self.nth} of the next month)")
        return Due(True, on, f"due since {on} (working day {self.nth} of the next month)")

    def live(self, customer_id: str, month: str, now_ms: int) -> Statement:
        return make_statement(self.evaluator, customer_id, month, now_ms)

    def frozen(self, customer_id: str, month: str, now_ms: int, *, version: int | None = None,
               freeze_if_due: bool = True, by: str = JOB_BY) -> ArchivedVersion | None:
        """The archived version (the latest by default), freezing version 1 when the
        month is due and nothing is archived yet; None when it may not be frozen."""
        find_customer(self.cfg, customer_id)
        stored = self.archive.get(customer_id, month, version)
        if stored is not None or version is not None:
            if stored is None:
                raise NoSuchVersion(f"{customer_id} {month}: no version {version} in the archive")
            return stored
        if not freeze_if_due or not self.due(self.period(month), now_ms).due:
            return None
        reason = f"frozen on request, working day {self.nth} or later"
        return self.archive.freeze(self.live(customer_id, month, now_ms), now_ms, by, reason)

    def render(self, customer_id: str, month: str, fmt: str, now_ms: int,
               version: int | None = None) -> Rendered:
        """The statement in ``fmt``: from the archive once frozen, else live."""
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
        period = self.period(month)
        stored = self.frozen(customer_id, month, now_ms, version=version)
        if stored is not None:
            return _frozen(stored, self.archive.rendering(stored, fmt, now_ms), fmt)
        state: State = "provisional" if not period.is_complete(now_ms) else "preliminary"
        return _live(self.live(customer_id, month, now_ms), fmt, state,
                     self.due(period, now_ms).why)

    def body(self, customer_id: str, month: str, fmt: str, now_ms: int) -> bytes:
        """Just the bytes: ``portal.StatementFn``, so the portal serves frozen months too."""
        return self.render(customer_id, month, fmt, now_ms).body

    def reissue(self, customer_id: str, month: str, now_ms: int, by: str, reason: str
                ) -> ArchivedVersion:
        """A new version computed now, with its reason; earlier versions stay."""
        if not reason.strip():
            raise ValueError("reason: a reissue needs a reason")
        period = self.period(month)
        if not period.is_complete(now_ms):
            raise StatementLifecycleError(f"{month} is not over: its statement is provisional "
                                          "and is never frozen or reissued")
        if self.archive.get(customer_id, month) is None:
            raise StatementLifecycleError(f"{customer_id} {month}: not frozen yet, nothing to "
                                          f"reissue ({self.due(period, now_ms).why})")
        return self.archive.reissue(self.live(customer_id, month, now_ms), now_ms, by,
                                    reason.strip())

    def missing(self, month: str) -> list[Customer]:
        frozen = self.archive.frozen_customers(month)
        return [c for c in self.cfg.customers if c.id not in frozen]

    def freeze_month(self, month: str, now_ms: int, *, by: str = JOB_BY,
                     reason: str | None = None, force: bool = False) -> Generation:
        """Version 1 of every customer's statement not yet frozen.  ``force`` skips the
        generation-day rule (a person decided) but never freezes an open month."""
        period = self.period(month)
        due = self.due(period, now_ms)
        if not period.is_complete(now_ms) or not (due.due or force):
            raise StatementLifecycleError(f"{month}: not frozen: {due.why}")
        todo = self.missing(month)
        if not todo:
            return Generation(month, 0, len(self.cfg.customers))
        services = sorted({s for c in todo for s in c.services})
        report = self.evaluator.month(month, now_ms, services)  # one report for everyone
        why = reason or (f"monthly generation, {due.why}" if due.due
                         else f"generated by hand ({by})")
        generated = 0
        for i in range(0, len(todo), FREEZE_CHUNK):
            chunk = [statement_from_report(self.evaluator, report, c, now_ms)
                     for c in todo[i:i + FREEZE_CHUNK]]
            generated += self.archive.freeze_many(chunk, now_ms, by, why)
        return Generation(month, generated, len(self.cfg.customers) - generated)


# -- the monthly job ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRun:
    month: str
    status: Literal["not_due", "done", "generated", "calendar_unknown"]
    generated: int = 0
    on: date | None = None
    detail: str = ""


class MonthlyStatementJob:
    """Freeze last month's statements on the generation day (or the first run after)."""

    def __init__(self, lifecycle: StatementLifecycle) -> None:
        self.lifecycle = lifecycle
        self._refused: set[str] = set()  # months already logged as undecidable

    def run(self, now_ms: int) -> JobRun:
        period = previous_month(now_ms, self.lifecycle.timezone)
        due = self.lifecycle.due(period, now_ms)
        if due.on is None:
            self._refuse(period.label, due.why)
            return JobRun(period.label, "calendar_unknown", detail=due.why)
        if not due.due:
            return JobRun(period.label, "not_due", on=due.on, detail=due.why)
        if not self.lifecycle.missing(period.label):
            return JobRun(period.label, "done", on=due.on)
        gen = self.lifecycle.freeze_month(period.label, now_ms)
        log.info("statements %s: %d frozen (%d were already)", period.label, gen.generated,
                 gen.already)
        return JobRun(period.label, "generated", gen.generated, due.on)

    def _refuse(self, month: str, why: str) -> None:
        # Once per month at error level: a person must act; hourly repeats would be noise.
        if month not in self._refused:
            self._refused.add(month)
            log.error("statements %s not generated: %s", month, why)
        else:
            log.debug("statements %s still not generated: %s", month, why)


async def run_every(job: MonthlyStatementJob, seconds: float,
                    now_ms: Callable[[], int] = wall_ms) -> None:
    """Run the job now and then every ``seconds`` (off the loop: probes keep their timing)."""
    while True:
        try:
            await asyncio.to_thread(job.run, now_ms())
        except Exception:
            log.exception("the monthly statement job failed; it runs again in %.0f s", seconds)
        await asyncio.sleep(seconds)
