"""Performance is not availability (the standard: 性能指标 vs 可用性).

"10 MB < 30 s" and "API p95 < 1 s" are performance objectives.  A probe that got
the expected answer, only later than its bound, is a *success* carrying
``bound_exceeded_ms``: availability never sees it, the latency objective over its
durations does, and alerting opens the performance rule's incident, not an outage.
A probe that got no (correct) answer — refused, wrong status, cut off by its
timeout — is a failure and counts as downtime as it always did.

Reference cases, every number computed by hand in the docstrings.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from slo_testkit import OCT_2026

from alerting import rules
from slaguard.config import parse_config
from slaguard.domain import ErrorClass, Outcome, ProbeError, ProbeResult
from slaguard.policy import from_config
from slo.evaluator import report_from_results
from slo.fmt import percent_down
from slo.model import Policy
from slo.periods import Period, parse_month
from slo.report import Report

S, F = Outcome.SUCCESS, Outcome.FAILURE
MIN = 60_000
UPLOAD_EVERY = 10 * MIN
LOCATIONS = ("shanghai", "beijing")
# 2026-10-10 03:00 +08:00: slot 9 × 144 + 18 of the month's 10-minute upload slots.
SLOW_SLOT = 9 * 144 + 18
NOV_2026 = OCT_2026 + 31 * 1440 * MIN

CONFIG: dict[str, Any] = {
    "version": 1,
    "timezone": "Asia/Shanghai",
    "location": "shanghai",
    "locations": list(LOCATIONS),
    "services": {"core": {"title": "核心服务 / Core service", "availability": "99.9%"}},
    "targets": [
        {"name": "upload-10mb", "service": "core", "kind": "upload",
         "url": "https://app.example.com/v1/files", "size": "10MiB", "max_duration": "30s",
         "interval": "10m", "timeout": "60s"},
        {"name": "api-health", "service": "core", "kind": "http",
         "url": "https://api.example.com/v1/health", "interval": "30s", "timeout": "5s",
         "expect": {"max_duration": "1s"}},
    ],
    "slos": [
        {"name": "upload", "targets": ["upload-10mb"], "latency": {"max": "30s"}},
        {"name": "api-latency", "targets": ["api-health"],
         "latency": {"mean": "500ms", "p95": "1s"}},
    ],
}


@pytest.fixture(scope="module")
def cfg() -> Any:
    return parse_config(CONFIG, env={})[0]


@pytest.fixture(scope="module")
def pol(cfg: Any) -> Policy:
    return from_config(cfg)


def upload(i: int, location: str, duration_ms: int = 12_000,
           outcome: Outcome = S) -> ProbeResult:
    """The upload of slot ``i`` of October 2026 as the probe reports it: over its 30 s
    bound a success with ``bound_exceeded_ms``, a failure with its error."""
    if outcome is F:
        return ProbeResult(OCT_2026 + i * UPLOAD_EVERY, "upload-10mb", "core", location,
                           "upload", F, duration_ms,
                           error=ProbeError(ErrorClass.TIMEOUT, "no complete response within 60s"))
    return ProbeResult(OCT_2026 + i * UPLOAD_EVERY, "upload-10mb", "core", location, "upload",
                       S, duration_ms, status_code=201, bytes=10 * 2**20,
                       bound_exceeded_ms=30_000 if duration_ms > 30_000 else None)


def october(special: dict[tuple[int, str], ProbeResult]) -> list[ProbeResult]:
    """A month of uploads from both locations, 12 s each but for ``special``."""
    return [special.get((i, loc)) or upload(i, loc)
            for i in range(31 * 144) for loc in LOCATIONS]


def month_report(pol: Policy, results: list[ProbeResult], now_ms: int = NOV_2026) -> Report:
    return report_from_results(pol, parse_month("2026-10", "Asia/Shanghai"), now_ms, results)


def slow_episode() -> dict[tuple[int, str], ProbeResult]:
    """Two consecutive slow uploads at both locations: 41 s, 41 s (shanghai) and
    41 s, 45 s (beijing), each complete (201) but over the 30 s bound."""
    return {(SLOW_SLOT, "shanghai"): upload(SLOW_SLOT, "shanghai", 41_000),
            (SLOW_SLOT + 1, "shanghai"): upload(SLOW_SLOT + 1, "shanghai", 41_000),
            (SLOW_SLOT, "beijing"): upload(SLOW_SLOT, "beijing", 41_000),
            (SLOW_SLOT + 1, "beijing"): upload(SLOW_SLOT + 1, "beijing", 45_000)}


def test_a_month_with_slow_but_complete_uploads_has_no_downtime(pol: Policy) -> None:
    """October 2026 (31 days = 2 678 400 s), an upload every 10 min from two
    locations: 31 × 144 = 4464 slots each, 8928 uploads, every one complete.

    Availability: nothing failed, so 0 s of downtime, 100 %, the whole budget of
    0.001 × 2 678 400 = 2678.4 s left.  (Recorded as failures, as before schema 3,
    the two slow slots were a confirmed outage at both locations, from 03:00 to the
    next success at 03:20: 1200 s of core downtime for a performance problem.)

    Upload objective (max 30 s): 8928 samples; sum = 8924 × 12 000 + 3 × 41 000 +
    45 000 = 107 088 000 + 168 000 = 107 256 000 ms; mean = 107 256 000 / 8928 ≈
    12 013.4 ms; max = 45 000 ms > 30 000 ms: one objective breached, by the 4
    slow uploads, which the report lists.
    """
    report = month_report(pol, october(slow_episode()))
    core = report.service("core").availability
    assert (core.period_seconds, core.downtime_seconds, core.outages) == (2_678_400, 0, ())
    assert core.availability == 1 and core.met
    assert core.error_budget_seconds == Fraction(26_784, 10)
    assert core.error_budget_remaining == 1 and core.blips == 0
    up = next(x for x in report.latency if x.name == "upload")
    assert (up.count, up.sum_ms, up.max_ms) == (8_928, 107_256_000, 45_000)
    assert up.mean_ms == Fraction(107_256_000, 8_928)
    (bound,) = up.bounds
    assert (bound.bound.key, bound.value, bound.holds) == ("max", 45_000, False)
    assert bound.exceeding_count == 4
    t, t1 = OCT_2026 + SLOW_SLOT * UPLOAD_EVERY, OCT_2026 + (SLOW_SLOT + 1) * UPLOAD_EVERY
    assert sorted((s.ts_ms, s.location, s.duration_ms) for s in bound.exceeding) == [
        (t, "beijing", 41_000), (t, "shanghai", 41_000),
        (t1, "beijing", 45_000), (t1, "shanghai", 41_000)]
    assert [x.name for x in report.latency if x.met is False] == ["upload"]


def test_the_same_uploads_recorded_as_failures_were_20_minutes_down(pol: Policy) -> None:
    """The contrast, and the rule that still holds for real failures: the same two
    slots *failed* (timed out at 60 s) at both locations.  Each location: two
    consecutive failures (confirm 2) → down from 03:00 to the next success at
    03:20 = 1200 s; both of two knowing locations down is a majority → core down
    1200 s.  Availability = 1 − 1200 / 2 678 400 = 2231 / 2232 ≈ 99.955 197 %,
    shown 99.955; still met (budget 2678.4 s, remaining 1 − 1200 / 2678.4 =
    1 − 125/279 = 154/279 ≈ 0.552).  The upload objective sees only the 8924
    completed uploads: max 12 s, held."""
    failed = {(i, loc): upload(i, loc, 60_000, F)
              for i in (SLOW_SLOT, SLOW_SLOT + 1) for loc in LOCATIONS}
    report = month_report(pol, october(failed))
    core = report.service("core").availability
    assert core.downtime_seconds == 1_200
    assert core.availability == Fraction(2231, 2232)
    assert percent_down(core.availability) == "99.955" and core.met
    assert core.error_budget_remaining == Fraction(154, 279)
    (outage,) = core.outages
    start = OCT_2026 + SLOW_SLOT * UPLOAD_EVERY
    assert (outage.start_ms, outage.end_ms, outage.seconds) == (start, start + 20 * MIN, 1_200)
    assert outage.targets == ("upload-10mb",) and outage.locations == ("beijing", "shanghai")
    up = next(x for x in report.latency if x.name == "upload")
    assert (up.count, up.max_ms, up.met) == (8_924, 12_000, True)


def test_an_http_probe_over_its_latency_bound_is_up_but_breaches(pol: Policy) -> None:
    """One hour (2026-10-01 00:00–01:00 +08:00), api-health every 30 s from two
    locations: 120 results each.  From 00:20 to 00:30 (slots 40–59, 20 each) the
    API answers correctly in 1200 ms, over its ``expect.max_duration`` of 1 s;
    otherwise in 100 ms.

    Availability: every answer was right, 0 s down, 100 %.
    API latency: n = 240; sum = 2 × (100 × 100 + 20 × 1200) = 68 000 ms; mean =
    68 000 / 240 = 283⅓ ms ≤ 500: holds.  p95: rank ⌈0.95 × 240⌉ = 228; the
    sorted values are 200 × 100 ms then 40 × 1200 ms, so p95 = 1200 ms > 1000:
    breached, by the 40 slow results.  The objective is not met."""
    hour = Period(OCT_2026, OCT_2026 + 60 * MIN, "Asia/Shanghai", "1h")
    results = [
        ProbeResult(OCT_2026 + i * 30_000, "api-health", "core", loc, "http", S,
                    1_200 if 40 <= i < 60 else 100, status_code=200,
                    bound_exceeded_ms=1_000 if 40 <= i < 60 else None)
        for i in range(120) for loc in LOCATIONS]
    report = report_from_results(pol, hour, OCT_2026 + 60 * MIN, results)
    core = report.service("core").availability
    assert (core.elapsed_seconds, core.downtime_seconds, core.availability) == (3_600, 0, 1)
    api = next(x for x in report.latency if x.name == "api-latency")
    assert (api.count, api.sum_ms, api.mean_ms) == (240, 68_000, Fraction(850, 3))
    mean, p95 = api.bounds
    assert (mean.bound.key, mean.holds, mean.exceeding_count) == ("mean", True, 40)
    assert (p95.bound.key, p95.value, p95.holds, p95.exceeding_count) == (
        "p95", 1_200, False, 40)
    assert api.met is False


def test_a_slow_upload_opens_the_upload_incident_not_an_outage(cfg: Any, pol: Policy) -> None:
    """At 03:11, one minute after the second slow upload: the report to date has no
    outage, so no confirmed_outage and no burn rate; the upload rule fires (P3) for
    both locations (41 s and 45 s > 30 s), keyed to its own incident core/upload."""
    now = OCT_2026 + (SLOW_SLOT + 1) * UPLOAD_EVERY + MIN
    results = [r for r in october(slow_episode()) if r.ts_ms < now]
    report = month_report(pol, results, now)
    assert report.service("core").availability.downtime_seconds == 0
    settings = rules.settings_from_config(cfg)
    latest = [r for r in results if r.ts_ms == now - MIN]
    fired = rules.conditions(report, latest, now, settings)
    assert [(c.rule, c.subject) for c in fired] == [("upload", "upload-10mb")]
    (c,) = fired
    assert c.summary == ("beijing: 45000 ms, objective < 30000 ms; "
                         "shanghai: 41000 ms, objective < 30000 ms")
    assert rules.incident_key(c.service, c.rule) == "core/upload"


def test_a_failed_upload_is_an_outage_not_a_slow_upload(cfg: Any, pol: Policy) -> None:
    """The same minute with the two slots failed (timed out at 60 s): the outage is
    ongoing (down since 03:00 at both locations), so confirmed_outage fires, keyed
    core/availability; the upload rule stays quiet, since the 60 s is where the
    probe gave up, not how long an upload took."""
    now = OCT_2026 + (SLOW_SLOT + 1) * UPLOAD_EVERY + MIN
    failed = {(i, loc): upload(i, loc, 60_000, F)
              for i in (SLOW_SLOT, SLOW_SLOT + 1) for loc in LOCATIONS}
    results = [r for r in october(failed) if r.ts_ms < now]
    report = month_report(pol, results, now)
    settings = rules.settings_from_config(cfg)
    latest = [r for r in results if r.ts_ms == now - MIN]
    fired = rules.conditions(report, latest, now, settings)
    assert "upload" not in {c.rule for c in fired}
    outage = [c for c in fired if c.rule == rules.CONFIRMED_OUTAGE]
    assert len(outage) == 1
    assert rules.incident_key(outage[0].service, outage[0].rule) == "core/availability"
