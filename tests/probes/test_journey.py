"""The journey probe against a real local fake platform (aiohttp on loopback):
login → upload → start a job → poll it → download → delete.

``Platform`` is also what the record's tests (store, interchange, API) run a
journey against, so the steps they keep are ones a real run produced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from probes import close_connectors, journey, warm_up
from probes.base import ProbeContext
from slaguard.config.journey import JourneyTarget
from slaguard.domain import ErrorClass, Outcome, ProbeResult, result_id

PASSWORD = "pa55-w0rd-hunter2"
TOKEN = "tok-9f8e7d6c-secret"
PDF = b"%PDF-1.7\n" + bytes(200 * 1024)


@dataclass
class Platform:
    """The fake platform's behaviour and what it saw."""

    job_polls_until_done: int = 2  # the job is done at this poll (0: never)
    job_fails: bool = False
    delays_s: dict[str, float] = field(default_factory=dict)  # by route name
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, probe id
    uploaded: list[int] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    polls: int = 0
    url: str = ""
    # perf_counter_ns when each request arrived and when its answer was ready
    spans_ns: list[tuple[int, int]] = field(default_factory=list)


def platform_app(p: Platform) -> web.Application:
    async def pause(name: str) -> None:
        if p.delays_s.get(name):
            await asyncio.sleep(p.delays_s[name])

    def authorised(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        p.seen.append((request.method, request.path, request.headers.get("X-Slaguard-Probe")))
        arrived = time.perf_counter_ns()
        try:
            return await handler(request)
        finally:
            p.spans_ns.append((arrived, time.perf_counter_ns()))

    async def login(request: web.Request) -> web.Response:
        await pause("login")
        doc = await request.json()
        if doc.get("password") != PASSWORD:
            return web.json_response({"error": "bad credentials"}, status=401)
        return web.json_response({"token": TOKEN})

    async def upload(request: web.Request) -> web.Response:
        await pause("upload")
        if not authorised(request):
            return web.json_response({"error": "no token"}, status=401)
        reader = await request.multipart()
        size = 0
        async for part in reader:
            size += len(await part.read())  # type: ignore[union-attr]
        p.uploaded.append(size)
        return web.json_response({"id": "file-1", "size": size}, status=201)

    async def start(request: web.Request) -> web.Response:
        await pause("start")
        doc = await request.json()
        if doc.get("file") != "file-1":
            return web.json_response({"error": "unknown file"}, status=404)
        return web.json_response({"job_id": "job-7"})

    async def job(request: web.Request) -> web.Response:
        await pause("job")
        p.polls += 1
        if p.job_fails and p.polls >= 2:
            return web.json_response({"state": "failed"})
        done = p.job_polls_until_done and p.polls >= p.job_polls_until_done
        return web.json_response({"state": "done" if done else "running"})

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"auth": request.headers.get("Authorization")})

    async def download(request: web.Request) -> web.Response:
        await pause("download")
        return web.Response(body=PDF, content_type="application/pdf")

    async def delete(request: web.Request) -> web.Response:
        await pause("delete")
        p.deleted.append(request.match_info["job"])
        return web.Response(status=204)

    app = web.Application(middlewares=[record])
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/files", upload)
    app.router.add_post("/api/documents", start)
    app.router.add_get("/api/jobs/{job}", job)
    app.router.add_get("/api/documents/{job}/file", download)
    app.router.add_get("/api/whoami", whoami)
    app.router.add_delete("/api/documents/{job}", delete)
    return app


