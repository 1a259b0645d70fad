"""What the HTTP-based probe kinds share: session, exchange, assertions, result.

A kind supplies one coroutine, ``exchange(session, observation)``, that makes
its request and raises a ``ProbeFailure`` (or lets aiohttp's exceptions out)
when the target misbehaves; ``run_probe`` does the rest: the clock, the
deadline, classification and the ``ProbeResult``.

``ctx.options`` keys read here (all optional):

``ssl_context``
    an ``ssl.SSLContext`` used for every https request instead of what
    ``target.tls`` asks for (tests with a private CA, private networks).
``resolver``
    an ``aiohttp.abc.AbstractResolver`` replacing the system resolver.
``connectors``
    ``dict[str, TimedConnector]``: the kept-alive connectors of ``warm``
    targets, by target name, created on first use.  Whoever owns the context
    closes them with ``close_connectors(ctx)``.
``cold_client``
    the one ``probes._cold.ColdClient`` every ``cold`` probe of the context
    uses, created on first use (see ``_cold_client``); also closed by
    ``close_connectors(ctx)``, or else when its event loop shuts down.
``local_addr``
    ``(host, port)`` to bind outgoing connections to: the source address of a
    multi-homed probe host (the demo's simulated locations use 127.0.0.2-4).
``trace_sink``
    a list; each probe appends its ``TraceFacts`` (connection reused, DNS
    cache hit, peer address, certificate source...) for diagnostics and tests.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from probes import _jsonpath
from probes._cold import ColdClient, ColdResponse
from probes._timing import TRACE_CONFIG, ProbeTrace, TimedConnector, Transitions
from probes.base import ProbeContext
from probes.errors import (
    AssertionFailed,
    BodyTooLarge,
    ProbeTimeout,
    StatusMismatch,
    classify,
    outcome_of,
)
from slaguard.config.schema import Expect, TargetBase
from slaguard.domain import ProbeError, ProbeResult

CHUNK = 64 * 1024  # read and write granularity; bounds memory per probe


@dataclass(slots=True)
class Observation:
    """What one probe saw so far; filled in as it goes, so a failure keeps it."""

    trace: ProbeTrace
    status: int | None = None
    body_bytes: int | None = None  # response body bytes read (decoded)
    sent_bytes: int | None = None  # request payload bytes written (uploads)
    recovery_point_ms: int | None = None


Exchange = Callable[["Client", Observation], Awaitable[None]]


@dataclass(frozen=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    charset: str | None

    def text(self) -> str:
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionFailed(f"body is not JSON: {e}") from None


# -- running a probe -----------------------------------------------------------


async def run_probe(
    target: TargetBase,
    ctx: ProbeContext,
    exchange: Exchange,
    *,
    transitions: Transitions,
    max_durations: Iterable[timedelta | None] = (),
) -> ProbeResult:
    ts_ms = ctx.now_ms()
    obs = Observation(ProbeTrace(transitions))
    if target.connection == "cold":
        error = await _attempt(target, await _cold_client(ctx), obs, exchange)
    else:
        async with _warm_session(target, ctx) as session:
            error = await _attempt(target, session, obs, exchange)
    duration_ms, phases_ms = obs.trace.clock.to_ms()
    exceeded = _exceeded_bound(duration_ms, max_durations) if error is None else None
    sink = ctx.options.get("trace_sink")
    if sink is not None:
        sink.append(obs.trace.facts)
    return ProbeResult(
        ts_ms=ts_ms,
        target=target.name,
        service=target.service,
        location=ctx.location,
        kind=str(getattr(target, "kind", "")),
        outcome=outcome_of(error),
        duration_ms=duration_ms,
        phases_ms=phases_ms,
        status_code=obs.status,
        bytes=obs.sent_bytes if obs.sent_bytes is not None else obs.body_bytes,
        error=error,
        cert_expiry=obs.trace.facts.cert_expiry,
        recovery_point_ms=obs.recovery_point_ms,
        connection=target.connection,
        duration_us=(obs.trace.clock.total_ns + 500) // 1000,
        bound_exceeded_ms=exceeded,
    )


_LOOP_CLOCK_S = 0.001  # the coarsest event-loop clock tick we run on (uvloop)


async def _attempt(
    target: TargetBase, session: Client, obs: Observation, exchange: Exchange
) -> ProbeError | None:
    # One deadline for the whole probe (connect, upload, headers and body);
    # aiohttp's own timeouts are off so there is exactly one way to time out.
    # uvloop's clock ticks in whole milliseconds and is read at the start of a
    # loop turn, so a deadline of exactly the timeout can fire up to 1 ms early;
    # a probe must never be cut off before its timeout has really elapsed.
    deadline = asyncio.timeout(target.timeout.total_seconds() + _LOOP_CLOCK_S)
    try:
        async with deadline:
            with obs.trace.running():
                await exchange(session, obs)
    except Exception as exc:
        if deadline.expired():
            seconds = target.timeout.total_seconds()
            return classify(ProbeTimeout(f"no complete response within {seconds:g}s"))
        return classify(exc)
    return None


def _exceeded_bound(duration_ms: int, limits: Iterable[timedelta | None]) -> int | None:
    """The tightest ``max_duration`` (ms) a complete, correct answer took longer than.

    Not an error: being slow is a breach of a performance objective (the
    standard's 性能指标, "10 MB < 30 s"), not downtime, so the result stays a
    success that carries the bound (``ProbeResult.bound_exceeded_ms``).  Only
    ``timeout`` turns slowness into a failure: no complete answer at all.
    """
    bounds = [limit // timedelta(milliseconds=1) for limit in limits if limit is not None]
    return min(bounds) if bounds and duration_ms > min(bounds) else None


# -- sessions and connectors ---------------------------------------------------


# Cold probes (the default) go through ``ColdClient`` (probes._cold): a new
# connection for every request and every redirect hop, no keep-alive, no DNS
# cache, so resolve, connect and tls are measured on every probe, as
# blackbox_exporter measures them.  Nothing carries over from one probe to the
# next but the resolver, so the cold probes of a context share one client.
# Python's ssl never resumes a TLS session on its own (it would need
# ``session=``), so sharing an SSLContext does not skip handshakes
# (``TraceFacts.tls_resumed`` says so).  Warm probes use an aiohttp session
# over their target's kept-alive ``TimedConnector``.

_COLD = "cold_client"

Client = aiohttp.ClientSession | ColdClient


def _new_session(connector: TimedConnector) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        connector_owner=False,  # the connector outlives the session, see _warm_connector
        trace_configs=[TRACE_CONFIG],
        timeout=aiohttp.ClientTimeout(),  # no limits: run_probe owns the deadline
        cookie_jar=aiohttp.DummyCookieJar(),  # probes must not carry state over
    )


@dataclass
class _SharedClient:
    client: ColdClient
    loop: asyncio.AbstractEventLoop
    closer: AsyncGenerator[None, None]


async def _cold_client(ctx: ProbeContext) -> ColdClient:
    """The context's cold client, created on first use in the running loop."""
    loop = asyncio.get_running_loop()
    shared: _SharedClient | None = ctx.options.get(_COLD)
    if shared is not None and shared.loop is loop and not shared.client.closed:
        return shared.client
    client = ColdClient(resolver=ctx.options.get("resolver"),
                        local_addr=ctx.options.get("local_addr"))
    closer = _closed_with_the_loop(client)
    # Stored before the first await, so concurrent first probes share it too.
    ctx.options[_COLD] = _SharedClient(client, loop, closer)
    await closer.asend(None)  # runs to its yield at once; registers it with the loop
    return client


async def _closed_with_the_loop(client: ColdClient) -> AsyncGenerator[None, None]:
    # The owner of a context closes its client with close_connectors(ctx) (the
    # app does).  A context used without it (a one-shot CLI probe, a test) must
    # not leak its resolver: asyncio closes every live async generator when its
    # loop shuts down (asyncio.run, asyncio.Runner), and so this one.
    try:
        yield
    finally:
        await client.close()


@asynccontextmanager
async def _warm_session(
    target: TargetBase, ctx: ProbeContext
) -> AsyncIterator[aiohttp.ClientSession]:
    session = _new_session(_warm_connector(target, ctx))
    try:
        yield session
    finally:
        await session.close()


def _warm_connector(target: TargetBase, ctx: ProbeContext) -> TimedConnector:
    """The target's kept-alive connector, created on first use."""
    pool: dict[str, TimedConnector] = ctx.options.setdefault("connectors", {})
    connector = pool.get(target.name)
    if connector is None or connector.closed:
        connector = pool[target.name] = TimedConnector(
            resolver=ctx.options.get("resolver"), local_addr=ctx.options.get("local_addr")
        )
    return connector


async def close_connectors(ctx: ProbeContext) -> None:
    """Close the cold client and the warm connectors kept in ``ctx.options``
    (at shutdown, in the loop the probes ran in)."""
    shared: _SharedClient | None = ctx.options.pop(_COLD, None)
    if shared is not None and shared.loop is asyncio.get_running_loop():
        await shared.closer.aclose()  # closes the client
    pool: dict[str, TimedConnector] = ctx.options.pop("connectors", {})
    for connector in pool.values():
        await connector.close()


def ssl_for(target: TargetBase, ctx: ProbeContext) -> ssl.SSLContext:
    override: ssl.SSLContext | None = ctx.options.get("ssl_context")
    if override is not None:
        return override
    if target.tls.insecure_skip_verify:
        return _unverified_context()  # still handshakes and reads the certificate
    if target.tls.ca_file:
        # Loading a CA bundle costs far more than the rest of a probe's set-up:
        # built once per file version (a changed file is read again).
        st = os.stat(target.tls.ca_file)
        return _ca_context(target.tls.ca_file, st.st_ino, st.st_mtime_ns, st.st_size)
    return _verified_context()


# The contexts aiohttp would make for ssl=True and ssl=False (loading the system
# CA store takes ~29 ms: once per process, by probes.warm_up before any clock).


@functools.cache
def _verified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["http/1.1"])
    return context


