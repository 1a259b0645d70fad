"""Windowed objectives over a month-scale record: how long a 30-day window takes.

    .venv/bin/python bench/rolling_window.py [--targets 3] [--locations 3] [--days 30]
        [--interval 30s] [--seed 1] [--db PATH] [--keep] [--check-exact] [--quick]

One run, one JSON document on stdout (progress on stderr):

1. ``--targets`` × ``--locations`` series of one result every ``--interval`` for
   ``--days`` days before ``now`` (deterministic, numpy): successes of 100–3500 ms,
   failure runs of 1–20 results (~1 %), ``unknown`` stretches, written through
   ``store.add`` in chunks of 5000 as the importer writes them (not timed).
2. Timed on that store, each the median of 3: a 30-day occurrences objective
   (``store.event_counts``: histograms and runs) for availability and for latency
   ``< 3s`` with a 1 h burn lookback; 30-day ratio_timeslices objectives with 1-minute
   and 1-hour slices (``store.event_slices``: SQLite groups the raw rows); and the
   whole ``Evaluator.objectives`` for the four.
3. ``--check-exact``: every figure equal to counting the raw results in Python
   (``slo.rolling.events_from_results``), timed apart.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slaguard.domain import Outcome, ProbeResult  # noqa: E402
from slaguard.evaluation import window_events  # noqa: E402
from slaguard.store import SQLiteStore  # noqa: E402
from slaguard.units import parse_duration, to_ms  # noqa: E402
from slo.model import BurnAlertSpec, WindowedSpec  # noqa: E402
from slo.rolling import evaluate_windowed, events_from_results, plan  # noqa: E402

DAY, HOUR, MIN = 86_400_000, 3_600_000, 60_000
NOW = 1_777_600_000_000 - 1_777_600_000_000 % MIN + 12_345  # mid-minute, as a real now
TZ = "Asia/Shanghai"


def log(msg: str) -> None:
    print(f"[rolling_window] {msg}", file=sys.stderr, flush=True)


def synthesise(store: SQLiteStore, targets: list[str], locations: list[str], days: int,
               interval: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    n = days * DAY // interval
    written = 0
    for t in targets:
        for loc in locations:
            outcome = np.zeros(n, dtype=np.int8)
            starts = rng.choice(n, size=max(1, n // 2000), replace=False)
            for s in starts:  # failure runs of 1–20, unknown runs of 1–5
                code = 1 if rng.random() < 0.8 else 2
                outcome[s:s + int(rng.integers(1, 21 if code == 1 else 6))] = code
            durations = rng.integers(100, 3500, size=n)
            ts = NOW - days * DAY + np.arange(n, dtype=np.int64) * interval
            codes = (Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN)
            batch = [ProbeResult(int(a), t, "core", loc, "http", codes[int(o)], int(d))
                     for a, o, d in zip(ts.tolist(), outcome.tolist(), durations.tolist(),
                                        strict=True)]
            for i in range(0, len(batch), 5000):
                store.add(batch[i:i + 5000], {t: interval})
            written += len(batch)
    return written


def specs(targets: tuple[str, ...]) -> list[WindowedSpec]:
    burn = (BurnAlertSpec("fast", "page", Decimal("14.4"), "gt", HOUR),)
    base = dict(targets=targets, target_percent=Decimal("99.9"), window_ms=30 * DAY)
    return [
        WindowedSpec("availability-30d", sli="availability", burn_alerts=burn,
                     **base),  # type: ignore[arg-type]
        WindowedSpec("latency-30d", sli="latency", threshold_ms=3000, burn_alerts=burn,
                     **base),  # type: ignore[arg-type]
        WindowedSpec("slices-1m-30d", sli="availability", budgeting="ratio_timeslices",
                     slice_ms=MIN, **base),  # type: ignore[arg-type]
        WindowedSpec("slices-1h-30d", sli="latency", threshold_ms=3000,
                     budgeting="ratio_timeslices", slice_ms=HOUR,
                     **base),  # type: ignore[arg-type]
    ]


def timed(fn: Callable[[], Any], rounds: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 4), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=3)
    p.add_argument("--locations", type=int, default=3)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--interval", default="30s")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--db")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--check-exact", action="store_true")
    p.add_argument("--quick", action="store_true", help="1 target × 2 locations × 2 days")
    a = p.parse_args(argv)
    if a.quick:
        a.targets, a.locations, a.days = 1, 2, 2
    interval = to_ms(parse_duration(a.interval))
    tmp = tempfile.TemporaryDirectory(prefix="slaguard-rolling-")
    db = Path(a.db) if a.db else Path(tmp.name) / "s.db"
    targets = [f"t{i:03d}" for i in range(a.targets)]
    locations = [f"loc{i}" for i in range(a.locations)]
    store = SQLiteStore(db)
    t0 = time.perf_counter()
    written = synthesise(store, targets, locations, a.days, interval, a.seed)
    log(f"{written} results written in {time.perf_counter() - t0:.1f} s")
    out: dict[str, Any] = {"series": a.targets * a.locations, "days": a.days,
                           "interval_ms": interval, "results": written, "window_days": 30,
                           "seconds": {}}
    all_specs = specs(tuple(targets))
    for s in all_specs:
        pl = plan(s, NOW, TZ)
        secs, events = timed(functools.partial(window_events, store, s, pl))
        r = evaluate_windowed(s, pl, events)
        out["seconds"][s.name] = secs
        out.setdefault("figures", {})[s.name] = {
            "events": r.events.total, "units": r.units, "ratio": str(r.ratio)}
        log(f"{s.name}: {secs} s")

    def everything() -> None:
        for s in all_specs:
            pl = plan(s, NOW, TZ)
            evaluate_windowed(s, pl, window_events(store, s, pl))
    out["seconds"]["all_four"], _ = timed(everything)
    if a.check_exact:
        t1 = time.perf_counter()
        raw = store.results(from_ms=NOW - 31 * DAY, to_ms=NOW)
        same = {}
        for s in all_specs:
            pl = plan(s, NOW, TZ)
            want = evaluate_windowed(s, pl, events_from_results(s, pl, raw))
            got = evaluate_windowed(s, pl, window_events(store, s, pl))
            same[s.name] = want == got
        out["exact_check"] = {"equal": same, "python_raw_path_s":
                              round(time.perf_counter() - t1, 2)}
    store.close()
    if a.keep or a.db:
        out["db"] = str(db)
    else:
        tmp.cleanup()
    print(json.dumps(out, indent=2))
    return 0 if all(out.get("exact_check", {}).get("equal", {"": True}).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