def journey_doc(url: str, **changes: Any) -> dict[str, Any]:
    """The notes' bid-document journey, ms-scale: poll every 50 ms within 1 s."""
    doc: dict[str, Any] = {
        "name": "bid-doc", "service": "core", "kind": "journey", "url": url,
        "interval": "1m", "timeout": "5s",
        "vars": {"user": "alice", "password": {"value": PASSWORD, "secret": True}},
        "objectives": [{"step": "generate", "elapsed": "< 10m"}],
        "steps": [
            {"id": "login", "request": {"method": "POST", "url": "{{base}}/api/login",
                                        "json": {"user": "{{vars.user}}",
                                                 "password": "{{vars.password}}"}},
             "extract": {"token": {"jsonpath": "$.token", "secret": True}}},
            {"id": "upload", "request": {"method": "POST", "url": "{{base}}/api/files",
                                         "headers": {"Authorization": "Bearer {{token}}"},
                                         "multipart": {"file": {"generate": "64KiB"}}},
             "expect": [{"status": 201}], "extract": {"file_id": {"jsonpath": "$.id"}}},
            {"id": "start", "request": {"method": "POST", "url": "{{base}}/api/documents",
                                        "json": {"file": "{{file_id}}", "pages": 100}},
             "extract": {"job": {"jsonpath": "$.job_id"}}},
            {"id": "generate", "clock_from": "start",
             "poll": {"request": {"url": "{{base}}/api/jobs/{{job}}"},
                      "until": {"jsonpath": "$.state", "equals": "done"},
                      "fail_if": {"jsonpath": "$.state", "in": ["failed", "cancelled"]},
                      "every": "50ms", "within": "1s"}},
            {"id": "download", "request": {"url": "{{base}}/api/documents/{{job}}/file"},
             "expect": [{"status": 200}, {"header": "content-type", "matches": "pdf"},
                        {"body_size": {"gt": "100KiB"}}]},
            {"id": "cleanup", "always_run": True, "critical": False,
             "request": {"method": "DELETE", "url": "{{base}}/api/documents/{{job}}"}},
        ],
    }
    doc.update(changes)
    return doc


def journey_target(url: str, **changes: Any) -> JourneyTarget:
    return JourneyTarget.model_validate(journey_doc(url, **changes))


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    p = Platform()
    server = TestServer(platform_app(p), host="127.0.0.1")
    await server.start_server()
    p.url = str(server.make_url("/")).rstrip("/")
    yield p
    await server.close()


@pytest.fixture
async def jctx() -> AsyncIterator[ProbeContext]:
    ctx = ProbeContext(location="test")
    yield ctx
    await close_connectors(ctx)


async def run(p: Platform, ctx: ProbeContext, **changes: Any) -> ProbeResult:
    return await journey.run(journey_target(p.url, **changes), ctx)


def step_ids(r: ProbeResult) -> list[str]:
    return [s.step for s in r.steps]


