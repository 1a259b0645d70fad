"""The demo platform's capacity model through a real loopback server: latency grows
with the requests in flight; past the knee the excess answers 503, and the platform's own
counters agree with what the clients saw."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from demo.load import CapacityModel
from tests.demo_platform.conftest import Running, running


async def burst(demo: Running, n: int) -> tuple[Counter[int], list[float]]:
    """``n`` requests at once (each on its own connection): statuses and latencies."""
    async def one() -> tuple[int, float]:
        began = time.monotonic()
        async with demo.http.get(demo.url + "/v1/health") as r:
            await r.read()
            return r.status, time.monotonic() - began

    got = await asyncio.gather(*(one() for _ in range(n)))
    return Counter(s for s, _ in got), [t for _, t in got]


async def usage(demo: Running) -> dict[str, int]:
    async with demo.http.get(demo.url + "/api/usage") as r:
        return dict((await r.json())["capacity"])


async def test_below_the_knee_latency_grows_with_concurrency_and_all_succeed() -> None:
    async for demo in running(CapacityModel(knee=40, base_ms=5, slope_ms=20)):
        demo.at(10)
        statuses, alone = await burst(demo, 1)
        assert statuses == {200: 1}
        statuses, crowd = await burst(demo, 30)
        assert statuses == {200: 30}
        counts = await usage(demo)
        assert counts["rejected"] == 0 and counts["served"] == 31
        assert counts["in_flight"] == 0 and 2 <= counts["peak_in_flight"] <= 30
        # the last one in waited behind the others: 5 ms + (peak − 1) × 20 ms
        assert max(crowd) >= 0.005 + (counts["peak_in_flight"] - 1) * 0.020 > max(alone), (
            counts, max(crowd), alone)


async def test_past_the_knee_the_excess_answers_503() -> None:
    async for demo in running(CapacityModel(knee=10, slope_ms=50)):
        demo.at(10)
        statuses, _ = await burst(demo, 60)
        counts = await usage(demo)
        assert counts["peak_in_flight"] == 10  # never more than the knee
        assert statuses[503] == counts["rejected"] > 0
        assert statuses[200] == counts["served"] and sum(statuses.values()) == 60
        statuses, _ = await burst(demo, 1)  # load gone: served again
        assert statuses == {200: 1}


def test_a_knee_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="knee"):
        CapacityModel(knee=0)
    with pytest.raises(ValueError, match="slope_ms"):
        CapacityModel(base_ms=-1)
    with pytest.raises(ValueError, match="slope_ms"):
        CapacityModel(slope_ms=-1)
