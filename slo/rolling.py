"""Windowed objectives (``slos[].objective``): ratios, budgets and burn rates over a
rolling window or the calendar month, beside the month compensation uses.

Pure: the spec (:class:`slo.model.WindowedSpec`), ``now`` and the counted events
in; a :class:`WindowedResult` out.  Every figure is an ``int`` or a ``Fraction``.

**Events.**  An event is one of slaguard's own results of the SLO's targets, from
every location; an ``unknown`` outcome (the probe could not judge) is not an
event.  ``availability``: an event is good when it is a success.  ``latency``: good
when it is a success faster than the threshold (``< 3s``: a 3000 ms success is
bad; ``<= 3s``: it is good).  A failure is a bad event for both.

**The window.**  Rolling ``N``: ``[now − N, now)`` — a result exactly at
``now − N`` is in, one at ``now`` is out.  ``1M``: ``[start of the month, now)`` in
the policy's time zone, the month compensation uses (to date); the month is the
one holding ``now − 1 ms``, so at a month's end it is that whole month.

**Budgeting.**

- ``occurrences``: ratio = good events / events.
- ``timeslices``: the window is cut into slices of ``slice_ms`` from its start (a
  rolling window's last slice ends at ``now``; the month's slice holding ``now``
  is cut at ``now``).  A slice with events is good when its good / events ≥
  ``slice_target``; ratio = good slices / slices with events.
- ``ratio_timeslices``: ratio = the mean, over the slices with events, of each
  slice's good / events.

Slices without events count for nothing (neither good nor bad).  The objective is
met when ratio ≥ target (OpenSLO's reading: the SLI must reach the target, and
the budget is exhausted only once bad exceeds what the target allows).  With no
event at all the ratio is unknown (``None``) and nothing is judged.

**Budget.**  allowed = (1 − target) × N, where N is the events (occurrences) or the
slices with events (both timeslice methods); bad = the bad events, the bad
slices, or for ratio_timeslices Σ (1 − slice ratio); remaining = allowed − bad
(negative once exceeded); consumed = bad / allowed.  So met ⇔ remaining ≥ 0.

**Burn rate** over a lookback ``L``: (the bad share within ``[now − L, now)``) /
(1 − target), the bad share measured the budgeting's way: bad events / events,
bad slices / slices with events, or 1 − mean slice ratio, over the slices that
overlap ``[now − L, now)``.  A burn alert *holds* while ``burn rate <op>
threshold``; ``alert_after`` (how long it must hold before anyone is paged) is
alerting's to apply, since it needs the history of the condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from slaguard.domain import Outcome, ProbeResult
from slo.model import BurnAlertSpec, WindowedSpec, within_bound
from slo.periods import month_containing


@dataclass(frozen=True, slots=True)
class Counts:
    """Events and how many of them were good."""

    total: int = 0
    good: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.total + other.total, self.good + other.good)

    @property
    def bad(self) -> int:
        return self.total - self.good

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.good, self.total) if self.total else None


@dataclass(frozen=True, slots=True)
class Lookback:
    """What a burn alert reads: ``[from_ms, now)``."""

    alert: str
    from_ms: int


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """What to count for one objective at ``now``: events in ``[start, end)``; with
    timeslices, per slice of ``slice_ms`` from ``start`` over ``[slices_from, end)``
    (earlier than ``start`` when a lookback reaches before the month's start); and
    for occurrences the events of each lookback."""

    start_ms: int
    end_ms: int
    slice_ms: int | None
    slices_from_ms: int
    lookbacks: tuple[Lookback, ...]

    def slice_of(self, ts_ms: int) -> int:
        """The index of the slice holding ``ts_ms`` (negative before ``start``)."""
        assert self.slice_ms is not None
        return (ts_ms - self.start_ms) // self.slice_ms


def plan(spec: WindowedSpec, now_ms: int, timezone: str) -> WindowPlan:
    # The month holding the instant just before ``now``: at a month's end (a closed
    # month's report) that is the whole month, not the next one's empty start.
    start = (month_containing(now_ms - 1, timezone).start_ms if spec.window_ms is None
             else now_ms - spec.window_ms)
    lookbacks = tuple(Lookback(a.name, now_ms - a.lookback_ms) for a in spec.burn_alerts)
    earliest = min([start, *(lb.from_ms for lb in lookbacks)])
    if spec.slice_ms is not None:  # the slice holding the earliest lookback instant
        earliest = start + (earliest - start) // spec.slice_ms * spec.slice_ms
    return WindowPlan(start, now_ms, spec.slice_ms, earliest, lookbacks)


@dataclass(frozen=True, slots=True)
class WindowEvents:
    """The counted events of a :class:`WindowPlan`: ``window`` in ``[start, end)``;
    ``slices`` per slice index (slices without events may be absent); ``lookbacks``
    per alert name (occurrences; timeslices take their lookbacks from ``slices``)."""

    window: Counts
    slices: Mapping[int, Counts] = field(default_factory=dict)
    lookbacks: Mapping[str, Counts] = field(default_factory=dict)


def events_from_results(spec: WindowedSpec, p: WindowPlan,
                        results: Iterable[ProbeResult]) -> WindowEvents:
    """Count raw results the way the store counts them (tests, small inputs)."""
    window, slices = Counts(), dict[int, Counts]()
    lookbacks = {lb.alert: Counts() for lb in p.lookbacks}
    targets = set(spec.targets)
    lo = min(p.start_ms, p.slices_from_ms, *(lb.from_ms for lb in p.lookbacks))
    for r in results:
        if r.target not in targets or r.outcome is Outcome.UNKNOWN or not lo <= r.ts_ms < p.end_ms:
            continue
        one = Counts(1, int(good(spec, r.outcome, r.duration_ms)))
        if r.ts_ms >= p.start_ms:
            window += one
        if p.slice_ms is not None and r.ts_ms >= p.slices_from_ms:
            i = p.slice_of(r.ts_ms)
            slices[i] = slices.get(i, Counts()) + one
        for lb in p.lookbacks:
            if r.ts_ms >= lb.from_ms:
                lookbacks[lb.alert] += one
    return WindowEvents(window, slices, lookbacks)


def good(spec: WindowedSpec, outcome: Outcome, duration_ms: int) -> bool:
    """Whether one (known) result is a good event of ``spec``."""
    if outcome is not Outcome.SUCCESS:
        return False
    if spec.threshold_ms is None:
        return True
    return within_bound(duration_ms, spec.threshold_ms, spec.inclusive)


# -- evaluation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Share:
    """A budgeting method's view of some events: ``units`` counted (events, or slices
    with events), ``bad`` of them (a Fraction for ratio_timeslices)."""

    units: int
    bad: Fraction

    @property
    def ratio(self) -> Fraction | None:
        """The good share (the SLI), None without a unit."""
        return 1 - self.bad / self.units if self.units else None

    @property
    def bad_ratio(self) -> Fraction | None:
        return self.bad / self.units if self.units else None


def slice_share(spec: WindowedSpec, slices: Iterable[Counts]) -> Share:
    """The slices' :class:`Share` under timeslices or ratio_timeslices."""
    with_events = [c for c in slices if c.total]
    if spec.budgeting == "timeslices":
        assert spec.slice_target_percent is not None
        need = Fraction(spec.slice_target_percent) / 100
        bad = sum(1 for c in with_events if Fraction(c.good, c.total) < need)
        return Share(len(with_events), Fraction(bad))
    return Share(len(with_events), sum((Fraction(c.bad, c.total) for c in with_events),
                                       Fraction(0)))


