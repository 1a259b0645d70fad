"""slo.rolling: windowed objectives, each case computed by hand in its docstring."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from slaguard.domain import Outcome, ProbeResult
from slo.evaluator import windowed_at
from slo.model import BurnAlertSpec, WindowedSpec
from slo.periods import month, to_ms
from slo.rolling import (
    Counts,
    WindowEvents,
    evaluate_windowed,
    events_from_results,
    plan,
    windowed_from_results,
)

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
NOW = 1_780_000_000_000 - 1_780_000_000_000 % DAY  # a UTC midnight, 2026-05-28
TZ = "Asia/Shanghai"


def result(ts: int, outcome: Outcome = Outcome.SUCCESS, duration: int = 100,
           target: str = "web", location: str = "sh") -> ProbeResult:
    return ProbeResult(ts, target, "core", location, "http", outcome, duration)


def spec(**kw: object) -> WindowedSpec:
    base: dict[str, object] = dict(name="portal", targets=("web",), sli="availability",
                                   target_percent=Decimal("99.9"), window_ms=7 * DAY)
    return WindowedSpec(**{**base, **kw})  # type: ignore[arg-type]


def minutes(start: int, n: int, failing: frozenset[int] | set[int] = frozenset()
            ) -> list[ProbeResult]:
    return [result(start + i * MIN, Outcome.FAILURE if i in failing else Outcome.SUCCESS)
            for i in range(n)]


def test_7d_occurrences_of_one_minute_results() -> None:
    """A 7 d window of 1-minute results: 7 × 1440 = 10 080 events, 12 failures.

    ratio = 10 068 / 10 080 = 839/840 ≈ 99.881 % < 99.9 %: missed.
    allowed = 0.001 × 10 080 = 10.08 bad events; bad 12; remaining = −1.92;
    consumed = 12 / 10.08 = 25/21.  The unknown results are not events."""
    start = NOW - 7 * DAY
    rs = minutes(start, 10_080, failing={5, 6, 7, 100, 2000, 2001, 5000, 7000, 8000, 9000,
                                         10_000, 10_079})
    rs += [result(start + 30_000 + i * MIN, Outcome.UNKNOWN) for i in range(50)]
    r = windowed_from_results(spec(), NOW, TZ, rs)
    assert (r.events, r.units, r.bad) == (Counts(10_080, 10_068), 10_080, 12)
    assert r.ratio == Fraction(839, 840) and r.met is False
    assert r.allowed == Fraction("10.08") and r.remaining == Fraction("-1.92")
    assert r.consumed == Fraction(25, 21)


def test_window_edge_start_in_now_out() -> None:
    """A result exactly at now − 7 d is in, one at now is out, one a ms before the
    start is out: 2 events (start, now − 1 ms), the one at the start a failure.
    ratio 1/2."""
    rs = [result(NOW - 7 * DAY, Outcome.FAILURE), result(NOW - 7 * DAY - 1, Outcome.FAILURE),
          result(NOW - 1), result(NOW, Outcome.FAILURE)]
    r = windowed_from_results(spec(), NOW, TZ, rs)
    assert r.events == Counts(2, 1) and r.ratio == Fraction(1, 2)
    assert (r.start_ms, r.end_ms) == (NOW - 7 * DAY, NOW)


def test_timeslices_and_occurrences_disagree() -> None:
    """Window 1 h, 1-minute slices, slice target 95 %, objective 90 %.  Every minute has
    20 results (one each 3 s): in 6 of the 60 minutes 2 fail (90 % < 95 %: bad slice),
    nothing else fails.

    occurrences: 1200 events, 12 bad → 1188/1200 = 99 % ≥ 90 %: met.
    timeslices: 54 good of 60 → 90 % ≥ 90 %: met, exactly at the target.
    With one more such minute: occurrences 1186/1200 = 98.83 % met, timeslices
    53/60 = 88.3 %: missed; allowed = 0.1 × 60 = 6 slices, bad 7, remaining −1."""
    def minute_results(bad_minutes: set[int]) -> list[ProbeResult]:
        return [result(NOW - HOUR + m * MIN + k * 3000,
                       Outcome.FAILURE if m in bad_minutes and k < 2 else Outcome.SUCCESS)
                for m in range(60) for k in range(20)]
    occ = spec(window_ms=HOUR, target_percent=Decimal(90))
    ts = spec(window_ms=HOUR, target_percent=Decimal(90), budgeting="timeslices",
              slice_ms=MIN, slice_target_percent=Decimal(95))
    six, seven = minute_results(set(range(6))), minute_results(set(range(7)))
    assert windowed_from_results(occ, NOW, TZ, six).ratio == Fraction(99, 100)
    r = windowed_from_results(ts, NOW, TZ, six)
    assert (r.units, r.bad, r.ratio, r.met) == (60, 6, Fraction(9, 10), True)
    o7 = windowed_from_results(occ, NOW, TZ, seven)
    assert o7.ratio == Fraction(1186, 1200) and o7.met
    r7 = windowed_from_results(ts, NOW, TZ, seven)
    assert (r7.ratio, r7.met, r7.allowed, r7.remaining) == (Fraction(53, 60), False, 6, -1)


def test_ratio_timeslices_is_the_mean_of_slice_ratios() -> None:
    """Window 1 h of 10-minute slices, ratio_timeslices, objective 99 %.  Slice 0: 1
    event, bad; slice 1: 99 good of 100; slices 2–4 none; slice 5: 10 of 10.

    ratio = (0 + 99/100 + 1) / 3 = 199/300 ≈ 66.3 % (occurrences would say 109/111);
    bad = (1 + 1/100 + 0) = 101/100 slices; allowed = 0.01 × 3 = 3/100."""
    s = spec(window_ms=HOUR, target_percent=Decimal(99), budgeting="ratio_timeslices",
             slice_ms=10 * MIN)
    start = NOW - HOUR
    rs = [result(start, Outcome.FAILURE)]
    rs += [result(start + 10 * MIN + i * 1000, Outcome.FAILURE if i == 0 else Outcome.SUCCESS)
           for i in range(100)]
    rs += [result(start + 50 * MIN + i * 1000) for i in range(10)]
    r = windowed_from_results(s, NOW, TZ, rs)
    assert r.ratio == Fraction(199, 300) and r.units == 3 and r.bad == Fraction(101, 100)
    assert r.allowed == Fraction(3, 100) and r.met is False


def test_latency_sli_strict_and_inclusive_threshold() -> None:
    """sli latency, threshold < 3 s: successes of 2999 ms are good, 3000 ms bad,
    a failure (fast or not) bad.  4 events: 2999, 3000, 3001, a failed 10 ms →
    1 good of 4.  Inclusive (<= 3s): 3000 ms is good too → 2 of 4."""
    rs = [result(NOW - HOUR, duration=2999), result(NOW - HOUR + 1, duration=3000),
          result(NOW - HOUR + 2, duration=3001),
          result(NOW - HOUR + 3, Outcome.FAILURE, duration=10)]
    strict = spec(sli="latency", threshold_ms=3000)
    assert windowed_from_results(strict, NOW, TZ, rs).events == Counts(4, 1)
    incl = spec(sli="latency", threshold_ms=3000, inclusive=True)
    assert windowed_from_results(incl, NOW, TZ, rs).events == Counts(4, 2)


def test_burn_rate_over_a_lookback() -> None:
    """7 d window at 99.9 %, alerts over the last hour: 60 one-minute results in the
    last hour, 3 failing; 10 more failures six hours earlier.

    bad ratio within 1 h = 3/60 = 5 %; burn rate = 0.05 / 0.001 = 50 > 14.4: holds.
    The 6 h alert (op lt, threshold 1: "burning slower than the budget") sees
    3/60 too (the failures 6 h earlier are exactly at now − 6 h − 10 min …, out):
    50 < 1 is false.  The 1 d alert sees 13/70: rate 185.71…"""
    alerts = (BurnAlertSpec("fast", "page", Decimal("14.4"), "gt", HOUR, 5 * MIN),
              BurnAlertSpec("calm", "ticket", Decimal(1), "lt", 6 * HOUR),
              BurnAlertSpec("day", "ticket", Decimal(3), "gte", DAY))
    rs = minutes(NOW - HOUR, 60, failing={0, 30, 59})
    rs += minutes(NOW - 6 * HOUR - 10 * MIN, 10, failing=set(range(10)))
    r = windowed_from_results(spec(burn_alerts=alerts), NOW, TZ, rs)
    fast, calm, day = r.burn
    assert (fast.units, fast.bad_ratio, fast.burn_rate, fast.holds) == (
        60, Fraction(1, 20), 50, True)
    assert fast.from_ms == NOW - HOUR
    assert (calm.burn_rate, calm.holds) == (50, False)
    assert day.burn_rate == Fraction(13, 70) * 1000 and day.holds


def test_burn_rate_with_timeslices_uses_slices_overlapping_the_lookback() -> None:
    """1 d window of 1-hour slices, 95 % slice target, objective 90 %; a 90-minute
    lookback overlaps the last 2 slices (now − 2 h … now).  Slice 22 (now − 2 h): 10
    of 10 good; slice 23: 5 of 10 (bad).  bad share 1/2; burn rate 0.5 / 0.1 = 5."""
    alerts = (BurnAlertSpec("fast", "page", Decimal(2), "gt", 90 * MIN),)
    s = spec(window_ms=DAY, target_percent=Decimal(90), budgeting="timeslices",
             slice_ms=HOUR, slice_target_percent=Decimal(95), burn_alerts=alerts)
    rs = [result(NOW - 2 * HOUR + i * MIN) for i in range(10)]
    rs += [result(NOW - HOUR + i * MIN, Outcome.FAILURE if i % 2 else Outcome.SUCCESS)
           for i in range(10)]
    rs += [result(NOW - 5 * HOUR)]  # slice 19: good, outside the lookback
    r = windowed_from_results(s, NOW, TZ, rs)
    (b,) = r.burn
    assert (b.units, b.bad_ratio, b.burn_rate, b.holds) == (2, Fraction(1, 2), 5, True)
    assert r.units == 3 and r.ratio == Fraction(2, 3)


def test_calendar_month_window_and_its_slices() -> None:
    """1M at 2026-05-10 12:00 Shanghai: the window is [2026-05-01 00:00 +08:00, now).
    A result at 2026-04-30 23:59 +08:00 is out, one at 05-01 00:00 in.  Slices of a
    day from the month's start: the result at 05-10 11:00 is in slice 9."""
    may = month(2026, 5, TZ)
    now = may.start_ms + 9 * DAY + 12 * HOUR
    assert may.start_ms == to_ms(datetime.fromisoformat("2026-05-01T00:00:00+08:00"))
    s = spec(window_ms=None, budgeting="ratio_timeslices", slice_ms=DAY)
    p = plan(s, now, TZ)
    assert (p.start_ms, p.end_ms, p.slice_of(now - HOUR)) == (may.start_ms, now, 9)
    rs = [result(may.start_ms - MIN, Outcome.FAILURE), result(may.start_ms),
          result(now - HOUR, Outcome.FAILURE)]
    ev = events_from_results(s, p, rs)
    assert ev.window == Counts(2, 1) and dict(ev.slices) == {0: Counts(1, 1), 9: Counts(1, 0)}
    assert evaluate_windowed(s, p, ev).ratio == Fraction(1, 2)


