"""Strict types and ranges (issue 14, point 2): every stored field has a type, a range and
a clear 4xx naming it — nothing is coerced with Python's ``str`` or ``or {}``.

Through the application ``slaguard run`` serves (``App.web_app``), and the shared range
checks (``slaguard.domain``, ``slo.periods``) the importers and the configuration call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slaguard.app import App
from slaguard.config import parse_config
from slaguard.domain import MAX_INSTANT_MS, MIN_INSTANT_MS, check_instant, check_span, check_text
from slo.periods import MonthError, parse_month, parse_rfc3339
from tests.conftest import api_config

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
STAFF = "staff-token-for-strict"
AUTH = {"Authorization": f"Bearer {STAFF}"}
START, END = "2026-03-01T00:00:00Z", "2026-03-01T02:00:00Z"


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: ClientFactory
                 ) -> AsyncIterator[TestClient[Any, Any]]:
    cfg, _ = parse_config(api_config(tmp_path, STAFF), env={})
    app = App(cfg, serve_http=False)
    yield await aiohttp_client(app.web_app(), headers=AUTH)
    await app.stop()


async def refused(resp: Any, field: str, status: int = 400) -> str:
    assert resp.status == status, await resp.text()
    doc = await resp.json()
    assert doc["field"] == field, doc
    return str(doc["error"])


def incident(**extra: Any) -> dict[str, Any]:
    return {"service": "core", "title": "hotline", "priority": "P2", **extra}


@pytest.mark.parametrize("summary", [1, 0, True, False, {}, {"a": 1}, [], ["x"], 1.5])
async def test_a_summary_of_another_type_is_refused(client: TestClient[Any, Any],
                                                    summary: Any) -> None:
    resp = await client.post("/api/v1/incidents", json=incident(summary=summary), headers=AUTH)
    assert "expected a string" in await refused(resp, "summary")


async def test_a_summary_is_stored_as_given_and_bounded(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/incidents", json=incident(summary="  as said  "),
                             headers=AUTH)
    assert resp.status == 201
    assert (await resp.json())["incident"]["summary"] == "as said"
    resp = await client.post("/api/v1/incidents", json=incident(summary="x" * 10_001),
                             headers=AUTH)
    assert "at most 10000 characters" in await refused(resp, "summary")


@pytest.mark.parametrize("labels", [0, False, [], "", "a=b", 1, ["a"]])
async def test_labels_that_are_no_object_are_refused_not_emptied(
        client: TestClient[Any, Any], labels: Any) -> None:
    resp = await client.post("/api/v1/incidents", json=incident(labels=labels), headers=AUTH)
    assert "expected an object of strings" in await refused(resp, "labels")


async def test_labels_hold_strings_only(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/incidents", json=incident(labels={"team": 7}),
                             headers=AUTH)
    await refused(resp, "labels.team")
    absent: Any
    for absent in (None, {}):
        resp = await client.post("/api/v1/incidents", json=incident(labels=absent),
                                 headers=AUTH)
        assert resp.status == 201 and (await resp.json())["incident"]["labels"] == {}


@pytest.mark.parametrize("priority", [{}, [], 1, None, True, "p1", "P5"])
async def test_a_priority_of_any_other_value_is_refused(client: TestClient[Any, Any],
                                                        priority: Any) -> None:
    resp = await client.post("/api/v1/incidents", json=incident(priority=priority),
                             headers=AUTH)
    assert "expected one of P1, P2, P3, P4" in await refused(resp, "priority")


@pytest.mark.parametrize(("key", "value"), [("title", "x" * 1001), ("title", 5),
                                            ("by", "x" * 129), ("by", ["alice"]),
                                            ("service", {"name": "core"})])
async def test_text_fields_are_typed_and_bounded(client: TestClient[Any, Any], key: str,
                                                 value: Any) -> None:
    resp = await client.post("/api/v1/incidents", json=incident(**{key: value}), headers=AUTH)
    await refused(resp, key)


def window(**extra: Any) -> dict[str, Any]:
    return {"services": ["core"], "start": START, "end": END, **extra}


@pytest.mark.parametrize("window_id", [1, True, 1.5, ["MW-1"], {}])
async def test_a_maintenance_id_of_another_type_is_refused(client: TestClient[Any, Any],
                                                           window_id: Any) -> None:
    resp = await client.post("/api/v1/maintenance", json=window(id=window_id), headers=AUTH)
    assert "expected a string" in await refused(resp, "id")


async def test_nan_and_infinity_are_not_json(client: TestClient[Any, Any]) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = f'{{"id": {literal}, "services": ["core"], "start": "{START}", "end": "{END}"}}'
        resp = await client.post("/api/v1/maintenance", data=raw, headers={
            **AUTH, "Content-Type": "application/json"})
        assert f"{literal} is not JSON" in await refused(resp, "body")
    resp = await client.get("/api/v1/maintenance")
    assert (await resp.json())["maintenance"] == []


@pytest.mark.parametrize(("key", "value"), [
    ("start", "0001-01-01T00:00:00+05:00"), ("end", "9999-12-31T23:59:59Z"),
    ("end", "9999-12-31T23:59:59-05:00"), ("start", "1999-12-31T23:59:59Z"),
    ("end", "2100-01-01T00:00:00Z"), ("announced", "9999-12-31T00:00:00Z"),
    ("start", 1767225600000), ("end", "2026-03-01"), ("start", "２０２６-03-01T00:00:00Z")])
async def test_maintenance_instants_lie_between_2000_and_2100(
        client: TestClient[Any, Any], key: str, value: Any) -> None:
    resp = await client.post("/api/v1/maintenance", json=window(**{key: value}), headers=AUTH)
    await refused(resp, key)


async def test_a_maintenance_window_ends_after_it_starts(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/maintenance", json=window(end=START), headers=AUTH)
    assert "must be after start" in await refused(resp, "end")
    resp = await client.post("/api/v1/maintenance", json=window(id="MW-ok", title="upgrade"),
                             headers=AUTH)
    assert resp.status == 201
    resp = await client.post("/api/v1/maintenance/MW-ok/announce",
                             json={"announced": "9999-12-31T00:00:00Z"}, headers=AUTH)
    await refused(resp, "announced")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                   "1", "99999999999999", "9" * 30])
async def test_result_queries_take_instants_between_2000_and_2100(
        client: TestClient[Any, Any], value: str) -> None:
    resp = await client.get("/api/v1/results", params={"from": value})
    await refused(resp, "from")


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "1999-12", "2100-01"])
async def test_months_lie_between_2000_and_2099(client: TestClient[Any, Any],
                                                month: str) -> None:
    for path in ("/api/v1/slo", "/api/v1/incidents", "/api/v1/incidents/stats"):
        resp = await client.get(path, params={"month": month})
        assert "years 2000-2099" in await refused(resp, "month")
    resp = await client.get(f"/api/v1/statements/acme/{month}", headers=AUTH)
    await refused(resp, "month")


async def test_claim_fields_are_typed(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/claims", json={"customer": "acme", "month": "2026-03",
                                                     "by": {"name": "x"}}, headers=AUTH)
    await refused(resp, "by")
    resp = await client.post("/api/v1/claims", json={"customer": 7, "month": "2026-03",
                                                     "by": "alice"}, headers=AUTH)
    await refused(resp, "customer")


# -- the shared checks the importers and the configuration call ---------------------------


def test_check_instant_is_the_one_range() -> None:
    assert check_instant(MIN_INSTANT_MS, "ts") == MIN_INSTANT_MS
    assert check_instant(MAX_INSTANT_MS - 1, "ts") == MAX_INSTANT_MS - 1
    for bad in (MIN_INSTANT_MS - 1, MAX_INSTANT_MS, 0, -1, 10**30):
        with pytest.raises(ValueError, match=r"^ts: must lie between 2000-01-01 and 2100"):
            check_instant(bad, "ts")


def test_check_span_and_text() -> None:
    check_span(1, 2)
    with pytest.raises(ValueError, match=r"^end: must be after the start"):
        check_span(2, 2)
    assert check_text(None, "note", 10) == ""
    assert check_text(" a ", "note", 10) == "a"
    bad: Any
    for bad in (1, True, [], {}):
        with pytest.raises(ValueError, match=r"^note: expected a string"):
            check_text(bad, "note", 10)
    with pytest.raises(ValueError, match=r"^note: at most 10 characters"):
        check_text("x" * 11, "note", 10)
    with pytest.raises(ValueError, match=r"^title: required"):
        check_text(" ", "title", 10, required=True)


def test_parse_rfc3339_and_parse_month_refuse_far_years() -> None:
    assert parse_rfc3339("2026-03-01T00:00:00Z", "start") == 1772323200000
    for bad in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", 5, None,
                "x" * 100):
        with pytest.raises(ValueError, match=r"^start: "):
            parse_rfc3339(bad, "start")
    assert parse_month("2026-03", "UTC").label == "2026-03"
    for label in ("0001-01", "9999-12", "٢٠٢٦-٠١", "2026-13", "x" * 5000):
        with pytest.raises(MonthError):
            parse_month(label, "Asia/Shanghai")
