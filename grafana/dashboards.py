"""slaguard's dashboards: SLA overview, Probes, Incidents, and slaguard itself.

Official figures come from slaguard's evaluator (``slaguard_slo_*``: confirmation,
quorum, maintenance applied); raw ``probe_*`` averages appear only as a
cross-check and for the probes themselves, which also makes the Probes board
work on blackbox_exporter data relabelled with ``target, service, location``.

Every query here is run against a real Prometheus scraping slaguard by
``tests/grafana/test_dashboard_queries.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from grafana.panels import (
    DATASOURCE_VAR,
    GRAFANA_DS,
    JSON,
    PROM,
    SCHEMA_VERSION,
    Field,
    Query,
    annotation_list,
    bar_gauge,
    by_name,
    by_regex,
    flow,
    override,
    row,
    stat,
    state_timeline,
    steps,
    table,
    timeseries,
    value_map,
)
from slo.burn import DEFAULT_RULES

# Stable identities: provisioning, publish and links between boards rely on them.
PROMETHEUS_UID = "slaguard-prometheus"
INFLUXDB_UID = "slaguard-influxdb"
FOLDER_UID = "slaguard"
FOLDER_TITLE = "slaguard"
SLA_UID, PROBES_UID, INCIDENTS_UID = "slaguard-sla", "slaguard-probes", "slaguard-incidents"
SELF_UID = "slaguard-self"

# Annotation tags: ``publish`` posts with them, the dashboards query by them.
TAG = "slaguard"
MAINTENANCE_TAG = "maintenance"
INCIDENT_TAG = "incident"



@dataclass(frozen=True)
class Options:
    """What a configuration changes in the dashboards (``build(None)`` uses these defaults)."""

    # The contract's zone: "this month" (now/M) and daily bars follow it.
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    burn_factors: Sequence[Decimal] = field(
        default_factory=lambda: [r.factor for r in DEFAULT_RULES])
    burn_windows: Sequence[str] = field(
        default_factory=lambda: [r.long_window for r in DEFAULT_RULES])
    cert_warning_days: int = 14  # as the certificate-expiry alert
    rpo_objective_s: int = 3600  # the tightest freshness SLO


# -- PromQL -------------------------------------------------------------------------

S, T, L = 'service=~"$service"', 'target=~"$target"', 'location=~"$location"'


def m(metric: str, *matchers: str) -> str:
    """``metric{a, b}``: a selector from matchers (the variables above or literals)."""
    return f"{metric}{{{', '.join(matchers)}}}"


# -- dashboard scaffolding --------------------------------------------------------------


def datasource_variable() -> JSON:
    return {"type": "datasource", "name": DATASOURCE_VAR, "label": "Prometheus",
            "query": "prometheus", "regex": "", "hide": 0, "refresh": 1,
            "current": {"selected": True, "text": "Prometheus", "value": PROMETHEUS_UID}}


def query_variable(name: str, label: str, query: str) -> JSON:
    """A multi-value variable from ``label_values(...)``; "All" matches everything (.*)."""
    return {"type": "query", "name": name, "label": label, "datasource": PROM,
            "query": query, "definition": query, "refresh": 2, "sort": 1,
            "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [], "regex": "", "hide": 0}


def tag_annotation(name: str, tag: str, color: str) -> JSON:
    return {"name": name, "datasource": GRAFANA_DS, "enable": True, "hide": False,
            "iconColor": color,
            "target": {"type": "tags", "tags": [TAG, tag], "matchAny": False, "limit": 100}}


def annotation_queries() -> JSON:
    builtin = {"builtIn": 1, "datasource": GRAFANA_DS, "enable": True, "hide": True,
               "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
               "type": "dashboard"}
    return {"list": [builtin, tag_annotation("Maintenance", MAINTENANCE_TAG, "blue"),
                     tag_annotation("Incidents", INCIDENT_TAG, "red")]}


def dashboard(uid: str, title: str, description: str, panels: Sequence[JSON],
              variables: Sequence[JSON], opts: Options, *, time_from: str,
              refresh: str = "1m") -> JSON:
    return {
        "uid": uid, "title": title, "description": description,
        "tags": [TAG], "timezone": opts.timezone, "weekStart": "monday",
        "time": {"from": time_from, "to": "now"}, "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
        "graphTooltip": 1, "fiscalYearStartMonth": 0, "liveNow": False,
        "annotations": annotation_queries(),
        "templating": {"list": [datasource_variable(), *variables]},
        "links": [{"type": "dashboards", "tags": [TAG], "asDropdown": False,
                   "includeVars": True, "keepTime": True, "title": "slaguard"}],
        "panels": flow(panels),
        "timepicker": {},
    }


# -- shared panels ----------------------------------------------------------------------

TIMES = "suffix:×"  # burn rates: multiples of the sustainable rate
RATIO = Field(unit="percentunit", decimals=3)
BUDGET = Field(unit="percentunit", decimals=1,
               thresholds=steps(("red", None), ("orange", 0), ("green", 0.25)))
FIRING = value_map({"0": ("OK", "green"), "1": ("FIRING", "red")}, no_data="NO DATA")


def burn_conditions(w: int = 24, h: int = 6) -> JSON:
    return state_timeline(
        "Burn-rate alert conditions (slaguard's evaluator)",
        [Query(f"max by (service, severity) ({m('slaguard_slo_burn_condition_firing', S)})",
               "{{service}} {{severity}}")],
        Field(mappings=FIRING, thresholds=steps(("green", None), ("red", 1))), w=w, h=h,
        description="Multiwindow burn-rate conditions (SRE workbook) as slaguard evaluates "
                    "them on confirmed downtime.")


def firing_alerts(w: int = 6, h: int = 4) -> JSON:
    # ALERTS exists only while a rule fires: "or vector(0)" turns silence into 0.
    alerts = m("ALERTS", 'alertstate="firing"', 'alertname=~"Slaguard.*"')
    return stat("Alerts firing (Prometheus rules)",
                [Query(f"count({alerts}) or vector(0)", instant=True)],
                Field(thresholds=steps(("green", None), ("red", 1))), w=w, h=h,
                description="Alerts from the rules `slaguard rules` generates.")


# -- SLA overview ---------------------------------------------------------------------


def per_service(expr: str) -> Query:
    """A table column: one row per service.  Aggregating drops __name__, job and
    instance, which differ between queries and would stop Grafana's merge."""
    return Query(f"max by (service) ({expr})", instant=True, table=True)


