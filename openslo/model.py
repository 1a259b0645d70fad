"""OpenSLO ``openslo/v1`` documents as pydantic models, mirroring the rules of the
OpenSLO go-sdk (``pkg/openslo/v1``, the validator behind ``oslo validate``; the old
JSON schemas were removed upstream and were stale).

Every model refuses unknown keys.  The rules, each with the go-sdk's path:

- ``apiVersion`` is ``openslo/v1``; ``kind`` one of :data:`KINDS`;
- ``metadata.name`` an RFC 1123 label (≤ 63 lowercase letters, digits, ``-``);
  ``displayName`` ≤ 63; label keys and annotation keys as Kubernetes writes them;
- every ``description`` ≤ 1050 characters;
- SLO: ``service`` and ``budgetingMethod`` (Occurrences | Timeslices |
  RatioTimeslices) required; exactly one of ``indicator``/``indicatorRef`` on the
  spec, or on every objective (a composite SLO), never both; ``timeWindow`` exactly
  one item, rolling (``isRolling: true``, no ``calendar``) or calendar (``calendar``
  with ``startTime`` ``YYYY-MM-DD HH:MM:SS`` and an IANA ``timeZone``); objectives:
  ``target`` [0, 1) xor ``targetPercent`` [0, 100); Timeslices needs
  ``timeSliceTarget`` (0, 1] and ``timeSliceWindow``, RatioTimeslices
  ``timeSliceWindow``; with an inlined ``thresholdMetric`` SLI ``op`` and ``value``
  are required, with an inlined ``ratioMetric`` they are refused;
- SLI: ``thresholdMetric`` xor ``ratioMetric``; a ratio is ``total`` with exactly one
  of ``good``/``bad``, or ``raw`` with ``rawType`` (success | failure); each metric
  source has a non-empty ``spec``;
- AlertPolicy: exactly one condition (inline or ``conditionRef``) and at least one
  notification target (inline or ``targetRef``);
- AlertCondition: ``severity`` required; ``condition.kind`` burnrate with ``op``
  (gt | gte | lt | lte), ``threshold`` and ``lookbackWindow`` required;
- durations: a whole number and one of m h d w M Q Y (``1M``, ``28d``).

Where go-sdk's wording exists the message keeps it ("'calendar' must be set when
'isRolling' is false").  Numbers are read as :class:`~decimal.Decimal` through their
text, so ``0.999`` stays 0.999.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

API_VERSION = "openslo/v1"
KINDS = ("Service", "SLI", "SLO", "AlertPolicy", "AlertCondition", "AlertNotificationTarget",
         "DataSource")
DURATION_UNITS = "mhdwMQY"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^[a-zA-Z0-9]([-._a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
_ANNOTATION_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[a-zA-Z0-9]([-._a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
_ANNOTATION_LENGTH = re.compile(r"^(.{0,253}/)?.{0,63}$")
_DURATION = re.compile(r"^(\d+)([A-Za-z])$")


class Open(BaseModel):
    """An OpenSLO object: unknown keys refused, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- value types ------------------------------------------------------------------------


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"must be an RFC 1123 label (at most 63 lowercase letters, digits "
                         f"and '-', starting and ending with a letter or digit), got {value!r}")
    return value


def _max(n: int) -> Any:
    def check(value: str) -> str:
        if len(value) > n:
            raise ValueError(f"must be at most {n} characters, got {len(value)}")
        return value
    return AfterValidator(check)


