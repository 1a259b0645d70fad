"""GET /api/v1/support on a real aiohttp server (loopback port), over a real record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from compensation.support import Known, SupportDesk, SupportStore, import_support
from compensation.support_api import SupportApi, add_routes
from slaguard.config import parse_config
from slo.calendar import make_calendar
from slo.periods import to_ms
from tests.conftest import api_config, serve_local

TZ = "Asia/Shanghai"
NOW = to_ms(datetime(2026, 12, 3, 12, tzinfo=ZoneInfo(TZ)))
LINES = [
    {"id": "C-1", "channel": "chat", "customer": "acme", "opened": "2026-11-24T10:00:00+08:00",
     "answered": "2026-11-24T10:00:30+08:00"},
    {"id": "C-2", "channel": "chat", "customer": "acme", "opened": "2026-11-24T11:00:00+08:00",
     "answered": "2026-11-24T11:00:31+08:00"},
    {"id": "H-1", "channel": "hotline", "customer": "globex",
     "opened": "2026-11-24T09:00:00+08:00", "answered": "2026-11-24T09:01:59+08:00"},
    {"id": "C-3", "channel": "chat", "customer": "acme", "opened": "2026-12-02T10:00:00+08:00"},
]


@dataclass
class Served:
    url: str
    session: aiohttp.ClientSession

    async def get(self, query: str, status: int = 200) -> Any:
        async with self.session.get(f"{self.url}/api/v1/support{query}") as resp:
            assert resp.content_type == "application/json"
            doc = await resp.json()
            assert resp.status == status, doc
            return doc


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    doc = api_config(tmp_path, "staff-token")
    doc["customers"].append({"id": "globex", "name": "Globex", "monthly_fee": "100.00",
                             "services": ["core"]})
    cfg = parse_config(doc, env={})[0]
    store = SupportStore(cfg.storage.path)
    src = tmp_path / "support.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in LINES), encoding="utf-8")
    import_support(store, src, Known({"acme", "globex"}))
    app = web.Application()
    add_routes(app, SupportApi(SupportDesk.from_config(cfg, store, make_calendar("CN")),
                               lambda: NOW))
    runner, port = await serve_local(app)
    try:
        async with aiohttp.ClientSession() as session:
            yield Served(f"http://127.0.0.1:{port}", session)
    finally:
        await runner.cleanup()
        store.close()


def _row(doc: dict[str, Any], channel: str, commitment: str = "response") -> dict[str, Any]:
    (row,) = [r for r in doc["channels"]
              if (r["channel"], r["commitment"]) == (channel, commitment)]
    return row


async def test_a_month_per_channel_and_customer(served: Served) -> None:
    """November: chat answered in 30 s (met, inclusive) and 31 s (missed by 1 000 ms) →
    1/2 = 50.000 %; the hotline call at 09:00:00 waited 119 s (met) → 1/1."""
    doc = await served.get("?month=2026-11")
    assert doc["period"]["label"] == "2026-11" and doc["period"]["complete"] is True
    chat = _row(doc, "chat")
    assert (chat["met"], chat["missed"], chat["compliance_ratio"],
            chat["compliance_percent"]) == (1, 1, "1/2", "50.000")
    assert [w["id"] for w in chat["worst"]] == ["C-2"] and chat["worst"][0]["late_ms"] == 1000
    assert _row(doc, "hotline")["compliance_ratio"] == "1"
    assert [c["customer"] for c in doc["customers"]] == ["acme", "globex"]
    assert doc["overall"]["compliance_ratio"] == "2/3"


async def test_customer_narrows_to_its_own_interactions(served: Served) -> None:
    doc = await served.get("?month=2026-11&customer=globex")
    assert [c["customer"] for c in doc["customers"]] == ["globex"]
    assert doc["overall"]["total"] == 1 and _row(doc, "chat")["total"] == 0


async def test_without_a_month_this_month_to_date(served: Served) -> None:
    """'Now' is 2026-12-03 12:00: C-3 (opened 12-02 10:00, unanswered) is past its 30 s:
    missed, no answer, late by now − due so far."""
    doc = await served.get("")
    assert doc["period"]["label"] == "2026-12" and doc["period"]["complete"] is False
    assert doc["period"]["evaluated_until"] == "2026-12-03T12:00:00+08:00"
    (worst,) = _row(doc, "chat")["worst"]
    assert (worst["id"], worst["reason"]) == ("C-3", "no_answer")
    assert worst["late_ms"] == NOW - to_ms(datetime(2026, 12, 2, 10, 0, 30, tzinfo=ZoneInfo(TZ)))


@pytest.mark.parametrize(("query", "status", "field", "message"), [
    ("?month=2026-13", 400, "month", "month: not a month"),
    ("?month=%C2%B2026-11", 400, "month", "month: "),
    ("?month=1999-01", 400, "month", "years 2000-2099"),
    ("?month=" + "9" * 40, 400, "month", "month: at most 16 characters"),
    ("?customer=" + "x" * 200, 400, "customer", "customer: at most 128 characters"),
    ("?customer=initech", 404, "customer", "customer: no customer 'initech' is configured"),
])
async def test_bad_input_is_a_json_error_naming_the_field(served: Served, query: str,
                                                          status: int, field: str,
                                                          message: str) -> None:
    doc = await served.get(query, status)
    assert doc["field"] == field
    assert message in doc["error"]
