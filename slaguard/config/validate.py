"""Semantic checks that need the whole document: references, orderings, limits.

Each check returns ``path: message`` strings; ``check`` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from difflib import get_close_matches
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slaguard.config.capacity import capacity_errors
from slaguard.config.schema import (
    Config,
    FreshnessTarget,
    PriorityPolicy,
    WebhookChannel,
    backup_kind_target,
)
from slaguard.units import format_duration

Check = Callable[[Config], Iterator[str]]


def _unknown(path: str, names: Iterable[str], known: Iterable[str], what: str) -> Iterator[str]:
    known_set = set(known)
    for i, name in enumerate(names):
        if name not in known_set:
            yield f"{path}[{i}]: unknown {what} {name!r}"


def _duplicates(path: str, names: list[str], key: str, what: str) -> Iterator[str]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield f"{path}[{i}].{key}: duplicate {what} {name!r}"
        seen.add(name)


def _timezone(cfg: Config) -> Iterator[str]:
    try:
        ZoneInfo(cfg.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        yield f"timezone: unknown time zone {cfg.timezone!r}"


def _scheduling(cfg: Config) -> Iterator[str]:
    s = cfg.scheduling
    if s.evaluate_every < timedelta(seconds=1):
        yield "scheduling.evaluate_every: must be at least 1s"
    if s.misfire_grace < timedelta(milliseconds=100):
        yield "scheduling.misfire_grace: must be at least 100ms"


def _locations(cfg: Config) -> Iterator[str]:
    if cfg.locations is not None and cfg.location not in cfg.locations:
        yield f"location: {cfg.location!r} is not in locations"
    if isinstance(cfg.availability.quorum, int) and cfg.availability.quorum > len(
        cfg.all_locations
    ):
        yield (f"availability.quorum: {cfg.availability.quorum} is more than the "
               f"{len(cfg.all_locations)} locations")


def _targets(cfg: Config) -> Iterator[str]:
    yield from _duplicates("targets", [t.name for t in cfg.targets], "name", "target name")
    for i, t in enumerate(cfg.targets):
        if t.service not in cfg.services:
            yield f"targets[{i}].service: unknown service {t.service!r}"
        if t.timeout >= t.interval:
            yield f"targets[{i}].timeout: must be shorter than interval"
        if t.interval.total_seconds() < 1:
            yield f"targets[{i}].interval: must be at least 1s"
        if t.locations is not None:
            yield from _unknown(f"targets[{i}].locations", t.locations, cfg.all_locations,
                                "location")


def _backups(cfg: Config) -> Iterator[str]:
    """Backup kinds: each named once per target, not taken by another target's name,
    each on a schedule of at least 1s."""
    derived = [backup_kind_target(t, k) for t in cfg.targets if isinstance(t, FreshnessTarget)
               for k in t.backups]
    others = {t.name: i for i, t in enumerate(cfg.targets) if t not in derived}
    for i, t in enumerate(cfg.targets):
        if not isinstance(t, FreshnessTarget):
            continue
        yield from _duplicates(f"targets[{i}].backups", [k.name for k in t.backups], "name",
                               "backup kind")
        for j, k in enumerate(t.backups):
            name = f"{t.name}.{k.name}"
            if name in others:
                yield (f"targets[{i}].backups[{j}].name: {name!r} is the name of "
                       f"targets[{others[name]}]; rename one")
            if k.every < timedelta(seconds=1):
                yield f"targets[{i}].backups[{j}].every: must be at least 1s"


def _slos(cfg: Config) -> Iterator[str]:
    target_names = [t.name for t in cfg.targets]
    yield from _duplicates("slos", [s.name for s in cfg.slos], "name", "SLO name")
    for i, s in enumerate(cfg.slos):
        objectives = [x for x in (s.latency, s.freshness, s.restore_within, s.objective)
                      if x is not None]
        if len(objectives) != 1:
            yield f"slos[{i}]: set exactly one of latency, freshness, restore_within, objective"
        if s.targets is None and s.services is None:
            yield f"slos[{i}]: set targets or services"
        yield from _unknown(f"slos[{i}].targets", s.targets or [], target_names, "target")
        yield from _unknown(f"slos[{i}].services", s.services or [], cfg.services, "service")
        if s.freshness is not None:
            for j, name in enumerate(s.targets or []):
                if name in target_names and cfg.target(name).kind != "freshness":
                    yield f"slos[{i}].targets[{j}]: {name!r} is not a freshness target"


def _maintenance(cfg: Config) -> Iterator[str]:
    yield from _duplicates("maintenance", [m.id for m in cfg.maintenance], "id", "window id")
    for i, m in enumerate(cfg.maintenance):
        yield from _unknown(f"maintenance[{i}].services", m.services, cfg.services, "service")
        for key in ("start", "end", "announced"):
            v = getattr(m, key)
            if v is not None and v.tzinfo is None:
                yield f"maintenance[{i}].{key}: needs an offset, e.g. +08:00"
        if m.start.tzinfo and m.end.tzinfo and m.end <= m.start:
            yield f"maintenance[{i}].end: must be after start"


def _incidents(cfg: Config) -> Iterator[str]:
    for prio, p in cfg.incidents.priorities.items():
        yield from _unknown(f"incidents.priorities.{prio}.notify", p.notify, cfg.channels,
                            "channel")
        yield from _escalation_steps(cfg, f"incidents.priorities.{prio}", p)
    yield from _unknown("incidents.escalation", cfg.incidents.escalation, cfg.channels, "channel")


def _escalation_steps(cfg: Config, path: str, p: PriorityPolicy) -> Iterator[str]:
    """A priority's own chain: known channels, each step later than the one before,
    and no ``escalate_after`` that says otherwise about the first step."""
    if p.escalation is None:
        return
    previous: timedelta | None = None
    for i, step in enumerate(p.escalation):
        at = f"{path}.escalation[{i}]"
        yield from _unknown(f"{at}.notify", step.notify, cfg.channels, "channel")
        if step.after <= timedelta(0):
            yield f"{at}.after: must be longer than 0s"
        elif previous is not None and step.after <= previous:
            yield (f"{at}.after: must be later than the step before it "
                   f"({format_duration(previous)})")
        previous = step.after
    if p.escalate_after is not None and p.escalation and \
            p.escalate_after != p.escalation[0].after:
        yield (f"{path}.escalate_after: {format_duration(p.escalate_after)} disagrees with "
               f"escalation[0].after ({format_duration(p.escalation[0].after)}); "
               "drop one or make them equal")


def _has_userinfo(url: str) -> bool:
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:  # not a URL at all: the schema says so
        return False


def _one_authorization(path: str, url: str, headers: Iterable[str]) -> Iterator[str]:
    """aiohttp refuses a request carrying both (the URL's user:password@ becomes an
    Authorization header too): a webhook would fail every notification, a warm probe
    every probe, and a cold one would silently drop the header."""
    if not _has_userinfo(url):
        return
    for header in headers:
        if header.lower() == "authorization":
            yield (f"{path}.headers.{header}: cannot be combined with credentials in the "
                   "url (user:password@); keep one of them")


def _channels(cfg: Config) -> Iterator[str]:
    for name, ch in cfg.channels.items():
        if isinstance(ch, WebhookChannel):
            yield from _one_authorization(f"channels.{name}", ch.url, ch.headers)
    for i, t in enumerate(cfg.targets):
        yield from _one_authorization(f"targets[{i}]", t.url, t.headers)


def _descending(path: str, bounds: list[Any]) -> Iterator[str]:
    finite = [b for b in bounds if b is not None]
    if finite != sorted(finite, reverse=True):
        yield f"{path}: lower bounds must be in descending order"


def _ascending(path: str, bounds: list[Any]) -> Iterator[str]:
    if None in bounds[:-1]:
        yield f"{path}: only the last tier may be unbounded (.inf)"
    finite = [b for b in bounds if b is not None]
    if finite != sorted(finite) or len(set(finite)) != len(finite):
        yield f"{path}: upper bounds must be in ascending order"


def _compensation(cfg: Config) -> Iterator[str]:
    comp = cfg.compensation
    yield from _descending("compensation.availability.tiers",
                           [lo for lo, _ in comp.availability.tiers])
    yield from _ascending("compensation.response.tiers", [hi for hi, _ in comp.response.tiers])
    yield from _ascending("compensation.data_loss.tiers", [hi for hi, _ in comp.data_loss.tiers])
    yield from _duplicates("customers", [c.id for c in cfg.customers], "id", "customer id")
    for i, c in enumerate(cfg.customers):
        yield from _unknown(f"customers[{i}].services", c.services, cfg.services, "service")


def _principal_tokens(cfg: Config) -> Iterator[tuple[str, str]]:
    """(path, token) of every token that signs someone in: the server's (staff, and any
    other ``server.*token`` such as a scrape token) and each customer's; empty is off."""
    for name in type(cfg.server).model_fields:
        value = getattr(cfg.server, name)
        if name.endswith("token") and isinstance(value, str) and value.strip():
            yield f"server.{name}", value.strip()
    for i, c in enumerate(cfg.customers):
        if c.token and c.token.strip():
            yield f"customers[{i}].token", c.token.strip()


