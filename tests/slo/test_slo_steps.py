"""Step objectives (slo.steps): reference cases computed by hand."""

from __future__ import annotations

from slo.steps import StepBreach, meets, step_objective, step_objectives

BOUND = 600_000  # "< 10m"
# The module docstring's reference case: five runs of generate (and a login each).
ROWS = [
    (1, "sh", "login", 50, True), (1, "sh", "generate", 540_000, True),
    (2, "sh", "login", 50, True), (2, "sh", "generate", 600_000, True),
    (3, "bj", "generate", 610_000, True),
    (4, "sh", "generate", 601_000, False),
    (5, "bj", "generate", 12_000, False),
]


def test_reference_case_strict() -> None:
    r = step_objective("bid-doc", "generate", BOUND, False, ROWS)
    # met: run 1 (540 000 < 600 000); breached: 2 (= bound), 3 (above), 4 (failed after
    # the bound); not judged: 5 (failed at 12 s, no speed fact); worst 610 000.
    assert (r.runs, r.met, r.breached, r.not_judged, r.worst_ms) == (4, 1, 3, 1, 610_000)
    assert r.breaches == (StepBreach(2, "sh", 600_000, True), StepBreach(3, "bj", 610_000, True),
                          StepBreach(4, "sh", 601_000, False))
    assert not r.compliant


def test_reference_case_inclusive() -> None:
    r = step_objective("bid-doc", "generate", BOUND, True, ROWS)
    # "<= 10m": run 2 (exactly 600 000) is met too.
    assert (r.runs, r.met, r.breached, r.not_judged) == (4, 2, 2, 1)
    assert [b.ts_ms for b in r.breaches] == [3, 4]


def test_listing_is_capped_but_counts_are_not() -> None:
    rows = [(i, "sh", "generate", BOUND + i, True) for i in range(10, 0, -1)]
    r = step_objective("j", "generate", BOUND, False, rows, max_listed=3)
    assert r.breached == 10 and [b.ts_ms for b in r.breaches] == [1, 2, 3]  # oldest first
    assert r.worst_ms == BOUND + 10


def test_no_rows_and_several_objectives() -> None:
    empty = step_objective("j", "generate", BOUND, False, [])
    assert (empty.runs, empty.worst_ms, empty.compliant) == (0, None, True)
    got = step_objectives([("bid-doc", "login", 30_000, False), ("other", "x", 1, False)],
                          {"bid-doc": ROWS})
    assert [(g.journey, g.step, g.runs, g.met) for g in got] == [
        ("bid-doc", "login", 2, 2), ("other", "x", 0, 0)]


def test_meets_at_the_edge() -> None:
    assert meets(599_999, BOUND, False) and not meets(BOUND, BOUND, False)
    assert meets(BOUND, BOUND, True) and not meets(BOUND + 1, BOUND, True)
