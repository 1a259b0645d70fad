"""The HTTP server: /metrics, /healthz and the JSON API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

import slo
from slaguard.domain import InterchangeError, parse_ts, to_interchange
from slaguard.evaluation import Evaluator
from slaguard.jsonapi import dumps
from slaguard.store import SQLiteStore

MAX_RESULTS = 10_000


@dataclass
class ServerDeps:
    store: SQLiteStore
    registry: CollectorRegistry
    started_ms: int
    now_ms: Callable[[], int]
    evaluator: Evaluator | None = None


DEPS: web.AppKey[ServerDeps] = web.AppKey("deps", ServerDeps)


def _time_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if value.isdigit():
        return int(value)  # epoch milliseconds
    try:
        return parse_ts(value)
    except InterchangeError:
        raise web.HTTPBadRequest(
            text=f"{name}: expected RFC 3339 with offset or epoch milliseconds, got {value!r}"
        ) from None


async def metrics(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    # Collection reads locked state; run it off the loop so a big scrape never
    # stalls probe timing.
    body = await asyncio.to_thread(generate_latest, deps.registry)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


async def healthz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    uptime_s = (deps.now_ms() - deps.started_ms) // 1000
    return web.json_response({"status": "ok", "uptime_s": uptime_s})


async def results(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    target = request.query.get("target") or None
    frm, to = _time_param(request, "from"), _time_param(request, "to")
    if frm is not None and to is not None and to <= frm:
        raise web.HTTPBadRequest(text="to: must be after from")
    raw_limit = request.query.get("limit", str(MAX_RESULTS))
    if not raw_limit.isdigit() or int(raw_limit) < 1:
        raise web.HTTPBadRequest(text=f"limit: expected a positive integer, got {raw_limit!r}")
    limit = min(int(raw_limit), MAX_RESULTS)
    rows = await asyncio.to_thread(
        deps.store.results, target, frm, to, request.query.get("location") or None, limit + 1
    )
    truncated = len(rows) > limit
    return web.json_response({
        "results": [to_interchange(r) for r in rows[:limit]],
        "truncated": truncated,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
    }, dumps=dumps)


async def slo_report(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    if deps.evaluator is None:
        raise web.HTTPNotFound(text="no SLO evaluation configured")
    now = deps.now_ms()
    tz = deps.evaluator.policy.timezone
    month = request.query.get("month") or slo.month_containing(now, tz).label
    service = request.query.get("service") or None
    if service is not None and service not in deps.evaluator.cfg.services:
        raise web.HTTPNotFound(text=f"service: no service named {service!r}")
    try:
        period = slo.parse_month(month, tz)
    except ValueError as e:
        raise web.HTTPBadRequest(text=f"month: {e}") from None
    report = await asyncio.to_thread(deps.evaluator.report, period, now,
                                     None if service is None else [service])
    return web.json_response(report.to_dict(), dumps=dumps)


def make_app(deps: ServerDeps) -> web.Application:
    app = web.Application()
    app[DEPS] = deps
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/results", results)
    app.router.add_get("/api/v1/slo", slo_report)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
