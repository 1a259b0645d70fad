"""From probe to record to sinks.

Results queue up, a single writer commits them in batches (one transaction per
batch, gathered for at most ``linger_s``, in a worker thread so the event loop
keeps its timing), and only then hands the batch to the sinks (live state,
InfluxDB).  A sink therefore never sees a result the record does not have.

The writer never gives up.  A batch the record cannot take (a full disk, an I/O
error) is retried with exponential backoff (1 s doubling to 30 s) until it
commits; meanwhile results wait in memory up to ``buffer_results``, beyond that
in fsynced segments in ``spill_dir`` (best on another disk; replayed oldest
first on recovery and at start).  What fits neither is dropped, counted, logged
once per episode, and recorded as a gap: an ``unknown`` result at the first and
the last dropped instant of each series, so that time is never counted as up.
A result the record refuses as such (bad data, not a bad disk) is logged and
left out alone, so it cannot wedge the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.errors import StoreError
from slaguard.store import SQLiteStore
from slaguard.store.spill import Spill

log = logging.getLogger(__name__)

# Errors that are the result's fault, not the disk's: retrying cannot help.
DATA_ERRORS = (StoreError, ValueError, TypeError, OverflowError, sqlite3.IntegrityError)
# How often the writer looks at its buffer while it waits to retry.
RELIEVE_EVERY_S = 0.25


class Sink(Protocol):
    def observe(self, results: list[ProbeResult]) -> None: ...


class ResultPipeline:
    def __init__(self, store: SQLiteStore, intervals: dict[str, int],
                 sinks: Sequence[Sink] = (), max_batch: int = 1000, linger_s: float = 0.1,
                 buffer_results: int = 50_000, spill_dir: str | None = None,
                 backoff_s: tuple[float, float] = (1.0, 30.0),
                 clock: Callable[[], float] = time.monotonic,
                 on_commit: Callable[[float, bool], None] | None = None):
        self.store = store
        self.intervals = intervals
        self.sinks = list(sinks)
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.buffer_results = buffer_results
        self.backoff_s = backoff_s
        self.clock = clock
        # Told (seconds, committed?) after each commit attempt: slaguard's own metrics.
        self.on_commit = on_commit
        # When results last arrived (clock): the heartbeat stops when probing does.
        self.last_submit: float | None = None
        # Lists of results, as they arrive: one per probe in this process, one per
        # frame from a probe worker (no queue operation per result).
        self._queue: asyncio.Queue[list[ProbeResult]] = asyncio.Queue()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._spiller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-spill")
        self._spilling = 0  # on their way from memory to the spill directory
        self._task: asyncio.Task[None] | None = None
        self.spill = Spill(spill_dir) if spill_dir else None
        self.committed = 0
        self.in_memory = 0  # submitted, held here (queued or being committed)
        self.dropped = 0  # past both bounds, recorded as gaps
        self.rejected = 0  # refused by the record as bad data
        self._progress = asyncio.Event()
        # While the record cannot commit: since when (clock) and why.
        self.failing_since: float | None = None
        self.last_error = ""
        self._episode_dropped = 0
        self._gaps: dict[tuple[str, str], _Gap] = {}
        # The batch being committed, when it came from memory (not from a spill segment).
        self._current: list[ProbeResult] = []
        self._relief: asyncio.Task[None] | None = None  # a _relieve() under way

    @property
    def pending(self) -> int:
        """Results not yet committed: in memory and in the spill directory."""
        return self.in_memory + self._spilling + (self.spill.count if self.spill else 0)

    def trouble(self) -> str | None:
        """Why /healthz is degraded, or None while results commit."""
        if self.failing_since is None:
            return None
        reason = (f"store: cannot commit for {int(self.clock() - self.failing_since)} s: "
                  f"{self.last_error}; {self.pending} results waiting")
        if self._episode_dropped:
            reason += f"; {self._episode_dropped} dropped (recorded as gaps)"
        return reason

    def submit(self, result: ProbeResult) -> None:
        self.submit_many([result])

    def submit_many(self, results: list[ProbeResult]) -> None:
        if not results:
            return
        self.last_submit = self.clock()
        # What exceeds the buffer moves to the spill directory (in the writer thread);
        # this hard cap holds only while that thread is busy with a commit.
        limit = self.buffer_results if self.spill is None else 2 * self.buffer_results
        if self.in_memory + len(results) > limit:
            self._drop(results)
            return
        self.in_memory += len(results)
        self._queue.put_nowait(results)
        if self.spill is not None and self.in_memory > self.buffer_results \
                and self._relief is None and self._task is not None:
            self._relief = asyncio.get_running_loop().create_task(self._relieve())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="result-writer")

    async def _run(self) -> None:
        while True:
            if self.spill is not None and self.spill.segments:
                # Spilled results are older than anything still queued: first.
                await self._replay()
                continue
            parts = await self._gather()
            batch = self._current = [r for part in parts for r in part]
            await self._commit(batch)
            self._current = []
            self.in_memory -= len(batch)
            self._progress.set()

    async def _gather(self) -> list[list[ProbeResult]]:
        loop = asyncio.get_running_loop()
        parts = [await self._queue.get()]
        size = len(parts[0])
        # Linger a moment so one transaction carries many results: its cost
        # is mostly per series touched, not per row (30 results over 32
        # series cost ~40 µs each, 300 of them ~14 µs).
        deadline = loop.time() + self.linger_s
        while size < self.max_batch:
            if self._queue.empty():
                try:
                    part = await asyncio.wait_for(self._queue.get(), deadline - loop.time())
                except TimeoutError:
                    break
            else:
                part = self._queue.get_nowait()
            parts.append(part)
            size += len(part)
        return parts

    async def _replay(self) -> None:
        assert self.spill is not None
        loop = asyncio.get_running_loop()
        try:
            path, batch = await loop.run_in_executor(self._writer, self.spill.oldest)
        except OSError as e:
            self._failing(f"cannot read the spill directory: {e}", 0)
            await self._wait(self.backoff_s[1])
            return
        log.info("committing %d spilled results from %s", len(batch), path)
        await self._commit(batch)
        await loop.run_in_executor(self._writer, self.spill.remove, path)
        self._progress.set()

    async def _commit(self, batch: list[ProbeResult]) -> None:
        """Commit ``batch`` (retrying until it does), then hand it to the sinks."""
        loop = asyncio.get_running_loop()
        delay = self.backoff_s[0]
        while True:
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._writer, self.store.add, batch, self.intervals)
                self._told(started, True)
                break
            except DATA_ERRORS:
                # One bad result must not hold the others: add them one at a time.
                try:
                    batch = await loop.run_in_executor(self._writer, self._add_each, batch)
                    self._told(started, True)
                    break
                except Exception as e:
                    self._told(started, False)
                    self._failing(_describe(e), len(batch))
            except Exception as e:
                self._told(started, False)
                self._failing(_describe(e), len(batch))
            await self._wait(delay)
            delay = min(delay * 2, self.backoff_s[1])
        self._recovered()
        self.committed += len(batch)
        for sink in self.sinks:
            try:
                sink.observe(batch)
            except Exception:
                log.exception("sink %r failed", sink)

    def _told(self, started: float, ok: bool) -> None:
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started, ok)

    def _add_each(self, batch: list[ProbeResult]) -> list[ProbeResult]:
        """Add results one by one (writer thread); those refused as bad data are left out."""
        good = []
        for r in batch:
            try:
                self.store.add([r], self.intervals)
            except DATA_ERRORS as e:
                self.rejected += 1
                log.error("the record refuses a result, left out: %s (%s)", e, r)
                continue
            good.append(r)
        return good

    def _failing(self, error: str, size: int) -> None:
        self.last_error = error
        if self.failing_since is None:
            self.failing_since = self.clock()
            log.warning("cannot commit %d results (%s); holding them and retrying "
                        "(backoff up to %g s)", size, error, self.backoff_s[1])
        else:
            log.debug("still cannot commit %d results (%s)", size, error)
        self._progress.set()  # flush() returns while the record is out of reach

    def _recovered(self) -> None:
        if self.failing_since is not None:
            log.info("the record commits again after %d s; %d results waiting are being "
                     "committed", int(self.clock() - self.failing_since), self.pending)
            self.failing_since = None
        if self._gaps:
            self._record_gaps()

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, keeping the memory buffer within its bound meanwhile."""
        end = self.clock() + seconds
        while (left := end - self.clock()) > 0:
            await asyncio.sleep(min(left, RELIEVE_EVERY_S))
            await self._relieve()

    async def _relieve(self) -> None:
        """Move the oldest queued results beyond the buffer to the spill directory, or
        drop them when it cannot take them."""
        if self._relief is not None and self._relief is not asyncio.current_task():
            return  # one at a time
        try:
            await self._move_excess()
        finally:
            if self._relief is asyncio.current_task():
                self._relief = None

    async def _move_excess(self) -> None:
        # Results keep arriving while a segment is written: until within the bound.
        while (excess := self.in_memory - self.buffer_results) > 0 and not self._queue.empty():
            parts: list[list[ProbeResult]] = []
            while excess > 0 and not self._queue.empty():
                part = self._queue.get_nowait()
                parts.append(part)
                excess -= len(part)
            batch = [r for part in parts for r in part]
            self.in_memory -= len(batch)
            self._spilling += len(batch)
            try:
                kept = await self._spill_out(batch)
            finally:
                self._spilling -= len(batch)
            if not kept:
                self._drop(batch)

    async def _spill_out(self, batch: list[ProbeResult]) -> bool:
        if self.spill is None:
            return False
        try:
            # Its own thread: a commit that hangs (a locked record) must not hold it up.
            await asyncio.get_running_loop().run_in_executor(
                self._spiller, self.spill.write, batch)
            return True
        except OSError as e:
            log.debug("cannot spill %d results to %s: %s", len(batch), self.spill.dir, e)
            if not self._episode_dropped:
                log.error("cannot spill to %s either: %s", self.spill.dir, e)
            return False

    def _drop(self, results: list[ProbeResult]) -> None:
        if not self._episode_dropped:
            where = f"and {self.spill.dir} cannot take more" if self.spill else \
                "and no storage.spill_dir is set"
            log.error("dropping results: the record cannot commit, %d are held in memory "
                      "(storage.buffer_results) %s; the time they cover is recorded as a gap",
                      self.in_memory, where)
        self.dropped += len(results)
        self._episode_dropped += len(results)
        for r in results:
            g = self._gaps.get((r.target, r.location))
            if g is None:
                self._gaps[(r.target, r.location)] = _Gap(r, r.ts_ms, r.ts_ms, 1)
            else:
                g.first, g.last, g.count = min(g.first, r.ts_ms), max(g.last, r.ts_ms), g.count + 1
        self._progress.set()

    def _record_gaps(self) -> None:
        """Queue an ``unknown`` result at the first and last dropped instant of each series:
        the timeline then counts that span as unknown, never as up (not past the bound)."""
        markers: list[ProbeResult] = []
        for g in self._gaps.values():
            error = ProbeError(ErrorClass.MISSED, f"not recorded: {g.count} results dropped "
                               "while the record could not commit and its buffer was full")
            r = g.example
            markers.extend(ProbeResult(
                ts_ms=ts, target=r.target, service=r.service, location=r.location, kind=r.kind,
                outcome=Outcome.UNKNOWN, duration_ms=0, error=error)
                for ts in sorted({g.first, g.last}))
        log.warning("the record commits again; %d results were dropped in all, their "
                    "time is recorded as a gap", self._episode_dropped)
        self._gaps.clear()
        self._episode_dropped = 0
        self.in_memory += len(markers)
        self._queue.put_nowait(markers)

    async def flush(self) -> None:
        """Wait until every submitted result is committed and observed, or the record
        cannot commit (then return: the caller works with what the record has)."""
        while self.pending and self.failing_since is None:
            self._progress.clear()
            await self._progress.wait()

    async def stop(self, timeout_s: float = 60.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush_all(), timeout_s)
        for task in (self._task, self._relief):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.in_memory:
            rest = list(self._current)
            while not self._queue.empty():
                rest.extend(self._queue.get_nowait())
            await asyncio.get_running_loop().run_in_executor(
                self._spiller, self._keep_the_rest, rest)
        self._writer.shutdown(wait=True)
        self._spiller.shutdown(wait=True)

    async def _flush_all(self) -> None:
        # While the record is out of reach, the spill directory keeps the rest at once.
        while self.pending and (self.failing_since is None or self.spill is None):
            self._progress.clear()
            await self._progress.wait()

    def _keep_the_rest(self, rest: list[ProbeResult]) -> None:
        """At stop (writer thread), what is still in memory goes to the spill directory
        for the next start."""
        if self.spill is not None:
            try:
                self.spill.write(rest)
                log.warning("stopping with %d results not committed; kept in %s for the "
                            "next start", len(rest), self.spill.dir)
                return
            except OSError as e:
                log.error("cannot spill %d results to %s: %s", len(rest), self.spill.dir, e)
        log.error("stopping with %d results not committed; they are lost (set "
                  "storage.spill_dir to keep them)", len(rest))


@dataclass(slots=True)
class _Gap:
    """The dropped results of one series: one of them, and their span and count."""

    example: ProbeResult
    first: int
    last: int
    count: int


def _describe(e: BaseException) -> str:
    return str(e) or type(e).__name__
