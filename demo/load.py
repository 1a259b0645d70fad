"""How the demo platform behaves under load, and what it bills.

``CapacityModel`` (issue 18): every request takes ``base_ms`` of service time, every
other request in flight makes it slower by ``slope_ms``, and past
a knee the platform sheds load — a request that arrives while ``knee`` requests are
already in flight answers 503 at once.  A capacity run that stays below the knee passes
with latency that grows with its users; one that pushes past it sees a share of 503s
that grows with the overload, so its error-rate threshold fails.

``Usage``: the platform counts requests that carry ``X-Slaguard-Probe`` apart from its
customers' traffic, so synthetic monitoring never appears on a bill (``GET /api/usage``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PROBE_HEADER = "X-Slaguard-Probe"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("demo.platform")


def is_probe(request: web.Request) -> bool:
    return PROBE_HEADER in request.headers


@dataclass
class CapacityModel:
    """Latency = the handler's own + ``base_ms`` + ``slope_ms`` per other request in
    flight (the service time is what lets requests overlap at all); a request
    arriving with ``knee`` already in flight is refused (503).  ``exempt`` paths (the
    usage counters) are neither slowed nor counted, so they can be read under load."""

    # The demo platform's shape: 50 requests at once at most, and at 49 in flight an
    # answer takes 2 + 48 × 4 ≈ 200 ms.  Users thinking ~1 s between requests keep
    # about users × latency / 1 s in flight, so concurrency feeds on itself once users
    # × slope passes the think time: 100 such users stay near 2 ms, 400 climb to the
    # knee and a share of them is shed (demo.config's two capacity jobs).
    knee: int = 50
    base_ms: float = 2.0
    slope_ms: float = 4.0
    exempt: frozenset[str] = frozenset({"/api/usage"})
    in_flight: int = 0
    peak_in_flight: int = 0
    served: int = 0
    rejected: int = 0

    def __post_init__(self) -> None:
        if self.knee < 1:
            raise ValueError("knee: at least 1 request in flight")
        if self.base_ms < 0 or self.slope_ms < 0:
            raise ValueError("base_ms, slope_ms: not negative")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in self.exempt:
            return await handler(request)
        if self.in_flight >= self.knee:
            self.rejected += 1
            return web.json_response({"error": f"over capacity ({self.knee} requests in "
                                               "flight)"}, status=503,
                                     headers={"Retry-After": "1"})
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            delay_s = (self.base_ms + self.slope_ms * (self.in_flight - 1)) / 1000
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            response = await handler(request)
            self.served += 1
            return response
        finally:
            self.in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        return {"knee": self.knee, "base_ms": self.base_ms, "slope_ms": self.slope_ms,
                "in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight,
                "served": self.served, "rejected": self.rejected}


@dataclass
class Ledger:
    """One side of the books: requests and generated pages."""

    requests: int = 0
    documents: int = 0
    pages: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "documents": self.documents, "pages": self.pages}


@dataclass
class Usage:
    """What the platform would bill (customers) and what it keeps out (probes)."""

    billable: Ledger = field(default_factory=Ledger)
    probe: Ledger = field(default_factory=Ledger)

    def ledger(self, request: web.Request) -> Ledger:
        return self.probe if is_probe(request) else self.billable

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/api/usage":
            self.ledger(request).requests += 1
        return await handler(request)

    def document(self, request: web.Request, pages: int) -> None:
        """A generation job started: billed to the customer unless a probe asked for it
        (logged, so the platform's own log shows why it is not on the bill)."""
        ledger = self.ledger(request)
        ledger.documents += 1
        ledger.pages += pages
        if ledger is self.probe:
            log.info("probe job (%s %s) kept out of billing: %d pages",
                     PROBE_HEADER, request.headers[PROBE_HEADER][:64], pages)

    def as_dict(self) -> dict[str, Any]:
        return {"billable": self.billable.as_dict(), "probe": self.probe.as_dict()}