def _services_table() -> JSON:
    cols = {"Value #A": "Objective", "Value #B": "Availability", "Value #C": "Margin",
            "Value #D": "Budget left", "Value #E": "Burn rate 1h", "service": "Service"}
    # On the Service column: the cell's own value is the service name.
    probes_link = {"title": "Probes of ${__value.raw}",
                   "url": f"/d/{PROBES_UID}?var-service=${{__value.raw}}&${{__url_time_range}}"}
    return table(
        "Services this month",
        [per_service(m("slaguard_slo_objective_ratio", S)),
         per_service(m("slaguard_slo_availability_ratio", S)),
         per_service(f"{m('slaguard_slo_availability_ratio', S)}"
                     " - on (service) slaguard_slo_objective_ratio"),
         per_service(m("slaguard_slo_error_budget_remaining_ratio", S)),
         per_service(m("slaguard_slo_burn_rate", S, 'window="1h"'))],
        RATIO, h=7, columns=cols, sort_by="Budget left",
        description="Availability this month to date against the objective, per service "
                    "(slaguard's evaluator: confirmation, quorum, maintenance).",
        overrides=[
            override(by_name("Service"), {"links": [probes_link]}),
            override(by_name("Margin"), {"thresholds": steps(("red", None), ("green", 0)),
                                         "custom.cellOptions": {"type": "color-text"}}),
            override(by_name("Budget left"), {
                "decimals": 1, "thresholds": BUDGET.thresholds,
                "custom.cellOptions": {"type": "color-background", "mode": "basic"}}),
            override(by_name("Burn rate 1h"), {"unit": TIMES, "decimals": 2}),
        ])


def _downtime_table() -> JSON:
    cols = {"Value #A": "Downtime", "Value #B": "Allowed this month", "Value #C": "Gaps",
            "Value #D": "Coverage", "service": "Service"}
    month_s = "on () group_left () (86400 * days_in_month())"
    return table(
        "Downtime this month",
        [per_service(m("slaguard_slo_downtime_seconds", S)),
         # The month's budget in seconds; days_in_month() counts the month in UTC.
         per_service(f"(1 - {m('slaguard_slo_objective_ratio', S)}) * {month_s}"),
         per_service(m("slaguard_slo_gap_seconds", S)),
         per_service(m("slaguard_slo_coverage_ratio", S))],
        Field(unit="dtdurations"), w=12, h=7, columns=cols,
        description="Confirmed downtime, the month's allowance (1 − objective), time no "
                    "location could judge (counted as available by default) and coverage.",
        overrides=[override(by_name("Coverage"), {"unit": "percentunit", "decimals": 2})])


