"""Domain types shared by every layer: what a probe observed.

A ``ProbeResult`` is immutable and carries exact integers: timestamps in epoch
milliseconds (UTC) and durations in milliseconds.  Floats never enter the
record; exporters convert to seconds at the edge.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

PHASES = ("resolve", "connect", "tls", "processing", "transfer", "send")


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    # The probe could not judge (its own network is down, it was overloaded,
    # it was not running).  Never counted as downtime.
    UNKNOWN = "unknown"


class ErrorClass(enum.StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    ASSERTION = "assertion"
    BODY_TOO_LARGE = "body_too_large"
    PROBE_ERROR = "probe_error"
    # Probe-side classes: they always come with Outcome.UNKNOWN.
    SELF_CHECK = "self_check"
    OVERLOADED = "overloaded"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class ProbeError:
    cls: ErrorClass
    message: str


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a journey run (``kind: journey``), in the run's own clock: exact
    integer milliseconds from the run's start (``ProbeResult.ts_ms``)."""

    step: str
    offset_ms: int  # when the step (or the step its ``clock_from`` names) started
    elapsed_ms: int
    attempts: int = 1  # requests made (a ``poll`` step: every poll)
    status_code: int | None = None
    ok: bool = True
    error: ProbeError | None = None


def result_id(target: str, location: str, ts_ms: int) -> str:
    """A result's identity, known before it is taken (a journey sends it as
    ``X-Slaguard-Probe``; a browser check keys its evidence by it): the store
    keeps one result per (target, location, ts_ms)."""
    return f"{target}@{location}@{ts_ms}"


# Where a target's kept evidence (a failed browser check's screenshot and trace) over
# a span is listed: incidents and statements link it (an outage knows its targets and
# span, not its failures' ids).  Served by slaguard.evidence_api.
EVIDENCE_SEARCH_PATH = "/api/v1/evidence"


def evidence_path(target: str, start_ms: int, end_ms: int | None = None) -> str:
    to = "" if end_ms is None else f"&to={end_ms}"
    return f"{EVIDENCE_SEARCH_PATH}?target={quote(target, safe='')}&from={start_ms}{to}"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ts_ms: int  # start of the probe, epoch milliseconds UTC
    target: str
    service: str
    location: str
    kind: str
    outcome: Outcome
    duration_ms: int
    phases_ms: dict[str, int] = field(default_factory=dict)
    status_code: int | None = None
    bytes: int | None = None
    error: ProbeError | None = None
    # Earliest NotAfter of the presented TLS chain, epoch seconds.
    cert_expiry: int | None = None
    # Newest recoverable point (freshness probes), epoch milliseconds.
    recovery_point_ms: int | None = None
    # How the connection was made: "cold" (fresh connection, no DNS cache) or "warm".
    connection: str = "cold"
    # The measured duration in integer microseconds, where a probe timed it:
    # what /metrics exports as probe_duration_seconds (blackbox_exporter's
    # resolution).  Accounting uses duration_ms; the record keeps only that.
    duration_us: int | None = None
    # A performance bound (``max_duration``, ms) this result took longer than.  Set
    # only on a success: the target answered as expected, just too slowly.  That is
    # a breach of a performance objective (the standard's 性能指标, "10 MB < 30 s"),
    # never downtime (可用性), so the outcome stays ``success`` and availability
    # never sees it; latency objectives judge ``duration_ms`` against their own bounds.
    bound_exceeded_ms: int | None = None
    # A journey's steps, in order (``kind: journey``); empty for other kinds.
    steps: tuple[StepResult, ...] = ()
    # A browser check's page figures (``kind: browser``), integers by name: the
    # navigation's phases and web vitals in ms, CLS in 1/1000, bytes, requests.
    vitals: dict[str, int] = field(default_factory=dict)

    @property
    def ts(self) -> datetime:
        return datetime.fromtimestamp(self.ts_ms / 1000, tz=UTC)

    @property
    def success(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def too_slow(self) -> bool:
        """Completed as expected, but over a performance bound (not a failure)."""
        return self.bound_exceeded_ms is not None

    def throughput_bps(self) -> int | None:
        """Bytes per second over the `send` phase (uploads), integer."""
        send = self.phases_ms.get("send")
        if not self.bytes or not send:
            return None
        return self.bytes * 1000 // send

    @property
    def id(self) -> str:
        return result_id(self.target, self.location, self.ts_ms)

    def with_(self, **changes: Any) -> ProbeResult:
        return replace(self, **changes)

    def __reduce__(self) -> tuple[Any, ...]:
        # Results cross from probe workers to the main process pickled: fields by
        # position unpickle in a fraction of the dataclass default's time.
        return ProbeResult, tuple(getattr(self, name) for name in self.__slots__)


# -- interchange (JSONL), docs/design.md "Result interchange" ---------------------


class InterchangeError(ValueError):
    """A line of the interchange format that cannot be accepted."""


# -- ranges every stored field keeps (the API, the importers and the config share them) ---

# An instant slaguard stores is in [2000-01-01, 2100-01-01) UTC: outside it is a typo or
# a sentinel ("9999-12-31"), and far years overflow local-time arithmetic downstream.
MIN_INSTANT_MS = 946_684_800_000
MAX_INSTANT_MS = 4_102_444_800_000
MIN_YEAR, MAX_YEAR = 2000, 2099


def check_instant(ms: int, key: str) -> int:
    """``ms`` when it lies between 2000 and 2100; ValueError naming ``key`` otherwise."""
    if not MIN_INSTANT_MS <= ms < MAX_INSTANT_MS:
        raise ValueError(f"{key}: must lie between 2000-01-01 and 2100-01-01 (UTC)")
    return ms


def check_year(year: int, key: str) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"{key}: the year must lie between {MIN_YEAR} and {MAX_YEAR}")
    return year


