"""The capacity job inside ``slaguard run``: scheduled runs on their cron, on-demand
runs from the API, one at a time (the runner's lock), each in a thread so the event
loop never waits on Locust.

``app.py`` builds one :class:`CapacityScheduler`, calls :meth:`start` with the rest
and :meth:`stop` on the way out (a run in progress is stopped and recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from capacity.runner import ActiveRun, CapacityRunner

log = logging.getLogger(__name__)


def next_start(cron: str, tz: str, after: datetime) -> datetime | None:
    """The first start of ``cron`` (in ``tz``) strictly after ``after``."""
    trigger = CronTrigger.from_crontab(cron, timezone=ZoneInfo(tz))
    fire = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    return None if fire is None else fire


def due(jobs: list[tuple[str, str]], tz: str, after: datetime) -> tuple[datetime, str] | None:
    """The next (start, job) among ``(name, cron)`` pairs."""
    starts = [(s, name) for name, cron in jobs if (s := next_start(cron, tz, after)) is not None]
    return min(starts) if starts else None


@dataclass
class CapacityScheduler:
    runner: CapacityRunner
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._loop is None and self._scheduled():
            self._loop = asyncio.create_task(self._schedule_forever(), name="capacity-schedule")

    async def stop(self) -> None:
        """Stop scheduling; a run in progress is stopped and recorded (aborted)."""
        self.runner.stop.set()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _scheduled(self) -> list[tuple[str, str]]:
        return [(j.name, j.schedule) for j in self.runner.settings.capacity.jobs
                if j.schedule is not None]

    async def _schedule_forever(self) -> None:
        tz = self.runner.settings.timezone
        while True:
            nxt = due(self._scheduled(), tz, self.now())
            if nxt is None:
                return
            at, name = nxt
            await asyncio.sleep(max(0.0, (at - self.now()).total_seconds()))
            try:
                await self.run_now(name, "schedule")
            except Exception as e:  # busy, kill switch: logged, the next start comes
                log.warning("capacity job %s (scheduled %s) did not start: %s", name,
                            at.isoformat(), e)

    async def run_now(self, name: str, started_by: str) -> str:
        """Start ``name`` in the background; its run id once Locust is started.
        CapacityBusy or CapacityRefused when it cannot start."""
        active = await asyncio.to_thread(self.runner.start, name, started_by)
        task = asyncio.create_task(self._see_through(active), name=f"capacity-{active.run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return active.run_id

    async def _see_through(self, active: ActiveRun) -> None:
        try:
            doc = await asyncio.to_thread(active.wait)
            log.info("capacity %s (%s): %s", active.run_id, doc["job"], doc["verdict"])
        except Exception:
            log.exception("capacity %s failed", active.run_id)