def _exhaustion() -> JSON:
    remaining = f"({m('slaguard_slo_error_budget_remaining_ratio', S)} > 0)"
    burn_1h = m("slaguard_slo_burn_rate", S, 'window="1h"')
    burn = f"({burn_1h} > 0)"
    return stat(
        "Budget exhausted in (at the 1 h burn rate)",
        [Query(f"{remaining} * on () group_left () (24 * days_in_month())"
               f" / on (service) {burn}", "{{service}}", instant=True)],
        Field(unit="h", decimals=1, no_value="not burning",
              thresholds=steps(("red", None), ("orange", 24), ("green", 24 * 7))),
        w=6, description="Remaining budget ÷ burn rate: hours left if the last hour's "
                         "error rate continues. Empty when not burning or already spent.")


def _compensation(opts: Options) -> JSON:
    return bar_gauge(
        "Compensation exposure this month",
        [Query("sum by (customer) (slaguard_compensation_exposure_cny)", "{{customer}}",
               instant=True)],
        Field(unit=f"suffix: {opts.currency}", decimals=2,
              thresholds=steps(("green", None), ("orange", 0.01))),
        w=12, h=7, description="Credit owed per customer if the month ended now "
                               "(availability, interruption, response, data loss).")


# Support desk (客户支持体系): compliance = met / (met + missed), summed before dividing
# (a ratio of sums, as the report); 0/0 is NaN in PromQL, shown as "nothing counted".
NOTHING_COUNTED = [{"type": "special", "options": {
    "match": "nan", "result": {"text": "nothing counted", "color": "text", "index": 0}}}]


def _support_checks(outcome: str, by: str = "channel, commitment",
                    metric: str = "slaguard_support_checks") -> str:
    return f'sum by ({by}) ({metric}{{outcome=~"{outcome}"}})'


def _support_table() -> JSON:
    cols = {"channel": "Channel", "commitment": "Commitment", "Value #A": "Compliance",
            "Value #B": "Met", "Value #C": "Missed", "Value #D": "Excluded",
            "Value #E": "Not judged"}
    ratio = f"{_support_checks('met')}\n/ {_support_checks('met|missed')}"
    return table(
        "Support desk this month",
        [Query(ratio, instant=True, table=True),
         *(Query(_support_checks(o), instant=True, table=True)
           for o in ("met", "missed", "excluded", "not_judged"))],
        Field(decimals=0), w=16, h=8, columns=cols,
        description="Per channel and commitment, as `support:` configures them (the "
                    "standard's: chat answered within 30 s, 7×24; hotline wait under 2 min, "
                    "09:00–18:00 on working days; e-mail by 24:00 of the 2nd working day; "
                    "follow-up within 24 h of resolution). "
                    "Excluded: outside service hours, pending, abandoned in time, no "
                    "calendar data. Not judged: VIP line and tickets (no time stated). "
                    "The exact figures and the cases are in /api/v1/support.",
        overrides=[override(by_name("Compliance"), {
            "unit": "percentunit", "decimals": 3, "mappings": NOTHING_COUNTED,
            "thresholds": steps(("red", None), ("orange", 0.9), ("green", 0.99)),
            "custom.cellOptions": {"type": "color-text"}})])


def _support_customers() -> JSON:
    met = _support_checks("met", "customer", "slaguard_support_customer_checks")
    counted = _support_checks("met|missed", "customer", "slaguard_support_customer_checks")
    return bar_gauge(
        "Support compliance, lowest customers",
        [Query(f"bottomk(10, {met}\n/ {counted})", "{{customer}}", instant=True)],
        Field(unit="percentunit", decimals=1, min=0, max=1,
              thresholds=steps(("red", None), ("orange", 0.9), ("green", 0.99))),
        w=8, h=8, description="The ten customers whose support commitments (responses and "
                              "follow-ups, every channel) were met least often this month.")


