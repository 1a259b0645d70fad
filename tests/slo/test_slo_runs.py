"""Runs: incremental == batch, and runs reconstruct the docs/design.md timeline exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slaguard.domain import Outcome
from slo.intervals import IntervalSet
from slo.runs import Run, RunBuilder, runs_from_results
from slo.timeline import series_timeline

S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN
IV = 30_000


def build_incrementally(ts: list[int], outs: list[Outcome], iv: int) -> list[Run]:
    b = RunBuilder(iv)
    closed = [r for t, o in zip(ts, outs, strict=True) if (r := b.add(t, o)) is not None]
    return closed + ([b.current] if b.current is not None else [])


def test_runs_break_on_outcome_and_on_gaps_larger_than_two_intervals() -> None:
    ts = [0, 30_000, 60_000, 90_000, 150_000, 210_001, 240_001]
    outs = [S, S, F, F, F, F, F]
    assert runs_from_results(ts, outs, IV) == [
        Run(S, 0, 30_000, 2),
        Run(F, 60_000, 150_000, 3),  # 150 000 − 90 000 = 2 × interval: still the same run
        Run(F, 210_001, 240_001, 2),  # 60 001 ms after the last one: a gap
    ]


def test_builder_reports_the_run_it_closed_and_the_open_one() -> None:
    b = RunBuilder(IV)
    assert b.add(0, S) is None
    assert b.add(30_000, S) is None
    assert b.current == Run(S, 0, 30_000, 2)
    assert b.add(60_000, F) == Run(S, 0, 30_000, 2)
    assert b.current == Run(F, 60_000, 60_000, 1)


def test_builder_refuses_results_older_than_the_open_run() -> None:
    b = RunBuilder(IV)
    b.add(60_000, S)
    with pytest.raises(ValueError, match="older"):
        b.add(59_999, S)


def test_batch_sorts_results_first() -> None:
    assert runs_from_results([60_000, 0, 30_000], [S, S, S], IV) == [Run(S, 0, 60_000, 3)]


def test_a_month_of_30s_results_collapses_to_a_handful_of_runs() -> None:
    n = 86_400
    ts = [i * IV for i in range(n)]
    outs = [F if 40_000 <= i < 40_010 else S for i in range(n)]
    runs = runs_from_results(ts, outs, IV)
    assert [(r.outcome, r.count) for r in runs] == [(S, 40_000), (F, 10), (S, n - 40_010)]


results_st = st.lists(
    st.tuples(st.integers(0, 200_000), st.sampled_from([S, F, U])), max_size=60
).map(lambda xs: sorted(xs, key=lambda x: x[0]))


@given(results_st, st.sampled_from([10_000, 30_000, 45_000]))
def test_incremental_equals_batch(rs: list[tuple[int, Outcome]], iv: int) -> None:
    ts, outs = [t for t, _ in rs], [o for _, o in rs]
    assert build_incrementally(ts, outs, iv) == runs_from_results(ts, outs, iv)


# -- a naive per-result reference of the docs/design.md semantics ------------------------------


def naive(ts: list[int], outs: list[Outcome], iv: int, confirm: int,
          until: int) -> tuple[IntervalSet, IntervalSet]:
    """Per result: coverage, chains of failures through unknowns, confirmed failures."""
    n = len(ts)
    ends = []
    for i in range(n):
        nxt = ts[i + 1] if i + 1 < n else None
        ends.append(min(until, nxt if nxt is not None and nxt - ts[i] <= 2 * iv else ts[i] + iv))
    confirmed = [False] * n
    chain: list[int] = []
    for i in range(n + 1):
        breaks = (i == n or outs[i] is S or (i > 0 and ts[i] - ts[i - 1] > 2 * iv))
        if breaks:
            fails = [j for j in chain if outs[j] is F]
            for j in fails:
                confirmed[j] = len(fails) >= confirm
            chain = []
        if i < n and outs[i] is not S:
            chain.append(i)
    known = IntervalSet.of([t for t, o in zip(ts, outs, strict=True) if o is not U],
                           [e for e, o in zip(ends, outs, strict=True) if o is not U])
    down = IntervalSet.of([t for t, c in zip(ts, confirmed, strict=True) if c],
                          [e for e, c in zip(ends, confirmed, strict=True) if c])
    return known, down


@settings(max_examples=300)
@given(results_st, st.integers(1, 3), st.integers(0, 260_000))
def test_runs_reconstruct_the_per_result_timeline(rs: list[tuple[int, Outcome]], confirm: int,
                                                  until: int) -> None:
    ts, outs = [t for t, _ in rs], [o for _, o in rs]
    tl = series_timeline(runs_from_results(ts, outs, IV), IV, confirm, until)
    known, down = naive(ts, outs, IV, confirm, until)
    assert tl.known.pairs() == known.pairs()
    assert tl.down.pairs() == down.pairs()
