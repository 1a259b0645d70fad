"""The claims API and statement downloads (aiohttp, JSON).

    GET  /api/v1/claims                         ?customer= &month= &state= (newest first)
    POST /api/v1/claims                         {"month", "description", "evidence": [...],
                                                 "start", "end"}; staff add "customer", "by"
    GET  /api/v1/claims/{id}                    with its audit log and evidence files
    GET  /api/v1/claims/{id}/files/{n}          evidence file n (staff, or its customer)
    POST /api/v1/claims/{id}/review             {"by", "note"}                 staff
    POST /api/v1/claims/{id}/confirm-technical  {"by", "note"}                 staff
    POST /api/v1/claims/{id}/compute            {"by"}                         staff
    POST /api/v1/claims/{id}/confirm            {"settlement"}; staff add "by"
    POST /api/v1/claims/{id}/execute            {"by", "reference"}            staff
    POST /api/v1/claims/{id}/reject             {"by", "reason"}               staff
    GET  /api/v1/statements/{customer}/{month}  ?format=json|csv|html|pdf &version=N
    GET  /api/v1/statements/{customer}/{month}/versions

Every route needs ``Authorization: Bearer <token>``; who may call which is the
route table of ``slaguard.access`` (staff, or a customer for itself), checked
before a handler runs.  Here: a customer on another customer's claim or
statement → 403.  Invalid transitions and refused
steps → 409 with the reason; unknown claims → 404.  ``{id}`` is ``CLM-7`` or ``7``.

A statement download carries its state in ``X-Slaguard-Statement-State``
(``provisional``, ``preliminary`` or ``frozen``), and for a frozen one its
archive version (``X-Slaguard-Statement-Version``); ``X-Slaguard-Statement-Hash``
is the statement's content hash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from compensation.claims import (
    Actor,
    ClaimConflict,
    ClaimForbidden,
    ClaimNotFound,
    ClaimService,
    StoredFile,
    claim_json,
)
from compensation.lifecycle import (
    NoSuchVersion,
    Rendered,
    StatementLifecycle,
    StatementLifecycleError,
)
from compensation.statements import UnknownCustomer
from exporters.statement_pdf import CJKFontMissing
from slaguard import access
from slaguard.jsonapi import (
    MAX_NAME,
    body,
    error,
    opt_text,
    path_id,
    query_int,
    query_text,
    reply,
    unauthorized,
)
from slo.periods import MonthError, rfc3339

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CLAIM_ID = r"{id:(CLM-|clm-)?[0-9]+}"
# Evidence is the customer's upload: never rendered by the browser in our origin.
FILE_CSP = "default-src 'none'; sandbox"


@dataclass
class ClaimsApi:
    claims: ClaimService
    statements: StatementLifecycle

    @property
    def timezone(self) -> str:
        return self.claims.timezone


CLAIMS_API: web.AppKey[ClaimsApi] = web.AppKey("claims_api", ClaimsApi)


def _api(request: web.Request) -> ClaimsApi:
    return request.app[CLAIMS_API]


# -- who is asking ---------------------------------------------------------------------------


def principal(request: web.Request) -> Actor:
    """Staff or a customer, as the access check resolved the bearer token
    (``slaguard.access``: the route's role was checked before the handler ran)."""
    who = access.principal(request)
    if who is None or who.kind == "scraper":
        raise unauthorized()
    return Actor.of_customer(who.customer or "") if who.kind == "customer" else Actor(
        "staff", "staff")


async def _staff(request: web.Request) -> tuple[Actor, dict[str, Any]]:
    """A staff step (the route's role, checked before the body is read); the person is the
    body's ``by``, required because the audit log names people, not tokens."""
    doc = await body(request)
    return Actor.staff(opt_text(doc, "by", MAX_NAME)), doc


async def _acting(request: web.Request) -> tuple[Actor, dict[str, Any]]:
    """A customer as itself, or staff (named by ``by``) acting for a customer."""
    who = principal(request)
    doc = await body(request)
    return (who if who.role == "customer" else Actor.staff(opt_text(doc, "by", MAX_NAME))), doc


def guarded(handler: Handler) -> Handler:
    """Domain errors become 4xx with a JSON body saying why."""
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ClaimNotFound, UnknownCustomer, NoSuchVersion) as e:
            raise error(web.HTTPNotFound, str(e)) from None
        except ClaimForbidden as e:
            raise error(web.HTTPForbidden, str(e)) from None
        except (ClaimConflict, StatementLifecycleError) as e:
            raise error(web.HTTPConflict, str(e)) from None
        except MonthError as e:  # the path's or the body's month
            raise error(web.HTTPBadRequest, f"month: {e}") from None
        except ValueError as e:
            raise error(web.HTTPBadRequest, str(e)) from None
        except CJKFontMissing as e:  # the server's fault, not the request's: try again later
            raise error(web.HTTPServiceUnavailable, str(e)) from None
    return run


