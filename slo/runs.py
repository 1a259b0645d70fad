"""Runs: the compact, lossless form of one (target, location) result series.

A run is a maximal sequence of consecutive results with the same outcome and no
gap larger than 2 × interval between neighbours.  Under the timeline of docs/design.md
rule ("a result covers ``[ts, next_ts)`` when the next comes within 2 × interval,
else ``[ts, ts + interval)`` and then a gap") the coverage of a series is
exactly reconstructable from its runs, so the store can keep a month of 30 s
results (86 400 rows per series) as a handful of runs and the evaluator works
on those.

Results must be added in timestamp order; equal timestamps are allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slaguard.domain import Outcome

# Compact codes used in numpy arrays; the order is irrelevant, only identity.
OUTCOME_CODES: dict[Outcome, int] = {Outcome.SUCCESS: 0, Outcome.FAILURE: 1, Outcome.UNKNOWN: 2}
CODE_OUTCOMES: tuple[Outcome, ...] = (Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Run:
    outcome: Outcome  # slaguard.domain.Outcome
    start_ms: int  # ts of the first result of the run (epoch ms UTC)
    last_ms: int  # ts of the last result of the run
    count: int  # number of results in the run


def continues(last_ms: int, ts_ms: int, interval_ms: int) -> bool:
    """Whether a result at ``ts_ms`` still belongs to the coverage chain ending at ``last_ms``."""
    return ts_ms - last_ms <= 2 * interval_ms


class RunBuilder:
    """Incremental run building, for the store at write time.

    ``add`` returns the run that the new result *closed* (to persist as final)
    or ``None``; ``current`` is the open run (to upsert).  Feeding the same
    results one by one gives exactly :func:`runs_from_results`.
    """

    __slots__ = ("_current", "_interval_ms")

    def __init__(self, interval_ms: int, resume: Run | None = None) -> None:
        """``resume``: the series' open run as persisted (after a restart)."""
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {interval_ms}")
        self._interval_ms = interval_ms
        self._current: Run | None = resume

    @property
    def interval_ms(self) -> int:
        return self._interval_ms

    @property
    def current(self) -> Run | None:
        return self._current

    def add(self, ts_ms: int, outcome: Outcome) -> Run | None:
        outcome = Outcome(outcome)
        cur = self._current
        if cur is None:
            self._current = Run(outcome, ts_ms, ts_ms, 1)
            return None
        if ts_ms < cur.last_ms:
            raise ValueError(
                f"result at {ts_ms} is older than the open run's last result {cur.last_ms}; "
                "rebuild the series with runs_from_results"
            )
        if outcome is cur.outcome and continues(cur.last_ms, ts_ms, self._interval_ms):
            self._current = Run(outcome, cur.start_ms, ts_ms, cur.count + 1)
            return None
        self._current = Run(outcome, ts_ms, ts_ms, 1)
        return cur


def runs_from_results(
    ts_ms: Sequence[int], outcomes: Sequence[Outcome], interval_ms: int
) -> list[Run]:
    """Batch form of :class:`RunBuilder`; results are sorted by ts first (stable)."""
    if len(ts_ms) != len(outcomes):
        raise ValueError("ts_ms and outcomes differ in length")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    if len(ts_ms) == 0:
        return []
    ts = np.asarray(ts_ms, dtype=np.int64)
    codes = np.fromiter((OUTCOME_CODES[Outcome(o)] for o in outcomes), dtype=np.int8,
                        count=len(outcomes))
    order = np.argsort(ts, kind="stable")
    ts, codes = ts[order], codes[order]
    brk = np.ones(ts.size, dtype=np.bool_)
    brk[1:] = (codes[1:] != codes[:-1]) | (np.diff(ts) > 2 * interval_ms)
    first = np.flatnonzero(brk)
    last = np.append(first[1:], ts.size) - 1
    return [
        Run(CODE_OUTCOMES[c], s, e, n)
        for c, s, e, n in zip(
            codes[first].tolist(), ts[first].tolist(), ts[last].tolist(),
            (last - first + 1).tolist(), strict=True,
        )
    ]
