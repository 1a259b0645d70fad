"""The evaluator's own policy types: small, frozen, pydantic-free.

``slaguard.policy.from_config`` fills them from ``slaguard.config.schema.Config``;
tests and other callers can build them directly.  Durations are integer
milliseconds and objectives ``Decimal`` percents, so nothing inexact enters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

QuorumRule = Literal["majority", "any", "all"] | int
NoDataPolicy = Literal["up", "down", "exclude"]
CountsAs = Literal["available", "exclude_from_period"]
DownWhen = Literal["any", "all"]

SLO_KINDS = ("latency", "freshness", "restore")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


@dataclass(frozen=True, slots=True)
class AvailabilityRules:
    confirm: int = 2
    quorum: QuorumRule = "majority"
    no_data: NoDataPolicy = "up"
    notice_working_days: int = 7
    calendar: str = "CN"
    counts_as: CountsAs = "available"

    def __post_init__(self) -> None:
        if self.confirm < 1:
            raise ValueError("confirm must be at least 1")
        if isinstance(self.quorum, int) and self.quorum < 1:
            raise ValueError("an integer quorum must be at least 1")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    service: str
    interval_ms: int
    kind: str = "http"
    availability: bool = True  # counts towards its service's availability


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    objective_percent: Decimal  # 99.9
    targets: tuple[str, ...] = ()  # availability targets
    down_when: DownWhen = "any"
    title: str = ""

    @property
    def objective(self) -> Fraction:
        """As an exact ratio: 99.9 % → 999/1000."""
        return Fraction(self.objective_percent) / 100

    @property
    def budget_ratio(self) -> Fraction:
        """1 − objective, exactly (0.001 for 99.9 %, never 0.0009999999999999432)."""
        return 1 - self.objective


@dataclass(frozen=True, slots=True)
class MaintenanceSpec:
    id: str
    services: tuple[str, ...]
    start_ms: int
    end_ms: int
    announced_ms: int | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class LatencyBound:
    key: str  # "mean", "max" or "pNN" / "pNN.N"
    limit_ms: int

    def __post_init__(self) -> None:
        if self.key not in ("mean", "max") and not _PERCENTILE.match(self.key):
            raise ValueError(f"unknown latency bound {self.key!r} (use mean, max or pNN)")

    @property
    def percentile(self) -> Fraction | None:
        """The percentile as an exact number (95 for p95), or None for mean/max."""
        m = _PERCENTILE.match(self.key)
        return Fraction(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class LatencyObjective:
    name: str
    targets: tuple[str, ...]
    bounds: tuple[LatencyBound, ...]


@dataclass(frozen=True, slots=True)
class FreshnessObjective:
    name: str
    targets: tuple[str, ...]
    max_age_ms: int


@dataclass(frozen=True, slots=True)
class RestoreObjective:
    name: str
    services: tuple[str, ...]
    within_ms: int


@dataclass(frozen=True, slots=True)
class Policy:
    timezone: str
    services: tuple[ServiceSpec, ...]
    targets: tuple[TargetSpec, ...]
    rules: AvailabilityRules = AvailabilityRules()
    maintenance: tuple[MaintenanceSpec, ...] = ()
    latency: tuple[LatencyObjective, ...] = ()
    freshness: tuple[FreshnessObjective, ...] = ()
    restore: tuple[RestoreObjective, ...] = ()

    def service(self, name: str) -> ServiceSpec:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def target(self, name: str) -> TargetSpec:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)

    def interval_ms(self, target: str) -> int:
        return self.target(target).interval_ms
