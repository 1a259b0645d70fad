"""The customer portal: ``/portal`` — a customer's own statements and claims.

Authentication: the customer's token (``customers[].token``), either as
``Authorization: Bearer <token>`` (scripts, curl) or through the login form,
which sets an HttpOnly session cookie.  Why both: a browser cannot attach a
bearer header to a plain download link, so people need the cookie; scripts
should not have to scrape a form.  The cookie never holds the token: it holds
``customer.expiry.signature`` where the signature is an HMAC keyed by a hash of
that customer's token, so it survives a restart and works on every replica,
rotating the token ends every session of that customer, and a stolen cookie
expires (8 h).  ``SameSite=Lax`` (cross-site POSTs carry no cookie), ``Path=/portal``,
``Secure`` when the request came over HTTPS (directly or per
``X-Forwarded-Proto``).

    GET  /portal                                   statements and claims, or the login form (401)
    POST /portal/login                             form field ``token`` → 303 /portal + cookie
    POST /portal/logout                            → 303 /portal, cookie cleared
    GET  /portal/statements/{customer}/{YYYY-MM}.{html|pdf}

No credentials: 401.  Another customer's statement: 403.  A month outside
"first month with data … this month": 404.

Statements come from a function passed in (``StatementFn``), by default
``make_statement`` + ``exporters.statements.RENDERERS``, so a statement archive
can serve frozen closed months instead; claims from ``claims_for(customer_id)``
(default: none).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from compensation.statements import make_statement
from exporters.statements import RENDERERS
from probes.base import wall_ms
from slaguard.config.schema import Customer
from slaguard.errors import SlaguardError
from slaguard.evaluation import Evaluator
from slaguard.web import Pair, add_static, html_response
from slo.periods import month_containing

TEMPLATES = (Path(__file__).parent / "templates",)
COOKIE = "slaguard_portal"
SESSION_TTL_MS = 8 * 3600 * 1000
MONTH = r"{month:\d{4}-\d{2}}"
FORMATS: Mapping[str, tuple[str, str]] = {  # format → (content type, disposition)
    "html": ("text/html; charset=utf-8", "inline"),
    "pdf": ("application/pdf", "attachment"),
}
# The HTML statement carries its own <style>; nothing else may load or run.
STATEMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"

StatementFn = Callable[[str, str, str, int], str | bytes]  # customer, month, format, now
ClaimsFn = Callable[[str], list[dict[str, Any]]]

LABELS: Mapping[str, Pair] = {
    "title": ("客户门户", "Customer portal"),
    "login": ("登录", "Sign in"),
    "token": ("访问令牌", "Access token"),
    "token_help": ("请输入贵司的客户访问令牌。", "Enter your customer access token."),
    "bad_token": ("访问令牌无效。", "The access token is not valid."),
    "logout": ("退出", "Sign out"),
    "statements": ("服务补偿对账单", "Compensation statements"),
    "month": ("月份", "Month"),
    "status": ("状态", "Status"),
    "download": ("下载", "Download"),
    "closed": ("已结算月份", "Closed month"),
    "to_date": ("本月至今（暂定）", "Month to date (provisional)"),
    "no_statements": ("暂无对账单", "No statements yet"),
    "claims": ("补偿申请", "Claims"),
    "no_claims": ("暂无补偿申请", "No claims"),
    "status_page": ("服务状态", "Service status"),
}
# Claims as ``compensation.claims.claim_json`` gives them; other keys are not shown.
CLAIM_COLUMNS: Mapping[str, Pair] = {
    "id": ("编号", "Claim"), "month": ("月份", "Month"), "period": ("申请时段", "Period"),
    "state": ("进度", "Progress"), "amount": ("补偿金额", "Amount"),
    "settlement": ("补偿方式", "Settlement"), "submitted": ("提交时间", "Submitted"),
    "updated": ("更新时间", "Updated"), "description": ("说明", "Description"),
}
SETTLEMENTS: Mapping[str, str] = {"fee_reduction": "费用减免 Fee reduction",
                                  "extension": "服务延期 Service extension"}
CLAIM_STATES: Mapping[str, str] = {"rejected": "已拒绝 Rejected"}


def default_statements(evaluator: Evaluator) -> StatementFn:
    """Evaluate and render on request (closed months are recomputed from the record)."""
    def statement(customer_id: str, month: str, fmt: str, now_ms: int) -> str | bytes:
        return RENDERERS[fmt](make_statement(evaluator, customer_id, month, now_ms))
    return statement


def no_claims(customer_id: str) -> list[dict[str, Any]]:
    return []


def _key(token: str) -> bytes:
    return hashlib.sha256(b"slaguard-portal-session\0" + token.encode()).digest()


def sign(customer: Customer, expires_ms: int) -> str:
    assert customer.token is not None
    mac = hmac.new(_key(customer.token), f"{customer.id}\n{expires_ms}".encode(), "sha256")
    return f"{customer.id}.{expires_ms}.{mac.hexdigest()}"


def _when(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value)


def _state(claim: Mapping[str, Any]) -> str:
    step, state = claim.get("step"), str(claim.get("state", ""))
    if isinstance(step, Mapping) and {"number", "zh", "en"} <= step.keys():
        return f"{step['number']}/6 {step['zh']} · {step['en']}"
    return CLAIM_STATES.get(state, state)


def claim_cells(claim: Mapping[str, Any]) -> dict[str, str]:
    """One claim's display cells, by ``CLAIM_COLUMNS`` key (absent when the claim lacks it)."""
    cells = {k: str(claim[k]) for k in ("id", "month", "description") if claim.get(k)}
    cells.update({k: _when(claim[k]) for k in ("submitted", "updated") if claim.get(k)})
    period, statement = claim.get("period"), claim.get("statement")
    if isinstance(period, Mapping) and "start" in period and "end" in period:
        cells["period"] = f"{_when(period['start'])} – {_when(period['end'])}"
    if "state" in claim or "step" in claim:
        cells["state"] = _state(claim)
    if isinstance(statement, Mapping) and "total" in statement:
        cells["amount"] = f"{statement['total']} {statement.get('currency', '')}".strip()
    elif claim.get("amount"):
        cells["amount"] = str(claim["amount"])
    if claim.get("settlement"):
        cells["settlement"] = SETTLEMENTS.get(claim["settlement"], str(claim["settlement"]))
    return cells


