"""The HTTP server: /metrics, /healthz and the JSON API; errors as JSON everywhere.

Every route of the one web application (this module's, the alerting and claims
APIs, the status page, the portal) answers an error as
``{"error": …, "field": …}`` with ``application/json`` — aiohttp's own 404
(no such route), 405 (wrong method) and 413 (body too large) and an unexpected
exception (500, logged) included: :func:`json_errors` converts what a handler
raised or returned as text.  One exception: a browser (``Accept`` preferring
``text/html``) asking outside ``/api/`` gets the page's own answer, so a person
on /status or /portal sees a page, not JSON.  A request that is not HTTP at all
(a malformed request line or header) is answered by aiohttp's protocol layer
with a plain 400 before any route or middleware sees it, and logged as one
WARNING a minute with a count (:class:`RejectionLog`), never a traceback per
request.  Handlers read their input through ``slaguard.jsonapi``'s strict
parsers, so bad input is a 4xx naming the field, never a 500.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

import slo
from capacity.windows import RunWindow, flag_results
from exporters.exposition import accepts_gzip, compress, render
from slaguard.access import Principals, principal, protect
from slaguard.domain import to_interchange
from slaguard.errors import SlaguardError
from slaguard.evaluation import Evaluator
from slaguard.jsonapi import (
    dumps,
    error,
    error_doc,
    query_instant,
    query_int,
    query_text,
    reply,
)
from slaguard.store import SQLiteStore

log = logging.getLogger(__name__)

MAX_RESULTS = 10_000


@dataclass
class ServerDeps:
    store: SQLiteStore
    registry: CollectorRegistry
    started_ms: int
    now_ms: Callable[[], int]
    evaluator: Evaluator | None = None
    # Why the service is degraded (e.g. the record cannot commit), or None.
    trouble: Callable[[], str | None] = lambda: None
    # Whom each bearer token names (slaguard.access); none: only public routes answer.
    principals: Principals = field(default_factory=lambda: Principals(()))
    # The capacity runs (load tests) between two instants: results taken during one
    # are flagged ``capacity_run`` (they still count; customers saw them).
    capacity_windows: Callable[[int, int], list[RunWindow]] = lambda frm, to: []


DEPS: web.AppKey[ServerDeps] = web.AppKey("deps", ServerDeps)


async def metrics(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    gzipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    # Collection, rendering and compression all run off the loop (the state's lock
    # is held only to copy what changed), so a big scrape never stalls probe timing.
    body = await asyncio.to_thread(_exposition, deps.registry, gzipped)
    resp = web.Response(body=body, headers={"Vary": "Accept-Encoding"})
    if gzipped:
        resp.headers["Content-Encoding"] = "gzip"
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


def _exposition(registry: CollectorRegistry, gzipped: bool) -> bytes:
    body = render(registry)
    return compress(body) if gzipped else body


async def healthz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    uptime_s = (deps.now_ms() - deps.started_ms) // 1000
    reason = deps.trouble()
    if reason is not None:  # a 503 so load balancers and probes of slaguard see it
        return web.json_response({"status": "degraded", "reason": reason,
                                  "uptime_s": uptime_s}, status=503)
    return web.json_response({"status": "ok", "uptime_s": uptime_s})


async def results(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:  # one strict parser per kind of input (slaguard.jsonapi): a 400 naming it
        target, location = query_text(request, "target"), query_text(request, "location")
        frm, to = query_instant(request, "from"), query_instant(request, "to")
        limit = query_int(request, "limit", MAX_RESULTS)
    except ValueError as e:
        raise error(web.HTTPBadRequest, str(e)) from None
    if frm is not None and to is not None and to <= frm:
        raise error(web.HTTPBadRequest, "to: must be after from")
    limit = min(limit or MAX_RESULTS, MAX_RESULTS)
    rows = await asyncio.to_thread(deps.store.results, target, frm, to, location, limit + 1)
    truncated, rows = len(rows) > limit, rows[:limit]
    docs = [to_interchange(r) for r in rows]
    if rows:
        windows = await asyncio.to_thread(deps.capacity_windows, rows[0].ts_ms,
                                          rows[-1].ts_ms + 1)
        for d, (_, run) in zip(docs, flag_results(rows, windows, lambda r: r.ts_ms),
                               strict=True):
            if run is not None:
                d["capacity_run"] = run
    return web.json_response({
        "results": docs,
        "truncated": truncated,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
    }, dumps=dumps)


async def slo_report(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    if deps.evaluator is None:
        raise error(web.HTTPNotFound, "no SLO evaluation configured")
    now = deps.now_ms()
    tz = deps.evaluator.policy.timezone
    try:
        month = query_text(request, "month") or slo.month_containing(now, tz).label
        service = query_text(request, "service")
    except ValueError as e:
        raise error(web.HTTPBadRequest, str(e)) from None
    if service is not None and service not in deps.evaluator.cfg.services:
        raise error(web.HTTPNotFound, f"service: no service named {service!r}")
    services = None if service is None else [service]
    who = principal(request)
    if who is not None and who.kind == "customer":  # its own services, never another's
        own = next(c.services for c in deps.evaluator.cfg.customers if c.id == who.customer)
        if service is not None and service not in own:
            raise error(web.HTTPForbidden, f"service: {service!r} is not a service of "
                        "this customer")
        services = services or list(own)
    try:
        period = slo.parse_month(month, tz)
    except ValueError as e:
        raise error(web.HTTPBadRequest, f"month: {e}") from None
    report = await asyncio.to_thread(deps.evaluator.report, period, now, services)
    doc = report.to_dict()
    if who is not None and who.kind == "customer":
        doc = own_slos(doc, who.customer or "", set(services or ()),
                       deps.evaluator.cfg.target_services)
    return web.json_response(doc, dumps=dumps)


def own_slos(doc: dict[str, Any], customer: str, own: set[str],
             target_services: dict[str, str]) -> dict[str, Any]:
    """A customer's view of a report: the latency, RPO, RTO and backup objectives that touch
    one of its services (the report covers every objective), its own restorations, and the
    incidents of its own or of its services (the per-priority figures count everyone's:
    left out)."""
    def touches(entry: dict[str, Any]) -> bool:
        served = set(entry.get("services") or ())
        served |= {target_services.get(t, "") for t in entry.get("targets") or ()}
        return bool(served & own)

    rto = [{**x, "services": [s for s in x["services"] if s in own],
            "outages": [o for o in x["outages"] if o["service"] in own]}
           for x in doc["rto"] if touches(x)]
    incidents = doc.get("incidents")
    if incidents is not None:
        incidents = {**incidents, "by_priority": [], "list": [
            i for i in incidents["list"] if i["customer"] == customer
            or (i["customer"] is None and set(i["services"]) & own)]}
    backups = [b for b in doc.get("backups", []) if target_services.get(b["of"]) in own]
    return {**doc, "latency": [x for x in doc["latency"] if touches(x)],
            "rpo": [x for x in doc["rpo"] if touches(x)], "rto": rto, "incidents": incidents,
            "backups": backups,
            "rpo_risk": [f"{b['target']}: {b['status']}" for b in backups if b["rpo_risk"]]}


# -- errors as JSON ----------------------------------------------------------------------


def _quality(accept: str, wanted: str) -> float:
    """The q of ``wanted`` in an Accept header (``*/*`` and ``type/*`` count)."""
    best = 0.0
    kind = wanted.split("/")[0]
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if media in (wanted, f"{kind}/*", "*/*"):
            q = next((p[2:] for p in params if p.startswith("q=")), "1")
            try:
                best = max(best, float(q))
            except ValueError:
                continue
    return best


def wants_page(request: web.Request) -> bool:
    """A browser on a page: outside /api/, and HTML preferred over JSON."""
    if request.path.startswith("/api/"):
        return False
    accept = request.headers.get("Accept", "")
    return _quality(accept, "text/html") > _quality(accept, "application/json")


_STATUS_PREFIX = re.compile(r"^\d{3}: ")
_MAX_BODY = re.compile(r"size (\d+) exceeded")


def _message(request: web.Request, status: int, text: str | None,
             exc: web.HTTPException | None) -> str:
    """What went wrong, in words: aiohttp's defaults ("404: Not Found") say little."""
    text = (text or "").strip()
    if text and text != f"{status}: {HTTPStatus(status).phrase}":
        if status == 413 and (m := _MAX_BODY.search(text)):
            return f"body: too large (at most {m[1]} bytes)"
        return _STATUS_PREFIX.sub("", text)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return f"method {exc.method} is not allowed on {request.path} (allowed: {allowed})"
    if status == 404 and request.match_info.http_exception is not None:
        return f"no such endpoint: {request.path}"
    return HTTPStatus(status).phrase.lower()


def _as_json(request: web.Request, status: int, text: str | None,
             headers: web.StreamResponse | None,
             exc: web.HTTPException | None = None) -> web.Response:
    resp = reply(error_doc(_message(request, status, text, exc), status), status)
    if headers is not None:  # WWW-Authenticate, Allow, Retry-After … stay
        for name, value in headers.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                resp.headers[name] = value
    return resp


def _is_text_error(resp: web.StreamResponse) -> bool:
    """An error in aiohttp's default form: plain text (JSON and pages stay as made)."""
    return (resp.status >= 400 and isinstance(resp, web.Response)
            and resp.content_type == "text/plain")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error of every route as JSON (see the module's docstring)."""
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if not _is_text_error(exc) or wants_page(request):
            raise
        return _as_json(request, exc.status, exc.text, exc, exc)
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            return _failed(request, e)
        # /static/ with a path longer than a file name may be: no such file, not a fault.
        if wants_page(request):
            raise web.HTTPNotFound() from None
        return _as_json(request, 404, f"no such file: {request.path[:100]}…", None)
    except Exception as e:
        return _failed(request, e)
    if _is_text_error(resp) and not wants_page(request):
        assert isinstance(resp, web.Response)
        return _as_json(request, resp.status, resp.text, resp)
    return resp


def _failed(request: web.Request, exc: Exception) -> web.Response:
    """A bug, not bad input: logged with its traceback (the path bounded: a client chooses
    it), answered 500."""
    if wants_page(request):
        raise exc  # aiohttp logs it and answers the browser
    log.exception("%s %s failed", request.method, request.path[:200])
    return _as_json(request, 500, "internal error; the server's log has the details", None)


def make_app(deps: ServerDeps) -> web.Application:
    """The application on ``server.listen``: every route behind its role (slaguard.access)."""
    app = web.Application(middlewares=[json_errors])
    app[DEPS] = deps
    protect(app, deps.principals)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/results", results)
    app.router.add_get("/api/v1/slo", slo_report)
    return app


def make_internal_app(deps: ServerDeps) -> web.Application:
    """The application on ``server.internal_listen``: /metrics and /healthz without a
    token, for a network only monitoring reaches; nothing else is served there."""
    app = web.Application(middlewares=[json_errors])
    app[DEPS] = deps
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


# -- listening ------------------------------------------------------------------------


class ListenError(SlaguardError):
    """The server cannot listen where the configuration says."""


_LISTEN_FIX = {
    errno.EADDRINUSE: "stop the other process or choose another port",
    errno.EADDRNOTAVAIL: "use an address of this machine, or 0.0.0.0 for every one",
    errno.EACCES: "a port below 1024 needs privileges; choose a port above 1023",
}


def listen_problem(host: str, port: int, e: OSError, setting: str = "server.listen") -> str:
    """One line: where, why, which setting, and what to do."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(e, socket.gaierror):
        why, fix = f"unknown host {host!r}", "use an IP address or a name this machine resolves"
    else:
        why = os.strerror(e.errno).lower() if e.errno else str(e)
        fix = _LISTEN_FIX.get(e.errno or 0, "check the address")
    return f"cannot listen on {where}: {why} ({setting}; {fix})"


class RejectionLog(logging.Filter):
    """aiohttp's protocol layer logs every request it cannot parse (a bad request line or
    header) with a traceback, from ``aiohttp.server``: any anonymous client could flood the
    log.  This filter turns those into one WARNING per ``every_s`` with the count; any
    other record (a handler's bug) passes unchanged."""

    def __init__(self, every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s, self.clock = every_s, clock
        self.count = 0
        self.last: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        self.count += 1
        now = self.clock()
        if self.last is not None and now - self.last < self.every_s:
            return False
        record.msg = ("rejected %d malformed HTTP request(s) in the last %d s (last: %s); "
                      "further ones are counted, one line per %d s")
        why = " ".join(str(exc.message).split())[:200] or type(exc).__name__
        record.args = (self.count, self.every_s, why, self.every_s)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        self.count, self.last = 0, now
        return True


def quiet_rejections(logger: logging.Logger | None = None) -> RejectionLog:
    """Install the :class:`RejectionLog` filter on aiohttp's server logger, once."""
    logger = logger or logging.getLogger("aiohttp.server")
    for f in logger.filters:
        if isinstance(f, RejectionLog):
            return f
    f = RejectionLog()
    logger.addFilter(f)
    return f


async def serve(app: web.Application, host: str, port: int,
                setting: str = "server.listen") -> web.AppRunner:
    """Listen on ``host:port``; :class:`ListenError` (after cleaning up) when it cannot."""
    quiet_rejections()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        raise ListenError(listen_problem(host, port, e, setting)) from None
    return runner
