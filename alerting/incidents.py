"""Incidents: dedup, lifecycle, response clocks, and the figures derived from them.

Dedup (PagerDuty's rule).  An alert opens or joins the one *open* incident of
its dedup key (service + incident rule); once that incident is resolved, the
next breach opens a new one, and a late clear for a closed key is dropped.
What keeps an incident firing is its set of *sources* (rule alerts,
Alertmanager fingerprints); when the last one clears, the incident is
restored.  A rule's source clears once its condition has been clear for
``incidents.restore_after`` (the rules' flap damping), so a recovered outage
counts as restored that long after recovery.  Burn-rate alerts trail the
outage they measure by their short window (5 min to 6 h): once an incident's
confirmed outage has cleared, its burn-rate sources no longer hold it open,
nor re-open it when one starts late.

Lifecycle: opened → acknowledged (the response) → restored → resolved.

* acknowledgement stops escalation; the first one is recorded, repeats are no-ops;
* restoration comes from the sources (or a person) and stops escalation;
* a breach again before resolution re-opens the same incident (damps flapping):
  ``restored_ms`` is cleared, so the restore clock runs on against the same
  due instant; the respond clock does not restart;
* resolution is set by a person, or automatically ``auto_resolve_after`` after
  an automatic restoration (hand-made and internal incidents wait for a person);
* a person restoring or resolving an unacknowledged incident has responded:
  the response is recorded at that instant;
* the channels told of an incident are told again when it is restored, re-opened
  and resolved;
* ``record_event`` writes something already over (slaguard's own absence) as a
  resolved incident, told once.

Clocks.  ``respond_due``, ``restore_due`` and ``resolve_due`` are computed at
open from ``incidents.priorities`` (and again, from the same opening instant,
when the priority changes).  Lateness is ``done − due`` (0 when on time); an
unfinished clock is late by ``min(resolved, now) − due``.  Whole seconds round
*up*, as downtime does: 15 min 0.2 s against 15 min is 1 s late, and the
customer is not argued out of a credit by a fraction of a second.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerting.clock import Clock
from alerting.escalation import EscalationPolicy, next_after_reopen_ms, scheduled_ms, stopped
from alerting.notification import Priority, Status
from alerting.outbox import AUTOMATIC_SOURCES, DEFAULT_RENDERING, Rendering, enqueue
from alerting.rules import (
    BURN_RATE,
    CONFIRMED_OUTAGE,
    DEAD_LETTER,
    LATENCY,
    PROBE_DOWN,
    RPO,
    TLS_EXPIRY,
    UPLOAD,
)
from alerting.store import (
    AlertingStore,
    EscalationSnapshot,
    IncidentRecord,
    LogEntry,
    NewIncident,
    Tx,
)
from slaguard.errors import SlaguardError
from slo import compensation
from slo.periods import from_ms

log = logging.getLogger(__name__)

DEFAULT_AUTO_RESOLVE_AFTER_MS = 60 * 60_000
MANUAL_RULE = "manual"
# Alert rules whose alerts trail an outage by their window (see the module doc).
LAGGING_RULES = frozenset({BURN_RATE})
# Incidents of these sources are ours, not the platform's: never a customer's credit.
OWN_SOURCES = frozenset({"internal", "self"})


def source_rule(source: str) -> str | None:
    """The alert rule of a rule source (``rule:burn_rate|core|1h/5m`` → ``burn_rate``)."""
    if not source.startswith("rule:"):
        return None
    return source.removeprefix("rule:").split("|", 1)[0]


class IncidentError(SlaguardError):
    pass


class IncidentNotFound(IncidentError):
    pass


class IncidentClosed(IncidentError):
    """The incident is resolved: a late acknowledgement or change is dropped."""


@dataclass(frozen=True, slots=True)
class Opening:
    """What asks for an incident: a rule alert, an Alertmanager alert, a person."""

    dedup_key: str
    service: str
    rule: str
    priority: Priority
    title: str
    summary: str = ""
    source: str = "rules"  # rules | alertmanager | manual | internal | self
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceChange:
    """A source (``rule:<alert key>``, ``am:<fingerprint>``) started or stopped firing."""

    source: str
    firing: bool
    opening: Opening


def more_urgent(a: Priority, b: Priority) -> bool:
    return a.value < b.value  # "P1" < "P3"


class Incidents:
    """Every state change is one transaction: the row, its log line, its outbox rows."""

    def __init__(self, store: AlertingStore, policy: EscalationPolicy, clock: Clock,
                 rendering: Rendering = DEFAULT_RENDERING,
                 auto_resolve_after_ms: int | None = DEFAULT_AUTO_RESOLVE_AFTER_MS) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self.rendering = rendering
        self.auto_resolve_after_ms = auto_resolve_after_ms

    # -- driven by sources (inside the caller's transaction) ------------------------------

    def fire(self, tx: Tx, opening: Opening, source: str | None, now_ms: int) -> IncidentRecord:
        """Open the incident of ``opening.dedup_key`` or join the open one."""
        inc = tx.open_incident(opening.dedup_key)
        inc = self._open(tx, opening, now_ms) if inc is None else \
            self._join(tx, inc, opening, source, now_ms)
        if source is not None:
            tx.set_source(inc.id, source, True, now_ms)
        return inc

    def clear(self, tx: Tx, source: str, actor: str, now_ms: int) -> IncidentRecord | None:
        """``source`` stopped firing; the incident is restored when it was the last one.
        None when no open incident has that source (a late clear: dropped)."""
        incident_id = tx.source_incident(source)
        if incident_id is None:
            return None
        tx.set_source(incident_id, source, False, now_ms)
        inc = self._reread(tx, incident_id)
        if self._holding(tx, incident_id):
            return inc
        if inc.restored_ms is None:
            return self._restore(tx, inc, actor, now_ms, person=False)
        if inc.auto_resolve_ms is None and self._auto_resolves(inc):
            # A person restored it while sources still fired; now they are quiet too.
            tx.update_incident(inc.id, now_ms, auto_resolve_ms=self._auto_resolve_at(now_ms))
        return self._reread(tx, incident_id)

    @staticmethod
    def _trails(tx: Tx, incident_id: int, source: str) -> bool:
        """``source`` trails an outage of this incident that has been seen (see the doc)."""
        if source_rule(source) not in LAGGING_RULES:
            return False
        return any(source_rule(s) == CONFIRMED_OUTAGE for s in tx.sources(incident_id))

    def _holding(self, tx: Tx, incident_id: int) -> list[str]:
        """The firing sources that keep the incident from counting as restored."""
        return [s for s in tx.firing_sources(incident_id)
                if not self._trails(tx, incident_id, s)]

    def _auto_resolves(self, inc: IncidentRecord) -> bool:
        return self.auto_resolve_after_ms is not None and inc.source in AUTOMATIC_SOURCES

    def _auto_resolve_at(self, now_ms: int) -> int:
        return now_ms + (self.auto_resolve_after_ms or 0)

    def apply(self, tx: Tx, change: SourceChange, now_ms: int) -> IncidentRecord | None:
        if change.firing:
            return self.fire(tx, change.opening, change.source, now_ms)
        return self.clear(tx, change.source, change.opening.source, now_ms)

    def _open(self, tx: Tx, o: Opening, now_ms: int) -> IncidentRecord:
        dues = self.policy.dues(o.priority, now_ms)
        snap = self.policy.snapshot(o.priority)
        incident_id = tx.insert_incident(NewIncident(
            o.dedup_key, o.service, o.rule, o.priority, o.title, o.summary, o.source,
            dict(o.labels), now_ms, dues.respond_ms, dues.restore_ms, dues.resolve_ms, snap,
            scheduled_ms(snap, 1, now_ms)))
        inc = tx.incident(incident_id)
        assert inc is not None
        tx.log(incident_id, now_ms, "opened", o.source,
               {"priority": o.priority.value, "dedup_key": o.dedup_key})
        enqueue(tx, inc, f"open-{o.priority.value}", snap.notify, Status.FIRING, now_ms,
                self.rendering)
        log.info("incident %s opened: %s %s %s (%s; notify %s)", inc.public_id,
                 o.priority.value, o.service, o.title, o.source, ", ".join(snap.notify) or "-")
        return inc

    def _join(self, tx: Tx, inc: IncidentRecord, o: Opening, source: str | None,
              now_ms: int) -> IncidentRecord:
        """A repeat of a source already firing only matters if it is more urgent now;
        a more urgent alert raises the priority and names the incident."""
        if source is None or source not in tx.firing_sources(inc.id):
            tx.log(inc.id, now_ms, "joined", o.source,
                   {"source": source, "title": o.title, "priority": o.priority.value})
            if inc.restored_ms is not None and not (
                    source is not None and self._trails(tx, inc.id, source)):
                inc = self._reopen(tx, inc, o.source, now_ms)
        if more_urgent(o.priority, inc.priority):
            # The most urgent symptom names the incident: a page says "down", not "slow burn".
            tx.update_incident(inc.id, now_ms, title=o.title, summary=o.summary)
            inc = self._set_priority(tx, self._reread(tx, inc.id), o.priority, o.source,
                                     f"{o.title} ({source or o.source}) is {o.priority.value}",
                                     now_ms)
        return inc

    def _reopen(self, tx: Tx, inc: IncidentRecord, actor: str, now_ms: int) -> IncidentRecord:
        nxt = None if inc.responded_ms is not None else \
            next_after_reopen_ms(inc.escalation, inc.escalation_level, now_ms)
        tx.update_incident(inc.id, now_ms, restored_ms=None, restored_by=None,
                           auto_resolve_ms=None, reopen_count=inc.reopen_count + 1,
                           next_escalation_ms=nxt)
        tx.log(inc.id, now_ms, "reopened", actor, {"was_restored_ms": inc.restored_ms})
        again = self._reread(tx, inc.id)
        # Whoever was told "restored" must hear that it broke again.
        enqueue(tx, again, f"reopened-{again.reopen_count}", tx.notified_channels(inc.id),
                Status.FIRING, now_ms, self.rendering)
        log.info("incident %s re-opened (%s): %s", inc.public_id, actor, inc.title)
        return again

    def _restore(self, tx: Tx, inc: IncidentRecord, actor: str, now_ms: int,
                 person: bool, note: str = "") -> IncidentRecord:
        quiet = not self._holding(tx, inc.id)
        changes: dict[str, Any] = {
            "restored_ms": now_ms, "restored_by": actor, "next_escalation_ms": None,
            "auto_resolve_ms": self._auto_resolve_at(now_ms)
            if quiet and self._auto_resolves(inc) else None}
        if person and inc.responded_ms is None:
            changes.update(responded_ms=now_ms, responded_by=actor)
        tx.update_incident(inc.id, now_ms, **changes)
        tx.log(inc.id, now_ms, "restored", actor,
               _noted({"late_ms": _late(now_ms, inc.restore_due_ms)}, note))
        done = self._reread(tx, inc.id)
        enqueue(tx, done, f"restored-{done.reopen_count}", tx.notified_channels(inc.id),
                Status.RESTORED, now_ms, self.rendering)
        log.info("incident %s restored (%s)%s", inc.public_id, actor,
                 "" if done.auto_resolve_ms is None else
                 f"; resolves by itself in {(done.auto_resolve_ms - now_ms) // 1000} s")
        return done

    @staticmethod
    def _reread(tx: Tx, incident_id: int) -> IncidentRecord:
        inc = tx.incident(incident_id)
        assert inc is not None
        return inc

    def _set_priority(self, tx: Tx, inc: IncidentRecord, new: Priority, actor: str,
                      reason: str, now_ms: int) -> IncidentRecord:
        """Clocks and escalation plan of the new priority, from the same opening instant;
        the new priority's first responders are told when it is more urgent and open."""
        dues = self.policy.dues(new, inc.opened_ms)
        snap = self.policy.snapshot(new)
        nxt = None if stopped(inc) else scheduled_ms(snap, inc.escalation_level + 1,
                                                     inc.opened_ms)
        tx.update_incident(inc.id, now_ms, priority=new, respond_due_ms=dues.respond_ms,
                           restore_due_ms=dues.restore_ms, resolve_due_ms=dues.resolve_ms,
                           escalation=snap, next_escalation_ms=nxt)
        tx.log(inc.id, now_ms, "priority_changed", actor,
               {"from": inc.priority.value, "to": new.value, "reason": reason})
        changed = self._reread(tx, inc.id)
        if more_urgent(new, inc.priority) and not stopped(inc):
            enqueue(tx, changed, f"open-{new.value}", snap.notify, Status.FIRING, now_ms,
                    self.rendering)
        return changed

    def _resolve(self, tx: Tx, inc: IncidentRecord, actor: str, now_ms: int,
                 person: bool, note: str = "") -> IncidentRecord:
        changes: dict[str, Any] = {"resolved_ms": now_ms, "resolved_by": actor,
                                   "next_escalation_ms": None, "auto_resolve_ms": None}
        if inc.restored_ms is None:
            changes.update(restored_ms=now_ms, restored_by=actor)
        if person and inc.responded_ms is None:
            changes.update(responded_ms=now_ms, responded_by=actor)
        tx.update_incident(inc.id, now_ms, **changes)
        tx.log(inc.id, now_ms, "resolved", actor,
               _noted({"late_ms": _late(now_ms, inc.resolve_due_ms)}, note))
        done = self._reread(tx, inc.id)
        enqueue(tx, done, "resolved", tx.notified_channels(inc.id), Status.RESOLVED, now_ms,
                self.rendering)
        log.info("incident %s resolved (%s)", inc.public_id, actor)
        return done

    # -- driven by people (each its own transaction) ---------------------------------------

    def _for_change(self, tx: Tx, incident_id: int) -> IncidentRecord:
        inc = tx.incident(incident_id)
        if inc is None:
            raise IncidentNotFound(f"no incident INC-{incident_id}")
        if inc.resolved_ms is not None:
            raise IncidentClosed(f"INC-{incident_id} is resolved")
        return inc

    def create(self, service: str, title: str, priority: Priority, by: str, summary: str = "",
               labels: Mapping[str, str] | None = None) -> IncidentRecord:
        """A ticket by hand (the phone hotline): never deduplicated with another."""
        opening = Opening(f"{service}/{MANUAL_RULE}/{uuid.uuid4().hex}", service, MANUAL_RULE,
                          priority, title, summary, "manual", dict(labels or {}))
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            inc = self._open(tx, opening, now)
            tx.log(inc.id, now, "created", by, {})
            return inc

    def acknowledge(self, incident_id: int, by: str, note: str = "") -> IncidentRecord:
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            inc = self._for_change(tx, incident_id)
            if inc.responded_ms is not None:  # the first acknowledgement is the response
                if note:
                    tx.log(inc.id, now, "note", by, {"note": note})
                return inc
            tx.update_incident(inc.id, now, responded_ms=now, responded_by=by,
                               next_escalation_ms=None)
            tx.log(inc.id, now, "acknowledged", by,
                   _noted({"late_ms": _late(now, inc.respond_due_ms)}, note))
            log.info("incident %s acknowledged by %s", inc.public_id, by)
            return self._reread(tx, inc.id)

    def restore(self, incident_id: int, by: str, note: str = "") -> IncidentRecord:
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            inc = self._for_change(tx, incident_id)
            if inc.restored_ms is None:
                return self._restore(tx, inc, by, now, person=True, note=note)
            if note:
                tx.log(inc.id, now, "note", by, {"note": note})
            return inc

    def resolve(self, incident_id: int, by: str, note: str = "") -> IncidentRecord:
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            return self._resolve(tx, self._for_change(tx, incident_id), by, now, person=True,
                                 note=note)

    def record_event(self, opening: Opening, started_ms: int, ended_ms: int) -> IncidentRecord:
        """Something already over when it is learnt of (slaguard's own absence): an
        incident opened at ``started_ms``, restored and resolved at ``ended_ms``,
        without clocks or escalation, told once to its priority's channels."""
        now = self.clock.now_ms()
        notify = self.policy.snapshot(opening.priority).notify
        with self.store.transaction() as tx:
            incident_id = tx.insert_incident(NewIncident(
                opening.dedup_key, opening.service, opening.rule, opening.priority,
                opening.title, opening.summary, opening.source, dict(opening.labels),
                started_ms, None, None, None, EscalationSnapshot(notify), None))
            tx.update_incident(incident_id, now, restored_ms=ended_ms,
                               restored_by=opening.source, resolved_ms=ended_ms,
                               resolved_by=opening.source)
            tx.log(incident_id, now, "recorded", opening.source,
                   {"started_ms": started_ms, "ended_ms": ended_ms})
            inc = self._reread(tx, incident_id)
            enqueue(tx, inc, "event", notify, Status.RESTORED, now, self.rendering)
            return inc

    def change_priority(self, incident_id: int, priority: Priority, by: str,
                        reason: str) -> IncidentRecord:
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            inc = self._for_change(tx, incident_id)
            if inc.priority is priority:
                return inc
            return self._set_priority(tx, inc, priority, by, reason, now)

    def resolve_due(self) -> list[int]:
        """Resolve the restored incidents whose quiet time has passed."""
        now = self.clock.now_ms()
        with self.store.reading() as tx:
            due = tx.due_auto_resolves(now)
        done = []
        for incident_id in due:
            with self.store.transaction() as tx:
                inc = tx.incident(incident_id)
                if inc is None or inc.resolved_ms is not None or inc.restored_ms is None:
                    continue
                if self._holding(tx, incident_id):  # wait for them to clear (see ``clear``)
                    tx.update_incident(incident_id, now, auto_resolve_ms=None)
                    continue
                self._resolve(tx, inc, "auto", now, person=False)
                done.append(incident_id)
        return done

    # -- reading ------------------------------------------------------------------------

    def get(self, incident_id: int) -> tuple[IncidentRecord, list[LogEntry]]:
        with self.store.reading() as tx:
            inc = tx.incident(incident_id)
            if inc is None:
                raise IncidentNotFound(f"no incident INC-{incident_id}")
            return inc, tx.log_entries(incident_id)

    def find(self, opened_from_ms: int | None = None, opened_to_ms: int | None = None,
             only_open: bool = False, limit: int | None = None,
             newest_first: bool = False) -> list[IncidentRecord]:
        with self.store.reading() as tx:
            return tx.incidents(opened_from_ms, opened_to_ms, only_open, limit, newest_first)