def test_calendar_lookback_reaching_into_the_previous_month() -> None:
    """1M, two hours into May, a 6 h lookback: the burn rate reads [now − 6 h, now),
    across the month's start; the window's ratio only May.  April's last 4 h: 4
    failures; May's 2 h: 2 successes.  Window: 2/2 = 100 %; burn: 4/6 / 0.001."""
    may = month(2026, 5, TZ)
    now = may.start_ms + 2 * HOUR
    s = spec(window_ms=None, burn_alerts=(BurnAlertSpec("x", "page", Decimal(1), "gt",
                                                        6 * HOUR),))
    rs = [result(may.start_ms - (i + 1) * HOUR, Outcome.FAILURE) for i in range(4)]
    rs += [result(may.start_ms + i * HOUR) for i in range(2)]
    r = windowed_from_results(s, now, TZ, rs)
    assert r.ratio == 1 and r.burn[0].burn_rate == Fraction(4, 6) * 1000


def test_no_events_judges_nothing() -> None:
    """No event: ratio, met and every burn rate are None (nothing holds); allowed 0."""
    alerts = (BurnAlertSpec("fast", "page", Decimal("14.4"), "lt", HOUR),)
    r = evaluate_windowed(spec(burn_alerts=alerts), plan(spec(burn_alerts=alerts), NOW, TZ),
                          WindowEvents(Counts()))
    assert (r.ratio, r.met, r.allowed, r.consumed) == (None, None, 0, None)
    assert r.burn[0].burn_rate is None and not r.burn[0].holds


