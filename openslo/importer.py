"""OpenSLO ``openslo/v1`` → slaguard configuration.

What maps (anything else is refused, naming the document and the field):

- an SLO whose SLI reads slaguard's own results: ``metricSource.type: slaguard`` (or a
  ``metricSourceRef`` to a DataSource of that type) with ``spec``
  ``{target | service: NAME or [NAMES], sli: availability | latency, threshold}``:
  a ``ratioMetric`` (``good`` or ``bad`` over ``total``, which counts the same results)
  of availability, or of latency with a ``threshold`` (``"< 3s"``; ``"<= 3s"``
  inclusive); or a ``thresholdMetric`` of latency whose objective's ``op`` (lt, lte) and
  ``value`` (milliseconds) are the threshold.  Without target or service the SLI reads
  the SLO's ``service``;
- ``timeWindow`` rolling ``Nm/Nh/Nd/Nw`` → ``window: N…``; calendar ``1M`` starting on a
  1st at 00:00:00 in the configuration's own ``timezone`` → ``window: 1M`` (the month
  compensation uses; another zone is refused);
- ``budgetingMethod`` Occurrences | Timeslices (``timeSliceWindow``, ``timeSliceTarget``)
  | RatioTimeslices (``timeSliceWindow``) → ``budgeting``;
- each objective's ``target``/``targetPercent`` → ``target`` (an SLO with n > 1
  objectives gives n entries, ``NAME-1`` … ``NAME-n``);
- each AlertPolicy (inline or ``alertPolicyRef``) with its burn-rate condition (inline
  or ``conditionRef``) → ``burn_alerts`` (severity page | ticket; the condition's name).
  Notification targets are not imported: slaguard routes by severity through
  ``incidents.priorities``.

Each SLO becomes a ``slos[]`` entry whose ``objective`` is a
:class:`~slaguard.config.objectives.WindowedObjective`.  The SLO's ``service`` must be a
service of the configuration (an import never adds services).

Documents written by :mod:`openslo.exporter` carry ``slaguard.io/*`` annotations that
take them back to where they came from (``slaguard.io/source``: a service's monthly
availability, a latency bound, a windowed objective; ``slaguard.io/name``: a name RFC
1123 cannot hold; ``slaguard.io/slos`` on a Service: bounds OpenSLO cannot express), so
that importing an export gives the configuration back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from openslo import model as m
from openslo.documents import Doc, Problems, errors_of, parse, read_file
from slaguard.config.objectives import WindowedObjective
from slaguard.config.schema import SLO as SlaguardSLO
from slaguard.config.schema import Config
from slaguard.config.schema import Service as SlaguardService
from slaguard.config.types import parse_bound

ANNOTATION = "slaguard.io/"
SOURCE, NAME, SLOS, DOWN_WHEN = (f"{ANNOTATION}{k}" for k in ("source", "name", "slos",
                                                               "down-when"))
_BUDGETING = {"Occurrences": "occurrences", "Timeslices": "timeslices",
              "RatioTimeslices": "ratio_timeslices"}
_NO_ROLLING = {"M": "months", "Q": "quarters", "Y": "years"}
_BOUND_SOURCE = re.compile(r"^slos\.(.+)\.latency\.(p\d{1,2}(?:\.\d+)?)$")
_ALERT = re.compile(r"^\[(\d+)\] [^:]+: (.*)$")


@dataclass(frozen=True)
class Indicator:
    """What an SLI counts, in slaguard's terms."""

    form: Literal["ratio", "threshold"]
    sli: str
    threshold: str | None
    selection: dict[str, list[str]]  # {"targets": [...]} or {"services": [...]} or {}


@dataclass
class Imported:
    """The configuration an OpenSLO set maps to: ``services`` entries (only from a
    slaguard export: a service's monthly objective) and ``slos`` entries, as YAML
    dicts in the configuration's own words, and one summary line per document."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    slos: list[dict[str, Any]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)


class SourceSpec(BaseModel):
    """``metricSource.spec`` of a slaguard metric source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    target: str | list[str] | None = None
    service: str | list[str] | None = None
    sli: Literal["availability", "latency"] | None = None
    threshold: str | None = None
    location: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> SourceSpec:
        if self.target is not None and self.service is not None:
            raise ValueError("target and service are mutually exclusive: set only one")
        if self.location is not None:
            raise ValueError("location: not supported: an objective counts every location "
                             "(availability.quorum decides how they combine)")
        if self.threshold is not None:
            try:
                parse_bound(self.threshold)
            except ValueError as e:
                raise ValueError(f"threshold: {e}") from None
        return self

    @property
    def selection(self) -> dict[str, list[str]]:
        for key in ("target", "service"):
            value = getattr(self, key)
            if value is not None:
                return {f"{key}s": [value] if isinstance(value, str) else list(value)}
        return {}