def check_span(start_ms: int, end_ms: int, key: str = "end") -> None:
    """An interval that ends after it starts; ValueError naming ``key`` (the end)."""
    if end_ms <= start_ms:
        raise ValueError(f"{key}: must be after the start")


def check_text(value: Any, key: str, max_len: int, required: bool = False) -> str:
    """A string of at most ``max_len`` characters (stripped); '' when absent and optional."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise ValueError(f"{key}: required non-empty string")
    if len(value) > max_len:
        raise ValueError(f"{key}: at most {max_len} characters")
    return value


def format_ts(ts_ms: int, tz: Any = UTC) -> str:
    """RFC 3339 with offset and millisecond precision."""
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=tz)
    return dt.isoformat(timespec="milliseconds")


def parse_ts(value: Any) -> int:
    if not isinstance(value, str):
        raise InterchangeError(f"ts: expected an RFC 3339 string, got {value!r}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InterchangeError(f"ts: not an RFC 3339 timestamp: {value!r}") from None
    if dt.tzinfo is None:
        raise InterchangeError(f"ts: offset required: {value!r}")
    # Exact integer milliseconds, no float round trip.
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def to_interchange(r: ProbeResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ts": format_ts(r.ts_ms),
        "target": r.target,
        "service": r.service,
        "location": r.location,
        "kind": r.kind,
        "outcome": r.outcome.value,
        "duration_ms": r.duration_ms,
    }
    if r.phases_ms:
        doc["phases_ms"] = dict(r.phases_ms)
    if r.status_code is not None:
        doc["status_code"] = r.status_code
    if r.bytes is not None:
        doc["bytes"] = r.bytes
    if r.error is not None:
        doc["error"] = {"class": r.error.cls.value, "message": r.error.message}
    if r.cert_expiry is not None:
        doc["cert_expiry"] = r.cert_expiry
    if r.recovery_point_ms is not None:
        doc["recovery_point"] = format_ts(r.recovery_point_ms)
    if r.connection != "cold":
        doc["connection"] = r.connection
    if r.duration_us is not None:
        doc["duration_us"] = r.duration_us
    if r.bound_exceeded_ms is not None:
        doc["bound_exceeded_ms"] = r.bound_exceeded_ms
    if r.steps:
        doc["steps"] = [step_to_interchange(st) for st in r.steps]
    if r.vitals:
        doc["vitals"] = dict(sorted(r.vitals.items()))
    return doc


def step_to_interchange(st: StepResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"step": st.step, "offset_ms": st.offset_ms,
                           "elapsed_ms": st.elapsed_ms, "attempts": st.attempts, "ok": st.ok}
    if st.status_code is not None:
        doc["status_code"] = st.status_code
    if st.error is not None:
        doc["error"] = {"class": st.error.cls.value, "message": st.error.message}
    return doc


def to_json_line(r: ProbeResult) -> str:
    return json.dumps(to_interchange(r), ensure_ascii=False, separators=(",", ":"))


def _int(doc: dict[str, Any], key: str, required: bool = False) -> int | None:
    v = doc.get(key)
    if v is None:
        if required:
            raise InterchangeError(f"{key}: required")
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InterchangeError(f"{key}: expected a non-negative integer, got {v!r}")
    return v


def _error(v: Any) -> ProbeError | None:
    if v is None:
        return None
    if isinstance(v, str):  # a bare class name, or "class: message"
        cls, _, msg = v.partition(":")
        v = {"class": cls.strip(), "message": msg.strip()}
    if not isinstance(v, dict):
        raise InterchangeError(f"error: expected an object or a string, got {v!r}")
    try:
        cls = ErrorClass(str(v.get("class")))
    except ValueError:
        raise InterchangeError(f"error.class: unknown error class {v.get('class')!r}") from None
    return ProbeError(cls, str(v.get("message", "")))


_VITAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _vitals(doc: dict[str, Any]) -> dict[str, int]:
    """A browser check's ``vitals``: names to non-negative integers (ms, CLS × 1000,
    bytes, counts)."""
    raw = doc.get("vitals")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InterchangeError("vitals: expected an object")
    if doc.get("kind") != "browser":
        raise InterchangeError(f"vitals: only a browser result has vitals, kind is "
                               f"{doc.get('kind')!r}")
    out = {}
    for name, v in raw.items():
        if not _VITAL_NAME.match(str(name)):
            raise InterchangeError(f"vitals: not a vital's name: {name!r}")
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InterchangeError(f"vitals.{name}: expected a non-negative integer, got {v!r}")
        out[name] = v
    return out


_STEP_KEYS = {"step", "offset_ms", "elapsed_ms", "attempts", "status_code", "ok", "error"}


def _steps(doc: dict[str, Any]) -> tuple[StepResult, ...]:
    """A journey result's ``steps``; errors name the step by index (``steps[2].ok``)."""
    raw = doc.get("steps")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InterchangeError("steps: expected a list")
    if doc.get("kind") != "journey":
        raise InterchangeError(f"steps: only a journey result has steps, kind is "
                               f"{doc.get('kind')!r}")
    return tuple(_step(i, st) for i, st in enumerate(raw))