def claim_table(claims: list[dict[str, Any]]) -> tuple[list[tuple[str, Pair]],
                                                       list[dict[str, str]]]:
    """The columns any claim fills (in ``CLAIM_COLUMNS`` order) and the rows."""
    rows = [claim_cells(c) for c in claims]
    return [(k, pair) for k, pair in CLAIM_COLUMNS.items() if any(k in r for r in rows)], rows


@dataclass
class Portal:
    evaluator: Evaluator
    statements: StatementFn | None = None
    claims_for: ClaimsFn = no_claims
    now_ms: Callable[[], int] = wall_ms
    session_ttl_ms: int = SESSION_TTL_MS
    render: StatementFn = field(init=False)

    def __post_init__(self) -> None:
        self.render = self.statements or default_statements(self.evaluator)

    def customers(self) -> list[Customer]:
        return [c for c in self.evaluator.cfg.customers if c.token]

    def by_token(self, token: str) -> Customer | None:
        found = None
        for c in self.customers():  # compare with every token: no early exit to time
            if hmac.compare_digest((c.token or "").encode(), token.encode()) and found is None:
                found = c
        return found

    def session(self, customer: Customer) -> str:
        return sign(customer, self.now_ms() + self.session_ttl_ms)

    def from_session(self, value: str) -> Customer | None:
        parts = value.rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) <= self.now_ms():
            return None
        for c in self.customers():
            if c.id == parts[0] and hmac.compare_digest(sign(c, int(parts[1])), value):
                return c
        return None

    def authenticate(self, request: web.Request) -> Customer | None:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            return self.by_token(token.strip()) if scheme.lower() == "bearer" else None
        cookie = request.cookies.get(COOKIE)
        return None if cookie is None else self.from_session(cookie)

    def months(self, customer: Customer) -> list[str]:
        """Months from the first result of the customer's services to this month, newest first."""
        store, tz = self.evaluator.store, self.evaluator.policy.timezone
        firsts = [rs[0].ts_ms for s in store.series() if s.service in customer.services
                  if (rs := store.results(s.target, location=s.location, limit=1))]
        if not firsts:
            return []
        period, current = month_containing(min(firsts), tz), month_containing(self.now_ms(), tz)
        labels = []
        while period.start_ms <= current.start_ms:
            labels.append(period.label)
            period = month_containing(period.end_ms, tz)
        return labels[::-1]