# -- helpers ----------------------------------------------------------------------------


def percent(d: Decimal) -> str:
    """``99.9%`` for 99.9 (never ``99.900%`` or ``1E+2%``)."""
    return f"{format(d.normalize(), 'f')}%"


def _name(obj: m.Metadata) -> str:
    """The slaguard name: the one an export kept aside, else the OpenSLO name."""
    return obj.annotations.get(NAME, obj.name)


def _clean(value: Any) -> Any:
    """A model dump without None, empty lists and a zero ``alert_after``."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()
                if v is not None and v != [] and not (k == "alert_after" and v == "0ms")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def slo_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the configuration writes it (what validation made of it)."""
    return dict(_clean(SlaguardSLO.model_validate(entry).model_dump(mode="json")))


# -- the import -------------------------------------------------------------------------


@dataclass
class _Set:
    """The documents of an import, by kind and name, and where problems go."""

    cfg: Config
    problems: Problems
    docs: list[Doc]
    by_kind: dict[str, dict[str, Doc]] = field(default_factory=dict)
    indicators: dict[str, Indicator | None] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: dict[str, Doc] = field(default_factory=dict)
    out: Imported = field(default_factory=Imported)

    def index(self) -> None:
        for doc in self.docs:
            if doc.model is None:
                continue
            same = self.by_kind.setdefault(doc.kind, {})
            if doc.name in same:
                first = same[doc.name]
                where = "" if first.file == doc.file else f"{first.file} "
                self.problems.at(doc, "metadata.name", f"another {doc.kind} has this name "
                                 f"({where}document {first.index})")
                continue
            same[doc.name] = doc

    def get(self, kind: str, name: str) -> Doc | None:
        return self.by_kind.get(kind, {}).get(name)


def import_files(paths: list[str], cfg: Config) -> Imported:
    return import_texts([(p, read_file(p)) for p in paths], cfg)


def import_texts(files: list[tuple[str, str]], cfg: Config) -> Imported:
    """The configuration the documents map to; :class:`OpenSLOError` listing every
    document and field that cannot be taken in."""
    problems = Problems()
    docs = [d for name, text in files for d in parse(name, text, problems)]
    s = _Set(cfg, problems, docs)
    s.index()
    for doc in docs:
        _take(s, doc)
    _finish(s)
    problems.raise_any()
    return s.out


def validate_texts(files: list[tuple[str, str]]) -> int:
    """The number of documents; :class:`OpenSLOError` for any the go-sdk's rules refuse."""
    problems = Problems()
    docs = [d for name, text in files for d in parse(name, text, problems)]
    problems.raise_any()
    return len(docs)


def _take(s: _Set, doc: Doc) -> None:
    obj = doc.model
    if isinstance(obj, m.DataSource):
        if obj.spec.type != "slaguard":
            s.problems.at(doc, "spec.type", "only slaguard is supported (slaguard evaluates "
                          f"its own results), got {obj.spec.type!r}")
    elif isinstance(obj, m.Service):
        _service(s, doc, obj)
    elif isinstance(obj, m.SLI):
        _indicator_doc(s, obj.metadata.name)
    elif isinstance(obj, m.SLO):
        _slo(s, doc, obj)
    elif isinstance(obj, m.AlertNotificationTarget):
        s.out.summary.append(f"{doc.label}: not imported (slaguard routes burn alerts by "
                             "severity through incidents.priorities)")


# -- services ---------------------------------------------------------------------------


def _service(s: _Set, doc: Doc, obj: m.Service) -> None:
    name = _name(obj.metadata)
    if name not in s.cfg.services:
        s.problems.at(doc, "metadata.name", f"unknown service {name!r} (services: "
                      f"{', '.join(s.cfg.services)}); add it to the main configuration first")
        return
    raw = obj.metadata.annotations.get(SLOS)
    if raw is None:
        return
    path = f"metadata.annotations.{SLOS}"
    try:
        carried = json.loads(raw)
    except json.JSONDecodeError as e:
        s.problems.at(doc, path, f"not JSON: {e.msg} at character {e.pos}")
        return
    if not isinstance(carried, list) or not all(isinstance(x, dict) and isinstance(
            x.get("name"), str) for x in carried):
        s.problems.at(doc, path, "expected a JSON list of SLO entries, each with a name")
        return
    for entry in carried:
        _merge(s, doc, path, entry)


