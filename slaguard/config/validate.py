"""Semantic checks that need the whole document: references, orderings, limits.

Each check returns ``path: message`` strings; ``check`` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slaguard.config.schema import Config, FreshnessTarget, WebhookChannel
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


def _slos(cfg: Config) -> Iterator[str]:
    target_names = [t.name for t in cfg.targets]
    yield from _duplicates("slos", [s.name for s in cfg.slos], "name", "SLO name")
    for i, s in enumerate(cfg.slos):
        objectives = [x for x in (s.latency, s.freshness, s.restore_within) if x is not None]
        if len(objectives) != 1:
            yield f"slos[{i}]: set exactly one of latency, freshness, restore_within"
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
    yield from _unknown("incidents.escalation", cfg.incidents.escalation, cfg.channels, "channel")


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


CHECKS: tuple[Check, ...] = (
    _timezone, _scheduling, _locations, _targets, _slos, _maintenance, _incidents, _compensation,
    _tokens, _channels,
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
            if isinstance(t, FreshnessTarget) and t.backup_every and t.backup_every > s.freshness:
                every, rpo = format_duration(t.backup_every), format_duration(s.freshness)
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
