"""Burn rates over fixed windows ending at ``now`` and the multiwindow alert conditions.

The error ratio is *time-based*: the share of the window that was bad on the
same timeline the availability report uses (confirmation, quorum, maintenance
and the no_data policy included), in exact milliseconds.  So a 100 % outage
at 99.9 % makes the 1 h window of the 14.4 rule reach its threshold (1.44 %)
after exactly 51.84 s; the condition is strict (``>``), as in the SRE
workbook, so it fires only after that.

Conditions are data (severity, factor, windows, rates, firing) for alerting
to act on; nothing here sends anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from slo.availability import account
from slo.intervals import IntervalSet
from slo.model import AvailabilityRules, ServiceSpec
from slo.timeline import ServiceTimeline

_MIN = 60_000
WINDOWS: dict[str, int] = {
    "5m": 5 * _MIN, "30m": 30 * _MIN, "1h": 60 * _MIN, "2h": 120 * _MIN,
    "6h": 360 * _MIN, "1d": 1440 * _MIN, "3d": 3 * 1440 * _MIN,
}


@dataclass(frozen=True, slots=True)
class BurnRule:
    severity: str  # "page" or "ticket"
    factor: Decimal
    long_window: str
    short_window: str


# SRE workbook table 5-8 for a 30-day budget, with Sloth's 1 d tier.
DEFAULT_RULES: tuple[BurnRule, ...] = (
    BurnRule("page", Decimal("14.4"), "1h", "5m"),
    BurnRule("page", Decimal(6), "6h", "30m"),
    BurnRule("ticket", Decimal(3), "1d", "2h"),
    BurnRule("ticket", Decimal(1), "3d", "6h"),
)


@dataclass(frozen=True, slots=True)
class BurnWindow:
    name: str
    window_ms: int
    bad_ms: int
    counted_ms: int  # window less excluded time: the denominator
    error_ratio: Fraction
    burn_rate: Fraction | None  # None when the objective is 100 % (no budget)


@dataclass(frozen=True, slots=True)
class BurnCondition:
    severity: str
    factor: Decimal
    long_window: str
    short_window: str
    threshold: Fraction  # error ratio to exceed: factor × (1 − objective)
    long_burn_rate: Fraction | None
    short_burn_rate: Fraction | None
    firing: bool


@dataclass(frozen=True, slots=True)
class BurnReport:
    service: str
    objective_percent: Decimal
    now_ms: int
    windows: tuple[BurnWindow, ...]
    conditions: tuple[BurnCondition, ...]

    @property
    def firing(self) -> tuple[BurnCondition, ...]:
        return tuple(c for c in self.conditions if c.firing)

    def window(self, name: str) -> BurnWindow:
        for w in self.windows:
            if w.name == name:
                return w
        raise KeyError(name)


def burn_window(tl: ServiceTimeline, service: ServiceSpec, name: str, window_ms: int,
                now_ms: int, maintenance: IntervalSet, rules: AvailabilityRules) -> BurnWindow:
    acc = account(tl, now_ms - window_ms, now_ms, maintenance, rules)
    ratio = acc.error_ratio()
    budget = service.budget_ratio
    rate = ratio / budget if budget > 0 else None
    return BurnWindow(name, window_ms, acc.bad.total(), acc.span_ms - acc.excluded.total(),
                      ratio, rate)


def _condition(rule: BurnRule, by_name: dict[str, BurnWindow], budget: Fraction) -> BurnCondition:
    threshold = Fraction(rule.factor) * budget
    lw, sw = by_name[rule.long_window], by_name[rule.short_window]
    firing = lw.error_ratio > threshold and sw.error_ratio > threshold
    return BurnCondition(rule.severity, rule.factor, rule.long_window, rule.short_window,
                         threshold, lw.burn_rate, sw.burn_rate, firing)


def burn_report(tl: ServiceTimeline, service: ServiceSpec, now_ms: int, maintenance: IntervalSet,
                rules: AvailabilityRules, burn_rules: Sequence[BurnRule] = DEFAULT_RULES,
                windows: dict[str, int] | None = None) -> BurnReport:
    """Every window's burn rate at ``now_ms`` and each rule's verdict.

    ``tl`` must cover ``[now − longest window, now)``.
    """
    wins = WINDOWS if windows is None else windows
    computed = tuple(burn_window(tl, service, n, ms, now_ms, maintenance, rules)
                     for n, ms in wins.items())
    by_name = {w.name: w for w in computed}
    conds = tuple(_condition(r, by_name, service.budget_ratio) for r in burn_rules)
    return BurnReport(service.name, service.objective_percent, now_ms, computed, conds)


def budget_consumed(burn_rate: Fraction | Decimal | int, window_ms: int,
                    period_ms: int) -> Fraction:
    """Share of a period's budget used by burning at ``burn_rate`` for ``window_ms``."""
    return Fraction(burn_rate) * window_ms / period_ms


def time_to_exhaustion_ms(burn_rate: Fraction | Decimal | int, period_ms: int) -> Fraction:
    return period_ms / Fraction(burn_rate)


def factor_for(budget_share: Fraction | Decimal, window_ms: int, period_ms: int) -> Fraction:
    """Burn rate that consumes ``budget_share`` of the budget in ``window_ms``."""
    return Fraction(budget_share) * period_ms / window_ms
