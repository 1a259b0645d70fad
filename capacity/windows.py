"""Capacity runs never count in availability: what the probes saw while a load test
ran is flagged as such.  Pure (no I/O, no clock): the lead's report and results API
pass the runs' windows (:meth:`capacity.store.CapacityStore.windows`) and their items.

A result is inside a run when ``start_ms <= ts_ms < end_ms``; an outage when it
overlaps a run at all.  A run still going has ``end_ms`` None: open to the future.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RunWindow:
    run_id: str
    start_ms: int
    end_ms: int | None  # None: still running

    def holds(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms and (self.end_ms is None or ts_ms < self.end_ms)

    def overlaps(self, start_ms: int, end_ms: int | None) -> bool:
        ends_after_start = self.end_ms is None or self.end_ms > start_ms
        return ends_after_start and (end_ms is None or end_ms > self.start_ms)


def _sorted(windows: Iterable[RunWindow]) -> list[RunWindow]:
    return sorted(windows, key=lambda w: w.start_ms)


def run_at(windows: Sequence[RunWindow], ts_ms: int) -> str | None:
    """The run whose window holds ``ts_ms`` (``windows`` sorted by start; runs never
    overlap, a lock keeps them one at a time), or None."""
    i = bisect.bisect_right([w.start_ms for w in windows], ts_ms) - 1
    return windows[i].run_id if i >= 0 and windows[i].holds(ts_ms) else None


def flag_results(items: Iterable[T], windows: Iterable[RunWindow],
                 ts_ms: Callable[[T], int]) -> list[tuple[T, str | None]]:
    """Each item (a probe result) with the run it fell in, or None."""
    ws = _sorted(windows)
    return [(x, run_at(ws, ts_ms(x))) for x in items]


def flag_outages(items: Iterable[T], windows: Iterable[RunWindow],
                 span: Callable[[T], tuple[int, int | None]]) -> list[tuple[T, list[str]]]:
    """Each item (an outage: start, end or None while open) with the runs it overlaps."""
    ws = _sorted(windows)
    return [(x, [w.run_id for w in ws if w.overlaps(*span(x))]) for x in items]
