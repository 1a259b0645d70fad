"""The statement archive: frozen statements of closed months, version by version.

Two tables in the results database (own connection, WAL, busy timeout, the
alerting store's pattern, so the store's single writer keeps its own locking):

* ``statement_archive`` — (customer, month, version) → the statement's
  **canonical JSON** (sorted keys, no whitespace, UTF-8, ``hash`` included),
  its content hash and total, when, by whom and why it was frozen.
* ``statement_renders`` — (customer, month, version, format) → the bytes of
  one rendering of an archived version, stored the first time that format is
  asked for.

Why canonical JSON plus renders stored on first use (rather than rendering
every format at freeze time, or re-rendering on every request):

* The canonical JSON *is* the statement: the hash covers exactly it, and every
  renderer reads nothing but what it holds (:class:`ArchivedStatement`, tested
  byte for byte against the live renderings).  Freezing needs no font and no
  WeasyPrint, so the monthly job freezes 10 000 customers in seconds and cannot
  fail on a missing CJK font.
* Re-rendering on every request is byte-stable only while the template,
  Jinja, WeasyPrint and the fonts stay the same.  Storing the first rendering
  of each format freezes it too: a PDF downloaded in March is the same bytes
  after an upgrade in June.  Concurrent first requests converge on one stored
  rendering (insert-if-absent, then read back).

Both tables are append-only (triggers refuse UPDATE and DELETE): a frozen
statement changes only by a new version with its reason.  Reads check the
stored hash against the document, so a corrupted row is an error, never a
silently different statement.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from exporters.statements import RENDERERS
from slaguard.errors import StoreError
from slaguard.store.db import TableStore
from slo.statement import Statement, canonical_json, content_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS statement_archive_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS statement_archive (
    customer TEXT NOT NULL,
    month TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    document BLOB NOT NULL,
    hash TEXT NOT NULL,
    total TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (customer, month, version)
);
CREATE INDEX IF NOT EXISTS statement_archive_by_month ON statement_archive (month, customer);
CREATE TABLE IF NOT EXISTS statement_renders (
    customer TEXT NOT NULL,
    month TEXT NOT NULL,
    version INTEGER NOT NULL,
    format TEXT NOT NULL,
    body BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (customer, month, version, format),
    FOREIGN KEY (customer, month, version)
        REFERENCES statement_archive (customer, month, version)
);
CREATE TRIGGER IF NOT EXISTS statement_archive_no_update BEFORE UPDATE ON statement_archive
BEGIN SELECT RAISE(ABORT, 'statement_archive is append-only: reissue a new version'); END;
CREATE TRIGGER IF NOT EXISTS statement_archive_no_delete BEFORE DELETE ON statement_archive
BEGIN SELECT RAISE(ABORT, 'statement_archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS statement_renders_no_update BEFORE UPDATE ON statement_renders
BEGIN SELECT RAISE(ABORT, 'statement_renders is append-only'); END;
CREATE TRIGGER IF NOT EXISTS statement_renders_no_delete BEFORE DELETE ON statement_renders
BEGIN SELECT RAISE(ABORT, 'statement_renders is append-only'); END;
"""
SCHEMA_VERSION = "1"
FORMATS = tuple(RENDERERS)
CONTENT_TYPES: Mapping[str, str] = {
    "json": "application/json", "csv": "text/csv", "html": "text/html",
    "pdf": "application/pdf",
}
_COLUMNS = "customer, month, version, document, hash, total, created_ms, created_by, reason"


# -- what the renderers read, from an archived document -------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    kind: str
    service: str | None
    incident: str | None
    percent: Decimal  # the document's exact percent text: pct() prints it back unchanged
    amount: Decimal
    review: bool
    rule: str
    rule_zh: str


@dataclass(frozen=True, slots=True)
class _Period:
    label: str


@dataclass(frozen=True, slots=True)
class _Policy:
    currency: str


@dataclass(frozen=True, slots=True)
class _Credits:
    total_in_words: str


