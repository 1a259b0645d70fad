"""The pipeline commits before sinks see anything, retries, and never wedges."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from slaguard.domain import Outcome, ProbeResult
from slaguard.pipeline import ResultPipeline
from slaguard.store import AddStats, SQLiteStore


class FlakyStore(SQLiteStore):
    """A real store whose commits fail the first ``failures`` times."""

    def __init__(self, path: Path, failures: int):
        super().__init__(path)
        self.failures = failures

    def add(self, results: Sequence[ProbeResult], intervals: dict[str, int]) -> AddStats:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("disk I/O error")
        return super().add(results, intervals)


class Seen:
    def __init__(self, store: SQLiteStore):
        self.store, self.batches, self.committed_then = store, [], []  # type: ignore[var-annotated]

    def observe(self, results: list[ProbeResult]) -> None:
        self.batches.append(results)
        self.committed_then.append(self.store.count())


def result(i: int) -> ProbeResult:
    return ProbeResult(ts_ms=1_790_784_000_000 + i * 1000, target="web", service="core",
                       location="sh", kind="http", outcome=Outcome.SUCCESS, duration_ms=5)


async def test_sinks_see_only_committed_results_and_a_hiccup_loses_nothing(
        tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "s.db", failures=2)
    seen = Seen(store)
    pipeline = ResultPipeline(store, {"web": 1000}, sinks=[seen], max_retries=5)
    await pipeline.start()
    for i in range(20):
        pipeline.submit(result(i))
    await pipeline.stop()
    assert store.count() == 20 and pipeline.committed == 20
    assert sum(len(b) for b in seen.batches) == 20
    # Every batch a sink saw was already in the record.
    running = 0
    for batch, in_store in zip(seen.batches, seen.committed_then, strict=True):
        running += len(batch)
        assert in_store >= running
    store.close()


async def test_a_batch_that_never_commits_is_set_aside_not_retried_forever(
        tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "s.db", failures=10**6)
    pipeline = ResultPipeline(store, {"web": 1000}, max_retries=2)
    await pipeline.start()
    for i in range(3):
        pipeline.submit(result(i))
    await pipeline.stop(timeout_s=10)
    assert pipeline.set_aside == 3 and store.count() == 0
    lines = Path(pipeline.unsaved_path).read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["target"] for x in lines] == ["web"] * 3
    store.close()


async def test_results_arriving_within_the_linger_share_one_commit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    seen = Seen(store)
    pipeline = ResultPipeline(store, {"web": 1000}, sinks=[seen], linger_s=0.5)
    await pipeline.start()
    pipeline.submit(result(0))
    for i in range(1, 5):  # one at a time, each in its own turn of the loop
        await asyncio.sleep(0.01)
        pipeline.submit(result(i))
    pipeline.submit_many([result(5), result(6)])  # a probe worker's frame
    await pipeline.flush()
    assert [len(b) for b in seen.batches] == [7]
    await pipeline.stop()
    store.close()