@functools.lru_cache(maxsize=32)
def _ca_context(path: str, *_version: int) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=path)
    context.set_alpn_protocols(["http/1.1"])
    return context


# -- one request ----------------------------------------------------------------


async def fetch(
    session: Client,
    target: TargetBase,
    ctx: ProbeContext,
    obs: Observation,
    *,
    method: str,
    data: Any = None,
    expect: Expect,
    keep_body: bool = False,
) -> Response:
    """Request, check the status, read the body (capped), check ``expect``.

    The body is kept only when an assertion or the caller needs it; otherwise
    it is counted and dropped chunk by chunk.
    """
    keep = keep_body or _needs_body(expect)
    async with session.request(
        method,
        target.url,
        headers=target.headers,
        data=data,
        allow_redirects=getattr(target, "follow_redirects", True),
        ssl=ssl_for(target, ctx),
        server_hostname=target.tls.server_name,
    ) as resp:
        obs.status = resp.status
        check_status(resp.status, expect)
        body = await read_capped(resp, obs, target.max_body, keep=keep)
        # The response is complete: closing the connection and checking the
        # body (a regex, a JSON parse) take our time, not the target's.
        obs.trace.clock.stop()
        response = Response(resp.status, resp.headers, body, resp.charset)
    check_expect(expect, response)
    return response


