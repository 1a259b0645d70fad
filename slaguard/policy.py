"""The adapters from ``slaguard.config.schema.Config`` to ``slo``'s pure policies:
the evaluator's (``from_config``) and compensation's (``compensation_policy``).

``slo`` works on the small frozen dataclasses of ``slo.model`` and
``slo.compensation`` and never sees the configuration; this module only reads
attributes.
Durations become integer milliseconds, datetimes exact epoch milliseconds
(a naive datetime is read in the configured time zone).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slo.compensation import CompensationPolicy
from slo.model import (
    SLO_KINDS,
    AvailabilityRules,
    BackupKindSpec,
    FreshnessObjective,
    LatencyBound,
    LatencyObjective,
    MaintenanceSpec,
    Policy,
    PriorityStandard,
    RestoreObjective,
    ServiceSpec,
    TargetSpec,
)
from slo.periods import to_ms

if TYPE_CHECKING:
    from slaguard.config.schema import SLO, Config


def inclusive(td: timedelta) -> bool:
    """Is a configured bound met at its limit?  ``slaguard.config.schema.Bound`` values
    say so; a plain ``timedelta`` follows the standard's "<" (strict)."""
    return bool(getattr(td, "inclusive", False))

_MS = timedelta(milliseconds=1)


def duration_ms(td: timedelta) -> int:
    return td // _MS


def instant_ms(dt: datetime, tz: str) -> int:
    return to_ms(dt if dt.tzinfo is not None else dt.replace(tzinfo=ZoneInfo(tz)))


def _rules(cfg: Config) -> AvailabilityRules:
    a = cfg.availability
    return AvailabilityRules(
        confirm=a.confirm, quorum=a.quorum, no_data=a.no_data,
        notice_working_days=a.maintenance.notice_working_days,
        calendar=a.maintenance.calendar, counts_as=a.maintenance.counts_as,
    )


def _targets(cfg: Config) -> tuple[TargetSpec, ...]:
    return tuple(TargetSpec(t.name, t.service, duration_ms(t.interval), t.kind, t.availability)
                 for t in cfg.targets)


def _services(cfg: Config) -> tuple[ServiceSpec, ...]:
    return tuple(
        ServiceSpec(name, s.availability,
                    tuple(t.name for t in cfg.targets if t.service == name and t.availability),
                    s.down_when, s.title)
        for name, s in cfg.services.items()
    )


def _maintenance(cfg: Config) -> tuple[MaintenanceSpec, ...]:
    tz = cfg.timezone
    return tuple(
        MaintenanceSpec(m.id, tuple(m.services), instant_ms(m.start, tz), instant_ms(m.end, tz),
                        None if m.announced is None else instant_ms(m.announced, tz), m.title)
        for m in cfg.maintenance
    )


def _slo_targets(cfg: Config, slo: SLO, kinds: Iterable[str] | None = None) -> tuple[str, ...]:
    """An SLO's targets: listed ones, else those of its services (of the given kinds)."""
    if slo.targets is not None:
        return tuple(slo.targets)
    services = set(slo.services or ())
    allowed = set(kinds) if kinds is not None else None
    return tuple(t.name for t in cfg.targets
                 if t.service in services and (allowed is None or t.kind in allowed))


def _latency_targets(cfg: Config, slo: SLO) -> tuple[str, ...]:
    """A latency SLO's targets.  Listed targets are taken as listed.  Chosen by service,
    a service with a browser target contributes its browser targets alone: the
    standard's page objectives (mean < 3 s, p95 < 5 s) are about a page as a customer
    loads it (``kind: browser``, whose figure is the navigation's duration), not one
    HTTP fetch of its HTML.  A service without one contributes every target, as
    before.  (An API objective lists its targets, as the reference configuration's
    ``api-latency`` does.)"""
    if slo.targets is not None:
        return tuple(slo.targets)
    chosen = set(_slo_targets(cfg, slo))
    with_browser = {t.service for t in cfg.targets if t.kind == "browser" and t.name in chosen}
    return tuple(t.name for t in cfg.targets if t.name in chosen
                 and (t.service not in with_browser or t.kind == "browser"))


