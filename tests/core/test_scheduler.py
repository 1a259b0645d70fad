"""Scheduling decisions: slots, overload, self-check, skipped runs.

The probe functions here are stand-ins on purpose: what is under test is the
scheduler's bookkeeping, the probes themselves are tested against real servers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from probes.base import ProbeContext
from slaguard.domain import ErrorClass, Outcome, ProbeResult
from slaguard.scheduler import ProbeScheduler, SelfCheck, slot_offset_ms


def target(name: str, interval_s: float = 1.0) -> Any:
    return SimpleNamespace(name=name, service="core", kind="http",
                           interval=timedelta(seconds=interval_s))


def probe_returning(outcome: Outcome, delay_s: float = 0.0) -> Any:
    async def run(t: Any, ctx: ProbeContext) -> ProbeResult:
        ts = ctx.now_ms()
        await asyncio.sleep(delay_s)
        return ProbeResult(ts_ms=ts, target=t.name, service=t.service, location=ctx.location,
                           kind=t.kind, outcome=outcome, duration_ms=int(delay_s * 1000))
    return run


def test_slot_offset_is_stable_and_inside_the_interval() -> None:
    offsets = {slot_offset_ms(f"t{i}", 30_000) for i in range(200)}
    assert all(0 <= o < 30_000 for o in offsets)
    assert len(offsets) > 150  # spread, not bunched
    assert slot_offset_ms("web-home", 30_000) == slot_offset_ms("web-home", 30_000)


async def test_a_probe_that_raises_is_unknown_never_failure() -> None:
    async def broken(t: Any, ctx: ProbeContext) -> ProbeResult:
        raise RuntimeError("bug")

    got: list[ProbeResult] = []
    s = ProbeScheduler([target("a")], "sh", {"http": broken}, got.append)
    r = await s.run_once("a")
    assert r.outcome is Outcome.UNKNOWN and r.error is not None
    assert r.error.cls is ErrorClass.PROBE_ERROR and "RuntimeError: bug" in r.error.message
    assert got == [r]


async def test_failed_self_check_turns_failure_into_unknown() -> None:
    async def no_network() -> bool:
        return False

    got: list[ProbeResult] = []
    s = ProbeScheduler([target("a")], "sh", {"http": probe_returning(Outcome.FAILURE)},
                       got.append, self_check=SelfCheck(no_network))
    r = await s.run_once("a")
    assert r.outcome is Outcome.UNKNOWN and r.error is not None
    assert r.error.cls is ErrorClass.SELF_CHECK
    ok = ProbeScheduler([target("a")], "sh", {"http": probe_returning(Outcome.SUCCESS)},
                        got.append, self_check=SelfCheck(no_network))
    assert (await ok.run_once("a")).outcome is Outcome.SUCCESS  # only failures are re-judged


async def test_waiting_too_long_for_a_slot_is_overload_not_latency() -> None:
    got: list[ProbeResult] = []
    s = ProbeScheduler([target("slow"), target("b")], "sh",
                       {"http": probe_returning(Outcome.SUCCESS, 0.4)}, got.append,
                       max_concurrency=1, misfire_grace=timedelta(milliseconds=100))
    first, second = await asyncio.gather(s.run_once("slow"), s.run_once("b"))
    assert first.outcome is Outcome.SUCCESS
    assert second.outcome is Outcome.UNKNOWN and second.error is not None
    assert second.error.cls is ErrorClass.OVERLOADED


async def test_runs_land_on_their_slots_and_skipped_runs_are_recorded() -> None:
    got: list[ProbeResult] = []
    probes = {"http": probe_returning(Outcome.SUCCESS), "upload": probe_returning(
        Outcome.SUCCESS, 2.3)}
    slow = SimpleNamespace(name="slow", service="core", kind="upload",
                           interval=timedelta(seconds=1))
    s = ProbeScheduler([target("fast"), slow], "sh", probes, got.append)
    s.start()
    await asyncio.sleep(3.5)
    s.shutdown()
    fast = [r for r in got if r.target == "fast"]
    assert len(fast) >= 3
    offset = slot_offset_ms("fast", 1000)
    for r in fast:  # stable per-target offset inside the interval
        assert (r.ts_ms - offset) % 1000 < 60 or (r.ts_ms - offset) % 1000 > 990
    missed = [r for r in got if r.target == "slow" and r.outcome is Outcome.UNKNOWN]
    assert missed, "a run skipped because the previous one still ran must be recorded"
    assert all(r.error is not None and r.error.cls is ErrorClass.MISSED for r in missed)
