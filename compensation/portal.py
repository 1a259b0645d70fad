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

Forms: every POST made with the session cookie carries a CSRF token bound to
that session (an HMAC of the cookie's value under the same key), and a POST
whose ``Sec-Fetch-Site`` says ``cross-site`` is refused, so the cookie's
``SameSite`` is not the only guard.  Bearer requests need no token: a browser
never adds that header on its own.

    GET  /portal                                   statements, claims, the claim form; or the
                                                   login form (401)
    POST /portal/login                             form field ``token`` → 303 /portal + cookie
    POST /portal/logout                            → 303 /portal, cookie cleared
    GET  /portal/statements/{customer}/{YYYY-MM}.{html|pdf}
    POST /portal/claims                            step 1 (multipart: month, description,
                                                   evidence, files) → 303 to the claim
    GET  /portal/claims/{id}                       the claim: its six steps, evidence, audit trail
    POST /portal/claims/{id}/confirm               step 5, the customer accepts the settlement
    GET  /portal/claims/{id}/files/{n}             an evidence file (download)

No credentials: 401.  Another customer's statement or claim: 403.  A month outside
"first month with data … this month": 404.

Statements come from a function passed in (``StatementFn``), by default
``make_statement`` + ``exporters.statements.RENDERERS``, so a statement archive
can serve frozen closed months instead; claims from the ``ClaimService`` (none
without one: the claim section then says so).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from compensation.claims import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TEXT,
    STEPS,
    Actor,
    ClaimConflict,
    ClaimError,
    ClaimForbidden,
    ClaimNotFound,
    ClaimService,
    EvidenceFile,
    claim_json,
    evidence_file,
)
from compensation.claims_api import claim_id as checked_claim_id
from compensation.claims_api import file_response
from compensation.statements import make_statement
from exporters.statements import RENDERERS
from probes.base import wall_ms
from slaguard.config.schema import Customer
from slaguard.errors import SlaguardError
from slaguard.evaluation import Evaluator
from slaguard.jsonapi import MAX_TOKEN, bearer, same_secret
from slaguard.jsonapi import form as form_fields
from slaguard.web import Pair, add_static, html_response
from slo.periods import local_date, month_containing, parse_month
from slo.statement import claim_deadline

TEMPLATES = (Path(__file__).parent / "templates",)
COOKIE = "slaguard_portal"
CSRF_FIELD = "csrf"
SESSION_TTL_MS = 8 * 3600 * 1000
MAX_SESSION = 512  # "customer.expiry.signature" is well under this
_EXPIRY = re.compile(r"[0-9]{1,15}")  # epoch ms, ASCII digits
MONTH = r"{month:\d{4}-\d{2}}"
CLAIM_ID = r"{id:CLM-[0-9]+}"
FORMATS: Mapping[str, tuple[str, str]] = {  # format → (content type, disposition)
    "html": ("text/html; charset=utf-8", "inline"),
    "pdf": ("application/pdf", "attachment"),
}
# The HTML statement carries its own <style>; nothing else may load or run.
STATEMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
MAX_FIELD_BYTES = 4 * MAX_TEXT  # a text field, in UTF-8 (up to 4 bytes a character)
MAX_FORM_BYTES = MAX_FILES * MAX_FILE_BYTES + 1024 * 1024  # the whole claim form

