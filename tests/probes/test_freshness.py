"""The freshness probe against a real local JSON endpoint."""

from __future__ import annotations

import math

import pytest

from probes import freshness
from probes.base import ProbeContext
from probes.errors import AssertionFailed
from slaguard.domain import ErrorClass, Outcome, ProbeResult
from tests.probes.conftest import Origin, make_target

# 2026-05-08T23:35:25Z, computed independently of the code under test.
POINT_S = 1778283325


async def probe(url: str, ctx: ProbeContext, field: str = "$.finished_at",
                **fields: object) -> ProbeResult:
    target = make_target("freshness", url, timestamp_field=field, **fields)
    return await freshness.run(target, ctx)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("doc", "field", "expected_ms"),
    [
        ("rfc", "$.finished_at", POINT_S * 1000 + 123),  # +08:00 offset
        ("nano", "$.finished_at", POINT_S * 1000 + 123),  # 9 fractional digits, Z
        ("epoch", "$.finished_at", POINT_S * 1000),
        ("epoch-float", "$.finished_at", POINT_S * 1000 + 123),
        ("nested", "$.backups[0].finished_at", POINT_S * 1000),
    ],
)
async def test_recovery_point(
    origin: Origin, ctx: ProbeContext, doc: str, field: str, expected_ms: int
) -> None:
    r = await probe(origin.url(f"/backup/{doc}"), ctx, field)
    assert r.outcome is Outcome.SUCCESS, r.error
    assert r.kind == "freshness" and r.status_code == 200
    assert r.recovery_point_ms == expected_ms
    assert sum(r.phases_ms.values()) == r.duration_ms
    assert list(r.phases_ms) == ["connect", "processing", "transfer"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("missing", "$.finished_at: nothing at step 1 ('finished_at')"),
        ("garbage", "not an RFC 3339 timestamp: 'yesterday-ish'"),
        ("naive", "timestamp without offset is ambiguous"),
    ],
)
async def test_unusable_timestamp_is_an_assertion(
    origin: Origin, ctx: ProbeContext, doc: str, message: str
) -> None:
    r = await probe(origin.url(f"/backup/{doc}"), ctx)
    assert r.outcome is Outcome.FAILURE
    assert r.error is not None and r.error.cls is ErrorClass.ASSERTION
    assert message in r.error.message
    assert r.recovery_point_ms is None
    assert r.status_code == 200


async def test_non_json_body_is_an_assertion(origin: Origin, ctx: ProbeContext) -> None:
    r = await probe(origin.url("/text"), ctx)
    assert r.error is not None and r.error.cls is ErrorClass.ASSERTION
    assert r.error.message.startswith("body is not JSON")


async def test_status_and_expect_apply(origin: Origin, ctx: ProbeContext) -> None:
    down = await probe(origin.url("/status/503"), ctx)
    assert down.error is not None and down.error.cls is ErrorClass.HTTP_STATUS
    assert down.status_code == 503
    checked = await probe(origin.url("/backup/rfc"), ctx, expect={"json": {"$.size": 2}})
    assert checked.error is not None and checked.error.cls is ErrorClass.ASSERTION
    assert checked.error.message == "$.size is 1, expected 2"


def test_point_ms_parsing() -> None:
    assert freshness.point_ms("2026-05-08T23:35:25Z") == POINT_S * 1000
    assert freshness.point_ms("2026-05-08t23:35:25.5z") == POINT_S * 1000 + 500
    assert freshness.point_ms("2026-05-08 23:35:25-01:00") == (POINT_S + 3600) * 1000
    assert freshness.point_ms(POINT_S) == POINT_S * 1000
    assert freshness.point_ms(0.0015) == 2  # round half up, exact decimal
    for bad in (True, None, [POINT_S], math.nan, math.inf, "2026-05-08", ""):
        with pytest.raises(AssertionFailed):
            freshness.point_ms(bad)
