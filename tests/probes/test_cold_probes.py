"""Cold probes share one client per context, yet each one still opens exactly
one new connection (resolve, connect and tls measured every time), keeps its
own headers, TLS settings and deadline, carries no cookies over, and records
its phases in its own recorder even when many run at once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import trustme
from aiohttp import web

from probes import close_connectors, http
from probes._cold import ColdClient
from probes._common import ssl_for
from probes._timing import AIOHTTP_PINNED, TRACE_CONFIG, TraceFacts, aiohttp_is_pinned
from probes.base import ProbeContext
from slaguard.domain import Outcome, ProbeResult
from tests.probes.conftest import Origin, Pki, build_app, make_target


async def probe(url: str, ctx: ProbeContext, **fields: object) -> ProbeResult:
    return await http.run(make_target("http", url, **fields), ctx)  # type: ignore[arg-type]


def cold_client(ctx: ProbeContext) -> ColdClient:
    client: ColdClient = ctx.options["cold_client"].client
    return client


def assert_one_new_connection_each(facts: list[TraceFacts], hosts: list[str]) -> None:
    for f in facts:
        assert f.reused is False
        assert f.new_connections == 1
        assert f.dns_cache_hit is False
        assert f.hosts == hosts  # resolved once, by this probe, for this probe


def assert_distinct_server_connections(origin: Origin, n: int) -> None:
    # The server's view, independent of aiohttp's client-side signals: every
    # request came on a connection of its own.
    transports = origin.received.transports
    assert len(transports) == n
    assert len({id(t) for t in transports}) == n


async def test_cold_probes_never_reuse_a_connection(origin: Origin) -> None:
    sink: list[TraceFacts] = []
    ctx = ProbeContext("test-lab", options={"trace_sink": sink})
    url = origin.url("/text", host="localhost")
    try:
        sequential = [await probe(url, ctx) for _ in range(30)]
        client = cold_client(ctx)
        concurrent = await asyncio.gather(*(probe(url, ctx) for _ in range(30)))
        assert cold_client(ctx) is client  # one client for the whole context
    finally:
        await close_connectors(ctx)
    for r in [*sequential, *concurrent]:
        assert r.outcome is Outcome.SUCCESS, r.error
        assert r.connection == "cold"
        assert list(r.phases_ms) == ["resolve", "connect", "processing", "transfer"]
        assert sum(r.phases_ms.values()) == r.duration_ms
    assert len(sink) == 60
    assert_one_new_connection_each(sink, ["localhost"])
    assert {f.peer for f in sink} == {"127.0.0.1"}
    assert_distinct_server_connections(origin, 60)


async def test_redirect_hops_each_get_a_new_connection(origin: Origin) -> None:
    sink: list[TraceFacts] = []
    ctx = ProbeContext("test-lab", options={"trace_sink": sink})
    try:
        results = await asyncio.gather(*(probe(origin.url("/redirect"), ctx) for _ in range(5)))
    finally:
        await close_connectors(ctx)
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    assert [(f.redirects, f.new_connections, f.reused) for f in sink] == [(1, 2, False)] * 5
    assert_distinct_server_connections(origin, 10)


async def test_concurrent_probes_keep_their_own_phases(origin: Origin) -> None:
    # Two endpoints, 20 ms and 200 ms, probed at once on one client; the slow
    # ones by name (they resolve), the fast ones by IP literal (they do not).
    # Were an event credited to another probe's recorder, a slow probe would
    # see a fast one's "headers" (processing cut short, transfer swollen), or
    # a fast one a slow one's DNS lookup.
    sink: list[TraceFacts] = []
    ctx = ProbeContext("test-lab", options={"trace_sink": sink})
    fast, slow = origin.url("/delay/20"), origin.url("/delay/200", host="localhost")
    urls = [fast, slow] * 8
    try:
        results = await asyncio.gather(*(probe(u, ctx) for u in urls))
    finally:
        await close_connectors(ctx)
    for url, r in zip(urls, results, strict=True):
        assert r.outcome is Outcome.SUCCESS, r.error
        assert sum(r.phases_ms.values()) == r.duration_ms
        if url == fast:
            assert list(r.phases_ms) == ["connect", "processing", "transfer"]
            assert r.phases_ms["processing"] >= 20 and r.duration_ms < 150, r
        else:
            assert list(r.phases_ms) == ["resolve", "connect", "processing", "transfer"]
            assert r.phases_ms["processing"] >= 200, r
            assert r.phases_ms["transfer"] < 50, r
            assert r.duration_ms < 400, r
    resolved = sorted(tuple(f.hosts) for f in sink)
    assert resolved == [()] * 8 + [("localhost",)] * 8
    assert all(f.new_connections == 1 and not f.reused for f in sink)


async def test_many_concurrent_probes_never_queue_for_a_connection(origin: Origin) -> None:
    # A probe waiting for a connection slot (aiohttp's connectors allow 100 by
    # default) would count the wait as its own time.  The scheduler bounds
    # concurrency, the shared client does not.
    ctx = ProbeContext("test-lab")
    try:
        results = await asyncio.gather(
            *(probe(origin.url("/delay/400"), ctx, timeout="5s") for _ in range(120))
        )
    finally:
        await close_connectors(ctx)
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    # Behind aiohttp's default limit of 100 connections, 20 probes would wait for a second
    # 400 ms wave (>= 800 ms each).  Not the slowest single probe: on a busy 2-core machine
    # one setup among 120 may be slow on its own (seen once in CI at 915 ms).
    second_wave = [r.duration_ms for r in results if r.duration_ms >= 800]
    assert len(second_wave) < 20, second_wave


async def test_each_probe_has_its_own_headers_and_deadline(
    origin: Origin, ctx: ProbeContext
) -> None:
    def echoes(value: str) -> dict[str, object]:
        return {"headers": {"X-Probe": value}, "expect": {"json": {"$['X-Probe']": value}}}

    a, b, late, in_time = await asyncio.gather(
        probe(origin.url("/headers"), ctx, **echoes("a")),
        probe(origin.url("/headers"), ctx, **echoes("b")),
        probe(origin.url("/delay/3000"), ctx, timeout="200ms"),
        probe(origin.url("/delay/300"), ctx, timeout="5s"),
    )
    assert a.outcome is b.outcome is in_time.outcome is Outcome.SUCCESS
    assert late.error is not None and late.error.message == "no complete response within 0.2s"
    assert 300 <= in_time.duration_ms < 1000


async def test_cookies_do_not_carry_over(origin: Origin, ctx: ProbeContext) -> None:
    for _ in range(3):
        r = await probe(origin.url("/cookie"), ctx)
        assert r.outcome is Outcome.SUCCESS
    assert origin.received.cookies == [None, None, None]


async def test_cold_https_handshakes_every_time(tls_origin: Origin, pki: Pki) -> None:
    # One SSLContext for all: Python never resumes a TLS session by itself.
    sink: list[TraceFacts] = []
    ctx = ProbeContext(
        "test-lab", options={"ssl_context": pki.client_context, "trace_sink": sink}
    )
    url = tls_origin.url("/json")
    try:
        results = [await probe(url, ctx) for _ in range(5)]
        results += await asyncio.gather(*(probe(url, ctx) for _ in range(5)))
    finally:
        await close_connectors(ctx)
    for r in results:
        assert r.outcome is Outcome.SUCCESS, r.error
        assert list(r.phases_ms) == ["connect", "tls", "processing", "transfer"]
    assert_one_new_connection_each(sink, [])
    assert not any(f.tls_resumed for f in sink)
    assert {f.cert_source for f in sink} == {"chain"}


async def test_ca_file_context_is_built_once_per_file_version(
    tls_origin: Origin, pki: Pki, ctx: ProbeContext, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(pki.ca.cert_pem.bytes())
    target = make_target("http", tls_origin.url("/json"), tls={"ca_file": str(ca_file)})
    first = ssl_for(target, ctx)
    assert ssl_for(target, ctx) is first
    results = [await http.run(target, ctx) for _ in range(3)]  # type: ignore[arg-type]
    assert all(r.outcome is Outcome.SUCCESS and "tls" in r.phases_ms for r in results)
    # A replaced file (another CA) is read again; the server's chain no longer verifies.
    ca_file.write_bytes(trustme.CA().cert_pem.bytes())
    os.utime(ca_file, ns=(0, 10**9))  # a distinct mtime even on a coarse clock
    assert ssl_for(target, ctx) is not first
    r = await http.run(target, ctx)  # type: ignore[arg-type]
    assert r.error is not None and "certificate verify failed" in r.error.message


async def test_close_connectors_closes_the_cold_client(origin: Origin) -> None:
    ctx = ProbeContext("test-lab")
    await probe(origin.url("/text"), ctx)
    client = cold_client(ctx)
    await close_connectors(ctx)
    assert client.closed and "cold_client" not in ctx.options
    again = await probe(origin.url("/text"), ctx)  # a later probe opens a new one
    assert again.outcome is Outcome.SUCCESS
    assert cold_client(ctx) is not client
    await close_connectors(ctx)


def test_cold_client_is_closed_with_its_event_loop() -> None:
    # A context nobody closes (a one-shot CLI probe) leaks nothing: its client
    # is closed when its loop shuts down, and the next loop gets a new one.
    ctx = ProbeContext("test-lab")

    async def one_probe() -> ColdClient:
        runner = web.AppRunner(build_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            r = await probe(f"http://127.0.0.1:{port}/text", ctx)
            assert r.outcome is Outcome.SUCCESS
            return cold_client(ctx)
        finally:
            await runner.cleanup()

    first = asyncio.run(one_probe())
    assert first.closed
    second = asyncio.run(one_probe())
    assert second.closed and second is not first


async def test_trace_config_ignores_requests_outside_probes(origin: Origin) -> None:
    async with (
        aiohttp.ClientSession(trace_configs=[TRACE_CONFIG]) as session,
        session.get(origin.url("/text")) as resp,
    ):
        assert resp.status == 200


def test_pin_is_decided_once() -> None:
    assert AIOHTTP_PINNED is aiohttp_is_pinned()