def _tokens(cfg: Config) -> Iterator[str]:
    """A token names exactly one principal: a customer's token equal to the staff token
    would make that customer staff.  The token itself is never echoed."""
    first: dict[str, str] = {}
    for path, token in _principal_tokens(cfg):
        if token in first:
            yield (f"{path}: the same token as {first[token]}; every token must be unique "
                   "(one token, one principal)")
        else:
            first[token] = path


# Every metric family slaguard's /metrics exports, by its ``# TYPE`` name (a counter's
# ends in _total): what ``exporters.prometheus.exclude`` may name.  The core cannot
# import the exporters, so the list lives here; tests/exporters/test_metrics_scale.py
# holds it equal to the families the collectors in exporters/ really define.
METRIC_FAMILIES = frozenset({
    # exporters.prometheus.ProbeCollector: per target × location
    "probe_success", "probe_duration_seconds", "probe_http_duration_seconds",
    "probe_http_status_code", "probe_ssl_earliest_cert_expiry",
    "slaguard_recovery_point_timestamp_seconds", "slaguard_upload_throughput_bytes_per_second",
    "slaguard_probe_last_timestamp_seconds", "slaguard_probe_results_total",
    "slaguard_probe_duration_seconds",
    # SloCollector
    "slaguard_rpo_age_seconds", "slaguard_slo_availability_ratio", "slaguard_slo_objective_ratio",
    "slaguard_slo_error_budget_remaining_ratio", "slaguard_slo_downtime_seconds",
    "slaguard_slo_gap_seconds", "slaguard_slo_coverage_ratio", "slaguard_slo_burn_rate",
    "slaguard_slo_burn_condition_firing", "slaguard_compensation_exposure_cny",
    "slaguard_slo_incidents", "slaguard_slo_incident_mtta_seconds",
    "slaguard_slo_incident_mttr_seconds", "slaguard_slo_incidents_late",
    "slaguard_slo_backup_age_seconds", "slaguard_slo_backup_max_age_seconds",
    "slaguard_slo_backup_missed",
    # SloCollector: windowed objectives (slos[].objective)
    "slaguard_slo_window_ratio", "slaguard_slo_window_objective_ratio",
    "slaguard_slo_window_error_budget_remaining_ratio", "slaguard_slo_window_burn_rate",
    "slaguard_slo_window_burn_alert_condition",
    # IncidentCollector, StoreCollector
    "slaguard_incidents_open", "slaguard_incident_mtta_seconds", "slaguard_incident_mttr_seconds",
    "slaguard_incident_response_breaches_total", "slaguard_store_uncommitted_results",
    "slaguard_store_dropped_results_total", "slaguard_store_commit_failing",
    # exporters.journey_metrics: per journey × location, and per step
    # exporters.browser_metrics (FAMILIES)
    "probe_browser_web_vital_ttfb", "probe_browser_web_vital_fcp",
    "probe_browser_web_vital_lcp", "probe_browser_web_vital_cls", "probe_browser_data_received",
    "slaguard_browser_page_load_seconds", "slaguard_browser_dom_content_loaded_seconds",
    "slaguard_browser_requests", "slaguard_browser_failed_requests",
    "probe_journey_success", "probe_journey_duration_seconds",
    "probe_journey_step_duration_seconds", "probe_journey_step_success",
    "probe_journey_step_attempts",
    # exporters.support_metrics
    "slaguard_support_checks", "slaguard_support_compliance_ratio",
    "slaguard_support_customer_checks", "slaguard_support_customer_compliance_ratio",
    # exporters.self_metrics
    "slaguard_probe_start_lateness_seconds", "slaguard_probes_skipped_total",
    "slaguard_worker_restarts_total", "slaguard_pipeline_queue_results",
    "slaguard_store_commit_duration_seconds", "slaguard_store_commit_failures_total",
    "slaguard_store_size_bytes", "slaguard_evaluation_duration_seconds",
    "slaguard_evaluation_failures_total", "slaguard_evaluation_last_success_timestamp_seconds",
    "slaguard_outbox_pending_notifications", "slaguard_outbox_oldest_pending_age_seconds",
    "slaguard_build_info", "slaguard_heartbeat_up", "slaguard_heartbeat_pings_total",
    # exporters.capacity_metrics: each capacity job's latest run
    "slaguard_capacity_running", "slaguard_capacity_last_run_timestamp_seconds",
    "slaguard_capacity_peak_users", "slaguard_capacity_error_ratio",
    "slaguard_capacity_endpoint_p95_seconds", "slaguard_capacity_endpoint_p95_threshold_seconds",
    "slaguard_capacity_endpoint_mean_seconds",
})