def _number(value: object) -> object:
    """A number through its text (``0.999`` stays exact); no booleans or strings."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"expected a number, got {value!r}")
    return Decimal(str(value))


def _duration(value: object) -> str:
    """``12h``, ``4w``, ``1M``: a whole number and one unit of m h d w M Q Y."""
    text = value if isinstance(value, str) else ""
    m = _DURATION.match(text)
    if m is None or m.group(2) not in DURATION_UNITS:
        raise ValueError(f"invalid duration shorthand: {value!r}, expected [0-9]+[mhdwMQY]")
    return text


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def _date_time(value: object) -> str:
    # YAML reads an unquoted ``2022-01-01 12:00:00`` as a datetime: take it back as text.
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    text = value if isinstance(value, str) else ""
    try:
        datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ValueError(f"expected a date and time as YYYY-MM-DD HH:MM:SS (no zone), got "
                         f"{value!r}") from None
    return text


def _label_keys(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not _LABEL_KEY.match(key):
            raise ValueError(f"label key {key!r}: at most 63 letters, digits, '-', '_' or '.', "
                             "starting and ending with a letter or digit")
    return value


def _annotation_keys(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not (_ANNOTATION_LENGTH.match(key) and _ANNOTATION_KEY.match(key)):
            raise ValueError(f"annotation key {key!r}: an optional DNS prefix and '/', then a "
                             "name as a label key (e.g. my-domain.org/my-key)")
    return value


def _label_value(value: object) -> list[str]:
    """A label is one string or a list of strings (go-sdk reads both)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"expected a string or a list of strings, got {value!r}")


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Description = Annotated[str, _max(1050)]
Number = Annotated[Decimal, BeforeValidator(_number)]
Duration = Annotated[str, BeforeValidator(_duration)]
Operator = Literal["gt", "gte", "lt", "lte"]
LabelValue = Annotated[list[str], BeforeValidator(_label_value)]


def _exactly_one(data: Any, names: tuple[str, str], where: str = "") -> None:
    """go-sdk's MutuallyExclusive(required): one of the two keys, not both, not none."""
    if not isinstance(data, dict):
        return
    present = [n for n in names if data.get(n) is not None]
    if not present:
        raise ValueError(f"{where}one of {', '.join(names)} must be set")
    if len(present) > 1:
        raise ValueError(f"{where}{' and '.join(names)} are mutually exclusive: set only one")


# -- metadata ---------------------------------------------------------------------------


class Metadata(Open):
    name: DnsLabel
    displayName: Annotated[str, _max(63)] | None = None
    labels: Annotated[dict[str, LabelValue], AfterValidator(_label_keys)] = Field(
        default_factory=dict)
    annotations: Annotated[dict[str, str], AfterValidator(_annotation_keys)] = Field(
        default_factory=dict)


class Envelope(Open):
    """What every document has: ``apiVersion``, ``kind``, ``metadata``."""

    apiVersion: Literal["openslo/v1"]
    kind: str
    metadata: Metadata


# -- SLI --------------------------------------------------------------------------------


class MetricSource(Open):
    metricSourceRef: DnsLabel | None = None
    type: str | None = None
    spec: dict[str, Any]

    @model_validator(mode="after")
    def _spec(self) -> MetricSource:
        if not self.spec:
            raise ValueError("spec: must hold at least one key")
        return self


class MetricSpec(Open):
    metricSource: MetricSource


class RatioMetric(Open):
    counter: bool = False
    good: MetricSpec | None = None
    bad: MetricSpec | None = None
    total: MetricSpec | None = None
    rawType: Literal["success", "failure"] | None = None
    raw: MetricSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        _exactly_one(data, ("total", "raw"))
        given = [k for k in ("raw", "good", "bad") if data.get(k) is not None]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} are mutually exclusive: set only one")
        if data.get("total") is not None and not given:
            raise ValueError("one of good, bad must be set with total")
        if data.get("raw") is not None and data.get("rawType") is None:
            raise ValueError("rawType: required with raw (success or failure)")
        return data


class SLISpec(Open):
    description: Description = ""
    thresholdMetric: MetricSpec | None = None
    ratioMetric: RatioMetric | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_metric(cls, data: Any) -> Any:
        _exactly_one(data, ("thresholdMetric", "ratioMetric"))
        return data


class InlineSLI(Open):
    metadata: Metadata
    spec: SLISpec


# -- alerting ---------------------------------------------------------------------------


class Condition(Open):
    kind: Literal["burnrate"]
    op: Operator
    threshold: Number
    lookbackWindow: Duration
    alertAfter: Duration | None = None


class AlertConditionSpec(Open):
    description: Description = ""
    severity: Annotated[str, Field(min_length=1)]
    condition: Condition


class InlineCondition(Open):
    kind: Literal["AlertCondition"]
    metadata: Metadata
    spec: AlertConditionSpec


class ConditionRef(Open):
    conditionRef: DnsLabel


class NotificationTargetSpec(Open):
    description: Description = ""
    target: Annotated[str, Field(min_length=1)]


class InlineNotificationTarget(Open):
    kind: Literal["AlertNotificationTarget"]
    metadata: Metadata
    spec: NotificationTargetSpec


