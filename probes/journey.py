"""``kind: journey``: a user's path through the platform, one ``ProbeResult`` per run.

The steps run in order over one aiohttp session (the run's own connections and
cookies, nothing shared with other runs).  Every request carries
``X-Slaguard-Probe: <result id>`` so the platform can keep probe traffic out of
its billing and find a run in its own logs.  A run:

* renders each request (``{{base}}``, ``{{vars.x}}``, ``{{x}}``), sends it, reads the
  body (capped at ``max_body``), checks ``expect`` and ``extract``s values;
* a ``poll`` step asks until ``until`` holds, failing on ``fail_if`` or when
  ``within`` has passed (polls are on a fixed grid from the step's start, so a
  slow answer does not stretch the period);
* after a failed critical step the rest is skipped except ``always_run`` steps
  (clean-up), which also run after the journey's ``timeout`` ran out, each with
  its own ``CLEANUP_BUDGET``;
* ``StepResult.offset_ms``/``elapsed_ms`` are exact ms from the run's start; a step
  with ``clock_from`` counts from that earlier step's start.

The result's outcome is the worst of its critical steps; ``duration_ms`` is the
whole run.  Secrets are masked (``***``) in every message.  Never raises for a
target failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from dataclasses import dataclass, field

import aiohttp

from probes._common import ssl_for
from probes._journey_checks import Answer, check_all, extract, holds
from probes._journey_values import MissingValue, Values
from probes.base import ProbeContext
from probes.errors import AssertionFailed, BodyTooLarge, ProbeTimeout, classify, outcome_of
from slaguard.config.journey import JourneyRequest, JourneyTarget, Poll, Step
from slaguard.domain import ErrorClass, ProbeError, ProbeResult, StepResult, result_id

log = logging.getLogger(__name__)
PROBE_HEADER = "X-Slaguard-Probe"
# What a clean-up step may take once the journey's own timeout has run out.
CLEANUP_BUDGET_S = 10.0
_CHUNK = 64 * 1024


@dataclass
class _Run:
    """One run's state: its clock, values and the steps recorded so far."""

    target: JourneyTarget
    ctx: ProbeContext
    session: aiohttp.ClientSession
    values: Values
    probe_id: str
    t0_ns: int
    deadline: float  # loop time the journey's timeout runs out
    started_ms: dict[str, int] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)

    def now_ms(self) -> int:
        return (time.perf_counter_ns() - self.t0_ns) // 1_000_000


async def run(target: JourneyTarget, ctx: ProbeContext) -> ProbeResult:
    ts_ms = ctx.now_ms()
    values = Values(base=target.url.rstrip("/"), vars=target.var_values())
    for secret in target.secret_vars():
        values.add_secret(secret)
    # The session (and the SSL context it is handed) is set up before the clock starts:
    # the run measures the platform, not this process's one-time set-up.
    async with _session(target, ctx) as session:
        t0 = time.perf_counter_ns()
        deadline = asyncio.get_running_loop().time() + target.timeout.total_seconds()
        r = _Run(target, ctx, session, values, result_id(target.name, ctx.location, ts_ms),
                 t0, deadline)
        await _run_steps(r)
    elapsed_ns = time.perf_counter_ns() - t0
    return _result(r, ts_ms, elapsed_ns)


def _session(target: JourneyTarget, ctx: ProbeContext) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=ctx.options.get("resolver"), local_addr=ctx.options.get("local_addr"),
        ssl=ssl_for(target, ctx),
    )
    # No aiohttp timeouts: the journey's deadline is the one way to time out.
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _run_steps(r: _Run) -> None:
    failed = False
    for step in r.target.steps:
        if failed and not step.always_run:
            continue
        result = await _step(r, step, cleanup=failed)
        if result is None:
            continue
        r.steps.append(result)
        if not result.ok and step.critical:
            failed = True


async def _step(r: _Run, step: Step, *, cleanup: bool) -> StepResult | None:
    loop = asyncio.get_running_loop()
    deadline = r.deadline
    if loop.time() >= deadline:
        if not step.always_run:
            return None
        deadline = loop.time() + CLEANUP_BUDGET_S
    started = r.now_ms()
    r.started_ms[step.id] = started
    attempts = [0]
    status: list[int | None] = [None]
    error: ProbeError | None = None
    try:
        async with asyncio.timeout_at(deadline):
            await _perform(r, step, attempts, status)
    except TimeoutError:
        limit = r.target.timeout.total_seconds()
        error = ProbeError(ErrorClass.TIMEOUT, f"the journey's timeout ({limit:g}s) ran out")
    except _Skip:
        return None  # an always_run step with nothing to clean up
    except Exception as exc:
        error = classify(exc)
    end = r.now_ms()
    offset = r.started_ms.get(step.clock_from, started) if step.clock_from else started
    if error is not None:
        error = ProbeError(error.cls, r.values.mask(f"step {step.id}: {error.message}"))
        log.debug("journey %s: %s", r.target.name, error.message)
    return StepResult(step=step.id, offset_ms=offset, elapsed_ms=end - offset,
                      attempts=attempts[0], status_code=status[0], ok=error is None,
                      error=error)


