"""Backup freshness: read the newest recoverable point from a JSON endpoint.

GETs ``target.url`` like the http probe (same phases and ``expect`` checks),
then reads ``target.timestamp_field`` (a JSONPath such as ``$.finished_at``):
an RFC 3339 string with an offset, or a number of epoch seconds.  The point
becomes ``recovery_point_ms``; the RPO arithmetic is slo's, not ours.  A
missing or unreadable value is an assertion failure: a backup we cannot date
is not a backup we can count on.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from probes._common import Client, Observation, fetch, json_value, run_probe
from probes._timing import HTTP_TRANSITIONS
from probes.base import ProbeContext
from probes.errors import AssertionFailed
from slaguard.config.schema import FreshnessTarget
from slaguard.domain import ProbeResult

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3339 allows any number of fractional digits (Go writes 9); Python's
# fromisoformat takes at most 6, so the rest is cut (below a millisecond anyway).
_FRACTION = re.compile(r"(\.\d{6})\d+")


async def run(target: FreshnessTarget, ctx: ProbeContext) -> ProbeResult:
    async def exchange(session: Client, obs: Observation) -> None:
        response = await fetch(
            session, target, ctx, obs, method="GET", expect=target.expect, keep_body=True
        )
        value = json_value(response.json(), target.timestamp_field)
        obs.recovery_point_ms = point_ms(value, target.timestamp_field)

    return await run_probe(
        target,
        ctx,
        exchange,
        transitions=HTTP_TRANSITIONS,
        max_durations=[target.expect.max_duration],
    )


def point_ms(value: Any, where: str = "timestamp") -> int:
    """Epoch milliseconds from an RFC 3339 string or epoch seconds (exact, no float drift)."""
    if isinstance(value, str):
        return _rfc3339_ms(value, where)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise AssertionFailed(f"{where}: not a finite number: {value!r}")
        # str() of a float is its shortest exact repr: 1715000000.123 stays .123.
        ms = (Decimal(str(value)) * 1000).to_integral_value(rounding=ROUND_HALF_UP)
        return int(ms)
    raise AssertionFailed(f"{where}: expected an RFC 3339 string or epoch seconds, got {value!r}")


def _rfc3339_ms(text: str, where: str) -> int:
    cleaned = _FRACTION.sub(r"\1", text.strip()).replace(" ", "T", 1)
    cleaned = re.sub(r"[zZ]$", "+00:00", cleaned).replace("t", "T", 1)
    try:
        dt = datetime.fromisoformat(cleaned)
    except ValueError:
        raise AssertionFailed(f"{where}: not an RFC 3339 timestamp: {text!r}") from None
    if dt.tzinfo is None:
        raise AssertionFailed(f"{where}: timestamp without offset is ambiguous: {text!r}")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