def _opt_text(doc: Mapping[str, Any], key: str) -> str:
    return opt_text(doc, key, MAX_NAME if key in ("customer", "month", "settlement") else 1000)


def claim_id(request: web.Request) -> str:
    """The path's claim id (``CLM-7`` or ``7``); one with more digits than any stored id is
    no claim (404), never a number the store cannot hold (shared with the portal)."""
    raw = request.match_info["id"]
    if path_id(request, "CLM-") is None:
        raise ClaimNotFound(f"no claim {raw[:40]!r} (ids look like CLM-7)")
    return raw


_claim_id = claim_id


def _claimreply(api: ClaimsApi, claim: Any, status: int = 200) -> web.Response:
    return reply({"claim": claim_json(claim, api.timezone)}, status)


# -- claims ------------------------------------------------------------------------------------


@guarded
async def list_claims(request: web.Request) -> web.Response:
    api, who = _api(request), principal(request)
    found = await asyncio.to_thread(api.claims.find, who, query_text(request, "customer"),
                                    query_text(request, "month"), query_text(request, "state"))
    return reply({"claims": [claim_json(c, api.timezone) for c in found]})


@guarded
async def submit(request: web.Request) -> web.Response:
    api, who = _api(request), principal(request)
    doc = await body(request)
    if who.role == "customer":
        if _opt_text(doc, "customer") not in ("", who.customer):
            raise ClaimForbidden("a customer submits claims for itself only")
        customer = who.customer
    else:
        who = Actor.staff(opt_text(doc, "by", MAX_NAME))
        customer = _opt_text(doc, "customer")
        if not customer:
            raise ValueError("customer: required when staff submit for a customer")
    new = await asyncio.to_thread(api.claims.new_claim, customer or "",
                                  _opt_text(doc, "month"), doc.get("description"),
                                  doc.get("evidence"), doc.get("start"), doc.get("end"))
    claim = await asyncio.to_thread(api.claims.submit, new, who)
    return _claimreply(api, claim, 201)


@guarded
async def get_claim(request: web.Request) -> web.Response:
    api, who = _api(request), principal(request)
    claim, log = await asyncio.to_thread(api.claims.get, _claim_id(request), who)
    files = await asyncio.to_thread(api.claims.files, claim.id, who)
    return reply({"claim": claim_json(claim, api.timezone, log, files)})


