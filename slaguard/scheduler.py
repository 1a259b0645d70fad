"""Probe scheduling on APScheduler 3 (asyncio).

* Each target runs on its interval at a stable offset inside the interval
  (a hash of its name), aligned to the epoch, so restarts keep the same slots
  and every location probes a target at the same instants (quorum compares
  like with like) while different targets spread over the interval.
* ``max_instances=1`` and coalescing: a slow probe never overlaps itself.
* A run APScheduler had to skip (missed past the grace time, or the previous
  run still going) is recorded as an ``unknown`` result: a probe-side gap,
  never downtime.
* A semaphore bounds the probes in flight so timing stays honest; a probe that
  waited too long for a slot is ``unknown`` (overloaded), not a slow target.
* Before its first probe, a scheduler warms its probe context up
  (``probes.warm_up``: SSL contexts, first-use imports, the resolver, a
  rehearsal against a loopback server of its own), so no probe's clock
  includes the process's one-time set-up; the schedule starts once that is done.
* Each scheduled probe tells a ``ProbeObserver`` how late it started against its
  slot (after waiting for a probe slot: that wait is lateness too), and each
  skipped run why (``missed``, ``overrun``, ``overloaded``): slaguard's own
  metrics (``exporters.self_metrics``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from probes import WarmUp
from probes import warm_up as probes_warm_up
from probes.base import ProbeContext, ProbeFn, wall_ms
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.units import to_ms

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_offset_ms(name: str, interval_ms: int) -> int:
    """Stable offset of a target inside its interval (same on every host)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % interval_ms


class ProbeObserver(Protocol):
    """Told how probing goes; ``worker`` names the process (``main`` or its index)."""

    def probe_started(self, location: str, worker: str, lateness_s: float) -> None: ...

    def probe_skipped(self, location: str, worker: str, reason: str) -> None: ...


def slot_ms(now_ms: int, offset_ms: int, interval_ms: int) -> int:
    """The latest slot of a target at or before ``now_ms`` (slots: epoch + offset + k·interval)."""
    return now_ms - (now_ms - offset_ms) % interval_ms


def unknown_result(target: Any, location: str, ts_ms: int, cls: ErrorClass,
                   message: str) -> ProbeResult:
    return ProbeResult(ts_ms=ts_ms, target=target.name, service=target.service,
                       location=location, kind=target.kind, outcome=Outcome.UNKNOWN,
                       duration_ms=0, error=ProbeError(cls, message))


class SelfCheck:
    """The location's own network check, cached briefly.

    Run only after a failure: when the location cannot reach its own check
    URL, the failure says nothing about the target and becomes ``unknown``.
    """

    def __init__(self, check: Callable[[], Any] | None, ttl_s: float = 5.0):
        self.check, self.ttl_s = check, ttl_s
        self._at, self._ok = 0.0, True
        self._lock = asyncio.Lock()

    async def ok(self) -> bool:
        if self.check is None:
            return True
        async with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                was = self._ok
                try:
                    self._ok = bool(await self.check())
                except Exception:
                    self._ok = False
                self._at = time.monotonic()
                if was != self._ok:  # loud: while it fails, no outage can be seen
                    log.warning("location self-check %s: failures are recorded as %s",
                                "FAILED" if not self._ok else "recovered",
                                "unknown" if not self._ok else "failures again")
            return self._ok


