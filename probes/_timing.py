"""Phase timing for aiohttp probes.

Three sources feed one recorder (``ProbeTrace``):

* the cold client (``probes._cold``) marks every event itself, in line;
* for warm probes, aiohttp's ``TraceConfig`` signals: DNS start/end, connection
  created or reused, redirect, response headers parsed
  (``on_request_end`` fires once the headers are in, before the body is read).
  One frozen ``TRACE_CONFIG`` serves every session: its handlers find the
  recorder of the probe that made the request through ``_ACTIVE``;
* ``TimedConnector`` (warm probes): aiohttp has no TLS signal
  (``on_connection_create_end`` comes after both TCP connect and TLS
  handshake), so the connector marks the boundary between the two itself; it
  also reads the peer address and the certificate chain of every connection
  handed to the probe, new or reused.

The recorder is a state machine: every event closes the running segment and
may switch to another phase, so the phases partition the probe's wall time
exactly (no gaps, no overlaps) and always add up to the total.  Time that
belongs to no named phase (aiohttp's own bookkeeping between events, redirect
handling) is kept as ``OTHER`` and folded into one phase at the end.

All durations come from ``time.perf_counter_ns``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohappyeyeballs
import aiohttp
from aiohttp.client_exceptions import cert_errors, ssl_errors
from aiohttp.connector import Connection
from aiohttp.helpers import ceil_timeout

from slaguard.domain import PHASES

OTHER = "other"

# Event → phase that starts with it.  Events missing from a table are recorded
# but do not switch phase.  ``None`` stops accumulation.
Transitions = Mapping[str, str | None]

# blackbox_exporter's phases: resolve = the DNS lookup; connect = DNS done →
# TCP connected; tls = the handshake; processing = connection ready → response
# headers (includes writing the request body); transfer = headers → body read.
HTTP_TRANSITIONS: Transitions = {
    "start": OTHER,
    "dns_start": "resolve",
    "dns_end": "connect",
    "tcp_start": "connect",  # an IP literal has no DNS events
    "tcp_done": OTHER,
    "tls_start": "tls",
    "tls_done": OTHER,
    "conn_ready": "processing",
    "redirect": OTHER,  # the next hop's phases add to this one's
    "headers": "transfer",
}

# Uploads: send = request start → final response status (the server has taken
# the last byte; "last byte written" is too early, the kernel buffers it).
UPLOAD_TRANSITIONS: Transitions = {"start": "send", "headers": "transfer"}

# aiohttp minor version whose private ``_wrap_create_connection`` we re-implement.
PINNED_AIOHTTP = (3, 14)


def aiohttp_is_pinned() -> bool:
    major, minor = (int(p) for p in aiohttp.__version__.split(".")[:2])
    return (major, minor) == PINNED_AIOHTTP


# The installed aiohttp cannot change under a running process: decided once.
AIOHTTP_PINNED = aiohttp_is_pinned()


def ns_to_ms(ns: int) -> int:
    """Round half up; integers only, no float ever enters a result."""
    return (ns + 500_000) // 1_000_000


class PhaseClock:
    """Partition of wall time into named phases, driven by events."""

    __slots__ = ("_clock", "_phase", "_since", "_started", "_stopped", "_transitions",
                 "entered", "ns")

    def __init__(
        self, transitions: Transitions, clock: Callable[[], int] = time.perf_counter_ns
    ) -> None:
        self._transitions = transitions
        self._clock = clock
        self._phase: str | None = None
        self._since = 0
        self._started: int | None = None
        self._stopped: int | None = None
        self.ns: dict[str, int] = {}
        self.entered: list[str] = []  # named phases in the order first entered

    def mark(self, event: str) -> None:
        now = self._clock()
        if event == "start":
            self._started = now
        if self._stopped is not None or event not in self._transitions:
            return
        self._close(now)
        self._phase = self._transitions[event]
        if self._phase not in (None, OTHER) and self._phase not in self.entered:
            self.entered.append(self._phase)

    def stop(self) -> None:
        if self._stopped is None:
            self._stopped = self._clock()
            self._close(self._stopped)
            self._phase = None

    @property
    def total_ns(self) -> int:
        if self._started is None:
            return 0
        end = self._stopped if self._stopped is not None else self._clock()
        return end - self._started

    def _close(self, now: int) -> None:
        if self._phase is not None:
            self.ns[self._phase] = self.ns.get(self._phase, 0) + now - self._since
        self._since = now

    def to_ms(self) -> tuple[int, dict[str, int]]:
        """(duration_ms, phases_ms) whose sum is exactly duration_ms.

        Only phases that were reached appear (a phase never measured is absent,
        not zero, so it cannot drag a percentile down).  Unattributed time goes
        to ``processing`` when reached (it is aiohttp overhead between events,
        like the time processing already holds), else to the last phase reached.
        """
        total = self.total_ns
        named = {p: self.ns.get(p, 0) for p in self.entered}
        if named:
            sink = "processing" if "processing" in named else self.entered[-1]
            named[sink] += total - sum(named.values())
        return ns_to_ms(total), _split_ms(named)


def _split_ms(phases_ns: Mapping[str, int]) -> dict[str, int]:
    # Round the running sum, not each phase, so the rounded phases add up to
    # the rounded total exactly (rounding each could drift by ±1 ms a phase).
    out: dict[str, int] = {}
    cum_ns = cum_ms = 0
    for name in PHASES:
        if name in phases_ns:
            cum_ns += phases_ns[name]
            ms = ns_to_ms(cum_ns)
            out[name] = ms - cum_ms
            cum_ms = ms
    return out


# -- certificates --------------------------------------------------------------


def earliest_cert_expiry(ssl_object: Any) -> tuple[int | None, str | None]:
    """Earliest NotAfter (epoch seconds) over the chain the server presented.

    blackbox's ``probe_ssl_earliest_cert_expiry`` semantics: the chain as
    presented (leaf and intermediates, and the root if the server sends it),
    verified or not.  Python has no public way to decode it before 3.13, and
    3.13's public ``get_unverified_chain()`` returns DER bytes that would need an
    X.509 parser; the private ``_sslobj.get_unverified_chain()`` (3.10+) returns
    certificate objects whose ``get_info()`` has ``notAfter``, so we use that.
    Should it vanish, only the leaf is obtainable, through ``getpeercert()``
    (empty on an unverified connection).  The second value says which was
    used: "chain", "leaf" or None.
    """
    if ssl_object is None:
        return None, None
    found = [e for e in map(_not_after, _presented_chain(ssl_object)) if e is not None]
    if found:
        return min(found), "chain"
    with contextlib.suppress(ValueError, AttributeError):
        leaf = _info_not_after(ssl_object.getpeercert())
        if leaf is not None:
            return leaf, "leaf"
    return None, None


def _presented_chain(ssl_object: Any) -> list[Any]:
    getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is None:
        return []
    with contextlib.suppress(ssl.SSLError, ValueError):
        return list(getter() or [])
    return []


def _not_after(cert: Any) -> int | None:
    get_info = getattr(cert, "get_info", None)  # absent on plain DER bytes
    return _info_not_after(get_info()) if get_info is not None else None


def _info_not_after(info: Mapping[str, Any] | None) -> int | None:
    if not info or "notAfter" not in info:
        return None
    return int(ssl.cert_time_to_seconds(info["notAfter"]))


# -- the recorder --------------------------------------------------------------


@dataclass(slots=True)
class TraceFacts:
    """What the probe learned about the connection(s), besides timing."""

    reused: bool = False  # a kept-alive connection served the request (warm)
    dns_cache_hit: bool = False
    new_connections: int = 0
    redirects: int = 0
    peer: str | None = None  # remote address of the last new connection
    cert_expiry: int | None = None  # earliest over every TLS connection made
    cert_source: str | None = None  # "chain" or "leaf", see earliest_cert_expiry
    tls_version: str | None = None
    tls_resumed: bool = False  # a TLS session was resumed (cold probes: never)
    hosts: list[str] = field(default_factory=list)  # names resolved


# The recorder of the probe running in the current task.  A ContextVar (task
# local, not a global) because clients and connectors are shared by the probes
# of a context (cold probes share one client, warm ones their target's
# connector), the trace handlers are shared by every probe, and aiohttp gives
# ``_wrap_create_connection`` no handle on the request's traces.  Signals fire
# and connections are created in the requesting task, so the lookup is exact.
_ACTIVE: ContextVar[ProbeTrace | None] = ContextVar("slaguard_probe_trace", default=None)


class ProbeTrace:
    """One probe's recorder: a PhaseClock plus connection facts."""

    __slots__ = ("clock", "facts")

    def __init__(self, transitions: Transitions) -> None:
        self.clock = PhaseClock(transitions)
        self.facts = TraceFacts()

    def mark(self, event: str) -> None:
        self.clock.mark(event)

    @contextlib.contextmanager
    def running(self) -> Iterator[ProbeTrace]:
        """Start the clock and make this the task's active recorder."""
        token = _ACTIVE.set(self)
        self.mark("start")
        try:
            yield self
        finally:
            self.clock.stop()
            _ACTIVE.reset(token)

    # The events that also record a fact: one method each, for aiohttp's
    # signals (warm probes) and the cold client alike.

    def resolving(self, host: str) -> None:
        self.mark("dns_start")
        self.facts.hosts.append(host)

    def new_connection_ready(self) -> None:
        self.mark("conn_ready")
        self.facts.new_connections += 1

    def redirected(self) -> None:
        self.mark("redirect")
        self.facts.redirects += 1

    def note_connection(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        if peer:
            self.facts.peer = str(peer[0])
        self.note_tls(transport.get_extra_info("ssl_object"))

    def note_tls(self, ssl_object: Any) -> None:
        if ssl_object is None:
            return
        expiry, source = earliest_cert_expiry(ssl_object)
        known = self.facts.cert_expiry
        if expiry is not None and (known is None or expiry < known):
            self.facts.cert_expiry, self.facts.cert_source = expiry, source
        self.facts.tls_version = ssl_object.version()
        if ssl_object.session_reused:
            self.facts.tls_resumed = True


# -- aiohttp's signals -----------------------------------------------------------
#
# aiohttp calls signal handlers as handler(session, trace_config_ctx, params),
# inline in the task that makes the request, i.e. the probe's own task (the one
# exception, a DNS lookup shared through aiohttp's DNS cache, runs in a task
# created by the first requester, which inherits that requester's context, so
# it is attributed to the probe that asked).  A request made outside a probe
# (no active recorder) is ignored.


def _marker(event: str) -> Callable[..., Awaitable[None]]:
    async def handler(_s: Any, _c: Any, _p: Any) -> None:
        trace = _ACTIVE.get()
        if trace is not None:
            trace.mark(event)

    handler.__name__ = f"mark_{event}"
    return handler


async def _on_dns_start(_s: Any, _c: Any, params: Any) -> None:
    trace = _ACTIVE.get()
    if trace is not None:
        trace.resolving(params.host)


async def _on_dns_cache_hit(_s: Any, _c: Any, _p: Any) -> None:
    trace = _ACTIVE.get()
    if trace is not None:
        trace.facts.dns_cache_hit = True


async def _on_created(_s: Any, _c: Any, _p: Any) -> None:
    trace = _ACTIVE.get()
    if trace is not None:
        trace.new_connection_ready()


async def _on_reused(_s: Any, _c: Any, _p: Any) -> None:
    trace = _ACTIVE.get()
    if trace is not None:
        trace.mark("conn_ready")
        trace.facts.reused = True


async def _on_redirect(_s: Any, _c: Any, _p: Any) -> None:
    trace = _ACTIVE.get()
    if trace is not None:
        trace.redirected()


def _build_trace_config() -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()
    tc.on_dns_resolvehost_start.append(_on_dns_start)
    tc.on_dns_resolvehost_end.append(_marker("dns_end"))
    tc.on_dns_cache_hit.append(_on_dns_cache_hit)
    tc.on_connection_create_end.append(_on_created)
    tc.on_connection_reuseconn.append(_on_reused)
    tc.on_request_redirect.append(_on_redirect)
    tc.on_request_end.append(_marker("headers"))
    tc.freeze()
    return tc


# Shared by every warm probe's session: stateless, its handlers look the recorder up.
TRACE_CONFIG = _build_trace_config()


# -- the connector -------------------------------------------------------------


class TimedConnector(aiohttp.TCPConnector):
    """A TCPConnector that times TCP connect and TLS handshake apart.

    Re-implements the private ``_wrap_create_connection`` of aiohttp 3.14
    (``PINNED_AIOHTTP``), which since 3.10 dials with
    ``aiohappyeyeballs.start_connection()`` and then runs the TLS handshake in
    ``loop.create_connection(sock=...)``; we mark the moment between the two.
    On any other aiohttp version the stock method runs instead and the
    handshake lands in ``connect`` (tests/probes/test_errors.py asserts the pin
    so an upgrade is noticed).
    """

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        conn = await super().connect(req, traces, timeout)
        # Every connection a probe uses, new or kept alive, every hop: its peer
        # and certificate chain (a reused one had no handshake to watch).
        trace = _ACTIVE.get()
        if trace is not None and conn.transport is not None:
            trace.note_connection(conn.transport)
        return conn

    async def _wrap_create_connection(
        self,
        *args: Any,
        addr_infos: list[aiohappyeyeballs.AddrInfoType],
        req: aiohttp.ClientRequest,
        timeout: aiohttp.ClientTimeout,
        client_error: type[Exception] = aiohttp.ClientConnectorError,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, Any]:
        trace = _ACTIVE.get()
        if trace is None or not AIOHTTP_PINNED:
            if trace is not None:
                trace.mark("tcp_start")  # connect then covers TCP and TLS
            transport, proto = await super()._wrap_create_connection(
                *args, addr_infos=addr_infos, req=req, timeout=timeout,
                client_error=client_error, **kwargs,
            )
            if trace is not None:
                trace.mark("tcp_done")
            return transport, proto
        try:
            async with ceil_timeout(timeout.sock_connect, ceil_threshold=timeout.ceil_threshold):
                return await self._connect_timed(trace, args, addr_infos, kwargs)
        # The same translation aiohttp 3.14 does, so callers see the same errors.
        except cert_errors as exc:
            raise aiohttp.ClientConnectorCertificateError(req.connection_key, exc) from exc
        except ssl_errors as exc:
            raise aiohttp.ClientConnectorSSLError(req.connection_key, exc) from exc
        except OSError as exc:
            if exc.errno is None and isinstance(exc, asyncio.TimeoutError):
                raise
            raise client_error(req.connection_key, exc) from exc

    async def _connect_timed(
        self,
        trace: ProbeTrace,
        args: tuple[Any, ...],
        addr_infos: list[aiohappyeyeballs.AddrInfoType],
        kwargs: dict[str, Any],
    ) -> tuple[asyncio.Transport, Any]:
        # aiohttp passes exactly ssl (a context, or None for http) and server_hostname.
        return await dial(
            self._loop, trace, args[0], addr_infos,
            ssl_context=kwargs.get("ssl") or None,
            server_hostname=kwargs.get("server_hostname"),
            local_addr_infos=self._local_addr_infos,
            happy_eyeballs_delay=self._happy_eyeballs_delay,
            interleave=self._interleave,
            socket_factory=self._socket_factory,
            ssl_shutdown_timeout=self._ssl_shutdown_timeout,
        )


# -- dialling --------------------------------------------------------------------


async def dial(
    loop: asyncio.AbstractEventLoop,
    trace: ProbeTrace,
    factory: Callable[[], asyncio.Protocol],
    addr_infos: list[aiohappyeyeballs.AddrInfoType],
    *,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    local_addr_infos: list[aiohappyeyeballs.AddrInfoType] | None = None,
    happy_eyeballs_delay: float | None = 0.25,
    interleave: int | None = None,
    socket_factory: Any = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, Any]:
    """TCP connect (happy eyeballs over ``addr_infos``), then the TLS handshake
    on that socket, marking tcp_start, tcp_done, tls_start and tls_done
    between them.  Exceptions are the loop's own (OSError, ssl.SSLError)."""
    trace.mark("tcp_start")
    direct = _direct_address(addr_infos, ssl_context, local_addr_infos, socket_factory)
    if direct is not None:
        family, proto, (host, port), local = direct
        transport, protocol = await loop.create_connection(
            factory, host, port, family=family, proto=proto, local_addr=local)
        trace.mark("tcp_done")
        return transport, protocol
    sock = await aiohappyeyeballs.start_connection(
        addr_infos=addr_infos,
        local_addr_infos=local_addr_infos,
        happy_eyeballs_delay=happy_eyeballs_delay,
        interleave=interleave,
        loop=loop,
        socket_factory=socket_factory,
    )
    trace.mark("tcp_done")
    if ssl_context is None:
        return await loop.create_connection(factory, sock=sock)
    trace.mark("tls_start")
    extra: dict[str, Any] = {}
    if ssl_shutdown_timeout and sys.version_info >= (3, 11):
        extra["ssl_shutdown_timeout"] = ssl_shutdown_timeout
    transport, protocol = await loop.create_connection(
        factory, sock=sock, ssl=ssl_context, server_hostname=server_hostname, **extra)
    trace.mark("tls_done")
    return transport, protocol


def _direct_address(
    addr_infos: list[aiohappyeyeballs.AddrInfoType],
    ssl_context: ssl.SSLContext | None,
    local_addr_infos: list[aiohappyeyeballs.AddrInfoType] | None,
    socket_factory: Any,
) -> tuple[int, int, tuple[str, int], tuple[str, int] | None] | None:
    """Arguments for the loop to dial in one step, when there is nothing to
    race (one address) and no handshake to time apart (no TLS): about half
    the latency of building the socket first (uvloop connects in C), and
    every microsecond of it lands in the probe's ``connect``."""
    if ssl_context is not None or len(addr_infos) != 1 or socket_factory is not None:
        return None
    family, _type, proto, _name, address = addr_infos[0]
    if family not in (socket.AF_INET, socket.AF_INET6) or address[2:] not in ((), (0, 0)):
        return None  # an IPv6 flow label or scope id needs the socket path
    local = local_addr_infos[0][4] if local_addr_infos else None
    return family, proto, (str(address[0]), int(address[1])), \
        None if local is None else (str(local[0]), int(local[1]))
