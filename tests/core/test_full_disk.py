"""A full disk loses nothing that fits the bounds, and slaguard heals by itself.

The record lives on a small tmpfs mounted in a private mount namespace
(``unshare``, the helper of test_start_errors; skipped where mounting is not
allowed, failing under SLAGUARD_REQUIRE_INTEGRATION=1).  This file, run as a
script inside that namespace, starts a real App with its HTTP server, commits
some results, fills the tmpfs to the last page, keeps submitting, reads
/healthz and /metrics while nothing commits, frees the space, waits for the
writer to resume by itself, and prints what it saw as JSON for the test.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_INTEGRATION

TIMEOUT_S = 240
INTERVAL_MS = 1000


def scenario(tmp: Path, buffer_results: int, spill: bool) -> dict[str, Any]:
    from tests.core.test_start_errors import in_private_mount

    data = tmp / "data"
    data.mkdir()
    spill_dir = f'"{tmp / "spill"}"' if spill else "null"
    cfg = tmp / "slaguard.yaml"
    cfg.write_text(f"""\
version: 1
storage: {{path: "{data / 'slaguard.db'}", buffer_results: {buffer_results},
           spill_dir: {spill_dir}}}
server: {{listen: "127.0.0.1:0", internal_listen: "127.0.0.1:0"}}
scheduling: {{workers: 0}}
services: {{core: {{availability: 99.9%}}}}
targets:
  - {{name: web, service: core, kind: http, url: "http://127.0.0.1:9/", interval: 1s,
      timeout: 500ms}}