def test_other_targets_are_not_events() -> None:
    rs = [result(NOW - MIN, Outcome.FAILURE, target="other"), result(NOW - MIN)]
    assert windowed_from_results(spec(), NOW, TZ, rs).events == Counts(1, 1)


@pytest.mark.parametrize("kw", [
    dict(sli="latency"), dict(threshold_ms=3000), dict(budgeting="timeslices"),
    dict(slice_ms=MIN), dict(budgeting="ratio_timeslices", slice_ms=MIN,
                             slice_target_percent=Decimal(95)),
])
def test_spec_refuses_inconsistent_fields(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        spec(**kw)


def test_window_labels() -> None:
    assert [spec(window_ms=w).window_label for w in (28 * DAY, HOUR, 90 * MIN, None)] == [
        "28d", "1h", "90m", "1M"]


def test_a_closed_months_report_sees_the_whole_month() -> None:
    """``report --month 2026-04`` after April: objectives are evaluated at the month's end
    (slo.evaluator.windowed_at), and 1M there is all of April (the month holding
    end − 1 ms), not May's empty start.  A 7 d window ends at April's end too."""
    april = month(2026, 4, TZ)
    at = windowed_at(april, april.end_ms + 3 * DAY)
    assert at == april.end_ms
    p = plan(spec(window_ms=None), at, TZ)
    assert (p.start_ms, p.end_ms) == (april.start_ms, april.end_ms)
    assert plan(spec(), at, TZ).start_ms == april.end_ms - 7 * DAY
