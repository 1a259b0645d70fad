"""Fixtures for the notifier tests: a sample notification, a recording HTTP
receiver on 127.0.0.1 (a real aiohttp server), a client session, free ports.

Tests import the helpers as ``from tests.alerting.conftest import ...``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping

from alerting.notification import Notification, Priority, Status
from tests.conftest import free_port

# 2023-11-14 22:13:20 UTC: the instant of the notes' DingTalk/Feishu vectors.
NOW_MS = 1_700_000_000_000
# How the sample notification says to acknowledge (as alerting.links writes it).
ACK_COMMAND = "slaguard incidents ack INC-42 -c /etc/slaguard/slaguard.yaml"
ACK_API = ('curl -X POST -H "Authorization: Bearer $SLAGUARD_API_TOKEN" '
           "https://slaguard.example.com/api/v1/incidents/INC-42/acknowledge")


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    raw_query: str  # exactly as sent, percent-encoding included
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request and answers with ``respond`` (200 ``{}`` by default)."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    respond: Callable[[], web.StreamResponse] = lambda: web.json_response({})

    def url(self, path_and_query: str) -> str:
        return self.base_url + path_and_query

    @property
    def last(self) -> Received:
        assert self.requests, "nothing was received"
        return self.requests[-1]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        _, _, raw_query = request.raw_path.partition("?")
        self.requests.append(Received(request.method, request.path, raw_query, request.query,
                                      request.headers, await request.read()))
        return self.respond()


@pytest.fixture
def notification() -> Notification:
    return Notification(
        incident_id="INC-42",
        idempotency_key="msg_INC-42.firing.1.oncall",
        priority=Priority.P1,
        status=Status.FIRING,
        title="核心服务不可用 Core service down",
        summary="3/3 个地点确认故障 confirmed down from 3/3 locations",
        service="core",
        started_at=datetime(2023, 11, 14, 22, 0, 0, tzinfo=UTC),
        rule="confirmed_outage",
        labels={"target": "web-home"},
        url="https://slaguard.example.com/api/v1/incidents/INC-42",
        timezone="Asia/Shanghai",
        ack_command=ACK_COMMAND,
        ack_api=ACK_API,
        restore_after_s=300,
        auto_resolve_after_s=3600,
    )


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    rec.base_url = str(server.make_url("")).rstrip("/")
    return rec


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    """A port nobody listens on (bound, then released): connecting is refused."""
    return free_port()
