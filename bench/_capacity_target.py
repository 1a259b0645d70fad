"""The capacity bench's target: an aiohttp server in its own process that counts the
requests it answers and times each one itself (middleware entry to the response
written), so the bench can set what the capacity job reports beside what the target saw.

    python bench/_capacity_target.py PORT MIN_MS MAX_MS

``/work`` answers 200 after a uniform MIN_MS..MAX_MS wait; ``/stats`` answers
``{"count": n, "p95_ms": …, "mean_ms": …}`` (nearest rank over its own timings).
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

TIMINGS = web.AppKey("timings", list[float])


@web.middleware
async def timed(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    if request.path != "/work":
        return await handler(request)
    t0 = time.perf_counter()
    resp = await handler(request)
    try:
        await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:  # the user left (the run ended): not an answer
        return resp
    request.app[TIMINGS].append((time.perf_counter() - t0) * 1000)
    return resp


async def work(request: web.Request) -> web.Response:
    lo, hi = request.app["range"]
    await asyncio.sleep(random.uniform(lo, hi) / 1000)
    return web.Response(text="ok")


async def stats(request: web.Request) -> web.Response:
    timings: list[float] = request.app[TIMINGS]
    t = sorted(timings)
    p95 = t[max(0, math.ceil(len(t) * 0.95) - 1)] if t else None
    return web.json_response({"count": len(t), "p95_ms": p95,
                              "mean_ms": sum(t) / len(t) if t else None})


def main() -> None:
    try:  # as slaguard's processes: the target should cost the generator's cores little
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    port, lo, hi = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    app = web.Application(middlewares=[timed])
    app[TIMINGS] = []
    app["range"] = (lo, hi)
    app.router.add_get("/work", work)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=4096)


if __name__ == "__main__":
    main()
