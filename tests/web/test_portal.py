"""The customer portal over aiohttp's test client: login cookie, Bearer, own statements
(HTML and a real PDF), another customer's statement (403), no credentials (401), the
provisional month in words.  Claims through the portal: test_portal_claims.py."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from compensation.portal import (
    COOKIE,
    Portal,
    duration_words,
    register_routes,
    share_text,
    sign,
)
from slaguard.domain import Outcome, ProbeResult
from slaguard.evaluation import Evaluator
from tests.conftest import require_cjk_font

from . import scenario as sc

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
ACME, BETA = "acme-7f3c9a1e5b2d4c68", "beta-0d8e6b4a2c1f9e37"
CUSTOMERS = [
    {"id": "acme", "name": "某某建设集团有限公司 / Acme Construction", "monthly_fee": "12000.00",
     "services": ["core", "storage"], "token": ACME},
    {"id": "beta", "name": "贝塔设计院 / Beta Design", "monthly_fee": "3000.00",
     "services": ["core"], "token": BETA},
    {"id": "gamma", "name": "无令牌客户 / No token", "monthly_fee": "100.00",
     "services": ["core"]},
]
# One September result: the record (and so the statement list) starts in September.
SEPTEMBER = ProbeResult(sc.at(30, 23, month=9), "web", "core", "a", "http", Outcome.SUCCESS, 90)


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    cfg = sc.config(tmp_path_factory.mktemp("portal") / "s.db", CUSTOMERS)
    store = sc.store(cfg, [SEPTEMBER])
    yield sc.evaluator(cfg, store)
    store.close()


async def client_for(portal: Portal, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    app = web.Application()
    register_routes(app, portal)
    return await aiohttp_client(app)


@pytest.fixture
async def client(evaluator: Evaluator, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await client_for(Portal(evaluator, now_ms=lambda: sc.NOW), aiohttp_client)


async def login(client: TestClient[Any, Any], token: str) -> Any:
    return await client.post("/portal/login", data={"token": token}, allow_redirects=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_without_credentials_the_portal_is_a_login_form_with_401(
        client: TestClient[Any, Any]) -> None:
    resp = await client.get("/portal")
    assert resp.status == 401
    html = await resp.text()
    assert '<form class="card login" method="post" action="/portal/login">' in html
    assert "访问令牌" in html and "Access token" in html
    resp = await client.get("/portal/statements/acme/2025-10.html")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_wrong_token_is_refused(client: TestClient[Any, Any]) -> None:
    resp = await login(client, "acme-guess")
    assert resp.status == 401 and "访问令牌无效" in await resp.text()
    assert COOKIE not in resp.cookies
    resp = await client.get("/portal", headers=bearer("acme-guess"))
    assert resp.status == 401


async def test_login_sets_an_httponly_session_cookie_without_the_token(
        client: TestClient[Any, Any]) -> None:
    resp = await login(client, ACME)
    assert (resp.status, resp.headers["Location"]) == (303, "/portal")
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/portal"
    assert ACME not in cookie.value and cookie.value.startswith("acme.")
    assert resp.headers["Cache-Control"] == "no-store"


async def test_the_portal_lists_months_with_data(client: TestClient[Any, Any]) -> None:
    await login(client, ACME)
    resp = await client.get("/portal")
    assert resp.status == 200
    html = await resp.text()
    assert "某某建设集团有限公司 / Acme Construction" in html
    for month in ("2025-10", "2025-09"):
        for fmt in ("html", "pdf"):
            assert f'href="/portal/statements/acme/{month}.{fmt}"' in html
    assert "/portal/statements/acme/2025-08" not in html  # no data before September
    assert "本月至今（暂定）" in html  # October is still open
    # without a claim service the portal says where claims go instead of offering a form
    assert "暂无补偿申请" in html and "本门户暂不受理补偿申请" in html
    assert 'action="/portal/claims"' not in html


async def test_the_provisional_month_says_how_much_of_it_was_monitored(
        client: TestClient[Any, Any]) -> None:
    """Acme's services were watched from 10-16 18:00 to 10-20 12:00, storage with a silent
    hour: 3 d 17 h of October's 31 days is 11.96 %, said in words, not as "coverage"."""
    html = await (await client.get("/portal", headers=bearer(ACME))).text()
    assert "本月监测至今：已监测 3 天 17 小时（本月的 11 %）。未监测的时间按合同计为可用。" in html
    assert ("Monitored so far this month: 3 days 17 hours (11 % of the month). Time not "
            "monitored counts as available, as the contract says. Final figures come with "
            "the statement after the month closes") in html
    assert "Coverage" not in html and "覆盖率" not in html


