"""slaguard's own dead man's switch: call ``heartbeat.url`` every ``heartbeat.every``
while slaguard is healthy, and stop calling while it is not.

An external service (a healthchecks.io-style check, Uptime Kuma's push monitor, a
second slaguard) expects the call and pages when it stops coming: a dead process,
a hung event loop, a record that cannot commit, an evaluation that keeps failing
or probes that no longer arrive all look the same from outside, and all page.

``health()`` says why slaguard is not healthy (None: healthy); it must be cheap,
it runs on the event loop.  The request is a plain GET with ``timeout``, in its
own task: a slow receiver delays the next beat, never a probe (probes run in
worker processes, or beside this task on the same loop without waiting for it).
A failed request is logged (once an episode) and tried again at the next beat:
the receiver's grace period, not ours, decides when silence pages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

log = logging.getLogger(__name__)

Health = Callable[[], str | None]
# (healthy?, the request's outcome "ok"/"failed", or None when none was made)
OnBeat = Callable[[bool, str | None], None]


class Heartbeat:
    def __init__(self, url: str, every_s: float, timeout_s: float, health: Health, *,
                 on_beat: OnBeat | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.url = url
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.health = health
        self.on_beat = on_beat
        self.session = session
        self._own_session = False
        self._task: asyncio.Task[None] | None = None
        self.stopped_for: str | None = None  # why beats are withheld now
        self.failing: str | None = None  # why the last request failed
        self.sent = 0

    async def beat(self) -> bool:
        """One round: call the URL if healthy; True when the call was made and answered 2xx."""
        reason = self.health()
        if reason is not None:
            if self.stopped_for is None:
                log.error("heartbeat stopped: %s (the receiver at heartbeat.url will page "
                          "when it notices)", reason)
            self.stopped_for = reason
            self._told(False, None)
            return False
        if self.stopped_for is not None:
            log.info("heartbeat resumes: slaguard is healthy again")
            self.stopped_for = None
        ok = await self._call()
        self._told(True, "ok" if ok else "failed")
        return ok

    async def _call(self) -> bool:
        assert self.session is not None
        error = None
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with self.session.get(self.url, timeout=timeout) as resp:
                await resp.read()
                if resp.status >= 300:
                    error = f"HTTP {resp.status} {resp.reason or ''}".strip()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            # aiohttp's messages name host and port at most; the path (the check's
            # credential, as in hc-ping.com/<uuid>) stays out of the log.
            error = type(e).__name__ if isinstance(e, aiohttp.ClientResponseError) \
                else f"{type(e).__name__}: {e}"
        if error is not None:
            if self.failing is None:
                log.warning("heartbeat request failed (%s); trying again every %g s",
                            error, self.every_s)
            self.failing = error
            return False
        if self.failing is not None:
            log.info("heartbeat requests succeed again")
            self.failing = None
        self.sent += 1
        return True

    def _told(self, healthy: bool, outcome: str | None) -> None:
        if self.on_beat is not None:
            self.on_beat(healthy, outcome)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.beat()
            except Exception:  # a bug here must not end the switch silently
                log.exception("heartbeat round failed")
            await asyncio.sleep(max(self.every_s - (loop.time() - started), 0.0))

    async def start(self) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession()
            self._own_session = True
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._own_session and self.session is not None:
            await self.session.close()
            self.session = None
            self._own_session = False
