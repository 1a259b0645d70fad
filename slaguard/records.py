"""Records evaluation cannot use, kept out of it: one check per record kind.

A record written by an older version, by hand or by a bug (a maintenance window
ending 9999-12-31, an incident restored in year 1) must not stop every SLO
evaluation, the status page and the statements.  As Prometheus's TSDB skips a
corrupt chunk and goes on, each kind is checked here once, before anything pure
sees it: the usable records go on, the others are returned as ``Rejected`` with
the reason.  ``RecordGuard`` remembers what is currently rejected, logs each
record once (not every evaluation round) and lets the runtime raise
slaguard's own alert for them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from slaguard.domain import MAX_INSTANT_MS, MIN_INSTANT_MS
from slo.compensation import IncidentRecord
from slo.model import MaintenanceSpec

log = logging.getLogger(__name__)
T = TypeVar("T")

MAINTENANCE = "maintenance"
CONFIGURED_MAINTENANCE = "configured maintenance"
INCIDENT = "incident"
MAX_ID = 200  # longer ids are not an id slaguard wrote
MAX_DATA_LOST_S = 10 * 366 * 86_400  # data lost longer than ten years is no fact


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record left out of evaluation: its kind, id and why."""

    kind: str
    id: str
    reason: str

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.id

    def __str__(self) -> str:
        return f"{self.kind} {self.id!r}: {self.reason}"


def shown_id(value: Any) -> str:
    return value[:MAX_ID] if isinstance(value, str) else repr(value)[:MAX_ID]


def _instant(value: Any, key: str, optional: bool = False) -> str | None:
    """Why ``value`` is not an instant slaguard keeps (2000–2100), or None."""
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{key}: expected epoch milliseconds, got {type(value).__name__}"
    if not MIN_INSTANT_MS <= value < MAX_INSTANT_MS:
        return f"{key}: {value} lies outside 2000-01-01..2100-01-01 (UTC)"
    return None


def _id_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        return f"id: expected a non-empty string of at most {MAX_ID} characters"
    return None


def _names(value: Any, key: str, allow_empty: bool) -> str | None:
    if not isinstance(value, tuple | list) or (not value and not allow_empty) or not all(
            isinstance(s, str) and s for s in value):
        return f"{key}: expected a list of names"
    return None


def maintenance_problem(w: Any) -> str | None:
    """Why a maintenance window cannot be evaluated, or None when it can."""
    if not isinstance(w, MaintenanceSpec):
        return f"expected a maintenance window, got {type(w).__name__}"
    problem = (_id_problem(w.id) or _names(w.services, "services", False)
               or _instant(w.start_ms, "start") or _instant(w.end_ms, "end")
               or _instant(w.announced_ms, "announced", optional=True))
    if problem is None and w.end_ms <= w.start_ms:
        problem = "end: must be after the start"
    if problem is None and not isinstance(w.title, str):
        problem = f"title: expected a string, got {type(w.title).__name__}"
    return problem


def incident_problem(i: Any, priorities: Collection[str]) -> str | None:
    """Why an incident cannot count in a statement, or None when it can."""
    if not isinstance(i, IncidentRecord):
        return f"expected an incident, got {type(i).__name__}"
    problem = (_id_problem(i.id) or _instant(i.opened_ms, "opened")
               or _instant(i.responded_ms, "responded", optional=True)
               or _instant(i.restored_ms, "restored", optional=True)
               or _instant(i.resolved_ms, "resolved", optional=True)
               or _names(i.services, "services", True))
    if problem is None and i.priority not in priorities:
        problem = f"priority: {str(i.priority)[:20]!r} is none of {', '.join(sorted(priorities))}"
    if problem is None and (not isinstance(i.data_lost_seconds, int)
                            or not 0 <= i.data_lost_seconds <= MAX_DATA_LOST_S):
        problem = "data_lost_seconds: expected whole seconds between 0 and ten years"
    return problem


def usable_maintenance(records: Iterable[Any], kind: str = MAINTENANCE
                       ) -> tuple[list[MaintenanceSpec], list[Rejected]]:
    """The windows evaluation can use, and the others (as ``kind``) with the reason."""
    usable: list[MaintenanceSpec] = []
    rejected: list[Rejected] = []
    for w in records:
        problem = maintenance_problem(w)
        if problem is None:
            usable.append(w)
        else:
            rejected.append(Rejected(kind, shown_id(getattr(w, "id", None)), problem))
    return usable, rejected


def usable_incidents(records: Iterable[Any], priorities: Collection[str]
                     ) -> tuple[list[IncidentRecord], list[Rejected]]:
    """The incidents a statement can count, and the others with the reason."""
    usable: list[IncidentRecord] = []
    rejected: list[Rejected] = []
    for i in records:
        problem = incident_problem(i, priorities)
        if problem is None:
            usable.append(i)
        else:
            rejected.append(Rejected(INCIDENT, shown_id(getattr(i, "id", None)), problem))
    return usable, rejected


def usable_timed(records: Iterable[T], kind: str, required: tuple[str, ...] = ("opened_ms",),
                 optional: tuple[str, ...] = ("responded_ms", "restored_ms", "resolved_ms")
                 ) -> tuple[list[T], list[Rejected]]:
    """Records of any type (an incident as the alerting record keeps it) whose instants
    (attributes ``*_ms``) can be shown and counted, and the others with the reason."""
    usable: list[T] = []
    rejected: list[Rejected] = []
    for r in records:
        problem = next((p for p in (
            *(_instant(getattr(r, f, None), f.removesuffix("_ms")) for f in required),
            *(_instant(getattr(r, f, None), f.removesuffix("_ms"), optional=True)
              for f in optional)) if p is not None), None)
        if problem is None:
            usable.append(r)
        else:
            name = getattr(r, "public_id", getattr(r, "id", None))
            rejected.append(Rejected(kind, shown_id(name), problem))
    return usable, rejected


class RecordGuard:
    """What is left out right now, each record logged once when first left out.

    ``update(kind, scope, rejected)``: every record of ``kind`` in ``scope`` (all of
    them, or one period's incidents) was just checked, and ``rejected`` are those
    that cannot be used; what that scope rejected before is replaced, so a record
    corrected or deleted is usable again.  Thread-safe: handlers evaluate in threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes: dict[tuple[str, str], tuple[Rejected, ...]] = {}

    def _all(self) -> set[Rejected]:
        return {r for rs in self._scopes.values() for r in rs}

    def update(self, kind: str, scope: str, rejected: Iterable[Rejected]) -> None:
        with self._lock:
            before = self._all()
            self._scopes[(kind, scope)] = tuple(rejected)
            if not self._scopes[(kind, scope)]:
                del self._scopes[(kind, scope)]
            after = self._all()
        for r in sorted(after - before, key=lambda r: r.key):
            log.warning("left out of evaluation: %s; evaluation goes on without it "
                        "(correct or delete the record)", r)
        for r in sorted(before - after, key=lambda r: r.key):
            log.warning("usable again (corrected or deleted): %s %r", r.kind, r.id)

    def current(self) -> list[Rejected]:
        """Every record left out now, by kind and id."""
        with self._lock:
            return sorted(self._all(), key=lambda r: (r.key, r.reason))
