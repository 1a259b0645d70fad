"""slaguard configuration → OpenSLO ``openslo/v1`` and Sloth ``prometheus/v1``.

OpenSLO (:func:`export_openslo`), in this order:

- a ``Service`` per service (its title as ``description``, ``down_when: all`` as
  ``slaguard.io/down-when``);
- per service its monthly availability objective: an SLO over the calendar month
  (``1M`` in the configuration's timezone), ``Timeslices`` of 1 minute that must be
  wholly good — the nearest OpenSLO form of slaguard's downtime to the second after
  ``availability.confirm`` and ``quorum``;
- per ``slos[]`` entry: each ``pNN`` latency bound as an Occurrences SLO over the
  calendar month ("NN % of the successful results faster than the bound"), and its
  windowed ``objective`` as it is (window, budgeting, burn alerts as inline
  AlertPolicies routed to one ``AlertNotificationTarget`` named ``slaguard``);
- what OpenSLO cannot express — a ``mean`` or ``max`` latency bound (a window
  statistic; 100 % of results), ``freshness`` (RPO), ``restore_within`` (RTO) — rides
  in the ``slaguard.io/slos`` annotation (JSON) of the entry's first service.

Every SLO carries ``slaguard.io/source`` (its path in the configuration) and, where
RFC 1123 cannot hold a name, ``slaguard.io/name``, so :mod:`openslo.importer` takes an
export back to the same configuration.

Sloth (:func:`export_sloth`): one ``prometheus/v1`` spec per service with the
objectives whose SLI is ``probe_success`` of its targets — every service's monthly
availability and each windowed availability objective budgeted by occurrences.  Left
out (named in the file's header): latency (``probe_duration_seconds`` is a gauge, not
events), time-slice budgeting (Sloth counts events), RPO/RTO.  Sloth has one SLO
period for a whole run (``sloth generate --default-slo-period``), not one per SLO; the
calendar month becomes that rolling period.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import yaml

from openslo.importer import DOWN_WHEN, NAME, SLOS, SOURCE
from slaguard.config.objectives import BurnAlert, WindowedObjective
from slaguard.config.schema import SLO, Config
from slaguard.errors import SlaguardError
from slaguard.units import format_duration

CALENDAR_START = "2020-01-01 00:00:00"  # any 1st of a month at midnight: the month
_PERCENTILE = re.compile(r"^p\d{1,2}(\.\d+)?$")
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")
# Days before weeks: SLO windows are written 28d, 30d (as the windowed objective does).
_SHORTHAND = (("d", timedelta(days=1)), ("h", timedelta(hours=1)), ("m", timedelta(minutes=1)))


class ExportError(SlaguardError):
    """Something in the configuration with no OpenSLO form (a sub-minute duration)."""


class _Names:
    """RFC 1123 names, unique per kind; the original kept aside when it differs."""

    def __init__(self) -> None:
        self.used: set[tuple[str, str]] = set()

    def metadata(self, kind: str, original: str) -> dict[str, Any]:
        base = _NOT_LABEL.sub("-", original.lower()).strip("-")[:63].strip("-") or "x"
        name, n = base, 1
        while (kind, name) in self.used:
            n += 1
            name = f"{base[:60].rstrip('-')}-{n}"
        self.used.add((kind, name))
        meta: dict[str, Any] = {"name": name}
        if name != original:
            meta["annotations"] = {NAME: original}
        return meta


def _shorthand(td: timedelta, where: str) -> str:
    for unit, size in _SHORTHAND:
        if td % size == timedelta(0) and td:
            return f"{td // size}{unit}"
    raise ExportError(f"{where}: {format_duration(td)} has no OpenSLO form (whole minutes, "
                      "hours or days)")


def _num(d: Decimal) -> int | float:
    """A YAML number for ``d`` (exact: its shortest text is d's)."""
    return int(d) if d == d.to_integral_value() else float(d)


def _selection(slo: SLO) -> dict[str, Any]:
    key, names = ("target", slo.targets) if slo.targets is not None else (
        "service", slo.services or [])
    return {key: names[0] if len(names) == 1 else list(names)}


def _first_service(cfg: Config, slo: SLO) -> str:
    if slo.targets:
        return cfg.target(slo.targets[0]).service
    return (slo.services or list(cfg.services))[0]


def _source(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metricSource": {"type": "slaguard", "spec": spec}}


def _ratio(name: dict[str, Any], selection: dict[str, Any], sli: str,
           threshold: str | None) -> dict[str, Any]:
    good = {**selection, "sli": sli, **({"threshold": threshold} if threshold else {})}
    return {"metadata": name, "spec": {"ratioMetric": {
        "counter": False, "good": _source(good), "total": _source(dict(selection))}}}


def _calendar(cfg: Config) -> list[dict[str, Any]]:
    return [{"duration": "1M", "isRolling": False,
             "calendar": {"startTime": CALENDAR_START, "timeZone": cfg.timezone}}]


def _slo_doc(meta: dict[str, Any], source: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta.setdefault("annotations", {})[SOURCE] = source
    return {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": meta, "spec": spec}


class _Export:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.names = _Names()
        self.service_names = {s: self.names.metadata("Service", s)["name"] for s in cfg.services}
        self.carried: dict[str, list[dict[str, Any]]] = {}
        self.alerting = False

    def services(self) -> list[dict[str, Any]]:
        out = []
        for name, svc in self.cfg.services.items():
            meta: dict[str, Any] = {"name": self.service_names[name]}
            notes = {NAME: name} if meta["name"] != name else {}
            if svc.down_when != "any":
                notes[DOWN_WHEN] = svc.down_when
            if name in self.carried:
                notes[SLOS] = json.dumps(self.carried[name], ensure_ascii=False)
            if notes:
                meta["annotations"] = notes
            spec = {"description": svc.title} if svc.title else {}
            out.append({"apiVersion": "openslo/v1", "kind": "Service", "metadata": meta,
                        "spec": spec})
        return out

    def availability(self, name: str) -> dict[str, Any]:
        target = self.cfg.services[name].availability
        sel = {"service": name}
        return _slo_doc(self.names.metadata("SLO", f"{name}-availability"),
                        f"services.{name}.availability", {
            "description": f"{name}: monthly availability, the objective compensation uses "
                           "(slaguard counts downtime to the second after availability."
                           "confirm and quorum; here in 1-minute slices)",
            "service": self.service_names[name],
            "indicator": _ratio({"name": self.names.metadata("SLI", f"{name}-up")["name"]},
                                sel, "availability", None),
            "timeWindow": _calendar(self.cfg),
            "budgetingMethod": "Timeslices",
            "objectives": [{"target": _num(target / 100), "timeSliceTarget": 1,
                            "timeSliceWindow": "1m"}],
        })

    def latency_bound(self, slo: SLO, key: str, bound: timedelta) -> dict[str, Any]:
        from slaguard.config.types import format_bound

        threshold = format_bound(bound)
        base = f"{slo.name}-{key}".replace(".", "-")
        return _slo_doc(self.names.metadata("SLO", base), f"slos.{slo.name}.latency.{key}", {
            "description": f"{slo.name}: {key} of the successful results {threshold} over the "
                           f"calendar month ({key[1:]} % of them faster)",
            "service": self.service_names[_first_service(self.cfg, slo)],
            "indicator": _ratio({"name": self.names.metadata("SLI", base)["name"]},
                                _selection(slo), "latency", threshold),
            "timeWindow": _calendar(self.cfg),
            "budgetingMethod": "Occurrences",
            "objectives": [{"target": _num(Decimal(key[1:]) / 100)}],
        })

    def objective(self, slo: SLO, o: WindowedObjective) -> dict[str, Any]:
        from slaguard.config.types import format_bound

        where = f"slos.{slo.name}.objective"
        threshold = format_bound(o.threshold) if o.threshold is not None else None
        window = (_calendar(self.cfg) if isinstance(o.window, str) else
                  [{"duration": _shorthand(o.window, f"{where}.window"), "isRolling": True}])
        objective: dict[str, Any] = {"target": _num(o.target / 100)}
        if o.timeslice_target is not None:
            objective["timeSliceTarget"] = _num(o.timeslice_target / 100)
        if o.timeslice_window is not None:
            objective["timeSliceWindow"] = _shorthand(o.timeslice_window,
                                                      f"{where}.timeslice_window")
        meta = self.names.metadata("SLO", slo.name)
        spec: dict[str, Any] = {
            "service": self.service_names[_first_service(self.cfg, slo)],
            "indicator": _ratio({"name": self.names.metadata("SLI", slo.name)["name"]},
                                _selection(slo), o.sli, threshold),
            "timeWindow": window,
            "budgetingMethod": {"occurrences": "Occurrences", "timeslices": "Timeslices",
                                "ratio_timeslices": "RatioTimeslices"}[o.budgeting],
            "objectives": [objective],
        }
        if o.burn_alerts:
            self.alerting = True
            spec["alertPolicies"] = [self.policy(slo, a, f"{where}.burn_alerts[{i}]")
                                     for i, a in enumerate(o.burn_alerts)]
        return _slo_doc(meta, where, spec)

    def policy(self, slo: SLO, a: BurnAlert, where: str) -> dict[str, Any]:
        condition: dict[str, Any] = {"kind": "burnrate", "op": a.op,
                                     "threshold": _num(a.threshold),
                                     "lookbackWindow": _shorthand(a.lookback,
                                                                  f"{where}.lookback")}
        if a.alert_after:
            condition["alertAfter"] = _shorthand(a.alert_after, f"{where}.alert_after")
        policy = self.names.metadata("AlertPolicy", f"{slo.name}-{a.name}")
        policy.pop("annotations", None)  # its name is not read back: the condition's is
        return {"kind": "AlertPolicy", "metadata": policy,
                "spec": {"alertWhenBreaching": True, "alertWhenResolved": True,
                         "conditions": [{"kind": "AlertCondition",
                                         "metadata": self.names.metadata(
                                             f"AlertCondition {slo.name}", a.name),
                                         "spec": {"severity": a.severity,
                                                  "condition": condition}}],
                         "notificationTargets": [{"targetRef": "slaguard"}]}}

    def slo(self, slo: SLO) -> list[dict[str, Any]]:
        docs = []
        rest: dict[str, Any] = {}
        for key, bound in (slo.latency or {}).items():
            if _PERCENTILE.match(key):
                docs.append(self.latency_bound(slo, key, bound))
            else:
                rest.setdefault("latency", {})[key] = bound
        if slo.objective is not None:
            docs.append(self.objective(slo, slo.objective))
        for key in ("freshness", "restore_within"):
            if getattr(slo, key) is not None:
                rest[key] = getattr(slo, key)
        if rest or not docs:
            entry = SLO.model_validate({"name": slo.name,
                                        **{k: v for k, v in (("targets", slo.targets),
                                                             ("services", slo.services))
                                           if v is not None}, **rest})
            dumped = {k: v for k, v in entry.model_dump(mode="json").items() if v is not None}
            self.carried.setdefault(_first_service(self.cfg, slo), []).append(dumped)
        return docs


def openslo_documents(cfg: Config) -> list[dict[str, Any]]:
    e = _Export(cfg)
    slos = [e.availability(name) for name in cfg.services]
    for slo in cfg.slos:
        slos += e.slo(slo)
    docs = e.services() + slos
    if e.alerting:
        docs.append({"apiVersion": "openslo/v1", "kind": "AlertNotificationTarget",
                     "metadata": {"name": "slaguard"},
                     "spec": {"target": "slaguard",
                              "description": "slaguard's incidents: a burn alert opens one "
                                             "routed by severity through incidents.priorities"}})
    return docs


def dump(docs: list[dict[str, Any]], header: str = "") -> str:
    body = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=100,
                              explicit_start=True)
    return header + body


def export_openslo(cfg: Config) -> str:
    return dump(openslo_documents(cfg), "# OpenSLO v1, exported by `slaguard openslo export`; "
                "slaguard.io/* annotations take it back (slaguard openslo import).\n")


# -- Sloth ------------------------------------------------------------------------------


def _sloth_name(name: str) -> str:
    """Sloth's safe names: letters, digits, ``-``, ``_``, ``.``, no edge punctuation."""
    return re.sub(r"[^-A-Za-z0-9_.]+", "-", name).strip("-_.") or "x"


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def _probe_success(names: list[str]) -> str:
    """``probe_success`` of these targets (regex-quoted for PromQL)."""
    alternatives = "|".join(n.replace(".", "\\\\.") for n in names)
    return f'probe_success{{target=~"{alternatives}"}}'


def _sloth_slo(name: str, objective: Decimal, targets: list[str], description: str,
               severities: set[str]) -> dict[str, Any]:
    series = _probe_success(targets)
    total = f"sum(count_over_time({series}[{{{{.window}}}}]))"
    good = f"sum(sum_over_time({series}[{{{{.window}}}}]))"
    return {"name": _sloth_name(name), "objective": _num(objective), "description": description,
            "sli": {"events": {"error_query": f"{total} - {good}", "total_query": total}},
            "alerting": {"name": _camel(name),
                         "page_alert": {"disable": "page" not in severities,
                                        "labels": {"severity": "page"}},
                         "ticket_alert": {"disable": "ticket" not in severities,
                                          "labels": {"severity": "ticket"}}}}


def _availability_targets(cfg: Config, service: str) -> list[str]:
    return [t.name for t in cfg.targets if t.service == service and t.availability]


def _selected_targets(cfg: Config, slo: SLO) -> list[str]:
    if slo.targets is not None:
        return list(slo.targets)
    return [t.name for t in cfg.targets if t.service in (slo.services or [])]


def sloth_specs(cfg: Config) -> tuple[list[dict[str, Any]], list[str]]:
    """One spec per service with SLOs, and what was left out (one line each)."""
    per: dict[str, list[dict[str, Any]]] = {}
    left: list[str] = []
    for name, svc in cfg.services.items():
        targets = _availability_targets(cfg, name)
        if targets:
            per.setdefault(name, []).append(_sloth_slo(
                f"{name}-availability", svc.availability, targets,
                "monthly availability (slaguard: the calendar month, downtime to the second)",
                {"page", "ticket"}))
        else:
            left.append(f"services.{name}.availability: no target counts towards it")
    for slo in cfg.slos:
        o = slo.objective
        if slo.latency or slo.freshness or slo.restore_within:
            left.append(f"slos[{slo.name}]: latency, RPO and RTO bounds are no probe_success "
                        "events")
        if o is None:
            continue
        if o.sli != "availability" or o.budgeting != "occurrences":
            left.append(f"slos[{slo.name}].objective: {o.sli}, {o.budgeting}: Sloth counts "
                        "probe_success events only")
            continue
        window = ("the calendar month" if not isinstance(o.window, timedelta)
                  else f"rolling {format_duration(o.window)}")
        per.setdefault(_first_service(cfg, slo), []).append(_sloth_slo(
            slo.name, o.target, _selected_targets(cfg, slo),
            f"availability over {window} (Sloth: --default-slo-period)",
            {a.severity for a in o.burn_alerts} or {"page", "ticket"}))
    specs = [{"version": "prometheus/v1", "service": _sloth_name(service),
              "labels": {"owner": "slaguard"}, "slos": slos} for service, slos in per.items()]
    return specs, left


def export_sloth(cfg: Config) -> tuple[str, list[str]]:
    specs, left = sloth_specs(cfg)
    header = ("# Sloth prometheus/v1, exported by `slaguard openslo export --format sloth`: the\n"
              "# objectives whose SLI is probe_success; Sloth's SLO period is one per run\n"
              "# (sloth generate --default-slo-period 30d).\n")
    header += "".join(f"# left out: {line}\n" for line in left)
    return dump(specs, header), left
