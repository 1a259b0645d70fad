"""The HTTP API: /healthz, /metrics and /api/v1/results over a real store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from exporters.prometheus import ProbeCollector
from slaguard.access import STAFF_READ, Principals
from slaguard.domain import Outcome, ProbeResult
from slaguard.server import ServerDeps, make_app
from slaguard.state import LiveState
from slaguard.store import SQLiteStore

T0 = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
STAFF = "staff-read-token"


def result(i: int, target: str = "web-home") -> ProbeResult:
    return ProbeResult(ts_ms=T0 + i * 30_000, target=target, service="core", location="sh",
                       kind="http", outcome=Outcome.SUCCESS if i % 3 else Outcome.FAILURE,
                       duration_ms=100 + i, status_code=200)


async def client_for(tmp_path: Path, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    store = SQLiteStore(tmp_path / "s.db")
    rs = [result(i) for i in range(11)] + [result(i, "api-health") for i in range(3)]
    store.add(rs, {"web-home": 30_000, "api-health": 30_000})
    state = LiveState()
    state.observe(rs)
    reg = CollectorRegistry()
    reg.register(ProbeCollector(state))
    deps = ServerDeps(store=store, registry=reg, started_ms=0, now_ms=lambda: 5_000,
                      principals=Principals([(STAFF, STAFF_READ)]))
    return await aiohttp_client(make_app(deps), headers={"Authorization": f"Bearer {STAFF}"})


async def test_results_by_target_and_half_open_range(tmp_path: Path,
                                                     aiohttp_client: ClientFactory) -> None:
    client = await client_for(tmp_path, aiohttp_client)
    resp = await client.get("/api/v1/results", params={
        "target": "web-home", "from": "2026-10-01T00:01:00+08:00",
        "to": "2026-10-01T00:02:30+08:00"})
    assert resp.status == 200
    doc = await resp.json()
    assert [r["ts"] for r in doc["results"]] == [
        "2026-09-30T16:01:00.000+00:00", "2026-09-30T16:01:30.000+00:00",
        "2026-09-30T16:02:00.000+00:00"]
    assert doc["results"][0]["outcome"] == "success" and doc["truncated"] is False
    resp = await client.get("/api/v1/results", params={"from": str(T0), "limit": "2"})
    doc = await resp.json()
    assert len(doc["results"]) == 2 and doc["truncated"] is True


async def test_bad_time_parameter_is_a_clear_400(tmp_path: Path,
                                                 aiohttp_client: ClientFactory) -> None:
    client = await client_for(tmp_path, aiohttp_client)
    resp = await client.get("/api/v1/results", params={"from": "yesterday"})
    assert resp.status == 400
    assert "from: expected RFC 3339 with offset or epoch milliseconds" in await resp.text()
    resp = await client.get("/api/v1/results", params={"from": "1767225600000",
                                                       "to": "1767225500000"})
    assert resp.status == 400 and "to: must be after from" in await resp.text()
    # An instant slaguard keeps lies between 2000 and 2100 (issue 14).
    resp = await client.get("/api/v1/results", params={"from": "2000"})
    assert resp.status == 400 and "from: must lie between 2000" in await resp.text()


async def test_metrics_and_healthz(tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await client_for(tmp_path, aiohttp_client)
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    assert 'probe_success{kind="http",location="sh",service="core",target="web-home"} 1.0' in text
    health = await (await client.get("/healthz")).json()
    assert health == {"status": "ok", "uptime_s": 5}
