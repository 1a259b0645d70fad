"""``import-support FILE``: support-desk interactions into the record, and the desk's
monthly compliance read back from it (客户支持体系).

A file is JSON Lines (one object a line) or CSV (a header line, then one row a
line), told apart by its extension (``.jsonl``, ``.ndjson``, ``.json``; ``.csv``)
or else by its first non-blank line (``{`` is JSON).  The fields, the same in both::

    {"id": "CHAT-1001", "channel": "chat", "customer": "acme",
     "opened": "2026-10-20T10:02:00+08:00", "answered": "2026-10-20T10:02:21+08:00",
     "resolved": "2026-10-20T10:15:00+08:00", "followed_up": "2026-10-21T09:30:00+08:00"}

    id,channel,customer,opened,answered,abandoned,resolved,followed_up
    HL-77,hotline,acme,2026-10-20T09:15:00+08:00,2026-10-20T09:16:05+08:00,,,

* ``id``, ``channel`` (``chat|hotline|vip|email|ticket``), ``customer`` (a configured
  ``customers[].id``) and ``opened`` are required;
* ``answered``: the first answer (chat, calls) or first response (e-mail, ticket);
  ``abandoned``: the customer gave up unanswered (chat, hotline, vip only; not with
  ``answered``); ``resolved``; ``followed_up``: the satisfaction follow-up (needs
  ``resolved``).  Missing, ``null`` or an empty CSV cell: not (yet).
* Instants are RFC 3339 with a UTC offset (``Z`` allowed) between 2000 and 2100, to
  the millisecond at most.  A time without an offset is refused, not guessed: a
  call's wait is judged to the second and a wrong zone moves it by hours.  So is a
  finer instant: rounding could carry a wait across a boundary.
* In JSON every value is a string (or null); unknown fields or columns are refused,
  so a misspelt ``answerd`` cannot silently drop an answer.

All or nothing: the whole file is read and checked first, then written in one
transaction; the first bad line stops the import with its number and the field,
and the record is left as it was.  Lines are read as bytes, each decoded on its own
and at most :data:`slaguard.importer.MAX_LINE_BYTES` long, as ``import-results``.

An ``id`` is one interaction: importing the same file twice adds nothing, and a
later export may fill in what was missing (the resolution, the follow-up).  A value
already recorded is never changed by an import (a different ``answered`` for the
same id is refused with both values): what was accepted is not lost, and a wait
cannot be shortened after the fact.  A null or missing value keeps what is recorded,
so an older export imported again changes nothing.

The table is ``support_interactions`` in the store's SQLite file, on its own
connection (WAL, busy timeout), versioned in ``support_meta``.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from slaguard.config import Config
from slaguard.domain import check_instant
from slaguard.errors import ImportFileError, StoreError
from slaguard.importer import json_value, short, text_lines
from slaguard.store.db import DEFAULT_BUSY_TIMEOUT_MS, TableStore
from slo.calendar import WorkingDayCalendar
from slo.periods import Period, rfc3339, to_ms
from slo.support import (
    CHANNELS,
    LIVE_CHANNELS,
    Hours,
    Interaction,
    Limit,
    Rule,
    SupportReport,
    SupportRules,
    build_support_report,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS support_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS support_interactions (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('chat', 'hotline', 'vip', 'email', 'ticket')),
    customer TEXT NOT NULL,
    opened_ms INTEGER NOT NULL,
    answered_ms INTEGER CHECK (answered_ms >= opened_ms),
    abandoned_ms INTEGER CHECK (abandoned_ms >= opened_ms),
    resolved_ms INTEGER CHECK (resolved_ms >= opened_ms),
    followed_up_ms INTEGER CHECK (followed_up_ms >= resolved_ms),
    source TEXT NOT NULL,
    imported_ms INTEGER NOT NULL,
    CHECK (answered_ms IS NULL OR abandoned_ms IS NULL),
    CHECK (followed_up_ms IS NULL OR resolved_ms IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS support_by_opened ON support_interactions (opened_ms);
CREATE INDEX IF NOT EXISTS support_by_resolved ON support_interactions (resolved_ms);
"""
SCHEMA_VERSION = "1"
REQUIRED = ("id", "channel", "customer", "opened")
OPTIONAL = ("answered", "abandoned", "resolved", "followed_up")
FIELDS = REQUIRED + OPTIONAL
_INSTANTS = ("opened", "answered", "abandoned", "resolved", "followed_up")
_COLUMNS = ("id", "channel", "customer", "opened_ms", "answered_ms", "abandoned_ms",
            "resolved_ms", "followed_up_ms")