def _rolling_windows(burn_lines: JSON) -> list[JSON]:
    """The windowed objectives (``slos[].objective``): each over its own window (28 d,
    the calendar month …), not this month; one line per SLO and window."""
    key = "{{slo}} {{window}} {{budgeting}}"
    return [
        row("Rolling windows (windowed objectives)"),
        stat("Windowed objective margin",
             [Query("slaguard_slo_window_ratio - on (slo, window, budgeting) "
                    "slaguard_slo_window_objective_ratio", key, instant=True)],
             Field(unit="percentunit", decimals=3,
                   thresholds=steps(("red", None), ("green", 0))), w=8,
             description="The SLI over the objective's window minus its target (events, "
                         "good timeslices or their mean ratio): below zero it is missed."),
        timeseries("Windowed error budget remaining",
                   [Query("slaguard_slo_window_error_budget_remaining_ratio", key)],
                   Field(unit="percentunit", decimals=1,
                         thresholds=steps(("transparent", None), ("red", 0))),
                   threshold_lines=True, w=8,
                   description="Share of the window's budget left: (1 − target) × events "
                               "or slices, less the bad ones."),
        timeseries("Windowed burn rate",
                   [Query("slaguard_slo_window_burn_rate", "{{slo}} {{alert}} {{lookback}}")],
                   Field(unit=TIMES, decimals=2, min=0, thresholds=burn_lines),
                   threshold_lines=True, w=8,
                   description="Bad share over each burn alert's lookback ÷ (1 − target); "
                               "the alert fires once its condition held for alert_after."),
    ]


# Capacity (并发用户支持): each capacity job's latest load test (exporters.capacity_metrics).
VERDICTS = value_map({"passed": ("passed", "green"), "failed": ("failed", "red"),
                      "aborted": ("aborted", "orange"), "invalid": ("invalid", "purple")})


def _capacity_jobs() -> JSON:
    cols = {"capacity_job": "Job", "run": "Run", "verdict": "Verdict", "Value #A": "Ended",
            "Value #B": "Peak users", "Value #C": "Error ratio"}
    by = "capacity_job, run, verdict"
    return table(
        "Capacity: latest run per job",
        [Query(f"max by ({by}) (slaguard_capacity_last_run_timestamp_seconds) * 1000",
               instant=True, table=True),
         Query(f"max by ({by}) (slaguard_capacity_peak_users)", instant=True, table=True),
         Query(f"max by ({by}) (slaguard_capacity_error_ratio)", instant=True, table=True)],
        Field(decimals=0), w=10, h=7, columns=cols,
        description="Each capacity job's latest finished load test: its verdict (invalid: "
                    "the generator, not the platform, was saturated), the concurrent users "
                    "it reached and its failed share of requests. The whole record: "
                    "`slaguard capacity show RUN` or /api/v1/capacity/runs. Capacity runs "
                    "never count in availability.",
        overrides=[
            override(by_name("Verdict"), {"mappings": VERDICTS,
                                          "custom.cellOptions": {"type": "color-background"}}),
            override(by_name("Ended"), {"unit": "dateTimeAsIso"}),
            override(by_name("Error ratio"), {"unit": "percentunit", "decimals": 3}),
        ])


def _capacity_endpoints() -> JSON:
    cols = {"capacity_job": "Job", "run": "Run", "endpoint": "Endpoint", "Value #A": "p95",
            "Value #B": "p95 threshold", "Value #C": "p95 of threshold", "Value #D": "Mean"}
    by = "capacity_job, run, endpoint"
    p95, limit = "slaguard_capacity_endpoint_p95_seconds", \
        "slaguard_capacity_endpoint_p95_threshold_seconds"
    return table(
        "Capacity: p95 per endpoint against its threshold",
        [Query(f"max by ({by}) ({p95})", instant=True, table=True),
         Query(f"max by ({by}) ({limit})", instant=True, table=True),
         Query(f"max by ({by}) ({p95}) / on ({by}) max by ({by}) ({limit})",
               instant=True, table=True),
         Query(f"max by ({by}) (slaguard_capacity_endpoint_mean_seconds)",
               instant=True, table=True)],
        Field(unit="s", decimals=3), w=14, h=7, columns=cols,
        description="Per endpoint (a request, or a journey's step as journey/step) of each "
                    "job's latest run: p95 and mean response time, and the p95 threshold "
                    "it had to stay under (blank: none set).",
        overrides=[override(by_name("p95 of threshold"), {
            "unit": "percentunit", "decimals": 0,
            "thresholds": steps(("green", None), ("red", 1)),
            "custom.cellOptions": {"type": "color-background", "mode": "basic"}})])


