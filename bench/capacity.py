"""How many concurrent users the capacity job sustains on this machine, and whether
the p95 it reports agrees with the target's own.  Prints JSON.

    .venv/bin/python bench/capacity.py [--users 5000] [--spawn-rate 100] [--hold 60]
        [--think-min 5] [--think-max 15] [--workers auto] [--delay-ms 100-300]

The target (``bench/_capacity_target.py``) runs in its own process on a free loopback
port and times every request itself.  The job is the real one (``capacity.runner``:
Locust master + one worker per core, FastHttpUser, the generated locustfile) with the
standard's closed model: ``--users`` users, 5–15 s think time.  Reported: the users
reached and held, requests/s over the hold, the job's p95 and mean beside the target's
(``p95_diff_percent``, goal within 5 %), requests counted by both, the generator's peak
CPU per process and the verdict (invalid when a load process was saturated).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capacity.runner import CapacityRunner, Settings
from capacity.store import CapacityStore
from slaguard.config import parse_config

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def target_stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=120) as r:
        return dict(json.loads(r.read()))


def start_target(port: int, delay: str) -> subprocess.Popen[bytes]:
    lo, hi = delay.split("-")
    proc = subprocess.Popen([sys.executable, str(HERE / "_capacity_target.py"), str(port), lo, hi])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            target_stats(port)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the bench target did not start")


def config(tmp: Path, port: int, a: argparse.Namespace) -> dict[str, Any]:
    workers: Any = a.workers if a.workers == "auto" else int(a.workers)
    return {
        "version": 1, "storage": {"path": str(tmp / "slaguard.db")},
        "services": {"core": {"availability": "99.9%"}},
        "capacity": {
            "allow_hosts": ["127.0.0.1"],
            "generator": {"workers": workers, "max_cpu": "95%", "saturated_for": "20s"},
            "jobs": [{
                "name": "bench", "max_duration": "2h",
                "requests": [{"name": "work", "url": f"http://127.0.0.1:{port}/work",
                              "timeout": "30s"}],
                "profile": {"users": a.users, "spawn_rate": a.spawn_rate, "hold": f"{a.hold}s",
                            "think_min": f"{a.think_min}s", "think_max": f"{a.think_max}s"},
                "thresholds": {"p95": "1s", "mean": "500ms", "error_rate": "1%"},
                "abort": {"error_rate": "5%", "for": "30s", "p95_factor": 3},
            }],
        },
    }


def hold_rps(doc: dict[str, Any], ramp_s: float) -> float:
    """Requests per second over the history steps after the ramp (the steady hold)."""
    steps = [h for h in doc["history"] if h["t_s"] >= ramp_s + 10 and h["users"] == doc[
        "profile"]["users"]]
    return round(sum(h["requests"] for h in steps) / (10 * len(steps)), 1) if steps else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--spawn-rate", type=int, default=100)
    ap.add_argument("--hold", type=int, default=60, help="seconds at full users")
    ap.add_argument("--think-min", type=int, default=5)
    ap.add_argument("--think-max", type=int, default=15)
    ap.add_argument("--workers", default="auto", help="Locust workers (auto: one per core)")
    ap.add_argument("--delay-ms", default="100-300", help="the target's own wait, min-max ms")
    a = ap.parse_args()
    port = free_port()
    target = start_target(port, a.delay_ms)
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = parse_config(config(Path(tmp), port, a), env={})[0]
            store = CapacityStore(cfg.storage.path)
            runner = CapacityRunner(Settings.from_config(cfg), store)
            doc = runner.run("bench", "bench", lambda line: print(line, file=sys.stderr))
            store.close()
        own = target_stats(port)
    finally:
        target.terminate()
        target.wait()
    job = doc["total"]
    own_p95 = own["p95_ms"]
    print(json.dumps({
        "users_target": a.users, "peak_users": doc["peak_users"],
        "think_time_s": [a.think_min, a.think_max], "hold_s": a.hold,
        "workers": doc["generator"]["workers"],
        "requests_per_s_hold": hold_rps(doc, a.users / a.spawn_rate),
        "requests_job": job["count"], "requests_target": own["count"],
        "failures": job["failures"],
        "p95_ms_job": job["p95_ms"], "p95_ms_target": round(own_p95, 1) if own_p95 else None,
        "p95_diff_percent": (round((job["p95_ms"] - own_p95) * 100 / own_p95, 2)
                             if own_p95 and job["p95_ms"] is not None else None),
        "mean_ms_job": job["mean_ms"], "mean_ms_target": round(own["mean_ms"] or 0, 1),
        "generator_peak_cpu_percent": doc["generator"]["peak_cpu_percent"],
        "verdict": doc["verdict"], "aborted_by": doc["aborted_by"],
        "invalid_reason": doc["invalid_reason"],
        "machine_peak_cpu_percent": doc["generator"]["machine_peak_cpu_percent"],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.monotonic() - t0, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
