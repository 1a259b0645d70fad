"""Capacity runs over HTTP (aiohttp, JSON; one HTML page per run).

    GET  /api/v1/capacity/runs              ?limit=N (default 50): newest first, summaries
    GET  /api/v1/capacity/runs/{id}         the whole record ({"run": …})
    GET  /api/v1/capacity/runs/{id}/page    the run's HTML page
    POST /api/v1/capacity/runs              {"job": NAME}: start it now (202 {"run": id})
    POST /api/v1/capacity/kill              {"by": NAME}: stop the running one (within 5 s)

A run that cannot start (another runs, the kill switch is on) is a 409, an unknown
job or run a 404, bad input a 400 naming the field.  Who may ask is the route table
of ``slaguard.access`` (GET staff read, POST staff write), checked before a handler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from capacity.job import CapacityScheduler
from capacity.page import page_response
from capacity.runner import CapacityBusy, CapacityRefused, UnknownJob, request_kill
from capacity.store import CapacityStore, RunNotFound
from slaguard import access
from slaguard.jsonapi import MAX_NAME, body, error, query_text, reply, text

PATH = "/api/v1/capacity"
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000
SUMMARY = ("id", "job", "verdict", "started_by", "start", "end", "peak_users", "aborted_by",
           "invalid_reason")


@dataclass
class CapacityApi:
    store: CapacityStore
    scheduler: CapacityScheduler


CAPACITY_API: web.AppKey[CapacityApi] = web.AppKey("capacity_api", CapacityApi)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    total = doc.get("total") or {}
    return {k: doc.get(k) for k in SUMMARY} | {
        "requests": total.get("count"), "failures": total.get("failures"),
        "p95_ms": total.get("p95_ms")}


def _limit(request: web.Request) -> int:
    raw = query_text(request, "limit", 8)
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValueError(f"limit: expected a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


async def list_runs(request: web.Request) -> web.Response:
    api = request.app[CAPACITY_API]
    try:
        limit = _limit(request)
    except ValueError as e:
        raise error(web.HTTPBadRequest, str(e)) from None
    docs = await asyncio.to_thread(api.store.listing, limit)
    running = await asyncio.to_thread(api.store.running)
    return reply({"runs": [summary(d) for d in docs],
                  "running": None if running is None else running["id"]})


async def _run(request: web.Request) -> dict[str, Any]:
    api = request.app[CAPACITY_API]
    try:
        return await asyncio.to_thread(api.store.get, request.match_info["id"])
    except RunNotFound as e:
        raise error(web.HTTPNotFound, f"id: {e}") from None


async def show_run(request: web.Request) -> web.Response:
    return reply({"run": await _run(request)})


async def run_page(request: web.Request) -> web.Response:
    return page_response(await _run(request))


def _by(request: web.Request, doc: dict[str, Any]) -> str:
    who = access.principal(request)
    by = text(doc, "by", MAX_NAME, default=getattr(who, "name", None) or "api")
    return f"api:{by}"


async def start_run(request: web.Request) -> web.Response:
    api = request.app[CAPACITY_API]
    try:
        doc = await body(request)
        job = text(doc, "job", MAX_NAME)
        by = _by(request, doc)
    except ValueError as e:
        raise error(web.HTTPBadRequest, str(e)) from None
    try:
        run_id = await api.scheduler.run_now(job, by)
    except CapacityBusy as e:
        raise error(web.HTTPConflict, str(e)) from None
    except UnknownJob as e:
        raise error(web.HTTPNotFound, f"job: {e}") from None
    except CapacityRefused as e:
        raise error(web.HTTPConflict, str(e)) from None
    return reply({"run": run_id, "job": job, "url": f"{PATH}/runs/{run_id}"}, status=202)


async def kill(request: web.Request) -> web.Response:
    api = request.app[CAPACITY_API]
    try:
        by = _by(request, await body(request))
    except ValueError as e:
        raise error(web.HTTPBadRequest, str(e)) from None
    record = api.scheduler.runner.settings.record
    try:
        run_id = await asyncio.to_thread(request_kill, record, api.store, by)
    except CapacityRefused as e:
        raise error(web.HTTPConflict, str(e)) from None
    return reply({"killed": run_id, "by": by})


def add_routes(app: web.Application, api: CapacityApi) -> None:
    """Add the capacity routes to ``app``."""
    app[CAPACITY_API] = api
    app.router.add_get(f"{PATH}/runs", list_runs)
    app.router.add_post(f"{PATH}/runs", start_run)
    app.router.add_get(f"{PATH}/runs/{{id}}", show_run)
    app.router.add_get(f"{PATH}/runs/{{id}}/page", run_page)
    app.router.add_post(f"{PATH}/kill", kill)