StatementFn = Callable[[str, str, str, int], str | bytes]  # customer, month, format, now

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
    "open_month": ("本月，暂定", "this month, provisional"),
    "no_statements": ("暂无对账单", "No statements yet"),
    "claims": ("补偿申请", "Claims"),
    "no_claims": ("暂无补偿申请", "No claims"),
    "claims_off": ("本门户暂不受理补偿申请，请联系客户经理。",
                   "Claims are not taken through this portal; please contact your account "
                   "manager."),
    "status_page": ("服务状态", "Service status"),
    "monitored": ("本月监测至今：已监测 {time}（本月的 {share}）",
                  "Monitored so far this month: {time} ({share} of the month)"),
    "not_monitored": ("本月尚未开始监测。", "Monitoring has not started this month."),
    "final_after": ("本月结束后出具正式对账单（下月第 5 个工作日），数字以正式对账单为准。",
                    "Final figures come with the statement after the month closes (on the "
                    "5th working day of next month)."),
    "nodata_up": ("未监测的时间按合同计为可用。", "Time not monitored counts as available, "
                                          "as the contract says."),
    "nodata_down": ("未监测的时间按合同计为不可用。", "Time not monitored counts as unavailable, "
                                            "as the contract says."),
    "nodata_exclude": ("未监测的时间按合同不计入本月。", "Time not monitored is left out of the "
                                               "month, as the contract says."),
    "new_claim": ("提交补偿申请", "Submit a claim"),
    "claim_steps": ("第 1 步（共 6 步）：选择月份，说明原因并附上证明。之后运营团队审核、"
                    "技术团队核实、财务部门计算金额，再请您确认补偿方案，最后执行补偿。"
                    "每一步都会记录在申请的处理记录中。",
                    "Step 1 of 6: choose the month, say why, and add your evidence. Operations "
                    "then reviews it, engineering confirms the problem, finance computes the "
                    "amount, you confirm the settlement, and the credit is applied. Every step "
                    "is recorded in the claim's audit trail."),
    "reason": ("申请原因", "Reason"),
    "reason_help": ("发生了什么、影响了哪些工作。", "What happened, and what it affected."),
    "evidence": ("证明材料（文字）", "Evidence (text)"),
    "evidence_help": ("每行一条：说明、工单号或链接（可不填）。",
                      "One item per line: a description, a ticket number or a link (optional)."),
    "files": ("证明文件", "Evidence files"),
    "files_help": (f"可选，最多 {MAX_FILES} 个，每个不超过 {MAX_FILE_BYTES // 1048576} MiB："
                   "PDF、PNG、JPEG 或文本文件（.txt、.log、.csv）。",
                   f"Optional, at most {MAX_FILES}, each up to {MAX_FILE_BYTES // 1048576} MiB: "
                   "PDF, PNG, JPEG or text (.txt, .log, .csv)."),
    "submit": ("提交申请", "Submit the claim"),
    "no_claimable": ("目前没有可以申请的月份：每月只能有一份进行中的申请，"
                     "申请期为该月结束后 {days} 天内。",
                     "No month can be claimed now: one live claim a month, within "
                     "{days} days after the month ends."),
    "not_submitted": ("申请未提交：", "The claim was not submitted:"),
    "refiles": ("如需附文件，请重新选择。", "Please choose the files again."),
    "not_done": ("操作未完成：", "Not done:"),
    "claim": ("补偿申请", "Claim"),
    "progress": ("处理进度", "Progress"),
    "rejected": ("申请已被拒绝", "The claim was rejected"),
    "details": ("申请内容", "What was claimed"),
    "period": ("申请时段", "Period"),
    "submitted": ("提交时间", "Submitted"),
    "evidence_list": ("证明材料", "Evidence"),
    "no_evidence": ("未提供", "none given"),
    "technical": ("技术核实：监测到的中断", "Engineering: the outages measured"),
    "no_outages": ("申请时段内未监测到中断。", "No outage was measured in the period."),
    "amount": ("补偿方案", "Settlement offered"),
    "audit": ("处理记录", "Audit trail"),
    "when": ("时间", "When"),
    "who": ("操作人", "By"),
    "action": ("操作", "Step"),
    "change": ("状态", "State"),
    "detail": ("说明", "Details"),
    "back": ("返回门户", "Back to the portal"),
    "confirm": ("确认补偿方案", "Confirm the settlement"),
    "confirm_help": ("请选择补偿方式。确认后由财务执行。",
                     "Choose how the credit is given. Finance applies it after you confirm."),
    "you": ("您", "you"),
    "staff": ("服务方", "provider"),
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
ACTIONS: Mapping[str, Pair] = {
    "submit": ("提交申请", "submitted"), "review": ("运营审核", "reviewed"),
    "confirm-technical": ("技术核实", "confirmed by engineering"),
    "compute": ("计算金额", "amount computed"), "confirm": ("客户确认", "confirmed"),
    "execute": ("执行补偿", "credit applied"), "reject": ("拒绝", "rejected"),
}
STATE_NAMES: Mapping[str, Pair] = {
    "submitted": ("已提交", "submitted"), "reviewed": ("已审核", "reviewed"),
    "technically_confirmed": ("已技术核实", "confirmed by engineering"),
    "computed": ("已计算金额", "amount computed"), "confirmed": ("已确认", "confirmed"),
    "executed": ("已执行", "credit applied"), "rejected": ("已拒绝", "rejected"),
}
# Audit details shown to the customer (others, such as hashes, stay in the API).
DETAILS: Mapping[str, Pair] = {
    "evidence": ("文字材料", "evidence items"), "files": ("文件", "files"),
    "note": ("备注", "note"), "outages": ("中断", "outages"),
    "overlap_seconds": ("重叠秒数", "seconds overlapping"), "number": ("对账单", "statement"),
    "version": ("版本", "version"), "total": ("金额", "amount"),
    "settlement": ("补偿方式", "settlement"), "reference": ("执行单号", "reference"),
    "reason": ("原因", "reason"), "days": ("延期天数", "days"), "amount": ("金额", "amount"),
}


