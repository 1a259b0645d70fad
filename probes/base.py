"""The probe contract: ``async def run(target, ctx) -> ProbeResult``.

A probe returns data and never writes metrics or rows (sinks do that).  It
never raises for a failure of the target: every outcome, including a timeout,
is a ``ProbeResult``.  Exceptions escaping a probe are bugs; the scheduler
records them as ``probe_error`` with outcome ``unknown``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from slaguard.domain import ProbeResult


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class ProbeContext:
    """What a probe needs from its surroundings; tests build their own."""

    location: str
    # Wall clock for timestamps (epoch ms).  Durations always use time.perf_counter_ns.
    now_ms: Callable[[], int] = wall_ms
    # Extra CA bundle or resolver overrides for tests and private networks.
    options: dict[str, Any] = field(default_factory=dict)


class ProbeFn(Protocol):
    def __call__(self, target: Any, ctx: ProbeContext) -> Awaitable[ProbeResult]: ...
