"""Configuration schema, version 1.

The user-facing contract is ``examples/slaguard.yaml``: every key there
keeps its name and meaning.  Types parse units at load time (durations become
``timedelta``, sizes ``int`` bytes, percents ``Decimal``); unknown keys are
rejected; ``kind`` discriminates targets and channels.  Cross-references are
checked afterwards in ``validate.py`` so that every error names its own path.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from slaguard.config.browser import BrowserTarget
from slaguard.config.capacity import Capacity
from slaguard.config.journey import JourneyTarget
from slaguard.config.objectives import WindowedObjective
from slaguard.config.support import SupportPolicy
from slaguard.config.types import (
    Bound,
    Duration,
    Expect,
    HostPort,
    Money,
    Name,
    Objective,
    OpenDuration,
    OpenPercent,
    Percent,
    Size,
    Strict,
    TargetBase,
    _percent_or_inf,
)


class HttpTarget(TargetBase):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    body: str | None = None
    follow_redirects: bool = True
    expect: Expect = Expect()


class UploadTarget(TargetBase):
    kind: Literal["upload"]
    size: Size = 10 * 2**20
    mode: Literal["multipart", "put"] = "multipart"
    method: Literal["POST", "PUT"] | None = None  # default: POST for multipart, PUT for put
    field: str = "file"
    filename: str = "slaguard-probe.bin"
    # The performance bound "10 MB in < 30 s": a slower upload that completes is a
    # success with ``bound_exceeded_ms`` (an upload-objective breach, never downtime).
    # "30s" or "< 30s" (the standard's "<30秒"): exactly 30 s is a breach; "<= 30s": not.
    max_duration: Bound | None = None
    expect: Expect = Expect()

    @property
    def http_method(self) -> str:
        return self.method or ("POST" if self.mode == "multipart" else "PUT")


class BackupKind(Strict):
    # incremental, full, ...: the derived target is ``<target>.<name>``.
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")]
    # Where the same endpoint dates this kind's newest completed backup.
    timestamp_field: str = Field(pattern=r"^\$(\.[^.]+)+$")
    # The schedule (每日增量: 1d, 每周全量: 7d): the newest one is at most this old ...
    every: Duration
    # ... plus this much slack before it counts as missed (an RPO risk).
    grace: Duration = timedelta(0)


class FreshnessTarget(TargetBase):
    kind: Literal["freshness"]
    timestamp_field: str = Field(pattern=r"^\$(\.[^.]+)+$")
    # How often the backup job runs (used to warn when it cannot meet the RPO).
    backup_every: Duration | None = None
    # Backup kinds this endpoint also reports, each on its own schedule: probed as
    # targets ``<name>.<kind>`` (not counted in availability), each with its own
    # freshness objective (age ≤ every + grace), reported and alerted.
    backups: list[BackupKind] = Field(default_factory=list)
    expect: Expect = Expect()


def backup_kind_target(t: FreshnessTarget, k: BackupKind) -> FreshnessTarget:
    """The target slaguard probes for one backup kind of ``t``: the same endpoint read
    at the kind's field, so the record keeps every kind's points."""
    return t.model_copy(update={"name": f"{t.name}.{k.name}", "timestamp_field": k.timestamp_field,
                                "backup_every": k.every, "backups": [], "availability": False})


AnyTarget = HttpTarget | UploadTarget | FreshnessTarget | BrowserTarget | JourneyTarget
Target = Annotated[AnyTarget, Field(discriminator="kind")]
TARGET_KINDS: dict[str, type[TargetBase]] = {
    "http": HttpTarget,
    "upload": UploadTarget,
    "freshness": FreshnessTarget,
    "browser": BrowserTarget,
    "journey": JourneyTarget,
}


# -- services, availability, SLOs, maintenance -------------------------------


class Service(Strict):
    title: str = ""
    availability: Objective
    # A service is down when any (default) or all of its availability targets are down.
    down_when: Literal["any", "all"] = "any"


class MaintenancePolicy(Strict):
    notice_working_days: Annotated[int, Field(ge=0)] = 7
    calendar: Literal["CN", "none"] = "CN"
    calendar_overrides: str | None = None
    counts_as: Literal["available", "exclude_from_period"] = "available"


Quorum = Literal["majority", "any", "all"] | Annotated[int, Field(ge=1)]


class AvailabilityPolicy(Strict):
    confirm: Annotated[int, Field(ge=1)] = 2
    quorum: Quorum = "majority"
    no_data: Literal["up", "down", "exclude"] = "up"
    maintenance: MaintenancePolicy = MaintenancePolicy()


_LATENCY_KEY = re.compile(r"^(mean|max|p\d{1,2}(\.\d+)?)$")


def _latency_keys(value: dict[str, timedelta]) -> dict[str, timedelta]:
    for key in value:
        if not _LATENCY_KEY.match(key):
            raise ValueError(f"unknown latency bound {key!r} (use mean, max or pNN)")
    return value


class SLO(Strict):
    name: Name
    targets: list[str] | None = None
    services: list[str] | None = None
    # Each bound states whether it is inclusive: "3s" or "< 3s" is met only below
    # 3 s (the standard's "<"); "<= 3s" at 3 s too.  So are freshness (RPO) and
    # restore_within (RTO).
    latency: Annotated[dict[str, Bound], AfterValidator(_latency_keys)] | None = None
    freshness: Bound | None = None
    restore_within: Bound | None = None
    # An OpenSLO-shaped objective over a window (rolling N days or the calendar
    # month), evaluated beside the month compensation uses (slo.rolling).
    objective: WindowedObjective | None = None


class MaintenanceWindow(Strict):
    id: Name
    services: list[str]
    start: datetime
    end: datetime
    announced: datetime | None = None
    title: str = ""


# -- incidents and channels ---------------------------------------------------


class EscalationStep(Strict):
    # Still unanswered this long after the incident opened: tell ``notify``.
    after: Duration
    notify: Annotated[list[str], Field(min_length=1)]


class PriorityPolicy(Strict):
    respond: Duration
    restore: Duration | None = None
    resolve: Duration | None = None
    escalate_after: Duration | None = None
    notify: list[str] = Field(default_factory=list)
    # This priority's own escalation chain (the standard: a P1 unanswered for 30 min
    # goes to the senior engineer).  Unset: the shared ``incidents.escalation``,
    # step n after n × ``escalate_after``.
    escalation: list[EscalationStep] | None = None


class Incidents(Strict):
    priorities: dict[Literal["P1", "P2", "P3", "P4"], PriorityPolicy] = Field(default_factory=dict)
    # One chain for every priority without its own ``escalation``: step n is told
    # after n × that priority's ``escalate_after``.
    escalation: list[str] = Field(default_factory=list)
    # How long a rule's condition must stay clear before its incident counts as
    # restored (flap damping: a breach meanwhile continues the same incident).
    restore_after: Duration = timedelta(minutes=5)
    # A restored incident raised by the rules or Alertmanager resolves by itself
    # this long after restoration; .inf: only a person resolves it.
    auto_resolve_after: OpenDuration = timedelta(hours=1)


class EmailChannel(Strict):
    kind: Literal["email"]
    smtp: Annotated[HostPort, Field(pattern=r"^[^:\s]+:\d+$")]
    # ssl: implicit TLS (465); starttls: upgrade (587); none: only for local tests.
    security: Literal["ssl", "starttls", "none"] | None = None
    from_: str = Field(alias="from")
    to: list[str]
    username: str | None = None
    password: str | None = None


class WebhookChannel(Strict):
    kind: Literal["webhook"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    secret: str | None = None  # HMAC-SHA256 signature header when set
    headers: dict[str, str] = Field(default_factory=dict)


class DingTalkChannel(Strict):
    kind: Literal["dingtalk"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    secret: str | None = None


class WeComChannel(Strict):
    kind: Literal["wecom"]
    url: Annotated[str, Field(pattern=r"^https?://")]


class FeishuChannel(Strict):
    kind: Literal["feishu"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    secret: str | None = None
    format: Literal["interactive", "text"] = "interactive"


class AlertmanagerChannel(Strict):
    kind: Literal["alertmanager"]
    url: Annotated[str, Field(pattern=r"^https?://")]


Channel = Annotated[
    EmailChannel | WebhookChannel | DingTalkChannel | WeComChannel | FeishuChannel
    | AlertmanagerChannel,
    Field(discriminator="kind"),
]
CHANNEL_KINDS = ("email", "webhook", "dingtalk", "wecom", "feishu", "alertmanager")


# -- compensation and customers ----------------------------------------------


class AvailabilityCredit(Strict):
    mode: Literal["tiered", "linear", "max"] = "tiered"
    # [lower bound %, credit %]: from the lower bound (inclusive) up to the next
    # higher bound or the objective (exclusive).
    tiers: list[tuple[Percent, Percent]] = Field(
        default_factory=lambda: [
            (Decimal("99.0"), Decimal(10)), (Decimal("95.0"), Decimal(25)),
            (Decimal("90.0"), Decimal(50)), (Decimal(0), Decimal(100)),
        ]
    )
    linear_factor: Decimal = Decimal(10)


class ResponseCredit(Strict):
    combine: Literal["worst", "sum"] = "worst"
    tiers: list[tuple[OpenPercent, Percent]] = Field(
        default_factory=lambda: [(Decimal(50), Decimal(5)), (Decimal(100), Decimal(10)),
                                 (None, Decimal(20))]
    )


class DataLossCredit(Strict):
    tiers: list[tuple[OpenDuration, Annotated[Decimal, BeforeValidator(_percent_or_inf)]]] = Field(
        default_factory=lambda: [(timedelta(hours=1), Decimal(50)),
                                 (timedelta(hours=24), Decimal(100)), (None, Decimal(300))]
    )
    # An incident of these priorities (or flagged data_corruption) whose ticket states
    # no loss lost the data since the newest recoverable backup point before it began.
    from_backups: list[Literal["P1", "P2", "P3", "P4"]] = Field(
        default_factory=lambda: ["P1"])  # type: ignore[arg-type]


class IncidentKindCredit(Strict):
    # 服务费补偿 for a month with such an incident, % of the month's fee (outside the
    # cap); the standard names it without a size, 10 % is slaguard's default.
    credit: Percent = Decimal(10)


class Compensation(Strict):
    policy_version: str = "1"
    currency: str = "CNY"
    availability: AvailabilityCredit = AvailabilityCredit()
    interruption: Literal["prorata", "none"] = "prorata"
    # The standard's 计划外中断 refund is unconditional, and a term the provider drafted
    # is read in the customer's favour (Civil Code art. 498): every month by default.
    interruption_refund: Literal["always", "when_objective_missed"] = "always"
    # Days after the month's last day within which a claim may be made (printed on
    # every statement with its deadline).
    claim_window_days: Annotated[int, Field(ge=1, le=3650)] = 60
    response: ResponseCredit = ResponseCredit()
    data_loss: DataLossCredit = DataLossCredit()
    # 数据损坏: free data recovery plus this fee credit; 安全事件: free hardening plus it.
    data_corruption: IncidentKindCredit = IncidentKindCredit()
    security: IncidentKindCredit = IncidentKindCredit()
    cap: Percent = Decimal(100)
    settlement: list[Literal["fee_reduction", "extension"]] = Field(
        default_factory=lambda: ["fee_reduction"]  # type: ignore[arg-type]
    )


class Customer(Strict):
    id: Name
    name: str
    monthly_fee: Money
    services: list[str]
    token: str | None = None
    contract: str | None = None


# -- the rest -------------------------------------------------------------------


class Storage(Strict):
    path: str = "data/slaguard.db"
    # While the record cannot commit (a full disk), results wait in memory up to this
    # many (about an hour at ~14 results/s, ~50 MB), then in spill_dir, then are
    # dropped and recorded as a gap.
    buffer_results: Annotated[int, Field(ge=1, le=10_000_000)] = 50_000
    # Where results beyond the memory buffer wait (fsynced JSONL), best on another
    # disk than `path`; unset: none.
    spill_dir: str | None = None


def _unset_if_empty(value: object) -> object:
    """``${VAR:-}`` left empty means unset."""
    return None if isinstance(value, str) and not value.strip() else value


def _public_url(value: object) -> object:
    """Empty (``${VAR:-}``) is unset; otherwise an http(s) base URL, a path allowed."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/?#]+[^\s?#]*$", value):
        raise ValueError(f"expected an http(s) base URL such as https://slaguard.example.com, "
                         f"got {value!r}")
    return value


