"""Timelines: what each location, each target and each service looked like over time.

Semantics (docs/design.md "Accounting semantics", with the choices it leaves open):

* A result covers ``[ts, next_ts)`` when the next result of the same series
  comes within 2 × interval, else ``[ts, ts + interval)`` and then a gap.  The
  last result's coverage is cut at ``now``: the future is not known.
* A location *knows* the state where a ``success`` or ``failure`` result
  covers it.  ``unknown`` results and gaps are not knowledge: that time is
  never down for the location and the location drops out of the quorum count.
* Confirmation: failures are counted along a *chain* of failure and unknown
  runs that is not broken by a success or by a gap.  ``unknown`` results do
  not reset the count (the probe could not judge, so they carry no evidence
  that the target recovered; resetting would let a flaky self-check hide a real
  outage) but their own time is never down.  When a chain holds at least
  ``confirm`` failures, every failure of the chain is down from its first
  result; otherwise its failures are *blips*: they appear in ``failing`` (the
  result-level error share) but not in ``down``.
* Target: down at t when the quorum rule holds over the locations that know
  the state at t (``majority``: more than half of the knowing ones; ``any``; ``all``
  of the knowing ones, at least one; an integer n: at least n down).
* Service: down when any (``down_when: any``) availability target is down, or
  when every target that knows the state is down (``all``, at least one).

Everything is interval algebra over runs (see ``slo.intervals``): the cost is
per run and per state change, never per second or per result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from slaguard.domain import Outcome
from slo.intervals import EMPTY, I64, IntervalSet, Mask, combine, union_all
from slo.model import DownWhen, Policy, QuorumRule, ServiceSpec
from slo.runs import OUTCOME_CODES, Run

_SUCCESS = OUTCOME_CODES[Outcome.SUCCESS]
_FAILURE = OUTCOME_CODES[Outcome.FAILURE]
_UNKNOWN = OUTCOME_CODES[Outcome.UNKNOWN]


@dataclass(frozen=True, eq=False, slots=True)
class SeriesRuns:
    """The runs of one (target, location), in any order (they are sorted here).

    To evaluate ``[lo, hi)`` exactly, pass every run with ``last_ms >= lo − 2 ×
    interval`` and ``start_ms < hi + 2 × interval``, plus earlier runs back to a
    success run or a gap, so that a failure chain that began before ``lo`` is
    confirmed as it was; ``slo.evaluator.runs_window`` gives a generous window.
    """

    target: str
    location: str
    runs: Sequence[Run]


@dataclass(frozen=True, eq=False, slots=True)
class SeriesTimeline:
    target: str
    location: str
    known: IntervalSet  # covered by a success or failure result
    down: IntervalSet  # confirmed failures
    failing: IntervalSet  # every failure, blips included
    blips: IntervalSet  # unconfirmed failures


@dataclass(frozen=True, eq=False, slots=True)
class TargetTimeline:
    target: str
    known: IntervalSet  # at least one location knows
    down: IntervalSet  # the quorum rule holds
    series: tuple[SeriesTimeline, ...]


@dataclass(frozen=True, eq=False, slots=True)
class ServiceTimeline:
    service: str
    known: IntervalSet  # at least one availability target knows
    down: IntervalSet
    targets: tuple[TargetTimeline, ...]

    def all_series(self) -> Iterable[SeriesTimeline]:
        for t in self.targets:
            yield from t.series


def _arrays(runs: Sequence[Run]) -> tuple[I64, I64, I64, I64]:
    n = len(runs)
    start = np.fromiter((r.start_ms for r in runs), dtype=np.int64, count=n)
    last = np.fromiter((r.last_ms for r in runs), dtype=np.int64, count=n)
    count = np.fromiter((r.count for r in runs), dtype=np.int64, count=n)
    code = np.fromiter((OUTCOME_CODES[r.outcome] for r in runs), dtype=np.int64, count=n)
    order = np.argsort(start, kind="stable")
    return start[order], last[order], count[order], code[order]


def _coverage_ends(start: I64, last: I64, interval_ms: int) -> tuple[I64, Mask]:
    """End of each run's coverage, and whether the next run follows without a gap."""
    nxt = np.append(start[1:], last[-1] + 2 * interval_ms + 1)  # the last run: no successor
    contiguous = (nxt - last) <= 2 * interval_ms
    return np.where(contiguous, nxt, last + interval_ms), contiguous


