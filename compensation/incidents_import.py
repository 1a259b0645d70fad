"""``import-incidents FILE.jsonl``: incidents into the record, for compensation.

One JSON object a line::

    {"id": "INC-1001", "priority": "P1", "opened": "2026-10-20T10:02:00+08:00",
     "responded": "2026-10-20T10:20:00+08:00", "restored": "2026-10-20T10:45:00+08:00",
     "resolved": "2026-10-20T16:00:00+08:00", "data_lost_seconds": 0,
     "customer": "acme", "services": ["core"], "title": "web front end down",
     "data_corruption": false, "security": false}

``id``, ``priority`` and ``opened`` are required; timestamps are RFC 3339 with
an offset (``Z`` allowed); ``responded``/``restored``/``resolved`` may be
missing or null ("not yet"); ``customer`` null and ``services`` empty mean every
customer.  ``data_corruption`` (数据损坏) and ``security`` (安全事件) flag an
incident that owes free data recovery or free security hardening plus a fee
credit; ``recovery_status`` / ``hardening_status`` (``pending``, ``in_progress``,
``done``; default ``pending``) say how far that remedy is.  ``data_lost_seconds``
given (even 0) is the ticket's word on data loss; left out, a P1 (by default) or
a data-corruption incident is assessed from the backup record instead.  Unknown fields are
refused, so a misspelt ``respondedd`` cannot silently drop a response time.

All or nothing: the whole file is parsed first and written in one
transaction; the first bad line stops the import with its line number and the
record is left as it was.  An id already in the record is updated when its
fields changed (a later export may carry the resolution), so importing the same
file twice changes nothing.

The table is ``imported_incidents`` in the store's SQLite file, opened here
with its own connection (WAL, busy timeout) beside the store's writer.  A table
written by an older slaguard gains the columns added since (``ADD COLUMN`` with
their defaults, as the store migrates ``results``), so its rows keep their meaning.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from slaguard.errors import ImportFileError, StoreError
from slaguard.importer import json_lines, short
from slaguard.store.db import connect as open_db
from slo.compensation import REMEDY_STATUSES, IncidentRecord, RemedyStatus
from slo.periods import Period, to_ms

SCHEMA = """
CREATE TABLE IF NOT EXISTS imported_incidents (
    id TEXT PRIMARY KEY,
    priority TEXT NOT NULL,
    opened_ms INTEGER NOT NULL,
    responded_ms INTEGER,
    restored_ms INTEGER,
    resolved_ms INTEGER,
    data_lost_seconds INTEGER NOT NULL DEFAULT 0,
    customer TEXT,
    services TEXT NOT NULL DEFAULT '[]',
    title TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    imported_ms INTEGER NOT NULL,
    data_corruption INTEGER NOT NULL DEFAULT 0,
    security INTEGER NOT NULL DEFAULT 0,
    recovery_status TEXT,
    hardening_status TEXT,
    data_loss_stated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS imported_incidents_by_opened ON imported_incidents (opened_ms);
"""
# Columns added after the table's first version: (name, definition) for ADD COLUMN.
ADDED_COLUMNS = (
    ("data_corruption", "INTEGER NOT NULL DEFAULT 0"),
    ("security", "INTEGER NOT NULL DEFAULT 0"),
    ("recovery_status", "TEXT"),
    ("hardening_status", "TEXT"),
    ("data_loss_stated", "INTEGER NOT NULL DEFAULT 0"),
)
BUSY_TIMEOUT_MS = 30_000
# Data lost in one incident, at most: a year is far past any compensation tier, and
# SQLite's INTEGER could not hold 10**30 anyway.
MAX_DATA_LOST_SECONDS = 366 * 86_400
REQUIRED = ("id", "priority", "opened")
OPTIONAL = ("responded", "restored", "resolved", "data_lost_seconds", "customer", "services",
            "title", "data_corruption", "security", "recovery_status", "hardening_status")
_COLUMNS = ("id", "priority", "opened_ms", "responded_ms", "restored_ms", "resolved_ms",
            "data_lost_seconds", "customer", "services", "title", "data_corruption",
            "security", "recovery_status", "hardening_status", "data_loss_stated")


@dataclass(frozen=True)
class IncidentImportStats:
    lines: int
    added: int
    updated: int
    unchanged: int
    seconds: float


@dataclass(frozen=True)
class Known:
    """What the configuration knows, to refuse typos (``None``: accept anything)."""

    priorities: Collection[str] | None = None
    customers: Collection[str] | None = None
    services: Collection[str] | None = None


# -- the database ---------------------------------------------------------------------


@contextmanager
def connect(db_path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection to the store's file with the incidents table in place."""
    path = str(db_path)
    try:
        with closing(open_db(path, BUSY_TIMEOUT_MS, "incidents")) as db:
            db.executescript(SCHEMA)
            _add_columns(db)
            yield db
    except sqlite3.Error as e:
        raise StoreError(f"{path}: incidents: {e}") from None


def _add_columns(db: sqlite3.Connection) -> None:
    """Bring a table of an older slaguard up to date, in one write transaction (two
    processes at once: the second finds the columns there)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in db.execute("PRAGMA table_info(imported_incidents)")}
        for name, definition in ADDED_COLUMNS:
            if name not in have:
                db.execute(f"ALTER TABLE imported_incidents ADD COLUMN {name} {definition}")
        if "data_loss_stated" not in have:
            # Rows from before: a positive loss was stated; a 0 cannot be told from an
            # absent one, so the backup record may assess it (as for a new import).
            db.execute("UPDATE imported_incidents SET data_loss_stated = 1 "
                       "WHERE data_lost_seconds > 0")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _row(r: IncidentRecord) -> tuple[Any, ...]:
    return (r.id, r.priority, r.opened_ms, r.responded_ms, r.restored_ms, r.resolved_ms,
            r.data_lost_seconds, r.customer, json.dumps(list(r.services)), r.title,
            int(r.data_corruption), int(r.security), r.recovery_status, r.hardening_status,
            int(r.states_data_loss))


def _record(row: tuple[Any, ...]) -> IncidentRecord:
    (id_, priority, opened, responded, restored, resolved, lost, customer, services,
     title, corruption, security, recovery, hardening, stated) = row
    return IncidentRecord(id_, priority, opened, responded, restored, resolved, lost, customer,
                          tuple(json.loads(services)), title, bool(corruption), bool(security),
                          recovery, hardening, bool(stated))


def _upsert(db: sqlite3.Connection, r: IncidentRecord, source: str, now_ms: int) -> str:
    """Write one incident; returns ``added``, ``updated`` or ``unchanged``."""
    cols = ", ".join(_COLUMNS)
    old = db.execute(f"SELECT {cols} FROM imported_incidents WHERE id = ?", (r.id,)).fetchone()
    if old is not None and tuple(old) == _row(r):
        return "unchanged"
    db.execute(
        f"INSERT INTO imported_incidents ({cols}, source, imported_ms) "
        f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))}) ON CONFLICT(id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in (*_COLUMNS[1:], "source", "imported_ms")),
        (*_row(r), source, now_ms),
    )
    return "added" if old is None else "updated"


def read_incidents(db_path: str | Path, start_ms: int, end_ms: int) -> list[IncidentRecord]:
    """Incidents opened in ``[start, end)``, by opening time then id."""
    with connect(db_path) as db:
        rows = db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM imported_incidents "
            "WHERE opened_ms >= ? AND opened_ms < ? ORDER BY opened_ms, id",
            (start_ms, end_ms)).fetchall()
    return [_record(tuple(row)) for row in rows]


def incidents_for_period(db_path: str | Path, period: Period) -> list[IncidentRecord]:
    """The incidents a statement for ``period`` needs."""
    return read_incidents(db_path, period.start_ms, period.end_ms)


# -- parsing --------------------------------------------------------------------------


def _instant(doc: dict[str, Any], key: str, required: bool = False) -> int | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key}: required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected an RFC 3339 string, got {value!r}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{key}: not an RFC 3339 timestamp: {value!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"{key}: a date and time with an offset is required: {value!r}")
    try:
        return to_ms(dt)
    except (OverflowError, ValueError):  # year 1 with a positive offset is before year 1
        raise ValueError(f"{key}: out of range: {value!r}") from None


def _text(doc: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _seconds(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}: expected a whole number of seconds ≥ 0, got {value!r}")
    if value > MAX_DATA_LOST_SECONDS:
        raise ValueError(f"{key}: {value} is more than the largest allowed, "
                         f"{MAX_DATA_LOST_SECONDS} (a year)")
    return value


def _services(doc: dict[str, Any], known: Collection[str] | None) -> tuple[str, ...]:
    value = doc.get("services") or []
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ValueError(f"services: expected a list of service names, got {value!r}")
    unknown = [s for s in value if known is not None and s not in known]
    if unknown:
        raise ValueError(f"services: unknown {', '.join(map(repr, unknown))} "
                         f"(services: {', '.join(sorted(known or ()))})")
    return tuple(value)


def _flag(doc: dict[str, Any], key: str) -> bool:
    value = doc.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def _status(doc: dict[str, Any], key: str, flag: str) -> RemedyStatus | None:
    value = doc.get(key)
    if value is None:
        return None
    if value not in REMEDY_STATUSES:
        raise ValueError(f"{key}: expected one of {', '.join(REMEDY_STATUSES)}, got {value!r}")
    if not doc.get(flag):
        raise ValueError(f"{key}: only for an incident with {flag}: true")
    return cast(RemedyStatus, value)


def _one_of(key: str, value: str | None, known: Collection[str] | None) -> None:
    if value is not None and known is not None and value not in known:
        raise ValueError(f"{key}: {value!r} is not one of {', '.join(sorted(known))}")


def parse_incident(doc: Any, known: Known = Known()) -> IncidentRecord:
    """One line's object as an :class:`IncidentRecord`; ``ValueError`` names the field."""
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    extra = sorted(set(doc) - set(REQUIRED) - set(OPTIONAL))
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, extra))} "
                         f"(fields: {', '.join(REQUIRED + OPTIONAL)})")
    id_, priority = _text(doc, "id", True), _text(doc, "priority", True)
    customer = _text(doc, "customer")
    _one_of("priority", priority, known.priorities)
    _one_of("customer", customer, known.customers)
    opened = _instant(doc, "opened", required=True)
    assert id_ is not None and priority is not None and opened is not None
    times = {k: _instant(doc, k) for k in ("responded", "restored", "resolved")}
    for key, ms in times.items():
        if ms is not None and ms < opened:
            raise ValueError(f"{key}: before opened ({doc[key]} < {doc['opened']})")
    corruption, security = _flag(doc, "data_corruption"), _flag(doc, "security")
    return IncidentRecord(id_, priority, opened, times["responded"], times["restored"],
                          times["resolved"], _seconds(doc, "data_lost_seconds"), customer,
                          _services(doc, known.services), _text(doc, "title") or "",
                          corruption, security,
                          _status(doc, "recovery_status", "data_corruption"),
                          _status(doc, "hardening_status", "security"),
                          doc.get("data_lost_seconds") is not None)


