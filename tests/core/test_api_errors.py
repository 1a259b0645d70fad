"""Errors are JSON on every route of the one web application, aiohttp's own included.

The application is the one ``slaguard run`` serves (``App.web_app``: the core API,
alerting, claims, the status page and the portal), over a real loopback server.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from slaguard.access import ROUTES, Role
from slaguard.app import App
from slaguard.config import parse_config
from slaguard.server import wants_page
from tests.conftest import api_config

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
STAFF = "staff-token-for-tests"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
JSON = "application/json"


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
                 ) -> AsyncIterator[TestClient[Any, Any]]:
    cfg, _ = parse_config(api_config(tmp_path, STAFF), env={})
    app = App(cfg, serve_http=False)
    web_app = app.web_app()

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug, not bad input")

    web_app.router.add_get("/api/v1/boom", boom)  # stands for any handler that crashes
    monkeypatch.setitem(ROUTES, ("GET", "/api/v1/boom"), Role.STAFF_READ)
    yield await aiohttp_client(web_app, headers={"Authorization": f"Bearer {STAFF}"})
    await app.stop()


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == JSON
    doc: dict[str, Any] = await resp.json()
    assert set(doc) == {"error", "field"} and doc["error"], doc
    return doc


async def test_no_such_route_is_json_404(client: TestClient[Any, Any]) -> None:
    doc = await error_of(await client.get("/api/v1/nothing-here"), 404)
    assert doc == {"error": "no such endpoint: /api/v1/nothing-here", "field": None}
    # Under /api/ even a browser gets JSON.
    resp = await client.get("/api/v1/nothing-here", headers={"Accept": BROWSER})
    await error_of(resp, 404)


async def test_wrong_method_is_json_405_with_allow(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/slo")
    doc = await error_of(resp, 405)
    assert doc["error"] == "method POST is not allowed on /api/v1/slo (allowed: GET, HEAD)"
    assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD"}


async def test_body_too_large_is_json_413(client: TestClient[Any, Any]) -> None:
    big = b'{"title": "' + b"x" * (2 * 2**20) + b'"}'
    resp = await client.post("/api/v1/incidents", data=io.BytesIO(big), headers={
        "Authorization": f"Bearer {STAFF}", "Content-Type": "application/json"})
    doc = await error_of(resp, 413)
    assert doc == {"error": "body: too large (at most 1048576 bytes)", "field": "body"}


async def test_bad_input_names_its_field(client: TestClient[Any, Any]) -> None:
    doc = await error_of(await client.get("/api/v1/results", params={"limit": "many"}), 400)
    assert doc == {"error": "limit: expected a positive integer, got 'many'", "field": "limit"}
    doc = await error_of(await client.get("/api/v1/slo", params={"month": "2026-13"}), 400)
    assert doc["field"] == "month" and doc["error"].startswith("month: ")
    doc = await error_of(await client.get("/api/v1/slo", params={"service": "ai"}), 404)
    assert doc == {"error": "service: no service named 'ai'", "field": "service"}


async def test_the_capability_apis_answer_in_the_same_shape(
        client: TestClient[Any, Any]) -> None:
    doc = await error_of(await client.get("/api/v1/incidents/7"), 404)
    assert doc["field"] is None and "INC-7" in doc["error"]
    resp = await client.post("/api/v1/incidents", data=b"{not json",
                             headers={"Authorization": f"Bearer {STAFF}"})
    doc = await error_of(resp, 400)
    assert doc["field"] == "body"
    resp = await client.post("/api/v1/incidents", json={}, headers={"Authorization": ""})
    doc = await error_of(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_crash_is_json_500_and_logged(client: TestClient[Any, Any],
                                              caplog: pytest.LogCaptureFixture) -> None:
    doc = await error_of(await client.get("/api/v1/boom"), 500)
    assert doc == {"error": "internal error; the server's log has the details", "field": None}
    assert "GET /api/v1/boom failed" in caplog.text and "a bug, not bad input" in caplog.text


async def test_pages_answer_programs_in_json_and_browsers_as_pages(
        client: TestClient[Any, Any]) -> None:
    # A statement download without credentials: the portal's own text 401 …
    path = "/portal/statements/acme/2026-10.html"
    resp = await client.get(path)
    doc = await error_of(resp, 401)  # … as JSON for a program, its headers kept
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "sign in" in doc["error"]
    resp = await client.get(path, headers={"Accept": BROWSER})
    assert resp.status == 401 and resp.content_type != JSON  # the page's own answer
    # No such page: JSON for a program, not JSON for a browser.
    await error_of(await client.get("/status/nothing-here"), 404)
    resp = await client.get("/status/nothing-here", headers={"Accept": BROWSER})
    assert resp.status == 404 and resp.content_type != JSON
    # The status page itself is still a page.
    resp = await client.get("/status", headers={"Accept": BROWSER})
    assert resp.status == 200 and resp.content_type == "text/html"


@pytest.mark.parametrize(("path", "accept", "page"), [
    ("/status", BROWSER, True),
    ("/status", "*/*", False),
    ("/status", "", False),
    ("/status", "application/json", False),
    ("/status", "application/json;q=0.5, text/html", True),
    ("/status", "text/html;q=0.1, application/json", False),
    ("/portal", "text/*", True),
    ("/api/v1/status", BROWSER, False),
])
def test_who_gets_a_page(path: str, accept: str, page: bool) -> None:
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("GET", path, headers={"Accept": accept} if accept else {})
    assert wants_page(request) is page