def _metric_families(cfg: Config) -> Iterator[str]:
    """``exporters.prometheus.exclude`` names families /metrics exports (a typo would
    silently exclude nothing)."""
    for i, name in enumerate(cfg.exporters.prometheus.exclude):
        if name not in METRIC_FAMILIES:
            near = get_close_matches(name, sorted(METRIC_FAMILIES), n=1, cutoff=0)
            yield (f"exporters.prometheus.exclude[{i}]: unknown metric family {name!r}; "
                   f"did you mean {near[0]!r}?")


CHECKS: tuple[Check, ...] = (
    _timezone, _scheduling, _locations, _targets, _backups, _slos, _maintenance, _incidents,
    _compensation, _tokens, _channels, _metric_families, capacity_errors,
)


def check(cfg: Config) -> list[str]:
    return [e for c in CHECKS for e in c(cfg)]


def warnings_for(cfg: Config) -> list[str]:
    """Things that are accepted but cannot work as promised."""
    out = []
    for i, s in enumerate(cfg.slos):
        if s.freshness is None:
            continue
        for name in s.targets or []:
            t = cfg.target(name)
            # The schedule: backup_every, else the most frequent backup kind.
            schedule = (t.backup_every or min((k.every for k in t.backups), default=None)
                        if isinstance(t, FreshnessTarget) else None)
            if schedule is not None and schedule > s.freshness:
                every, rpo = format_duration(schedule), format_duration(s.freshness)
                out.append(
                    f"slos[{i}].freshness: a backup every {every} cannot give an RPO below "
                    f"{rpo} (worst case ≈ {every} + backup duration); measure WAL archiving "
                    "or replication lag instead"
                )
            if t.interval > s.freshness:
                out.append(f"slos[{i}].freshness: target {name!r} is probed less often "
                           f"({format_duration(t.interval)}) than the objective "
                           f"({format_duration(s.freshness)})")
    return out
