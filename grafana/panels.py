"""Small typed helpers that build Grafana dashboard JSON as plain dicts.

Plain dicts rather than an SDK: the JSON model is the contract (it is what
Grafana provisions and what the golden files show), and a dozen helpers cover
the four panel kinds slaguard uses.  Panels carry only their size; ``flow``
places them on Grafana's 24-column grid and numbers them, so a dashboard reads
top to bottom as a list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

JSON = dict[str, Any]

GRID_WIDTH = 24
SCHEMA_VERSION = 39  # Grafana 10.4 / 11: newer versions migrate it on load
DATASOURCE_VAR = "datasource"
# Panels name the datasource through the variable, so one dashboard serves any
# Prometheus the viewer picks; the variable defaults to the provisioned uid.
PROM = {"type": "prometheus", "uid": "${" + DATASOURCE_VAR + "}"}
GRAFANA_DS = {"type": "grafana", "uid": "-- Grafana --"}


@dataclass(frozen=True)
class Query:
    """One PromQL target.  ``instant`` for stats and tables (one value per series)."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False  # format "table": one row per series, for merged tables
    interval: str = ""  # minimum step, e.g. "1d" for daily bars


def _target(q: Query, ref: str) -> JSON:
    t: JSON = {"datasource": PROM, "expr": q.expr, "refId": ref,
               "legendFormat": q.legend or "__auto", "range": not q.instant,
               "instant": q.instant, "editorMode": "code"}
    if q.table:
        t["format"] = "table"
    if q.interval:
        t["interval"] = q.interval
    return t


def targets(queries: Sequence[Query]) -> list[JSON]:
    return [_target(q, chr(ord("A") + i)) for i, q in enumerate(queries)]


def steps(*pairs: tuple[str, float | None]) -> JSON:
    """Absolute thresholds: ``steps(("red", None), ("green", 0))`` — the first has no value."""
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in pairs]}


def value_map(values: Mapping[str, tuple[str, str]], no_data: str | None = None) -> list[JSON]:
    """Value mappings ``{"1": ("UP", "green")}``; ``no_data`` names null values too."""
    options = {k: {"text": text, "color": color, "index": i}
               for i, (k, (text, color)) in enumerate(values.items())}
    out: list[JSON] = [{"type": "value", "options": options}]
    if no_data is not None:
        out.append({"type": "special", "options": {
            "match": "null", "result": {"text": no_data, "color": "text", "index": len(options)}}})
    return out


@dataclass(frozen=True)
class Field:
    """fieldConfig.defaults: what the values are and how they are coloured."""

    unit: str = "short"
    decimals: int | None = None
    thresholds: JSON | None = None
    mappings: Sequence[JSON] = ()
    min: float | None = None
    max: float | None = None
    no_value: str | None = None
    color: str = "thresholds"  # or "palette-classic" for many series
    links: Sequence[JSON] = ()

    def defaults(self, custom: JSON | None = None) -> JSON:
        d: JSON = {"unit": self.unit, "color": {"mode": self.color},
                   "thresholds": self.thresholds or steps(("green", None)),
                   "mappings": list(self.mappings)}
        for key, value in (("decimals", self.decimals), ("min", self.min), ("max", self.max),
                           ("noValue", self.no_value)):
            if value is not None:
                d[key] = value
        if self.links:
            d["links"] = list(self.links)
        if custom is not None:
            d["custom"] = custom
        return d


def _panel(kind: str, title: str, queries: Sequence[Query], w: int, h: int, field: Field,
           options: JSON, *, description: str = "", custom: JSON | None = None,
           overrides: Sequence[JSON] = (), transformations: Sequence[JSON] = (),
           interval: str = "") -> JSON:
    p: JSON = {
        "type": kind, "title": title, "description": description,
        "datasource": PROM, "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": field.defaults(custom), "overrides": list(overrides)},
        "options": options, "targets": targets(queries),
    }
    if transformations:
        p["transformations"] = list(transformations)
    if interval:
        p["interval"] = interval
    return p


def _reduce(calc: str = "lastNotNull") -> JSON:
    return {"calcs": [calc], "fields": "", "values": False}


def stat(title: str, queries: Sequence[Query], field: Field = Field(), *, w: int = 6,
         h: int = 4, description: str = "", graph: bool = False,
         calc: str = "lastNotNull") -> JSON:
    options = {"reduceOptions": _reduce(calc), "colorMode": "background",
               "graphMode": "area" if graph else "none", "justifyMode": "auto",
               "orientation": "auto", "textMode": "auto", "wideLayout": True,
               "showPercentChange": False}
    return _panel("stat", title, queries, w, h, field, options, description=description)