def list_incidents(store: AlertingStore, period: Any) -> list[IncidentRecord]:
    """Incidents opened in ``period`` (an ``slo.Period``): for the compensation module."""
    return store.list_incidents(period)


# Our own trouble, not the platform's: a silent probe or a lost page owes no customer a credit.
NOT_FOR_COMPENSATION = frozenset({PROBE_DOWN, DEAD_LETTER})
# Warnings, not failures: a stale backup, a slow page or upload, an expiring certificate
# lose no data (0 stated), so the backup record does not assess them as data loss.
NO_FAILURE_RULES = frozenset({RPO, LATENCY, UPLOAD, TLS_EXPIRY})


def compensation_records(incidents: Iterable[IncidentRecord],
                         exclude_rules: Collection[str] = NOT_FOR_COMPENSATION,
                         ) -> list[compensation.IncidentRecord]:
    """The compensation module's incident type (``slo.compensation.IncidentRecord``):
    response times per incident, every customer of the incident's service concerned.
    Data loss is not known here (0); ``import-incidents`` can supply it.  Labels
    ``data_corruption`` / ``security`` (``"true"``) flag 数据损坏 / 安全事件, and
    ``recovery_status`` / ``hardening_status`` say how far the free remedy is."""
    return [compensation.IncidentRecord(
        id=i.public_id, priority=i.priority.value, opened_ms=i.opened_ms,
        responded_ms=i.responded_ms, restored_ms=i.restored_ms, resolved_ms=i.resolved_ms,
        services=(i.service,), title=i.title, data_loss_stated=i.rule in NO_FAILURE_RULES,
        **_remedy_flags(i.labels))
        for i in incidents if i.rule not in exclude_rules and i.source not in OWN_SOURCES]


