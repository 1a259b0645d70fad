"""Compensation claims: the six steps of the service standard (补偿申请流程).

1. 客户提交补偿申请及相关证明 — ``submit`` by the customer (or staff for it) → submitted
2. 运营团队审核申请材料 — ``review`` by staff → reviewed
3. 技术团队确认服务问题 — ``confirm-technical`` by staff → technically_confirmed
4. 财务部门计算补偿金额 — ``compute`` by staff → computed
5. 客户确认补偿方案 — ``confirm`` by the customer (or staff for it) → confirmed
6. 补偿执行(服务延期或费用减免) — ``execute`` by staff → executed

``reject`` (staff, with a reason) from any state before executed → rejected.

``executed`` and ``rejected`` are terminal.  Step 3 attaches the measured
outages of the customer's services that overlap the claim's stated period (from
the month's SLO report); step 4 attaches the month's frozen statement (number,
version, hash, total, settlement) and may be repeated while the customer has not
confirmed, e.g. after a reissue; step 5 refuses a plan whose statement has been
reissued since step 4, and picks the form of credit the statement offers.

Every transition is one transaction: the state change (checked against the
state read in the same transaction) and its line in the append-only audit log
(who, role, when, what, from → to, details).  Triggers refuse any UPDATE or
DELETE of the log.  One live claim per customer and month (a partial unique
index over claims not rejected): an executed claim closes the month, a rejected
one may be submitted again.  Evidence files given at step 1 (at most
``MAX_FILES`` of ``MAX_FILE_BYTES`` each; PDF, PNG, JPEG or UTF-8 text, judged by
their bytes, not by the declared type) are stored with the claim in the same
transaction and, like the log, never changed or deleted.  Tables live in the
results database with their own connection (WAL, busy timeout), as the alerting
store's do.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from compensation.archive import ArchivedVersion
from compensation.lifecycle import StatementLifecycle, StatementLifecycleError
from compensation.statements import customer as find_customer
from probes.base import wall_ms
from slaguard.config.schema import Customer
from slaguard.errors import SlaguardError
from slaguard.store.db import TableStore
from slo.availability import Outage
from slo.periods import Period, local_date, parse_rfc3339, rfc3339
from slo.statement import claim_deadline

SCHEMA = """
CREATE TABLE IF NOT EXISTS claims_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer TEXT NOT NULL,
    month TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    description TEXT NOT NULL,
    evidence TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('submitted', 'reviewed', 'technically_confirmed',
                                         'computed', 'confirmed', 'executed', 'rejected')),
    technical TEXT,
    statement TEXT,
    settlement TEXT,
    execution TEXT,
    rejection TEXT,
    submitted_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    CHECK (end_ms > start_ms)
);
CREATE UNIQUE INDEX IF NOT EXISTS claims_one_live ON claims (customer, month)
    WHERE state != 'rejected';