def _slo_services(cfg: Config, slo: SLO) -> tuple[str, ...]:
    if slo.services is not None:
        return tuple(slo.services)
    by_target = cfg.target_services
    return tuple(dict.fromkeys(by_target[t] for t in slo.targets or () if t in by_target))


def _objectives(cfg: Config) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {k: [] for k in SLO_KINDS}
    for s in cfg.slos:
        if s.latency is not None:
            bounds = tuple(LatencyBound(k, duration_ms(v), inclusive(v))
                           for k, v in s.latency.items())
            out["latency"].append(LatencyObjective(s.name, _latency_targets(cfg, s), bounds))
        if s.freshness is not None:
            out["freshness"].append(FreshnessObjective(
                s.name, _slo_targets(cfg, s, ("freshness",)), duration_ms(s.freshness),
                inclusive(s.freshness)))
        if s.restore_within is not None:
            out["restore"].append(RestoreObjective(
                s.name, _slo_services(cfg, s), duration_ms(s.restore_within),
                inclusive(s.restore_within)))
    return out


def _backup_kinds(cfg: Config) -> tuple[BackupKindSpec, ...]:
    return tuple(BackupKindSpec(f"{t.name}.{k.name}", t.name, k.name, duration_ms(k.every),
                                duration_ms(k.grace))
                 for t in cfg.targets if t.kind == "freshness" for k in getattr(t, "backups", ()))


def _standards(cfg: Config) -> tuple[PriorityStandard, ...]:
    def ms(td: timedelta | None) -> int | None:
        return None if td is None else duration_ms(td)

    return tuple(PriorityStandard(p, ms(x.respond), ms(x.restore), ms(x.resolve))
                 for p, x in sorted(cfg.incidents.priorities.items()))


def from_config(cfg: Config) -> Policy:
    """The evaluator's policy for a loaded, validated configuration."""
    objectives = _objectives(cfg)
    kinds = _backup_kinds(cfg)
    # Each backup kind is a freshness objective of its own: "at most every + grace old".
    objectives["freshness"] += [FreshnessObjective(k.target, (k.target,), k.max_age_ms, True)
                                for k in kinds]
    return Policy(
        timezone=cfg.timezone,
        services=_services(cfg),
        targets=_targets(cfg),
        rules=_rules(cfg),
        maintenance=_maintenance(cfg),
        latency=tuple(objectives["latency"]),
        freshness=tuple(objectives["freshness"]),
        restore=tuple(objectives["restore"]),
        incident_standards=_standards(cfg),
        backup_kinds=kinds,
    )


def compensation_policy(cfg: Config) -> CompensationPolicy:
    """The pure policy from a loaded configuration (attributes only: no pydantic here)."""
    c = cfg.compensation
    return CompensationPolicy(
        policy_version=c.policy_version,
        currency=c.currency,
        mode=c.availability.mode,
        availability_tiers=tuple((lo, pct) for lo, pct in c.availability.tiers),
        linear_factor=c.availability.linear_factor,
        interruption=c.interruption,
        interruption_refund=c.interruption_refund,
        claim_window_days=c.claim_window_days,
        response_combine=c.response.combine,
        response_tiers=tuple(c.response.tiers),
        respond_ms={p: int(v.respond.total_seconds()) * 1000
                    for p, v in cfg.incidents.priorities.items()},
        restore_ms={p: duration_ms(v.restore) for p, v in cfg.incidents.priorities.items()
                    if v.restore is not None},
        resolve_ms={p: duration_ms(v.resolve) for p, v in cfg.incidents.priorities.items()
                    if v.resolve is not None},
        data_loss_tiers=tuple((None if b is None else int(b.total_seconds()), pct)
                              for b, pct in c.data_loss.tiers),
        cap_percent=c.cap,
        settlement=tuple(c.settlement),
        data_corruption_percent=c.data_corruption.credit,
        security_percent=c.security.credit,
        data_loss_from_backups=tuple(c.data_loss.from_backups),
    )