def _service_of(s: _Set, name: str) -> str:
    """The slaguard name of the service an SLO's ``spec.service`` names."""
    doc = s.get("Service", name)
    return _name(doc.model.metadata) if doc is not None and doc.model is not None else name


# -- SLIs -------------------------------------------------------------------------------


def _indicator_doc(s: _Set, name: str) -> Indicator | None:
    """The SLI document ``name`` as an :class:`Indicator` (its problems reported on it,
    once)."""
    if name not in s.indicators:
        doc = s.get("SLI", name)
        obj = doc.model if doc is not None else None
        s.indicators[name] = (_indicator(s, doc, "spec", obj.spec)
                              if doc is not None and isinstance(obj, m.SLI) else None)
    return s.indicators[name]


def _indicator(s: _Set, doc: Doc, path: str, spec: m.SLISpec) -> Indicator | None:
    if spec.thresholdMetric is not None:
        src = _source(s, doc, f"{path}.thresholdMetric", spec.thresholdMetric)
        return _threshold_indicator(s, doc, f"{path}.thresholdMetric", src)
    ratio = spec.ratioMetric
    assert ratio is not None  # the model requires one of the two
    path = f"{path}.ratioMetric"
    if ratio.raw is not None:
        s.problems.at(doc, f"{path}.raw", "not supported: slaguard counts its own results; "
                      "use good (or bad) and total")
        return None
    key = "good" if ratio.good is not None else "bad"
    numerator = ratio.good or ratio.bad
    assert numerator is not None and ratio.total is not None
    top = _source(s, doc, f"{path}.{key}", numerator)
    bottom = _source(s, doc, f"{path}.total", ratio.total)
    if top is None or bottom is None:
        return None
    return _ratio_indicator(s, doc, path, key, top, bottom)


def _ratio_indicator(s: _Set, doc: Doc, path: str, key: str, top: SourceSpec,
                     bottom: SourceSpec) -> Indicator | None:
    where = f"{path}.{key}.metricSource.spec"
    if top.sli is None:
        s.problems.at(doc, f"{where}.sli", "required (availability or latency)")
        return None
    if top.sli == "latency" and top.threshold is None:
        s.problems.at(doc, f"{where}.threshold", "required for sli latency (e.g. \"< 3s\": a "
                      "success is good when faster)")
        return None
    if top.sli == "availability" and top.threshold is not None:
        s.problems.at(doc, f"{where}.threshold", "only for sli latency (availability counts "
                      "successes)")
        return None
    same = (bottom.selection == top.selection and bottom.sli in (None, top.sli)
            and bottom.threshold in (None, top.threshold))
    if not same:
        s.problems.at(doc, f"{path}.total.metricSource.spec", f"must count the same results "
                      f"as {key}: the same target or service (sli and threshold may be left "
                      "out)")
        return None
    return _selected(s, doc, where, Indicator("ratio", top.sli, top.threshold, top.selection))


def _threshold_indicator(s: _Set, doc: Doc, path: str,
                         src: SourceSpec | None) -> Indicator | None:
    if src is None:
        return None
    where = f"{path}.metricSource.spec"
    if src.sli != "latency":
        s.problems.at(doc, f"{where}.sli", "a thresholdMetric reads latency (availability is "
                      f"a ratio of successes: use ratioMetric good and total), got {src.sli!r}")
        return None
    if src.threshold is not None:
        s.problems.at(doc, f"{where}.threshold", "not with a thresholdMetric: the objective's "
                      "op and value are its threshold")
        return None
    return _selected(s, doc, where, Indicator("threshold", "latency", None, src.selection))


def _selected(s: _Set, doc: Doc, where: str, ind: Indicator) -> Indicator | None:
    """``ind`` when every target or service it names is in the configuration."""
    known = {"targets": [t.name for t in s.cfg.targets], "services": list(s.cfg.services)}
    ok = True
    for key, names in ind.selection.items():
        for name in names:
            if name not in known[key]:
                s.problems.at(doc, f"{where}.{key[:-1]}", f"unknown {key[:-1]} {name!r} "
                              f"({key}: {', '.join(known[key])})")
                ok = False
    return ind if ok else None


