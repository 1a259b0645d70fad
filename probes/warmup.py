"""Warm-up: the one-time set-up a process's first probe would otherwise time.

Measured with ``time.perf_counter_ns`` around each phase (``slaguard probe``
of a 20 ms endpoint, a fresh process each time, uvloop, the 2-core reference
machine), the first probe of a process read 50–75 ms where the next ones read
~21 ms.  Inside its clock it paid for:

* ~29 ms: the system CA store, loaded when the verified ``SSLContext`` is
  first built (``probes._common.ssl_for``; every request is handed one, for an
  https target or an http one that redirects to https); a ``tls.ca_file``
  costs ~1 ms more on its first use;
* ~2 ms after a first TLS handshake: ``ssl.cert_time_to_seconds`` (the
  certificate's notAfter) imports ``_strptime`` and reads the locale;
* ~2.5 ms in a first name resolution: glibc loads its NSS modules and reads
  its configuration files, the loop starts its resolver threads (libuv's pool
  on uvloop, the default executor on asyncio);
* ~2 ms spread over the first exchange: the first connection the loop makes,
  the first use of aiohttp's C response parser, of ``yarl`` and ``multidict``
  on the request's path, of ``asyncio.timeout``, of a streamed payload.

``warm_up`` does all of that before any clock starts, once per probe context
(the ``SSLContext`` and imports are once per process anyway): it builds the
SSL contexts the targets need, parses a fixed certificate date, resolves
``localhost``, and runs each probe kind (cold and warm http, both upload
modes, freshness, a two-step journey with a poll) against a throwaway HTTP
server of its own on loopback.  ``kind: browser`` is not rehearsed here: its
warm-up is launching its browser (probes.browser's own).  It
sends nothing to any target, and it never fails: a step that cannot run is
skipped (logged at debug level), which only leaves that cost in the first probe.

Left out: the first connection to a target's own address (the kernel's route
and neighbour entries), which only the target can warm; and a rehearsal TLS
handshake, which would need a certificate for the throwaway server: measured
the same way, a process's first handshake (~2.5 ms against a loopback Python
server) was within the noise of later ones once ``_strptime`` is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

from probes import browser, freshness, http, journey, upload
from probes._common import _cold_client, _verified_context, close_connectors, ssl_for
from probes.base import ProbeContext
from slaguard.config.journey import JourneyTarget
from slaguard.config.schema import Expect, FreshnessTarget, HttpTarget, TargetBase, UploadTarget

log = logging.getLogger(__name__)

WarmUp = Callable[[Iterable[Any], ProbeContext], Awaitable[None]]

_DONE = "warmed_up"  # ctx.options key: this context's warm-up has run
_TIMEOUT_S = 10.0  # the whole rehearsal; a stuck step must not hold probing back
_CERT_DATE = "Jan  1 00:00:00 2030 GMT"  # the format of a certificate's notAfter
_BODY = b'{"status": "ok", "finished_at": "2030-01-01T00:00:00Z"}'
_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BODY), _BODY))


async def warm_up(targets: Iterable[Any], ctx: ProbeContext) -> None:
    """Do, before the first probe of ``ctx`` starts its clock, the set-up that
    probe would otherwise include; at most once per context (later calls
    return at once).  ``targets``: those the context will probe (anything that
    is not a target model is ignored)."""
    if ctx.options.get(_DONE):
        return
    ctx.options[_DONE] = True  # set first: concurrent callers do not run it twice
    targets = list(targets)
    _build_ssl_contexts([t for t in targets if isinstance(t, TargetBase)], ctx)
    with contextlib.suppress(ValueError):
        ssl.cert_time_to_seconds(_CERT_DATE)
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            await _cold_client(ctx)  # the context's own client and resolver
            await _resolve_a_name()
            await _rehearse(ctx.location)
    except Exception as exc:  # a warm-up must never stop probing
        log.debug("probe warm-up incomplete: %s: %s", type(exc).__name__, exc)
    # kind: browser: Chromium launched and a practice page loaded off every clock
    # (outside the bound above: a launch on a busy host can take seconds; never raises).
    await browser.warm(targets, ctx)


def _build_ssl_contexts(targets: list[TargetBase], ctx: ProbeContext) -> None:
    # The verified context for every process: an http target may redirect to https.
    _verified_context()
    for target in targets:
        try:
            ssl_for(target, ctx)
        except (OSError, ssl.SSLError) as exc:  # the probe reports it, classified
            log.debug("warm-up: no SSL context for %s: %s", target.name, exc)


async def _resolve_a_name() -> None:
    # A name every host resolves from its own files (/etc/hosts); no target is asked.
    with contextlib.suppress(OSError):
        await asyncio.get_running_loop().getaddrinfo(
            "localhost", 80, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)


async def _rehearse(location: str) -> None:
    """Each probe kind once against a throwaway loopback server, in a context
    of its own (nothing is recorded, nothing is shared with real probes)."""
    server, url = await _serve_locally()
    rehearsal = ProbeContext(location=location)
    try:
        for target in _rehearsal_targets(url):
            result = await _PROBES[target.kind](target, rehearsal)
            if result.error is not None:  # only its first probe pays for what it missed
                log.debug("warm-up: %s: %s", target.name, result.error.message)
    finally:
        await close_connectors(rehearsal)
        server.close()
        await server.wait_closed()


# probes.PROBES, which imports this module (tests/probes/test_warmup.py keeps
# every HTTP kind rehearsed).  Not "browser": an HTTP answer rehearses nothing of a
# browser; its warm-up is launching the browser, which probes.browser does.
_PROBES: dict[str, Any] = {"http": http.run, "upload": upload.run, "freshness": freshness.run,
                           "journey": journey.run}
Rehearsal = HttpTarget | UploadTarget | FreshnessTarget | JourneyTarget


def _rehearsal_journey(common: dict[str, Any]) -> JourneyTarget:
    """Two steps over the throwaway server's one answer: a JSON request with a var and
    an extraction, then a poll until a JSON path holds (templates, checks, the poll)."""
    step = {"method": "POST", "url": "{{base}}/start", "json": {"v": "{{vars.v}}"}}
    return JourneyTarget.model_validate({
        **common, "name": "warm-up-journey", "kind": "journey", "vars": {"v": "1"},
        "steps": [
            {"id": "start", "request": step, "expect": [{"status": 200}],
             "extract": {"state": {"jsonpath": "$.status"}}},
            {"id": "poll", "clock_from": "start", "poll": {
                "request": {"url": "{{base}}/job?s={{state}}"},
                "until": {"jsonpath": "$.status", "equals": "ok"},
                "every": "10ms", "within": "1s"}},
        ]})


def _rehearsal_targets(url: str) -> list[Rehearsal]:
    common: dict[str, Any] = {"service": "warm-up", "url": url, "timeout": timedelta(seconds=5)}
    return [
        HttpTarget(name="warm-up-cold", kind="http", expect=Expect(body_contains="ok"), **common),
        HttpTarget(name="warm-up-warm", kind="http", connection="warm", **common),
        UploadTarget(name="warm-up-multipart", kind="upload", size=4096, **common),
        UploadTarget(name="warm-up-put", kind="upload", size=4096, mode="put", **common),
        FreshnessTarget(name="warm-up-freshness", kind="freshness",
                        timestamp_field="$.finished_at", **common),
        _rehearsal_journey(common),
    ]


async def _serve_locally() -> tuple[asyncio.AbstractServer, str]:
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(_Answer, "127.0.0.1", 0)
        return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    except OSError:  # a host without IPv4 loopback
        server = await loop.create_server(_Answer, "::1", 0)
        return server, f"http://[::1]:{server.sockets[0].getsockname()[1]}/"


class _Answer(asyncio.Protocol):
    """Reads one request (head and Content-Length body), answers 200 with a
    small JSON body, closes: all a rehearsal asks of a server."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.transport is None or self.transport.is_closing():
            return
        length = 0
        for line in self.buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        if len(self.buf) - end - 4 >= length:
            self.transport.write(_ANSWER)
            self.transport.close()