def _in_range(p: WindowPlan, events: WindowEvents, from_ms: int) -> list[Counts]:
    """The slices overlapping ``[from_ms, end)``."""
    first = p.slice_of(from_ms)
    return [c for i, c in events.slices.items() if i >= first]


@dataclass(frozen=True, slots=True)
class BurnAlertResult:
    spec: BurnAlertSpec
    from_ms: int
    units: int  # events (occurrences) or slices with events in the lookback
    bad_ratio: Fraction | None  # None: nothing counted in the lookback
    burn_rate: Fraction | None
    holds: bool  # burn rate <op> threshold now (no events: does not hold)


@dataclass(frozen=True, slots=True)
class WindowedResult:
    spec: WindowedSpec
    start_ms: int
    end_ms: int
    events: Counts  # the window's events (all budgeting methods)
    units: int  # events (occurrences) or slices with events
    bad: Fraction  # bad events, bad slices, or Σ (1 − slice ratio)
    ratio: Fraction | None  # None: no event in the window
    met: bool | None
    allowed: Fraction  # (1 − target) × units
    burn: tuple[BurnAlertResult, ...] = ()

    @property
    def remaining(self) -> Fraction:
        return self.allowed - self.bad

    @property
    def consumed(self) -> Fraction | None:
        """bad / allowed (1 = the budget is spent); None while nothing is allowed."""
        return self.bad / self.allowed if self.allowed else None

    @property
    def remaining_ratio(self) -> Fraction | None:
        """remaining / allowed: the gauge's error-budget-remaining ratio."""
        return self.remaining / self.allowed if self.allowed else None


def _burn(spec: WindowedSpec, alert: BurnAlertSpec, from_ms: int, share: Share
          ) -> BurnAlertResult:
    bad_ratio = share.bad_ratio
    rate = None if bad_ratio is None else bad_ratio / spec.budget_ratio
    return BurnAlertResult(alert, from_ms, share.units, bad_ratio, rate,
                           rate is not None and alert.holds(rate))


def evaluate_windowed(spec: WindowedSpec, p: WindowPlan, events: WindowEvents
                      ) -> WindowedResult:
    """The objective at ``p.end_ms`` from the events counted for ``p``."""
    if spec.budgeting == "occurrences":
        share = Share(events.window.total, Fraction(events.window.bad))
        burns = tuple(_burn(spec, a, lb.from_ms, _occurrences(events.lookbacks.get(lb.alert)))
                      for a, lb in zip(spec.burn_alerts, p.lookbacks, strict=True))
    else:
        share = slice_share(spec, _in_range(p, events, p.start_ms))
        burns = tuple(_burn(spec, a, lb.from_ms,
                            slice_share(spec, _in_range(p, events, lb.from_ms)))
                      for a, lb in zip(spec.burn_alerts, p.lookbacks, strict=True))
    ratio = share.ratio
    return WindowedResult(spec, p.start_ms, p.end_ms, events.window, share.units, share.bad,
                          ratio, None if ratio is None else ratio >= spec.target,
                          spec.budget_ratio * share.units, burns)


def _occurrences(c: Counts | None) -> Share:
    c = c or Counts()
    return Share(c.total, Fraction(c.bad))


def windowed_from_results(spec: WindowedSpec, now_ms: int, timezone: str,
                          results: Iterable[ProbeResult]) -> WindowedResult:
    """The convenience path from raw results."""
    p = plan(spec, now_ms, timezone)
    return evaluate_windowed(spec, p, events_from_results(spec, p, results))
