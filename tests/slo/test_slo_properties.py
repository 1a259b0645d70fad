"""Properties over random series, locations and policies.

"Adding a success never adds downtime" holds in this form: a success that
lands inside the coverage of the result before it (or before every result)
never adds downtime, and turning a failure into a success never does.  A
success that lands *in a gap* after a failure can: under the docs/design.md rule the
failure then covers ``[ts, next_ts)`` instead of ``[ts, ts + interval)``
(``test_a_late_success_extends_the_failure_before_it`` pins that down).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from slo_testkit import IV, policy

from slaguard.domain import Outcome
from slo.availability import Availability, account, evaluate
from slo.intervals import EMPTY, IntervalSet
from slo.model import AvailabilityRules
from slo.periods import Period
from slo.runs import runs_from_results
from slo.timeline import SeriesRuns, build_service_timeline

S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN
T0 = 1_790_784_000_000
SLOTS = 40
PERIOD = Period(T0 + 3 * IV, T0 + SLOTS * IV - 7_000, "Asia/Shanghai")


@dataclass(frozen=True)
class Case:
    series: dict[tuple[str, str], list[tuple[int, Outcome]]]
    rules: AvailabilityRules
    down_when: str
    maintenance: IntervalSet


@st.composite
def cases(draw: st.DrawFn) -> Case:
    targets = draw(st.sampled_from([("web",), ("web", "api")]))
    locations = draw(st.sampled_from([("a",), ("a", "b"), ("a", "b", "c")]))
    data = {}
    for t in targets:
        for loc in locations:
            offset = draw(st.integers(0, IV - 1))
            pattern = draw(st.text("SSSFFU..", max_size=SLOTS))
            data[(t, loc)] = [(T0 + i * IV + offset, {"S": S, "F": F, "U": U}[c])
                              for i, c in enumerate(pattern) if c != "."]
    rules = AvailabilityRules(
        confirm=draw(st.integers(1, 3)),
        quorum=draw(st.sampled_from(["majority", "any", "all", 1, 2])),
        no_data=draw(st.sampled_from(["up", "down", "exclude"])),
        counts_as=draw(st.sampled_from(["available", "exclude_from_period"])),
    )
    m_start = draw(st.integers(T0, T0 + SLOTS * IV))
    m_len = draw(st.sampled_from([0, 45_000, 300_000]))
    return Case(data, rules, draw(st.sampled_from(["any", "all"])),
                IntervalSet.span(m_start, m_start + m_len))


def run(case: Case) -> tuple[Availability, int]:
    pol = policy(targets=tuple(dict.fromkeys(t for t, _ in case.series)), rules=case.rules,
                 down_when=case.down_when)
    runs = [SeriesRuns(t, loc, runs_from_results([x[0] for x in rs], [x[1] for x in rs], IV))
            for (t, loc), rs in case.series.items()]
    tl = build_service_timeline(pol.services[0], runs, pol, PERIOD.end_ms)
    svc = pol.services[0]
    a = evaluate(tl, svc, PERIOD, PERIOD.end_ms, case.maintenance, pol.rules)
    ms = account(tl, PERIOD.start_ms, PERIOD.end_ms, case.maintenance, pol.rules).bad.total()
    return a, ms


@settings(max_examples=300)
@given(cases())
def test_downtime_never_exceeds_the_period(case: Case) -> None:
    a, ms = run(case)
    assert 0 <= ms <= PERIOD.duration_ms
    assert 0 <= a.downtime_seconds <= a.elapsed_seconds
    assert a.downtime_seconds + a.excluded_seconds <= a.elapsed_seconds
    assert sum(o.seconds for o in a.outages) == a.downtime_seconds
    assert 0 <= a.availability <= 1
    assert a.met == (a.availability >= a.objective)


@settings(max_examples=300)
@given(cases(), st.data())
def test_turning_a_failure_into_a_success_never_adds_downtime(case: Case,
                                                               data: st.DataObject) -> None:
    failures = [(k, i) for k, rs in case.series.items() for i, (_, o) in enumerate(rs) if o is F]
    if not failures:
        return
    key, i = data.draw(st.sampled_from(failures))
    flipped = dict(case.series)
    flipped[key] = [*case.series[key][:i], (case.series[key][i][0], S),
                    *case.series[key][i + 1:]]
    before, after = run(case), run(Case(flipped, case.rules, case.down_when, case.maintenance))
    assert after[1] <= before[1]
    assert after[0].downtime_seconds <= before[0].downtime_seconds


def coverage_end(rs: list[tuple[int, Outcome]], i: int) -> int:
    ts = rs[i][0]
    if i + 1 < len(rs) and rs[i + 1][0] - ts <= 2 * IV:
        return rs[i + 1][0]
    return ts + IV


@settings(max_examples=300)
@given(cases(), st.data())
def test_adding_a_success_within_the_previous_coverage_never_adds_downtime(
        case: Case, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(case.series)))
    rs = case.series[key]
    taken = {t for t, _ in rs}
    if rs:
        i = data.draw(st.integers(-1, len(rs) - 1))
        lo, hi = (T0 - IV, rs[0][0]) if i < 0 else (rs[i][0], coverage_end(rs, i))
    else:
        lo, hi = T0, T0 + SLOTS * IV
    ts = data.draw(st.integers(lo, hi).filter(lambda t: t not in taken))
    added = dict(case.series)
    added[key] = sorted([*rs, (ts, S)], key=lambda x: x[0])
    before, after = run(case), run(Case(added, case.rules, case.down_when, case.maintenance))
    assert after[1] <= before[1]
    assert after[0].downtime_seconds <= before[0].downtime_seconds


def test_a_late_success_extends_the_failure_before_it() -> None:
    """docs/design.md, literally: a result covers up to the next one within 2 × interval."""
    pol = policy()
    fails = [(T0, F), (T0 + IV, F)]

    def down(extra: list[tuple[int, Outcome]]) -> int:
        rs = fails + extra
        runs = [SeriesRuns("web", "a", runs_from_results([t for t, _ in rs],
                                                         [o for _, o in rs], IV))]
        tl = build_service_timeline(pol.services[0], runs, pol, T0 + 10 * IV)
        return account(tl, T0, T0 + 10 * IV, EMPTY, pol.rules).bad.total()

    assert down([(T0 + 5 * IV, S)]) == 2 * IV  # the next result is late: a gap follows
    assert down([(T0 + 5 * IV // 2, S), (T0 + 5 * IV, S)]) == 5 * IV // 2  # covers up to it