def bar_gauge(title: str, queries: Sequence[Query], field: Field = Field(), *, w: int = 8,
              h: int = 6, description: str = "") -> JSON:
    options = {"reduceOptions": _reduce(), "orientation": "horizontal",
               "displayMode": "basic", "showUnfilled": True, "valueMode": "color",
               "namePlacement": "auto", "sizing": "auto", "minVizHeight": 16,
               "minVizWidth": 8, "maxVizHeight": 300}
    return _panel("bargauge", title, queries, w, h, field, options, description=description)


def _legend(placement: str = "bottom") -> JSON:
    return {"displayMode": "list", "placement": placement, "showLegend": True, "calcs": []}


def timeseries(title: str, queries: Sequence[Query], field: Field = Field(), *, w: int = 12,
               h: int = 8, description: str = "", stack: bool = False, bars: bool = False,
               threshold_lines: bool = False, overrides: Sequence[JSON] = (),
               interval: str = "") -> JSON:
    custom: JSON = {
        "drawStyle": "bars" if bars else "line", "lineWidth": 1,
        "fillOpacity": 60 if bars else (30 if stack else 10), "showPoints": "never",
        "spanNulls": False, "axisPlacement": "auto",
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        # Threshold lines mark the numbers that matter (burn factors, zero budget).
        "thresholdsStyle": {"mode": "dashed" if threshold_lines else "off"},
    }
    field = replace(field, color="palette-classic")
    options = {"legend": _legend(), "tooltip": {"mode": "multi", "sort": "desc"}}
    return _panel("timeseries", title, queries, w, h, field, options, description=description,
                  custom=custom, overrides=overrides, interval=interval)


def state_timeline(title: str, queries: Sequence[Query], field: Field = Field(), *,
                   w: int = 24, h: int = 8, description: str = "") -> JSON:
    custom = {"fillOpacity": 80, "lineWidth": 0, "hideFrom": {"legend": False,
                                                              "tooltip": False, "viz": False}}
    options = {"showValue": "never", "mergeValues": True, "alignValue": "left",
               "rowHeight": 0.9, "legend": _legend(), "tooltip": {"mode": "single",
                                                                   "sort": "none"}}
    return _panel("state-timeline", title, queries, w, h, field, options,
                  description=description, custom=custom)


def table(title: str, queries: Sequence[Query], field: Field = Field(), *, w: int = 24,
          h: int = 8, description: str = "", columns: Mapping[str, str] | None = None,
          overrides: Sequence[JSON] = (), sort_by: str | None = None) -> JSON:
    """Instant queries merged into one row per series; ``columns`` renames "Value #A" etc."""
    organize: JSON = {"excludeByName": {"Time": True, "__name__": True, "job": True,
                                        "instance": True},
                      "renameByName": dict(columns or {}),
                      "indexByName": {}}
    transformations = [{"id": "merge", "options": {}}, {"id": "organize", "options": organize}]
    options: JSON = {"showHeader": True, "cellHeight": "sm",
                     "footer": {"show": False, "reducer": ["sum"], "fields": ""},
                     "sortBy": [{"displayName": sort_by, "desc": False}] if sort_by else []}
    custom = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
    return _panel("table", title, queries, w, h, field, options, description=description,
                  custom=custom, overrides=overrides, transformations=transformations)


def annotation_list(title: str, tags: Sequence[str], *, w: int = 24, h: int = 8,
                    description: str = "") -> JSON:
    """Grafana's own annotations with all of ``tags`` (what ``publish`` posts)."""
    return {
        "type": "annolist", "title": title, "description": description,
        "datasource": GRAFANA_DS, "gridPos": {"w": w, "h": h},
        "options": {"onlyFromThisDashboard": False, "onlyInTimeRange": False,
                    "tags": list(tags), "limit": 50, "showUser": True, "showTime": True,
                    "showTags": True, "navigateToPanel": True, "navigateBefore": "10m",
                    "navigateAfter": "10m"},
        "targets": [],
    }


def row(title: str) -> JSON:
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"w": GRID_WIDTH, "h": 1}}


def override(matcher: JSON, props: Mapping[str, Any]) -> JSON:
    """``override(by_name("Budget left"), {"unit": "percentunit"})``."""
    return {"matcher": matcher,
            "properties": [{"id": key, "value": value} for key, value in props.items()]}


def by_name(name: str) -> JSON:
    return {"id": "byName", "options": name}


def by_regex(pattern: str) -> JSON:
    return {"id": "byRegexp", "options": pattern}


def flow(panels: Sequence[JSON]) -> list[JSON]:
    """Place panels left to right, wrapping at 24 columns; rows start a new line."""
    out: list[JSON] = []
    x = y = line_h = 0
    for pid, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > GRID_WIDTH or (p["type"] == "row" and x > 0):
            x, y, line_h = 0, y + line_h, 0
        out.append({**p, "id": pid, "gridPos": {"h": h, "w": w, "x": x, "y": y}})
        x, line_h = x + w, max(line_h, h)
        if p["type"] == "row":
            x, y, line_h = 0, y + h, 0
    return out


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[JSON]:
    """Every panel, including those inside collapsed rows."""
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])
