"""Exception → ErrorClass mapping: foreign exceptions raised for real, ours by hand."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from probes import http
from probes.base import ProbeContext
from probes.errors import (
    AssertionFailed,
    BodyTooLarge,
    ConnectFailure,
    DnsFailure,
    MalformedResponse,
    ProbeFailure,
    ProbeTimeout,
    RedirectFailure,
    StatusMismatch,
    TlsFailure,
    classify,
    describe,
    error_class,
    outcome_of,
)
from slaguard.domain import ErrorClass, Outcome, ProbeError
from tests.probes.conftest import Origin, make_target

RawServer = Callable[[bytes], Awaitable[int]]


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    """A TCP server that answers every request with fixed bytes, then hangs up."""
    servers: list[asyncio.Server] = []

    async def start(reply: bytes) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def raised_by(url: str, **kwargs: object) -> BaseException:
    """The exception aiohttp really raises for ``url``."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(url, **kwargs) as resp:  # type: ignore[arg-type]
                await resp.read()
        except Exception as exc:
            return exc
    raise AssertionError(f"{url} did not fail")


# -- our own tree -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (StatusMismatch("status 503"), ErrorClass.HTTP_STATUS),
        (AssertionFailed("body"), ErrorClass.ASSERTION),
        (BodyTooLarge("big"), ErrorClass.BODY_TOO_LARGE),
        (ProbeTimeout("slow"), ErrorClass.TIMEOUT),
        (ProbeFailure("?"), ErrorClass.PROBE_ERROR),
        (DnsFailure("cannot resolve x"), ErrorClass.DNS),
        (ConnectFailure("cannot connect"), ErrorClass.CONNECT),
        (TlsFailure("handshake"), ErrorClass.TLS),
        (RedirectFailure("loop"), ErrorClass.HTTP_STATUS),
        (MalformedResponse("not HTTP"), ErrorClass.HTTP_STATUS),
    ],
)
def test_own_failures(exc: ProbeFailure, cls: ErrorClass) -> None:
    assert classify(exc) == ProbeError(cls, str(exc))  # our messages stand alone


# -- stdlib exceptions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (TimeoutError(), ErrorClass.TIMEOUT),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), ErrorClass.DNS),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), ErrorClass.TLS),
        (ssl.SSLError(1, "wrong version number"), ErrorClass.TLS),
        (ConnectionRefusedError(111, "refused"), ErrorClass.CONNECT),
        (ConnectionResetError(104, "reset"), ErrorClass.CONNECT),
        (OSError(113, "no route to host"), ErrorClass.CONNECT),
        (ValueError("bug"), ErrorClass.PROBE_ERROR),
        (KeyError("bug"), ErrorClass.PROBE_ERROR),
    ],
)
def test_stdlib_exceptions(exc: Exception, cls: ErrorClass) -> None:
    assert error_class(exc) is cls


def test_describe_names_silent_exceptions() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ConnectionRefusedError("no")) == "ConnectionRefusedError: no"


def test_outcome() -> None:
    assert outcome_of(None) is Outcome.SUCCESS
    assert outcome_of(ProbeError(ErrorClass.CONNECT, "")) is Outcome.FAILURE
    # Our own bug must never become the target's downtime.
    assert outcome_of(ProbeError(ErrorClass.PROBE_ERROR, "")) is Outcome.UNKNOWN


# -- aiohttp's exceptions, raised by real requests -------------------------------------------


async def test_aiohttp_connect_dns_tls(refused_port: int, tls_origin: Origin) -> None:
    refused = await raised_by(f"http://127.0.0.1:{refused_port}/")
    assert type(refused) is aiohttp.ClientConnectorError
    assert error_class(refused) is ErrorClass.CONNECT

    dns = await raised_by("http://nonexistent.invalid/")
    assert isinstance(dns, aiohttp.ClientConnectorDNSError)  # a ClientConnectorError too
    assert error_class(dns) is ErrorClass.DNS

    cert = await raised_by(tls_origin.url("/json"))
    assert isinstance(cert, aiohttp.ClientConnectorCertificateError)  # an OSError too
    assert error_class(cert) is ErrorClass.TLS

    plain_to_tls = await raised_by(tls_origin.url("/json").replace("https:", "http:"))
    assert error_class(plain_to_tls) is ErrorClass.CONNECT


async def test_aiohttp_timeouts(origin: Origin) -> None:
    slow = await raised_by(origin.url("/delay/2000"),
                           timeout=aiohttp.ClientTimeout(sock_read=0.05))
    assert isinstance(slow, aiohttp.ServerTimeoutError)  # a ServerConnectionError too
    assert error_class(slow) is ErrorClass.TIMEOUT


async def test_aiohttp_redirect_errors(origin: Origin) -> None:
    loop = await raised_by(origin.url("/redirect"), max_redirects=1)
    assert isinstance(loop, aiohttp.TooManyRedirects)
    assert error_class(loop) is ErrorClass.HTTP_STATUS
    bad_url = await raised_by("http://[::1/")
    assert isinstance(bad_url, aiohttp.InvalidURL)
    assert error_class(bad_url) is ErrorClass.PROBE_ERROR


async def test_aiohttp_protocol_errors(raw_server: RawServer) -> None:
    hangup = await raw_server(b"")
    disconnected = await raised_by(f"http://127.0.0.1:{hangup}/")
    assert isinstance(disconnected, aiohttp.ServerDisconnectedError)
    assert error_class(disconnected) is ErrorClass.CONNECT

    short = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    truncated = await raised_by(f"http://127.0.0.1:{short}/")
    assert isinstance(truncated, aiohttp.ClientPayloadError)
    assert error_class(truncated) is ErrorClass.CONNECT

    ftp = await raw_server(b"HTTP/1.1 302 Found\r\nLocation: ftp://x/\r\nContent-Length: 0\r\n\r\n")
    non_http = await raised_by(f"http://127.0.0.1:{ftp}/")
    assert isinstance(non_http, aiohttp.NonHttpUrlRedirectClientError)  # an InvalidURL too
    assert error_class(non_http) is ErrorClass.HTTP_STATUS

    garbage = await raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    not_http = await raised_by(f"http://127.0.0.1:{garbage}/")
    # Not HTTP at all: aiohttp reports a bad status line; no usable status.
    assert type(not_http) is aiohttp.ClientResponseError
    assert "Bad status line" in str(not_http)
    assert error_class(not_http) is ErrorClass.HTTP_STATUS


# -- end to end through the probe ---------------------------------------------------------------


async def test_probe_classifies_a_truncated_body(raw_server: RawServer) -> None:
    port = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    target = make_target("http", f"http://127.0.0.1:{port}/")
    r = await http.run(target, ProbeContext("lab"))  # type: ignore[arg-type]
    assert r.outcome is Outcome.FAILURE and r.status_code == 200
    assert r.error is not None and r.error.cls is ErrorClass.CONNECT
    assert r.error.message.startswith("ClientPayloadError")
    assert r.bytes == 10


async def test_probe_bug_is_unknown_not_failure() -> None:
    # aiohttp refuses a legacy numeric IPv4 host before any network I/O:
    # nothing the target did, so the probe cannot judge it.
    target = make_target("http", "http://127.1/")
    r = await http.run(target, ProbeContext("lab"))  # type: ignore[arg-type]
    assert r.error is not None and r.error.cls is ErrorClass.PROBE_ERROR
    assert r.outcome is Outcome.UNKNOWN
