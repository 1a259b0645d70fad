"""Builders for the compensation tests: availabilities, incidents and a policy."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from slo.availability import Availability
from slo.compensation import CompensationPolicy, IncidentRecord

FEE = Decimal("10000.00")
SEPT = 30 * 86_400  # a 30-day month in seconds (43 200 min)
MIN = 60
HOUR = 3600
H_MS = 3_600_000
T0 = 1_788_192_000_000  # 2026-09-01T00:00:00+08:00


def down(seconds: int, objective: str = "99.9", period: int = SEPT,
         service: str = "core") -> Availability:
    """A complete month with ``seconds`` of downtime."""
    a = 1 - Fraction(seconds, period)
    return Availability(service, Decimal(objective), period, period, 0, seconds, 0, 0,
                        Fraction(1), a, a >= Fraction(Decimal(objective)) / 100,
                        Fraction(0), None, (), 0)


def at_percent(percent: str, objective: str = "99.9", service: str = "core") -> Availability:
    """A month whose exact availability is ``percent`` (downtime rounded to seconds)."""
    a = Fraction(Decimal(percent)) / 100
    seconds = int((1 - a) * SEPT)
    return Availability(service, Decimal(objective), SEPT, SEPT, 0, seconds, 0, 0, Fraction(1),
                        a, a >= Fraction(Decimal(objective)) / 100, Fraction(0), None, (), 0)


def policy(**kw: object) -> CompensationPolicy:
    base: dict[str, object] = {"respond_ms": {"P1": 15 * 60_000, "P2": 30 * 60_000,
                                              "P3": 4 * H_MS, "P4": 8 * H_MS}}
    base.update(kw)
    return CompensationPolicy(**base)  # type: ignore[arg-type]


def late(response_s: int, priority: str = "P3", id_: str = "INC-1", lost_s: int = 0
         ) -> IncidentRecord:
    """An incident opened at T0 and answered ``response_s`` later (P3: 4 h standard here)."""
    return IncidentRecord(id_, priority, T0, T0 + response_s * 1000, data_lost_seconds=lost_s)