MAX_ID = 128
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
# Customers named in an error before "…": a list of 10 000 would bury the message.
NAMED_CUSTOMERS = 10
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class SupportImportStats:
    lines: int  # interactions read (blank lines and the CSV header not counted)
    added: int
    updated: int  # filled in what was missing
    unchanged: int
    seconds: float


# -- the record ---------------------------------------------------------------------------


def _interaction(row: Iterable[Any]) -> Interaction:
    return Interaction(*row)


def _row(i: Interaction) -> tuple[Any, ...]:
    return tuple(getattr(i, f.name) for f in fields(Interaction))


class SupportTx:
    """The queries, inside one transaction."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def get(self, id_: str) -> Interaction | None:
        row = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM support_interactions "
                              "WHERE id = ?", (id_,)).fetchone()
        return None if row is None else _interaction(row)

    def put(self, i: Interaction, source: str, now_ms: int) -> None:
        cols = ", ".join(_COLUMNS)
        self.db.execute(
            f"INSERT INTO support_interactions ({cols}, source, imported_ms) "
            f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))}) ON CONFLICT(id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in (*_COLUMNS[1:], "source", "imported_ms")),
            (*_row(i), source, now_ms))

    def touching(self, start_ms: int, end_ms: int, customer: str | None = None
                 ) -> list[Interaction]:
        """Interactions opened or resolved in ``[start, end)`` (a check of each may
        start there), by opening time then id."""
        where = "((opened_ms >= ? AND opened_ms < ?) OR (resolved_ms >= ? AND resolved_ms < ?))"
        args: list[Any] = [start_ms, end_ms, start_ms, end_ms]
        if customer is not None:
            where += " AND customer = ?"
            args.append(customer)
        rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM support_interactions "
                               f"WHERE {where} ORDER BY opened_ms, id", args).fetchall()
        return [_interaction(r) for r in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM support_interactions").fetchone()[0])


class SupportStore(TableStore[SupportTx]):
    """Support interactions in the record's file."""

    what = "support interactions"
    schema = SCHEMA
    schema_version = SCHEMA_VERSION
    meta_table = "support_meta"

    def __init__(self, path: str | Path, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS):
        try:
            super().__init__(path, busy_timeout_ms)
        except sqlite3.Error as e:
            raise StoreError(f"{path}: support interactions: {e}") from None

    def tx(self, db: sqlite3.Connection) -> SupportTx:
        return SupportTx(db)

    def for_period(self, period: Period, customer: str | None = None) -> list[Interaction]:
        with self.reading() as tx:
            return tx.touching(period.start_ms, period.end_ms, customer)

    def count(self) -> int:
        with self.reading() as tx:
            return tx.count()


# -- parsing one line -----------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """What the configuration knows (``None``: accept any customer)."""

    customers: Collection[str] | None = None


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None or value == "":
        raise ValueError(f"{key}: required")
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {json.dumps(value)[:40]}")
    if value != value.strip() or len(value) > MAX_ID or not value.isprintable():
        raise ValueError(f"{key}: at most {MAX_ID} printable characters without surrounding "
                         f"spaces, got {value[:40]!r}")
    return value