async def read_capped(
    resp: aiohttp.ClientResponse | ColdResponse, obs: Observation, limit: int, *, keep: bool
) -> bytes:
    # Streamed in chunks and abandoned as soon as it passes the cap, so a huge
    # or endless body costs at most ``limit`` bytes of memory.
    buf = bytearray()
    obs.body_bytes = 0
    read = resp.content.read
    while chunk := await read(CHUNK):  # what iter_chunked does, minus its iterator
        obs.body_bytes += len(chunk)
        if obs.body_bytes > limit:
            raise BodyTooLarge(f"body larger than max_body ({limit} bytes)")
        if keep:
            buf += chunk
    return bytes(buf)


# -- assertions -----------------------------------------------------------------


def check_status(status: int, expect: Expect) -> None:
    if expect.status is None:
        if not 200 <= status < 300:
            raise StatusMismatch(f"status {status}, expected 2xx")
    elif status not in expect.status:
        raise StatusMismatch(f"status {status}, expected one of {expect.status}")


def _needs_body(expect: Expect) -> bool:
    return (
        expect.body_contains is not None or expect.body_regex is not None or bool(expect.json_)
    )


def check_expect(expect: Expect, response: Response) -> None:
    for name, pattern in (expect.headers or {}).items():
        _check_header(response.headers, name, pattern)
    if expect.body_contains is not None and expect.body_contains not in response.text():
        raise AssertionFailed(f"body does not contain {expect.body_contains!r}")
    if expect.body_regex is not None and not re.search(expect.body_regex, response.text()):
        raise AssertionFailed(f"body does not match /{expect.body_regex}/")
    if expect.json_:
        doc = response.json()
        for path, want in expect.json_.items():
            got = json_value(doc, path)
            if not _jsonpath.same_value(got, want):
                raise AssertionFailed(f"{path} is {got!r}, expected {want!r}")


def _check_header(headers: CIMultiDictProxy[str], name: str, pattern: str) -> None:
    values = headers.getall(name, [])
    if not values:
        raise AssertionFailed(f"header {name} missing")
    if not any(re.search(pattern, v) for v in values):
        raise AssertionFailed(f"header {name}: {values[0]!r} does not match /{pattern}/")


def json_value(doc: Any, path: str) -> Any:
    try:
        return _jsonpath.lookup(doc, path)
    except (_jsonpath.PathNotFound, ValueError) as e:
        raise AssertionFailed(str(e)) from None