class ArchivedStatement:
    """The part of :class:`slo.statement.Statement` the renderers read, from its
    archived dictionary: ``to_dict()`` (JSON, HTML, PDF) and the few attributes
    the CSV reads.  Everything else of a live statement (reports, policies as
    objects) is deliberately absent, so a renderer that starts reading more
    fails loudly here instead of rendering from data the archive does not hold."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self._doc = json.loads(json.dumps(doc))  # a private deep copy
        self.number: str = doc["statement"]
        self.customer_id: str = doc["customer"]
        self.period = _Period(doc["month"])
        self.policy = _Policy(doc["currency"])
        self.hash: str = doc["hash"]
        self.total = Decimal(doc["total"])
        self.credits = _Credits(doc["total_in_words"])
        self.lines = tuple(_Line(x["kind"], x["service"], x["incident"], Decimal(x["percent"]),
                                 Decimal(x["amount"]), bool(x["review"]), x["rule"],
                                 x["rule_zh"]) for x in doc["lines"])

    def to_dict(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(json.dumps(self._doc)))


def render_document(doc: Mapping[str, Any], fmt: str) -> bytes:
    """``fmt`` rendered from an archived document, as bytes (text as UTF-8).

    JSON is the document pretty-printed (keys sorted, as archived): the same
    content and hash as the live JSON, in the archive's key order."""
    if fmt == "json":
        return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    # The renderers are typed for a live Statement; they read only what
    # ArchivedStatement provides (tests compare both renderings byte for byte).
    out = RENDERERS[fmt](cast(Statement, ArchivedStatement(doc)))
    return out if isinstance(out, bytes) else out.encode("utf-8")


def render_live(statement: Statement, fmt: str) -> bytes:
    out = RENDERERS[fmt](statement)
    return out if isinstance(out, bytes) else out.encode("utf-8")


# -- rows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchivedVersion:
    customer: str
    month: str
    version: int
    document: bytes  # canonical JSON, hash included
    hash: str
    total: str
    created_ms: int
    created_by: str
    reason: str

    def doc(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.document))

    @property
    def number(self) -> str:
        return str(self.doc()["statement"])


def archived_bytes(statement: Statement) -> tuple[bytes, str, str]:
    """(canonical JSON with ``hash``, the hash, the total) of a live statement.

    ``to_dict()`` builds the content twice (once more for ``hash``); building it
    once here is the same document at half the cost (the monthly job's hot path)."""
    content = statement.content()
    digest = content_hash(content)
    return canonical_json({**content, "hash": digest}), digest, content["total"]


def _checked(row: tuple[Any, ...]) -> ArchivedVersion:
    v = ArchivedVersion(row[0], row[1], int(row[2]), bytes(row[3]), *row[4:])
    doc = v.doc()
    if content_hash(doc) != v.hash or doc.get("hash") != v.hash:
        raise StoreError(f"statement archive: {v.customer} {v.month} version {v.version} "
                         "does not match its content hash (corrupted row)")
    return v


