"""A token names exactly one principal.

``check-config`` refuses a token shared by two principals (tests/config/invalid/
token-shared-by-staff-and-customer.yaml); should such a configuration reach a running
slaguard all the same (built in code, bypassing the checks), the shared token signs
nobody in: a customer whose token equals ``server.api_token`` is not staff, and
staff's token opens no customer's portal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from slaguard.app import App
from slaguard.config import parse_config

STAFF = "staff-token-for-principals"


def config(tmp_path: Path) -> Any:
    cfg, _ = parse_config({
        "version": 1, "storage": {"path": str(tmp_path / "record.db")},
        "server": {"listen": "127.0.0.1:0", "api_token": STAFF},
        "scheduling": {"workers": 0},
        "services": {"core": {"availability": "99.9%"}},
        "targets": [{"name": "web", "service": "core", "kind": "http",
                     "url": "http://127.0.0.1:9/"}],
        "customers": [
            {"id": "acme", "name": "Acme", "monthly_fee": "100.00", "services": ["core"],
             "token": "acme-token"},
            {"id": "globex", "name": "Globex", "monthly_fee": "100.00", "services": ["core"],
             "token": "globex-token"},
            {"id": "initech", "name": "Initech", "monthly_fee": "100.00", "services": ["core"],
             "token": "globex-token-too"}],
    }, env={})
    return cfg


def sharing(cfg: Any) -> Any:
    """acme's token is staff's and initech's is globex's: what check-config refuses."""
    acme, globex, initech = cfg.customers
    return cfg.model_copy(update={"customers": [
        acme.model_copy(update={"token": STAFF}), globex,
        initech.model_copy(update={"token": globex.token})]})


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[dict[str, TestClient[Any, Any]]]:
    apps = {"unique": App(config(tmp_path / "a"), serve_http=False),
            "shared": App(sharing(config(tmp_path / "b")), serve_http=False)}
    out = {}
    for name, app in apps.items():
        out[name] = TestClient(TestServer(app.web_app()))
        await out[name].start_server()
    yield out
    for name, app in apps.items():
        await out[name].close()
        await app.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_shared_token_signs_nobody_in(
        clients: dict[str, TestClient[Any, Any]]) -> None:
    unique, shared = clients["unique"], clients["shared"]
    # As configured correctly: staff lists all claims, a customer sees its own only.
    assert (await unique.get("/api/v1/claims", headers=bearer(STAFF))).status == 200
    assert (await unique.get("/api/v1/claims", headers=bearer("acme-token"))).status == 200
    assert (await unique.get("/api/v1/statements/globex/2026-10/versions",
                             headers=bearer("acme-token"))).status == 403

    # Staff's token, also acme's: neither staff nor acme.
    for path in ("/api/v1/claims", "/api/v1/statements/globex/2026-10/versions",
                 "/api/v1/statements/acme/2026-10/versions"):
        resp = await shared.get(path, headers=bearer(STAFF))
        assert resp.status == 401, (path, await resp.text())
    resp = await shared.post("/api/v1/claims", headers=bearer(STAFF),
                             json={"customer": "acme", "month": "2026-10", "by": "x",
                                   "reason": "r"})
    assert resp.status == 401
    # Globex's token, also initech's: neither customer.
    resp = await shared.get("/api/v1/claims", headers=bearer("globex-token"))
    assert resp.status == 401
    # The portal: staff's token opens no customer's pages, a shared one neither.
    for token in (STAFF, "globex-token"):
        resp = await shared.get("/portal", headers=bearer(token) | {"Accept": "text/html"},
                                allow_redirects=False)
        assert resp.status in (302, 303, 401), (token, resp.status)
        resp = await shared.post("/portal/login", data={"token": token},
                                 allow_redirects=False)
        assert "Set-Cookie" not in resp.headers, token
    resp = await unique.post("/portal/login", data={"token": "acme-token"},
                             allow_redirects=False)
    assert "Set-Cookie" in resp.headers
