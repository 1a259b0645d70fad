"""The alerting store: incidents, their audit log, alert states, the outbox and
maintenance windows, in their own ``alerting_*`` tables of the results database.

Why the same file and a separate connection: one file to back up and one
place to look, while the results store keeps its single writer connection and
its own locking.  WAL lets both connections read beside each other; the
busy timeout lets either writer wait for the other instead of failing.

Every change that touches several rows (open an incident, its log line and its
outbox rows; one escalation step; one rule evaluation) happens inside one
``transaction()``: a crash leaves either all of it or none of it.  Clocks are
columns, not timers (``next_escalation_ms``, ``next_attempt_ms``,
``auto_resolve_ms``), so a restart finds every pending deadline in the table.

"One open incident per dedup key" is a partial unique index over unresolved
rows, as the notes recommend: the database refuses a second open incident
even if two code paths race.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerting.notification import Priority
from slaguard.store.db import TableStore
from slo.model import MaintenanceSpec

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerting_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerting_incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL,
    service TEXT NOT NULL,
    rule TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('P1', 'P2', 'P3', 'P4')),
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    opened_ms INTEGER NOT NULL,
    responded_ms INTEGER,
    responded_by TEXT,
    restored_ms INTEGER,
    restored_by TEXT,
    resolved_ms INTEGER,
    resolved_by TEXT,
    respond_due_ms INTEGER,
    restore_due_ms INTEGER,
    resolve_due_ms INTEGER,
    escalation TEXT NOT NULL,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    next_escalation_ms INTEGER,
    auto_resolve_ms INTEGER,
    reopen_count INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerting_incidents_one_open
    ON alerting_incidents (dedup_key) WHERE resolved_ms IS NULL;
CREATE INDEX IF NOT EXISTS alerting_incidents_opened ON alerting_incidents (opened_ms);
CREATE INDEX IF NOT EXISTS alerting_incidents_escalation
    ON alerting_incidents (next_escalation_ms) WHERE next_escalation_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS alerting_incidents_auto_resolve
    ON alerting_incidents (auto_resolve_ms) WHERE auto_resolve_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS alerting_incident_sources (
    incident_id INTEGER NOT NULL REFERENCES alerting_incidents (id),
    source TEXT NOT NULL,
    firing INTEGER NOT NULL,
    since_ms INTEGER NOT NULL,
    PRIMARY KEY (incident_id, source)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alerting_sources_by_source ON alerting_incident_sources (source);
CREATE TABLE IF NOT EXISTS alerting_incident_log (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES alerting_incidents (id),
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS alerting_log_by_incident ON alerting_incident_log (incident_id, id);
CREATE TABLE IF NOT EXISTS alerting_alert_states (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerting_outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id INTEGER REFERENCES alerting_incidents (id),
    step TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    sent_ms INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS alerting_outbox_due
    ON alerting_outbox (next_attempt_ms) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS alerting_maintenance (
    id TEXT PRIMARY KEY,
    services TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    announced_ms INTEGER,
    title TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
"""
SCHEMA_VERSION = "1"


