"""The fuzz drill's requests: the hostile-request strategy of tests/core/test_fuzz_routes.py
(every route the application's router has × anonymous, customer and staff tokens, with
bad numbers, instants, months, JSON of every type, deep nesting, bogus multipart,
oversize cookies and tokens), drawn here and sent over HTTP to a running
``slaguard run``.

The routes are enumerated from ``App.web_app()`` built in this process on a throwaway
store (the same code ``slaguard run`` serves), so a new route is fuzzed without
editing this file.  Drawing is derandomized by a seed: the same seed gives the same
requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.core import test_fuzz_routes as fuzz

STAFF, CUSTOMER = fuzz.STAFF, fuzz.CUSTOMER


def customers() -> list[dict[str, Any]]:
    """The customer the fuzz strategy's customer token belongs to."""
    return [{"id": "acme", "name": "Acme", "monthly_fee": "100.00", "services": ["core"],
             "token": CUSTOMER}]


async def _routes(tmp: Path) -> list[tuple[str, str]]:
    from slaguard.app import App
    from slaguard.config import parse_config
    from tests.conftest import api_config

    cfg, _ = parse_config(api_config(tmp, STAFF, CUSTOMER), env={})
    app = App(cfg, serve_http=False)
    try:
        web = app.web_app()
        return sorted({(r.method, r.resource.canonical) for r in web.router.routes()
                       if r.resource is not None and r.method != "HEAD"})
    finally:
        await app.stop()


def routes(tmp: Path) -> list[tuple[str, str]]:
    tmp.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_routes(tmp))


def subsets(routes: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """The route sets of the test's four fuzz tests (its ``EXAMPLES`` split the 10 000)."""
    def only(keep: Any) -> list[tuple[str, str]]:
        return [r for r in routes if keep(*r)] or routes
    return {
        "any": routes,
        "writes": only(lambda m, p: m == "POST" and p.startswith(
            ("/api/v1/incidents", "/api/v1/maintenance", "/api/v1/alertmanager"))),
        "claims": only(lambda m, p: p.startswith(
            ("/api/v1/claims", "/api/v1/statements", "/portal"))),
        "queries": only(lambda m, p: m == "GET" and p.startswith("/api/")),
    }


def draw(routes: list[tuple[str, str]], n: int, base_seed: int) -> list[dict[str, Any]]:
    """``n`` requests drawn by hypothesis from the test's strategy, split over its route
    sets in the test's proportions (generation only: nothing is shrunk or replayed)."""
    out: list[dict[str, Any]] = []
    total = sum(fuzz.EXAMPLES.values())
    for i, (name, chosen) in enumerate(subsets(routes).items()):
        want = len(out) + round(n * fuzz.EXAMPLES[name] / total)
        if i == len(fuzz.EXAMPLES) - 1:
            want = n
        strategy = fuzz.requests(st.sampled_from(chosen))
        batch = 0
        while len(out) < want:
            @settings(max_examples=want - len(out), database=None, deadline=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(req=strategy)
            def collect(req: dict[str, Any]) -> None:
                out.append(req)

            # A seed per round: reproducible, and a second round draws new examples.
            seed(base_seed + 100 * i + batch)(collect)()
            batch += 1
        del out[want:]
    return out


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    not_sent: Counter[str] = field(default_factory=Counter)  # the client refused to encode it
    no_answer: Counter[str] = field(default_factory=Counter)  # connection dropped, timeout
    five_xx: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


async def send_all(base: str, requests: list[dict[str, Any]], concurrency: int = 8) -> Tally:
    tally = Tally()
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=60)

    async def one(session: aiohttp.ClientSession, req: dict[str, Any]) -> None:
        async with limit:
            try:
                async with session.request(req["method"], req["path"], params=req["params"],
                                           data=req["data"], headers=req["headers"],
                                           allow_redirects=False) as resp:
                    body = await resp.read()
                    tally.statuses[resp.status] += 1
                    if resp.status >= 500:
                        tally.five_xx.append({"method": req["method"],
                                              "path": req["path"][:200],
                                              "params": str(req["params"])[:200],
                                              "status": resp.status,
                                              "body": body[:300].decode(errors="replace")})
            except (ValueError, UnicodeError) as e:  # the client cannot put it on the wire
                tally.not_sent[type(e).__name__] += 1
            except (aiohttp.ClientError, TimeoutError) as e:
                tally.no_answer[type(e).__name__] += 1

    t0 = time.monotonic()
    async with aiohttp.ClientSession(base_url=base, timeout=timeout) as session:
        await asyncio.gather(*(one(session, r) for r in requests))
    tally.seconds = time.monotonic() - t0
    return tally