def _confirmed(code: I64, count: I64, contiguous: Mask, confirm: int) -> Mask:
    """Failure runs whose chain (failure and unknown runs, no success, no gap) holds at least
    ``confirm`` failures."""
    succ = code == _SUCCESS
    fail = code == _FAILURE
    new_chain = np.ones(code.size, dtype=np.bool_)
    new_chain[1:] = succ[1:] | succ[:-1] | ~contiguous[:-1]
    heads = np.flatnonzero(new_chain)
    chain = np.cumsum(new_chain) - 1
    failures = np.add.reduceat(np.where(fail, count, 0), heads)
    return fail & (failures[chain] >= confirm)


def series_timeline(runs: Sequence[Run], interval_ms: int, confirm: int, until_ms: int,
                    target: str = "", location: str = "") -> SeriesTimeline:
    """One (target, location) from its runs, cut at ``until_ms`` (normally ``now``)."""
    if not runs:
        return SeriesTimeline(target, location, EMPTY, EMPTY, EMPTY, EMPTY)
    start, last, count, code = _arrays(runs)
    end, contiguous = _coverage_ends(start, last, interval_ms)
    end = np.minimum(end, until_ms)
    confirmed = _confirmed(code, count, contiguous, confirm)
    fail = code == _FAILURE

    def cover(mask: Mask) -> IntervalSet:
        return IntervalSet.of(start[mask], end[mask])

    return SeriesTimeline(target, location, known=cover(code != _UNKNOWN), down=cover(confirmed),
                          failing=cover(fail), blips=cover(fail & ~confirmed))


def quorum_holds(down: I64, known: I64, rule: QuorumRule) -> Mask:
    """Pointwise quorum over counts of down and knowing locations."""
    if rule == "majority":
        return 2 * down > known
    if rule == "any":
        return down >= 1
    if rule == "all":
        return (known >= 1) & (down == known)
    if isinstance(rule, int) and not isinstance(rule, bool):
        return down >= rule
    raise ValueError(f"unknown quorum rule {rule!r}")


def _vote(downs: Sequence[IntervalSet], knowns: Sequence[IntervalSet],
          rule: QuorumRule) -> IntervalSet:
    k = len(downs)
    if k == 0:
        return EMPTY

    def predicate(masks: list[Mask]) -> Mask:
        d: I64 = np.sum(masks[:k], axis=0, dtype=np.int64)
        n: I64 = np.sum(masks[k:], axis=0, dtype=np.int64)
        return quorum_holds(d, n, rule)

    return combine([*downs, *knowns], predicate)


def target_timeline(target: str, series: Sequence[SeriesTimeline],
                    rule: QuorumRule) -> TargetTimeline:
    known = union_all(s.known for s in series)
    down = _vote([s.down for s in series], [s.known for s in series], rule)
    return TargetTimeline(target, known, down, tuple(series))


def service_timeline(service: str, targets: Sequence[TargetTimeline],
                     down_when: DownWhen) -> ServiceTimeline:
    known = union_all(t.known for t in targets)
    if down_when == "any":
        down = union_all(t.down for t in targets)
    elif down_when == "all":
        down = _vote([t.down for t in targets], [t.known for t in targets], "all")
    else:
        raise ValueError(f"unknown down_when {down_when!r}")
    return ServiceTimeline(service, known, down, tuple(targets))


def build_service_timeline(service: ServiceSpec, series: Iterable[SeriesRuns], policy: Policy,
                           until_ms: int) -> ServiceTimeline:
    """The service's timeline from the runs of its availability targets (others are ignored)."""
    intervals = {t.name: t.interval_ms for t in policy.targets}
    wanted = set(service.targets)
    by_target: dict[str, list[SeriesTimeline]] = defaultdict(list)
    for s in series:
        if s.target in wanted:
            by_target[s.target].append(series_timeline(
                s.runs, intervals[s.target], policy.rules.confirm, until_ms, s.target, s.location))
    targets = [target_timeline(t, by_target[t], policy.rules.quorum)
               for t in service.targets if t in by_target]
    return service_timeline(service.name, targets, service.down_when)