# -- row types ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EscalationSnapshot:
    """The escalation plan copied onto an incident when it opens (or changes priority).

    A snapshot, so that a configuration reload cannot re-route an incident
    already in flight (grafana/oncall's ``raw_escalation_snapshot``).
    """

    notify: tuple[str, ...] = ()  # level 0: the priority's channels
    chain: tuple[str, ...] = ()  # the shared chain: level n ≥ 1 is chain[n - 1] ...
    escalate_after_ms: int | None = None  # ... told n × escalate_after after opening
    # The priority's own chain, when it has one: level n ≥ 1 is steps[n - 1], told
    # (after_ms since opening, channels).  Rows written before it existed have none.
    steps: tuple[tuple[int, tuple[str, ...]], ...] = ()

    @property
    def plan(self) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """Every level ≥ 1 as (ms after opening, channels)."""
        if self.steps:
            return self.steps
        if self.escalate_after_ms is None:
            return ()
        return tuple(((n + 1) * self.escalate_after_ms, (name,))
                     for n, name in enumerate(self.chain))

    def to_json(self) -> str:
        doc: dict[str, Any] = {"notify": list(self.notify), "chain": list(self.chain),
                               "escalate_after_ms": self.escalate_after_ms}
        if self.steps:
            doc["steps"] = [[after, list(channels)] for after, channels in self.steps]
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> EscalationSnapshot:
        doc = json.loads(text)
        steps = tuple((int(after), tuple(channels)) for after, channels in doc.get("steps", ()))
        return cls(tuple(doc.get("notify", ())), tuple(doc.get("chain", ())),
                   doc.get("escalate_after_ms"), steps)


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One incident as stored: plain data, times in epoch milliseconds (UTC).

    This is what the compensation module reads (``list_incidents``): id,
    priority, opened, responded (acknowledged), restored, resolved and the
    due instants the lateness is measured against.
    """

    id: int
    dedup_key: str
    service: str
    rule: str
    priority: Priority
    title: str
    summary: str
    source: str  # rules | alertmanager | manual | internal | self (slaguard's own events)
    labels: Mapping[str, str]
    opened_ms: int
    responded_ms: int | None
    responded_by: str | None
    restored_ms: int | None
    restored_by: str | None
    resolved_ms: int | None
    resolved_by: str | None
    respond_due_ms: int | None
    restore_due_ms: int | None
    resolve_due_ms: int | None
    escalation: EscalationSnapshot
    escalation_level: int
    next_escalation_ms: int | None
    auto_resolve_ms: int | None
    reopen_count: int
    updated_ms: int

    @property
    def public_id(self) -> str:
        return f"INC-{self.id}"

    @property
    def state(self) -> str:
        """opened → acknowledged → restored → resolved (the latest reached)."""
        if self.resolved_ms is not None:
            return "resolved"
        if self.restored_ms is not None:
            return "restored"
        if self.responded_ms is not None:
            return "acknowledged"
        return "opened"

    @property
    def is_open(self) -> bool:
        return self.resolved_ms is None


@dataclass(frozen=True, slots=True)
class NewIncident:
    dedup_key: str
    service: str
    rule: str
    priority: Priority
    title: str
    summary: str
    source: str
    labels: Mapping[str, str]
    opened_ms: int
    respond_due_ms: int | None
    restore_due_ms: int | None
    resolve_due_ms: int | None
    escalation: EscalationSnapshot
    next_escalation_ms: int | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    incident_id: int
    at_ms: int
    kind: str
    actor: str
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    idempotency_key: str
    incident_id: int | None
    step: str
    channel: str
    payload: Mapping[str, Any]
    state: str  # pending | sending | sent | dead
    attempts: int
    next_attempt_ms: int
    created_ms: int
    sent_ms: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class MaintenanceRecord:
    spec: MaintenanceSpec
    created_ms: int
    created_by: str


# -- SQL helpers ----------------------------------------------------------------------

_INCIDENT_COLUMNS = (
    "id, dedup_key, service, rule, priority, title, summary, source, labels, opened_ms, "
    "responded_ms, responded_by, restored_ms, restored_by, resolved_ms, resolved_by, "
    "respond_due_ms, restore_due_ms, resolve_due_ms, escalation, escalation_level, "
    "next_escalation_ms, auto_resolve_ms, reopen_count, updated_ms"
)
# Columns ``update_incident`` may set: everything but identity and opening facts.
_UPDATABLE = frozenset({
    "priority", "title", "summary", "labels", "responded_ms", "responded_by", "restored_ms",
    "restored_by", "resolved_ms", "resolved_by", "respond_due_ms", "restore_due_ms",
    "resolve_due_ms", "escalation", "escalation_level", "next_escalation_ms",
    "auto_resolve_ms", "reopen_count",
})
_OUTBOX_COLUMNS = ("id, idempotency_key, incident_id, step, channel, payload, state, attempts, "
                   "next_attempt_ms, created_ms, sent_ms, last_error")


def _incident(row: Sequence[Any]) -> IncidentRecord:
    values = list(row)
    values[4] = Priority(values[4])
    values[8] = json.loads(values[8])
    values[19] = EscalationSnapshot.from_json(values[19])
    return IncidentRecord(*values)


def _outbox(row: Sequence[Any]) -> OutboxRow:
    values = list(row)
    values[5] = json.loads(values[5])
    return OutboxRow(*values)


def _db_value(name: str, value: Any) -> Any:
    if name == "labels":
        return json.dumps(dict(value), ensure_ascii=False, sort_keys=True)
    if name == "escalation":
        return value.to_json()
    if name == "priority":
        return Priority(value).value
    return value


class Tx:
    """Typed statements over one connection; used inside ``transaction()`` or ``reading()``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    # -- incidents --------------------------------------------------------------------

    def insert_incident(self, new: NewIncident) -> int:
        cur = self.db.execute(
            "INSERT INTO alerting_incidents (dedup_key, service, rule, priority, title, summary, "
            "source, labels, opened_ms, respond_due_ms, restore_due_ms, resolve_due_ms, "
            "escalation, next_escalation_ms, updated_ms) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (new.dedup_key, new.service, new.rule, new.priority.value, new.title, new.summary,
             new.source, _db_value("labels", new.labels), new.opened_ms, new.respond_due_ms,
             new.restore_due_ms, new.resolve_due_ms, new.escalation.to_json(),
             new.next_escalation_ms, new.opened_ms))
        return int(cur.lastrowid or 0)

    def incident(self, incident_id: int) -> IncidentRecord | None:
        row = self.db.execute(f"SELECT {_INCIDENT_COLUMNS} FROM alerting_incidents WHERE id=?",
                              (incident_id,)).fetchone()
        return None if row is None else _incident(row)

    def open_incident(self, dedup_key: str) -> IncidentRecord | None:
        row = self.db.execute(
            f"SELECT {_INCIDENT_COLUMNS} FROM alerting_incidents "
            "WHERE dedup_key=? AND resolved_ms IS NULL", (dedup_key,)).fetchone()
        return None if row is None else _incident(row)

    def update_incident(self, incident_id: int, now_ms: int, **changes: Any) -> None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        names = sorted(changes)
        sets = ", ".join(f"{n}=?" for n in [*names, "updated_ms"])
        values = [_db_value(n, changes[n]) for n in names]
        self.db.execute(f"UPDATE alerting_incidents SET {sets} WHERE id=?",
                        (*values, now_ms, incident_id))

    def incidents(self, opened_from_ms: int | None = None, opened_to_ms: int | None = None,
                  only_open: bool = False, limit: int | None = None,
                  newest_first: bool = False) -> list[IncidentRecord]:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if opened_from_ms is not None:
            where.append("opened_ms >= ?")
            args.append(opened_from_ms)
        if opened_to_ms is not None:
            where.append("opened_ms < ?")
            args.append(opened_to_ms)
        if only_open:
            where.append("resolved_ms IS NULL")
        order = "opened_ms DESC, id DESC" if newest_first else "opened_ms, id"
        tail = "" if limit is None else f" LIMIT {int(limit)}"
        rows = self.db.execute(
            f"SELECT {_INCIDENT_COLUMNS} FROM alerting_incidents WHERE {' AND '.join(where)} "
            f"ORDER BY {order}{tail}", args).fetchall()
        return [_incident(r) for r in rows]

    def due_escalations(self, now_ms: int) -> list[int]:
        rows = self.db.execute(
            "SELECT id FROM alerting_incidents WHERE next_escalation_ms IS NOT NULL "
            "AND next_escalation_ms <= ? ORDER BY next_escalation_ms, id", (now_ms,))
        return [int(r[0]) for r in rows]

    def due_auto_resolves(self, now_ms: int) -> list[int]:
        rows = self.db.execute(
            "SELECT id FROM alerting_incidents WHERE auto_resolve_ms IS NOT NULL "
            "AND auto_resolve_ms <= ? AND resolved_ms IS NULL ORDER BY auto_resolve_ms, id",
            (now_ms,))
        return [int(r[0]) for r in rows]

    # -- sources (what keeps an incident firing) ----------------------------------------

    def set_source(self, incident_id: int, source: str, firing: bool, now_ms: int) -> None:
        self.db.execute(
            "INSERT INTO alerting_incident_sources (incident_id, source, firing, since_ms) "
            "VALUES (?,?,?,?) ON CONFLICT (incident_id, source) DO UPDATE SET "
            "firing=excluded.firing, since_ms=CASE WHEN firing=excluded.firing THEN since_ms "
            "ELSE excluded.since_ms END", (incident_id, source, int(firing), now_ms))

    def source_incident(self, source: str) -> int | None:
        """The open incident ``source`` is attached to, if any."""
        row = self.db.execute(
            "SELECT s.incident_id FROM alerting_incident_sources s "
            "JOIN alerting_incidents i ON i.id = s.incident_id "
            "WHERE s.source=? AND i.resolved_ms IS NULL", (source,)).fetchone()
        return None if row is None else int(row[0])

    def firing_sources(self, incident_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT source FROM alerting_incident_sources WHERE incident_id=? AND firing=1 "
            "ORDER BY source", (incident_id,))
        return [str(r[0]) for r in rows]

    def sources(self, incident_id: int) -> list[str]:
        """Every source the incident has had, firing or not."""
        rows = self.db.execute(
            "SELECT source FROM alerting_incident_sources WHERE incident_id=? ORDER BY source",
            (incident_id,))
        return [str(r[0]) for r in rows]

    # -- small facts that outlive the process ---------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM alerting_meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO alerting_meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value=excluded.value", (key, value))

    # -- audit log ---------------------------------------------------------------------

    def log(self, incident_id: int, at_ms: int, kind: str, actor: str,
            detail: Mapping[str, Any] | None = None) -> None:
        self.db.execute(
            "INSERT INTO alerting_incident_log (incident_id, at_ms, kind, actor, detail) "
            "VALUES (?,?,?,?,?)",
            (incident_id, at_ms, kind, actor, json.dumps(dict(detail or {}), ensure_ascii=False)))

    def log_entries(self, incident_id: int) -> list[LogEntry]:
        rows = self.db.execute(
            "SELECT incident_id, at_ms, kind, actor, detail FROM alerting_incident_log "
            "WHERE incident_id=? ORDER BY id", (incident_id,))
        return [LogEntry(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    # -- alert states (the rules' memory between evaluations) ----------------------------

    def alert_states(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT key, state FROM alerting_alert_states")
        return {str(k): json.loads(v) for k, v in rows}

    def replace_alert_states(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        self.db.execute("DELETE FROM alerting_alert_states")
        self.db.executemany(
            "INSERT INTO alerting_alert_states (key, state) VALUES (?, ?)",
            [(k, json.dumps(dict(v), ensure_ascii=False)) for k, v in states.items()])

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(self, key: str, incident_id: int | None, step: str, channel: str,
                payload: Mapping[str, Any], now_ms: int) -> bool:
        """Insert one pending notification; False when ``key`` exists (same step twice)."""
        cur = self.db.execute(
            "INSERT INTO alerting_outbox (idempotency_key, incident_id, step, channel, payload, "
            "state, next_attempt_ms, created_ms) VALUES (?,?,?,?,?, 'pending', ?, ?) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            (key, incident_id, step, channel, json.dumps(dict(payload), ensure_ascii=False),
             now_ms, now_ms))
        return cur.rowcount == 1

    def claim_due(self, now_ms: int, limit: int) -> list[OutboxRow]:
        """Pending rows due by ``now_ms``, marked ``sending`` in the same transaction."""
        rows = [_outbox(r) for r in self.db.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM alerting_outbox WHERE state='pending' "
            "AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?", (now_ms, limit))]
        self.db.executemany("UPDATE alerting_outbox SET state='sending' WHERE id=?",
                            [(r.id,) for r in rows])
        return rows

    def mark_sent(self, row_id: int, now_ms: int) -> None:
        self.db.execute("UPDATE alerting_outbox SET state='sent', sent_ms=?, "
                        "attempts=attempts+1, last_error=NULL WHERE id=?", (now_ms, row_id))

    def mark_retry(self, row_id: int, next_attempt_ms: int, error: str) -> None:
        self.db.execute("UPDATE alerting_outbox SET state='pending', attempts=attempts+1, "
                        "next_attempt_ms=?, last_error=? WHERE id=?",
                        (next_attempt_ms, error, row_id))

    def mark_dead(self, row_id: int, error: str) -> None:
        self.db.execute("UPDATE alerting_outbox SET state='dead', attempts=attempts+1, "
                        "last_error=? WHERE id=?", (error, row_id))

    def reset_sending(self) -> int:
        """Rows a crash left in ``sending`` go back to pending (sent again: at-least-once)."""
        return self.db.execute(
            "UPDATE alerting_outbox SET state='pending' WHERE state='sending'").rowcount

    def outbox_rows(self, incident_id: int | None = None,
                    state: str | None = None) -> list[OutboxRow]:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if incident_id is not None:
            where.append("incident_id=?")
            args.append(incident_id)
        if state is not None:
            where.append("state=?")
            args.append(state)
        rows = self.db.execute(f"SELECT {_OUTBOX_COLUMNS} FROM alerting_outbox "
                               f"WHERE {' AND '.join(where)} ORDER BY id", args)
        return [_outbox(r) for r in rows]

    def notified_channels(self, incident_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT DISTINCT channel FROM alerting_outbox WHERE incident_id=? ORDER BY channel",
            (incident_id,))
        return [str(r[0]) for r in rows]

    # -- maintenance -------------------------------------------------------------------

    def insert_maintenance(self, spec: MaintenanceSpec, now_ms: int, by: str) -> None:
        self.db.execute(
            "INSERT INTO alerting_maintenance (id, services, start_ms, end_ms, announced_ms, "
            "title, created_ms, created_by) VALUES (?,?,?,?,?,?,?,?)",
            (spec.id, json.dumps(list(spec.services)), spec.start_ms, spec.end_ms,
             spec.announced_ms, spec.title, now_ms, by))

    def announce_maintenance(self, window_id: str, announced_ms: int) -> bool:
        return self.db.execute("UPDATE alerting_maintenance SET announced_ms=? WHERE id=?",
                               (announced_ms, window_id)).rowcount == 1

    def maintenance(self) -> list[MaintenanceRecord]:
        rows = self.db.execute(
            "SELECT id, services, start_ms, end_ms, announced_ms, title, created_ms, created_by "
            "FROM alerting_maintenance ORDER BY start_ms, id")
        return [MaintenanceRecord(
            MaintenanceSpec(r[0], tuple(json.loads(r[1])), r[2], r[3], r[4], r[5]), r[6], r[7])
            for r in rows]


class AlertingStore(TableStore[Tx]):
    """Incidents, alert states, escalation steps, the outbox and API maintenance."""

    what = "alerting store"
    schema = SCHEMA
    schema_version = SCHEMA_VERSION
    meta_table = "alerting_meta"

    def tx(self, db: sqlite3.Connection) -> Tx:
        return Tx(db)

    # -- the read functions other modules use --------------------------------------------

    def list_incidents(self, period: Any) -> list[IncidentRecord]:
        """Incidents opened in ``period`` (anything with ``start_ms``/``end_ms``, e.g. an
        ``slo.Period`` month), oldest first: the compensation module's input."""
        with self.reading() as tx:
            return tx.incidents(period.start_ms, period.end_ms)

    def recent_incidents(self, limit: int) -> list[IncidentRecord]:
        """The newest incidents, newest first (Grafana annotations)."""
        with self.reading() as tx:
            return tx.incidents(None, None, False, limit, True)

    def maintenance_windows(self) -> list[MaintenanceSpec]:
        """Windows created through the API, as the evaluator's own type, to merge with
        the configured ones (``Policy.maintenance``)."""
        with self.reading() as tx:
            return [m.spec for m in tx.maintenance()]
