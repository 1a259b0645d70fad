"""The benchmark's target server, run as its own process by probe_throughput.py.

    python bench/_target.py [--host 127.0.0.1] [--port 0] [--delay-ms 20]

Endpoints:

``GET /``        200 ``ok`` at once (the throughput endpoint)
``GET /delay``   200 ``ok`` after ``--delay-ms`` (the timing-error endpoint)
``GET /stats``   JSON: how long the /delay handler really took (the server's own
                 overshoot of the nominal delay, which every engine sees alike),
                 ``?reset=1`` clears the samples after reading them

Binds a loopback port (0: a free one, chosen by the kernel, so there is no
race) and prints ``PORT <n>`` on stdout once it accepts connections.  Access
logging is off: at thousands of requests a second it would cost more than the
requests themselves.  Exits cleanly on SIGTERM and SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import time

from aiohttp import web


def make_app(delay_s: float) -> web.Application:
    samples_us: list[int] = []

    async def plain(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def delay(_request: web.Request) -> web.Response:
        t0 = time.perf_counter_ns()
        await asyncio.sleep(delay_s)
        samples_us.append((time.perf_counter_ns() - t0) // 1000)
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        doc: dict[str, object] = {"delay_ms": delay_s * 1000, "count": len(samples_us)}
        if samples_us:
            ordered = sorted(samples_us)
            doc["handler_median_ms"] = statistics.median(ordered) / 1000
            doc["handler_p99_ms"] = ordered[min(len(ordered) - 1,
                                                 -(-99 * len(ordered) // 100) - 1)] / 1000
        if request.query.get("reset"):
            samples_us.clear()
        return web.Response(text=json.dumps(doc), content_type="application/json")

    app = web.Application()
    app.router.add_get("/", plain)
    app.router.add_get("/delay", delay)
    app.router.add_get("/stats", stats)
    return app


async def serve(host: str, port: int, delay_s: float) -> None:
    runner = web.AppRunner(make_app(delay_s), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay-ms", type=float, default=20.0)
    args = p.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