class Server(Strict):
    listen: Annotated[HostPort, Field(pattern=r"^[^\s]*:\d+$")] = "127.0.0.1:9108"
    # Bearer token of staff: every read and every write, and the Alertmanager inbound
    # webhook.  Unset: no staff route answers (403), the public ones still do.
    api_token: str | None = None
    # Bearer token of staff who only read (incidents, results, SLOs, maintenance,
    # every customer's claims and statements, /metrics); writes stay refused.
    read_token: str | None = None
    # Bearer token a Prometheus scrape sends for /metrics (and nothing else);
    # `slaguard rules -o DIR` writes it into the scrape configuration.
    metrics_token: str | None = None
    # A second listener (host:port) for /metrics and /healthz only, without a token:
    # for a network only monitoring reaches.  Unset: none.
    internal_listen: Annotated[Annotated[HostPort, Field(pattern=r"^[^\s]*:\d+$")] | None,
                               BeforeValidator(_unset_if_empty)] = None
    # slaguard's public base URL, for links in notifications and the default of
    # `slaguard incidents --url`; unset or empty (${VAR:-}): built from `listen`.
    public_url: Annotated[str | None, BeforeValidator(_public_url)] = None

    @property
    def host(self) -> str:
        return host_port(self.listen)[0]

    @property
    def port(self) -> int:
        return host_port(self.listen)[1]