PORTAL_KEY: web.AppKey[Portal] = web.AppKey("portal", Portal)


def _private(resp: web.Response) -> web.Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _login_page(error: bool = False) -> web.Response:
    resp = html_response("login.html.j2", status=401, folders=TEMPLATES, L=LABELS, error=error)
    resp.headers["WWW-Authenticate"] = 'Bearer realm="slaguard portal"'
    return _private(resp)


def _unauthorized() -> web.Response:
    return web.Response(status=401, text="401: sign in at /portal or send a Bearer token",
                        headers={"WWW-Authenticate": 'Bearer realm="slaguard portal"'})


async def portal_home(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    customer = portal.authenticate(request)
    if customer is None:
        return _login_page()
    months = await asyncio.to_thread(portal.months, customer)
    columns, claims = claim_table(await asyncio.to_thread(portal.claims_for, customer.id))
    current = month_containing(portal.now_ms(), portal.evaluator.policy.timezone).label
    return _private(html_response(
        "portal.html.j2", folders=TEMPLATES, L=LABELS, customer=customer, months=months,
        current=current, formats=list(FORMATS), claims=claims, columns=columns))


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


async def login(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    form = await request.post()
    token = form.get("token")
    customer = portal.by_token(token) if isinstance(token, str) and token else None
    if customer is None:
        return _login_page(error=True)
    resp = web.Response(status=303, headers={"Location": "/portal"})
    resp.set_cookie(COOKIE, portal.session(customer), max_age=portal.session_ttl_ms // 1000,
                    path="/portal", httponly=True, samesite="Lax", secure=_secure(request))
    return _private(resp)


async def logout(request: web.Request) -> web.Response:
    resp = web.Response(status=303, headers={"Location": "/portal"})
    resp.del_cookie(COOKIE, path="/portal")
    return _private(resp)


async def statement(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    customer = portal.authenticate(request)
    if customer is None:
        return _unauthorized()
    cid, month, fmt = (request.match_info[k] for k in ("customer", "month", "fmt"))
    if cid != customer.id:
        raise web.HTTPForbidden(text="403: this statement belongs to another customer")
    if month not in await asyncio.to_thread(portal.months, customer):
        raise web.HTTPNotFound(text=f"404: no statement for {month}")
    try:
        body = await asyncio.to_thread(portal.render, cid, month, fmt, portal.now_ms())
    except (SlaguardError, LookupError) as e:
        raise web.HTTPNotFound(text=f"404: {e}") from None
    content_type, disposition = FORMATS[fmt]
    resp = web.Response(body=body.encode() if isinstance(body, str) else body, headers={
        "Content-Type": content_type,
        "Content-Disposition": f'{disposition}; filename="statement-{cid}-{month}.{fmt}"',
        "Content-Security-Policy": STATEMENT_CSP, "X-Content-Type-Options": "nosniff"})
    return _private(resp)


def register_routes(app: web.Application, portal: Portal) -> None:
    """``/portal``, its login/logout and statement downloads, and ``/static/``."""
    app[PORTAL_KEY] = portal
    app.router.add_get("/portal", portal_home)
    app.router.add_post("/portal/login", login)
    app.router.add_post("/portal/logout", logout)
    formats = "|".join(FORMATS)
    app.router.add_get(
        "/portal/statements/{customer:[A-Za-z0-9_.:-]+}/" + MONTH + ".{fmt:" + formats + "}",
        statement)
    add_static(app)