class _Skip(Exception):
    """An ``always_run`` step after a failure whose request names a value never extracted."""


async def _perform(r: _Run, step: Step, attempts: list[int], status: list[int | None]) -> None:
    if step.poll is not None:
        answer = await _poll(r, step.poll, attempts, status)
    else:
        assert step.request is not None  # the config allows exactly one of request, poll
        attempts[0] += 1
        answer = await _send(r, step.request, step.always_run)
        status[0] = answer.status
    # A secret is known as one before any check can quote it back.
    for e in step.extract.values():
        if e.secret:
            with contextlib.suppress(Exception):
                r.values.add_secret(extract(e, answer))
    check_all(step.expect, answer)
    for name, e in step.extract.items():
        r.values.keep(name, extract(e, answer), e.secret)


async def _poll(r: _Run, poll: Poll, attempts: list[int], status: list[int | None]) -> Answer:
    loop = asyncio.get_running_loop()
    start, every = loop.time(), poll.every.total_seconds()
    within = poll.within.total_seconds()
    while True:
        attempts[0] += 1
        answer = await _send(r, poll.request, False)
        status[0] = answer.status
        check_all([], answer)
        if poll.fail_if is not None:
            failed, seen = holds(poll.fail_if, answer)
            if failed:
                raise AssertionFailed(f"{poll.fail_if.jsonpath} is {seen!r} (fail_if), "
                                      f"after {attempts[0]} polls")
        done, _ = holds(poll.until, answer)
        if done:
            return answer
        now = loop.time()
        if now - start >= within:
            raise ProbeTimeout(f"{poll.until.jsonpath} not as expected within "
                               f"{within:g}s ({attempts[0]} polls)")
        # The next poll on the step's grid (start + k·every), the last one at ``within``.
        await asyncio.sleep(max(0.0, min(start + every * attempts[0], start + within) - now))


async def _send(r: _Run, req: JourneyRequest, skippable: bool) -> Answer:
    try:
        url = r.values.render(req.url)
        headers = {k: r.values.render(v) for k, v in {**r.target.headers, **req.headers}.items()}
        headers[PROBE_HEADER] = r.probe_id
        data, json_doc = _body(r, req)
    except MissingValue:
        if skippable:
            raise _Skip() from None
        raise
    async with r.session.request(req.method, url, headers=headers, data=data, json=json_doc,
                                 server_hostname=r.target.tls.server_name) as resp:
        body = await _read(resp, r.target.max_body)
        return Answer(resp.status, resp.headers, body)


def _body(r: _Run, req: JourneyRequest) -> tuple[object, object]:
    if req.json_ is not None:
        return None, r.values.render_json(req.json_)
    if req.body is not None:
        return r.values.render(req.body).encode(), None
    if req.multipart is not None:
        form = aiohttp.FormData()
        for name, part in req.multipart.items():
            if isinstance(part, str):
                form.add_field(name, r.values.render(part))
            else:  # generated: its size is what matters, not its content.  A file
                # object is streamed; aiohttp refuses (ResourceWarning) a large bytes body.
                form.add_field(name, io.BytesIO(bytes(part.generate)), filename=part.filename,
                               content_type=part.content_type)
        return form, None
    return None, None


async def _read(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    buf = bytearray()
    while chunk := await resp.content.read(_CHUNK):
        buf += chunk
        if len(buf) > limit:
            raise BodyTooLarge(f"body larger than max_body ({limit} bytes)")
    return bytes(buf)


def _result(r: _Run, ts_ms: int, elapsed_ns: int) -> ProbeResult:
    failed = next((s for s in r.steps if not s.ok and _critical(r.target, s.step)), None)
    error = failed.error if failed is not None else None
    last = next((s.status_code for s in reversed(r.steps) if s.status_code is not None), None)
    return ProbeResult(
        ts_ms=ts_ms, target=r.target.name, service=r.target.service, location=r.ctx.location,
        kind="journey", outcome=outcome_of(error), duration_ms=elapsed_ns // 1_000_000,
        status_code=failed.status_code if failed is not None else last, error=error,
        duration_us=(elapsed_ns + 500) // 1000, steps=tuple(r.steps),
    )


def _critical(target: JourneyTarget, step_id: str) -> bool:
    return next(s.critical for s in target.steps if s.id == step_id)