def _source(s: _Set, doc: Doc, path: str, spec: m.MetricSpec) -> SourceSpec | None:
    src = spec.metricSource
    kind = src.type
    if kind is None and src.metricSourceRef is not None:
        ds = s.get("DataSource", src.metricSourceRef)
        if ds is None or not isinstance(ds.model, m.DataSource):
            s.problems.at(doc, f"{path}.metricSource.metricSourceRef", "no DataSource named "
                          f"{src.metricSourceRef!r} in the files")
            return None
        kind = ds.model.spec.type
    if kind is None:
        s.problems.at(doc, f"{path}.metricSource.type", "required (or a metricSourceRef "
                      "naming a DataSource)")
        return None
    if kind != "slaguard":
        s.problems.at(doc, f"{path}.metricSource.type", "only slaguard is supported (an "
                      f"objective over slaguard's own results), got {kind!r}")
        return None
    try:
        return SourceSpec.model_validate(src.spec)
    except ValidationError as exc:
        for p, text in errors_of(exc):
            s.problems.at(doc, f"{path}.metricSource.spec" + (f".{p}" if p else ""), text)
        return None


# -- SLOs -------------------------------------------------------------------------------


def _slo(s: _Set, doc: Doc, obj: m.SLO) -> None:
    spec = obj.spec
    if any(o.composite for o in spec.objectives):
        s.problems.at(doc, "spec.objectives", "composite SLOs (an indicator per objective) "
                      "are not supported")
        return
    service = _service_of(s, spec.service)
    if service not in s.cfg.services:
        s.problems.at(doc, "spec.service", f"unknown service {service!r} (services: "
                      f"{', '.join(s.cfg.services)}); add it to the main configuration first")
        return
    ind = _slo_indicator(s, doc, spec)
    window = _window(s, doc, spec.timeWindow[0])
    alerts = _alerts(s, doc, spec)
    if ind is None or window is None or alerts is None:
        return
    if not ind.selection:
        ind = Indicator(ind.form, ind.sli, ind.threshold, {"services": [service]})
    name = _name(obj.metadata)
    for i, o in enumerate(spec.objectives):
        entry_name = name if len(spec.objectives) == 1 else f"{name}-{i + 1}"
        objective = _objective(s, doc, spec, i, o, ind, window, alerts)
        if objective is not None:
            _place(s, doc, obj, entry_name, ind, objective)


def _slo_indicator(s: _Set, doc: Doc, spec: m.SLOSpec) -> Indicator | None:
    if spec.indicator is not None:
        return _indicator(s, doc, "spec.indicator.spec", spec.indicator.spec)
    assert spec.indicatorRef is not None
    if s.get("SLI", spec.indicatorRef) is None:
        s.problems.at(doc, "spec.indicatorRef", f"no SLI named {spec.indicatorRef!r} in the "
                      "files")
        return None
    return _indicator_doc(s, spec.indicatorRef)


def _window(s: _Set, doc: Doc, tw: m.TimeWindow) -> str | None:
    path = "spec.timeWindow[0]"
    d = tw.duration
    if tw.isRolling:
        if d[-1] in _NO_ROLLING:
            s.problems.at(doc, f"{path}.duration", f"a rolling window in {_NO_ROLLING[d[-1]]} "
                          "has no fixed length: write it in days (e.g. 30d)")
            return None
        return str(d)
    cal = tw.calendar
    assert cal is not None
    if d != "1M":
        s.problems.at(doc, f"{path}.duration", "only the calendar month (1M) is supported as "
                      f"a calendar window, got {str(d)!r}")
        return None
    if cal.timeZone != s.cfg.timezone:
        s.problems.at(doc, f"{path}.calendar.timeZone", f"must be the configuration's "
                      f"timezone {s.cfg.timezone} (its calendar month is the one compensation "
                      f"uses), got {cal.timeZone!r}")
        return None
    if cal.startTime[8:] != "01 00:00:00":
        s.problems.at(doc, f"{path}.calendar.startTime", "a calendar month starts on the 1st "
                      f"at 00:00:00, got {cal.startTime!r}")
        return None
    return "1M"


