"""Capacity runs against a real local target, Locust in its own processes: the
record agrees with the target's own count; a failing target is aborted with the
reason; the kill switch (file, API's path, configuration flag) stops a run within
5 s; a saturated generator makes the run invalid; never two at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from capacity.runner import CapacityBusy, CapacityRefused, request_kill
from tests.capacity.conftest import Rig, Target, until
from tests.conftest import free_port

KILL_WITHIN_S = 5.0


async def test_200_users_master_and_two_workers_agree_with_the_target(
        target: Target, rig: Callable[..., Rig]) -> None:
    r = rig(target.url, generator={"workers": 2, "max_cpu": "100%"},
            # The 200 users for 20 s; so long a hold also ends the history's
            # first 10 s step (its users are those at its end) while all 200 still hold,
            # however soon Locust starts.
            profile={"users": 200, "spawn_rate": 200, "hold": "20s", "think_min": "0.5s",
                     "think_max": "1.5s"},
            thresholds={"p95": "5s", "mean": "2s", "error_rate": "1%"})
    doc = await asyncio.to_thread(r.runner.run, "load", "test")
    total, (web,) = doc["total"], doc["endpoints"]
    assert doc["verdict"] == "passed", doc
    assert total["count"] == web["count"] == target.count > 300
    assert total["failures"] == 0 and doc["peak_users"] == 200
    assert doc["generator"]["workers"] == 2
    assert set(doc["generator"]["peak_cpu_percent"]) == {"master", "worker-1", "worker-2"}
    # The job's latency holds the target's own (Locust keeps whole ms below 100 ms) and,
    # on a busy 2-core machine, the generator's own waits: bench/capacity.py compares them.
    assert target.p95_ms() - 1 <= web["p95_ms"] < 5000
    assert web["p50_ms"] <= web["p95_ms"] <= web["p99_ms"] <= web["max_ms"]
    assert [t["pass"] for t in doc["thresholds"]] == [True, True, True]
    assert any(h["users"] == 200 for h in doc["history"])
    assert doc["figures_from"] == "locust --json-file"
    assert r.store.get(doc["id"]) == doc


async def test_a_failing_target_is_aborted_with_the_reason(
        target: Target, rig: Callable[..., Rig]) -> None:
    target.failing = True
    r = rig(target.url, profile={"hold": "60s"},
            abort={"error_rate": "5%", "for": "2s"})
    t0 = time.monotonic()
    doc = await asyncio.to_thread(r.runner.run, "load", "test")
    assert doc["verdict"] == "aborted"
    assert doc["aborted_by"].startswith("error rate 100.000 % over the last 2 s "
                                        "(abort above 5 %)")
    assert time.monotonic() - t0 < 20
    assert doc["total"]["failures"] == doc["total"]["count"] > 0
    assert doc["thresholds"][-1] == {"endpoint": None, "metric": "error_rate",
                                          "expr": "error rate <= 1 %",
                                          "observed": "100.000", "pass": False}


async def test_a_saturated_generator_makes_the_run_invalid(
        target: Target, rig: Callable[..., Rig]) -> None:
    r = rig(target.url, generator={"workers": 0, "max_cpu": "1%", "saturated_for": "1s"},
            profile={"hold": "60s"})
    doc = await asyncio.to_thread(r.runner.run, "load", "test")
    assert doc["verdict"] == "invalid"
    assert doc["invalid_reason"].startswith("generator saturated: ")
    assert "(capacity.generator.max_cpu 1 %)" in doc["invalid_reason"]


async def test_kill_stops_a_run_within_5_s_and_never_two_at_once(
        target: Target, rig: Callable[..., Rig]) -> None:
    r = rig(target.url, profile={"hold": "60s"})
    active = await asyncio.to_thread(r.runner.start, "load", "test")
    waiting = asyncio.ensure_future(asyncio.to_thread(active.wait))
    await until(lambda: len(active.history.samples) >= 2, 30, "the run under way")
    with pytest.raises(CapacityBusy, match="a capacity run is under way"):
        await asyncio.to_thread(r.runner.start, "load", "again")
    # another process too: the lock is an flock beside the record
    cli = await asyncio.to_thread(subprocess.run, [
        str(Path(sys.executable).parent / "slaguard"), "capacity", "run", "load", "-c",
        str(r.path)],
        capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1, cli.stderr
    assert "error: a capacity run is under way (job load started by test" in cli.stderr
    t0 = time.monotonic()
    assert request_kill(r.cfg.storage.path, r.store, "alice") == active.run_id
    doc = await waiting
    assert time.monotonic() - t0 < KILL_WITHIN_S
    assert (doc["verdict"], doc["aborted_by"]) == ("aborted", "kill switch: killed by alice")
    assert doc["total"]["count"] > 0
    with pytest.raises(CapacityRefused, match="no capacity run is under way"):
        request_kill(r.cfg.storage.path, r.store, "alice")


async def test_the_configuration_flag_stops_a_run_and_keeps_the_next_from_starting(
        target: Target, rig: Callable[..., Rig]) -> None:
    r = rig(target.url, profile={"hold": "60s"})
    active = await asyncio.to_thread(r.runner.start, "load", "test")
    waiting = asyncio.ensure_future(asyncio.to_thread(active.wait))
    await until(lambda: len(active.history.samples) >= 1, 30, "the run under way")
    doc = yaml.safe_load(r.path.read_text(encoding="utf-8"))
    doc["capacity"]["kill_switch"] = True
    t0 = time.monotonic()
    r.path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = await waiting
    assert time.monotonic() - t0 < KILL_WITHIN_S
    assert done["aborted_by"] == ("kill switch: capacity.kill_switch is true in the "
                                  "configuration")
    with pytest.raises(CapacityRefused, match=r"capacity\.kill_switch is true"):
        r.runner.start("load", "test")  # read at start too, not only when slaguard started
    flagged = rig(target.url, kill_switch=True)
    with pytest.raises(CapacityRefused, match=r"capacity\.kill_switch is true: no run starts"):
        flagged.runner.start("load", "test")


async def test_distributed_mode_a_worker_from_elsewhere_fetches_the_locustfile(
        target: Target, rig: Callable[..., Rig], tmp_path: Path) -> None:
    """capacity.distributed: the master waits for expected_workers; a worker started
    as on another machine (``locust --worker -f -``) gets the locustfile from it."""
    port = free_port()
    r = rig(target.url, generator={"workers": 0, "max_cpu": "100%"},
            distributed={"master_bind": f"127.0.0.1:{port}", "expected_workers": 1,
                         "wait_for_workers": "30s"})
    worker = subprocess.Popen([sys.executable, "-m", "locust", "--worker", "--master-host",
                               "127.0.0.1", "--master-port", str(port), "-f", "-"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        doc = await asyncio.to_thread(r.runner.run, "load", "test")
        assert await asyncio.to_thread(worker.wait, 15) == 0  # told to quit by the master
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert doc["verdict"] == "passed", doc
    assert (doc["generator"]["workers"], doc["generator"]["remote_workers"]) == (0, 1)
    assert set(doc["generator"]["peak_cpu_percent"]) == {"master"}
    assert doc["total"]["count"] == target.count > 0


async def test_distributed_mode_without_its_workers_is_invalid_with_locusts_words(
        target: Target, rig: Callable[..., Rig]) -> None:
    r = rig(target.url, distributed={"master_bind": f"127.0.0.1:{free_port()}",
                                     "expected_workers": 1, "wait_for_workers": "2s"})
    doc = await asyncio.to_thread(r.runner.run, "load", "test")
    assert doc["verdict"] == "invalid" and target.count == 0
    assert doc["invalid_reason"].startswith("no request was made (see the Locust log: ")
    assert "Gave up waiting for workers to connect" in doc["invalid_reason"]
