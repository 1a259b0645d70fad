"""The time alerting runs on, behind one method.

Every deadline in alerting (respond/restore/resolve dues, the next escalation,
the next delivery attempt) is an instant stored in the database and compared
with ``now_ms()``.  Nothing sleeps until a deadline, so a test that swaps in a
``FakeClock`` can jump thirty minutes ahead and call ``tick()``: backoff and
escalation run exactly as they would in production, only without the wait.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Epoch milliseconds, UTC."""
        ...


class SystemClock:
    """Wall time: incidents are compared with wall-clock promises (15 min to respond)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock that moves only when told to; for tests of escalation and backoff."""

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, by: timedelta | int) -> int:
        """Move forward by a ``timedelta`` or a number of milliseconds; returns the new now."""
        step = by // timedelta(milliseconds=1) if isinstance(by, timedelta) else by
        if step < 0:
            raise ValueError("a clock does not go backwards")
        self._now += step
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = now_ms