class NotificationTargetRef(Open):
    targetRef: DnsLabel


# Union members' tags: pydantic puts them in an error's location; the path drops them.
TAGS = ("inline", "ref")


def _not_both(ref: str) -> Any:
    """A list item is a reference (``ref`` alone) or an inlined object (``kind``,
    ``metadata``, ``spec``), never both: go-sdk names the inline one ``spec``."""
    def check(value: Any) -> Any:
        if isinstance(value, dict) and ref in value and "spec" in value:
            raise ValueError(f"{ref} and spec are mutually exclusive: set only one")
        return value
    return BeforeValidator(check)


def _tag(ref: str) -> Any:
    def tag(value: Any) -> str:
        return "ref" if isinstance(value, dict) and ref in value else "inline"
    return Discriminator(tag)


AlertPolicyCondition = Annotated[
    Annotated[InlineCondition, Tag("inline")] | Annotated[ConditionRef, Tag("ref")],
    _tag("conditionRef"), _not_both("conditionRef")]
AlertPolicyTarget = Annotated[
    Annotated[InlineNotificationTarget, Tag("inline")]
    | Annotated[NotificationTargetRef, Tag("ref")],
    _tag("targetRef"), _not_both("targetRef")]


class AlertPolicySpec(Open):
    description: Description = ""
    alertWhenNoData: bool = False
    alertWhenBreaching: bool = False
    alertWhenResolved: bool = False
    conditions: list[AlertPolicyCondition]
    notificationTargets: list[AlertPolicyTarget]

    @model_validator(mode="after")
    def _counts(self) -> AlertPolicySpec:
        if len(self.conditions) != 1:
            raise ValueError(f"conditions: must hold exactly one condition, got "
                             f"{len(self.conditions)}")
        if not self.notificationTargets:
            raise ValueError("notificationTargets: must hold at least one target")
        return self


class InlineAlertPolicy(Open):
    kind: Literal["AlertPolicy"]
    metadata: Metadata
    spec: AlertPolicySpec


class AlertPolicyRef(Open):
    alertPolicyRef: DnsLabel


SLOAlertPolicy = Annotated[
    Annotated[InlineAlertPolicy, Tag("inline")] | Annotated[AlertPolicyRef, Tag("ref")],
    _tag("alertPolicyRef"), _not_both("alertPolicyRef")]


# -- SLO --------------------------------------------------------------------------------


class Calendar(Open):
    startTime: Annotated[str, BeforeValidator(_date_time)]
    timeZone: Annotated[str, AfterValidator(_time_zone)]


class TimeWindow(Open):
    duration: Duration
    isRolling: bool = False
    calendar: Calendar | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TimeWindow:
        if self.isRolling and self.calendar is not None:
            raise ValueError("'calendar' cannot be set when 'isRolling' is true")
        if not self.isRolling and self.calendar is None:
            raise ValueError("'calendar' must be set when 'isRolling' is false")
        return self


class Objective(Open):
    displayName: str | None = None
    op: Operator | None = None
    value: Number | None = None
    target: Number | None = None
    targetPercent: Number | None = None
    timeSliceTarget: Number | None = None
    timeSliceWindow: Duration | None = None
    indicator: InlineSLI | None = None
    indicatorRef: DnsLabel | None = None
    compositeWeight: Number | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, data: Any) -> Any:
        _exactly_one(data, ("target", "targetPercent"))
        return data

    @model_validator(mode="after")
    def _ranges(self) -> Objective:
        if self.target is not None and not 0 <= self.target < 1:
            raise ValueError(f"target: must be at least 0 and below 1, got {self.target}")
        if self.targetPercent is not None and not 0 <= self.targetPercent < 100:
            raise ValueError(f"targetPercent: must be at least 0 and below 100, got "
                             f"{self.targetPercent}")
        if self.timeSliceTarget is not None and not 0 < self.timeSliceTarget <= 1:
            raise ValueError(f"timeSliceTarget: must be above 0 and at most 1, got "
                             f"{self.timeSliceTarget}")
        if self.compositeWeight is not None and self.compositeWeight <= 0:
            raise ValueError(f"compositeWeight: must be above 0, got {self.compositeWeight}")
        return self

    @property
    def composite(self) -> bool:
        return self.indicator is not None or self.indicatorRef is not None