def read_file(path: str | Path, known: Known = Known()) -> list[IncidentRecord]:
    """Every incident of the file, or :class:`ImportFileError` at the first bad line
    (read as :func:`slaguard.importer.json_lines` reads results: line by line, each
    decoded on its own and at most 1 MiB)."""
    p = Path(path)
    out: list[IncidentRecord] = []
    first_line: dict[str, int] = {}
    try:
        with p.open("rb") as f:
            for lineno, doc in json_lines(str(p), f):
                out.append(_parse_line(str(p), lineno, doc, known, first_line))
    except OSError as e:
        raise StoreError(f"{p}: cannot read: {e}") from None
    return out


def _parse_line(path: str, lineno: int, doc: Any, known: Known,
                first_line: dict[str, int]) -> IncidentRecord:
    try:
        record = parse_incident(doc, known)
    except ValueError as e:
        raise ImportFileError(path, lineno, short(str(e))) from None
    if record.id in first_line:
        raise ImportFileError(path, lineno, short(f"id {record.id!r} already on line "
                                                  f"{first_line[record.id]}"))
    first_line[record.id] = lineno
    return record


def import_incidents(db_path: str | Path, path: str | Path, known: Known = Known()
                     ) -> IncidentImportStats:
    """Import a JSONL file of incidents: all of it, or (on any error) nothing."""
    t0 = time.monotonic()
    records = read_file(path, known)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    now_ms = time.time_ns() // 1_000_000
    with connect(db_path) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            for r in records:
                counts[_upsert(db, r, Path(path).name, now_ms)] += 1
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return IncidentImportStats(len(records), counts["added"], counts["updated"],
                               counts["unchanged"], time.monotonic() - t0)
