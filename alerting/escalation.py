"""Escalation: who is told, and when, while nobody acknowledges.

Level 0 is the priority's own channels (``incidents.priorities.Px.notify``),
told when the incident opens.  A priority with its own chain
(``incidents.priorities.Px.escalation``: steps of ``after`` and ``notify``) tells
step n once the incident has gone unanswered for step n's ``after`` (the
standard: a P1 unanswered for 30 minutes goes to the senior engineer).
Without one, the shared chain applies: if it is not acknowledged within the
priority's ``escalate_after``, level 1 (``incidents.escalation[0]``) is told,
another ``escalate_after`` later level 2, and so on to the end of the chain.

Timers are columns, not tasks (target/goalert keeps escalation in the
database): the incident row holds ``next_escalation_ms``; ``Escalator.run_due``
picks the rows that are due and, in one transaction per incident, re-reads the
row, advances the level, sets the next deadline and writes the outbox rows.
Acknowledgement, restoration and resolution clear the deadline, so a stale
step cannot page anyone.  After a restart the overdue steps run once each,
and the log records how late they ran.  Each deadline is the previous one plus
gap to it (open + the step's ``after``), not "when the ticker happened to run"
plus it, so a slow ticker never pushes the next level further out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

from alerting.clock import Clock
from alerting.notification import Priority, Status
from alerting.outbox import Rendering, enqueue
from alerting.store import AlertingStore, EscalationSnapshot, IncidentRecord, Tx

if TYPE_CHECKING:
    from slaguard.config.schema import Incidents

log = logging.getLogger(__name__)


def _ms(td: timedelta | None) -> int | None:
    return None if td is None else td // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class PriorityClock:
    """One priority's promises, in milliseconds (None: that clock does not run)."""

    respond_ms: int | None = None
    restore_ms: int | None = None
    resolve_ms: int | None = None
    escalate_after_ms: int | None = None
    notify: tuple[str, ...] = ()
    # The priority's own chain: (ms after opening, channels) per level ≥ 1; empty:
    # the shared chain.
    steps: tuple[tuple[int, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Dues:
    respond_ms: int | None
    restore_ms: int | None
    resolve_ms: int | None


@dataclass(frozen=True)
class EscalationPolicy:
    priorities: Mapping[Priority, PriorityClock] = field(default_factory=dict)
    chain: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, incidents: Incidents) -> EscalationPolicy:
        clocks = {
            Priority(p): PriorityClock(
                _ms(x.respond), _ms(x.restore), _ms(x.resolve),
                _ms(x.escalate_after) if x.escalation is None else None, tuple(x.notify),
                tuple((_ms(step.after) or 0, tuple(step.notify))
                      for step in x.escalation or ()))
            for p, x in incidents.priorities.items()
        }
        return cls(MappingProxyType(clocks), tuple(incidents.escalation))

    def clock(self, priority: Priority) -> PriorityClock:
        """A priority without configuration has no clocks and notifies nobody."""
        return self.priorities.get(priority, PriorityClock())

    def snapshot(self, priority: Priority) -> EscalationSnapshot:
        c = self.clock(priority)
        if c.steps:
            return EscalationSnapshot(c.notify, (), None, c.steps)
        return EscalationSnapshot(c.notify, self.chain, c.escalate_after_ms)

    def dues(self, priority: Priority, opened_ms: int) -> Dues:
        c = self.clock(priority)

        def due(d: int | None) -> int | None:
            return None if d is None else opened_ms + d

        return Dues(due(c.respond_ms), due(c.restore_ms), due(c.resolve_ms))


def level_channels(snap: EscalationSnapshot, level: int) -> tuple[str, ...]:
    if level == 0:
        return snap.notify
    plan = snap.plan
    return plan[level - 1][1] if level - 1 < len(plan) else ()


def level_name(snap: EscalationSnapshot, level: int) -> str | None:
    return None if level == 0 else ", ".join(level_channels(snap, level)) or None


def levels(snap: EscalationSnapshot) -> int:
    """How many escalation levels (≥ 1) the plan has."""
    return len(snap.plan)


def _after(snap: EscalationSnapshot, level: int) -> int:
    """ms after opening at which ``level`` is due (0 for level 0)."""
    return 0 if level == 0 else snap.plan[level - 1][0]


def scheduled_ms(snap: EscalationSnapshot, level: int, opened_ms: int) -> int | None:
    """When ``level`` (≥ 1) is due on the schedule; None when it never will be."""
    if level < 1 or level > levels(snap):
        return None
    return opened_ms + _after(snap, level)


def following_ms(snap: EscalationSnapshot, level: int, due_ms: int) -> int | None:
    """When the level after ``level`` is due, ``level`` having been due at ``due_ms``."""
    if level + 1 > levels(snap):
        return None
    return due_ms + _after(snap, level + 1) - _after(snap, level)


def next_after_reopen_ms(snap: EscalationSnapshot, level: int, now_ms: int) -> int | None:
    """A re-opened, unanswered incident at ``level``: the next level is due the same gap
    after ``now`` as it was after ``level`` on the schedule."""
    return following_ms(snap, level, now_ms)


def stopped(inc: IncidentRecord) -> bool:
    """Escalation stops on acknowledgement, restoration and resolution."""
    return (inc.responded_ms is not None or inc.restored_ms is not None
            or inc.resolved_ms is not None)


@dataclass(frozen=True, slots=True)
class EscalationStep:
    incident_id: int
    level: int
    channels: tuple[str, ...]
    due_ms: int
    ran_ms: int

    @property
    def late_ms(self) -> int:
        return self.ran_ms - self.due_ms


class Escalator:
    """Runs the escalation steps that are due; safe to call as often as one likes."""

    def __init__(self, store: AlertingStore, clock: Clock, rendering: Rendering) -> None:
        self.store = store
        self.clock = clock
        self.rendering = rendering

    def run_due(self) -> list[EscalationStep]:
        now = self.clock.now_ms()
        with self.store.reading() as tx:
            due = tx.due_escalations(now)
        steps: list[EscalationStep] = []
        for incident_id in due:
            with self.store.transaction() as tx:
                steps += self.advance(tx, incident_id, now)
        return steps

    def advance(self, tx: Tx, incident_id: int, now_ms: int) -> list[EscalationStep]:
        """Every step of one incident due by ``now_ms``, each once, in one transaction."""
        steps: list[EscalationStep] = []
        inc = tx.incident(incident_id)
        while inc is not None and inc.next_escalation_ms is not None \
                and inc.next_escalation_ms <= now_ms:
            if stopped(inc):  # a stale deadline: the row says nobody needs paging
                tx.update_incident(inc.id, now_ms, next_escalation_ms=None)
                break
            steps.append(self._step(tx, inc, now_ms))
            inc = tx.incident(incident_id)
        return steps

    def _step(self, tx: Tx, inc: IncidentRecord, now_ms: int) -> EscalationStep:
        assert inc.next_escalation_ms is not None
        due, level, snap = inc.next_escalation_ms, inc.escalation_level + 1, inc.escalation
        channels = level_channels(snap, level)
        enqueue(tx, inc, f"escalate-{level}", channels, Status.ESCALATED, now_ms, self.rendering,
                level=level, step_name=level_name(snap, level))
        tx.update_incident(inc.id, now_ms, escalation_level=level,
                           next_escalation_ms=following_ms(snap, level, due))
        tx.log(inc.id, now_ms, "escalated", "escalation",
               {"level": level, "channels": list(channels), "due_ms": due,
                "late_ms": now_ms - due})
        if now_ms - due > 60_000:
            log.warning("incident INC-%d: escalation level %d ran %d s late", inc.id, level,
                        (now_ms - due) // 1000)
        log.info("incident INC-%d escalated to level %d (%s): not acknowledged", inc.id, level,
                 ", ".join(channels) or "no channel")
        return EscalationStep(inc.id, level, channels, due, now_ms)