class SLOSpec(Open):
    description: Description = ""
    service: Annotated[str, Field(min_length=1)]
    indicator: InlineSLI | None = None
    indicatorRef: DnsLabel | None = None
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    timeWindow: list[TimeWindow]
    objectives: list[Objective]
    alertPolicies: list[SLOAlertPolicy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self) -> SLOSpec:
        if len(self.timeWindow) != 1:
            raise ValueError(f"timeWindow: must hold exactly one item, got "
                             f"{len(self.timeWindow)}")
        if not self.objectives:
            raise ValueError("objectives: must hold at least one objective")
        self._indicator()
        for i, o in enumerate(self.objectives):
            self._slices(i, o)
            self._threshold(i, o)
        return self

    def _indicator(self) -> None:
        on_spec = self.indicator is not None or self.indicatorRef is not None
        composite = any(o.composite for o in self.objectives)
        where = ("'indicator' or 'indicatorRef' fields must either be defined on the 'spec' "
                 "level (standard SLOs) or on the 'spec.objectives[*]' level (composite SLOs)")
        if not on_spec and not composite:
            raise ValueError(f"{where}, but none were provided")
        if on_spec and composite:
            raise ValueError(f"{where}, but not both")
        if self.indicator is not None and self.indicatorRef is not None:
            raise ValueError("indicator and indicatorRef are mutually exclusive: set only one")
        for i, o in enumerate(self.objectives):
            if composite and (o.indicator is None) == (o.indicatorRef is None):
                raise ValueError(f"objectives[{i}]: exactly one of indicator, indicatorRef "
                                 "must be set on every objective of a composite SLO")

    def _slices(self, i: int, o: Objective) -> None:
        method = self.budgetingMethod
        if method == "Timeslices" and o.timeSliceTarget is None:
            raise ValueError(f"objectives[{i}].timeSliceTarget: required for budgetingMethod "
                             "Timeslices")
        if method in ("Timeslices", "RatioTimeslices") and o.timeSliceWindow is None:
            raise ValueError(f"objectives[{i}].timeSliceWindow: required for budgetingMethod "
                             f"{method}")

    def _threshold(self, i: int, o: Objective) -> None:
        """go-sdk checks ``op``/``value`` only against an inlined SLI (a referenced one is
        not known here); the importer checks the referenced case itself."""
        sli = self.indicator.spec if self.indicator is not None else None
        if sli is None:
            return
        if sli.thresholdMetric is not None:
            for key in ("value", "op"):
                if getattr(o, key) is None:
                    raise ValueError(f"objectives[{i}].{key}: required with a thresholdMetric "
                                     "SLI")
        elif o.value is not None or o.op is not None:
            key = "value" if o.value is not None else "op"
            raise ValueError(f"objectives[{i}].{key}: forbidden with a ratioMetric SLI")


# -- documents --------------------------------------------------------------------------


class ServiceSpec(Open):
    description: Description = ""


class DataSourceSpec(Open):
    description: Description = ""
    type: Annotated[str, Field(min_length=1)]
    connectionDetails: Any

    @model_validator(mode="after")
    def _details(self) -> DataSourceSpec:
        if self.connectionDetails is None:
            raise ValueError("connectionDetails: required")
        return self


class Service(Envelope):
    kind: Literal["Service"]
    spec: ServiceSpec = ServiceSpec()


class SLI(Envelope):
    kind: Literal["SLI"]
    spec: SLISpec


class SLO(Envelope):
    kind: Literal["SLO"]
    spec: SLOSpec


class AlertPolicy(Envelope):
    kind: Literal["AlertPolicy"]
    spec: AlertPolicySpec


class AlertCondition(Envelope):
    kind: Literal["AlertCondition"]
    spec: AlertConditionSpec


class AlertNotificationTarget(Envelope):
    kind: Literal["AlertNotificationTarget"]
    spec: NotificationTargetSpec


class DataSource(Envelope):
    kind: Literal["DataSource"]
    spec: DataSourceSpec


Document = Service | SLI | SLO | AlertPolicy | AlertCondition | AlertNotificationTarget | \
    DataSource
MODELS: dict[str, type[Envelope]] = {
    "Service": Service, "SLI": SLI, "SLO": SLO, "AlertPolicy": AlertPolicy,
    "AlertCondition": AlertCondition, "AlertNotificationTarget": AlertNotificationTarget,
    "DataSource": DataSource,
}
