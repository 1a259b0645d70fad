"""Step objectives of journeys (``kind: journey``): "generating 100 pages takes < 10 min".

Pure: the rows come from the record (``SQLiteStore.step_elapsed``: per journey run
and location, each step's elapsed ms and whether it passed) and the bound as
plain integers with an ``inclusive`` flag (``slaguard.config.types.bound_inclusive``:
"< 10m" is strict, exactly 10 min is a breach; "<= 10m" is met at 10 min).

Per objective (journey, step, bound), over the runs whose rows are given:

* a run whose step **passed** is counted: *met* when its elapsed time meets the
  bound, *breached* otherwise;
* a run whose step **failed** is counted as *breached* only when it had already
  used up the bound when it failed (a job that was still not done at the poll's
  ``within`` ≥ the bound is too slow, whatever else it is); a step that failed
  sooner says nothing of speed and is *not judged* (availability counts it);
* a run that never reached the step has no row and is not counted.

``worst_ms`` is the longest elapsed time among counted runs; ``breaches`` lists the
breaching runs (time, location, elapsed, whether the step passed) for evidence,
oldest first, at most ``max_listed`` (``breached`` counts them all).

Reference case (bound "< 600000" ms, strict), five runs of ``generate``::

    ts   loc  elapsed  ok     judged
    1    sh   540000   yes    met        (540 000 < 600 000)
    2    sh   600000   yes    breached   (not < 600 000: exactly the bound)
    3    bj   610000   yes    breached
    4    sh   601000   no     breached   (failed after the bound was used up)
    5    bj    12000   no     not judged (failed early: not a speed fact)

    runs 4 (counted), met 1, breached 3, not_judged 1, worst 610 000,
    breaches [(2, sh, 600000), (3, bj, 610000), (4, sh, 601000)]

With "<= 600000" (inclusive) run 2 is met: met 2, breached 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# (ts_ms, location, step, elapsed_ms, ok): one step of one run, as the record reads it.
StepRow = tuple[int, str, str, int, bool]


@dataclass(frozen=True, slots=True)
class StepBreach:
    ts_ms: int
    location: str
    elapsed_ms: int
    ok: bool  # False: the step failed, after the bound was used up


@dataclass(frozen=True, slots=True)
class StepObjectiveResult:
    journey: str
    step: str
    bound_ms: int
    inclusive: bool
    runs: int  # counted: met + breached
    met: int
    breached: int
    not_judged: int  # the step failed before the bound was used up
    worst_ms: int | None
    breaches: tuple[StepBreach, ...]

    @property
    def compliant(self) -> bool:
        return self.breached == 0


def meets(elapsed_ms: int, bound_ms: int, inclusive: bool) -> bool:
    """Below the bound, or at it when the bound is inclusive ("<=")."""
    return elapsed_ms < bound_ms or (inclusive and elapsed_ms == bound_ms)


def step_objective(journey: str, step: str, bound_ms: int, inclusive: bool,
                   rows: Iterable[StepRow], max_listed: int = 100) -> StepObjectiveResult:
    """Judge one objective over ``rows`` (any steps of ``journey``; only ``step``'s count)."""
    met = breached = not_judged = 0
    worst: int | None = None
    breaches: list[StepBreach] = []
    for ts, location, _step, elapsed, ok in sorted(r for r in rows if r[2] == step):
        fast = meets(elapsed, bound_ms, inclusive)
        if not ok and fast:
            not_judged += 1
            continue
        worst = elapsed if worst is None else max(worst, elapsed)
        if fast:
            met += 1
            continue
        breached += 1
        if len(breaches) < max_listed:
            breaches.append(StepBreach(ts, location, elapsed, ok))
    return StepObjectiveResult(journey, step, bound_ms, inclusive, met + breached, met,
                               breached, not_judged, worst, tuple(breaches))


# (journey, step, bound_ms, inclusive): one configured objective, as plain values.
ObjectiveSpec = tuple[str, str, int, bool]


def step_objectives(specs: Iterable[ObjectiveSpec], rows: dict[str, list[StepRow]],
                    max_listed: int = 100) -> list[StepObjectiveResult]:
    """Every objective of every journey, in the order given (the configuration's)."""
    return [step_objective(journey, step, bound, inclusive, rows.get(journey, ()), max_listed)
            for journey, step, bound, inclusive in specs]
