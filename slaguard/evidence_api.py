"""The evidence of a result over HTTP (staff read, see slaguard.access):

``GET /api/v1/results/{id}/evidence``
    ``{"result": id, "files": [{"name", "size", "content_type", "url"}]}``; a result
    without evidence has an empty list (a success keeps none), so a link to it never
    breaks.
``GET /api/v1/results/{id}/evidence/{name}``
    one file (``screenshot.png``, ``trace.zip`` — open it at trace.playwright.dev or
    with ``playwright show-trace`` —, ``page.har``, ``meta.json``).

``GET /api/v1/evidence?target=T&from=F&to=U``
    every result of target ``T`` with evidence taken in ``[F, U)`` (epoch ms or RFC
    3339; ``to`` defaults to now), oldest first, each as above (at most 100): the
    link an incident or a statement's outage gives, which knows a target and a
    span but not the ids of the failures inside it.

``id`` is ``slaguard.domain.result_id`` (``target@location@ts_ms``), percent-encoded
in the path where it must be.  A malformed id is a 400 naming ``id``; an unknown
file a 404.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from slaguard.domain import EVIDENCE_SEARCH_PATH, evidence_path
from slaguard.evidence import FILES, EvidenceStore, parse_result_id
from slaguard.jsonapi import error, query_instant, query_text, reply

EVIDENCE_ROUTE = "/api/v1/results/{id}/evidence"
EVIDENCE_FILE_ROUTE = "/api/v1/results/{id}/evidence/{name}"
EVIDENCE_SEARCH_ROUTE = EVIDENCE_SEARCH_PATH
MAX_LISTED = 100
STORE: web.AppKey[EvidenceStore] = web.AppKey("evidence", EvidenceStore)


def evidence_url(rid: str, base: str = "") -> str:
    """Where a result's evidence is listed."""
    return f"{base.rstrip('/')}/api/v1/results/{quote(rid, safe='@:')}/evidence"


def span_url(target: str, start_ms: int, end_ms: int | None = None, base: str = "") -> str:
    """Where a target's evidence over a span is listed (incident and statement links)."""
    return f"{base.rstrip('/')}{evidence_path(target, start_ms, end_ms)}"


def _id(request: web.Request) -> str:
    rid = request.match_info["id"]
    try:
        parse_result_id(rid)
    except ValueError as exc:
        raise error(web.HTTPBadRequest, str(exc), "id") from None
    return rid


def _listing(store: EvidenceStore, rid: str) -> dict[str, object]:
    base = evidence_url(rid)
    return {"result": rid, "files": [
        {"name": f.name, "size": f.size, "content_type": f.content_type,
         "url": f"{base}/{f.name}"} for f in store.files(rid)]}


async def list_evidence(request: web.Request) -> web.Response:
    return reply(_listing(request.app[STORE], _id(request)))


async def search_evidence(request: web.Request) -> web.Response:
    try:
        target = query_text(request, "target", 128)
        start, end = query_instant(request, "from"), query_instant(request, "to")
        if target is None:
            raise ValueError("target: required")
        if start is None:
            raise ValueError("from: required")
    except ValueError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None
    store = request.app[STORE]
    chosen = [rid for rid in store.ids(target)
              if start <= parse_result_id(rid)[2] and (end is None or
                                                       parse_result_id(rid)[2] < end)]
    return reply({"target": target, "results": [_listing(store, rid)
                                                for rid in chosen[:MAX_LISTED]],
                  "more": len(chosen) > MAX_LISTED})


async def evidence_file(request: web.Request) -> web.FileResponse:
    rid = _id(request)
    name = request.match_info["name"]
    path = request.app[STORE].path(rid, name)
    if path is None:
        raise error(web.HTTPNotFound, f"name: no evidence file {name!r} for this result",
                    "name")
    disposition = "inline" if name.endswith((".png", ".json")) else "attachment"
    return web.FileResponse(path, headers={
        "Content-Type": FILES[name], "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": "private, max-age=3600"})


def register_routes(app: web.Application, store: EvidenceStore) -> None:
    app[STORE] = store
    app.router.add_get(EVIDENCE_ROUTE, list_evidence)
    app.router.add_get(EVIDENCE_FILE_ROUTE, evidence_file)
    app.router.add_get(EVIDENCE_SEARCH_ROUTE, search_evidence)