def sla_overview(opts: Options) -> JSON:
    burn_lines = steps(("green", None), *((("orange" if f < 6 else "red"), float(f))
                                          for f in sorted(opts.burn_factors)))
    windows = "|".join(opts.burn_windows)
    panels = [
        row("This month"),
        _services_table(),
        stat("Availability margin over objective",
             [Query(f"{m('slaguard_slo_availability_ratio', S)}"
                    " - on (service) slaguard_slo_objective_ratio", "{{service}}",
                    instant=True)],
             Field(unit="percentunit", decimals=3,
                   thresholds=steps(("red", None), ("green", 0))),
             description="Availability minus objective: below zero the SLA is missed."),
        stat("Error budget remaining",
             [Query(m("slaguard_slo_error_budget_remaining_ratio", S), "{{service}}",
                    instant=True)], BUDGET,
             description="Share of this month's error budget left; negative when overspent."),
        _exhaustion(),
        firing_alerts(),
        row("Budget and burn"),
        timeseries("Burn rate",
                   [Query(m("slaguard_slo_burn_rate", S, f'window=~"{windows}"'),
                          "{{service}} {{window}}")],
                   Field(unit=TIMES, decimals=2, min=0, thresholds=burn_lines),
                   threshold_lines=True,
                   description="Error ratio ÷ (1 − objective) over each alert window; dashed "
                               "lines at the multiwindow alert factors."),
        timeseries("Error budget remaining (burn-down)",
                   [Query(m("slaguard_slo_error_budget_remaining_ratio", S), "{{service}}")],
                   Field(unit="percentunit", decimals=1,
                         thresholds=steps(("transparent", None), ("red", 0))),
                   threshold_lines=True,
                   description="This month's budget over time; the line at 0 is an SLA miss."),
        timeseries("Availability and objective",
                   [Query(m("slaguard_slo_availability_ratio", S), "{{service}}"),
                    Query(m("slaguard_slo_objective_ratio", S), "{{service}} objective")],
                   Field(unit="percentunit", decimals=3),
                   overrides=[override(by_regex(".* objective"), {
                       "custom.lineStyle": {"fill": "dash", "dash": [10, 10]}})]),
        burn_conditions(w=12, h=8),
        *_rolling_windows(burn_lines),
        row("Downtime, recovery points, compensation"),
        _downtime_table(),
        _compensation(opts),
        stat("Backup recovery point age",
             [Query(f"max by (service, target) ({m('slaguard_rpo_age_seconds', S)})",
                    "{{target}}", instant=True)],
             Field(unit="dtdurations",
                   thresholds=steps(("green", None), ("red", opts.rpo_objective_s))),
             w=12, description="Age of the newest recoverable backup point; red above the "
                               "RPO objective."),
        stat("Raw probe success over the range (cross-check)",
             [Query(f"avg by (service) (avg_over_time({m('probe_success', S)}[$__range]))",
                    "{{service}}", instant=True)],
             Field(unit="percentunit", decimals=3), w=12,
             description="Plain average of probe_success: no confirmation, quorum or "
                         "maintenance. Only a cross-check of the official figures."),
        row("Support desk (客户支持)"),
        _support_table(),
        _support_customers(),
        row("Capacity (load tests run on purpose)"),
        _capacity_jobs(),
        _capacity_endpoints(),
    ]
    return dashboard(
        SLA_UID, "SLA overview", "Availability, error budgets and burn rates this month",
        panels, [query_variable("service", "Service",
                                "label_values(slaguard_slo_objective_ratio, service)")],
        opts, time_from="now/M")


# -- Probes ---------------------------------------------------------------------------


def _updown() -> JSON:
    return state_timeline(
        "Up / down by target and location",
        [Query(f"max by (target, location) ({m('probe_success', S, T, L)})",
               "{{target}} @ {{location}}")],
        Field(mappings=value_map({"1": ("UP", "green"), "0": ("DOWN", "red")},
                                 no_data="NO DATA"),
              thresholds=steps(("red", None), ("green", 1))),
        description="Each probe's last result; gaps mean the probe could not judge.")