class ProbeScheduler:
    def __init__(self, targets: Sequence[Any], location: str, probes: Mapping[str, ProbeFn],
                 submit: Callable[[ProbeResult], None], *, max_concurrency: int = 32,
                 misfire_grace: timedelta = timedelta(seconds=5),
                 self_check: SelfCheck | None = None, ctx: ProbeContext | None = None,
                 warm_up: WarmUp | None = probes_warm_up,
                 observer: ProbeObserver | None = None, worker: str = "main"):
        self.targets = {t.name: t for t in targets}
        self.location = location
        self.probes = probes
        self.submit = submit
        self.grace = misfire_grace
        self.ctx = ctx or ProbeContext(location=location)
        self.self_check = self_check or SelfCheck(None)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._warm_up = warm_up  # None: no warm-up (a test's stand-in probes)
        self._warmed: asyncio.Future[None] | None = None
        self._starting: asyncio.Task[None] | None = None
        self._stopping = False
        self.observer = observer
        self.worker = worker

    async def warm_up(self) -> None:
        """The probe context's warm-up, run once (later calls wait for it or
        return at once); never raises.  Workers call it before they say they are
        ready; otherwise ``start`` and the first probe do."""
        if self._warmed is None:
            self._warmed = asyncio.ensure_future(self._run_warm_up())
        # Shielded: a caller that is cancelled leaves it running for the others.
        await asyncio.shield(self._warmed)

    async def _run_warm_up(self) -> None:
        if self._warm_up is None:
            return
        started = time.perf_counter_ns()
        try:
            await self._warm_up(list(self.targets.values()), self.ctx)
        except Exception:  # it saves the first probe some ms; it must not stop probing
            log.exception("probe warm-up for %s failed", self.location)
        log.debug("probe warm-up for %s: %.1f ms", self.location,
                  (time.perf_counter_ns() - started) / 1e6)

    def start(self) -> None:
        """Schedule every target, once the warm-up is done (at once if it is)."""
        if self._warmed is not None and self._warmed.done():
            self._schedule()
        else:
            self._starting = asyncio.ensure_future(self._start_when_warm())

    async def _start_when_warm(self) -> None:
        await self.warm_up()
        self._schedule()

    def _schedule(self) -> None:
        for t in self.targets.values():
            interval_ms = to_ms(t.interval)
            start = EPOCH + timedelta(milliseconds=slot_offset_ms(t.name, interval_ms))
            self._scheduler.add_job(
                self._scheduled, IntervalTrigger(seconds=interval_ms / 1000, start_date=start),
                args=[t.name], id=t.name, name=t.name, max_instances=1, coalesce=True,
                misfire_grace_time=max(1, int(self.grace.total_seconds())),
            )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._starting is not None:
            self._starting.cancel()  # not scheduled yet: it never will be
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def next_runs(self) -> dict[str, datetime]:
        return {j.id: j.next_run_time for j in self._scheduler.get_jobs()}

    async def _scheduled(self, name: str) -> None:
        """The scheduled job: a probe cut short because this process stops is neither a
        result nor an error (apscheduler would log it with a traceback)."""
        t = self.targets[name]
        interval_ms = to_ms(t.interval)
        slot = slot_ms(wall_ms(), slot_offset_ms(name, interval_ms), interval_ms)
        try:
            self.submit(await self.probe_now(name, scheduled_ms=slot))
        except asyncio.CancelledError:
            if not self._stopping:
                raise

    async def run_once(self, name: str) -> ProbeResult:
        """Run one probe of ``name`` now and submit its result."""
        result = await self.probe_now(name)
        self.submit(result)
        return result

    async def probe_now(self, name: str, scheduled_ms: int | None = None) -> ProbeResult:
        """One probe of ``name`` behind the concurrency limit; the caller submits it.
        ``scheduled_ms``: the slot it was scheduled for (its start's lateness is told)."""
        t = self.targets[name]
        if self._warmed is None or not self._warmed.done():
            await self.warm_up()  # before the probe is even queued: it is no probe's time
        queued_ms = self.ctx.now_ms()
        async with self._slots:
            waited_ms = self.ctx.now_ms() - queued_ms
            if waited_ms > to_ms(self.grace):
                result = unknown_result(t, self.location, queued_ms, ErrorClass.OVERLOADED,
                                        f"waited {waited_ms} ms for a probe slot")
                self._skipped("overloaded")
            else:
                if scheduled_ms is not None and self.observer is not None:
                    self.observer.probe_started(self.location, self.worker,
                                                (wall_ms() - scheduled_ms) / 1000)
                result = await self._probe(t)
        return result

    async def _probe(self, t: Any) -> ProbeResult:
        try:
            result = await self.probes[t.kind](t, self.ctx)
        except Exception as e:  # a bug in a probe must not look like an outage
            log.exception("probe %s raised", t.name)
            return unknown_result(t, self.location, self.ctx.now_ms(), ErrorClass.PROBE_ERROR,
                                  f"{type(e).__name__}: {e}")
        if result.outcome is Outcome.FAILURE and not await self.self_check.ok():
            err = result.error.message if result.error else ""
            return result.with_(outcome=Outcome.UNKNOWN, error=ProbeError(
                ErrorClass.SELF_CHECK, f"location self-check failed; probe said: {err}"))
        return result

    def _on_skipped(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        t = self.targets.get(event.job_id)
        if t is None:
            return
        if isinstance(event, JobSubmissionEvent):  # max instances: the previous run goes on
            times, reason = event.scheduled_run_times, "previous run still in progress"
            kind = "overrun"
        else:
            times, reason = [event.scheduled_run_time], "run missed (scheduler late)"
            kind = "missed"
        for ts in times:
            self._skipped(kind)
            ts_ms = round(ts.timestamp() * 1000)
            self.submit(unknown_result(t, self.location, ts_ms, ErrorClass.MISSED, reason))

    def _skipped(self, reason: str) -> None:
        if self.observer is not None:
            self.observer.probe_skipped(self.location, self.worker, reason)
