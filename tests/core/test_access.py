"""Who may call which route: every route × every principal × the status it gets.

The application is the one ``slaguard run`` serves (``App.web_app``) over a real
loopback server, with a token for each principal: staff write, staff read, the
scraper, customer acme and customer beta.  ``ok`` means the access check let the
request through: the handler's own answer (2xx, 3xx, or a 4xx about the request such
as 404 for a claim that does not exist), never 401/403 and never 5xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, make_mocked_request

from slaguard.access import (
    ROUTES,
    SCRAPER,
    STAFF_READ,
    STAFF_WRITE,
    Principal,
    Principals,
    Role,
    route_key,
)
from slaguard.app import App
from slaguard.config import parse_config
from tests.conftest import api_config

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
TOKENS = {"write": "staff-write-token", "read": "staff-read-token",
          "scrape": "scrape-token", "acme": "acme-token", "beta": "beta-token"}
OK = "ok"

# (method, path, anonymous, acme, beta, staff read, staff write, scraper)
TABLE: list[tuple[str, str, Any, Any, Any, Any, Any, Any]] = [
    # public
    ("GET", "/", OK, OK, OK, OK, OK, OK),
    ("GET", "/status", OK, OK, OK, OK, OK, OK),
    ("GET", "/api/v1/status", OK, OK, OK, OK, OK, OK),
    ("GET", "/healthz", OK, OK, OK, OK, OK, OK),
    ("GET", "/static/slaguard.css", OK, OK, OK, OK, OK, OK),
    ("GET", "/favicon.ico", OK, OK, OK, OK, OK, OK),
    ("GET", "/portal", 401, OK, OK, 401, 401, 401),  # 401: the sign-in form
    ("POST", "/portal/login", OK, OK, OK, OK, OK, OK),  # signs acme in (303)
    ("POST", "/portal/logout", OK, OK, OK, OK, OK, OK),
    # the portal: a customer (its session cookie or its bearer token), nobody else
    ("GET", "/portal/statements/acme/2026-11.html", 401, OK, 403, 401, 401, 401),
    ("POST", "/portal/claims", 401, OK, OK, 401, 401, 401),
    ("GET", "/portal/claims/CLM-1", 401, OK, 403, 401, 401, 401),
    ("POST", "/portal/claims/CLM-1/confirm", 401, OK, 403, 401, 401, 401),
    ("GET", "/portal/claims/CLM-1/files/1", 401, OK, 403, 401, 401, 401),
    # a customer for itself, or staff (read for GET, write for POST)
    ("GET", "/api/v1/slo", 401, OK, OK, OK, OK, 403),
    ("GET", "/api/v1/slo?service=core", 401, OK, 403, OK, OK, 403),
    ("GET", "/api/v1/support", 401, OK, OK, OK, OK, 403),
    ("GET", "/api/v1/support?customer=acme", 401, OK, 403, OK, OK, 403),
    ("GET", "/api/v1/claims", 401, OK, OK, OK, OK, 403),
    ("POST", "/api/v1/claims", 401, OK, OK, 403, OK, 403),
    ("GET", "/api/v1/claims/CLM-1", 401, OK, 403, OK, OK, 403),
    ("GET", "/api/v1/claims/CLM-1/files/1", 401, OK, 403, OK, OK, 403),
    ("POST", "/api/v1/claims/CLM-1/confirm", 401, OK, 403, 403, OK, 403),
    ("GET", "/api/v1/statements/acme/2026-11", 401, OK, 403, OK, OK, 403),
    ("GET", "/api/v1/statements/acme/2026-11/versions", 401, OK, 403, OK, OK, 403),
    # staff read
    ("GET", "/api/v1/results", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/incidents", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/incidents/stats", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/incidents/INC-1", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/maintenance", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/results/web@local@1796000000000/evidence", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/results/web@local@1796000000000/evidence/screenshot.png",
     401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/evidence?target=web&from=1796000000000", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/capacity/runs", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/capacity/runs/CAP-1", 401, 403, 403, OK, OK, 403),
    ("GET", "/api/v1/capacity/runs/CAP-1/page", 401, 403, 403, OK, OK, 403),
    # /metrics: the scrape token or staff; compensation exposure is never public
    ("GET", "/metrics", 401, 403, 403, OK, OK, OK),
    # staff write
    ("POST", "/api/v1/incidents", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/incidents/INC-1/acknowledge", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/incidents/INC-1/restore", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/incidents/INC-1/resolve", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/incidents/INC-1/priority", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/maintenance", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/maintenance/mw-1/announce", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/alertmanager", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/capacity/runs", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/capacity/kill", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/claims/CLM-1/review", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/claims/CLM-1/confirm-technical", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/claims/CLM-1/compute", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/claims/CLM-1/execute", 401, 403, 403, 403, OK, 403),
    ("POST", "/api/v1/claims/CLM-1/reject", 401, 403, 403, 403, OK, 403),
]
WHO = ("anonymous", "acme", "beta", "read", "write", "scrape")


def _config(tmp: Path) -> dict[str, Any]:
    cfg = api_config(tmp, TOKENS["write"], TOKENS["acme"])
    cfg["server"] |= {"read_token": TOKENS["read"], "metrics_token": TOKENS["scrape"]}
    cfg["customers"].append({"id": "beta", "name": "Beta", "monthly_fee": "100.00",
                             "services": [], "token": TOKENS["beta"]})
    return cfg


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: ClientFactory
                 ) -> AsyncIterator[TestClient[Any, Any]]:
    cfg, _ = parse_config(_config(tmp_path), env={})
    app = App(cfg, serve_http=False)
    # No cookie jar: the portal's session cookie of one request must not sign in the next.
    client = await aiohttp_client(app.web_app(), cookie_jar=DummyCookieJar())
    await _records(client)
    yield client
    await app.stop()


async def _records(client: TestClient[Any, Any]) -> None:
    """Acme's claim CLM-1, incident INC-1 and window mw-1, so that the routes about them
    answer their owner (and staff) with the record and anyone else with 403."""
    for path, token, doc in (
            ("/api/v1/claims", "acme", {"month": "2026-11", "description": "core down",
                                        "start": "2026-11-20T09:00:00+08:00",
                                        "end": "2026-11-20T10:00:00+08:00"}),
            ("/api/v1/incidents", "write", {"service": "core", "title": "down",
                                            "priority": "P1", "by": "ops-li"}),
            ("/api/v1/maintenance", "write", {"id": "mw-1", "services": ["core"],
                                              "start": "2030-01-01T02:00:00+08:00",
                                              "end": "2030-01-01T03:00:00+08:00"})):
        resp = await client.post(path, json=doc,
                                 headers={"Authorization": f"Bearer {TOKENS[token]}"})
        assert resp.status == 201, await resp.text()


async def _status(client: TestClient[Any, Any], method: str, path: str, who: str) -> int:
    headers = {"Accept": "application/json", "Origin": str(client.make_url(""))}
    if who != "anonymous":
        headers["Authorization"] = f"Bearer {TOKENS[who]}"
    body = {"token": TOKENS["acme"]} if path == "/portal/login" else None
    resp = await client.request(method, path, headers=headers, allow_redirects=False,
                                data=body if body else None,
                                json=None if body or method == "GET" else {})
    await resp.read()
    return resp.status


async def test_every_route_every_principal(client: TestClient[Any, Any]) -> None:
    wrong = []
    for method, path, *expected in TABLE:
        for who, want in zip(WHO, expected, strict=True):
            got = await _status(client, method, path, who)
            passed = got < 500 and got not in (401, 403) if want == OK else got == want
            if not passed:
                wrong.append(f"{method} {path} as {who}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


async def test_the_table_covers_every_route_and_only_routes(tmp_path: Path) -> None:
    """A route without a role would answer 403 to everyone; a role without a route is a
    stale line.  Both tables — the product's and this test's — match the routes."""
    cfg, _ = parse_config(_config(tmp_path), env={})
    app = App(cfg, serve_http=False)
    try:
        served = {route_key(r) for r in app.web_app().router.routes()}
    finally:
        await app.stop()
    assert served == set(ROUTES)
    assert {await _key_of(method, path) for method, path, *_ in TABLE} == set(ROUTES)


async def _key_of(method: str, path: str) -> tuple[str, str]:
    """The ROUTES key a concrete request falls under."""
    if path.startswith("/static/"):
        return "GET", "/static"
    router = web.Application().router
    for m, pattern in ROUTES:
        if pattern != "/static":
            router.add_route(m, pattern, _nothing)
    info = await router.resolve(make_mocked_request(method, path))
    assert info.http_exception is None, f"{method} {path}: no route"
    return route_key(info.route)


async def _nothing(request: web.Request) -> web.Response:
    return web.Response()


def test_a_token_names_exactly_one_principal() -> None:
    """Each configured token names its principal; a token two principals share (check-config
    refuses it) names nobody, and so do an unknown and an empty token."""
    p = Principals([("w", STAFF_WRITE), ("r", STAFF_READ), ("both", STAFF_WRITE),
                    ("both", Principal("customer", "acme")), ("", SCRAPER)])
    assert p.resolve("w") == STAFF_WRITE and p.resolve("r") == STAFF_READ
    assert p.resolve("both") is None and p.resolve("x") is None and p.resolve("") is None
    assert p.configured(["staff read"]) and not p.configured(["scraper"])


def test_roles_are_the_issue_s_four_and_metrics() -> None:
    assert {r.value for r in Role} == {"public", "customer", "portal", "staff read",
                                       "staff write", "metrics"}


async def test_a_customer_reads_the_slos_of_its_own_services(
        client: TestClient[Any, Any]) -> None:
    async def slo(who: str, **params: str) -> dict[str, Any]:
        resp = await client.get("/api/v1/slo", params=params,
                                headers={"Authorization": f"Bearer {TOKENS[who]}"})
        assert resp.status == 200, await resp.text()
        doc: dict[str, Any] = await resp.json()
        return doc

    assert [s["service"] for s in (await slo("acme"))["services"]] == ["core"]
    beta = await slo("beta")  # a customer without services sees none, and no objective
    assert beta["services"] == [] and beta["latency"] == beta["rpo"] == beta["rto"] == []
    assert [s["service"] for s in (await slo("read"))["services"]] == ["core"]
    refused = await client.get("/api/v1/slo", params={"service": "core"},
                               headers={"Authorization": f"Bearer {TOKENS['beta']}"})
    assert refused.status == 403
    assert (await refused.json())["error"] == "service: 'core' is not a service of this customer"


async def test_the_answers_say_what_is_missing(client: TestClient[Any, Any]) -> None:
    anonymous = await client.get("/api/v1/incidents")
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="slaguard"'
    assert (await anonymous.json())["error"] == "a valid bearer token is required"
    reader = await client.post("/api/v1/incidents", json={},
                               headers={"Authorization": f"Bearer {TOKENS['read']}"})
    assert reader.status == 403
    assert (await reader.json())["error"] == (
        "this endpoint needs staff write access; this token is staff read")


async def test_a_role_no_token_has_is_off_and_says_which_setting_turns_it_on(
        tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    cfg, _ = parse_config({**api_config(tmp_path, ""), "customers": []}, env={})
    app = App(cfg, serve_http=False)
    client = await aiohttp_client(app.web_app())
    try:
        metrics = await client.get("/metrics")
        assert metrics.status == 403
        assert (await metrics.json())["error"] == (
            "this endpoint needs metrics access, and no token has it: set server.api_token "
            "or server.read_token or server.metrics_token in the configuration")
        write = await client.post("/api/v1/maintenance", json={})
        assert (await write.json())["error"] == (
            "this endpoint needs staff write access, and no token has it: set "
            "server.api_token in the configuration")
        assert (await client.get("/api/v1/status")).status == 200
    finally:
        await app.stop()
