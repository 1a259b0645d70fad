"""``capacity:``: load tests run on purpose (the capacity job, package ``capacity``).

A job is Locust, headless, in its own processes, against the requests named here
(HTTP/upload targets by name, journey targets whose steps each user runs in order,
and/or explicit requests), with a closed-model profile
(users, spawn rate, hold, think time, ramp down), thresholds that decide its verdict,
abort rules that stop it early, a cron schedule in the configuration's time zone
inside the off-peak hours (or on demand only) and a maximum duration.  Every host a
job touches must be in ``allow_hosts``: a capacity job is aimed, never sprayed.

What needs the whole document (the targets a job names, their hosts) is checked by
:func:`capacity_errors`, one of the configuration's checks (``validate.CHECKS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from slaguard.config.types import Bound, Duration, HostPort, Name, Percent, Strict
from slaguard.units import format_duration

_HOURS = re.compile(r"^([0-9]{2}):([0-9]{2})\s*-\s*([0-9]{2}):([0-9]{2})$")
# Target kinds a capacity job can load: an http or upload target's request, a
# journey's steps (each an endpoint ``journey/step``: capacity.locustfile).
LOADABLE_KINDS = ("http", "upload", "journey")


def _cron(value: str) -> str:
    """Five fields, minute first, as crontab(5); refused with the field that is wrong."""
    try:
        CronTrigger.from_crontab(value)
    except ValueError as e:
        raise ValueError(f"not a cron expression {value!r} (minute hour day month weekday): "
                         f"{e}") from None
    return value


def _hours(value: object) -> str:
    """``"00:00-06:00"`` (from counted, to not); a window over midnight such as
    ``"22:00-06:00"`` is allowed."""
    m = _HOURS.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"expected HH:MM-HH:MM such as \"00:00-06:00\", got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2) or (h1, m1) == (h2, m2):
        raise ValueError(f"{value!r}: two different times of day between 00:00 and 24:00")
    return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


def _positive_decimal(value: object) -> Decimal:
    if isinstance(value, float):  # 8.3 from YAML: keep the digits as written
        value = repr(value)
    try:
        d = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"not a number: {value!r}") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"must be a number above 0, got {value!r}")
    return d


Cron = Annotated[str, AfterValidator(_cron)]
Hours = Annotated[str, BeforeValidator(_hours)]
Positive = Annotated[Decimal, BeforeValidator(_positive_decimal)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/?#]+")]


class CapacityRequest(Strict):
    """One request a simulated user makes, by its own URL (beside targets by name)."""
    name: Name
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    # How often a user picks this request relative to the others (targets weigh 1).
    weight: Annotated[int, Field(ge=1, le=1000)] = 1
    # Statuses that count as success; unset: any status below 400 (Locust's rule).
    status: list[Annotated[int, Field(ge=100, le=599)]] | None = None
    timeout: Duration = timedelta(seconds=30)


class Profile(Strict):
    """The closed model: ``users`` concurrent users, each waiting ``think_min`` to
    ``think_max`` between requests (the standard's 5 000 users think 5–15 s)."""
    users: Annotated[int, Field(ge=1, le=1_000_000)]
    # Users started (and, ramping down, stopped) per second.
    spawn_rate: Positive = Decimal(10)
    # How long every user stays once all have started.
    hold: Duration
    think_min: Duration = timedelta(seconds=5)
    think_max: Duration = timedelta(seconds=15)
    # Users leave over this long at the end (0: all at once).
    ramp_down: Duration = timedelta(0)

    @model_validator(mode="after")
    def _think(self) -> Profile:
        if self.think_min > self.think_max:
            raise ValueError("think_min: must be at most think_max")
        return self

    @property
    def ramp_up_s(self) -> Decimal:
        return Decimal(self.users) / self.spawn_rate

    @property
    def planned(self) -> timedelta:
        """Ramp up + hold + ramp down: how long the profile runs."""
        ramp_ms = int((self.ramp_up_s * 1000).to_integral_value(ROUND_CEILING))
        return timedelta(milliseconds=ramp_ms) + self.hold + self.ramp_down


class EndpointThresholds(Strict):
    # "1s" or "< 1s": met only below it; "<= 1s": at it too.
    p95: Bound | None = None
    mean: Bound | None = None


class Thresholds(Strict):
    """What a run must show to pass.  ``p95`` and ``mean`` apply to every endpoint
    (each request by its name) unless ``endpoints`` names its own."""
    # The share of failed requests over the whole run, at most this (1% passes 1.000 %).
    error_rate: Percent = Decimal(1)
    p95: Bound | None = None
    mean: Bound | None = None
    endpoints: dict[str, EndpointThresholds] = Field(default_factory=dict)

    def for_endpoint(self, name: str) -> EndpointThresholds:
        own = self.endpoints.get(name)
        return EndpointThresholds(
            p95=own.p95 if own and own.p95 is not None else self.p95,
            mean=own.mean if own and own.mean is not None else self.mean)


class AbortRules(Strict):
    """Stop a run early, with the reason recorded as ``aborted_by``."""
    # Errors above this share of requests in the last ``for``: stop (null: never).
    error_rate: Percent | None = Decimal(5)
    # An endpoint's p95 above this many times its p95 threshold for ``for``: stop.
    p95_factor: Positive | None = Decimal(3)
    for_: Duration = Field(default=timedelta(seconds=60), alias="for")


class CapacityJob(Strict):
    name: Name
    # Targets by name: an http or upload target's request (URL, method, headers, body),
    # a journey's steps in order (each step an endpoint "journey/step").
    targets: list[str] = Field(default_factory=list)
    requests: list[CapacityRequest] = Field(default_factory=list)
    profile: Profile
    thresholds: Thresholds = Thresholds()
    abort: AbortRules = AbortRules()
    # Cron (minute hour day month weekday) in the configuration's time zone, inside
    # capacity.off_peak; null: on demand only (slaguard capacity run NAME, the API).
    schedule: Cron | None = None
    # A run still going this long after it started is stopped (aborted_by says so).
    max_duration: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _shape(self) -> CapacityJob:
        if not self.targets and not self.requests:
            raise ValueError("give targets or requests (what the users do)")
        if self.max_duration < self.profile.planned:
            raise ValueError(f"max_duration: {format_duration(self.max_duration)} is shorter "
                             f"than the profile ({format_duration(self.profile.planned)}: "
                             "ramp up, hold and ramp down)")
        return self


class Generator(Strict):
    """The load processes on this machine."""
    # Locust worker processes beside the master: auto, one per core; 0: a single process.
    workers: Literal["auto"] | Annotated[int, Field(ge=0, le=256)] = "auto"
    # A load process above this CPU share for ``saturated_for`` makes the run invalid
    # (a saturated generator measures itself, not the platform).
    max_cpu: Percent = Decimal(90)
    saturated_for: Duration = timedelta(seconds=10)


class Distributed(Strict):
    """Locust's distributed mode: this machine runs the master (and ``generator.workers``
    local workers); ``expected_workers`` more connect from other machines
    (``locust --worker --master-host THIS``) before the run starts."""
    master_bind: Annotated[HostPort, Field(pattern=r"^[^\s]*:\d+$")] = "0.0.0.0:5557"
    expected_workers: Annotated[int, Field(ge=1, le=1000)]
    # How long to wait for them; fewer by then: the run does not start.
    wait_for_workers: Duration = timedelta(minutes=2)


class Capacity(Strict):
    # true: no run starts, and a running one stops within 5 s (the file is re-read).
    kill_switch: bool = False
    # The hosts (host or host:port) a job may touch; anything else is refused.
    allow_hosts: list[str] = Field(default_factory=list)
    # Scheduled runs start only in these hours (local, the configuration's time zone).
    off_peak: Hours = "00:00-06:00"
    generator: Generator = Generator()
    distributed: Distributed | None = None
    jobs: list[CapacityJob] = Field(default_factory=list)

    def job(self, name: str) -> CapacityJob:
        for j in self.jobs:
            if j.name == name:
                return j
        raise KeyError(name)


# -- checks that need the whole configuration --------------------------------------------


class _Target(Protocol):
    name: str
    kind: str
    url: str


class _Config(Protocol):
    timezone: str
    capacity: Capacity

    @property
    def targets(self) -> Sequence[Any]: ...


def host_of(url: str) -> str:
    """``host:port`` of a URL, the port written out (80 or 443 by scheme)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed(url: str, allow_hosts: Sequence[str]) -> bool:
    """Whether ``url``'s host is allowed: an entry ``host`` allows every port of it,
    ``host:port`` that port only (names compared without case)."""
    where = host_of(url).lower()
    host = where.rsplit(":", 1)[0].strip("[]")
    for entry in allow_hosts:
        e = entry.lower().strip()
        if e == where or e.strip("[]") == host:
            return True
    return False


def _fires_in(cron: str, off_peak: str, tz: str) -> Iterator[datetime]:
    """Start times of ``cron`` over four weeks that fall outside ``off_peak``."""
    zone = ZoneInfo(tz)
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    start, end = off_peak.split("-")
    lo, hi = int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:])
    at = datetime(2026, 1, 5, tzinfo=zone)
    stop = at + timedelta(days=28)
    for _ in range(10_000):  # every minute of a day is 1 440 starts: more is a month
        fire = trigger.get_next_fire_time(None, at)
        if fire is None or fire >= stop:
            return
        minute = fire.hour * 60 + fire.minute
        if not (lo <= minute < hi if lo < hi else (minute >= lo or minute < hi)):
            yield fire
        at = fire + timedelta(minutes=1)


def endpoint_names(target: Any, name: str) -> list[str]:
    """A target's rows in a run's record: its name, or a journey's ``name/step`` each."""
    if target is not None and target.kind == "journey":
        return [f"{name}/{s.id}" for s in target.steps]
    return [name]


def _step_urls(target: Any) -> Iterator[tuple[str, str]]:
    """(``steps[2].request.url``, URL) of a journey's step URLs written absolute (a URL
    starting with a template is checked when the load runs, against the same list)."""
    for i, s in enumerate(getattr(target, "steps", None) or []):
        for where, req in (("request", s.request), ("poll.request", s.poll and s.poll.request)):
            if req is not None and req.url.lower().startswith(("http://", "https://")):
                yield f"steps[{i}].{where}.url", req.url


def _job_errors(cfg: _Config, i: int, job: CapacityJob) -> Iterator[str]:
    cap, path = cfg.capacity, f"capacity.jobs[{i}]"
    by_name = {t.name: t for t in cfg.targets}
    for k, name in enumerate(job.targets):
        t = by_name.get(name)
        if t is None:
            yield f"{path}.targets[{k}]: unknown target {name!r}"
        elif t.kind not in LOADABLE_KINDS:
            yield (f"{path}.targets[{k}]: target {name!r} is kind {t.kind}; a capacity job "
                   f"loads {', '.join(LOADABLE_KINDS[:-1])} and {LOADABLE_KINDS[-1]} targets")
        elif not allowed(t.url, cap.allow_hosts):
            yield (f"{path}.targets[{k}]: {host_of(t.url)} (target {name!r}) is not in "
                   "capacity.allow_hosts")
        else:
            for where, url in _step_urls(t):
                if not allowed(url, cap.allow_hosts):
                    yield (f"{path}.targets[{k}]: {host_of(url)} (target {name!r} {where}) "
                           "is not in capacity.allow_hosts")
    for k, r in enumerate(job.requests):
        if not allowed(r.url, cap.allow_hosts):
            yield f"{path}.requests[{k}].url: {host_of(r.url)} is not in capacity.allow_hosts"
    names = [n for name in job.targets for n in endpoint_names(by_name.get(name), name)]
    names += [r.name for r in job.requests]
    for k, r in enumerate(job.requests):
        if names.count(r.name) > 1:
            yield f"{path}.requests[{k}].name: {r.name!r} names another request of this job"
    for name in job.thresholds.endpoints:
        if name not in names:
            yield (f"{path}.thresholds.endpoints.{name}: not a request of this job "
                   f"({', '.join(names)})")
    if job.schedule is not None:
        try:
            late = next(_fires_in(job.schedule, cap.off_peak, cfg.timezone), None)
        except ZoneInfoNotFoundError:
            return  # the timezone check names it
        if late is not None:
            yield (f"{path}.schedule: starts at {late:%H:%M} ({cfg.timezone}), outside "
                   f"capacity.off_peak {cap.off_peak}")


def capacity_errors(cfg: _Config) -> Iterator[str]:
    """``path: message`` for what the models alone cannot judge."""
    capacity = cfg.capacity
    seen: set[str] = set()
    for i, job in enumerate(capacity.jobs):
        if job.name in seen:
            yield f"capacity.jobs[{i}].name: duplicate job name {job.name!r}"
        seen.add(job.name)
        yield from _job_errors(cfg, i, job)
