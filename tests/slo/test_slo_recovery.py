"""RPO from freshness samples, RTO per outage, data loss."""

from __future__ import annotations

from slo_testkit import DAY, IV, OCT_2026, days, policy

from slaguard.domain import Outcome, ProbeResult
from slo.evaluator import build_report
from slo.intervals import IntervalSet
from slo.model import FreshnessObjective, Policy, RestoreObjective
from slo.recovery import (
    FreshnessSample,
    data_loss_ms,
    evaluate_rpo,
    freshness_from_results,
    restorations,
)
from slo.runs import Run
from slo.timeline import SeriesRuns

H = 3_600_000
MIN = 60_000
RPO = FreshnessObjective("rpo", ("backup",), H)


def test_rpo_is_the_age_at_every_probe() -> None:
    samples = [FreshnessSample(OCT_2026 + i * 5 * MIN, OCT_2026 - 10 * MIN, "backup")
               for i in range(12)]  # ages 10, 15, ..., 65 min
    r = evaluate_rpo(RPO, samples, OCT_2026, OCT_2026 + DAY)
    assert r.samples == 12
    assert r.worst is not None and r.worst.age_ms == 65 * MIN
    # "RPO <1小时": 60 min exactly breaches the strict objective, 65 min too.
    assert [s.age_ms for s in r.breaches] == [60 * MIN, 65 * MIN]
    assert r.compliant is False
    inclusive = evaluate_rpo(FreshnessObjective("rpo", ("backup",), H, inclusive=True),
                             samples, OCT_2026, OCT_2026 + DAY)
    assert [s.age_ms for s in inclusive.breaches] == [65 * MIN]  # "≤ 1 h": 60 min is fine


def test_daily_backups_cannot_meet_a_one_hour_rpo() -> None:
    # Daily at 02:00 taking 40 min: just before the next one completes the newest point
    # is 24 h 40 min old.
    backup_done = OCT_2026 + 2 * H + 40 * MIN
    probe = backup_done + DAY - 1
    r = evaluate_rpo(RPO, [FreshnessSample(probe, OCT_2026 + 2 * H, "backup")], OCT_2026,
                     OCT_2026 + 2 * DAY)
    assert r.worst is not None and r.worst.age_ms > 24 * H + 39 * MIN
    assert r.compliant is False


def test_no_samples_is_undecided() -> None:
    assert evaluate_rpo(RPO, [], OCT_2026, OCT_2026 + DAY).compliant is None


def test_freshness_samples_from_results() -> None:
    ok = ProbeResult(OCT_2026, "backup", "backup", "a", "freshness", Outcome.SUCCESS, 5,
                     recovery_point_ms=OCT_2026 - H)
    failed = ok.with_(outcome=Outcome.FAILURE, recovery_point_ms=None)
    assert freshness_from_results([ok, failed]) == [
        FreshnessSample(OCT_2026, OCT_2026 - H, "backup", "a")]


def test_data_loss_is_failure_time_minus_newest_recoverable_point() -> None:
    samples = [FreshnessSample(OCT_2026 + i * H, OCT_2026 + i * H - 20 * MIN, "backup")
               for i in range(5)]
    assert data_loss_ms(OCT_2026 + 2 * H + 5 * MIN, samples) == 25 * MIN
    assert data_loss_ms(OCT_2026 - DAY, samples) is None


def test_restoration_is_the_first_known_up_instant() -> None:
    outages = IntervalSet.from_pairs([(100, 200), (300, 400), (900, 950)])
    up = IntervalSet.from_pairs([(0, 100), (250, 300), (500, 900)])
    got = restorations("core", outages, up, now_ms=1000, within_ms=150, inclusive=True)
    assert [(r.start_ms, r.restored_ms, r.elapsed_ms, r.within) for r in got] == [
        (100, 250, 150, True),  # a gap after the outage is not a restoration; ≤ 150
        (300, 500, 200, False),
        (900, None, 100, None),  # still open, not yet over the objective: pending
    ]
    strict = restorations("core", outages, up, now_ms=1000, within_ms=150)
    assert strict[0].within is False  # "< 150": restored after exactly 150 is late


def rto_policy() -> Policy:
    p = policy()
    return Policy(p.timezone, p.services, p.targets, p.rules,
                  restore=(RestoreObjective("rto", ("core",), 4 * H),))


def test_rto_in_the_report() -> None:
    p = days(OCT_2026, 30)
    o1, o2 = p.start_ms + DAY, p.start_ms + 10 * DAY
    S, F = Outcome.SUCCESS, Outcome.FAILURE
    runs = [SeriesRuns("web", "a", [
        Run(S, p.start_ms, o1 - IV, DAY // IV), Run(F, o1, o1 + H - IV, 120),
        Run(S, o1 + H, o2 - IV, (o2 - o1 - H) // IV), Run(F, o2, o2 + 5 * H - IV, 600),
        Run(S, o2 + 5 * H, p.end_ms - IV, (p.end_ms - o2 - 5 * H) // IV),
    ])]
    rep = build_report(rto_policy(), p, p.end_ms, runs)
    (rto,) = rep.rto
    assert [(r.elapsed_ms, r.within) for r in rto.outages] == [(H, True), (5 * H, False)]
    assert not rto.compliant
