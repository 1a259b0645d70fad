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


def within_bound(value: int | Fraction, limit: int, inclusive: bool) -> bool:
    """Does ``value`` meet a bound of ``limit``?  The standard writes its performance
    and recovery bounds with "<" (平均 <3秒, RPO <1小时): a value exactly at a strict
    bound is *not* met.  ``inclusive`` bounds ("≤") are met at the limit."""
    return value <= limit if inclusive else value < limit


def comparison(inclusive: bool) -> str:
    """The operator a bound is printed with: ``<`` (strict) or ``≤`` (inclusive)."""
    return "≤" if inclusive else "<"


def largest_within_ms(limit_ms: int, inclusive: bool) -> int:
    """The largest whole number of milliseconds that meets the bound: ``limit`` for
    ``≤``, ``limit − 1`` for ``<`` (durations are integer ms, so ``> this`` is
    exactly "breaks the bound")."""
    return limit_ms if inclusive else limit_ms - 1


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
    # False: met only below the limit (the standard's "<"); True: at it too ("≤").
    inclusive: bool = False

    def __post_init__(self) -> None:
        if self.key not in ("mean", "max") and not _PERCENTILE.match(self.key):
            raise ValueError(f"unknown latency bound {self.key!r} (use mean, max or pNN)")

    @property
    def percentile(self) -> Fraction | None:
        """The percentile as an exact number (95 for p95), or None for mean/max."""
        m = _PERCENTILE.match(self.key)
        return Fraction(m.group(1)) if m else None

    @property
    def comparison(self) -> str:
        """As the report prints it: ``"< 3000 ms"``."""
        return f"{comparison(self.inclusive)} {self.limit_ms} ms"

    @property
    def largest_within_ms(self) -> int:
        """Results above this many ms break the bound."""
        return largest_within_ms(self.limit_ms, self.inclusive)

    def holds(self, value: Fraction | int) -> bool:
        return within_bound(value, self.limit_ms, self.inclusive)


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
    inclusive: bool = False  # RPO < 1 h: an age of exactly 1 h breaches


@dataclass(frozen=True, slots=True)
class RestoreObjective:
    name: str
    services: tuple[str, ...]
    within_ms: int
    inclusive: bool = False  # RTO < 4 h: restored after exactly 4 h is late


@dataclass(frozen=True, slots=True)
class BackupKindSpec:
    """One backup kind a freshness endpoint reports (每日增量 / 每周全量): probed as its
    own target; its newest point is due ``every`` after the last and missed past
    ``grace`` more."""

    target: str  # the derived target, "<parent>.<kind>"
    parent: str
    kind: str
    every_ms: int
    grace_ms: int = 0

    @property
    def max_age_ms(self) -> int:
        return self.every_ms + self.grace_ms


CLOCKS = ("respond", "restore", "resolve")


@dataclass(frozen=True, slots=True)
class PriorityStandard:
    """One priority's incident promises in ms (None: the standard sets no such clock)."""

    priority: str
    respond_ms: int | None = None
    restore_ms: int | None = None
    resolve_ms: int | None = None

    def of(self, clock: str) -> int | None:
        if clock not in CLOCKS:
            raise KeyError(clock)
        value: int | None = getattr(self, f"{clock}_ms")
        return value


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
    # Incident clocks per priority (incidents.priorities): the report's incidents section.
    incident_standards: tuple[PriorityStandard, ...] = ()
    backup_kinds: tuple[BackupKindSpec, ...] = ()
    # slos[].objective: windowed objectives beside the month (slo.rolling).
    windowed: tuple[WindowedSpec, ...] = ()

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


# -- windowed objectives (slos[].objective; evaluated by slo.rolling) -----------------

Sli = Literal["availability", "latency"]
Budgeting = Literal["occurrences", "timeslices", "ratio_timeslices"]
BurnOp = Literal["gt", "gte", "lt", "lte"]


@dataclass(frozen=True, slots=True)
class BurnAlertSpec:
    """An objective's burn-rate alert: firing while ``burn rate <op> threshold`` has
    held for ``alert_after_ms`` (OpenSLO AlertCondition kind burnrate)."""

    name: str
    severity: str  # "page" or "ticket"
    threshold: Decimal
    op: BurnOp
    lookback_ms: int
    alert_after_ms: int = 0

    def holds(self, burn_rate: Fraction) -> bool:
        t = Fraction(self.threshold)
        return {"gt": burn_rate > t, "gte": burn_rate >= t,
                "lt": burn_rate < t, "lte": burn_rate <= t}[self.op]


@dataclass(frozen=True, slots=True)
class WindowedSpec:
    """One SLO's windowed objective, as plain data.  ``window_ms`` None: the calendar
    month (in the policy's time zone); ``slice_ms``: the timeslice length (timeslices
    and ratio_timeslices); ``slice_target_percent``: timeslices only."""

    name: str  # the SLO's name
    targets: tuple[str, ...]
    sli: Sli
    target_percent: Decimal
    window_ms: int | None
    budgeting: Budgeting = "occurrences"
    threshold_ms: int | None = None  # latency only
    inclusive: bool = False  # the latency threshold is met at its limit too ("<=")
    slice_ms: int | None = None
    slice_target_percent: Decimal | None = None
    burn_alerts: tuple[BurnAlertSpec, ...] = ()
    services: tuple[str, ...] = ()  # the targets' services (labels, incidents)

    def __post_init__(self) -> None:
        if (self.sli == "latency") != (self.threshold_ms is not None):
            raise ValueError(f"{self.name}: a threshold is for sli latency only, and needed there")
        if (self.budgeting == "occurrences") != (self.slice_ms is None):
            raise ValueError(f"{self.name}: slice_ms is for timeslice budgeting only")
        if (self.budgeting == "timeslices") != (self.slice_target_percent is not None):
            raise ValueError(f"{self.name}: slice_target_percent is for timeslices only")

    @property
    def target(self) -> Fraction:
        return Fraction(self.target_percent) / 100

    @property
    def budget_ratio(self) -> Fraction:
        """1 − target, exactly."""
        return 1 - self.target

    @property
    def window_label(self) -> str:
        """``28d``, ``1h`` … or ``1M`` (the calendar month): the ``window`` label of
        the gauges."""
        return "1M" if self.window_ms is None else duration_label(self.window_ms)


def duration_label(ms: int) -> str:
    """``28d``, ``6h``, ``90m``: the largest of d, h, m, s that divides ``ms``."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