def _remedy_flags(labels: Mapping[str, str]) -> dict[str, Any]:
    """Flags from labels; a status that is none of the known ones (or without its flag)
    is left out, so a typo costs the status line its detail, never the incident."""
    out: dict[str, Any] = {}
    for flag, status in (("data_corruption", "recovery_status"),
                         ("security", "hardening_status")):
        if labels.get(flag, "").strip().lower() in ("true", "yes", "1"):
            out[flag] = True
            value = labels.get(status)
            if value in compensation.REMEDY_STATUSES:
                out[status] = value
    return out


# -- lateness and response figures (pure) ---------------------------------------------------


def _late(done_ms: int, due_ms: int | None) -> int | None:
    return None if due_ms is None else max(0, done_ms - due_ms)


def _noted(detail: dict[str, Any], note: str) -> dict[str, Any]:
    return {**detail, "note": note} if note else detail


def ceil_seconds(ms: int | None) -> int | None:
    return None if ms is None else -(-ms // 1000)


@dataclass(frozen=True, slots=True)
class Lateness:
    """Milliseconds past each due instant (0: on time; None: no such clock)."""

    respond_ms: int | None
    restore_ms: int | None
    resolve_ms: int | None

    @property
    def respond_s(self) -> int | None:
        return ceil_seconds(self.respond_ms)

    @property
    def restore_s(self) -> int | None:
        return ceil_seconds(self.restore_ms)

    @property
    def resolve_s(self) -> int | None:
        return ceil_seconds(self.resolve_ms)


def lateness(inc: IncidentRecord, now_ms: int) -> Lateness:
    """How late each clock is; an unfinished one is measured to resolution or now."""
    end = inc.resolved_ms if inc.resolved_ms is not None else now_ms

    def late(done: int | None, due: int | None) -> int | None:
        return _late(done if done is not None else end, due)

    return Lateness(late(inc.responded_ms, inc.respond_due_ms),
                    late(inc.restored_ms, inc.restore_due_ms),
                    late(inc.resolved_ms, inc.resolve_due_ms))


@dataclass(frozen=True, slots=True)
class ResponseStats:
    month: str  # YYYY-MM in the configured zone, of the opening instant
    priority: Priority
    incidents: int
    acknowledged: int
    restored: int
    late_responses: int
    mtta_ms: int | None  # mean (acknowledged − opened), floored to the ms
    mttr_ms: int | None  # mean (restored − opened)


def _mean(values: Sequence[int]) -> int | None:
    return sum(values) // len(values) if values else None


def response_stats(incidents: Iterable[IncidentRecord], timezone: str,
                   now_ms: int) -> list[ResponseStats]:
    """MTTA and MTTR per (month, priority), months by the opening instant."""
    groups: dict[tuple[str, Priority], list[IncidentRecord]] = defaultdict(list)
    for inc in incidents:
        groups[(from_ms(inc.opened_ms, timezone).strftime("%Y-%m"), inc.priority)].append(inc)
    out = []
    for (month, priority), items in sorted(groups.items()):
        acked = [i.responded_ms - i.opened_ms for i in items if i.responded_ms is not None]
        restored = [i.restored_ms - i.opened_ms for i in items if i.restored_ms is not None]
        late = sum(1 for i in items if (lateness(i, now_ms).respond_ms or 0) > 0)
        out.append(ResponseStats(month, priority, len(items), len(acked), len(restored), late,
                                 _mean(acked), _mean(restored)))
    return out
