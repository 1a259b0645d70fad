"""Real local aiohttp servers for the probe tests (no network mocks).

``origin`` serves plain HTTP on 127.0.0.1; ``tls_origin`` serves the same app
over HTTPS with a trustme certificate chain (root → intermediate → leaf) whose
leaf expires at ``LEAF_NOT_AFTER``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer

from probes.base import ProbeContext
from slaguard.config.schema import TARGET_KINDS, TargetBase

LEAF_NOT_AFTER = dt.datetime(2031, 5, 17, 12, 30, 45, tzinfo=dt.UTC)
HUGE_BODY = 1 << 30  # what /huge would send if nobody stopped reading

AiohttpServer = Callable[..., Awaitable[TestServer]]


@dataclass
class Received:
    """What the upload endpoint saw, for asserting the server side."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    # The server side of the connection that carried each request, any path
    # (kept alive here, so distinct connections have distinct ids).
    transports: list[Any] = field(default_factory=list)
    cookies: list[str | None] = field(default_factory=list)  # Cookie header at /cookie


# -- the app ---------------------------------------------------------------------


async def _text(_request: web.Request) -> web.Response:
    return web.Response(
        text="<html><title>AI标书 writer</title>build 2026.05</html>",
        content_type="text/html",
        headers={"X-Build": "v1.2.3", "Cache-Control": "no-store"},
    )


async def _json(_request: web.Request) -> web.Response:
    return web.json_response(
        {"status": "ok", "version": 3, "healthy": True, "a": {"b": [10, 20]}, "build.id": "x7"}
    )


async def _delay(request: web.Request) -> web.Response:
    await asyncio.sleep(int(request.match_info["ms"]) / 1000)
    return web.Response(text="late")


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status page")


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(str(request.url.with_path("/text")))


async def _huge(request: web.Request) -> web.StreamResponse:
    # Streams up to 1 GiB without Content-Length; stops when the client goes.
    resp = web.StreamResponse()
    await resp.prepare(request)
    chunk = b"x" * 65536
    for _ in range(HUGE_BODY // len(chunk)):
        await resp.write(chunk)
    return resp


async def _upload(request: web.Request) -> web.Response:
    delay_ms = int(request.query.get("delay_ms", "0"))
    seen: dict[str, Any] = {"method": request.method, "content_length": request.content_length}
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        part = await reader.next()
        assert isinstance(part, BodyPartReader)
        seen.update(field=part.name, filename=part.filename)
        seen["bytes"], seen["head"] = await _count(part.read_chunk)
    else:
        seen["bytes"], seen["head"] = await _count(request.content.read)
    request.app[RECEIVED].requests.append(seen)
    await asyncio.sleep(delay_ms / 1000)
    return web.json_response({"received": seen["bytes"]}, status=201)


async def _count(read: Callable[[int], Awaitable[bytes]]) -> tuple[int, bytes]:
    total, head = 0, b""
    while chunk := await read(65536):
        if not head:
            head = chunk[:16]
        total += len(chunk)
    return total, head


async def _backup(request: web.Request) -> web.Response:
    docs = {
        "rfc": {"finished_at": "2026-05-09T07:35:25.123+08:00", "size": 1},
        "nano": {"finished_at": "2026-05-08T23:35:25.123456789Z"},
        "epoch": {"finished_at": 1778283325},
        "epoch-float": {"finished_at": 1778283325.123},
        "nested": {"backups": [{"finished_at": "2026-05-08T23:35:25Z"}]},
        "missing": {"started_at": "2026-05-08T23:00:00Z"},
        "garbage": {"finished_at": "yesterday-ish"},
        "naive": {"finished_at": "2026-05-08T23:35:25"},
    }
    return web.json_response(docs[request.match_info["which"]])


async def _cookie(request: web.Request) -> web.Response:
    request.app[RECEIVED].cookies.append(request.headers.get("Cookie"))
    resp = web.Response(text="have a cookie")
    resp.set_cookie("session", "probe-state", max_age=3600)
    return resp


async def _headers(request: web.Request) -> web.Response:
    return web.json_response(dict(request.headers))


@web.middleware
async def _note_connection(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request.app[RECEIVED].transports.append(request.transport)
    return await handler(request)


RECEIVED = web.AppKey("received", Received)


def build_app() -> web.Application:
    app = web.Application(client_max_size=64 * 2**20, middlewares=[_note_connection])
    app[RECEIVED] = Received()
    app.router.add_get("/text", _text)
    app.router.add_get("/json", _json)
    app.router.add_get("/delay/{ms}", _delay)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/huge", _huge)
    app.router.add_route("*", "/upload", _upload)
    app.router.add_get("/backup/{which}", _backup)
    app.router.add_get("/cookie", _cookie)
    app.router.add_get("/headers", _headers)
    return app


# -- servers ----------------------------------------------------------------------


@dataclass
class Origin:
    server: TestServer
    host: str = "127.0.0.1"

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.server.scheme}://{host or self.host}:{self.server.port}{path}"

    @property
    def received(self) -> Received:
        assert self.server.app is not None
        return self.server.app[RECEIVED]


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    leaf: trustme.LeafCert
    client_context: ssl.SSLContext  # trusts the root


@pytest.fixture
def pki() -> Pki:
    ca = trustme.CA()
    intermediate = ca.create_child_ca()
    leaf = intermediate.issue_cert("localhost", "127.0.0.1", not_after=LEAF_NOT_AFTER)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return Pki(ca, leaf, client)


@pytest.fixture
async def origin(aiohttp_server: AiohttpServer) -> Origin:
    return Origin(await aiohttp_server(build_app()))


@pytest.fixture
async def tls_origin(aiohttp_server: AiohttpServer, pki: Pki) -> Origin:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.leaf.configure_cert(server_ctx)  # presents leaf + intermediate
    return Origin(await aiohttp_server(build_app(), ssl=server_ctx))


@pytest.fixture
def refused_port() -> int:
    # Bound then closed: nothing listens there for the duration of a test.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- probes' surroundings ------------------------------------------------------------


@pytest.fixture
def ctx() -> ProbeContext:
    return ProbeContext(location="test-lab")


@pytest.fixture
async def warm_ctx() -> AsyncIterator[ProbeContext]:
    from probes._common import close_connectors

    context = ProbeContext(location="test-lab", options={"trace_sink": []})
    yield context
    await close_connectors(context)


def make_target(kind: str, url: str, **fields: Any) -> TargetBase:
    """A target parsed by the real schema, as the config loader would."""
    doc = {"name": f"t-{kind}", "service": "core", "kind": kind, "url": url, **fields}
    return TARGET_KINDS[kind].model_validate(doc)


@dataclass
class Peak:
    bytes: int = 0


@contextmanager
def peak_memory() -> Iterator[Peak]:
    """Peak Python allocation above the starting point while the block runs
    (works whether or not tracemalloc was already on, e.g. PYTHONTRACEMALLOC)."""
    owned = not tracemalloc.is_tracing()
    if owned:
        tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    peak = Peak()
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1] - baseline
        if owned:
            tracemalloc.stop()



def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every probe test on both loops: asyncio's, and uvloop, which slaguard's
    processes run on (slaguard.eventloop)."""
    import uvloop

    if item.path.name.startswith("test_browser"):  # real Chromium: once, on slaguard's loop
        return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