CREATE INDEX IF NOT EXISTS claims_by_state ON claims (state, id);
CREATE TABLE IF NOT EXISTS claims_log (
    id INTEGER PRIMARY KEY,
    claim_id INTEGER NOT NULL REFERENCES claims (id),
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('customer', 'staff')),
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS claims_log_by_claim ON claims_log (claim_id, id);
CREATE TRIGGER IF NOT EXISTS claims_log_no_update BEFORE UPDATE ON claims_log
BEGIN SELECT RAISE(ABORT, 'claims_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS claims_log_no_delete BEFORE DELETE ON claims_log
BEGIN SELECT RAISE(ABORT, 'claims_log is append-only'); END;
CREATE TABLE IF NOT EXISTS claims_files (
    claim_id INTEGER NOT NULL REFERENCES claims (id),
    n INTEGER NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (claim_id, n)
);
CREATE TRIGGER IF NOT EXISTS claims_files_no_update BEFORE UPDATE ON claims_files
BEGIN SELECT RAISE(ABORT, 'claims_files are kept as submitted'); END;
CREATE TRIGGER IF NOT EXISTS claims_files_no_delete BEFORE DELETE ON claims_files
BEGIN SELECT RAISE(ABORT, 'claims_files are kept as submitted'); END;
"""
SCHEMA_VERSION = "1"
MAX_EVIDENCE = 20
MAX_TEXT = 4000
MAX_FILES = 5
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILE_NAME = 200
# What a file's bytes must start with → its stored content type, and the names it may carry
# (a PNG called report.pdf is refused: the name would mislead whoever opens it).
FILE_KINDS: tuple[tuple[bytes, str, tuple[str, ...]], ...] = (
    (b"%PDF-", "application/pdf", (".pdf",)),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
)
TEXT_TYPE, TEXT_NAMES = "text/plain; charset=utf-8", (".txt", ".log", ".csv")

ClaimState = Literal["submitted", "reviewed", "technically_confirmed", "computed", "confirmed",
                     "executed", "rejected"]
Role = Literal["customer", "staff"]
TERMINAL: frozenset[str] = frozenset({"executed", "rejected"})
# The six steps, in order (state reached → the source's wording, English).
STEPS: tuple[tuple[ClaimState, str, str], ...] = (
    ("submitted", "客户提交补偿申请及相关证明", "the customer submits a claim with evidence"),
    ("reviewed", "运营团队审核申请材料", "operations reviews the claim"),
    ("technically_confirmed", "技术团队确认服务问题", "engineering confirms the service problem"),
    ("computed", "财务部门计算补偿金额", "finance computes the amount"),
    ("confirmed", "客户确认补偿方案", "the customer confirms the settlement"),
    ("executed", "补偿执行(服务延期或费用减免)",
     "the credit is applied (extension or fee reduction)"),
)


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: ClaimState
    customer_may: bool  # a customer may take this step on its own claim


TRANSITIONS: Mapping[str, Transition] = {
    t.action: t for t in (
        Transition("review", frozenset({"submitted"}), "reviewed", False),
        Transition("confirm-technical", frozenset({"reviewed"}), "technically_confirmed", False),
        # Again while unconfirmed: finance attaches a reissued statement.
        Transition("compute", frozenset({"technically_confirmed", "computed"}), "computed",
                   False),
        Transition("confirm", frozenset({"computed"}), "confirmed", True),
        Transition("execute", frozenset({"confirmed"}), "executed", False),
        Transition("reject", frozenset({s for s, _, _ in STEPS} - TERMINAL), "rejected", False),
    )
}


# -- errors ---------------------------------------------------------------------------------


class ClaimError(SlaguardError):
    pass


class ClaimNotFound(ClaimError):
    """API: 404."""


class ClaimConflict(ClaimError):
    """An invalid transition or a rule of the process refuses the step (API: 409)."""


class ClaimForbidden(ClaimError):
    """A customer acting on another customer's claim, or taking a staff step (API: 403)."""


# -- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    name: str  # a person ("ops-li") or "customer:acme"
    role: Role
    customer: str | None = None  # set for role customer: the only claims it may touch

    @staticmethod
    def staff(name: str) -> Actor:
        if not name.strip():
            raise ValueError("by: required non-empty string (who takes the step)")
        return Actor(name.strip(), "staff")

    @staticmethod
    def of_customer(customer_id: str) -> Actor:
        return Actor(f"customer:{customer_id}", "customer", customer_id)


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    customer: str
    month: str
    start_ms: int
    end_ms: int
    description: str
    evidence: tuple[str, ...]
    state: ClaimState
    technical: Mapping[str, Any] | None
    statement: Mapping[str, Any] | None
    settlement: str | None
    execution: Mapping[str, Any] | None
    rejection: Mapping[str, Any] | None
    submitted_ms: int
    updated_ms: int

    @property
    def public_id(self) -> str:
        return f"CLM-{self.id}"

    @property
    def next_actions(self) -> list[str]:
        return [a for a, t in TRANSITIONS.items() if self.state in t.sources]


@dataclass(frozen=True, slots=True)
class LogEntry:
    claim_id: int
    at_ms: int
    actor: str
    role: Role
    action: str
    from_state: str | None
    to_state: str
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A checked evidence file (``evidence_file``), as submitted."""

    name: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An evidence file kept with a claim (without its bytes)."""

    claim_id: int
    n: int  # 1, 2, … in the order submitted
    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class NewClaim:
    customer: str
    month: str
    start_ms: int
    end_ms: int
    description: str
    evidence: tuple[str, ...]
    files: tuple[EvidenceFile, ...] = ()


_CLAIM_COLUMNS = ("id, customer, month, start_ms, end_ms, description, evidence, state, "
                  "technical, statement, settlement, execution, rejection, submitted_ms, "
                  "updated_ms")
_JSON_FIELDS = ("technical", "statement", "execution", "rejection")


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def _claim(row: Sequence[Any]) -> Claim:
    (id_, customer, month, start, end, description, evidence, state, technical, statement,
     settlement, execution, rejection, submitted, updated) = row
    return Claim(id_, customer, month, start, end, description, tuple(json.loads(evidence)),
                 state, _loads(technical), _loads(statement), settlement, _loads(execution),
                 _loads(rejection), submitted, updated)


def _parse_id(claim_id: int | str) -> int:
    text = str(claim_id).strip().upper().removeprefix("CLM-")
    if not text.isdigit():
        raise ClaimNotFound(f"no claim {claim_id!r} (ids look like CLM-7)")
    return int(text)


class ClaimTx:
    """Typed statements over one connection, inside ``transaction()`` or ``reading()``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def insert(self, new: NewClaim, now_ms: int) -> int:
        cur = self.db.execute(
            "INSERT INTO claims (customer, month, start_ms, end_ms, description, evidence, "
            "state, submitted_ms, updated_ms) VALUES (?,?,?,?,?,?, 'submitted', ?, ?)",
            (new.customer, new.month, new.start_ms, new.end_ms, new.description,
             json.dumps(list(new.evidence), ensure_ascii=False), now_ms, now_ms))
        return int(cur.lastrowid or 0)

    def live_claim(self, customer: str, month: str) -> int | None:
        row = self.db.execute("SELECT id FROM claims WHERE customer=? AND month=? "
                              "AND state != 'rejected'", (customer, month)).fetchone()
        return None if row is None else int(row[0])

    def get(self, claim_id: int) -> Claim | None:
        row = self.db.execute(f"SELECT {_CLAIM_COLUMNS} FROM claims WHERE id=?",
                              (claim_id,)).fetchone()
        return None if row is None else _claim(row)

    def find(self, customer: str | None = None, month: str | None = None,
             state: str | None = None, limit: int = 1000) -> list[Claim]:
        where, args = ["1=1"], []
        for column, value in (("customer", customer), ("month", month), ("state", state)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        rows = self.db.execute(f"SELECT {_CLAIM_COLUMNS} FROM claims WHERE "
                               f"{' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                               (*args, int(limit)))
        return [_claim(r) for r in rows]

    def move(self, claim: Claim, to: ClaimState, now_ms: int, **fields: Any) -> None:
        """Set the state (only from the state read in this transaction) and fields."""
        bad = set(fields) - {*_JSON_FIELDS, "settlement"}
        if bad:
            raise ValueError(f"not settable: {sorted(bad)}")
        names = sorted(fields)
        values = [_dumps(fields[n]) if n in _JSON_FIELDS else fields[n] for n in names]
        sets = "".join(f", {n}=?" for n in names)
        cur = self.db.execute(f"UPDATE claims SET state=?, updated_ms=?{sets} "
                              "WHERE id=? AND state=?",
                              (to, now_ms, *values, claim.id, claim.state))
        if cur.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; a guard, not a path
            raise ClaimConflict(f"{claim.public_id} changed meanwhile; try again")

    def log(self, claim_id: int, at_ms: int, actor: Actor, action: str, from_state: str | None,
            to_state: str, detail: Mapping[str, Any] | None = None) -> None:
        self.db.execute(
            "INSERT INTO claims_log (claim_id, at_ms, actor, role, action, from_state, "
            "to_state, detail) VALUES (?,?,?,?,?,?,?,?)",
            (claim_id, at_ms, actor.name, actor.role, action, from_state, to_state,
             _dumps(dict(detail or {}))))

    def insert_file(self, claim_id: int, n: int, f: EvidenceFile) -> None:
        self.db.execute("INSERT INTO claims_files (claim_id, n, name, content_type, size, "
                        "sha256, data) VALUES (?,?,?,?,?,?,?)",
                        (claim_id, n, f.name, f.content_type, len(f.data), f.sha256, f.data))

    def files(self, claim_id: int) -> list[StoredFile]:
        rows = self.db.execute("SELECT claim_id, n, name, content_type, size, sha256 "
                               "FROM claims_files WHERE claim_id=? ORDER BY n", (claim_id,))
        return [StoredFile(*r) for r in rows]

    def file_data(self, claim_id: int, n: int) -> bytes | None:
        row = self.db.execute("SELECT data FROM claims_files WHERE claim_id=? AND n=?",
                              (claim_id, n)).fetchone()
        return None if row is None else bytes(row[0])

    def log_entries(self, claim_id: int) -> list[LogEntry]:
        rows = self.db.execute(
            "SELECT claim_id, at_ms, actor, role, action, from_state, to_state, detail "
            "FROM claims_log WHERE claim_id=? ORDER BY id", (claim_id,))
        return [LogEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
                for r in rows]


class ClaimStore(TableStore[ClaimTx]):
    """Claims and their append-only audit log."""

    what = "claims store"
    schema = SCHEMA
    schema_version = SCHEMA_VERSION
    meta_table = "claims_meta"

    def tx(self, db: sqlite3.Connection) -> ClaimTx:
        return ClaimTx(db)


# -- evidence attached by slaguard -------------------------------------------------------------


def overlapping_outages(outages: Sequence[Outage], service: str, start_ms: int, end_ms: int,
                        tz: str) -> list[dict[str, Any]]:
    """Outages of ``service`` that overlap ``[start, end)``, with the overlapping seconds."""
    out = []
    for o in outages:
        lo, hi = max(o.start_ms, start_ms), min(o.end_ms, end_ms)
        if hi > lo:
            out.append({"service": service, "start": rfc3339(o.start_ms, tz),
                        "end": rfc3339(o.end_ms, tz), "seconds": o.seconds,
                        "overlap_seconds": (hi - lo) // 1000, "targets": list(o.targets),
                        "locations": list(o.locations), "cause": o.cause,
                        "ongoing": o.ongoing})
    return out



def statement_attachment(v: ArchivedVersion) -> dict[str, Any]:
    doc = v.doc()
    return {"number": doc["statement"], "version": v.version, "hash": v.hash,
            "total": doc["total"], "total_in_words": doc["total_in_words"],
            "currency": doc["currency"], "settlement": doc["settlement"],
            "frozen": v.created_ms, "reason": v.reason}


def _execution(statement: Mapping[str, Any], form: str) -> dict[str, Any]:
    s = statement["settlement"]
    if form == "fee_reduction":
        return {"form": form, "amount": s["fee_reduction"], "currency": statement["currency"]}
    return {"form": form, "days": s["extension_days"]}


# -- the service -------------------------------------------------------------------------------


def _text(value: Any, key: str, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{key}: required non-empty string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{key}: at most {MAX_TEXT} characters")
    return value.strip()


def _evidence(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_EVIDENCE:
        raise ValueError(f"evidence: expected a list of at most {MAX_EVIDENCE} texts or links")
    return tuple(_text(v, f"evidence[{i}]") for i, v in enumerate(value))


def _file_name(name: str) -> str:
    """The last path part, without control characters (it ends up in a header)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable()).strip()[:MAX_FILE_NAME]