class ArchiveTx:
    """Typed statements over one connection, inside ``transaction()`` or ``reading()``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def insert(self, customer: str, month: str, version: int, statement: Statement,
               now_ms: int, by: str, reason: str) -> bool:
        """Insert one version; False when it exists (a concurrent freeze won)."""
        document, digest, total = archived_bytes(statement)
        cur = self.db.execute(
            f"INSERT INTO statement_archive ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (customer, month, version) DO NOTHING",
            (customer, month, version, document, digest, total, now_ms, by, reason))
        return cur.rowcount == 1

    def get(self, customer: str, month: str, version: int | None = None
            ) -> ArchivedVersion | None:
        """One version, or the latest when ``version`` is None."""
        if version is None:
            row = self.db.execute(
                f"SELECT {_COLUMNS} FROM statement_archive WHERE customer=? AND month=? "
                "ORDER BY version DESC LIMIT 1", (customer, month)).fetchone()
        else:
            row = self.db.execute(
                f"SELECT {_COLUMNS} FROM statement_archive WHERE customer=? AND month=? "
                "AND version=?", (customer, month, version)).fetchone()
        return None if row is None else _checked(tuple(row))

    def latest_version(self, customer: str, month: str) -> int:
        row = self.db.execute("SELECT MAX(version) FROM statement_archive "
                              "WHERE customer=? AND month=?", (customer, month)).fetchone()
        return int(row[0] or 0)

    def versions(self, customer: str, month: str) -> list[ArchivedVersion]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM statement_archive WHERE customer=? AND month=? "
            "ORDER BY version", (customer, month)).fetchall()
        return [_checked(tuple(r)) for r in rows]

    def frozen_customers(self, month: str) -> set[str]:
        rows = self.db.execute("SELECT DISTINCT customer FROM statement_archive WHERE month=?",
                               (month,))
        return {str(r[0]) for r in rows}

    def rendering(self, v: ArchivedVersion, fmt: str) -> bytes | None:
        row = self.db.execute(
            "SELECT body, sha256 FROM statement_renders WHERE customer=? AND month=? "
            "AND version=? AND format=?", (v.customer, v.month, v.version, fmt)).fetchone()
        if row is None:
            return None
        body = bytes(row[0])
        if hashlib.sha256(body).hexdigest() != row[1]:
            raise StoreError(f"statement archive: the {fmt} of {v.customer} {v.month} "
                             f"version {v.version} is corrupted")
        return body

    def insert_rendering(self, v: ArchivedVersion, fmt: str, body: bytes, now_ms: int) -> None:
        self.db.execute(
            "INSERT INTO statement_renders (customer, month, version, format, body, sha256, "
            "created_ms) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (customer, month, version, format) DO NOTHING",
            (v.customer, v.month, v.version, fmt, body, hashlib.sha256(body).hexdigest(),
             now_ms))


class StatementArchive(TableStore[ArchiveTx]):
    """Frozen statements and their renderings, append-only."""

    what = "statement archive"
    schema = SCHEMA
    schema_version = SCHEMA_VERSION
    meta_table = "statement_archive_meta"

    def tx(self, db: sqlite3.Connection) -> ArchiveTx:
        return ArchiveTx(db)

    # -- the operations the lifecycle uses ------------------------------------------------

    def freeze(self, statement: Statement, now_ms: int, by: str, reason: str
               ) -> ArchivedVersion:
        """Version 1 of the statement's customer and month, stored unless one exists:
        whoever freezes first (job, CLI, API) wins and everyone gets the same row."""
        key = (statement.customer_id, statement.period.label)
        with self.transaction() as tx:
            tx.insert(*key, 1, statement, now_ms, by, reason)
            stored = tx.get(*key)
        assert stored is not None
        return stored

    def freeze_many(self, statements: Iterable[Statement], now_ms: int, by: str,
                    reason: str) -> int:
        """Version 1 of each statement in one transaction; returns how many were new."""
        with self.transaction() as tx:
            return sum(tx.insert(s.customer_id, s.period.label, 1, s, now_ms, by, reason)
                       for s in statements)

    def reissue(self, statement: Statement, now_ms: int, by: str, reason: str
                ) -> ArchivedVersion:
        """The next version; the earlier ones stay as they are."""
        key = (statement.customer_id, statement.period.label)
        with self.transaction() as tx:
            latest = tx.latest_version(*key)
            if latest == 0:
                raise StoreError(f"{key[0]} {key[1]}: not frozen yet, nothing to reissue")
            tx.insert(*key, latest + 1, statement, now_ms, by, reason)
            stored = tx.get(*key, latest + 1)
        assert stored is not None
        return stored

    def get(self, customer: str, month: str, version: int | None = None
            ) -> ArchivedVersion | None:
        with self.reading() as tx:
            return tx.get(customer, month, version)

    def versions(self, customer: str, month: str) -> list[ArchivedVersion]:
        with self.reading() as tx:
            return tx.versions(customer, month)

    def frozen_customers(self, month: str) -> set[str]:
        with self.reading() as tx:
            return tx.frozen_customers(month)

    def rendering(self, v: ArchivedVersion, fmt: str, now_ms: int,
                  render: Callable[[Mapping[str, Any], str], bytes] = render_document
                  ) -> bytes:
        """The stored rendering of ``v`` in ``fmt``, rendered from the archived document
        and stored the first time.  Rendering runs outside the lock (a PDF takes a
        while); a concurrent first rendering is discarded in favour of the stored one."""
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"format: expected one of {', '.join(CONTENT_TYPES)}, got {fmt!r}")
        with self.reading() as tx:
            stored = tx.rendering(v, fmt)
        if stored is not None:
            return stored
        body = render(v.doc(), fmt)
        with self.transaction() as tx:
            tx.insert_rendering(v, fmt, body, now_ms)
            stored = tx.rendering(v, fmt)
        assert stored is not None
        return stored