def file_response(f: StoredFile, data: bytes) -> web.Response:
    """An evidence file as a download: always an attachment, sandboxed, not sniffed, not
    cached (shared by the API and the portal)."""
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_"
                         for c in f.name)
    return web.Response(body=data, headers={
        "Content-Type": f.content_type,
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(f.name, safe='')}",
        "Content-Security-Policy": FILE_CSP, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store", "X-Slaguard-Sha256": f.sha256})


@guarded
async def get_file(request: web.Request) -> web.Response:
    api, who = _api(request), principal(request)
    f, data = await asyncio.to_thread(api.claims.file, _claim_id(request),
                                      int(request.match_info["n"]), who)
    return file_response(f, data)


def _staff_step(step: Callable[[ClaimService, int | str, Actor, str], Any], text: str
                ) -> Handler:
    """A step only staff take, with one optional text (a note, a reference, a reason)."""

    @guarded
    async def handler(request: web.Request) -> web.Response:
        api, (who, doc) = _api(request), await _staff(request)
        claim = await asyncio.to_thread(step, api.claims, _claim_id(request), who,
                                        _opt_text(doc, text))
        return _claimreply(api, claim)

    return handler


review = _staff_step(ClaimService.review, "note")
confirm_technical = _staff_step(ClaimService.confirm_technical, "note")
execute = _staff_step(ClaimService.execute, "reference")
reject = _staff_step(ClaimService.reject, "reason")


@guarded
async def compute(request: web.Request) -> web.Response:
    api, (who, _doc) = _api(request), await _staff(request)
    claim = await asyncio.to_thread(api.claims.compute, _claim_id(request), who)
    return _claimreply(api, claim)


@guarded
async def confirm(request: web.Request) -> web.Response:
    api, (who, doc) = _api(request), await _acting(request)
    claim = await asyncio.to_thread(api.claims.confirm, _claim_id(request), who,
                                    _opt_text(doc, "settlement") or None)
    return _claimreply(api, claim)


# -- statements --------------------------------------------------------------------------------


def _statement_owner(request: web.Request) -> str:
    """The statement's customer, when the caller may read it (staff, or that customer)."""
    who = principal(request)
    customer = request.match_info["customer"]
    if who.role == "customer" and who.customer != customer:
        raise ClaimForbidden("a customer downloads its own statements only")
    return customer


def _version(request: web.Request) -> int | None:
    return query_int(request, "version", None, 1, 10**9)


def _download(r: Rendered) -> web.Response:
    headers = {"Content-Disposition": f'attachment; filename="{r.filename}"',
               "X-Slaguard-Statement-State": r.state,
               "X-Slaguard-Statement-Hash": r.hash,
               "Cache-Control": "private, no-store"}
    if r.version is not None:
        headers["X-Slaguard-Statement-Version"] = str(r.version)
    resp = web.Response(body=r.body, headers=headers)
    resp.content_type = r.content_type
    if r.format != "pdf":
        resp.charset = "utf-8"
    return resp


@guarded
async def download_statement(request: web.Request) -> web.Response:
    api = _api(request)
    customer = _statement_owner(request)
    fmt = query_text(request, "format", 16) or "json"
    rendered = await asyncio.to_thread(api.statements.render, customer,
                                       request.match_info["month"], fmt,
                                       api.claims.now_ms(), _version(request))
    return _download(rendered)


@guarded
async def statement_versions(request: web.Request) -> web.Response:
    api = _api(request)
    customer = _statement_owner(request)
    month = request.match_info["month"]
    api.statements.period(month)  # a malformed month is a 400, not an empty list
    found = await asyncio.to_thread(api.statements.archive.versions, customer, month)
    return reply({"customer": customer, "month": month, "versions": [
        {"version": v.version, "hash": v.hash, "total": v.total, "reason": v.reason,
         "created": rfc3339(v.created_ms, api.timezone), "created_by": v.created_by}
        for v in found]})


def register_routes(app: web.Application, api: ClaimsApi) -> None:
    """Add the claim and statement routes to ``app``."""
    app[CLAIMS_API] = api
    base = "/api/v1/claims"
    app.router.add_get(base, list_claims)
    app.router.add_post(base, submit)
    app.router.add_get(f"{base}/{_CLAIM_ID}", get_claim)
    app.router.add_get(f"{base}/{_CLAIM_ID}/files/{{n:[0-9]{{1,3}}}}", get_file)
    app.router.add_post(f"{base}/{_CLAIM_ID}/review", review)
    app.router.add_post(f"{base}/{_CLAIM_ID}/confirm-technical", confirm_technical)
    app.router.add_post(f"{base}/{_CLAIM_ID}/compute", compute)
    app.router.add_post(f"{base}/{_CLAIM_ID}/confirm", confirm)
    app.router.add_post(f"{base}/{_CLAIM_ID}/execute", execute)
    app.router.add_post(f"{base}/{_CLAIM_ID}/reject", reject)
    statements = "/api/v1/statements/{customer}/{month}"
    app.router.add_get(statements, download_statement)
    app.router.add_get(f"{statements}/versions", statement_versions)
