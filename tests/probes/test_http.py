"""The http probe against real local servers, plus its timing and JSONPath parts."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Callable

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from probes import PROBES, _common, http
from probes._common import close_connectors
from probes._jsonpath import PathNotFound, lookup, parse, same_value
from probes._timing import (
    HTTP_TRANSITIONS,
    PhaseClock,
    TimedConnector,
    TraceFacts,
    _split_ms,
    aiohttp_is_pinned,
    earliest_cert_expiry,
    ns_to_ms,
)
from probes.base import ProbeContext
from slaguard.config.schema import TARGET_KINDS
from slaguard.domain import ErrorClass, Outcome, ProbeResult
from tests.probes.conftest import (
    LEAF_NOT_AFTER,
    AiohttpServer,
    Origin,
    Pki,
    build_app,
    make_target,
    peak_memory,
)

TEXT_BODY = "<html><title>AI标书 writer</title>build 2026.05</html>".encode()


async def probe(url: str, ctx: ProbeContext, **fields: object) -> ProbeResult:
    return await http.run(make_target("http", url, **fields), ctx)  # type: ignore[arg-type]


def assert_phases_add_up(r: ProbeResult) -> None:
    # By construction the phases partition the probe's time exactly; the
    # brief's tolerance (2 ms or 5 %) is therefore met with room to spare.
    assert sum(r.phases_ms.values()) == r.duration_ms
    assert all(v >= 0 for v in r.phases_ms.values())


def test_registry_matches_schema() -> None:
    assert set(PROBES) == set(TARGET_KINDS)
    assert PROBES["http"] is http.run


# -- plain http -------------------------------------------------------------------


async def test_success_has_blackbox_phases_adding_up(origin: Origin, ctx: ProbeContext) -> None:
    r = await probe(origin.url("/text"), ctx)
    assert r.outcome is Outcome.SUCCESS and r.error is None
    assert r.status_code == 200
    assert r.bytes == len(TEXT_BODY)
    # An IP literal needs no DNS lookup and plain http no handshake: absent, not 0.
    assert list(r.phases_ms) == ["connect", "processing", "transfer"]
    assert_phases_add_up(r)
    assert (r.target, r.service, r.location, r.kind) == ("t-http", "core", "test-lab", "http")
    assert r.connection == "cold"
    assert r.cert_expiry is None


async def test_twenty_ms_endpoint_measures_twenty_to_twentyfive(
    origin: Origin, ctx: ProbeContext
) -> None:
    r = await probe(origin.url("/delay/20"), ctx)
    assert r.outcome is Outcome.SUCCESS
    assert 20 <= r.duration_ms <= 25, r
    # The server's think time is processing (connection ready → headers).
    assert 20 <= r.phases_ms["processing"] <= 25
    assert_phases_add_up(r)


async def test_cold_probe_resolves_and_connects_every_time(origin: Origin) -> None:
    sink: list[TraceFacts] = []
    ctx = ProbeContext(location="test-lab", options={"trace_sink": sink})
    url = origin.url("/text", host="localhost")
    first, second = await probe(url, ctx), await probe(url, ctx)
    for r, facts in zip((first, second), sink, strict=True):
        assert r.outcome is Outcome.SUCCESS
        assert list(r.phases_ms) == ["resolve", "connect", "processing", "transfer"]
        assert_phases_add_up(r)
        assert facts.hosts == ["localhost"]
        assert facts.dns_cache_hit is False and facts.reused is False
        assert facts.new_connections == 1
        assert facts.peer == "127.0.0.1"


async def test_redirect_hops_are_summed(origin: Origin) -> None:
    sink: list[TraceFacts] = []
    ctx = ProbeContext(location="test-lab", options={"trace_sink": sink})
    r = await probe(origin.url("/redirect"), ctx, expect={"body_contains": "AI标书"})
    assert r.outcome is Outcome.SUCCESS and r.status_code == 200
    assert sink[0].redirects == 1
    assert sink[0].new_connections == 2  # cold: no keep-alive between hops either
    assert_phases_add_up(r)


async def test_redirect_not_followed_is_judged_on_its_own_status(
    origin: Origin, ctx: ProbeContext
) -> None:
    r = await probe(origin.url("/redirect"), ctx, follow_redirects=False)
    assert r.outcome is Outcome.FAILURE and r.status_code == 302
    assert r.error is not None and r.error.cls is ErrorClass.HTTP_STATUS
    ok = await probe(origin.url("/redirect"), ctx, follow_redirects=False, expect={"status": [302]})
    assert ok.outcome is Outcome.SUCCESS and ok.status_code == 302


async def test_request_body_is_sent(origin: Origin, ctx: ProbeContext) -> None:
    r = await probe(origin.url("/upload"), ctx, method="POST", body="hello probe")
    assert r.outcome is Outcome.SUCCESS and r.status_code == 201
    assert origin.received.requests[-1]["bytes"] == len(b"hello probe")


# -- failures, one per error class ---------------------------------------------------------


async def test_503_is_http_status(origin: Origin, ctx: ProbeContext) -> None:
    r = await probe(origin.url("/status/503"), ctx)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.HTTP_STATUS
    assert r.error.message == "status 503, expected 2xx"
    assert r.status_code == 503
    assert "processing" in r.phases_ms
    assert_phases_add_up(r)


async def test_status_outside_explicit_set(origin: Origin, ctx: ProbeContext) -> None:
    r = await probe(origin.url("/text"), ctx, expect={"status": [204, 304]})
    assert r.error is not None and r.error.cls is ErrorClass.HTTP_STATUS
    assert r.error.message == "status 200, expected one of [204, 304]"
    accepted = await probe(origin.url("/status/503"), ctx, expect={"status": [503]})
    assert accepted.outcome is Outcome.SUCCESS


async def test_refused_port_is_connect(refused_port: int, ctx: ProbeContext) -> None:
    r = await probe(f"http://127.0.0.1:{refused_port}/", ctx)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.CONNECT
    assert f"127.0.0.1:{refused_port}" in r.error.message
    assert list(r.phases_ms) == ["connect"]
    assert r.status_code is None
    assert_phases_add_up(r)


async def test_dns_failure_is_dns(ctx: ProbeContext) -> None:
    r = await probe("http://nonexistent.invalid/", ctx, timeout="10s")
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.DNS
    assert "nonexistent.invalid" in r.error.message
    assert list(r.phases_ms) == ["resolve"]
    assert_phases_add_up(r)


async def test_slow_server_is_timeout(origin: Origin, ctx: ProbeContext) -> None:
    r = await probe(origin.url("/delay/3000"), ctx, timeout="200ms")
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.TIMEOUT
    assert r.error.message == "no complete response within 0.2s"
    assert 200 <= r.duration_ms < 400
    assert r.status_code is None
    assert_phases_add_up(r)


async def test_timeout_covers_the_body_too(origin: Origin, ctx: ProbeContext) -> None:
    # Headers come at once, the 1 GiB body never ends in time.
    r = await probe(origin.url("/huge"), ctx, timeout="300ms", max_body="4GiB")
    assert r.error is not None and r.error.cls is ErrorClass.TIMEOUT
    assert r.status_code == 200
    assert r.bytes is not None and r.bytes > 0
    assert 300 <= r.duration_ms < 500
    assert "transfer" in r.phases_ms


# -- TLS --------------------------------------------------------------------------------


async def test_https_success_times_tls_and_reads_expiry(tls_origin: Origin, pki: Pki) -> None:
    sink: list[TraceFacts] = []
    ctx = ProbeContext(
        location="test-lab", options={"ssl_context": pki.client_context, "trace_sink": sink}
    )
    r = await probe(tls_origin.url("/json"), ctx)
    assert r.outcome is Outcome.SUCCESS, r.error
    assert list(r.phases_ms) == ["connect", "tls", "processing", "transfer"]
    assert r.phases_ms["tls"] > 0
    assert_phases_add_up(r)
    assert r.cert_expiry == int(LEAF_NOT_AFTER.timestamp()) == 1936787445
    assert sink[0].cert_source == "chain"
    assert sink[0].tls_version in ("TLSv1.2", "TLSv1.3")


async def test_untrusted_certificate_is_tls(tls_origin: Origin, ctx: ProbeContext) -> None:
    r = await probe(tls_origin.url("/json"), ctx)  # system CAs do not know trustme's
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.TLS
    assert "certificate verify failed" in r.error.message
    assert list(r.phases_ms) == ["connect", "tls"]
    assert_phases_add_up(r)


async def test_insecure_skip_verify_still_reads_expiry(
    tls_origin: Origin, ctx: ProbeContext
) -> None:
    r = await probe(tls_origin.url("/json"), ctx, tls={"insecure_skip_verify": True})
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.cert_expiry == int(LEAF_NOT_AFTER.timestamp())


async def test_ca_file(tls_origin: Origin, pki: Pki, ctx: ProbeContext, tmp_path: object) -> None:
    with pki.ca.cert_pem.tempfile() as ca_path:
        r = await probe(tls_origin.url("/json"), ctx, tls={"ca_file": ca_path})
    assert r.outcome is Outcome.SUCCESS, r.error


async def test_server_name_is_verified(tls_origin: Origin, pki: Pki) -> None:
    ctx = ProbeContext(location="test-lab", options={"ssl_context": pki.client_context})
    good = await probe(tls_origin.url("/json"), ctx, tls={"server_name": "localhost"})
    assert good.outcome is Outcome.SUCCESS, good.error
    bad = await probe(tls_origin.url("/json"), ctx, tls={"server_name": "other.example"})
    assert bad.error is not None and bad.error.cls is ErrorClass.TLS
    assert "other.example" in bad.error.message


async def test_earliest_expiry_is_over_the_presented_chain(
    aiohttp_server: AiohttpServer,
) -> None:
    # The leaf outlives its intermediate: the chain's earliest NotAfter is the
    # intermediate's (trustme's CA default, 3000-01-01), not the leaf's.
    ca = trustme.CA()
    leaf = ca.create_child_ca().issue_cert(
        "127.0.0.1", not_after=dt.datetime(3001, 6, 1, tzinfo=dt.UTC)
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_ctx)
    origin = Origin(await aiohttp_server(build_app(), ssl=server_ctx))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    r = await probe(origin.url("/json"), ProbeContext("lab", options={"ssl_context": client}))
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.cert_expiry == int(dt.datetime(3000, 1, 1, tzinfo=dt.UTC).timestamp())


# -- expect: each assertion passes and fails -----------------------------------------------

PASS_FAIL = [
    ("/text", {"body_contains": "AI标书"}, {"body_contains": "Ошибка"}, "does not contain"),
    ("/text", {"body_regex": r"build \d{4}\.\d{2}"}, {"body_regex": r"build \d{5}"}, "match"),
    ("/json", {"json": {"$.status": "ok"}}, {"json": {"$.status": "degraded"}}, "'ok'"),
    ("/json", {"json": {"$.a.b[1]": 20, "$.healthy": True}}, {"json": {"$.a.b[5]": 20}},
     "nothing at step 3"),
    ("/json", {"json": {"$['build.id']": "x7", "$.version": 3.0}}, {"json": {"$.version": "3"}},
     "expected '3'"),
    ("/text", {"json": {}}, {"json": {"$.status": "ok"}}, "not JSON"),
    ("/text", {"headers": {"X-Build": r"^v1\.\d+"}}, {"headers": {"X-Build": r"^v2"}},
     "does not match"),
    ("/text", {"headers": {"cache-control": "no-store"}}, {"headers": {"X-Missing": "."}},
     "missing"),
]


@pytest.mark.parametrize(("path", "passing", "failing", "message"), PASS_FAIL)
async def test_expect_assertions(
    origin: Origin, ctx: ProbeContext, path: str, passing: dict[str, object],
    failing: dict[str, object], message: str,
) -> None:
    ok = await probe(origin.url(path), ctx, expect=passing)
    assert ok.outcome is Outcome.SUCCESS, ok.error
    bad = await probe(origin.url(path), ctx, expect=failing)
    assert bad.outcome is Outcome.FAILURE
    assert bad.error is not None and bad.error.cls is ErrorClass.ASSERTION
    assert message in bad.error.message
    assert bad.status_code == 200
    assert_phases_add_up(bad)


async def test_a_correct_answer_over_max_duration_is_a_slow_success(
    origin: Origin, ctx: ProbeContext
) -> None:
    """Performance, not availability: the answer is right, only late."""
    ok = await probe(origin.url("/delay/30"), ctx, expect={"max_duration": "5s"})
    assert ok.outcome is Outcome.SUCCESS and ok.bound_exceeded_ms is None
    slow = await probe(origin.url("/delay/30"), ctx, expect={"max_duration": "10ms"})
    assert slow.outcome is Outcome.SUCCESS and slow.error is None
    assert slow.bound_exceeded_ms == 10 and slow.duration_ms >= 30
    assert slow.status_code == 200


@pytest.mark.parametrize("connection", ["cold", "warm"])
async def test_checking_the_body_is_not_the_targets_time(
    origin: Origin, warm_ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch, connection: str
) -> None:
    # The clock stops at the body's last byte: a slow check (a large JSON
    # document, a heavy regex) must not show up as the platform's latency.
    checked: list[float] = []

    def slow_check(expect: object, response: object) -> None:
        time.sleep(0.2)
        checked.append(time.monotonic())
        real_check(expect, response)  # type: ignore[arg-type]

    real_check = _common.check_expect
    monkeypatch.setattr(_common, "check_expect", slow_check)
    r = await probe(origin.url("/json"), warm_ctx, connection=connection,
                    expect={"json": {"$.status": "ok"}})
    assert r.outcome is Outcome.SUCCESS and checked
    assert r.duration_ms < 150, r
    assert_phases_add_up(r)


async def test_body_cap_stops_a_huge_stream_early(origin: Origin, ctx: ProbeContext) -> None:
    cap = 2**20
    with peak_memory() as peak:
        r = await probe(origin.url("/huge"), ctx, max_body="1MiB", timeout="30s")
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.BODY_TOO_LARGE
    assert r.error.message == "body larger than max_body (1048576 bytes)"
    assert r.status_code == 200
    # Stopped within one chunk past the cap, out of the 1 GiB on offer...
    assert r.bytes is not None and cap < r.bytes <= cap + 64 * 1024
    # ...and no assertion needed the body, so it was never kept at all.
    assert peak.bytes < 4 * 2**20, peak


async def test_body_cap_with_kept_body_is_bounded(origin: Origin, ctx: ProbeContext) -> None:
    with peak_memory() as peak:
        r = await probe(origin.url("/huge"), ctx, max_body="2MiB",
                        expect={"body_contains": "never"})
    assert r.error is not None and r.error.cls is ErrorClass.BODY_TOO_LARGE
    assert peak.bytes < 8 * 2**20, peak


# -- warm connections -------------------------------------------------------------------


async def test_warm_reuses_the_connection(origin: Origin, warm_ctx: ProbeContext) -> None:
    url = origin.url("/text", host="localhost")
    first = await probe(url, warm_ctx, connection="warm")
    second = await probe(url, warm_ctx, connection="warm")
    facts: list[TraceFacts] = warm_ctx.options["trace_sink"]
    assert first.connection == second.connection == "warm"
    assert (facts[0].reused, facts[1].reused) == (False, True)
    assert facts[1].new_connections == 0
    assert "resolve" in first.phases_ms and "connect" in first.phases_ms
    assert list(second.phases_ms) == ["processing", "transfer"]
    assert_phases_add_up(second)
    assert isinstance(warm_ctx.options["connectors"]["t-http"], TimedConnector)


async def test_warm_https_reports_expiry_on_reuse(tls_origin: Origin, pki: Pki) -> None:
    ctx = ProbeContext("lab", options={"ssl_context": pki.client_context, "trace_sink": []})
    try:
        results = [await probe(tls_origin.url("/json"), ctx, connection="warm") for _ in "ab"]
    finally:
        await close_connectors(ctx)
    assert [f.reused for f in ctx.options["trace_sink"]] == [False, True]
    assert "tls" not in results[1].phases_ms
    assert [r.cert_expiry for r in results] == [int(LEAF_NOT_AFTER.timestamp())] * 2
    assert "connectors" not in ctx.options


# -- timing internals -----------------------------------------------------------------------


def fake_clock(times: list[int]) -> Callable[[], int]:
    it = iter(times)
    return lambda: next(it)


def test_ns_to_ms_rounds_half_up() -> None:
    assert [ns_to_ms(n) for n in (0, 499_999, 500_000, 1_499_999, 1_500_000)] == [0, 0, 1, 1, 2]


def test_phase_clock_partitions_time() -> None:
    ms = 1_000_000
    clock = PhaseClock(HTTP_TRANSITIONS, fake_clock(
        [0, 1 * ms, 4 * ms, 6 * ms, 9 * ms, 9 * ms, 14 * ms, 15 * ms, 35 * ms, 47 * ms]
    ))
    for event in ("start", "dns_start", "dns_end", "tcp_start", "tcp_done", "tls_start",
                  "tls_done", "conn_ready", "headers"):
        clock.mark(event)
    clock.stop()
    total, phases = clock.to_ms()
    # The 1 ms before DNS and the 1 ms between handshake and "ready" are aiohttp
    # bookkeeping: folded into processing so the phases still add up.
    assert total == 47
    assert phases == {"resolve": 3, "connect": 5, "tls": 5, "processing": 22, "transfer": 12}


def test_phase_clock_failure_keeps_only_reached_phases() -> None:
    ms = 1_000_000
    clock = PhaseClock(HTTP_TRANSITIONS, fake_clock([0, 2 * ms, 5 * ms, 7 * ms]))
    clock.mark("start")
    clock.mark("tcp_start")
    clock.mark("tcp_done")
    clock.stop()  # e.g. the handshake never started: connection reset
    assert clock.to_ms() == (7, {"connect": 7})


@given(st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=6))
def test_rounded_phases_add_up_to_rounded_total(parts: list[int]) -> None:
    names = ["resolve", "connect", "tls", "processing", "transfer", "send"][: len(parts)]
    phases = _split_ms(dict(zip(names, parts, strict=True)))
    assert sum(phases.values()) == ns_to_ms(sum(parts))
    assert all(abs(phases[n] - p / 1e6) < 1 for n, p in zip(names, parts, strict=True))


def test_expiry_falls_back_to_the_leaf() -> None:
    class LeafOnly:  # an ssl object without the private chain accessor
        def getpeercert(self) -> dict[str, str]:
            return {"notAfter": "May 17 12:30:45 2031 GMT"}

    assert earliest_cert_expiry(LeafOnly()) == (1936787445, "leaf")
    assert earliest_cert_expiry(None) == (None, None)


def test_timed_connector_is_pinned_to_the_installed_aiohttp() -> None:
    # TimedConnector re-implements a private aiohttp method; when this fails,
    # re-read aiohttp's connector.py and update _timing.py and PINNED_AIOHTTP.
    assert aiohttp_is_pinned()


# -- JSONPath subset ----------------------------------------------------------------------


def test_jsonpath_parse() -> None:
    assert parse("$") == ()
    assert parse("$.a.b[0]") == ("a", "b", 0)
    assert parse("$['x.y'][\"z\"][-1]") == ("x.y", "z", -1)
    for bad in ("a.b", "$.a..b", "$[*]", "$.a[", "$.a[?(@.x)]"):
        with pytest.raises(ValueError):
            parse(bad)


def test_jsonpath_lookup() -> None:
    doc = {"a": {"b": [1, {"c": None}]}, "k.l": True}
    assert lookup(doc, "$.a.b[1].c") is None
    assert lookup(doc, "$.a.b[-2]") == 1
    assert lookup(doc, "$['k.l']") is True
    assert lookup(doc, "$") == doc
    for missing in ("$.x", "$.a.b[2]", "$.a.b.c", "$.a.b[0].c"):
        with pytest.raises(PathNotFound):
            lookup(doc, missing)


def test_json_equality_is_typed() -> None:
    assert same_value(3, 3.0) and same_value("ok", "ok") and same_value([1, 2], [1, 2])
    assert not same_value(True, 1) and not same_value(1, True) and not same_value("3", 3)
    assert same_value(None, None) and not same_value(None, 0)
