"""/metrics at scale: scrape time, bytes and series at 100, 1 000 and 3 000 targets × 3
locations, through the real aiohttp server and a real HTTP client, beside the same
registry rendered by prometheus_client's own ``generate_latest``.  Prints JSON.

    .venv/bin/python bench/metrics_scrape.py [--sizes 100,1000,3000] [--scrapes 20]

Each size: a LiveState with 20 results per series (5 % failures, https phases and
certificate expiry, one target in 20 an upload and one a freshness probe), the
ProbeCollector and SloCollector as slaguard/app.py registers them.  Scrapes are
measured in two conditions:

* ``all_changed``: every series has a new result since the previous scrape (probes
  every 15 s, Prometheus scraping every 15 s): nothing can be reused.
* ``quarter_changed``: one series in four has one (probes every 60 s, scrapes every
  15 s): the other series' rendered lines are reused.
* ``steady_15s``: as ``all_changed`` (every series probed in the 15 s since the last
  scrape), with the app's rendering ahead (``ProbeCollector.prerender``, every second):
  the results arrive in 15 slices, each of the first 14 followed by a prerender, so the
  scrape renders only the last second's slice.  This is slaguard running.

Per condition: the scrape over HTTP with ``Accept-Encoding: gzip`` (the way
Prometheus asks; time to the last byte), the same without gzip, and the render
alone (``exporters.exposition.render``) — median and p95 over ``--scrapes``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporters.exposition import render
from exporters.prometheus import ProbeCollector, SloCollector
from slaguard.access import SCRAPER, Principals
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.server import ServerDeps, make_app
from slaguard.state import LiveState
from slaguard.store import SQLiteStore

T0 = 1_790_784_000_000
LOCATIONS = ("shanghai", "beijing", "guangzhou")
TOKEN = "bench-scraper"


def probe(rng: random.Random, i: int, location: str, ts_ms: int) -> ProbeResult:
    kind = "upload" if i % 20 == 7 else "freshness" if i % 20 == 13 else "http"
    ok = rng.random() >= 0.05
    ms = rng.randint(40, 900) if ok else rng.choice([3000, 10_000])
    phases = ({"send": ms - 20, "transfer": 20} if kind == "upload" else
              {"resolve": 2, "connect": 6, "tls": 14, "processing": ms - 40, "transfer": 18})
    return ProbeResult(
        ts_ms=ts_ms, target=f"target-{i:05d}", service=f"service-{i % 25:02d}",
        location=location, kind=kind, outcome=Outcome.SUCCESS if ok else Outcome.FAILURE,
        duration_ms=ms, duration_us=ms * 1000 + rng.randint(0, 999), phases_ms=phases,
        status_code=200 if ok else 503, cert_expiry=1_830_000_000 + i * 86_400,
        bytes=10_485_760 if kind == "upload" else None,
        recovery_point_ms=ts_ms - 3_600_000 if kind == "freshness" else None,
        error=None if ok else ProbeError(ErrorClass.HTTP_STATUS, "503"))


def build(targets: int, rng: random.Random) -> LiveState:
    state = LiveState()
    for round_ in range(20):
        state.observe([probe(rng, i, loc, T0 + round_ * 15_000)
                       for i in range(targets) for loc in LOCATIONS])
    return state


def advance(state: LiveState, targets: int, rng: random.Random, share: int, round_: int) -> None:
    """A new result for one series in ``share`` (1: every series)."""
    state.observe([probe(rng, i, loc, T0 + (20 + round_) * 15_000)
                   for i in range(targets) for j, loc in enumerate(LOCATIONS)
                   if (i * 3 + j + round_) % share == 0])


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1)}


async def serve(reg: CollectorRegistry, tmp: Path) -> tuple[web.AppRunner, str]:
    deps = ServerDeps(store=SQLiteStore(tmp / "s.db"), registry=reg, started_ms=0,
                      now_ms=lambda: T0, principals=Principals([(TOKEN, SCRAPER)]))
    runner = web.AppRunner(make_app(deps))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/metrics"


async def timed_get(session: aiohttp.ClientSession, url: str, encoding: str
                    ) -> tuple[float, bytes]:
    start = time.perf_counter()
    async with session.get(url, headers={"Accept-Encoding": encoding}) as resp:
        body = await resp.read()
        assert resp.status == 200, resp.status
    return time.perf_counter() - start, body


def steady(state: LiveState, collector: ProbeCollector, targets: int, rng: random.Random,
           round_: int) -> None:
    """15 s of results for every series, rendered ahead once a second but the last."""
    for second in range(15):
        advance(state, targets, rng, 15, round_ * 15 + second)
        if second < 14:
            collector.prerender()


async def condition(state: LiveState, reg: CollectorRegistry, url: str, targets: int,
                    rng: random.Random, share: int, scrapes: int,
                    collector: ProbeCollector | None = None) -> dict[str, Any]:
    gz: list[float] = []
    plain: list[float] = []
    alone: list[float] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, auto_decompress=False) as session:
        for n in range(scrapes):
            # Each measurement starts from the same kind of change, so each of the
            # three sees ``share`` of the series changed since the previous scrape.
            for out, measure in ((gz, "gzip"), (plain, "identity"), (alone, None)):
                if collector is not None:
                    steady(state, collector, targets, rng, n * 3 + len(out))
                else:
                    advance(state, targets, rng, share, n * 3 + len(out))
                if measure is None:
                    start = time.perf_counter()
                    await asyncio.to_thread(render, reg)
                    out.append(time.perf_counter() - start)
                else:
                    took, _ = await timed_get(session, url, measure)
                    out.append(took)
    return {"scrape_gzip": stats(gz), "scrape_plain": stats(plain), "render_only": stats(alone)}


async def one_size(targets: int, scrapes: int, seed: int, exclude: list[str]
                   ) -> dict[str, Any]:
    rng = random.Random(seed)
    state = build(targets, rng)
    reg = CollectorRegistry(auto_describe=True)
    collector = ProbeCollector(state, exclude)
    reg.register(collector)
    reg.register(SloCollector(state, lambda: T0))
    with tempfile.TemporaryDirectory() as tmp:
        runner, url = await serve(reg, Path(tmp))
        try:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"},
                                             auto_decompress=False) as session:
                _, zipped = await timed_get(session, url, "gzip")
                _, body = await timed_get(session, url, "identity")
            assert gzip.decompress(zipped) == body == generate_latest(reg)
            doc: dict[str, Any] = {
                "targets": targets, "locations": len(LOCATIONS),
                "series": sum(1 for line in body.splitlines() if not line.startswith(b"#")),
                "bytes_plain": len(body), "bytes_gzip": len(zipped),
            }
            for name, share in (("all_changed", 1), ("quarter_changed", 4)):
                doc[name] = await condition(state, reg, url, targets, rng, share, scrapes)
            doc["steady_15s"] = await condition(state, reg, url, targets, rng, 1, scrapes,
                                                collector)
            doc["prometheus_client_generate_latest"] = reference(state, reg, targets, rng,
                                                                 max(3, scrapes // 4))
        finally:
            await runner.cleanup()
    return doc


def reference(state: LiveState, reg: CollectorRegistry, targets: int, rng: random.Random,
              runs: int) -> dict[str, Any]:
    """The same registry through prometheus_client.generate_latest (the /metrics
    handler before: a Sample object per line), every series changed, and gzip at
    Python's default level 9 as a ``gzip.compress`` would do."""
    timings: list[float] = []
    body = b""
    for n in range(runs):
        advance(state, targets, rng, 1, 1000 + n)
        timings.append(_time(lambda: generate_latest(reg)))
    body = generate_latest(reg)
    return {"render": stats(timings), "bytes_plain": len(body),
            "gzip_default_level_ms": round(_time(lambda: gzip.compress(body)) * 1000, 1)}


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000,3000", help="targets per run, comma-separated")
    ap.add_argument("--scrapes", type=int, default=20, help="measured scrapes per condition")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--exclude", default="", help="probe families left out, comma-separated "
                    "(exporters.prometheus.exclude), e.g. slaguard_probe_duration_seconds")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    exclude = [name for name in args.exclude.split(",") if name]
    runs = []
    for n in sizes:
        print(f"{n} targets × {len(LOCATIONS)} locations …", file=sys.stderr)
        runs.append(asyncio.run(one_size(n, args.scrapes, args.seed, exclude)))
    print(json.dumps({"benchmark": "metrics_scrape", "scrapes": args.scrapes, "exclude": exclude,
                      "python": sys.version.split()[0], "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
