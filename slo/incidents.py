"""Incident clocks against the standard (pure): respond, restore, resolve.

The standard (服务等级定义) gives each priority three clocks from the opening
instant: 响应 (respond: acknowledged), 恢复服务 (restore) and 彻底解决 / 解决
(resolve).  Each clock is *due* at opening + the priority's standard; it is met
when done by then ("15分钟内": within, so at the due instant is on time); its
lateness is done − due, or, while not done, (resolution or ``now``) − due, as
the alerting record measures it.  Live (alerting) and imported incidents are
judged alike, so an imported P1 restored after 6 h and resolved after 72 h is
late twice.

Per priority and period: MTTA = mean(responded − opened) over the answered
incidents, MTTR = mean(restored − opened) over the restored ones, both exact
(``Fraction`` ms); the open ones are counted, not averaged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from slo.compensation import IncidentRecord
from slo.model import CLOCKS, PriorityStandard

_DONE = {"respond": "responded_ms", "restore": "restored_ms", "resolve": "resolved_ms"}


@dataclass(frozen=True, slots=True)
class ClockResult:
    clock: str  # respond | restore | resolve
    standard_ms: int | None
    due_ms: int | None
    done_ms: int | None
    took_ms: int | None  # done − opened
    late_ms: int | None  # ≥ 0; None without a standard
    met: bool | None  # None: no standard, or not done and not yet due


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    incident: IncidentRecord
    source: str  # "imported" or "live"
    clocks: tuple[ClockResult, ...]

    def clock(self, name: str) -> ClockResult:
        return next(c for c in self.clocks if c.clock == name)

    @property
    def late(self) -> tuple[str, ...]:
        return tuple(c.clock for c in self.clocks if c.met is False)


@dataclass(frozen=True, slots=True)
class PriorityFigures:
    priority: str
    incidents: int
    answered: int
    restored: int
    resolved: int
    mtta_ms: Fraction | None
    mttr_ms: Fraction | None
    late: tuple[tuple[str, int], ...]  # (clock, incidents late on it)


@dataclass(frozen=True, slots=True)
class IncidentsReport:
    standards: tuple[PriorityStandard, ...]
    incidents: tuple[IncidentTimes, ...]
    by_priority: tuple[PriorityFigures, ...]


def _done(inc: IncidentRecord, clock: str) -> int | None:
    done: int | None = getattr(inc, _DONE[clock])
    return done


def clock_result(inc: IncidentRecord, clock: str, standard: int | None, now_ms: int
                 ) -> ClockResult:
    done = _done(inc, clock)
    took = None if done is None else done - inc.opened_ms
    if standard is None:
        return ClockResult(clock, None, None, done, took, None, None)
    due = inc.opened_ms + standard
    end = done if done is not None else (
        inc.resolved_ms if inc.resolved_ms is not None else now_ms)
    late = max(0, end - due)
    # Done: on time at the due instant itself ("15分钟内"); not done: late once past it.
    met = (done <= due) if done is not None else (False if end > due else None)
    return ClockResult(clock, standard, due, done, took, late, met)


def incident_times(inc: IncidentRecord, standard: PriorityStandard | None, now_ms: int,
                   source: str) -> IncidentTimes:
    std = standard or PriorityStandard(inc.priority)
    return IncidentTimes(inc, source, tuple(clock_result(inc, c, std.of(c), now_ms)
                                            for c in CLOCKS))


def _mean(values: Sequence[int]) -> Fraction | None:
    return Fraction(sum(values), len(values)) if values else None


def priority_figures(priority: str, items: Sequence[IncidentTimes]) -> PriorityFigures:
    incs = [t.incident for t in items]
    acked = [i.responded_ms - i.opened_ms for i in incs if i.responded_ms is not None]
    restored = [i.restored_ms - i.opened_ms for i in incs if i.restored_ms is not None]
    return PriorityFigures(
        priority, len(items), len(acked), len(restored),
        sum(1 for i in incs if i.resolved_ms is not None), _mean(acked), _mean(restored),
        tuple((c, sum(1 for t in items if t.clock(c).met is False)) for c in CLOCKS))


def evaluate_incidents(incidents: Iterable[tuple[IncidentRecord, str]],
                       standards: Sequence[PriorityStandard], lo_ms: int, hi_ms: int,
                       now_ms: int) -> IncidentsReport:
    """Incidents (with their source) opened in ``[lo, hi)``: each clock, and per
    priority (every standard's, plus any other seen) the month's figures."""
    by_name = {s.priority: s for s in standards}
    times = sorted((incident_times(i, by_name.get(i.priority), now_ms, src)
                    for i, src in incidents if lo_ms <= i.opened_ms < hi_ms),
                   key=lambda t: (t.incident.opened_ms, t.incident.id))
    priorities = list(dict.fromkeys([*by_name, *sorted({t.incident.priority for t in times})]))
    return IncidentsReport(
        tuple(standards), tuple(times),
        tuple(priority_figures(p, [t for t in times if t.incident.priority == p])
              for p in priorities))