def default_statements(evaluator: Evaluator) -> StatementFn:
    """Evaluate and render on request (closed months are recomputed from the record)."""
    def statement(customer_id: str, month: str, fmt: str, now_ms: int) -> str | bytes:
        return RENDERERS[fmt](make_statement(evaluator, customer_id, month, now_ms))
    return statement


def _key(token: str) -> bytes:
    return hashlib.sha256(b"slaguard-portal-session\0" + token.encode()).digest()


def sign(customer: Customer, expires_ms: int) -> str:
    assert customer.token is not None
    mac = hmac.new(_key(customer.token), f"{customer.id}\n{expires_ms}".encode(), "sha256")
    return f"{customer.id}.{expires_ms}.{mac.hexdigest()}"


def csrf_token(customer: Customer, session: str) -> str:
    """The form token of one session: whoever cannot read the page cannot know it."""
    assert customer.token is not None
    return hmac.new(_key(customer.token), f"csrf\n{session}".encode(), "sha256").hexdigest()


# -- what the pages show ---------------------------------------------------------------------


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


def steps_view(state: str) -> list[dict[str, Any]]:
    """The six steps, each done, current (the next one to happen) or to come."""
    order = [s for s, _, _ in STEPS]
    reached = order.index(state) if state in order else -1
    return [{"number": n, "zh": zh, "en": en,
             "status": "done" if n - 1 <= reached else
                       "current" if n - 1 == reached + 1 and state != "rejected" else "todo"}
            for n, (_, zh, en) in enumerate(STEPS, 1)]


def _detail_value(key: str, value: Any) -> str:
    if key == "files" and isinstance(value, list):
        return "、".join(str(f.get("name", "")) for f in value if isinstance(f, Mapping))
    if key == "settlement":
        return SETTLEMENTS.get(str(value), str(value))
    return str(value)


def detail_text(detail: Mapping[str, Any]) -> list[str]:
    """An audit line's details in words, known keys only, empty values left out."""
    return [f"{DETAILS[k][0]} {DETAILS[k][1]}: {_detail_value(k, v)}"
            for k, v in detail.items() if k in DETAILS and v not in (None, "", [], {})]


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1048576:.1f} MiB"


