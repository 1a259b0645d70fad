"""The cold probes' HTTP/1.1 client: a new connection for every request, closed after.

Cold probes (the default) have blackbox_exporter's semantics: every probe
resolves, connects and, for https, handshakes.  An ``aiohttp.ClientSession``
brings what they never use (a connection pool, a cookie jar, a DNS cache,
trace signals) and costs about 0.1 ms of Python before the first packet and
after the last one, all of it inside the probe's clock.  This client keeps
aiohttp's protocol layer, which is where HTTP is hard: ``ResponseHandler``
(the C parser; chunked, compressed and close-delimited bodies; payload
errors) and, for streamed request bodies, ``StreamWriter`` and ``Payload``.
The rest is a straight line, the probe's recorder (``probes._timing``) marking
every event itself:

    resolve (names only) → dial (TCP, then TLS, timed apart) → write the request
    → read the response head (1xx skipped) → a redirect: again on a new
    connection; otherwise the caller reads the body, and the connection closes.

Requests are what aiohttp would send for the same call: Host, Accept */*,
aiohttp's Accept-Encoding and User-Agent (a target's own headers win), and
``Connection: close``; a ``str`` body is UTF-8 ``text/plain``, a body-less
POST/PUT/PATCH says ``Content-Length: 0``; a user and password in the URL
become Basic authorization.  Redirects (301, 302, 303, 307, 308) are followed
as aiohttp follows them: 303, and 301/302 after a POST, become a body-less
GET; a new origin drops Authorization and Cookie; a relative Location (and
"http:x") is joined; the ``MAX_REDIRECTS``-th redirect is refused.  Failures
are our own ``ProbeFailure``s, so ``probes.errors`` classifies them without
knowing this module; aiohttp's protocol errors (a reset, a truncated body)
pass as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohappyeyeballs
from aiohttp import encode_basic_auth, hdrs
from aiohttp.abc import AbstractResolver
from aiohttp.client import _has_no_authority
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest
from aiohttp.helpers import (
    EMPTY_BODY_METHODS,
    is_canonical_ipv4_address,
    is_ip_address,
    parse_content_type,
)
from aiohttp.http import SERVER_SOFTWARE, HttpProcessingError, RawResponseMessage, StreamWriter
from aiohttp.payload import Payload
from aiohttp.resolver import DefaultResolver
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from probes._timing import _ACTIVE, HTTP_TRANSITIONS, ProbeTrace, dial
from probes.errors import (
    ConnectFailure,
    DnsFailure,
    MalformedResponse,
    ProbeFailure,
    RedirectFailure,
    TlsFailure,
)

MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# aiohttp's Accept and Accept-Encoding: the encodings its parser can decode.
_DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (
    *((str(k), v) for k, v in ClientRequest.DEFAULT_HEADERS.items()),
    (hdrs.USER_AGENT, SERVER_SOFTWARE),
)
_GET_METHODS = frozenset(ClientRequest.GET_METHODS)
_POST_METHODS = frozenset(ClientRequest.POST_METHODS)
_DROPPED_ACROSS_ORIGINS = (hdrs.AUTHORIZATION, hdrs.COOKIE, hdrs.PROXY_AUTHORIZATION)
# What aiohttp refuses in a header (a line break would let a config inject headers).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(slots=True)
class ColdResponse:
    """The part of ``aiohttp.ClientResponse`` a probe reads."""

    status: int
    headers: CIMultiDictProxy[str]
    content: StreamReader

    @property
    def charset(self) -> str | None:
        ctype = self.headers.get(hdrs.CONTENT_TYPE)
        return parse_content_type(ctype)[1].get("charset") if ctype else None


class ColdClient:
    """Requests over new connections; nothing is kept between two requests
    but the resolver, so one client serves every cold probe of a context."""

    def __init__(
        self,
        *,
        resolver: AbstractResolver | None = None,
        local_addr: tuple[str, int] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._owns_resolver = resolver is None
        self._resolver = resolver if resolver is not None else DefaultResolver()
        self._local = aiohappyeyeballs.addr_to_addr_infos(local_addr)
        self.closed = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._owns_resolver:
                await self._resolver.close()

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        data: str | bytes | Payload | None = None,
        allow_redirects: bool = True,
        ssl: ssl.SSLContext,
        server_hostname: str | None = None,
    ) -> AsyncIterator[ColdResponse]:
        """The final response, its head read; the body is the caller's to
        read inside the block.  ``ssl`` is used for https URLs only."""
        trace = _ACTIVE.get() or ProbeTrace(HTTP_TRANSITIONS)  # a request outside a probe
        target = URL(url)
        for _hop in range(MAX_REDIRECTS):
            transport, proto = await self._open(target, ssl, server_hostname, trace)
            sending: asyncio.Future[None] | None = None
            try:
                message, payload, sending = await _exchange(
                    self._loop, transport, proto, method, target, headers, data)
                location = _location(message) if allow_redirects else None
                if location is None:
                    trace.mark("headers")
                    yield ColdResponse(message.code, message.headers, payload)
                    return
            finally:
                await _stop(sending)
                # Never reused, and a write nobody reads must not keep the socket.
                transport.abort()
            trace.redirected()
            target, method, data, headers = _next_hop(
                target, location, message.code, method, data, headers)
        raise RedirectFailure(f"stopped after {MAX_REDIRECTS} redirects")

    async def _open(
        self, url: URL, ssl_context: ssl.SSLContext, server_hostname: str | None,
        trace: ProbeTrace,
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        host, port = url.raw_host, url.port
        if not host or port is None:
            raise ProbeFailure(f"no host to connect to in {url}")
        if host.endswith(".."):  # an FQDN keeps one trailing dot, as aiohttp does
            host = host.rstrip(".") + "."
        addr_infos = await self._addresses(host, port, trace)
        tls = ssl_context if url.scheme == "https" else None
        try:
            transport, proto = await dial(
                self._loop, trace, lambda: ResponseHandler(self._loop), addr_infos,
                ssl_context=tls,
                # Certificates name hosts without the trailing dot.
                server_hostname=(server_hostname or host).rstrip(".") if tls else None,
                local_addr_infos=self._local,
            )
        except ssl.SSLError as exc:  # before OSError, which it is
            raise TlsFailure(f"TLS handshake with {host}:{port} failed: {exc}") from exc
        except OSError as exc:
            if exc.errno is None and isinstance(exc, TimeoutError):
                raise
            raise ConnectFailure(f"cannot connect to {host}:{port}: {exc}") from exc
        try:
            trace.note_connection(transport)
        except BaseException:
            transport.abort()
            raise
        trace.new_connection_ready()
        return transport, proto

    async def _addresses(
        self, host: str, port: int, trace: ProbeTrace
    ) -> list[aiohappyeyeballs.AddrInfoType]:
        if is_ip_address(host):
            # Legacy numeric forms (127.1, 2130706433) would slip past a policy
            # that reads the host as written.
            if ":" not in host and not is_canonical_ipv4_address(host):
                raise ProbeFailure(f"{host} is not a canonical IPv4 address")
            return [_addr_info(host, port)]
        trace.resolving(host)
        try:
            found = await self._resolver.resolve(host, port, family=socket.AF_UNSPEC)
        except OSError as exc:
            if exc.errno is None and isinstance(exc, TimeoutError):
                raise
            raise DnsFailure(f"cannot resolve {host}: {exc}") from exc
        trace.mark("dns_end")
        infos = [_addr_info(entry["host"], entry["port"]) for entry in found]
        if not infos:
            raise DnsFailure(f"cannot resolve {host}: no address")
        return infos


def _addr_info(address: str, port: int) -> aiohappyeyeballs.AddrInfoType:
    if ":" in address:
        return socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0)
    return socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)


# -- one request on one connection -------------------------------------------------


async def _exchange(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.Transport,
    proto: ResponseHandler,
    method: str,
    url: URL,
    headers: dict[str, str],
    data: str | bytes | Payload | None,
) -> tuple[RawResponseMessage, StreamReader, asyncio.Future[None] | None]:
    """Send the request and read the response head.  A streamed body is still
    being written when this returns (a server may answer before it has read it
    all, and read it after): the caller stops the writer it gets back once it
    is done with the response."""
    proto.set_response_params(
        skip_payload=method in EMPTY_BODY_METHODS, read_until_eof=True, auto_decompress=True)
    head, body, payload = _request(method, url, headers, data)
    if payload is None:
        transport.write(head + body)  # one write: one segment for a small request
        return *await _read_head(proto), None
    writer = StreamWriter(proto, loop)
    if payload.size is None:
        writer.enable_chunking()
    transport.write(head)
    sending = asyncio.ensure_future(_send(writer, payload, proto))
    try:
        return *await _read_head(proto), sending
    except BaseException:
        await _stop(sending)
        raise


async def _send(writer: StreamWriter, payload: Payload, proto: ResponseHandler) -> None:
    try:
        await payload.write_with_length(writer, None)
        await writer.write_eof()
    except Exception as exc:
        proto.set_exception(exc)  # the response read raises it, and it is classified


async def _stop(sending: asyncio.Future[None] | None) -> None:
    """Cancel a body writer and wait for it, without swallowing a cancellation
    of the probe itself (its deadline)."""
    if sending is None:
        return
    sending.cancel()
    try:
        await sending
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def _read_head(proto: ResponseHandler) -> tuple[RawResponseMessage, StreamReader]:
    while True:
        try:
            message, payload = await proto.read()
        except HttpProcessingError as exc:
            raise MalformedResponse(f"malformed response: {exc.message}") from exc
        # 1xx (100 Continue, 103 Early Hints) precede the response; 101 is one.
        if not 100 <= message.code <= 199 or message.code == 101:
            return message, payload


def _request(
    method: str, url: URL, headers: dict[str, str], data: str | bytes | Payload | None
) -> tuple[bytes, bytes, Payload | None]:
    """(head, small body, streamed body): the bytes of a request as aiohttp
    would write them."""
    out: CIMultiDict[str] = CIMultiDict()
    out[hdrs.HOST] = url.host_port_subcomponent or ""
    out.update(headers)
    for default, value in _DEFAULT_HEADERS:
        out.setdefault(default, value)
    if url.raw_user or url.raw_password:  # http://user:password@host/
        out[hdrs.AUTHORIZATION] = encode_basic_auth(url.user or "", url.password or "")
    body, payload = b"", None
    if isinstance(data, Payload):
        payload = data
        for key, value in data.headers.items():
            out.setdefault(key, value)
        if data.size is not None:
            out.setdefault(hdrs.CONTENT_LENGTH, str(data.size))
        else:
            out.setdefault(hdrs.TRANSFER_ENCODING, "chunked")
    elif data is not None:
        body = data.encode() if isinstance(data, str) else data
        out.setdefault(hdrs.CONTENT_LENGTH, str(len(body)))
        out.setdefault(hdrs.CONTENT_TYPE, "text/plain; charset=utf-8"
                       if isinstance(data, str) else "application/octet-stream")
    elif method not in _GET_METHODS:
        out.setdefault(hdrs.CONTENT_LENGTH, "0")
    if method in _POST_METHODS:
        out.setdefault(hdrs.CONTENT_TYPE, "application/octet-stream")
    out.setdefault(hdrs.CONNECTION, "close")
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1"]
    for name, value in out.items():
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise ProbeFailure(f"header {name!r} contains a control character")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body, payload


# -- redirects --------------------------------------------------------------------


def _location(message: RawResponseMessage) -> str | None:
    if message.code not in _REDIRECTS:
        return None
    return message.headers.get(hdrs.LOCATION) or message.headers.get(hdrs.URI)


def _next_hop(
    url: URL, location: str, status: int, method: str,
    data: str | bytes | Payload | None, headers: dict[str, str],
) -> tuple[URL, str, str | bytes | Payload | None, dict[str, str]]:
    try:
        parsed = URL(location, encoded=False)
    except ValueError as exc:
        raise RedirectFailure(f"redirect to an invalid location {location!r}: {exc}") from exc
    if parsed.scheme and parsed.scheme not in ("http", "https"):
        raise RedirectFailure(f"redirect to a non-HTTP location {location!r}")
    if not parsed.scheme or (
        parsed.scheme == url.scheme and _has_no_authority(location, parsed.scheme)
    ):
        parsed = url.join(parsed)  # "/x", "x", and "http:x" as browsers read it
    if not parsed.raw_host:
        raise RedirectFailure(f"redirect to a location without a host {location!r}")
    if (status == 303 and method != hdrs.METH_HEAD) or (
        status in (301, 302) and method == hdrs.METH_POST
    ):
        method, data = hdrs.METH_GET, None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    if parsed.origin() != url.origin():
        dropped = {h.lower() for h in _DROPPED_ACROSS_ORIGINS}
        headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
    return parsed.with_fragment(None), method, data, headers

