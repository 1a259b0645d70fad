"""From probe to record to sinks.

Results queue up, a single writer commits them in batches (one transaction per
batch, gathered for at most ``linger_s``, in a worker thread so the event loop
keeps its timing), and only then
hands the batch to the sinks (live state, InfluxDB).  A sink therefore never
sees a result the record does not have.  A batch that cannot be committed is
retried; if it still fails it is set aside in ``<store>.unsaved.jsonl``, in the
interchange format, for ``import-results`` to take back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from slaguard.domain import ProbeResult, to_json_line
from slaguard.store import SQLiteStore

log = logging.getLogger(__name__)


class Sink(Protocol):
    def observe(self, results: list[ProbeResult]) -> None: ...


class ResultPipeline:
    def __init__(self, store: SQLiteStore, intervals: dict[str, int],
                 sinks: Sequence[Sink] = (), max_batch: int = 1000, max_retries: int = 30,
                 linger_s: float = 0.1):
        self.store = store
        self.intervals = intervals
        self.sinks = list(sinks)
        self.max_batch = max_batch
        self.linger_s = linger_s
        # Lists of results, as they arrive: one per probe in this process, one per
        # frame from a probe worker (no queue operation per result).
        self._queue: asyncio.Queue[list[ProbeResult]] = asyncio.Queue()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self.max_retries = max_retries
        self.unsaved_path = f"{store.path}.unsaved.jsonl"
        self.committed = 0
        self.pending = 0  # submitted, not yet committed (or set aside) and observed
        self.set_aside = 0

    def _set_aside(self, batch: list[ProbeResult]) -> None:
        with open(self.unsaved_path, "a", encoding="utf-8") as f:
            f.writelines(to_json_line(r) + "\n" for r in batch)
        self.set_aside += len(batch)

    def submit(self, result: ProbeResult) -> None:
        self.submit_many([result])

    def submit_many(self, results: list[ProbeResult]) -> None:
        if results:
            self.pending += len(results)
            self._queue.put_nowait(results)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="result-writer")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
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
            await self._commit(parts)

    async def _commit(self, parts: list[list[ProbeResult]]) -> None:
        loop = asyncio.get_running_loop()
        batch = [r for part in parts for r in part]
        try:
            await loop.run_in_executor(self._writer, self.store.add, batch, self.intervals)
            self._failures = 0
        except Exception as e:
            self._failures += 1
            if self._failures < self.max_retries:
                # Keep the batch: it goes back to the queue and is retried with
                # the next one; a result is not dropped because the disk hiccuped.
                log.warning("cannot commit %d results (%s); retry %d of %d", len(batch), e,
                            self._failures, self.max_retries)
                for part in parts:
                    self._queue.put_nowait(part)
                    self._queue.task_done()
                await asyncio.sleep(1)
                return
            # Still failing: set the batch aside in a file import-results takes
            # back, so one bad batch (or a full disk) cannot wedge recording forever.
            log.exception("cannot commit %d results after %d tries; writing them to %s",
                          len(batch), self._failures, self.unsaved_path)
            await loop.run_in_executor(self._writer, self._set_aside, batch)
            self._failures = 0
        self.committed += len(batch)
        for sink in self.sinks:
            try:
                sink.observe(batch)
            except Exception:
                log.exception("sink %r failed", sink)
        self.pending -= len(batch)
        for _ in parts:
            self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every submitted result is committed and observed."""
        await self._queue.join()

    async def stop(self, timeout_s: float = 60.0) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout_s)
        except TimeoutError:
            log.error("stopping with %d results not committed", self.pending)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._writer.shutdown(wait=True)
