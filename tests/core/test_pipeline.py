"""The pipeline commits before sinks see anything, retries forever, and never wedges."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

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
    pipeline = ResultPipeline(store, {"web": 1000}, sinks=[seen], backoff_s=(0.05, 0.2))
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


async def test_a_store_that_never_commits_is_retried_and_stop_keeps_the_rest_in_the_spill(
        tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "s.db", failures=10**6)
    spill = tmp_path / "spill"
    pipeline = ResultPipeline(store, {"web": 1000}, spill_dir=str(spill),
                              backoff_s=(0.05, 0.2))
    await pipeline.start()
    for i in range(3):
        pipeline.submit(result(i))
    await asyncio.sleep(0.5)  # several retries, no giving up
    assert pipeline.trouble() is not None and "disk I/O error" in pipeline.trouble()  # type: ignore[operator]
    assert pipeline.pending == 3
    await pipeline.flush()  # returns while the record is out of reach
    await pipeline.stop(timeout_s=10)
    assert store.count() == 0 and pipeline.dropped == 0
    lines = [x for p in spill.iterdir() for x in p.read_text(encoding="utf-8").splitlines()]
    assert [json.loads(x)["target"] for x in lines] == ["web"] * 3
    # The next start replays the spill first, then removes it.
    store.failures = 0
    again = ResultPipeline(store, {"web": 1000}, spill_dir=str(spill))
    assert again.pending == 3
    await again.start()
    again.submit(result(3))
    await again.stop()
    assert store.count() == 4 and again.pending == 0 and list(spill.iterdir()) == []
    store.close()


async def test_a_result_the_record_refuses_is_left_out_alone(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    seen = Seen(store)
    pipeline = ResultPipeline(store, {"web": 1000}, sinks=[seen])
    await pipeline.start()
    stranger = ProbeResult(ts_ms=1_790_784_000_000, target="gone", service="core",
                           location="sh", kind="http", outcome=Outcome.SUCCESS, duration_ms=5)
    pipeline.submit_many([result(0), stranger, result(1)])
    await pipeline.stop()
    assert store.count() == 2 and pipeline.rejected == 1 and pipeline.trouble() is None
    assert [r.target for b in seen.batches for r in b] == ["web", "web"]
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


async def test_past_the_buffer_results_are_dropped_counted_and_marked_unknown(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore(tmp_path / "s.db", failures=10**6)
    pipeline = ResultPipeline(store, {"web": 1000}, buffer_results=5, backoff_s=(0.05, 0.1))
    await pipeline.start()
    for i in range(3):  # the writer takes these and fails on them
        pipeline.submit(result(i))
    await asyncio.sleep(0.4)  # past the linger
    for i in range(3, 12):
        pipeline.submit(result(i))  # 3..4 fit the buffer, 5..11 do not
    assert pipeline.dropped == 7 and pipeline.pending == 5
    trouble = pipeline.trouble()
    assert trouble is not None
    assert trouble.endswith("5 results waiting; 7 dropped (recorded as gaps)"), trouble
    store.failures = 0
    await asyncio.sleep(0.3)
    await pipeline.flush()
    pipeline.submit(result(12))
    await pipeline.stop()
    rows = store.results("web")
    assert [r.ts_ms for r in rows if r.outcome is Outcome.SUCCESS] == \
        [result(i).ts_ms for i in (0, 1, 2, 3, 4, 12)]
    # The dropped span is unknown at both ends: never bridged as up.
    assert [r.ts_ms for r in rows if r.outcome is Outcome.UNKNOWN] == \
        [result(5).ts_ms, result(11).ts_ms]
    assert pipeline.trouble() is None
    errors = [r.message for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("dropping results"), errors
    store.close()