def host_port(listen: str) -> tuple[str, int]:
    """Where to bind for ``host:port`` (``[v6]:port`` too; an empty host: every address)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class PrometheusExporter(Strict):
    enabled: bool = True
    # Metric families left out of /metrics (fewer series per target), e.g.
    # slaguard_probe_duration_seconds.
    exclude: list[str] = Field(default_factory=list)


class InfluxDBExporter(Strict):
    enabled: bool = False
    url: str = "http://localhost:8086"
    org: str = ""
    bucket: str = ""
    token: str = ""


class Heartbeat(Strict):
    """slaguard's own dead man's switch: a URL called every `every` while probing,
    recording and evaluation are healthy; unset or empty: off."""
    url: Annotated[str | None, BeforeValidator(_unset_if_empty)] = None
    every: Duration = timedelta(seconds=60)
    timeout: Duration = timedelta(seconds=10)
    # Where Alertmanager sends the always-firing Watchdog alert of the generated
    # rules (a second check at the same service: Prometheus and Alertmanager are
    # alive); `slaguard rules -o DIR` writes it into alertmanager.yml.  Unset: the
    # Watchdog route ends in a receiver without a destination (fill it in).
    watchdog_url: Annotated[str | None, BeforeValidator(_unset_if_empty)] = None

    @model_validator(mode="after")
    def _check(self) -> Heartbeat:
        for name in ("url", "watchdog_url"):
            value = getattr(self, name)
            if value is not None and not re.match(r"^https?://[^\s/?#]+\S*$", value):
                raise ValueError(f"heartbeat.{name}: expected an http(s) URL such as "
                                 f"https://hc-ping.com/<uuid>, got {value!r}")
        if self.every < timedelta(seconds=1):
            raise ValueError("heartbeat.every must be at least 1s")
        if not timedelta(0) < self.timeout <= self.every:
            raise ValueError("heartbeat.timeout must be above 0 and at most heartbeat.every")
        return self


class Exporters(Strict):
    prometheus: PrometheusExporter = PrometheusExporter()
    influxdb: InfluxDBExporter = InfluxDBExporter()


class Scheduling(Strict):
    # Probes in flight at once; more would queue and distort each other's timing.
    max_concurrency: Annotated[int, Field(ge=1)] = 32
    # Probe worker processes.  Probes run apart from the store writer, the SLO
    # evaluation and the HTTP server, whose work would otherwise delay the event
    # loop every probe's clock runs on; more than one spreads probing over
    # cores.  0 runs the probes inside the main process.
    workers: Annotated[int, Field(ge=0, le=64)] = 1
    # A probe that starts later than this after its slot is recorded as a gap.
    misfire_grace: Duration = timedelta(seconds=5)
    # A URL this location must reach for its own results to be judged; when it
    # fails, results are `unknown`, never `failure`.
    self_check_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # How often this month's SLO figures (the /metrics gauges) are re-evaluated.
    evaluate_every: Duration = timedelta(seconds=60)


class Config(Strict):
    version: Literal[1]
    timezone: str = "Asia/Shanghai"
    storage: Storage = Storage()
    server: Server = Server()
    location: Name = "local"
    locations: list[str] | None = None
    scheduling: Scheduling = Scheduling()
    services: dict[str, Service]
    targets: list[Target] = Field(default_factory=list)
    availability: AvailabilityPolicy = AvailabilityPolicy()
    slos: list[SLO] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    incidents: Incidents = Incidents()
    channels: dict[str, Channel] = Field(default_factory=dict)
    compensation: Compensation = Compensation()
    customers: list[Customer] = Field(default_factory=list)
    support: SupportPolicy = SupportPolicy()
    exporters: Exporters = Exporters()
    heartbeat: Heartbeat = Heartbeat()
    capacity: Capacity = Capacity()

    @model_validator(mode="after")
    def _backup_kind_targets(self) -> Config:
        """Append one target per backup kind of each freshness target (see
        :func:`backup_kind_target`).  A copy already there (a re-validation) is kept
        once; a kind named twice, or whose name another target has, derives nothing:
        the checks refuse the file naming the kind."""
        names = {t.name for t in self.targets}
        new = []
        for t in self.targets:
            if not isinstance(t, FreshnessTarget):
                continue
            for k in t.backups:
                d = backup_kind_target(t, k)
                if d.name not in names:
                    names.add(d.name)
                    new.append(d)
        if new:
            object.__setattr__(self, "targets", [*self.targets, *new])
        return self

    @property
    def all_locations(self) -> list[str]:
        return list(self.locations or [self.location])

    def target(self, name: str) -> AnyTarget:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def target_services(self) -> dict[str, str]:
        return {t.name: t.service for t in self.targets}