def parse_instant(value: Any, key: str) -> int | None:
    """RFC 3339 with an offset, to the millisecond, between 2000 and 2100 (None: absent)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected an RFC 3339 string, got {json.dumps(value)[:40]}")
    if len(value) > 64 or not value.isascii():
        raise ValueError(f"{key}: not an RFC 3339 timestamp: {value[:40]!r}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{key}: not an RFC 3339 timestamp: {value!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"{key}: a UTC offset is required (e.g. +08:00), got {value!r}")
    if dt.microsecond % 1000:
        raise ValueError(f"{key}: finer than a millisecond: {value!r}")
    try:
        return check_instant(to_ms(dt), key)
    except OverflowError:
        raise ValueError(f"{key}: must lie between 2000-01-01 and 2100-01-01 (UTC)") from None


def _customer(value: str, known: Collection[str] | None) -> str:
    if known is None or value in known:
        return value
    names = sorted(known)
    shown = ", ".join(names[:NAMED_CUSTOMERS]) + (", …" if len(names) > NAMED_CUSTOMERS else "")
    raise ValueError(f"customer: {value!r} is not a configured customer "
                     f"(customers[].id: {shown or 'none configured'})")


def _after(later: int | None, earlier: int | None, key: str, other: str) -> None:
    if later is not None and earlier is not None and later < earlier:
        raise ValueError(f"{key}: before {other}")


def parse_interaction(doc: Any, known: Known = Known()) -> Interaction:
    """One line's fields as an :class:`Interaction`; ``ValueError`` names the field."""
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    extra = sorted(set(doc) - set(FIELDS))
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(repr(k[:40]) for k in extra)} "
                         f"(fields: {', '.join(FIELDS)})")
    id_, channel = _text(doc, "id"), _text(doc, "channel")
    if channel not in CHANNELS:
        raise ValueError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    customer = _customer(_text(doc, "customer"), known.customers)
    opened = parse_instant(doc.get("opened"), "opened")
    if opened is None:
        raise ValueError("opened: required")
    t = {k: parse_instant(doc.get(k), k) for k in OPTIONAL}
    for key in ("answered", "abandoned", "resolved"):
        _after(t[key], opened, key, "opened")
    if t["abandoned"] is not None:
        if channel not in LIVE_CHANNELS:
            raise ValueError(f"abandoned: only for {', '.join(sorted(LIVE_CHANNELS))} "
                             f"(nobody hangs up on {channel})")
        if t["answered"] is not None:
            raise ValueError("abandoned: an interaction answered was not abandoned; "
                             "give one of answered and abandoned")
    if t["followed_up"] is not None and t["resolved"] is None:
        raise ValueError("followed_up: needs resolved (a follow-up comes after resolution)")
    _after(t["followed_up"], t["resolved"], "followed_up", "resolved")
    return Interaction(id_, channel, customer, opened, t["answered"], t["abandoned"],
                       t["resolved"], t["followed_up"])


# -- reading a file ----------------------------------------------------------------------------


def _csv_cells(path: str, lineno: int, text: str) -> list[str]:
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as e:  # an unterminated quote: a record may not span lines
        raise ImportFileError(path, lineno, f"invalid CSV: {e}") from None


def _header(path: str, lineno: int, text: str) -> list[str]:
    names = [c.strip() for c in _csv_cells(path, lineno, text)]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise ImportFileError(path, lineno, short(
            f"header: unknown column(s) {', '.join(map(repr, unknown))} "
            f"(columns: {', '.join(FIELDS)})"))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ImportFileError(path, lineno, f"header: column(s) {', '.join(twice)} twice")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise ImportFileError(path, lineno, f"header: missing column(s) {', '.join(missing)}")
    return names