def _shorthand(s: _Set, doc: Doc, path: str, d: str) -> str | None:
    """A duration in slaguard's words; months, quarters and years have no fixed length."""
    if d[-1] in _NO_ROLLING:
        s.problems.at(doc, path, f"{_NO_ROLLING[d[-1]]} have no fixed length: write it in "
                      "m, h, d or w")
        return None
    return str(d)


def _objective(s: _Set, doc: Doc, spec: m.SLOSpec, i: int, o: m.Objective, ind: Indicator,
               window: str, alerts: list[dict[str, Any]]) -> dict[str, Any] | None:
    path = f"spec.objectives[{i}]"
    threshold = _objective_threshold(s, doc, path, o, ind)
    if ind.form == "threshold" and threshold is None:
        return None
    target = o.target * 100 if o.target is not None else o.targetPercent
    assert target is not None
    out: dict[str, Any] = {"sli": ind.sli, "threshold": threshold, "target": percent(target),
                           "window": window, "budgeting": _BUDGETING[spec.budgetingMethod]}
    if o.timeSliceWindow is not None and spec.budgetingMethod != "Occurrences":
        out["timeslice_window"] = _shorthand(s, doc, f"{path}.timeSliceWindow",
                                             o.timeSliceWindow)
        if out["timeslice_window"] is None:
            return None
    if o.timeSliceTarget is not None and spec.budgetingMethod == "Timeslices":
        out["timeslice_target"] = percent(o.timeSliceTarget * 100)
    out["burn_alerts"] = alerts
    out = {k: v for k, v in out.items() if v is not None}
    try:
        WindowedObjective.model_validate(out)
    except ValidationError as exc:
        for field_path, text in errors_of(exc):
            where = _openslo_path(field_path, path, o)
            alert = _ALERT.match(text)  # "[0] fast-burn: lookback …": that policy
            if where == "spec.alertPolicies" and alert:
                where, text = f"{where}[{alert.group(1)}]", alert.group(2)
            s.problems.at(doc, where, text)
        return None
    return out


def _objective_threshold(s: _Set, doc: Doc, path: str, o: m.Objective,
                         ind: Indicator) -> str | None:
    if ind.form == "ratio":
        for key in ("value", "op"):
            if getattr(o, key) is not None:
                s.problems.at(doc, f"{path}.{key}", "forbidden with a ratioMetric SLI")
        return ind.threshold
    if o.op is None or o.value is None:
        s.problems.at(doc, f"{path}.{'op' if o.op is None else 'value'}",
                      "required with a thresholdMetric SLI")
        return None
    if o.op not in ("lt", "lte"):
        s.problems.at(doc, f"{path}.op", f"a latency threshold is met below it: use lt or lte, "
                      f"got {o.op!r}")
        return None
    if o.value <= 0 or o.value != o.value.to_integral_value():
        s.problems.at(doc, f"{path}.value", f"expected whole milliseconds above 0, got "
                      f"{o.value}")
        return None
    return f"{'<=' if o.op == 'lte' else '<'} {int(o.value)}ms"


def _openslo_path(field_path: str, objective: str, o: m.Objective) -> str:
    """Where in the SLO document a field of the windowed objective came from."""
    head = field_path.split(".")[0].split("[")[0]
    return {
        "sli": "spec.indicator", "threshold": f"{objective}.value",
        "target": f"{objective}.{'target' if o.target is not None else 'targetPercent'}",
        "window": "spec.timeWindow[0].duration", "budgeting": "spec.budgetingMethod",
        "timeslice_window": f"{objective}.timeSliceWindow",
        "timeslice_target": f"{objective}.timeSliceTarget", "burn_alerts": "spec.alertPolicies",
    }.get(head, field_path)


# -- alert policies ---------------------------------------------------------------------


def _alerts(s: _Set, doc: Doc, spec: m.SLOSpec) -> list[dict[str, Any]] | None:
    out: list[dict[str, Any]] = []
    ok = True
    for i, ap in enumerate(spec.alertPolicies):
        path = f"spec.alertPolicies[{i}]"
        if isinstance(ap, m.AlertPolicyRef):
            ref = s.get("AlertPolicy", ap.alertPolicyRef)
            if ref is None or not isinstance(ref.model, m.AlertPolicy):
                s.problems.at(doc, f"{path}.alertPolicyRef", "no AlertPolicy named "
                              f"{ap.alertPolicyRef!r} in the files")
                ok = False
                continue
            alert = _policy(s, ref, "", ref.model.spec)
        else:
            alert = _policy(s, doc, path, ap.spec)
        ok = ok and alert is not None
        if alert is not None:
            out.append(alert)
    return out if ok else None