def duration_words(seconds: int) -> Pair:
    """"3 天 4 小时" / "3 days 4 hours": the two largest units, rounded down."""
    if seconds < 60:
        return "不到 1 分钟", "under a minute"
    days, rest = divmod(seconds, 86400)
    hours, minutes = divmod(rest // 60, 60)
    units = [(days, "天", "day"), (hours, "小时", "hour"), (minutes, "分钟", "minute")]
    shown = [(n, zh, en) for n, zh, en in units if n][:2]
    return (" ".join(f"{n} {zh}" for n, zh, _ in shown),
            " ".join(f"{n} {en}{'' if n == 1 else 's'}" for n, _, en in shown))


def share_text(part: int, whole: int) -> str:
    """A share for people: whole percent, one decimal below 10 %, "< 0.1 %" when tiny."""
    if whole <= 0 or part <= 0:
        return "0 %"
    per_mille = part * 1000 // whole
    if per_mille >= 100:
        return f"{per_mille // 10} %"
    if per_mille == 0:
        return "< 0.1 %"
    return f"{per_mille // 10}.{per_mille % 10} %"


@dataclass
class Portal:
    evaluator: Evaluator
    statements: StatementFn | None = None
    claims: ClaimService | None = None
    now_ms: Callable[[], int] = wall_ms
    session_ttl_ms: int = SESSION_TTL_MS
    render: StatementFn = field(init=False)

    def __post_init__(self) -> None:
        self.render = self.statements or default_statements(self.evaluator)

    def customers(self) -> list[Customer]:
        return [c for c in self.evaluator.cfg.customers if c.token]

    def by_token(self, token: str) -> Customer | None:
        if len(token) > MAX_TOKEN:
            return None
        # Compare with every token (no early exit to time).  A token names exactly one
        # principal: one that is also staff's or another customer's signs nobody in.
        found = [c for c in self.customers() if same_secret(token, c.token or "")]
        staff = self.evaluator.cfg.server.api_token
        if staff and same_secret(token, staff):
            return None
        return found[0] if len(found) == 1 else None

    def session(self, customer: Customer) -> str:
        return sign(customer, self.now_ms() + self.session_ttl_ms)

    def from_session(self, value: str) -> Customer | None:
        # A cookie we issued is short and ASCII ("id.expiry.hex"): anything else (an
        # oversize or non-ASCII cookie, a 5 000-digit expiry) is no session, not a crash.
        if len(value) > MAX_SESSION or not value.isascii():
            return None
        parts = value.rsplit(".", 2)
        if len(parts) != 3 or not _EXPIRY.fullmatch(parts[1]) or int(parts[1]) <= self.now_ms():
            return None
        for c in self.customers():
            if c.id == parts[0] and hmac.compare_digest(sign(c, int(parts[1])), value):
                return c
        return None

    def authenticate(self, request: web.Request) -> Customer | None:
        if request.headers.get("Authorization", ""):
            token = bearer(request)  # '' for another scheme or one that cannot be a token
            return self.by_token(token) if token else None
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

    @property
    def claim_window_days(self) -> int:
        return self.evaluator.cfg.compensation.claim_window_days

    def labels(self) -> Mapping[str, Pair]:
        """The page's labels, the configured claim window written into them."""
        zh, en = LABELS["no_claimable"]
        days = self.claim_window_days
        return {**LABELS, "no_claimable": (zh.format(days=days), en.format(days=days))}

    def claimable(self, customer: Customer, months: Sequence[str],
                  claims: Sequence[Mapping[str, Any]]) -> list[str]:
        """Months the customer may claim now: begun, window open, no live claim."""
        live = {c["month"] for c in claims if c.get("state") != "rejected"}
        tz, now = self.evaluator.policy.timezone, self.now_ms()
        today = local_date(now, tz)
        out = []
        for label in months:
            period = parse_month(label, tz)
            if label not in live and period.start_ms <= now \
                    and claim_deadline(period, self.claim_window_days) >= today:
                out.append(label)
        return out

    def monitoring(self, customer: Customer) -> dict[str, Any] | None:
        """This month so far, in words: how much of it the customer's services were watched
        (the least-watched service counts), for the provisional statement's row."""
        now, tz = self.now_ms(), self.evaluator.policy.timezone
        label = month_containing(now, tz).label
        try:
            report = self.evaluator.month(label, now, customer.services)
        except (SlaguardError, LookupError, ValueError):
            return None
        watched = [report.service(s).availability for s in customer.services]
        if not watched:
            return None
        known = min(a.elapsed_seconds - a.gap_seconds for a in watched)
        period = max(a.period_seconds for a in watched)
        time = duration_words(known)
        share = share_text(known, period)
        return {"known_seconds": known, "period_seconds": period,
                "zh": LABELS["monitored"][0].format(time=time[0], share=share),
                "en": LABELS["monitored"][1].format(time=time[1], share=share),
                "no_data": LABELS[f"nodata_{self.evaluator.policy.rules.no_data}"]}


PORTAL_KEY: web.AppKey[Portal] = web.AppKey("portal", Portal)


# -- responses -------------------------------------------------------------------------------


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


def _csrf(request: web.Request, customer: Customer) -> str:
    """The token this page's forms carry ('' for a bearer request, which needs none)."""
    cookie = request.cookies.get(COOKIE)
    return "" if cookie is None or "Authorization" in request.headers \
        else csrf_token(customer, cookie)


def _check_post(request: web.Request, customer: Customer, fields: Mapping[str, Any]) -> None:
    """A POST made by our own page: not cross-site, and with the session's form token."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise web.HTTPForbidden(text="403: a cross-site form cannot act in the portal")
    if "Authorization" in request.headers:
        return
    given, expected = fields.get(CSRF_FIELD), _csrf(request, customer)
    if not isinstance(given, str) or not expected or not hmac.compare_digest(given, expected):
        raise web.HTTPForbidden(text="403: the form has expired or did not come from this "
                                     "portal; reload the page and try again")


def _claims_of(portal: Portal, customer: Customer) -> list[dict[str, Any]]:
    return [] if portal.claims is None else portal.claims.customer_claims(customer.id)


async def _home(request: web.Request, portal: Portal, customer: Customer, status: int = 200,
                error: str | None = None, form: Mapping[str, str] | None = None
                ) -> web.Response:
    months = await asyncio.to_thread(portal.months, customer)
    claims = await asyncio.to_thread(_claims_of, portal, customer)
    columns, rows = claim_table(claims)
    claimable = portal.claimable(customer, months, claims)  # a closed month is the likely one
    current = month_containing(portal.now_ms(), portal.evaluator.policy.timezone).label
    monitoring = await asyncio.to_thread(portal.monitoring, customer) \
        if current in months else None
    return _private(html_response(
        "portal.html.j2", status=status, folders=TEMPLATES, L=portal.labels(), customer=customer,
        months=months, current=current, formats=list(FORMATS), claims=rows, columns=columns,
        claims_on=portal.claims is not None, monitoring=monitoring,
        claimable=claimable, default_month=next((m for m in claimable if m != current),
                                                claimable[0] if claimable else ""),
        csrf=_csrf(request, customer),
        csrf_field=CSRF_FIELD, error=error, form=form or {}, max_files=MAX_FILES))


async def portal_home(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    customer = portal.authenticate(request)
    if customer is None:
        return _login_page()
    return await _home(request, portal, customer)


async def _form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields; 400 (not a crash) for a body that is no form."""
    try:
        return await form_fields(request)
    except ValueError as e:
        raise web.HTTPBadRequest(text=f"400: {e}") from None


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


async def login(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    token = (await _form(request)).get("token")
    customer = portal.by_token(token) if isinstance(token, str) and token else None
    if customer is None:
        return _login_page(error=True)
    resp = web.Response(status=303, headers={"Location": "/portal"})
    resp.set_cookie(COOKIE, portal.session(customer), max_age=portal.session_ttl_ms // 1000,
                    path="/portal", httponly=True, samesite="Lax", secure=_secure(request))
    return _private(resp)


async def logout(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    customer = portal.authenticate(request)
    if customer is not None:  # ending a live session takes that session's form token
        _check_post(request, customer, await _form(request))
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


# -- claims ------------------------------------------------------------------------------------


@dataclass
class ClaimForm:
    """A submitted form: its text fields, its files (name, bytes) and what was refused while
    reading (too large, too many), before any of it is checked as a claim."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def _read_part(part: BodyPartReader, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a part, and whether there was more (read and dropped, so
    the browser is not cut off half-way through its upload)."""
    data, over = bytearray(), False
    while chunk := await part.read_chunk(65536):
        if over or len(data) + len(chunk) > limit:
            over = True
        else:
            data += chunk
    return bytes(data), over


async def _read_file(form: ClaimForm, part: BodyPartReader) -> None:
    name = part.filename or ""
    index = len(form.files)
    data, over = await _read_part(part, 0 if index >= MAX_FILES else MAX_FILE_BYTES)
    if not name and not data:
        return  # a file input left empty
    if index >= MAX_FILES:
        if f"files: at most {MAX_FILES} files" not in form.problems:
            form.problems.append(f"files: at most {MAX_FILES} files")
    elif over:
        form.problems.append(f"files[{index}] ({name}): larger than "
                             f"{MAX_FILE_BYTES // 1048576} MiB")
    else:
        form.files.append((name, data))


async def read_form(request: web.Request) -> ClaimForm:
    """The claim form, multipart (with files) or urlencoded, every part bounded."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_FORM_BYTES, request.content_length)
    form = ClaimForm()
    if request.content_type != "multipart/form-data":
        form.fields = await _form(request)
        return form
    try:
        return await _read_multipart(request, form)
    except ValueError as e:  # no boundary, a wrong one, a part cut short
        raise web.HTTPBadRequest(text=f"400: body: not a form ({str(e)[:80]})") from None


async def _read_multipart(request: web.Request, form: ClaimForm) -> ClaimForm:
    reader = await request.multipart()
    for _ in range(64):  # the form has a handful of fields; more is not our form
        part = await reader.next()
        if part is None:
            return form
        if not isinstance(part, BodyPartReader):
            raise web.HTTPBadRequest(text="400: nested multipart is not accepted")
        if part.filename is not None:
            await _read_file(form, part)
            continue
        data, over = await _read_part(part, MAX_FIELD_BYTES)
        if over:
            form.problems.append(f"{part.name}: at most {MAX_TEXT} characters")
        form.fields[part.name or ""] = data.decode("utf-8", errors="replace")
    raise web.HTTPBadRequest(text="400: too many form fields")


def _evidence_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _submit(claims: ClaimService, customer: Customer, form: ClaimForm) -> str:
    """Step 1 from the form; the new claim's id.  ValueError or ClaimError says why not."""
    if form.problems:
        raise ValueError("; ".join(form.problems))
    files: list[EvidenceFile] = [evidence_file(name, data, i)
                                 for i, (name, data) in enumerate(form.files)]
    new = claims.new_claim(customer.id, form.fields.get("month", ""),
                           form.fields.get("description", ""),
                           _evidence_lines(form.fields.get("evidence", "")), files=files)
    return claims.submit(new, Actor.of_customer(customer.id)).public_id


def _refused(e: Exception) -> int:
    return 409 if isinstance(e, ClaimConflict) else 403 if isinstance(e, ClaimForbidden) else 400


async def submit_claim(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    customer = portal.authenticate(request)
    if customer is None:
        return _unauthorized()
    if portal.claims is None:
        raise web.HTTPNotFound(text="404: claims are not taken through this portal")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":  # before reading any upload
        raise web.HTTPForbidden(text="403: a cross-site form cannot act in the portal")
    form = await read_form(request)
    _check_post(request, customer, form.fields)
    try:
        claim_id = await asyncio.to_thread(_submit, portal.claims, customer, form)
    except (ValueError, SlaguardError) as e:
        kept = {k: form.fields.get(k, "") for k in ("month", "description", "evidence")}
        return await _home(request, portal, customer, _refused(e), str(e), kept)
    return _private(web.Response(status=303, headers={"Location": f"/portal/claims/{claim_id}"}))


def audit_rows(log: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The audit log as the customer reads it."""
    return [{"at": _when(e["at"]), "at_iso": e["at"],
             "who": LABELS["you"] if e["role"] == "customer" else LABELS["staff"],
             "name": "" if e["role"] == "customer" else e["actor"],
             "action": ACTIONS.get(e["action"], (e["action"], e["action"])),
             "change": f"{_state_name(e['from'])} → {_state_name(e['to'])}",
             "detail": detail_text(e["detail"])}
            for e in log]


def _state_name(state: str | None) -> str:
    if state is None:
        return "—"
    zh, en = STATE_NAMES.get(state, (state, state))
    return f"{zh} {en}"


def _claim_doc(claims: ClaimService, customer: Customer, claim_id: str) -> dict[str, Any]:
    actor = Actor.of_customer(customer.id)
    claim, log = claims.get(claim_id, actor)
    return claim_json(claim, claims.timezone, log, claims.files(claim.id, actor))


async def _claim_page(request: web.Request, portal: Portal, customer: Customer,
                      status: int = 200, error: str | None = None) -> web.Response:
    assert portal.claims is not None
    try:
        doc = await asyncio.to_thread(_claim_doc, portal.claims, customer,
                                      checked_claim_id(request))
    except ClaimNotFound as e:
        raise web.HTTPNotFound(text=f"404: {e}") from None
    except ClaimForbidden as e:
        raise web.HTTPForbidden(text=f"403: {e}") from None
    return _private(html_response(
        "claim.html.j2", status=status, folders=TEMPLATES, L=LABELS, customer=customer,
        claim=doc, cells=claim_cells(doc), steps=steps_view(doc["state"]),
        audit=audit_rows(doc["log"]), settlements=SETTLEMENTS, when=_when,
        size=human_size, csrf=_csrf(request, customer), csrf_field=CSRF_FIELD, error=error))


def _claims_customer(request: web.Request) -> tuple[Portal, Customer | None]:
    portal = request.app[PORTAL_KEY]
    if portal.claims is None:
        raise web.HTTPNotFound(text="404: claims are not taken through this portal")
    return portal, portal.authenticate(request)


async def claim_page(request: web.Request) -> web.Response:
    portal, customer = _claims_customer(request)
    if customer is None:
        return _unauthorized()
    return await _claim_page(request, portal, customer)


async def confirm_claim(request: web.Request) -> web.Response:
    portal, customer = _claims_customer(request)
    if customer is None or portal.claims is None:
        return _unauthorized()
    fields = await _form(request)
    _check_post(request, customer, fields)
    claim_id = request.match_info["id"]
    try:
        await asyncio.to_thread(portal.claims.confirm, checked_claim_id(request),
                                Actor.of_customer(customer.id),
                                fields.get("settlement") or None)
    except ClaimNotFound as e:
        raise web.HTTPNotFound(text=f"404: {e}") from None
    except (ValueError, ClaimError) as e:
        return await _claim_page(request, portal, customer, _refused(e), str(e))
    return _private(web.Response(status=303, headers={"Location": f"/portal/claims/{claim_id}"}))


async def claim_file(request: web.Request) -> web.Response:
    portal, customer = _claims_customer(request)
    if customer is None or portal.claims is None:
        return _unauthorized()
    try:
        f, data = await asyncio.to_thread(portal.claims.file, checked_claim_id(request),
                                          int(request.match_info["n"]),
                                          Actor.of_customer(customer.id))
    except ClaimNotFound as e:
        raise web.HTTPNotFound(text=f"404: {e}") from None
    except ClaimForbidden as e:
        raise web.HTTPForbidden(text=f"403: {e}") from None
    return file_response(f, data)


def register_routes(app: web.Application, portal: Portal) -> None:
    """``/portal``, its login/logout, statement downloads, claims, and ``/static/``."""
    app[PORTAL_KEY] = portal
    app.router.add_get("/portal", portal_home)
    app.router.add_post("/portal/login", login)
    app.router.add_post("/portal/logout", logout)
    formats = "|".join(FORMATS)
    app.router.add_get(
        "/portal/statements/{customer:[A-Za-z0-9_.:-]+}/" + MONTH + ".{fmt:" + formats + "}",
        statement)
    app.router.add_post("/portal/claims", submit_claim)
    app.router.add_get(f"/portal/claims/{CLAIM_ID}", claim_page)
    app.router.add_post(f"/portal/claims/{CLAIM_ID}/confirm", confirm_claim)
    app.router.add_get(f"/portal/claims/{CLAIM_ID}/files/{{n:[0-9]{{1,3}}}}", claim_file)
    add_static(app)