def probes(opts: Options) -> JSON:
    sel = (S, T, L)
    results = m("slaguard_probe_results_total", *sel)
    succeeded = m("slaguard_probe_results_total", *sel, 'outcome="success"')
    judged = m("slaguard_probe_results_total", *sel, 'outcome=~"success|failure"')
    panels = [
        row("State"),
        _updown(),
        stat("Failing now",
             [Query(f"count({m('probe_success', *sel)} == 0) or vector(0)", instant=True)],
             Field(thresholds=steps(("green", None), ("red", 1)))),
        stat("Success ratio over the range",
             [Query(f"avg(avg_over_time({m('probe_success', *sel)}[$__range]))",
                    instant=True)], RATIO),
        bar_gauge("Success ratio by location",
                  [Query(f"avg by (location) (avg_over_time({m('probe_success', *sel)}"
                         "[$__range]))", "{{location}}", instant=True)],
                  Field(unit="percentunit", decimals=3, min=0, max=1,
                        thresholds=steps(("red", None), ("orange", 0.99), ("green", 0.999))),
                  w=12, h=4),
        timeseries("Success ratio by target",
                   [Query(f"sum by (target) (rate({succeeded}[$__rate_interval]))\n"
                          f"/ sum by (target) (rate({judged}[$__rate_interval]))",
                          "{{target}}")],
                   Field(unit="percentunit", decimals=3, max=1),
                   description="From slaguard's result counters: every probe counted, "
                               "not only the one a scrape happened to see."),
        timeseries("Results by outcome",
                   [Query(f"sum by (outcome) (increase({results}[$__rate_interval]))",
                          "{{outcome}}")], stack=True, bars=True,
                   description="unknown: the probe could not judge (its own network check "
                               "failed, or it was late); never counted as downtime."),
        row("Timing"),
        timeseries("Probe duration",
                   [Query(m("probe_duration_seconds", *sel), "{{target}} @ {{location}}")],
                   Field(unit="s")),
        timeseries("p95 of successful probes (histogram)",
                   [Query("histogram_quantile(0.95, sum by (target, le) "
                          f"(rate({m('slaguard_probe_duration_seconds_bucket', *sel)}"
                          "[$__rate_interval])))", "{{target}}")],
                   Field(unit="s"),
                   description="Bucket bounds sit at the SLA thresholds (0.5, 1, 3, 5, 30, "
                               "600 s): read it against those, not as an exact p95."),
        timeseries("HTTP phases",
                   [Query(f"avg by (phase) ({m('probe_http_duration_seconds', *sel)})",
                          "{{phase}}")],
                   Field(unit="s"), stack=True,
                   description="resolve, connect, tls, processing (time to first byte), "
                               "transfer; averaged over the selected targets and locations."),
        timeseries("HTTP status code",
                   [Query(f"max by (target, location) ({m('probe_http_status_code', *sel)})",
                          "{{target}} @ {{location}}")],
                   Field(decimals=0), description="0: no response."),
        row("Uploads, certificates, backups"),
        # Not filtered by $target: only upload probes have a throughput.
        timeseries("Upload throughput",
                   [Query(m("slaguard_upload_throughput_bytes_per_second", S, L),
                          "{{target}} @ {{location}}")], Field(unit="Bps"), w=8),
        table("Certificate expiry",
              [Query(f"min by (service, target) ({m('probe_ssl_earliest_cert_expiry', S)}"
                     " - time()) / 86400", instant=True, table=True)],
              Field(unit="d", decimals=1,
                    thresholds=steps(("red", None), ("orange", 7),
                                     ("green", opts.cert_warning_days))),
              w=8, columns={"Value": "Days left", "service": "Service", "target": "Target"},
              sort_by="Days left",
              overrides=[override(by_name("Days left"), {
                  "custom.cellOptions": {"type": "color-background", "mode": "basic"}})],
              description="Earliest NotAfter in the presented chain, over all locations."),
        stat("Newest backup recovery point",
             [Query(f"max by (target) ({m('slaguard_recovery_point_timestamp_seconds', S)})"
                    " * 1000", "{{target}}", instant=True)],
             Field(unit="dateTimeFromNow", thresholds=steps(("blue", None))), w=8, h=8,
             description="Read by the freshness probes; the RPO is measured from it."),
    ]
    return dashboard(
        PROBES_UID, "Probes", "Synthetic probes: state, timing, uploads, certificates",
        panels,
        [query_variable("service", "Service", "label_values(probe_success, service)"),
         query_variable("target", "Target", f"label_values({m('probe_success', S)}, target)"),
         query_variable("location", "Location",
                        f"label_values({m('probe_success', S)}, location)")],
        opts, time_from="now-6h", refresh="30s")


# -- Incidents ------------------------------------------------------------------------


def _per_priority(title: str, metric: str, unit: str, description: str) -> JSON:
    return stat(title, [Query(f"max by (priority) ({metric})", "{{priority}}", instant=True)],
                Field(unit=unit, thresholds=steps(("green", None))), w=6,
                description=description)


