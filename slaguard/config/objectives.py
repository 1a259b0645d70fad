"""Windowed objectives (OpenSLO's SLO shape): an SLI, a target, a window (rolling N
days or the calendar month), a budgeting method, and burn-rate alerts.

``slos[].objective`` is evaluated by ``slo.rolling`` beside the calendar month that
compensation uses (which it never changes).  The field names are a contract shared
with the OpenSLO importer/exporter: do not rename them.

Checks that involve two fields sit on the later field (``validate_default`` makes
them run when it is absent), so an error names the field to fix:
``slos[0].objective.threshold: required when sli is latency``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, ValidationInfo, field_validator

from slaguard.config.types import Bound, Duration, Name, Objective, Strict
from slaguard.units import format_duration

Sli = Literal["availability", "latency"]
Budgeting = Literal["occurrences", "timeslices", "ratio_timeslices"]
BurnOp = Literal["gt", "gte", "lt", "lte"]
Severity = Literal["page", "ticket"]

# The calendar month in the configuration's timezone: the month compensation uses.
CALENDAR_MONTH: Literal["1M"] = "1M"
# The shortest calendar month: what a lookback may span inside ``1M``.
SHORTEST_MONTH = timedelta(days=28)

_WINDOW = re.compile(r"^(\d+)([mhdw])$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
         "w": timedelta(weeks=1)}


def _window(value: object) -> timedelta | str:
    """``28d``, ``4w``, ``1h``, ``30m`` (rolling: one whole number and one unit, as
    OpenSLO writes it) or ``1M`` (the calendar month)."""
    if isinstance(value, timedelta):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text == CALENDAR_MONTH:
        return CALENDAR_MONTH
    m = _WINDOW.match(text)
    if m is None or int(m.group(1)) == 0:
        if re.match(r"^\d+M$", text):
            raise ValueError(f"only 1M (the calendar month) is a calendar window, got {value!r}")
        raise ValueError(f"not a window: {value!r} (use N followed by m, h, d or w, e.g. 28d, "
                         "or 1M for the calendar month)")
    return int(m.group(1)) * _UNIT[m.group(2)]


def _format_window(value: timedelta | str) -> str:
    """``1M``, or a rolling window in the largest of d, h, m that divides it (``4w``
    reads back as ``28d``: days are what SLO windows are usually written in)."""
    if isinstance(value, str):
        return value
    for unit in ("d", "h", "m"):
        if value % _UNIT[unit] == timedelta(0):
            return f"{value // _UNIT[unit]}{unit}"
    return format_duration(value)


Window = Annotated[
    timedelta | Literal["1M"], BeforeValidator(_window),
    PlainSerializer(_format_window, return_type=str),
]


def _factor(value: object) -> Decimal:
    """A burn-rate factor: a number above 0 (``14.4``), read exactly."""
    if isinstance(value, bool):
        raise ValueError(f"not a burn-rate factor: {value!r}")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a burn-rate factor: {value!r} (use e.g. 14.4)") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"must be a number above 0, got {value!r}")
    return d


# An objective written back as it was read: with its % (a bare number is refused).
Percentage = Annotated[Objective, PlainSerializer(lambda d: f"{d}%", return_type=str)]

Factor = Annotated[Decimal, BeforeValidator(_factor), PlainSerializer(str, return_type=str)]


class BurnAlert(Strict):
    """An OpenSLO AlertPolicy burn-rate condition: alert when the burn rate over
    ``lookback`` compares with ``threshold`` by ``op`` (``gt``: burning faster than;
    ``lt``/``lte``: slower than) and has done so for ``alert_after``."""

    name: Name
    severity: Severity
    threshold: Factor
    op: BurnOp = "gt"
    lookback: Duration
    alert_after: Duration = timedelta(0)

    @field_validator("lookback")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("must be longer than 0")
        return v

    @field_validator("alert_after")
    @classmethod
    def _not_negative(cls, v: timedelta) -> timedelta:
        if v < timedelta(0):
            raise ValueError("must not be negative")
        return v


class WindowedObjective(Strict):
    sli: Sli
    # latency only: a success is good when faster than this ("<= 3s": at 3 s too).
    threshold: Annotated[Bound | None, Field(validate_default=True)] = None
    target: Percentage
    window: Window
    budgeting: Budgeting = "occurrences"
    timeslice_window: Annotated[Duration | None, Field(validate_default=True)] = None
    timeslice_target: Annotated[Percentage | None, Field(validate_default=True)] = None
    burn_alerts: list[BurnAlert] = Field(default_factory=list)

    @property
    def calendar(self) -> bool:
        """Whether the window is the calendar month (else it rolls)."""
        return self.window == CALENDAR_MONTH

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, v: timedelta | None, info: ValidationInfo) -> timedelta | None:
        sli = info.data.get("sli")
        if sli == "latency" and v is None:
            raise ValueError("required when sli is latency")
        if sli == "availability" and v is not None:
            raise ValueError("only for sli latency (availability counts successes)")
        if v is not None and v <= timedelta(0):
            raise ValueError("must be longer than 0")
        return v

    @field_validator("target")
    @classmethod
    def _target(cls, v: Decimal) -> Decimal:
        if not 0 < v < 100:
            raise ValueError(f"must be above 0% and below 100%, got {v}%")
        return v

    @field_validator("timeslice_window")
    @classmethod
    def _slice(cls, v: timedelta | None, info: ValidationInfo) -> timedelta | None:
        budgeting, window = info.data.get("budgeting"), info.data.get("window")
        if budgeting in ("timeslices", "ratio_timeslices") and v is None:
            raise ValueError(f"required for budgeting {budgeting}")
        if budgeting == "occurrences" and v is not None:
            raise ValueError("only for budgeting timeslices or ratio_timeslices")
        if v is None or window is None:
            return v
        if v < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        if window == CALENDAR_MONTH:
            if timedelta(days=1) % v:
                raise ValueError(f"{format_duration(v)} does not divide a day (the window 1M "
                                 "is a calendar month, whose length varies)")
        elif isinstance(window, timedelta) and window % v:
            raise ValueError(f"{format_duration(v)} does not divide the window "
                             f"{format_duration(window)}")
        return v

    @field_validator("timeslice_target")
    @classmethod
    def _slice_target(cls, v: Decimal | None, info: ValidationInfo) -> Decimal | None:
        budgeting = info.data.get("budgeting")
        if budgeting == "timeslices" and v is None:
            raise ValueError("required for budgeting timeslices")
        if budgeting in ("occurrences", "ratio_timeslices") and v is not None:
            raise ValueError("only for budgeting timeslices")
        if v is not None and not 0 < v <= 100:
            raise ValueError(f"must be above 0% and at most 100%, got {v}%")
        return v

    @field_validator("burn_alerts")
    @classmethod
    def _alerts(cls, v: list[BurnAlert], info: ValidationInfo) -> list[BurnAlert]:
        names = [a.name for a in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"name {', '.join(twice)} used twice")
        window = info.data.get("window")
        longest = SHORTEST_MONTH if window == CALENDAR_MONTH else window
        for i, a in enumerate(v):
            if isinstance(longest, timedelta) and a.lookback > longest:
                raise ValueError(f"[{i}] {a.name}: lookback {format_duration(a.lookback)} is "
                                 f"longer than the window {_format_window(window or longest)}")
        return v