def leaks(r: ProbeResult, caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    """Where a secret shows: the result's every field, each step's error, the logs
    (all but the fake platform's own access log, which is the server's side)."""
    logs = [rec.getMessage() for rec in caplog.records if rec.name != "aiohttp.access"]
    text = repr(r) + "\n".join(logs)
    return [s for s in secrets if s in text]


# -- the path --------------------------------------------------------------------


async def test_success_runs_every_step_in_order(platform: Platform, jctx: ProbeContext) -> None:
    r = await run(platform, jctx)
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.kind == "journey" and r.error is None
    assert step_ids(r) == ["login", "upload", "start", "generate", "download", "cleanup"]
    assert all(s.ok and s.error is None for s in r.steps)
    generate = r.steps[3]
    assert generate.attempts == 2 and generate.status_code == 200
    assert platform.uploaded == [64 * 1024]
    assert platform.deleted == ["job-7"]
    # The whole run is the result's duration; steps lie inside it.
    assert r.steps[-1].offset_ms + r.steps[-1].elapsed_ms <= r.duration_ms
    assert r.duration_us is not None and r.duration_us // 1000 == r.duration_ms


async def test_every_request_carries_the_result_id(platform: Platform,
                                                   jctx: ProbeContext) -> None:
    r = await run(platform, jctx)
    ids = {probe_id for _, _, probe_id in platform.seen}
    assert ids == {result_id("bid-doc", "test", r.ts_ms)} == {r.id}
    assert len(platform.seen) == 7  # six steps, the poll twice


def timing_errors(r: ProbeResult, spans_ns: list[tuple[int, int]], slack: int) -> list[str]:
    """How far a run's offsets and elapsed times are from the server's own times (same
    process, same clock: when each request arrived, when its answer was ready), for
    login, upload, download and generate (from start's arrival to the last poll's
    answer); empty when all agree within ``slack`` ms."""
    s = {x.step: x for x in r.steps}
    t0 = spans_ns[0][0]
    spans = [((a - t0) // 1_000_000, (b - t0) // 1_000_000) for a, b in spans_ns]
    login, upload, start, _job1, job2, download, _delete = spans
    base = s["login"].offset_ms
    checks = [(f"{name}.offset", s[name].offset_ms - base, span[0])
              for name, span in (("login", login), ("upload", upload), ("download", download),
                                 ("generate", start))]
    checks += [(f"{name}.elapsed", s[name].elapsed_ms, span[1] - span[0])
               for name, span in (("login", login), ("upload", upload), ("download", download),
                                  ("generate", (start[0], job2[1])))]
    return [f"{what}: {got} ms, server {want} ms" for what, got, want in checks
            if abs(got - want) > slack]


async def test_exact_step_timings(platform: Platform, jctx: ProbeContext) -> None:
    """The server answers after known delays: each step's elapsed time is at least its
    delay, and offsets and elapsed agree within a few ms with what the server saw.

    A CI machine running other suites can stall this process for tens of ms between
    the server's answer and the client's read; such a stall is noise, while a wrong
    clock (a step timed from the wrong origin) is off in every run.  So the tight
    agreement must hold in one of three runs; the lower bounds in all of them."""
    # As in production (probes.warm_up before a scheduler's first probe), the process's
    # one-time set-up (the loop's resolver threads, first-use imports) is not timed.
    await warm_up([], jctx)
    platform.delays_s = {"login": 0.06, "upload": 0.04, "start": 0.03, "job": 0.01,
                         "download": 0.02}
    errors: list[list[str]] = []
    for _ in range(3):
        platform.spans_ns.clear()
        platform.polls = 0
        r = await run(platform, jctx)
        assert r.outcome is Outcome.SUCCESS, r.error
        s = {x.step: x for x in r.steps}
        assert s["login"].elapsed_ms >= 60 and s["upload"].elapsed_ms >= 40
        assert s["download"].elapsed_ms >= 20
        # generate: start (30) + poll (10), the next poll 50 ms after the first, + poll (10)
        assert s["generate"].offset_ms == s["start"].offset_ms
        assert s["generate"].elapsed_ms >= 30 + 50 + 10
        errors.append(timing_errors(r, platform.spans_ns, slack=10))
        if not errors[-1]:
            break
    assert [] in errors, errors


# -- failures ----------------------------------------------------------------------


async def test_failed_job_fails_the_run_and_cleans_up(platform: Platform,
                                                      jctx: ProbeContext) -> None:
    platform.job_fails = True
    r = await run(platform, jctx)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.ASSERTION
    assert r.error.message == "step generate: $.state is 'failed' (fail_if), after 2 polls"
    # download skipped; the always_run clean-up still ran
    assert step_ids(r) == ["login", "upload", "start", "generate", "cleanup"]
    assert r.steps[3].ok is False and r.steps[3].attempts == 2
    assert platform.deleted == ["job-7"]


async def test_job_too_slow_fails_at_within(platform: Platform, jctx: ProbeContext) -> None:
    platform.job_polls_until_done = 0  # never done
    changes = journey_doc(platform.url)["steps"]
    changes[3]["poll"]["within"] = "200ms"
    r = await run(platform, jctx, steps=changes)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.TIMEOUT
    gen = r.steps[3]
    # Polls on the grid 0, 50, 100, 150 ms and the last at within (200 ms); a stalled CI
    # may get fewer in (the grid never stretches, the deadline never moves).
    assert 3 <= gen.attempts <= 5
    assert r.error.message == ("step generate: $.state not as expected within 0.2s "
                               f"({gen.attempts} polls)")
    # generate counts from start's request: start's own time, then the 200 ms of polling
    assert gen.elapsed_ms - r.steps[2].elapsed_ms >= 200
    assert platform.deleted == ["job-7"]


async def test_step_error_skips_the_rest(platform: Platform, jctx: ProbeContext) -> None:
    steps = journey_doc(platform.url)["steps"]
    steps[1]["expect"] = [{"status": 200}]  # the platform answers 201
    r = await run(platform, jctx, steps=steps)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.HTTP_STATUS
    assert r.error.message == "step upload: status 201, expected 200"
    assert r.status_code == 201
    # start never ran, so nothing names {{job}}: the clean-up has nothing to clean
    assert step_ids(r) == ["login", "upload"]
    assert platform.deleted == []


async def test_unreachable_platform_is_a_connect_failure(jctx: ProbeContext) -> None:
    r = await journey.run(journey_target("http://127.0.0.1:9"), jctx)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.CONNECT
    assert r.error.message.startswith("step login: ")
    assert step_ids(r) == ["login"]


async def test_journey_timeout_still_runs_cleanup(platform: Platform,
                                                  jctx: ProbeContext) -> None:
    # Margins for a busy 2-core machine: the steps before the download take ~0.1 s.
    platform.delays_s = {"download": 3.0}
    steps = journey_doc(platform.url)["steps"]
    steps[3]["poll"]["within"] = "200ms"  # the config wants timeout > the polls' within
    r = await run(platform, jctx, timeout="1200ms", steps=steps)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.TIMEOUT
    assert r.error.message == "step download: the journey's timeout (1.2s) ran out"
    assert step_ids(r)[-2:] == ["download", "cleanup"] and r.steps[-1].ok
    assert platform.deleted == ["job-7"]
    assert r.duration_ms >= 1200  # cut at the timeout, then the clean-up


async def test_non_critical_failure_keeps_the_run_a_success(platform: Platform,
                                                             jctx: ProbeContext) -> None:
    steps = journey_doc(platform.url)["steps"]
    steps[5]["expect"] = [{"status": 200}]  # the delete answers 204
    r = await run(platform, jctx, steps=steps)
    assert r.outcome is Outcome.SUCCESS and r.error is None
    assert r.steps[-1].ok is False and r.steps[-1].error is not None
    assert r.steps[-1].error.message == "step cleanup: status 204, expected 200"


# -- secrets -----------------------------------------------------------------------


async def test_secret_var_in_a_failing_step_is_masked(
    platform: Platform, jctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    steps = journey_doc(platform.url)["steps"]
    # the secret lands in the URL, and an assertion echoes the (secret) token back
    steps[0]["request"]["url"] = "{{base}}/api/login?pw={{vars.password}}"
    steps[0]["expect"] = [{"jsonpath": "$.token", "equals": "something else"}]
    r = await run(platform, jctx, steps=steps)
    assert r.outcome is Outcome.FAILURE and r.error is not None
    # the token (marked secret) is masked even though its step failed before extracting
    assert r.error.message == "step login: $.token is '***', expected 'something else'"
    assert leaks(r, caplog, PASSWORD, TOKEN) == []


async def test_extracted_secret_is_masked_in_errors_and_logs(
    platform: Platform, jctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    steps = journey_doc(platform.url)["steps"]
    # the platform echoes the token back, and the assertion quotes what it got
    steps[1] = {"id": "whoami", "request": {"url": "{{base}}/api/whoami",
                                            "headers": {"Authorization": "Bearer {{token}}"}},
                "expect": [{"jsonpath": "$.auth", "equals": "nobody"}]}
    r = await run(platform, jctx, steps=steps[:2], objectives=[])
    assert r.outcome is Outcome.FAILURE and r.error is not None
    assert r.error.message == "step whoami: $.auth is 'Bearer ***', expected 'nobody'"
    assert leaks(r, caplog, TOKEN, PASSWORD) == []
