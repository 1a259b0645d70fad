"""One Chromium per probe worker process, shared by its browser checks.

Launching Chromium costs ~0.5 s and ~100 MB; a context costs milliseconds.  So a
process keeps one browser (Uptime Kuma's design) and gives each check a fresh
context of its own (probes.browser), but unlike Uptime Kuma it also:

* bounds the checks running at once (``concurrency``; the smallest a target asks
  for wins), so a burst of slow pages cannot take the host's memory;
* relaunches the browser after ``relaunch_after`` checks (memory creep in long
  lived renderers) and when it disconnects (crashed or killed): the old browser
  serves the checks already on it and is closed when the last one ends, so a
  relaunch never cuts a check short;
* is closed by its owner (``close_browser(ctx)``), so no Chromium outlives the
  worker.

The pool lives in ``ctx.options["browser_pool"]`` (created on first use, like the
cold client of probes._common).  ``slaguard.app`` may put one pool in the options
of every location: a worker process then unpickles one pool shared by all its
locations (pickle keeps shared references), which is "one browser per process".
A pool pickles as its settings only: a Playwright connection never crosses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from probes.base import ProbeContext

log = logging.getLogger(__name__)

POOL = "browser_pool"  # ctx.options key
# Quiet and offline: no network of its own, no first-run work; /dev/shm is small in
# containers.  Playwright gives every launch a fresh temporary profile.
LAUNCH_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
LAUNCH_TIMEOUT_MS = 30_000
CLOSE_TIMEOUT_S = 10.0


class BrowserUnavailable(RuntimeError):
    """Chromium could not be launched: the probe's fault, never the target's."""


def find_chromium() -> str | None:
    """Debian's ``chromium`` (or another distribution's name); None: Playwright's own."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass(eq=False)
class _Generation:
    """One launched browser and the checks it served."""

    browser: Any
    checks: int = 0
    active: int = 0
    retired: bool = False  # takes no new checks; closed once ``active`` is 0
    closing: asyncio.Task[None] | None = None


class _Limiter:
    """A semaphore whose limit can shrink while held (the smallest target's wins)."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.held = 0
        self.peak = 0  # the most checks ever held at once
        self._cond = asyncio.Condition()

    @asynccontextmanager
    async def slot(self, limit: int) -> AsyncIterator[None]:
        async with self._cond:
            self.limit = limit if self.limit is None else min(self.limit, limit)
            await self._cond.wait_for(lambda: self.held < (self.limit or 1))
            self.held += 1
            self.peak = max(self.peak, self.held)
        try:
            yield
        finally:
            async with self._cond:
                self.held -= 1
                self._cond.notify_all()


@dataclass(eq=False)
class BrowserPool:
    """The process's Chromium (see the module's docstring).  Bound to the event loop
    it was first used in."""

    executable: str | None = None
    args: Sequence[str] = LAUNCH_ARGS
    launches: int = 0  # how many browsers this pool started (tests, the bench)
    _pw: Any = field(default=None, repr=False)
    _pw_manager: Any = field(default=None, repr=False)
    _current: _Generation | None = field(default=None, repr=False)
    _old: set[_Generation] = field(default_factory=set, repr=False)
    _launching: asyncio.Lock | None = field(default=None, repr=False)
    _limiter: _Limiter | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    @property
    def peak_concurrency(self) -> int:
        return self._limiter.peak if self._limiter is not None else 0

    def __reduce__(self) -> tuple[Any, ...]:
        return BrowserPool, (self.executable, tuple(self.args))

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new loop (a test, a CLI run)
            self._loop, self._pw, self._current, self._old = loop, None, None, set()
            self._launching, self._limiter = asyncio.Lock(), _Limiter()

    @asynccontextmanager
    async def lease(self, concurrency: int, relaunch_after: int) -> AsyncIterator[Any]:
        """A connected browser for one check, within the concurrency bound."""
        self._bind()
        assert self._limiter is not None
        async with self._limiter.slot(concurrency):
            gen = await self._generation()
            gen.checks += 1
            gen.active += 1
            if gen.checks >= relaunch_after:
                self._retire(gen)  # the next check launches a new one
            try:
                yield gen.browser
            finally:
                gen.active -= 1
                self._close_if_done(gen)

    async def warm(self) -> None:
        """Launch the browser now (the warm-up), so no check's clock pays for it."""
        self._bind()
        await self._generation()

    async def _generation(self) -> _Generation:
        assert self._launching is not None
        async with self._launching:
            gen = self._current
            if gen is None or gen.retired or not gen.browser.is_connected():
                if gen is not None:
                    self._retire(gen)
                gen = self._current = _Generation(await self._launch())
            return gen

    async def _launch(self) -> Any:
        try:
            if self._pw is None:
                from playwright.async_api import async_playwright

                self._pw_manager = async_playwright()
                self._pw = await self._pw_manager.start()
            browser = await self._pw.chromium.launch(
                executable_path=self.executable or find_chromium(), args=list(self.args),
                timeout=LAUNCH_TIMEOUT_MS, handle_sigint=False, handle_sigterm=False,
                handle_sighup=False)
        except Exception as exc:  # no binary, no driver, no memory: the probe's fault
            raise BrowserUnavailable(f"cannot launch Chromium: {exc}".splitlines()[0]) from exc
        self.launches += 1
        browser.on("disconnected", lambda _b: self._on_disconnected(browser))
        return browser

    def _on_disconnected(self, browser: Any) -> None:
        gen = self._current
        if gen is not None and gen.browser is browser:
            log.warning("Chromium disconnected (crashed or killed); the next check relaunches it")
            gen.retired = True

    def _retire(self, gen: _Generation) -> None:
        gen.retired = True
        if self._current is gen:
            self._current = None
        self._old.add(gen)
        self._close_if_done(gen)

    def _close_if_done(self, gen: _Generation) -> None:
        if gen.retired and gen.active == 0 and gen.closing is None:
            gen.closing = asyncio.ensure_future(self._close_generation(gen))

    async def _close_generation(self, gen: _Generation) -> None:
        with contextlib.suppress(Exception):  # already gone: nothing to close
            await asyncio.wait_for(gen.browser.close(), CLOSE_TIMEOUT_S)
        self._old.discard(gen)

    async def close(self) -> None:
        """Close every browser and the Playwright driver (in the loop they run in)."""
        if self._loop is not asyncio.get_running_loop():
            return
        gens = [g for g in (self._current, *self._old) if g is not None]
        self._current = None
        for gen in gens:
            gen.retired = True
            if gen.closing is None:
                gen.closing = asyncio.ensure_future(self._close_generation(gen))
        await asyncio.gather(*(g.closing for g in gens if g.closing is not None),
                             return_exceptions=True)
        self._old.clear()
        if self._pw_manager is not None:
            with contextlib.suppress(Exception):
                await self._pw_manager.__aexit__(None, None, None)
        self._pw = self._pw_manager = None
        self._loop = None


def pool_of(ctx: ProbeContext) -> BrowserPool:
    """The context's browser pool, created on first use."""
    pool: BrowserPool | None = ctx.options.get(POOL)
    if pool is None:
        pool = ctx.options[POOL] = BrowserPool(executable=ctx.options.get("chromium"))
    return pool


async def close_browser(ctx: ProbeContext) -> None:
    """Close the context's browser, if it has one (at shutdown; idempotent)."""
    pool: BrowserPool | None = ctx.options.get(POOL)
    if pool is not None:
        await pool.close()