def incidents(opts: Options) -> JSON:
    panels = [
        row("Response"),
        stat("Open incidents",
             [Query("sum by (priority) (slaguard_incidents_open)", "{{priority}}",
                    instant=True)],
             Field(thresholds=steps(("green", None), ("red", 1))), w=6),
        _per_priority("Mean time to acknowledge", "slaguard_incident_mtta_seconds",
                      "dtdurations", "MTTA by priority, as slaguard's incident records give it."),
        _per_priority("Mean time to restore", "slaguard_incident_mttr_seconds",
                      "dtdurations", "MTTR by priority, as slaguard's incident records give it."),
        stat("Response-time breaches over the range",
             [Query("sum by (priority) (increase(slaguard_incident_response_breaches_total"
                    "[$__range]))", "{{priority}}", instant=True)],
             Field(decimals=0, thresholds=steps(("green", None), ("red", 1))), w=6,
             description="Incidents not responded to within their priority's standard; "
                         "each one is a response credit."),
        timeseries("Open incidents over time",
                   [Query("sum by (priority) (slaguard_incidents_open)", "{{priority}}")],
                   Field(decimals=0), stack=True, w=16),
        firing_alerts(w=8, h=8),
        burn_conditions(),
        row("Outages"),
        timeseries("Confirmed downtime this month",
                   [Query(m("slaguard_slo_downtime_seconds", S), "{{service}}")],
                   Field(unit="dtdurations")),
        timeseries("Raw downtime per day",
                   [Query(f"86400 * (1 - avg by (service) (avg_over_time("
                          f"{m('probe_success', S)}[1d])))", "{{service}}", interval="1d")],
                   Field(unit="dtdurations"), bars=True, interval="1d",
                   description="From probe_success alone (no confirmation or quorum): days "
                               "without samples stay empty."),
        annotation_list("Incidents and maintenance", [TAG],
                        description="Annotations slaguard posts (`slaguard grafana publish`)."),
    ]
    return dashboard(
        INCIDENTS_UID, "Incidents", "Incidents, response times and outages", panels,
        [query_variable("service", "Service",
                        "label_values(slaguard_slo_objective_ratio, service)")],
        opts, time_from="now-7d")


# -- slaguard itself -------------------------------------------------------------------

INST = 'instance=~"$instance"'
LATENESS = "slaguard_probe_start_lateness_seconds_bucket"


def _quantiles(metric: str, by: str, legend: str) -> list[Query]:
    return [Query(f"histogram_quantile({q}, sum by ({by}, le) "
                  f"(rate({m(metric, INST)}[$__rate_interval])))", f"p{int(q * 100)} {legend}")
            for q in (0.5, 0.99)]


def _self_health() -> list[JSON]:
    return [
        row("Health"),
        stat("Heartbeat", [Query(f"max({m('slaguard_heartbeat_up', INST)}) or vector(-1)",
                                 instant=True)],
             Field(mappings=value_map({"1": ("SENT", "green"), "0": ("STOPPED", "red"),
                                       "-1": ("NOT CONFIGURED", "text")}, no_data="NO DATA")),
             w=4, description="heartbeat.url is called only while the record commits, "
                              "evaluation succeeds and results arrive."),
        stat("Record", [Query(f"max({m('slaguard_store_commit_failing', INST)})", instant=True)],
             Field(mappings=value_map({"0": ("COMMITTING", "green"), "1": ("FAILING", "red")},
                                      no_data="NO DATA")), w=4,
             description="/healthz says why it cannot commit."),
        stat("Results not yet committed",
             [Query(f"sum({m('slaguard_store_uncommitted_results', INST)})", instant=True)],
             Field(decimals=0, thresholds=steps(("green", None), ("orange", 1000))), w=4),
        stat("Since the last good evaluation",
             [Query("time() - max("
                    f"{m('slaguard_evaluation_last_success_timestamp_seconds', INST)})",
                    instant=True)],
             Field(unit="s", decimals=0, thresholds=steps(("green", None), ("red", 300))), w=4),
        stat("Self alerts firing",
             [Query('sum(ALERTS{alertstate="firing", service="slaguard"}) or vector(0)',
                    instant=True)],
             Field(decimals=0, thresholds=steps(("green", None), ("red", 1))), w=4,
             description="SlaguardProbesLate, SlaguardEvaluationFailing, SlaguardOutboxBacklog, "
                         "SlaguardChannelFailing, SlaguardWorkerRestarting, "
                         "SlaguardRecordNotCommitting, SlaguardResultsDropped."),
        table("Build", [Query(m("slaguard_build_info", INST), instant=True, table=True)],
              w=4, h=4, columns={"Value": "up"}),
    ]