def _policy(s: _Set, doc: Doc, path: str, spec: m.AlertPolicySpec) -> dict[str, Any] | None:
    p = f"{path}.spec" if path else "spec"
    if not spec.alertWhenBreaching:
        s.problems.at(doc, f"{p}.alertWhenBreaching", "must be true: slaguard's burn alerts "
                      "fire when the condition breaches")
        return None
    if spec.alertWhenNoData:
        s.problems.at(doc, f"{p}.alertWhenNoData", "not supported: slaguard raises no burn "
                      "alert on missing data (a monitoring gap is its own incident)")
        return None
    for j, t in enumerate(spec.notificationTargets):
        if isinstance(t, m.NotificationTargetRef) and s.get(
                "AlertNotificationTarget", t.targetRef) is None:
            s.problems.at(doc, f"{p}.notificationTargets[{j}].targetRef", "no "
                          f"AlertNotificationTarget named {t.targetRef!r} in the files")
            return None
    cond = spec.conditions[0]
    cpath = f"{p}.conditions[0]"
    if isinstance(cond, m.ConditionRef):
        ref = s.get("AlertCondition", cond.conditionRef)
        if ref is None or not isinstance(ref.model, m.AlertCondition):
            s.problems.at(doc, f"{cpath}.conditionRef", "no AlertCondition named "
                          f"{cond.conditionRef!r} in the files")
            return None
        return _condition(s, ref, "spec", ref.model.metadata, ref.model.spec)
    return _condition(s, doc, f"{cpath}.spec", cond.metadata, cond.spec)


def _condition(s: _Set, doc: Doc, path: str, meta: m.Metadata,
               spec: m.AlertConditionSpec) -> dict[str, Any] | None:
    if spec.severity not in ("page", "ticket"):
        s.problems.at(doc, f"{path}.severity", f"must be page or ticket (slaguard's burn-alert "
                      f"severities), got {spec.severity!r}")
        return None
    c = spec.condition
    lookback = _shorthand(s, doc, f"{path}.condition.lookbackWindow", c.lookbackWindow)
    after = c.alertAfter if c.alertAfter is not None and int(c.alertAfter[:-1]) else None
    after_text = _shorthand(s, doc, f"{path}.condition.alertAfter", after) if after else None
    if lookback is None or (after is not None and after_text is None):
        return None
    out = {"name": _name(meta), "severity": spec.severity, "threshold": str(c.threshold),
           "op": c.op, "lookback": lookback}
    if after_text is not None:
        out["alert_after"] = after_text
    return out


# -- entries ----------------------------------------------------------------------------


def _place(s: _Set, doc: Doc, obj: m.SLO, name: str, ind: Indicator,
           objective: dict[str, Any]) -> None:
    """Puts one objective where its ``slaguard.io/source`` says (a service's monthly
    availability, a latency bound, a windowed objective), else as a new entry."""
    source = obj.metadata.annotations.get(SOURCE, "")
    path = f"metadata.annotations.{SOURCE}"
    if source.startswith("services.") and source.endswith(".availability"):
        service = source[len("services."):-len(".availability")]
        if service not in s.cfg.services:
            s.problems.at(doc, path, f"unknown service {service!r}")
            return
        entry = s.out.services.setdefault(service, {})
        entry["availability"] = objective["target"]
        s.out.summary.append(f"{doc.label}: services.{service}.availability "
                             f"{objective['target']}")
        return
    bound = _BOUND_SOURCE.match(source)
    if bound:
        slo_name, key = bound.group(1), bound.group(2)
        if ind.threshold is None or percent(Decimal(key[1:])) != objective["target"]:
            s.problems.at(doc, path, f"names the bound {key} but the SLO is not 'faster than "
                          f"its threshold for {key[1:]}% of results'; remove the annotation to "
                          "import it as an objective")
            return
        _merge(s, doc, path, {"name": slo_name, **ind.selection,
                              "latency": {key: ind.threshold}})
        s.out.summary.append(f"{doc.label}: slos[{slo_name}].latency.{key} {ind.threshold}")
        return
    if source.startswith("slos.") and source.endswith(".objective"):
        name = source[len("slos."):-len(".objective")]
    elif source:
        s.problems.at(doc, path, f"unknown slaguard source {source!r}")
        return
    _merge(s, doc, "", {"name": name, **ind.selection, "objective": objective})
    s.out.summary.append(f"{doc.label}: slos[{name}] {_describe(objective)}")


