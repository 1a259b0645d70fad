"""Probe worker processes: real spawned workers probing a real local server,
results back in the main process's record, restart after a crash, and the
frame protocol's edges."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from probes import PROBES
from slaguard.app import App, ProbeWiring
from slaguard.config.loader import parse_config
from slaguard.domain import Outcome
from slaguard.store import SQLiteStore
from slaguard.workers import WorkerError, WorkerPool, assign, read_frame
from tests.conftest import serve_local


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def ok(_r: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner, port = await serve_local(app)
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


def config(tmp_path: Path, url: str, workers: int, targets: int = 4,
           interval: str = "30s") -> Any:
    cfg, _ = parse_config({
        "version": 1,
        "storage": {"path": str(tmp_path / "record.db")},
        "server": {"listen": "127.0.0.1:0"},
        "location": "sh",
        "scheduling": {"workers": workers},
        "services": {"web": {"availability": "99.9%"}},
        "targets": [{"name": f"t{i}", "service": "web", "kind": "http", "url": url,
                     "interval": interval, "timeout": "900ms"} for i in range(targets)],
    }, env={})
    return cfg


def test_assignment_is_balanced_and_the_same_in_every_process() -> None:
    pairs = [(f"t{i}", loc) for i in range(7) for loc in ("sh", "bj")]
    share = assign(reversed(pairs), 3)
    assert share == assign(pairs, 3)  # order of discovery does not matter
    counts = [list(share.values()).count(i) for i in range(3)]
    assert sorted(counts) == [4, 5, 5]


async def test_probes_run_in_workers_and_land_in_the_record(tmp_path: Path, site: str) -> None:
    app = App(config(tmp_path, site, workers=2), serve_http=False)
    await app.start(schedule=False)
    try:
        assert app.pool is not None
        pids = app.pool.pids
        assert len(set(pids)) == 2 and os.getpid() not in pids
        results = [await app.run_once(f"t{i}") for i in range(4)]
        await app.pipeline.flush()
        assert all(r.outcome is Outcome.SUCCESS and r.status_code == 200 for r in results)
        # Measured in the worker at µs resolution; the record keeps integer ms.
        assert all(r.duration_us is not None and
                   abs(r.duration_us - 1000 * r.duration_ms) <= 500 for r in results)
        assert app.store.count() == 4
        assert sum(sum(st.outcomes.values()) for _key, st in app.state.snapshot()) == 4
        # A location the config does not have: the worker asked refuses it.
        app.pool.owner = lambda target, loc: 0
        with pytest.raises(WorkerError, match="does not probe 't1' from 'bj'"):
            await app.pool.run_once("t1", "bj")
    finally:
        await app.stop()


def test_never_more_workers_than_pairs_to_probe(tmp_path: Path) -> None:
    wiring = ProbeWiring(config(tmp_path, "http://127.0.0.1:9/", workers=8, targets=3),
                         ("sh",), PROBES, {})
    assert wiring.worker_count == 3
    assert sorted(wiring.assignment().values()) == [0, 1, 2]


async def test_scheduled_results_arrive_and_stop_loses_none(tmp_path: Path, site: str) -> None:
    app = App(config(tmp_path, site, workers=1, targets=2, interval="1s"), serve_http=False)
    await app.start()
    try:
        deadline = time.monotonic() + 20
        while app.pipeline.committed < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert app.pipeline.committed >= 4
    finally:
        await app.stop()
    # Everything a worker sent before it exited is in the record, nothing more came.
    store = SQLiteStore(tmp_path / "record.db")
    try:
        assert store.count() == app.pipeline.committed
        assert {r.target for r in store.results()} == {"t0", "t1"}
    finally:
        store.close()


async def test_a_killed_worker_is_restarted(tmp_path: Path, site: str) -> None:
    app = App(config(tmp_path, site, workers=1), serve_http=False)
    await app.start(schedule=False)
    try:
        assert app.pool is not None
        app.pool.restart_after_s = 0.1
        (pid,) = app.pool.pids
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (app.pool.restarts < 1 or not app.pool.pids or app.pool.pids == [pid]) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert app.pool.restarts == 1 and app.pool.pids != [pid]
        r = await app.run_once("t0")
        assert r.outcome is Outcome.SUCCESS
    finally:
        await app.stop()


def exits_at_once(index: int, sock: socket.socket, schedule: bool) -> None:
    raise SystemExit(3)


async def test_a_worker_that_cannot_start_stops_start_up() -> None:
    pool = WorkerPool(1, exits_at_once, lambda r: None, lambda t, loc: 0)
    with pytest.raises(WorkerError, match="probe worker 0 exited with code 3 before it was ready"):
        await pool.start(schedule=True)


async def test_frames_end_cleanly_or_say_they_were_cut() -> None:
    payload = pickle.dumps([("ready", 1)])
    whole = struct.pack(">I", len(payload)) + payload
    for data, expected in ((whole, [("ready", 1)]), (b"", None)):
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        assert await read_frame(reader) == expected
    for cut in (whole[:2], whole[:-1]):
        reader = asyncio.StreamReader()
        reader.feed_data(cut)
        reader.feed_eof()
        with pytest.raises(WorkerError, match="stream ended inside a frame"):
            await read_frame(reader)
