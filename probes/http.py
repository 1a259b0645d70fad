"""Page and API probe: one request, blackbox_exporter's phases, ``expect`` checks.

Phases (summed over redirects, together exactly ``duration_ms``): resolve,
connect, tls, processing (connection ready → response headers, includes
writing the request body), transfer (headers → body read).  A phase the probe
never reached is absent (no DNS lookup for an IP literal, no tls for http).

``target.connection``: ``cold`` (default) opens a new connection for every
probe, with no keep-alive and no DNS cache (the context's cold probes share one
session whose connector never keeps or reuses a connection, see
probes._common); ``warm`` reuses the target's connector kept in
``ctx.options["connectors"]``, and the result says ``connection="warm"``.
"""

from __future__ import annotations

from probes._common import Client, Observation, fetch, run_probe
from probes._timing import HTTP_TRANSITIONS
from probes.base import ProbeContext
from slaguard.config.schema import HttpTarget
from slaguard.domain import ProbeResult


async def run(target: HttpTarget, ctx: ProbeContext) -> ProbeResult:
    async def exchange(session: Client, obs: Observation) -> None:
        await fetch(
            session, target, ctx, obs, method=target.method, data=target.body, expect=target.expect
        )

    return await run_probe(
        target,
        ctx,
        exchange,
        transitions=HTTP_TRANSITIONS,
        max_durations=[target.expect.max_duration],
    )