@pytest.mark.parametrize(("seconds", "words"), [
    (0, ("不到 1 分钟", "under a minute")), (59, ("不到 1 分钟", "under a minute")),
    (60, ("1 分钟", "1 minute")),
    (3 * 3600 + 120, ("3 小时 2 分钟", "3 hours 2 minutes")),
    (3 * 86400 + 4 * 3600 + 59, ("3 天 4 小时", "3 days 4 hours")),
    (86400 + 300, ("1 天 5 分钟", "1 day 5 minutes")),
])
def test_durations_in_words(seconds: int, words: tuple[str, str]) -> None:
    assert duration_words(seconds) == words


@pytest.mark.parametrize(("part", "whole", "text"), [
    (0, 100, "0 %"), (1, 10_000, "< 0.1 %"), (13, 10_000, "0.1 %"), (349, 10_000, "3.4 %"),
    (1_300, 10_000, "13 %"), (10_000, 10_000, "100 %"), (5, 0, "0 %"),
])
def test_shares_in_words(part: int, whole: int, text: str) -> None:
    assert share_text(part, whole) == text


async def test_own_html_statement_with_the_cookie(client: TestClient[Any, Any]) -> None:
    await login(client, ACME)
    resp = await client.get("/portal/statements/acme/2025-10.html")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    assert "服务补偿对账单" in html and "某某建设集团有限公司 / Acme Construction" in html
    assert "99.978" in html  # core, October to date: 360 s down of 1 684 800 s
    assert resp.headers["Cache-Control"] == "no-store"


async def test_own_pdf_statement_with_a_bearer_token(client: TestClient[Any, Any]) -> None:
    require_cjk_font()
    resp = await client.get("/portal/statements/beta/2025-09.pdf", headers=bearer(BETA))
    assert resp.status == 200 and resp.content_type == "application/pdf"
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="statement-beta-2025-09.pdf"')
    assert (await resp.read()).startswith(b"%PDF-")


async def test_another_customers_statement_is_403(client: TestClient[Any, Any]) -> None:
    await login(client, ACME)
    assert (await client.get("/portal/statements/beta/2025-10.html")).status == 403
    assert (await client.get("/portal/statements/gamma/2025-10.pdf")).status == 403
    resp = await client.get("/portal/statements/acme/2025-10.html", headers=bearer(BETA))
    assert resp.status == 403  # the header wins over the cookie


async def test_months_outside_the_record_are_404(client: TestClient[Any, Any]) -> None:
    for month in ("2025-08", "2025-11"):
        resp = await client.get(f"/portal/statements/acme/{month}.html", headers=bearer(ACME))
        assert resp.status == 404, month
    resp = await client.get("/portal/statements/acme/2025-10.csv", headers=bearer(ACME))
    assert resp.status == 404  # only HTML and PDF are offered


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def test_logout_ends_the_session(client: TestClient[Any, Any]) -> None:
    await login(client, ACME)
    page = await client.get("/portal")
    assert page.status == 200
    # a sign-out form without this session's token (as a forged one would be) is refused
    assert (await client.post("/portal/logout", allow_redirects=False)).status == 403
    resp = await client.post("/portal/logout", data={"csrf": form_token(await page.text())},
                             allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/portal")).status == 401


async def test_statements_come_from_the_function_given(
        evaluator: Evaluator, aiohttp_client: ClientFactory) -> None:
    calls = []

    def archive(customer: str, month: str, fmt: str, now_ms: int) -> bytes:
        calls.append((customer, month, fmt, now_ms))
        return b"<p>frozen</p>"

    client = await client_for(Portal(evaluator, statements=archive, now_ms=lambda: sc.NOW),
                              aiohttp_client)
    resp = await client.get("/portal/statements/acme/2025-09.html", headers=bearer(ACME))
    assert (resp.status, await resp.text()) == (200, "<p>frozen</p>")
    assert calls == [("acme", "2025-09", "html", sc.NOW)]


def test_sessions_expire_and_cannot_be_forged(evaluator: Evaluator) -> None:
    portal = Portal(evaluator, now_ms=lambda: sc.NOW)
    acme = evaluator.cfg.customers[0]
    good = portal.session(acme)
    assert portal.from_session(good) is acme
    _, expires, mac = good.split(".")
    assert portal.from_session(f"beta.{expires}.{mac}") is None  # another customer's id
    assert portal.from_session(f"acme.{int(expires) + 1}.{mac}") is None  # extended
    assert portal.from_session(sign(acme, sc.NOW)) is None  # expired
    assert portal.from_session("acme") is None
    rotated = acme.model_copy(update={"token": "acme-new-token"})
    assert sign(rotated, int(expires)) != good  # a new token ends every session


def test_the_claim_window_in_the_portal_is_the_configured_one(evaluator: Evaluator) -> None:
    cfg = evaluator.cfg.model_copy(update={"compensation": evaluator.cfg.compensation.model_copy(
        update={"claim_window_days": 45})})
    portal = Portal(Evaluator(cfg, evaluator.store, evaluator.calendar), now_ms=lambda: sc.NOW)
    zh, en = portal.labels()["no_claimable"]
    assert "申请期为该月结束后 45 天内" in zh and "within 45 days after the month ends" in en
