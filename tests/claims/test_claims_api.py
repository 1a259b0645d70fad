"""The claim process and statement downloads through aiohttp's real test client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from compensation.claims_api import ClaimsApi, register_routes
from slaguard.access import Principals, protect

from . import kit

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]

SUBMIT = {"month": "2026-10", "description": "核心服务 10 月 20 日上午不可用 / core down",
          "evidence": ["用户截图 screenshot.png", "https://status.example.com/2026-10-20"],
          "start": "2026-10-20T09:00:00+08:00", "end": "2026-10-20T12:00:00+08:00"}


class Api:
    def __init__(self, client: TestClient[Any, Any], w: kit.World) -> None:
        self.client, self.w = client, w

    async def call(self, method: str, path: str, headers: dict[str, str], body: Any = None,
                   status: int = 200) -> Any:
        resp = await self.client.request(method, path, json=body, headers=headers)
        doc = await resp.json()
        assert resp.status == status, doc
        return doc

    async def staff(self, action: str, claim: str, status: int = 200, **body: Any) -> Any:
        return await self.call("POST", f"/api/v1/claims/{claim}/{action}", kit.STAFF,
                               {"by": "ops-li", **body}, status)

    async def submit(self, headers: dict[str, str] = kit.ACME, status: int = 201,
                     **body: Any) -> Any:
        return await self.call("POST", "/api/v1/claims", headers, {**SUBMIT, **body}, status)

    async def to(self, state: str) -> str:
        """A fresh acme claim moved up to ``state``; its id."""
        cid: str = (await self.submit())["claim"]["id"]
        for action, reached in (("review", "reviewed"),
                                ("confirm-technical", "technically_confirmed"),
                                ("compute", "computed"), ("confirm", "confirmed"),
                                ("execute", "executed")):
            if _ORDER.index(reached) > _ORDER.index(state):
                break
            await self.staff(action, cid, settlement="fee_reduction")
        assert (await self.call("GET", f"/api/v1/claims/{cid}", kit.STAFF))["claim"][
            "state"] == state
        return cid


_ORDER = ["submitted", "reviewed", "technically_confirmed", "computed", "confirmed", "executed"]


async def make_api(template: Path, tmp_path: Path, aiohttp_client: ClientFactory,
                   **kw: Any) -> tuple[Api, kit.World]:
    w = kit.world(template, tmp_path, **kw)
    app = web.Application()
    protect(app, Principals.from_config(w.cfg))
    register_routes(app, ClaimsApi(w.claims, w.lifecycle))
    return Api(await aiohttp_client(app), w), w


@pytest.fixture
async def api(template: Path, tmp_path: Path,
              aiohttp_client: ClientFactory) -> AsyncIterator[Api]:
    a, w = await make_api(template, tmp_path, aiohttp_client)
    yield a
    w.close()


# -- the happy path ------------------------------------------------------------------------------


async def test_the_six_steps_from_submission_to_execution(api: Api) -> None:
    claim = (await api.submit())["claim"]
    assert (claim["id"], claim["customer"], claim["state"]) == ("CLM-1", "acme", "submitted")
    assert claim["step"]["zh"] == "客户提交补偿申请及相关证明"
    assert claim["evidence"] == SUBMIT["evidence"]
    assert claim["period"] == {"start": SUBMIT["start"], "end": SUBMIT["end"]}
    assert claim["next"] == ["review", "reject"]

    api.w.clock.now = kit.at("11-06 10:00")
    claim = (await api.staff("review", "CLM-1", note="材料齐全"))["claim"]
    assert claim["state"] == "reviewed"

    api.w.clock.now = kit.at("11-06 11:00")
    claim = (await api.staff("confirm-technical", "CLM-1", by="sre-zhao"))["claim"]
    assert claim["state"] == "technically_confirmed"
    tech = claim["technical"]
    assert tech["overlap_seconds"] == 2700 and tech["complete"] is True
    assert tech["outages"] == [{
        "service": "core", "start": "2026-10-20T10:00:00+08:00",
        "end": "2026-10-20T10:45:00+08:00", "seconds": 2700, "overlap_seconds": 2700,
        "targets": ["web"], "locations": ["shanghai"], "cause": "observed", "ongoing": False}]

    api.w.clock.now = kit.at("11-06 14:00")
    claim = (await api.staff("compute", "CLM-1", by="finance-wang"))["claim"]
    frozen = api.w.archive.get("acme", "2026-10")
    assert frozen is not None
    st = claim["statement"]
    assert (st["number"], st["version"], st["hash"], st["total"]) == (
        "SG-202610-acme", 1, frozen.hash, "1200.00")
    assert st["settlement"]["options"] == ["fee_reduction", "extension"]
    assert st["settlement"]["extension_days"] == 4  # ceil(1200 ÷ (12000 ÷ 31))

    api.w.clock.now = kit.at("11-08 09:30")
    claim = (await api.call("POST", "/api/v1/claims/CLM-1/confirm", kit.ACME,
                            {"settlement": "extension"}))["claim"]
    assert (claim["state"], claim["settlement"]) == ("confirmed", "extension")

    api.w.clock.now = kit.at("11-09 16:00")
    claim = (await api.staff("execute", "CLM-1", by="finance-wang",
                             reference="合同补充协议 HT-2026-0042-S1"))["claim"]
    assert claim["state"] == "executed" and claim["next"] == []
    assert claim["execution"] == {"form": "extension", "days": 4,
                                  "reference": "合同补充协议 HT-2026-0042-S1",
                                  "statement": "SG-202610-acme", "version": 1}

    log = (await api.call("GET", "/api/v1/claims/CLM-1", kit.ACME))["claim"]["log"]
    assert [(e["action"], e["from"], e["to"], e["actor"], e["role"]) for e in log] == [
        ("submit", None, "submitted", "customer:acme", "customer"),
        ("review", "submitted", "reviewed", "ops-li", "staff"),
        ("confirm-technical", "reviewed", "technically_confirmed", "sre-zhao", "staff"),
        ("compute", "technically_confirmed", "computed", "finance-wang", "staff"),
        ("confirm", "computed", "confirmed", "customer:acme", "customer"),
        ("execute", "confirmed", "executed", "finance-wang", "staff"),
    ]
    assert [e["at"] for e in log] == [
        "2026-11-06T09:00:00+08:00", "2026-11-06T10:00:00+08:00", "2026-11-06T11:00:00+08:00",
        "2026-11-06T14:00:00+08:00", "2026-11-08T09:30:00+08:00", "2026-11-09T16:00:00+08:00"]
    assert log[0]["detail"] == {"evidence": 2}
    assert log[1]["detail"] == {"note": "材料齐全"}
    assert log[2]["detail"] == {"outages": 1, "overlap_seconds": 2700, "note": ""}
    assert log[3]["detail"] == {"number": "SG-202610-acme", "version": 1, "hash": frozen.hash,
                                "total": "1200.00"}
    assert log[4]["detail"] == {"settlement": "extension", "version": 1}
    assert log[5]["detail"]["form"] == "extension"


async def test_staff_may_submit_and_confirm_for_a_customer(api: Api) -> None:
    claim = (await api.submit(kit.STAFF, customer="globex", by="hotline-zhang",
                              start=None, end=None))["claim"]
    assert claim["customer"] == "globex"
    assert claim["period"] == {"start": "2026-10-01T00:00:00+08:00",
                               "end": "2026-11-01T00:00:00+08:00"}
    for action in ("review", "confirm-technical", "compute"):
        await api.staff(action, claim["id"])
    confirmed = (await api.staff("confirm", claim["id"], by="csm-sun",
                                 settlement="fee_reduction"))["claim"]
    assert confirmed["state"] == "confirmed"
    done = (await api.staff("execute", claim["id"]))["claim"]
    assert done["execution"]["form"] == "fee_reduction"
    assert done["execution"]["amount"] == "80.00" and done["execution"]["currency"] == "CNY"
    log = (await api.call("GET", f"/api/v1/claims/{claim['id']}", kit.STAFF))["claim"]["log"]
    assert (log[0]["actor"], log[0]["role"]) == ("hotline-zhang", "staff")
    assert (log[4]["actor"], log[4]["role"]) == ("csm-sun", "staff")


# -- rejection and invalid transitions --------------------------------------------------------


@pytest.mark.parametrize("state", _ORDER[:-1])
async def test_rejection_at_each_step_is_terminal_and_audited(api: Api, state: str) -> None:
    cid = await api.to(state)
    claim = (await api.staff("reject", cid, by="ops-li", reason="不属于服务问题 / not ours"))[
        "claim"]
    assert claim["state"] == "rejected" and claim["next"] == []
    assert claim["rejection"] == {"reason": "不属于服务问题 / not ours", "by": "ops-li",
                                  "at_state": state}
    for action in ("review", "confirm-technical", "compute", "execute", "reject"):
        doc = await api.staff(action, cid, 409, reason="again")
        assert f"{cid} is rejected: no further steps" in doc["error"]
    doc = await api.call("POST", f"/api/v1/claims/{cid}/confirm", kit.ACME, {}, 409)
    assert "rejected" in doc["error"]
    log = (await api.call("GET", f"/api/v1/claims/{cid}", kit.ACME))["claim"]["log"]
    assert (log[-1]["action"], log[-1]["from"], log[-1]["to"]) == ("reject", state, "rejected")
    assert log[-1]["detail"]["reason"] == "不属于服务问题 / not ours"
    # A rejected claim frees the month: the customer may submit again.
    assert (await api.submit())["claim"]["state"] == "submitted"


async def test_an_executed_claim_cannot_be_rejected(api: Api) -> None:
    cid = await api.to("executed")
    doc = await api.staff("reject", cid, 409, reason="too late")
    assert "executed: no further steps" in doc["error"]


async def test_rejection_needs_a_reason(api: Api) -> None:
    cid = await api.to("submitted")
    doc = await api.staff("reject", cid, 400)
    assert "reason" in doc["error"]


@pytest.mark.parametrize(("state", "action", "needs"), [
    ("submitted", "compute", "technically_confirmed or computed"),
    ("submitted", "confirm-technical", "reviewed"),
    ("reviewed", "review", "submitted"),
    ("reviewed", "execute", "confirmed"),
    ("technically_confirmed", "confirm", "computed"),
])
async def test_invalid_transitions_are_409_with_what_is_expected(
        api: Api, state: str, action: str, needs: str) -> None:
    cid = await api.to(state)
    doc = await api.staff(action, cid, 409, settlement="fee_reduction")
    assert f"{cid} is {state}: cannot {action} (needs {needs}" in doc["error"]
    claim = (await api.call("GET", f"/api/v1/claims/{cid}", kit.STAFF))["claim"]
    assert claim["state"] == state  # nothing changed, nothing logged
    assert len(claim["log"]) == 1 + _ORDER.index(state)


async def test_one_live_claim_per_customer_and_month(api: Api) -> None:
    await api.submit()
    doc = await api.submit(status=409)
    assert "CLM-1 is already the claim of acme for 2026-10" in doc["error"]
    await api.submit(kit.GLOBEX)  # another customer, the same month: fine


async def test_compute_waits_for_the_frozen_statement(api: Api) -> None:
    api.w.clock.now = kit.at("11-03 09:00")  # before the generation day
    cid = await api.to("technically_confirmed")
    doc = await api.staff("compute", cid, 409)
    assert "no frozen statement" in doc["error"] and "2026-11-06" in doc["error"]
    assert api.w.archive.frozen_customers("2026-10") == set()
    api.w.clock.now = kit.AFTER
    assert (await api.staff("compute", cid))["claim"]["statement"]["version"] == 1


async def test_a_reissue_after_compute_needs_finance_again(api: Api) -> None:
    cid = await api.to("computed")
    kit.add_late_incident(Path(api.w.cfg.storage.path))
    api.w.lifecycle.reissue("acme", "2026-10", kit.AFTER, "finance-wang", "INC-7 imported")
    doc = await api.call("POST", f"/api/v1/claims/{cid}/confirm", kit.ACME,
                         {"settlement": "fee_reduction"}, 409)
    assert "reissued as version 2" in doc["error"] and "compute again" in doc["error"]
    claim = (await api.staff("compute", cid))["claim"]
    assert (claim["statement"]["version"], claim["statement"]["total"]) == (2, "2400.00")
    claim = (await api.call("POST", f"/api/v1/claims/{cid}/confirm", kit.ACME,
                            {"settlement": "fee_reduction"}))["claim"]
    assert claim["state"] == "confirmed"
    done = (await api.staff("execute", cid))["claim"]
    assert done["execution"]["amount"] == "2400.00" and done["execution"]["version"] == 2


async def test_a_month_without_credit_cannot_be_computed(api: Api) -> None:
    api.w.clock.now = kit.at("12-08 09:00")  # November: no data, counted as available
    cid = (await api.submit(month="2026-11", start=None, end=None))["claim"]["id"]
    await api.staff("review", cid)
    tech = (await api.staff("confirm-technical", cid))["claim"]["technical"]
    assert tech["outages"] == [] and tech["overlap_seconds"] == 0
    doc = await api.staff("compute", cid, 409)
    assert "credits 0.00" in doc["error"] and "reject" in doc["error"]


async def test_submission_checks_its_input_and_the_claim_window(api: Api) -> None:
    doc = await api.submit(status=400, description="  ")
    assert "description" in doc["error"]
    doc = await api.submit(status=400, start="2026-09-30T12:00:00+08:00")
    assert "within 2026-10" in doc["error"]
    doc = await api.submit(status=400, month="2026-13")
    assert "not a month" in doc["error"]
    doc = await api.submit(status=400, month="2027-01", start=None, end=None)
    assert "has not begun" in doc["error"]
    api.w.clock.now = kit.at("12-31 00:00")  # the 61st day after October's last
    doc = await api.submit(status=409)
    assert "closed on 2026-12-30" in doc["error"]


# -- authentication and ownership ------------------------------------------------------------


async def test_no_or_a_wrong_token_is_401_everywhere(api: Api) -> None:
    await api.submit()
    routes = [("GET", "/api/v1/claims"), ("POST", "/api/v1/claims"),
              ("GET", "/api/v1/claims/CLM-1"), ("POST", "/api/v1/claims/CLM-1/review"),
              ("POST", "/api/v1/claims/CLM-1/confirm"),
              ("GET", "/api/v1/statements/acme/2026-10"),
              ("GET", "/api/v1/statements/acme/2026-10/versions")]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": kit.ACME_TOKEN},
                    {"Authorization": f"Basic {kit.STAFF_TOKEN}"}):
        for method, path in routes:
            resp = await api.client.request(method, path, json={"by": "x"}, headers=headers)
            assert resp.status == 401, (method, path, headers)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_customer_cannot_take_staff_steps(api: Api) -> None:
    cid = await api.to("submitted")
    for action in ("review", "confirm-technical", "compute", "execute", "reject"):
        doc = await api.call("POST", f"/api/v1/claims/{cid}/{action}", kit.ACME,
                             {"by": "acme", "reason": "x"}, 403)
        assert "staff write" in doc["error"]
    claim = (await api.call("GET", f"/api/v1/claims/{cid}", kit.ACME))["claim"]
    assert claim["state"] == "submitted" and len(claim["log"]) == 1


async def test_a_customer_sees_and_confirms_only_its_own_claims(api: Api) -> None:
    cid = await api.to("computed")
    await api.submit(kit.GLOBEX)
    await api.call("GET", f"/api/v1/claims/{cid}", kit.GLOBEX, status=403)
    doc = await api.call("POST", f"/api/v1/claims/{cid}/confirm", kit.GLOBEX,
                         {"settlement": "fee_reduction"}, 403)
    assert "another customer's claim" in doc["error"]
    mine = (await api.call("GET", "/api/v1/claims", kit.GLOBEX))["claims"]
    assert [c["customer"] for c in mine] == ["globex"]
    await api.call("GET", "/api/v1/claims?customer=acme", kit.GLOBEX, status=403)
    every = (await api.call("GET", "/api/v1/claims", kit.STAFF))["claims"]
    assert sorted(c["customer"] for c in every) == ["acme", "globex"]
    await api.submit(kit.GLOBEX, status=403, customer="acme")


async def test_staff_steps_are_off_without_an_api_token(
        template: Path, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    a, w = await make_api(template, tmp_path, aiohttp_client, api_token=None)
    try:
        cid = (await a.submit())["claim"]["id"]
        doc = await a.call("POST", f"/api/v1/claims/{cid}/review", kit.ACME, {"by": "x"}, 403)
        assert "set server.api_token" in doc["error"]
    finally:
        w.close()


async def test_staff_steps_name_a_person(api: Api) -> None:
    cid = await api.to("submitted")
    doc = await api.call("POST", f"/api/v1/claims/{cid}/review", kit.STAFF, {}, 400)
    assert "by" in doc["error"]


# -- statement downloads -------------------------------------------------------------------------


async def _download(api: Api, path: str, headers: dict[str, str], status: int = 200
                    ) -> tuple[bytes, Any]:
    resp = await api.client.get(path, headers=headers)
    body = await resp.read()
    assert resp.status == status, body[:300]
    return body, resp.headers


async def test_a_customer_downloads_its_own_statements_and_not_another_s(api: Api) -> None:
    body, headers = await _download(api, "/api/v1/statements/acme/2026-10?format=csv", kit.ACME)
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["X-Slaguard-Statement-State"] == "frozen"
    assert headers["X-Slaguard-Statement-Version"] == "1"
    assert 'filename="SG-202610-acme-v1.csv"' in headers["Content-Disposition"]
    assert body.startswith(b"statement,customer,") and b"1200.00" in body
    for fmt in ("json", "csv", "html"):
        body, _ = await _download(api, f"/api/v1/statements/acme/2026-10?format={fmt}",
                                  kit.GLOBEX, 403)
        assert b"own statements only" in body
    await _download(api, "/api/v1/statements/acme/2026-10/versions", kit.GLOBEX, 403)
    await _download(api, "/api/v1/statements/globex/2026-10", kit.GLOBEX)
    await _download(api, "/api/v1/statements/globex/2026-10", kit.STAFF)


async def test_downloads_are_byte_identical_and_old_versions_stay(api: Api) -> None:
    path = "/api/v1/statements/acme/2026-10"
    first = {fmt: (await _download(api, f"{path}?format={fmt}", kit.ACME))[0]
             for fmt in ("json", "csv", "html")}
    kit.add_late_incident(Path(api.w.cfg.storage.path))
    for fmt, body in first.items():
        assert (await _download(api, f"{path}?format={fmt}", kit.STAFF))[0] == body
    api.w.lifecycle.reissue("acme", "2026-10", kit.AFTER, "finance-wang", "INC-7 imported")
    body, headers = await _download(api, f"{path}?format=json", kit.ACME)
    assert headers["X-Slaguard-Statement-Version"] == "2" and b'"total": "2400.00"' in body
    old, headers = await _download(api, f"{path}?format=json&version=1", kit.ACME)
    assert old == first["json"] and headers["X-Slaguard-Statement-Version"] == "1"
    versions = (await api.call("GET", f"{path}/versions", kit.ACME))["versions"]
    assert [(v["version"], v["total"], v["reason"]) for v in versions] == [
        (1, "1200.00", "frozen on request, working day 5 or later"),
        (2, "2400.00", "INC-7 imported")]
    await _download(api, f"{path}?version=3", kit.ACME, 404)
    await _download(api, f"{path}?format=xml", kit.ACME, 400)
    await _download(api, "/api/v1/statements/nobody/2026-10", kit.STAFF, 404)


async def test_open_and_not_yet_due_months_are_served_live_and_labelled(api: Api) -> None:
    api.w.clock.now = kit.BEFORE
    _, headers = await _download(api, "/api/v1/statements/acme/2026-10", kit.ACME)
    assert headers["X-Slaguard-Statement-State"] == "preliminary"
    assert "X-Slaguard-Statement-Version" not in headers
    _, headers = await _download(api, "/api/v1/statements/acme/2026-11?format=html", kit.ACME)
    assert headers["X-Slaguard-Statement-State"] == "provisional"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert api.w.archive.frozen_customers("2026-10") == set()