def _step(i: int, st: Any) -> StepResult:
    key = f"steps[{i}]"
    if not isinstance(st, dict):
        raise InterchangeError(f"{key}: expected an object")
    unknown = sorted(set(st) - _STEP_KEYS)
    if unknown:
        raise InterchangeError(f"{key}.{unknown[0]}: unknown key")
    if not isinstance(st.get("step"), str) or not st["step"]:
        raise InterchangeError(f"{key}.step: required string")
    if not isinstance(st.get("ok"), bool):
        raise InterchangeError(f"{key}.ok: expected true or false")
    try:
        offset, elapsed = _int(st, "offset_ms", True), _int(st, "elapsed_ms", True)
        attempts, status = _int(st, "attempts"), _int(st, "status_code")
        error = _error(st.get("error"))
    except InterchangeError as e:
        raise InterchangeError(f"{key}.{e}") from None
    if st["ok"] == (error is not None):
        raise InterchangeError(f"{key}.error: a step has an error exactly when ok is false")
    return StepResult(st["step"], offset or 0, elapsed or 0,
                      1 if attempts is None else attempts, status, st["ok"], error)


def from_interchange(doc: Any, services: dict[str, str] | None = None,
                     kinds: dict[str, str] | None = None,
                     locations: Collection[str] | None = None) -> ProbeResult:
    """Parse one interchange document.

    ``services`` maps target name to service; when given, the target must be
    known and the service comes from it (a line's own ``service`` must agree).
    ``kinds`` (target → kind) and ``locations``, when given, must agree too: an
    unknown location would otherwise become a new voter in every quorum.
    """
    if not isinstance(doc, dict):
        raise InterchangeError("expected a JSON object")
    for key in ("target", "location", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise InterchangeError(f"{key}: required string")
    target = doc["target"]
    service = doc.get("service")
    if services is not None:
        if target not in services:
            raise InterchangeError(f"target: unknown target {target!r}")
        if service is not None and service != services[target]:
            raise InterchangeError(
                f"service: {service!r} does not match the configured {services[target]!r}"
            )
        service = services[target]
    if not isinstance(service, str) or not service:
        raise InterchangeError("service: required string")
    if kinds is not None and kinds.get(target, doc["kind"]) != doc["kind"]:
        raise InterchangeError(f"kind: {doc['kind']!r} does not match the configured "
                               f"{kinds[target]!r}")
    if locations is not None and doc["location"] not in locations:
        raise InterchangeError(f"location: unknown location {doc['location']!r} (locations: "
                               f"{', '.join(locations)})")
    try:
        outcome = Outcome(str(doc.get("outcome")))
    except ValueError:
        raise InterchangeError(
            f"outcome: expected success|failure|unknown, got {doc.get('outcome')!r}"
        ) from None
    phases = doc.get("phases_ms") or {}
    if not isinstance(phases, dict):
        raise InterchangeError("phases_ms: expected an object")
    for name, v in phases.items():
        if name not in PHASES:
            raise InterchangeError(f"phases_ms.{name}: unknown phase")
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InterchangeError(f"phases_ms.{name}: expected a non-negative integer")
    rp = doc.get("recovery_point")
    ts_ms = parse_ts(doc.get("ts"))
    duration_ms = _int(doc, "duration_ms", required=True) or 0
    bound = _int(doc, "bound_exceeded_ms")
    if bound is not None and outcome is not Outcome.SUCCESS:
        raise InterchangeError("bound_exceeded_ms: only a success can exceed a performance "
                               f"bound, outcome is {outcome.value}")
    if bound is not None and duration_ms <= bound:
        raise InterchangeError(f"bound_exceeded_ms: {bound} ms is not exceeded by "
                               f"duration_ms {duration_ms}")
    return ProbeResult(
        ts_ms=ts_ms,
        target=target,
        service=service,
        location=doc["location"],
        kind=doc["kind"],
        outcome=outcome,
        duration_ms=duration_ms,
        phases_ms=dict(phases),
        status_code=_int(doc, "status_code"),
        bytes=_int(doc, "bytes"),
        error=_error(doc.get("error")),
        cert_expiry=_int(doc, "cert_expiry"),
        recovery_point_ms=None if rp is None else parse_ts(rp),
        connection=str(doc.get("connection", "cold")),
        duration_us=_int(doc, "duration_us"),
        bound_exceeded_ms=bound,
        steps=_steps(doc),
        vitals=_vitals(doc),
    )