""", encoding="utf-8")
    try:
        argv = in_private_mount(
            f"mount -t tmpfs -o size=8m tmpfs {shlex.quote(str(data))} && "
            f"exec {shlex.quote(sys.executable)} {shlex.quote(__file__)} {shlex.quote(str(cfg))}")
    except pytest.skip.Exception:
        if REQUIRE_INTEGRATION:
            pytest.fail("SLAGUARD_REQUIRE_INTEGRATION=1 but a tmpfs cannot be mounted here")
        raise
    root = str(Path(__file__).parents[2])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                          cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    seen["log"] = done.stderr
    return seen


def test_a_full_disk_holds_results_in_memory_and_commits_them_once_space_is_back(
        tmp_path: Path) -> None:
    seen = scenario(tmp_path, buffer_results=100_000, spill=False)
    degraded = seen["healthz_full"]
    assert degraded["status"] == 503, degraded
    assert degraded["body"]["status"] == "degraded"
    reason = degraded["body"]["reason"]
    assert reason.startswith("store: cannot commit for ") and "full" in reason, reason
    assert f"; {seen['waiting_then']} results waiting" in reason, reason
    assert seen["gauge_full"] >= seen["trouble_submitted"] > 0
    # What SlaguardRecordNotCommitting (alerting.promrules) fires on, and clears with.
    assert seen["failing_full"] == 1 and seen["failing_after"] == 0
    assert seen["healthz_after"] == {"status": 200, "body_status": "ok"}
    assert seen["gauge_after"] == 0 and seen["dropped"] == 0
    # Everything submitted is in the record, exactly once, and the sinks saw it once.
    assert seen["stored_ts"] == seen["submitted_ts"]
    assert seen["observed"] == len(seen["submitted_ts"])
    log = seen["log"]
    assert log.count("WARNING slaguard.pipeline: cannot commit") == 1, log[-3000:]
    assert log.count("INFO slaguard.pipeline: the record commits again") == 1, log[-3000:]


def test_past_the_memory_buffer_results_wait_in_the_spill_directory(tmp_path: Path) -> None:
    seen = scenario(tmp_path, buffer_results=200, spill=True)
    assert seen["healthz_full"]["status"] == 503
    assert seen["spilled_then"] > 0  # the buffer's bound held; the rest went to disk
    assert seen["dropped"] == 0 and seen["gauge_after"] == 0
    assert seen["stored_ts"] == seen["submitted_ts"]
    assert seen["observed"] == len(seen["submitted_ts"])
    assert list((tmp_path / "spill").iterdir()) == []


def test_past_every_bound_results_are_dropped_counted_and_recorded_as_a_gap(
        tmp_path: Path) -> None:
    seen = scenario(tmp_path, buffer_results=200, spill=False)
    dropped = seen["dropped"]
    assert dropped > 100 and seen["dropped_metric"] == dropped
    assert "; " + str(dropped) in seen["healthz_full"]["body"]["reason"] or dropped
    kept = sorted(set(seen["submitted_ts"]) - set(seen["dropped_ts"]))
    assert len(seen["dropped_ts"]) == dropped
    assert seen["stored_ts"] == kept  # everything that fit, exactly once
    # The dropped span is marked unknown at both ends, and counted as a gap, never as up.
    lo, hi = min(seen["dropped_ts"]), max(seen["dropped_ts"])
    assert seen["unknown_ts"] == [lo, hi]
    assert seen["gap_s"] >= (hi - lo) // 1000 and seen["downtime_s"] == 0
    assert seen["log"].count("ERROR slaguard.pipeline: dropping results") == 1


# -- the driver, run inside the mount namespace -------------------------------------------


async def drive(cfg_path: str) -> dict[str, Any]:
    import aiohttp

    from slaguard.app import App
    from slaguard.config.loader import load_config
    from slaguard.domain import Outcome, ProbeResult

    cfg = load_config(cfg_path)[0]
    data = Path(cfg.storage.path).parent
    app = App(cfg)
    await app.start(schedule=False)
    pipe = app.pipeline
    start = int(time.time() * 1000) // 1000 * 1000 - 40 * 3600 * 1000
    submitted: list[int] = []
    dropped: list[int] = []

    def submit(n: int) -> None:
        batch = []
        for _ in range(n):
            ts = start + len(submitted) * INTERVAL_MS
            submitted.append(ts)
            batch.append(ProbeResult(ts_ms=ts, target="web", service="core", location=cfg.location,
                                     kind="http", outcome=Outcome.SUCCESS, duration_ms=3))
        before = pipe.dropped
        pipe.submit_many(batch)
        dropped.extend(submitted[len(submitted) - (pipe.dropped - before):]
                       if pipe.dropped > before else [])

    async with aiohttp.ClientSession() as http:
        async def get(path: str) -> tuple[int, str]:
            # /metrics from the internal listener: on the public one it needs a token.
            base = app.internal_url if path == "/metrics" else app.url
            async with http.get(f"{base}{path}") as resp:
                return resp.status, await resp.text()

        def gauge(text: str, name: str) -> float:
            return next(float(line.split()[-1]) for line in text.splitlines()
                        if line.startswith(name + " "))

        submit(20)
        await pipe.flush()
        fill(data / "filler")
        deadline = time.monotonic() + 60
        while pipe.failing_since is None:  # the WAL may still have room for a while
            assert time.monotonic() < deadline, "the full disk never stopped a commit"
            submit(20)
            await asyncio.sleep(0.01)
        mark = len(submitted)
        for _ in range(50):
            submit(20)
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.5)  # the writer relieves its buffer while it waits
        status, body = await get("/healthz")
        waiting_then = pipe.pending
        spilled_then = pipe.spill.count if pipe.spill else 0
        metrics = (await get("/metrics"))[1]
        seen: dict[str, Any] = {
            "healthz_full": {"status": status, "body": json.loads(body)},
            "waiting_then": waiting_then, "spilled_then": spilled_then,
            "trouble_submitted": len(submitted) - mark,
            "gauge_full": gauge(metrics, "slaguard_store_uncommitted_results"),
            "failing_full": gauge(metrics, "slaguard_store_commit_failing"),
        }
        (data / "filler").unlink()
        deadline = time.monotonic() + 90
        while pipe.pending or pipe.failing_since is not None:
            assert time.monotonic() < deadline, (
                f"never resumed: {pipe.trouble()}; free {free(data)} bytes, files "
                f"{ {p.name: p.stat().st_size for p in data.iterdir()} }")
            await asyncio.sleep(0.1)
        submit(10)  # after the gap: known again
        await pipe.flush()
        status, body = await get("/healthz")
        metrics = (await get("/metrics"))[1]
        seen |= {
            "healthz_after": {"status": status, "body_status": json.loads(body)["status"]},
            "gauge_after": gauge(metrics, "slaguard_store_uncommitted_results"),
            "failing_after": gauge(metrics, "slaguard_store_commit_failing"),
            "dropped_metric": gauge(metrics, "slaguard_store_dropped_results_total"),
        }
    rows = app.store.results("web", limit=10**6)
    now = submitted[-1] + 5 * INTERVAL_MS
    report = app.evaluator.current(max(now, int(time.time() * 1000)))
    core = next(s for s in report.services if s.spec.name == "core").availability
    seen |= {
        "submitted_ts": submitted, "dropped": pipe.dropped, "dropped_ts": dropped,
        "stored_ts": sorted(r.ts_ms for r in rows if r.outcome is Outcome.SUCCESS),
        "unknown_ts": sorted(r.ts_ms for r in rows if r.outcome is Outcome.UNKNOWN),
        "observed": sum(sum(st.outcomes.values()) for _key, st in app.state.snapshot())
        - len([r for r in rows if r.outcome is Outcome.UNKNOWN]),
        "gap_s": core.gap_seconds, "downtime_s": core.downtime_seconds,
    }
    await app.stop()
    return seen


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path) -> None:
    """Fill the file system to its last page."""
    with open(path, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=os.environ.get("FULL_DISK_LOG", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(json.dumps(asyncio.run(drive(sys.argv[1]))))


async def test_evaluation_that_cannot_record_warns_once_an_episode(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """On a full disk the alert rules' commit fails every round (bench/faults.py saw three
    tracebacks a minute): one WARNING for the episode, none per round, one INFO when it
    records again.  (The full disk itself is the bench's drill; here the commit's error.)"""
    import asyncio
    import itertools
    import logging
    import sqlite3

    from slaguard.app import App
    from slaguard.config import parse_config
    from tests.conftest import api_config

    cfg, _ = parse_config(api_config(tmp_path, "t"), env={})
    app = App(cfg, serve_http=False)
    full = sqlite3.OperationalError("database or disk is full")
    rounds = itertools.chain([full] * 4, itertools.repeat(None))

    async def evaluate_now() -> None:
        failure = next(rounds)
        if failure is not None:
            raise failure

    app.evaluate_now = evaluate_now  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="slaguard.app")
    task = asyncio.create_task(app._evaluate_every(0.001))
    await asyncio.sleep(0.2)
    task.cancel()
    await app.stop()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "slaguard.app"]
    assert lines == [
        ("WARNING", "alert state cannot be recorded (database or disk is full); evaluating "
                    "again every round until it can"),
        ("INFO", "alert state is recorded again")]
    assert not any(r.exc_info for r in caplog.records)