def _describe(o: dict[str, Any]) -> str:
    what = o["sli"] + (f" {o['threshold']}" if "threshold" in o else "")
    window = "the calendar month" if o["window"] == "1M" else f"rolling {o['window']}"
    alerts = f", {len(o['burn_alerts'])} burn alert(s)" if o.get("burn_alerts") else ""
    return f"{what} ≥ {o['target']} over {window}, {o['budgeting']}{alerts}"


def _merge(s: _Set, doc: Doc, path: str, part: dict[str, Any]) -> None:
    """Adds ``part`` to the entry of its name: selections must agree, latency bounds
    join, an objective or a bound is given once."""
    name = part["name"]
    entry = s.entries.setdefault(name, {"name": name})
    s.origin.setdefault(name, doc)
    for key, value in part.items():
        if key == "latency" and isinstance(value, dict):
            bounds = entry.setdefault("latency", {})
            if set(bounds) & set(value):
                s.problems.at(doc, path, f"slos[{name}]: latency bound "
                              f"{', '.join(sorted(set(bounds) & set(value)))} given twice")
            bounds.update(value)
        elif key in entry and entry[key] != value:
            what = "selection" if key in ("targets", "services") else key
            s.problems.at(doc, path, f"slos[{name}]: {key} differs from another document "
                          f"of the same SLO ({what} {entry[key]!r}, here {value!r})")
        else:
            entry[key] = value


def _finish(s: _Set) -> None:
    """Services from their documents (title, ``down_when``), every entry validated."""
    for name, svc in s.out.services.items():
        doc = next((d for d in s.by_kind.get("Service", {}).values() if d.model is not None
                    and _name(d.model.metadata) == name), None)
        if doc is not None and isinstance(doc.model, m.Service):
            # With its Service document, all it says (else the availability alone).
            svc["title"] = doc.model.spec.description
            svc["down_when"] = doc.model.metadata.annotations.get(DOWN_WHEN, "any")
        try:
            SlaguardService.model_validate(svc)
        except ValidationError as exc:
            for p, text in errors_of(exc):
                s.problems.errors.append(f"services.{name}.{p}: {text}")
    for name, entry in s.entries.items():
        try:
            s.out.slos.append(slo_entry(entry))
        except ValidationError as exc:
            for p, text in errors_of(exc):
                s.problems.at(s.origin[name], "", f"slos[{name}].{p}: {text}")


# -- against the configuration ----------------------------------------------------------


@dataclass
class Plan:
    """What an import changes: the entries to write (new or already in the file being
    replaced), those the configuration already holds as they are, and the refusals."""

    write: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def plan(imported: Imported, cfg: Config, where: str) -> Plan:
    """``imported`` against ``cfg`` (the configuration without the file being written,
    named ``where`` in messages): a service's monthly objective is set in the main
    configuration only, so one that differs is refused, as is an SLO whose name the
    configuration gives to another."""
    out = Plan()
    for name, svc in imported.services.items():
        # Only what the import states: an availability SLO without its Service
        # document says nothing of the title.
        theirs = {k: v for k, v in cfg.services[name].model_dump(mode="json").items()
                  if k in svc}
        ours = {k: v for k, v in SlaguardService.model_validate(svc).model_dump(
            mode="json").items() if k in svc}
        if theirs == ours:
            out.unchanged.append(f"services.{name}")
        else:
            diff = ", ".join(f"{k} {theirs[k]!r} there, {ours[k]!r} here" for k in theirs
                             if theirs[k] != ours[k])
            out.errors.append(f"services.{name}: differs from {where} ({diff}); a service's "
                              "monthly objective (what compensation uses) is changed there")
    existing: dict[str, dict[str, Any]] = {
        s.name: dict(_clean(s.model_dump(mode="json"))) for s in cfg.slos}
    for entry in imported.slos:
        known = existing.get(entry["name"])
        if known is None:
            out.write.append(entry)
        elif known == entry:
            out.unchanged.append(f"slos[{entry['name']}]")
        else:
            out.errors.append(f"slos[{entry['name']}]: {where} has an SLO of this name with "
                              "other settings; rename one")
    return out
