"""From probe to record to sinks.

Results queue up, a single writer commits them in batches (one transaction per
batch, in a worker thread so the event loop keeps its timing), and only then
hands the batch to the sinks (live state, alerting, InfluxDB...).  A sink
therefore never sees a result the record does not have.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from slaguard.domain import ProbeResult
from slaguard.store import SQLiteStore

log = logging.getLogger(__name__)


class Sink(Protocol):
    def observe(self, results: list[ProbeResult]) -> None: ...


class ResultPipeline:
    def __init__(self, store: SQLiteStore, intervals: dict[str, int],
                 sinks: Sequence[Sink] = (), max_batch: int = 1000):
        self.store = store
        self.intervals = intervals
        self.sinks = list(sinks)
        self.max_batch = max_batch
        self._queue: asyncio.Queue[ProbeResult] = asyncio.Queue()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._task: asyncio.Task[None] | None = None
        self.committed = 0

    def submit(self, result: ProbeResult) -> None:
        self._queue.put_nowait(result)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="result-writer")

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[ProbeResult]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self.store.add, batch, self.intervals)
        except Exception:
            # Keep the batch: it goes back to the queue and is retried with the
            # next one; a result is never dropped because the disk hiccuped.
            log.exception("cannot commit %d results; retrying", len(batch))
            for r in batch:
                self._queue.put_nowait(r)
                self._queue.task_done()
            await asyncio.sleep(1)
            return
        self.committed += len(batch)
        for sink in self.sinks:
            try:
                sink.observe(batch)
            except Exception:
                log.exception("sink %r failed", sink)
        for _ in batch:
            self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every submitted result is committed and observed."""
        await self._queue.join()

    async def stop(self) -> None:
        await self.flush()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._writer.shutdown(wait=True)