def evidence_file(name: str, data: bytes, index: int = 0) -> EvidenceFile:
    """A file checked by its bytes: PDF, PNG, JPEG or UTF-8 text, at most
    ``MAX_FILE_BYTES``, with a name that fits its content."""
    clean = _file_name(name)
    where = f"files[{index}] ({clean or 'unnamed'})"
    if not clean:
        raise ValueError(f"files[{index}]: the file needs a name")
    if not data:
        raise ValueError(f"{where}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{where}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    lower = clean.lower()
    for magic, content_type, names in FILE_KINDS:
        if data.startswith(magic):
            if not lower.endswith(names):
                raise ValueError(f"{where}: the content is {content_type}, so the name must "
                                 f"end in {' or '.join(names)}")
            return EvidenceFile(clean, content_type, data)
    if lower.endswith(TEXT_NAMES) and b"\0" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return EvidenceFile(clean, TEXT_TYPE, data)
    raise ValueError(f"{where}: only PDF, PNG, JPEG or UTF-8 text (.txt, .log, .csv) files "
                     "are accepted")


def _files(files: Sequence[EvidenceFile]) -> tuple[EvidenceFile, ...]:
    if len(files) > MAX_FILES:
        raise ValueError(f"files: at most {MAX_FILES} files")
    return tuple(files)


class ClaimService:
    """The claim process over the claims store, the statements and the SLO report."""

    def __init__(self, store: ClaimStore, statements: StatementLifecycle,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.store = store
        self.statements = statements
        self.now_ms = clock

    @property
    def timezone(self) -> str:
        return self.statements.timezone

    def close(self) -> None:
        self.store.close()

    # -- reading ----------------------------------------------------------------------------

    def get(self, claim_id: int | str, actor: Actor) -> tuple[Claim, list[LogEntry]]:
        with self.store.reading() as tx:
            claim = tx.get(_parse_id(claim_id))
            if claim is None:
                raise ClaimNotFound(f"no claim {claim_id}")
            self._may_see(claim, actor)
            return claim, tx.log_entries(claim.id)

    def find(self, actor: Actor, customer: str | None = None, month: str | None = None,
             state: str | None = None) -> list[Claim]:
        if state is not None and state not in TRANSITIONS["reject"].sources | TERMINAL:
            raise ValueError(f"state: no state {state!r}")
        if actor.role == "customer":
            if customer not in (None, actor.customer):
                raise ClaimForbidden("a customer sees its own claims only")
            customer = actor.customer
        with self.store.reading() as tx:
            return tx.find(customer, month, state)

    def customer_claims(self, customer_id: str) -> list[dict[str, Any]]:
        """A customer's claims as ``claim_json`` gives them: ``portal.ClaimsFn``."""
        found = self.find(Actor.of_customer(customer_id))
        return [claim_json(c, self.timezone) for c in found]

    def files(self, claim_id: int | str, actor: Actor) -> list[StoredFile]:
        """The claim's evidence files (staff, or the claim's customer)."""
        claim, _ = self.get(claim_id, actor)
        with self.store.reading() as tx:
            return tx.files(claim.id)

    def file(self, claim_id: int | str, n: int, actor: Actor) -> tuple[StoredFile, bytes]:
        """One evidence file and its bytes (staff, or the claim's customer)."""
        claim, _ = self.get(claim_id, actor)
        with self.store.reading() as tx:
            found = [f for f in tx.files(claim.id) if f.n == n]
            data = tx.file_data(claim.id, n)
        if not found or data is None:
            raise ClaimNotFound(f"{claim.public_id} has no evidence file {n}")
        return found[0], data

    @staticmethod
    def _may_see(claim: Claim, actor: Actor) -> None:
        if actor.role == "customer" and claim.customer != actor.customer:
            raise ClaimForbidden(f"{claim.public_id} is another customer's claim")

    # -- step 1 -----------------------------------------------------------------------------

    def new_claim(self, customer_id: str, month: str, description: Any, evidence: Any = None,
                  start: Any = None, end: Any = None,
                  files: Sequence[EvidenceFile] = ()) -> NewClaim:
        """Checked input of a submission; the stated period defaults to the whole month."""
        find_customer(self.statements.cfg, customer_id)
        period = self.statements.period(month)
        start_ms = period.start_ms if start is None else parse_rfc3339(start, "start")
        end_ms = period.end_ms if end is None else parse_rfc3339(end, "end")
        if not period.start_ms <= start_ms < end_ms <= period.end_ms:
            raise ValueError(f"start, end: the stated period must lie within {period.label} "
                             f"[{rfc3339(period.start_ms, period.timezone)}, "
                             f"{rfc3339(period.end_ms, period.timezone)}) and end after start")
        return NewClaim(customer_id, period.label, start_ms, end_ms,
                        _text(description, "description"), _evidence(evidence), _files(files))

    def submit(self, new: NewClaim, actor: Actor) -> Claim:
        if actor.role == "customer" and new.customer != actor.customer:
            raise ClaimForbidden("a customer submits claims for itself only")
        now = self.now_ms()
        self._check_window(self.statements.period(new.month), now)
        with self.store.transaction() as tx:
            live = tx.live_claim(new.customer, new.month)
            if live is not None:
                raise ClaimConflict(f"CLM-{live} is already the claim of {new.customer} for "
                                    f"{new.month} (one live claim a month)")
            claim_id = tx.insert(new, now)
            for n, f in enumerate(new.files, 1):
                tx.insert_file(claim_id, n, f)
            files = [{"name": f.name, "size": len(f.data), "sha256": f.sha256}
                     for f in new.files]
            tx.log(claim_id, now, actor, "submit", None, "submitted",
                   {"evidence": len(new.evidence), **({"files": files} if files else {})})
            claim = tx.get(claim_id)
        assert claim is not None
        return claim

    def _check_window(self, period: Period, now_ms: int) -> None:
        if now_ms < period.start_ms:
            raise ValueError(f"month: {period.label} has not begun")
        days = self.statements.claim_window_days
        deadline = claim_deadline(period, days)
        if local_date(now_ms, period.timezone) > deadline:
            raise ClaimConflict(f"the claim window for {period.label} closed on {deadline} "
                                f"({days} days after the month's last day)")

    # -- steps 2 to 6 and rejection ----------------------------------------------------------

    def _step(self, claim_id: int | str, action: str, actor: Actor,
              detail: Mapping[str, Any] | None = None,
              check: Callable[[Claim], None] | None = None, **fields: Any) -> Claim:
        """One transition: permission, the state read in the transaction, the change and
        its audit line, atomically."""
        t = TRANSITIONS[action]
        if actor.role == "customer" and not t.customer_may:
            raise ClaimForbidden(f"{action}: a staff step (customers may submit and confirm)")
        now = self.now_ms()
        with self.store.transaction() as tx:
            claim = tx.get(_parse_id(claim_id))
            if claim is None:
                raise ClaimNotFound(f"no claim {claim_id}")
            self._may_see(claim, actor)
            self._allowed(claim, t)
            if check is not None:
                check(claim)
            tx.move(claim, t.target, now, **fields)
            tx.log(claim.id, now, actor, action, claim.state, t.target, detail)
            done = tx.get(claim.id)
        assert done is not None
        return done

    @staticmethod
    def _allowed(claim: Claim, t: Transition) -> None:
        if claim.state in t.sources:
            return
        if claim.state in TERMINAL:
            raise ClaimConflict(f"{claim.public_id} is {claim.state}: no further steps")
        order: list[str] = [s for s, _, _ in STEPS]
        expected = " or ".join(sorted(t.sources, key=order.index))
        raise ClaimConflict(f"{claim.public_id} is {claim.state}: cannot {t.action} (needs "
                            f"{expected}; next: {', '.join(claim.next_actions)})")

    def _current(self, claim_id: int | str, action: str, actor: Actor) -> Claim:
        """The claim, checked for the step before slow work (the step checks again)."""
        claim, _ = self.get(claim_id, actor)
        t = TRANSITIONS[action]
        if actor.role == "customer" and not t.customer_may:
            raise ClaimForbidden(f"{action}: a staff step (customers may submit and confirm)")
        self._allowed(claim, t)
        return claim

    def review(self, claim_id: int | str, actor: Actor, note: str = "") -> Claim:
        return self._step(claim_id, "review", actor, {"note": note})

    def confirm_technical(self, claim_id: int | str, actor: Actor, note: str = "") -> Claim:
        """Attach the measured outages overlapping the stated period (the month's report)."""
        claim = self._current(claim_id, "confirm-technical", actor)
        technical = self._technical(claim, note)
        summary = {"outages": len(technical["outages"]),
                   "overlap_seconds": technical["overlap_seconds"], "note": note}
        return self._step(claim.id, "confirm-technical", actor, summary, technical=technical)

    def _technical(self, claim: Claim, note: str) -> dict[str, Any]:
        c: Customer = find_customer(self.statements.cfg, claim.customer)
        now = self.now_ms()
        report = self.statements.evaluator.month(claim.month, now, c.services)
        tz = report.period.timezone
        outages = [o for name in c.services
                   for o in overlapping_outages(report.service(name).availability.outages, name,
                                                claim.start_ms, claim.end_ms, tz)]
        return {"outages": outages,
                "overlap_seconds": sum(o["overlap_seconds"] for o in outages),
                "period": {"start": rfc3339(claim.start_ms, tz), "end": rfc3339(claim.end_ms, tz)},
                "evaluated_until": rfc3339(report.period.until(now), tz),
                "complete": report.period.is_complete(now), "note": note}

    def compute(self, claim_id: int | str, actor: Actor) -> Claim:
        """Attach the month's frozen statement (freezing it if its generation day has come)."""
        claim = self._current(claim_id, "compute", actor)
        try:
            frozen = self.statements.frozen(claim.customer, claim.month, self.now_ms(),
                                            by=actor.name)
        except StatementLifecycleError as e:
            raise ClaimConflict(str(e)) from None
        if frozen is None:
            why = self.statements.due(self.statements.period(claim.month), self.now_ms()).why
            raise ClaimConflict(f"{claim.public_id}: no frozen statement to compute from: {why}")
        attached = statement_attachment(frozen)
        if Decimal(attached["total"]) <= 0:
            raise ClaimConflict(f"{claim.public_id}: statement {attached['number']} version "
                                f"{frozen.version} credits 0.00: nothing to compensate; reject "
                                "the claim with that reason")
        detail = {k: attached[k] for k in ("number", "version", "hash", "total")}
        return self._step(claim.id, "compute", actor, detail, statement=attached)

    def confirm(self, claim_id: int | str, actor: Actor, settlement: str | None = None) -> Claim:
        """The customer accepts the plan: the form of credit among the statement's options."""
        claim = self._current(claim_id, "confirm", actor)
        assert claim.statement is not None
        options = list(claim.statement["settlement"]["options"])
        form = settlement or (options[0] if len(options) == 1 else None)
        if form not in options:
            raise ValueError(f"settlement: choose one of {', '.join(options)}")

        def still_latest(c: Claim) -> None:
            # A reissue after step 4 changes the amount: finance computes again first.
            assert c.statement is not None
            latest = self.statements.archive.get(c.customer, c.month)
            if latest is not None and latest.version != c.statement["version"]:
                raise ClaimConflict(f"{c.public_id}: statement {c.statement['number']} was "
                                    f"reissued as version {latest.version} after finance "
                                    "computed; finance must compute again")

        return self._step(claim.id, "confirm", actor,
                          {"settlement": form, "version": claim.statement["version"]},
                          check=still_latest, settlement=form)

    def execute(self, claim_id: int | str, actor: Actor, reference: str = "") -> Claim:
        claim = self._current(claim_id, "execute", actor)
        assert claim.statement is not None and claim.settlement is not None
        execution = {**_execution(claim.statement, claim.settlement), "reference": reference,
                     "statement": claim.statement["number"],
                     "version": claim.statement["version"]}
        return self._step(claim.id, "execute", actor, execution, execution=execution)

    def reject(self, claim_id: int | str, actor: Actor, reason: str) -> Claim:
        reason = _text(reason, "reason")
        claim = self._current(claim_id, "reject", actor)
        rejection = {"reason": reason, "by": actor.name, "at_state": claim.state}
        return self._step(claim.id, "reject", actor, rejection, rejection=rejection)


# -- JSON -----------------------------------------------------------------------------------------


def _step_of(state: str) -> dict[str, Any] | None:
    for i, (s, zh, en) in enumerate(STEPS, 1):
        if s == state:
            return {"number": i, "zh": zh, "en": en}
    return None


def file_json(f: StoredFile) -> dict[str, Any]:
    return {"n": f.n, "name": f.name, "content_type": f.content_type, "size": f.size,
            "sha256": f.sha256}


def claim_json(claim: Claim, tz: str, log: Sequence[LogEntry] | None = None,
               files: Sequence[StoredFile] | None = None) -> dict[str, Any]:
    statement = None if claim.statement is None else {
        **claim.statement, "frozen": rfc3339(claim.statement["frozen"], tz)}
    doc: dict[str, Any] = {
        "id": claim.public_id, "customer": claim.customer, "month": claim.month,
        "period": {"start": rfc3339(claim.start_ms, tz), "end": rfc3339(claim.end_ms, tz)},
        "state": claim.state, "step": _step_of(claim.state),
        "description": claim.description, "evidence": list(claim.evidence),
        "technical": claim.technical, "statement": statement, "settlement": claim.settlement,
        "execution": claim.execution, "rejection": claim.rejection,
        "submitted": rfc3339(claim.submitted_ms, tz), "updated": rfc3339(claim.updated_ms, tz),
        "next": claim.next_actions,
    }
    if files is not None:
        doc["files"] = [file_json(f) for f in files]
    if log is not None:
        doc["log"] = [{"at": rfc3339(e.at_ms, tz), "actor": e.actor, "role": e.role,
                       "action": e.action, "from": e.from_state, "to": e.to_state,
                       "detail": dict(e.detail)} for e in log]
    return doc