def _self_probing() -> list[JSON]:
    late = f'{LATENESS}{{{INST}, le="1.0"}}'
    every = f'{LATENESS}{{{INST}, le="+Inf"}}'
    return [
        row("Probing"),
        timeseries("Probe start lateness", _quantiles(LATENESS, "location, worker",
                                                      "{{location}} worker {{worker}}"),
                   Field(unit="s"), w=12,
                   description="How late scheduled probes start after their slot (a busy "
                               "worker, a full probe semaphore)."),
        timeseries("Probes starting over 1 s late",
                   [Query(f"1 - sum by (location) (rate({late}[$__rate_interval]))\n"
                          f"  / sum by (location) (rate({every}[$__rate_interval]))",
                          "{{location}}")],
                   Field(unit="percentunit", decimals=1, thresholds=steps(
                       ("green", None), ("red", 0.1))), threshold_lines=True, w=12,
                   description="SlaguardProbesLate fires above 10 % for 5 minutes."),
        timeseries("Skipped probe runs",
                   [Query("sum by (location, reason) (increase("
                          f"{m('slaguard_probes_skipped_total', INST)}[$__rate_interval]))"
                          " or vector(0)", "{{location}} {{reason}}")],
                   Field(decimals=0), bars=True, w=12,
                   description="Recorded as unknown: missed, overrun (the previous run still "
                               "going) or overloaded (no probe slot in time)."),
        timeseries("Worker restarts",
                   [Query("sum by (worker) (increase("
                          f"{m('slaguard_worker_restarts_total', INST)}[$__rate_interval]))"
                          " or vector(0)", "worker {{worker}}")],
                   Field(decimals=0), bars=True, w=12),
    ]


def _self_record() -> list[JSON]:
    return [
        row("Record and evaluation"),
        timeseries("Commit latency",
                   _quantiles("slaguard_store_commit_duration_seconds_bucket", "instance",
                              "commit"), Field(unit="s"), w=8),
        timeseries("Writer queue",
                   [Query(f"sum({m('slaguard_pipeline_queue_results', INST)})", "in memory"),
                    Query(f"sum({m('slaguard_store_uncommitted_results', INST)})",
                          "not yet committed"),
                    Query(f"sum(rate({m('slaguard_store_commit_failures_total', INST)}"
                          "[$__rate_interval]))", "failed commits/s")],
                   Field(decimals=0), w=8),
        timeseries("Record size", [Query(f"sum by (file) ({m('slaguard_store_size_bytes', INST)})",
                                         "{{file}}")],
                   Field(unit="bytes"), stack=True, w=8),
        timeseries("Evaluation duration",
                   _quantiles("slaguard_evaluation_duration_seconds_bucket", "instance",
                              "evaluation"), Field(unit="s"), w=12),
        timeseries("Evaluation failures",
                   [Query(f"sum(increase({m('slaguard_evaluation_failures_total', INST)}"
                          "[$__rate_interval]))", "failed rounds")],
                   Field(decimals=0), bars=True, w=12),
    ]


def _self_notifications() -> list[JSON]:
    by_channel = "sum by (channel) (increase({}[$__rate_interval])) or vector(0)"
    return [
        row("Notifications"),
        timeseries("Outbox backlog",
                   [Query(f"sum({m('slaguard_outbox_pending_notifications', INST)})", "waiting")],
                   Field(decimals=0), w=8),
        timeseries("Oldest waiting notification",
                   [Query(f"max({m('slaguard_outbox_oldest_pending_age_seconds', INST)})", "age")],
                   Field(unit="s", thresholds=steps(("green", None), ("red", 600))),
                   threshold_lines=True, w=8,
                   description="SlaguardOutboxBacklog fires above 10 minutes."),
        timeseries("Deliveries per channel",
                   [Query(by_channel.format(m("slaguard_notification_failures_total", INST)),
                          "failed {{channel}}"),
                    Query(by_channel.format(m("slaguard_notifications_sent_total", INST)),
                          "sent {{channel}}")],
                   Field(decimals=0), bars=True, w=8,
                   description="SlaguardChannelFailing fires at 3 failures in 15 minutes "
                               "without a success."),
    ]


def slaguard_itself(opts: Options) -> JSON:
    panels = [*_self_health(), *_self_probing(), *_self_record(), *_self_notifications()]
    return dashboard(
        SELF_UID, "slaguard itself", "Is the monitor healthy: probing on time, the record "
        "committing, evaluation and notifications working", panels,
        [query_variable("instance", "Instance", "label_values(slaguard_build_info, instance)")],
        opts, time_from="now-6h", refresh="30s")


DASHBOARDS: dict[str, Callable[[Options], JSON]] = {
    "sla-overview": sla_overview,
    "probes": probes,
    "incidents": incidents,
    "slaguard-itself": slaguard_itself,
}