def _is_json(path: Path, first: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        return True
    if suffix == ".csv":
        return False
    return first.lstrip().startswith("{")


def documents(path: str | Path, f: BinaryIO) -> Iterator[tuple[int, Any]]:
    """Each interaction's fields with its line number: JSON objects as they are, CSV
    rows as a dict of the non-empty cells by header name."""
    p, name = Path(path), str(path)
    header: list[str] | None = None
    as_json: bool | None = None
    for lineno, line in text_lines(name, f, "is this a support export?"):
        # A spreadsheet's byte-order mark and CRLF line ends.
        text = (line.removeprefix("\ufeff") if lineno == 1 else line).removesuffix("\r")
        if not text.strip():
            continue
        if as_json is None:
            as_json = _is_json(p, text)
            if not as_json:
                header = _header(name, lineno, text)
                continue
        if as_json:
            yield lineno, json_value(name, lineno, text)
            continue
        assert header is not None
        cells = _csv_cells(name, lineno, text)
        if len(cells) != len(header):
            raise ImportFileError(name, lineno, f"{len(cells)} cells, the header has "
                                                f"{len(header)}")
        yield lineno, {k: v for k, v in zip(header, cells, strict=True) if v != ""}


@dataclass(frozen=True)
class Line:
    lineno: int
    interaction: Interaction


def read_file(path: str | Path, known: Known = Known()) -> list[Line]:
    """Every interaction of the file, or :class:`ImportFileError` at the first bad line.
    The same id twice is merged as a re-import would (a conflict names both lines)."""
    p = Path(path)
    out: dict[str, Line] = {}
    try:
        with p.open("rb") as f:
            for lineno, doc in documents(p, f):
                try:
                    record = parse_interaction(doc, known)
                except ValueError as e:
                    raise ImportFileError(str(p), lineno, short(str(e))) from None
                seen = out.get(record.id)
                if seen is not None:
                    record = _merge(seen.interaction, record, str(p), lineno,
                                    f"line {seen.lineno}")
                out[record.id] = Line(lineno if seen is None else seen.lineno, record)
    except OSError as e:
        raise ImportFileError(str(p), 0, f"cannot read: {e.strerror}") from None
    return list(out.values())


def _merge(old: Interaction, new: Interaction, path: str, lineno: int, where: str
           ) -> Interaction:
    """``old`` with what ``new`` adds; :class:`ImportFileError` when ``new`` contradicts
    a value ``old`` holds (``where``: what holds it)."""
    changes: dict[str, Any] = {}
    for f in fields(Interaction):
        before, after = getattr(old, f.name), getattr(new, f.name)
        if after is None or after == before:
            continue
        if before is not None:
            key = f.name.removesuffix("_ms")
            shown = (before, after) if isinstance(before, str) else (
                rfc3339(before, "UTC"), rfc3339(after, "UTC"))
            raise ImportFileError(path, lineno, short(
                f"{key}: id {new.id!r} has {shown[0]} ({where}), this line says {shown[1]}; "
                "an import may add what is missing, never change what is recorded"))
        changes[f.name] = after
    merged = replace(old, **changes) if changes else old
    try:
        Interaction(*_row(merged))  # the combination must still hold together
    except ValueError as e:
        raise ImportFileError(path, lineno, short(f"{e} (with what {where} holds)")) from None
    return merged


# -- importing ---------------------------------------------------------------------------------


def import_support(store: SupportStore, path: str | Path, known: Known = Known()
                   ) -> SupportImportStats:
    """Import a JSONL or CSV file of interactions: all of it, or (on any error) nothing."""
    t0 = time.monotonic()
    lines = read_file(path, known)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    now_ms = time.time_ns() // 1_000_000
    source = Path(path).name[:200]
    with store.transaction() as tx:
        for line in lines:
            old = tx.get(line.interaction.id)
            if old is None:
                tx.put(line.interaction, source, now_ms)
                counts["added"] += 1
                continue
            merged = _merge(old, line.interaction, str(path), line.lineno, "the record")
            if merged == old:
                counts["unchanged"] += 1
            else:
                tx.put(merged, source, now_ms)
                counts["updated"] += 1
    return SupportImportStats(len(lines), counts["added"], counts["updated"],
                              counts["unchanged"], time.monotonic() - t0)


# -- the policy, and the desk's report ------------------------------------------------------


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def support_rules(cfg: Config) -> SupportRules:
    """``cfg.support`` as the pure rules of :mod:`slo.support`."""
    s = cfg.support
    channels = {}
    for name in CHANNELS:
        c = s.channel(name)
        limit = (Limit("within", c.within // _MS) if c.within is not None else
                 Limit("under", c.under // _MS) if c.under is not None else
                 Limit("working_days", c.working_days) if c.working_days is not None else None)
        start, _, end = (c.hours or "00:00-24:00").partition("-")
        channels[name] = Rule(limit, Hours(c.days, _minutes(start), _minutes(end)))
    follow = s.follow_up
    return SupportRules(channels,
                        None if follow.within is None else Limit("within", follow.within // _MS),
                        frozenset(follow.channels), cfg.timezone, s.worst_listed)


@dataclass
class SupportDesk:
    """The record and the rules together: what the CLI, the API and /metrics ask."""

    store: SupportStore
    rules: SupportRules
    calendar: WorkingDayCalendar
    customers: Collection[str]

    @classmethod
    def from_config(cls, cfg: Config, store: SupportStore, calendar: WorkingDayCalendar
                    ) -> SupportDesk:
        return cls(store, support_rules(cfg), calendar, [c.id for c in cfg.customers])

    def report(self, period: Period, now_ms: int, customer: str | None = None
               ) -> SupportReport:
        """``period``'s compliance (to ``now`` when it is still open); ``customer``: that
        customer's interactions only."""
        if customer is not None and customer not in self.customers:
            raise UnknownSupportCustomer(customer)
        found = self.store.for_period(period, customer)
        return build_support_report(found, self.rules, period, self.calendar, now_ms)


class UnknownSupportCustomer(LookupError):
    def __init__(self, customer: str):
        super().__init__(f"customer: no customer {customer[:128]!r} is configured")
        self.customer = customer
