"""Accounting periods as exact epoch-millisecond ranges ``[start, end)``.

A calendar month is ``[first day 00:00, next first day 00:00)`` in the
contract's IANA time zone, converted to instants, so DST is handled by the
zone data (Europe/Berlin March 2025 is 743 h, October 2025 745 h) rather than
by assuming 24 h days.  Conversions go through ``timedelta`` arithmetic, never
through float timestamps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slaguard.domain import check_instant, check_year

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")  # ASCII digits only
MAX_INSTANT_TEXT = 64  # longer than any RFC 3339 instant: not read any further


def to_ms(dt: datetime) -> int:
    """An aware datetime as exact epoch milliseconds (sub-millisecond part floored)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: a time zone is required")
    return (dt - EPOCH) // _MS


def from_ms(ms: int, tz: str) -> datetime:
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(tz))


def rfc3339(ms: int, tz: str) -> str:
    """RFC 3339 with the zone's offset; seconds precision when whole, else milliseconds."""
    spec = "seconds" if ms % 1000 == 0 else "milliseconds"
    return from_ms(ms, tz).isoformat(timespec=spec)


def parse_rfc3339(value: Any, key: str) -> int:
    """An RFC 3339 instant with its offset (``Z`` allowed) between 2000 and 2100, as
    epoch ms; ``key`` names the field in the error."""
    if not isinstance(value, str) or len(value) > MAX_INSTANT_TEXT or not value.isascii():
        shown = value if isinstance(value, str | int | float | None) else type(value).__name__
        raise ValueError(f"{key}: expected an RFC 3339 string, got {str(shown)[:40]!r}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{key}: expected RFC 3339, got {value!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"{key}: a UTC offset is required, got {value!r}")
    try:
        ms = to_ms(dt)
    except OverflowError:  # year 1 or 9999 with an offset leaves datetime's range
        ms = -1
    return check_instant(ms, key)


def local_date(ms: int, tz: str) -> date:
    return from_ms(ms, tz).date()


def local_midnight_ms(d: date, tz: str) -> int:
    """The instant of 00:00 local time on ``d`` (fold=0 at an ambiguous or skipped midnight)."""
    return to_ms(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)))


@dataclass(frozen=True, slots=True)
class Period:
    start_ms: int
    end_ms: int
    timezone: str
    label: str = ""

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"empty period [{self.start_ms}, {self.end_ms})")
        ZoneInfo(self.timezone)  # fail early on an unknown zone

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    def until(self, now_ms: int) -> int:
        """End of the evaluable part: the period end, or ``now`` when the period is open."""
        return max(self.start_ms, min(self.end_ms, now_ms))

    def is_complete(self, now_ms: int) -> bool:
        return now_ms >= self.end_ms

    def contains(self, ms: int) -> bool:
        return self.start_ms <= ms < self.end_ms


def month(year: int, month_: int, tz: str) -> Period:
    """Calendar month ``year-month`` in ``tz``."""
    first = date(year, month_, 1)
    nxt = date(year + (month_ == 12), month_ % 12 + 1, 1)
    return Period(local_midnight_ms(first, tz), local_midnight_ms(nxt, tz), tz,
                  f"{year:04d}-{month_:02d}")


class MonthError(ValueError):
    """A month label that is not ``YYYY-MM`` in 2000-2099 (the caller knows which field)."""


def parse_month(label: str, tz: str) -> Period:
    """``"2026-10"`` → that calendar month in ``tz`` (the CLI's ``--month``)."""
    m = _MONTH.match(label.strip()) if len(label) <= 16 else None
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise MonthError(f"not a month: {label[:16]!r} (use YYYY-MM)")
    try:
        check_year(int(m.group(1)), "month")
    except ValueError:
        raise MonthError(f"not a month slaguard keeps: {label!r} (years 2000-2099)") from None
    return month(int(m.group(1)), int(m.group(2)), tz)


def month_containing(now_ms: int, tz: str) -> Period:
    """The current month; evaluate it "to date" by passing the same ``now_ms``."""
    d = local_date(now_ms, tz)
    return month(d.year, d.month, tz)


def previous_month(now_ms: int, tz: str) -> Period:
    cur = month_containing(now_ms, tz)
    return month_containing(cur.start_ms - 1, tz)


def date_range(start_ms: int, end_ms: int, tz: str, label: str = "") -> Period:
    """An arbitrary ``[start, end)``."""
    return Period(start_ms, end_ms, tz, label)


def rolling(now_ms: int, length_ms: int, tz: str = "UTC") -> Period:
    """The rolling window of ``length_ms`` ending at ``now_ms``."""
    return Period(now_ms - length_ms, now_ms, tz, f"rolling {length_ms // 1000}s")
