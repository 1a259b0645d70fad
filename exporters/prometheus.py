"""Prometheus exposition: a custom Collector reading live state at scrape time.

Metric names follow blackbox_exporter where they overlap, with labels
target, service, location, kind, so dashboards and rules written here work on
blackbox data too.  slaguard's own metrics are prefixed ``slaguard_``.

Series per target × location, by kind of target (over https; plain http has no
``tls`` phase and no certificate).  tests/exporters/test_metrics_scale.py renders
each kind and asserts this table; ``exporters.prometheus.exclude`` drops a family:

| family                                      | http  | upload | freshness |
|---------------------------------------------|-------|--------|-----------|
| probe_success                               | 1     | 1      | 1         |
| probe_duration_seconds                      | 1     | 1      | 1         |
| probe_http_duration_seconds                 | 5     | 2      | 5         |
| probe_http_status_code                      | 1     | 1      | 1         |
| probe_ssl_earliest_cert_expiry              | 1     | 1      | 1         |
| slaguard_recovery_point_timestamp_seconds   | 0     | 0      | 1         |
| slaguard_upload_throughput_bytes_per_second | 0     | 1      | 0         |
| slaguard_probe_last_timestamp_seconds       | 1     | 1      | 1         |
| slaguard_probe_results_total                | 3     | 3      | 3         |
| slaguard_probe_duration_seconds             | 16    | 16     | 16        |
| slaguard_rpo_age_seconds                    | 0     | 0      | 1         |
| total                                       | 29    | 27     | 31        |

probe_success is absent while the last result is ``unknown``; the phases are the
ones the probe measured (http: resolve, connect, tls, processing, transfer;
upload: send, transfer); the histogram is 13 bounds + ``+Inf`` + _sum + _count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from alerting.incidents import lateness, response_stats
from alerting.store import AlertingStore
from exporters.exposition import TextFamily, count, label_value, labels, value
from slaguard.domain import Outcome, ProbeResult
from slaguard.state import DURATION_BUCKETS_MS, LiveState, SeriesKey, SeriesState
from slo.model import duration_label
from slo.periods import month_containing
from slo.report import Report

LABELS = ["target", "service", "location", "kind"]
OUTCOMES = (Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN)


def _s(ms: int) -> float:
    return ms / 1000


def _seconds(r: ProbeResult) -> float:
    """The probe's duration at the resolution it was measured (µs when live)."""
    return r.duration_us / 1_000_000 if r.duration_us is not None else _s(r.duration_ms)


# The probe families in exposition order: (name, help, type).  Names are the
# ``# TYPE`` names (a counter's with ``_total``), as ``exporters.prometheus.exclude``
# takes them.
PROBE_FAMILIES = (
    ("probe_success",
     "Whether the last probe succeeded (absent while the probe cannot judge)", "gauge"),
    ("probe_duration_seconds", "Duration of the last probe in seconds", "gauge"),
    ("probe_http_duration_seconds", "Duration of the last probe's HTTP phases", "gauge"),
    ("probe_http_status_code", "HTTP status code of the last probe (0 if none)", "gauge"),
    ("probe_ssl_earliest_cert_expiry",
     "Earliest NotAfter of the presented TLS chain, unix seconds", "gauge"),
    ("slaguard_recovery_point_timestamp_seconds",
     "Newest recoverable backup point seen by a freshness probe", "gauge"),
    ("slaguard_upload_throughput_bytes_per_second",
     "Throughput of the last upload probe over its send phase", "gauge"),
    ("slaguard_probe_last_timestamp_seconds", "When the last probe started", "gauge"),
    ("slaguard_probe_results_total", "Probe results by outcome", "counter"),
    ("slaguard_probe_duration_seconds",
     "Durations of successful probes; bucket bounds at the SLA thresholds", "histogram"),
)
_LE = tuple(str(_s(b)) for b in DURATION_BUCKETS_MS)


def exposed_name(metric: Metric) -> str:
    """The family's name in ``# TYPE`` (what ``exclude`` lists): a counter's ends in _total."""
    return metric.name + "_total" if metric.type == "counter" else metric.name


class Excluding(Collector):
    """Another collector without the families ``exporters.prometheus.exclude`` names."""

    def __init__(self, collector: Collector, exclude: Iterable[str]):
        self.collector, self.exclude = collector, frozenset(exclude)

    def collect(self) -> Iterator[Metric]:
        return (m for m in self.collector.collect() if exposed_name(m) not in self.exclude)


# Between families in a series' one-template rendering (split after formatting); a
# series whose labels hold it takes the general path.
_SEP = "\x00"


def _pct(text: str) -> str:
    return text.replace("%", "%%")


class _SeriesText:
    """One series' label strings, rendered once, and its line templates.

    Labels are sorted by name in the text format, so ``le`` goes after ``kind`` and
    ``phase``/``outcome`` after ``location``.  All of a series' lines are one
    %-template per shape (which families and phases it has), formatted in one
    operation and split into its families: the fast path.  Counts below 10⁶ print
    as ``{n}.0``, what floatToGoString prints; larger ones take the general path."""

    __slots__ = ("buckets", "fast", "outcomes", "phase_head", "phase_tail", "phases", "plain",
                 "shapes")

    def __init__(self, key: SeriesKey):
        target, service, location, kind = key
        kind_ = labels([("kind", kind)])
        rest = labels([("location", location), ("service", service), ("target", target)])
        self.plain = "{" + kind_ + "," + rest + "} "
        self.phase_head = "{" + labels([("kind", kind), ("location", location)])
        self.phase_tail = "," + labels([("service", service), ("target", target)]) + "} "
        self.phases: dict[str, str] = {}
        self.outcomes = tuple(
            f"slaguard_probe_results_total{self.phase_head},outcome=\"{o.value}\""
            f"{self.phase_tail}" for o in OUTCOMES)
        h = "slaguard_probe_duration_seconds"
        self.buckets = (*(f'{h}_bucket{{{kind_},le="{le}",{rest}}} ' for le in (*_LE, "+Inf")),
                        f"{h}_count{self.plain}", f"{h}_sum{self.plain}")
        self.shapes: dict[tuple[object, ...], str] = {}
        self.fast = not any(_SEP in part for part in key)

    def phase(self, name: str) -> str:
        line = self.phases.get(name)
        if line is None:
            line = self.phases[name] = (f'probe_http_duration_seconds{self.phase_head},'
                                        f'phase="{label_value(name)}"{self.phase_tail}')
        return line

    def template(self, shape: tuple[bool, tuple[str, ...], bool, bool, bool, bool, bool]) -> str:
        found = self.shapes.get(shape)
        if found is None:
            found = self.shapes[shape] = self._template(*shape)
        return found

    def _template(self, success: bool, phases: tuple[str, ...], status: bool, cert: bool,
                  recovery: bool, bps: bool, hist: bool) -> str:
        p = _pct(self.plain)
        return _SEP.join([
            f"probe_success{p}%s\n" if success else "",
            f"probe_duration_seconds{p}%s\n",
            "".join(f"{_pct(self.phase(ph))}%s\n" for ph in phases),
            f"probe_http_status_code{p}%s\n" if status else "",
            f"probe_ssl_earliest_cert_expiry{p}%s\n" if cert else "",
            f"slaguard_recovery_point_timestamp_seconds{p}%s\n" if recovery else "",
            f"slaguard_upload_throughput_bytes_per_second{p}%s\n" if bps else "",
            f"slaguard_probe_last_timestamp_seconds{p}%s\n",
            "".join(f"{_pct(o)}%d.0\n" for o in self.outcomes),
            "".join(f"{_pct(b)}%d.0\n" for b in self.buckets[:-1]) +
            f"{_pct(self.buckets[-1])}%s\n" if hist else "",
        ])


class _Entry:
    """A series as last read: its state (a copy) and, once rendered, its lines per family."""

    __slots__ = ("lines", "state", "text", "version")

    def __init__(self, state: SeriesState, text: _SeriesText):
        self.version, self.state, self.text = state.version, state, text
        self.lines: tuple[str, ...] | None = None


def _seconds_text(ms: int, memo: dict[int, str]) -> str:
    """value(ms / 1000), remembered in ``memo`` (the collector's) for the durations
    phases take: bounded, below 100 s."""
    text = memo.get(ms)
    if text is None:
        text = value(_s(ms))
        if 0 <= ms < 100_000:
            memo[ms] = text
    return text


def _fast_lines(t: _SeriesText, st: SeriesState, hist: bool, memo: dict[int, str]
                ) -> tuple[str, ...] | None:
    """The series' lines per family through its template, or None where the general
    path must render them (a count from 10⁶ on, a label holding _SEP)."""
    r, o = st.latest, st.outcomes
    counts = (o[Outcome.SUCCESS], o[Outcome.FAILURE], o[Outcome.UNKNOWN])
    if not t.fast or max(counts) >= 1_000_000 or st.count >= 1_000_000:
        return None
    phases = sorted(r.phases_ms.items())
    status = r.kind != "freshness" or r.status_code is not None
    bps = r.throughput_bps()
    args: list[object] = []
    if r.outcome is not Outcome.UNKNOWN:
        args.append("1.0" if r.success else "0.0")
    args.append(value(_seconds(r)))
    args.extend(_seconds_text(ms, memo) for _, ms in phases)
    if status:
        args.append(count(r.status_code or 0))
    if r.cert_expiry is not None:
        args.append(count(r.cert_expiry))
    if r.recovery_point_ms is not None:
        args.append(value(_s(r.recovery_point_ms)))
    if bps is not None:
        args.append(value(float(bps)))
    args.append(value(_s(r.ts_ms)))
    args.extend(counts)
    if hist:
        args.extend((*st.buckets, st.count, st.count, value(_s(st.sum_ms))))
    shape = (r.outcome is not Outcome.UNKNOWN, tuple(ph for ph, _ in phases), status,
             r.cert_expiry is not None, r.recovery_point_ms is not None, bps is not None, hist)
    return tuple((t.template(shape) % tuple(args)).split(_SEP))


def _series_lines(t: _SeriesText, st: SeriesState, skip: frozenset[str],
                  memo: dict[int, str]) -> tuple[str, ...]:
    """The series' lines for each of PROBE_FAMILIES, as generate_latest writes them."""
    hist = "slaguard_probe_duration_seconds" not in skip
    fast = _fast_lines(t, st, hist, memo)
    if fast is not None:
        return fast
    r, p = st.latest, t.plain
    phases = "".join(f"{t.phase(ph)}{_seconds_text(ms, memo)}\n"
                     for ph, ms in sorted(r.phases_ms.items()))
    bps = r.throughput_bps()
    hist_values = [*map(count, (*st.buckets, st.count, st.count)), value(_s(st.sum_ms))]
    return (
        "" if r.outcome is Outcome.UNKNOWN else
        f"probe_success{p}{'1.0' if r.success else '0.0'}\n",
        f"probe_duration_seconds{p}{value(_seconds(r))}\n",
        phases,
        f"probe_http_status_code{p}{count(r.status_code or 0)}\n"
        if r.kind != "freshness" or r.status_code is not None else "",
        "" if r.cert_expiry is None else
        f"probe_ssl_earliest_cert_expiry{p}{count(r.cert_expiry)}\n",
        "" if r.recovery_point_ms is None else
        f"slaguard_recovery_point_timestamp_seconds{p}{value(_s(r.recovery_point_ms))}\n",
        "" if bps is None else
        f"slaguard_upload_throughput_bytes_per_second{p}{value(float(bps))}\n",
        f"slaguard_probe_last_timestamp_seconds{p}{value(_s(r.ts_ms))}\n",
        "".join(f"{line}{count(st.outcomes[o])}\n"
                for line, o in zip(t.outcomes, OUTCOMES, strict=True)),
        "".join(f"{b}{v}\n" for b, v in zip(t.buckets, hist_values, strict=True))
        if hist else "",
    )


class ProbeCollector(Collector):
    """Per (target, service, location, kind) the last result and its counters.

    The text is rendered here (exporters.exposition.TextFamily), re-rendering only
    the series whose state changed since the last scrape; ``samples`` are built
    only when prometheus_client's own tools ask."""

    def __init__(self, state: LiveState, exclude: Iterable[str] = ()):
        self.state = state
        self.exclude = frozenset(exclude)
        self._entries: dict[SeriesKey, _Entry] = {}
        self._versions: dict[SeriesKey, int] = {}  # each entry's version, for changed_since
        self._ms_text: dict[int, str] = {}  # milliseconds → their text in seconds
        self._lock = threading.Lock()  # one scrape at a time updates the entries

    def _read(self) -> list[_Entry]:
        with self._lock:
            rows = self.state.changed_since(self._versions)
            for key, st in rows:
                if st is not None:
                    old = self._entries.get(key)
                    self._entries[key] = _Entry(st, old.text if old else _SeriesText(key))
                    self._versions[key] = st.version
            return [self._entries[key] for key, _ in rows]

    def prerender(self) -> None:
        """Render the series that changed since the last scrape or prerender, ahead of the
        next scrape: the app calls this every second off the loop, so a scrape renders only
        what changed in the last second (a scrape of 1 000 targets × 3 where every series
        changed costs ~150 ms; with this, about a fifteenth of it at 15 s probes)."""
        for e in self._read():
            if e.lines is None:  # rendering twice (a scrape at the same time) is harmless
                e.lines = _series_lines(e.text, e.state, self.exclude, self._ms_text)

    def collect(self) -> Iterator[Metric]:
        entries = self._read()
        skip = self.exclude
        rendered: list[tuple[str, ...]] = []

        def lines() -> list[tuple[str, ...]]:
            if not rendered:
                for e in entries:  # an entry is immutable once rendered: no lock needed
                    if e.lines is None:
                        e.lines = _series_lines(e.text, e.state, skip, self._ms_text)
                rendered.extend(e.lines for e in entries if e.lines is not None)
            return rendered

        families: list[Metric] = []

        def samples(i: int) -> list[Sample]:
            if not families:
                families.extend(_families([e.state for e in entries]))
            return families[i].samples

        for i, (name, doc, typ) in enumerate(PROBE_FAMILIES):
            if name in skip:
                continue
            base = name.removesuffix("_total") if typ == "counter" else name
            yield TextFamily(base, doc, typ, partial(_column, lines, i), partial(samples, i))


def _column(lines: Callable[[], list[tuple[str, ...]]], i: int) -> list[str]:
    return [row[i] for row in lines()]


def _families(states: list[SeriesState]) -> list[Metric]:
    """The probe families built as prometheus_client objects: the reference the text
    path must equal byte for byte, and what prometheus_client's own tools read."""
    gauges = [GaugeMetricFamily(name, doc, labels=[*LABELS, "phase"] if name ==
                                "probe_http_duration_seconds" else LABELS)
              for name, doc, _ in PROBE_FAMILIES[:8]]
    success, duration, phases, status, cert, recovery, throughput, last = gauges
    (rname, rdoc, _), (hname, hdoc, _) = PROBE_FAMILIES[8:]
    results = CounterMetricFamily(rname.removesuffix("_total"), rdoc,
                                  labels=[*LABELS, "outcome"])
    hist = HistogramMetricFamily(hname, hdoc, labels=LABELS)
    for st in states:
        r = st.latest
        labels_ = list(LiveState.key(r))
        if r.outcome is not Outcome.UNKNOWN:
            success.add_metric(labels_, 1.0 if r.success else 0.0)
        duration.add_metric(labels_, _seconds(r))
        last.add_metric(labels_, _s(r.ts_ms))
        for phase, ms in sorted(r.phases_ms.items()):
            phases.add_metric([*labels_, phase], _s(ms))
        if r.kind != "freshness" or r.status_code is not None:
            status.add_metric(labels_, float(r.status_code or 0))
        if r.cert_expiry is not None:
            cert.add_metric(labels_, float(r.cert_expiry))
        if r.recovery_point_ms is not None:
            recovery.add_metric(labels_, _s(r.recovery_point_ms))
        bps = r.throughput_bps()
        if bps is not None:
            throughput.add_metric(labels_, float(bps))
        for outcome in OUTCOMES:
            results.add_metric([*labels_, outcome.value], float(st.outcomes[outcome]))
        buckets = [(str(_s(b)), float(n)) for b, n in zip(DURATION_BUCKETS_MS, st.buckets,
                                                        strict=True)]
        buckets.append(("+Inf", float(st.count)))
        hist.add_metric(labels_, buckets, sum_value=_s(st.sum_ms))
    return [*gauges, results, hist]


class SloCollector(Collector):
    """This month's SLO figures (as last evaluated) and live RPO ages."""

    def __init__(self, state: LiveState, now_ms: Callable[[], int]):
        self.state, self.now_ms = state, now_ms

    def collect(self) -> Iterator[Metric]:
        yield self._rpo_age()
        report = self.state.slo_report
        if report is None:
            return
        svc = ["service"]
        families = {
            "availability": GaugeMetricFamily(
                "slaguard_slo_availability_ratio",
                "Availability this month to date (exact ratio as float)", labels=svc),
            "objective": GaugeMetricFamily(
                "slaguard_slo_objective_ratio", "Availability objective", labels=svc),
            "remaining": GaugeMetricFamily(
                "slaguard_slo_error_budget_remaining_ratio",
                "Share of this month's error budget left (negative when overspent)", labels=svc),
            "downtime": GaugeMetricFamily(
                "slaguard_slo_downtime_seconds", "Confirmed downtime this month", labels=svc),
            "gaps": GaugeMetricFamily(
                "slaguard_slo_gap_seconds", "Time no location could judge this month",
                labels=svc),
            "coverage": GaugeMetricFamily(
                "slaguard_slo_coverage_ratio", "Share of this month some location could judge",
                labels=svc),
        }
        burn = GaugeMetricFamily("slaguard_slo_burn_rate",
                                 "Error-budget burn rate over the window", labels=[*svc, "window"])
        firing = GaugeMetricFamily(
            "slaguard_slo_burn_condition_firing", "Multiwindow burn-rate condition (1 firing)",
            labels=[*svc, "severity", "long_window", "short_window"])
        for s in report.services:
            a, name = s.availability, [s.spec.name]
            families["availability"].add_metric(name, float(a.availability))
            families["objective"].add_metric(name, float(a.objective))
            if a.error_budget_remaining is not None:
                families["remaining"].add_metric(name, float(a.error_budget_remaining))
            families["downtime"].add_metric(name, float(a.downtime_seconds))
            families["gaps"].add_metric(name, float(a.gap_seconds))
            families["coverage"].add_metric(name, float(a.coverage))
            if s.burn is None:
                continue
            for w in s.burn.windows:
                if w.burn_rate is not None:
                    burn.add_metric([*name, w.name], float(w.burn_rate))
            for c in s.burn.conditions:
                firing.add_metric([*name, c.severity, c.long_window, c.short_window],
                                  1.0 if c.firing else 0.0)
        yield from incident_gauges(report)
        yield from backup_gauges(report)
        yield from objective_gauges(report)
        exposure = GaugeMetricFamily(
            "slaguard_compensation_exposure_cny",
            "What the customer's statement credits so far this month", labels=["customer"])
        for customer, amount in sorted(self.state.exposure.items()):
            exposure.add_metric([customer], float(amount))
        yield from (*families.values(), burn, firing, exposure)

    def _rpo_age(self) -> Metric:
        age = GaugeMetricFamily("slaguard_rpo_age_seconds",
                                "Age of the newest recoverable backup point now", labels=LABELS)
        now = self.now_ms()
        for key, r in self.state.latest():  # no copies of the counters: only latest is read
            if r.recovery_point_ms is not None:
                age.add_metric(list(key), _s(now - r.recovery_point_ms))
        return age


def objective_gauges(report: Report) -> list[Metric]:
    """The windowed objectives (``slos[].objective``) at the report's end: the SLI
    ratio, the objective, the error budget left and each burn alert's burn rate and
    condition.  A window without events leaves its ratio and budget series out
    (unknown is not 0 nor 1)."""
    if not report.objectives:
        return []
    labels = ["slo", "window", "budgeting"]
    ratio = GaugeMetricFamily("slaguard_slo_window_ratio",
                              "Good share of the windowed objective's events or slices",
                              labels=labels)
    target = GaugeMetricFamily("slaguard_slo_window_objective_ratio",
                               "The windowed objective's target", labels=labels)
    remaining = GaugeMetricFamily(
        "slaguard_slo_window_error_budget_remaining_ratio",
        "Share of the window's error budget left (negative when overspent)", labels=labels)
    burn = GaugeMetricFamily("slaguard_slo_window_burn_rate",
                             "Burn rate over a burn alert's lookback",
                             labels=[*labels, "alert", "lookback"])
    holds = GaugeMetricFamily("slaguard_slo_window_burn_alert_condition",
                              "Burn alert condition holds now (1), before alert_after",
                              labels=[*labels, "alert", "severity"])
    for x in report.objectives:
        key = [x.spec.name, x.spec.window_label, x.spec.budgeting]
        target.add_metric(key, float(x.spec.target))
        if x.ratio is not None:
            ratio.add_metric(key, float(x.ratio))
        if x.remaining_ratio is not None:
            remaining.add_metric(key, float(x.remaining_ratio))
        for b in x.burn:
            if b.burn_rate is not None:
                burn.add_metric([*key, b.spec.name, duration_label(b.spec.lookback_ms)],
                                float(b.burn_rate))
            holds.add_metric([*key, b.spec.name, b.spec.severity], 1.0 if b.holds else 0.0)
    return [ratio, target, remaining, burn, holds]


def incident_gauges(report: Report) -> list[Metric]:
    """This month's incidents as the report judges them, live and imported alike:
    per priority the count, MTTA, MTTR, and how many are late on each clock."""
    if report.incidents is None:
        return []
    p = ["priority"]
    count = GaugeMetricFamily("slaguard_slo_incidents",
                              "Incidents opened this month (live and imported)", labels=p)
    mtta = GaugeMetricFamily("slaguard_slo_incident_mtta_seconds",
                             "Mean time to respond, incidents opened this month (live and "
                             "imported)", labels=p)
    mttr = GaugeMetricFamily("slaguard_slo_incident_mttr_seconds",
                             "Mean time to restore, incidents opened this month (live and "
                             "imported)", labels=p)
    late = GaugeMetricFamily("slaguard_slo_incidents_late",
                             "Incidents opened this month past the priority's standard on a "
                             "clock (respond, restore, resolve)", labels=[*p, "clock"])
    for f in report.incidents.by_priority:
        count.add_metric([f.priority], float(f.incidents))
        if f.mtta_ms is not None:
            mtta.add_metric([f.priority], float(f.mtta_ms / 1000))
        if f.mttr_ms is not None:
            mttr.add_metric([f.priority], float(f.mttr_ms / 1000))
        for clock, n in f.late:
            late.add_metric([f.priority, clock], float(n))
    return [count, mtta, mttr, late]


def backup_gauges(report: Report) -> list[Metric]:
    """Each backup kind on its schedule (每日增量 / 每周全量): the newest point's age as
    last evaluated, and 1 when it is missed (older than every + grace: an RPO risk)."""
    labels = ["target", "kind"]
    age = GaugeMetricFamily("slaguard_slo_backup_age_seconds",
                            "Age of the newest backup of this kind, as last evaluated",
                            labels=labels)
    limit = GaugeMetricFamily("slaguard_slo_backup_max_age_seconds",
                              "The kind's schedule plus its grace", labels=labels)
    missed = GaugeMetricFamily("slaguard_slo_backup_missed",
                               "1 when the kind's newest backup is older than its schedule "
                               "plus grace, or none was seen (an RPO risk)", labels=labels)
    for b in report.backups:
        key = [b.spec.parent, b.spec.kind]
        if b.age_ms is not None:
            age.add_metric(key, _s(b.age_ms))
        limit.add_metric(key, _s(b.spec.max_age_ms))
        missed.add_metric(key, 1.0 if b.rpo_risk else 0.0)
    return [age, limit, missed] if report.backups else []


def this_month(now_ms: int, timezone: str) -> str:
    return month_containing(now_ms, timezone).label


class IncidentCollector(Collector):
    """Incidents as the on-call dashboard shows them, read from the record at scrape time."""

    PRIORITIES = ("P1", "P2", "P3", "P4")

    def __init__(self, records: AlertingStore, timezone: str, now_ms: Callable[[], int]):
        self.records, self.timezone, self.now_ms = records, timezone, now_ms

    def collect(self) -> Iterator[Metric]:
        now = self.now_ms()
        incidents = self.records.recent_incidents(100_000)
        labels = ["priority"]
        open_ = GaugeMetricFamily("slaguard_incidents_open", "Incidents not resolved yet",
                                  labels=labels)
        mtta = GaugeMetricFamily("slaguard_incident_mtta_seconds",
                                 "Mean time to acknowledge, incidents opened this month",
                                 labels=labels)
        mttr = GaugeMetricFamily("slaguard_incident_mttr_seconds",
                                 "Mean time to restore, incidents opened this month",
                                 labels=labels)
        breaches = CounterMetricFamily("slaguard_incident_response_breaches",
                                       "Incidents acknowledged (or still open) past their "
                                       "response standard", labels=labels)
        month = this_month(now, self.timezone)
        stats = {s.priority.value: s for s in response_stats(incidents, self.timezone, now)
                 if s.month == month}
        for p in self.PRIORITIES:
            mine = [i for i in incidents if i.priority.value == p]
            open_.add_metric([p], float(sum(1 for i in mine if i.resolved_ms is None)))
            breaches.add_metric([p], float(sum(1 for i in mine
                                               if (lateness(i, now).respond_ms or 0) > 0)))
            s = stats.get(p)
            if s is not None and s.mtta_ms is not None:
                mtta.add_metric([p], _s(s.mtta_ms))
            if s is not None and s.mttr_ms is not None:
                mttr.add_metric([p], _s(s.mttr_ms))
        yield from (open_, mtta, mttr, breaches)


class StoreBacklog(Protocol):
    """What the store collector reads (slaguard.pipeline.ResultPipeline)."""

    @property
    def pending(self) -> int: ...

    dropped: int

    def trouble(self) -> str | None: ...


class StoreCollector(Collector):
    """The writer's backlog: results not yet in the record, and those it had to drop."""

    def __init__(self, pipeline: StoreBacklog):
        self.pipeline = pipeline

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "slaguard_store_uncommitted_results",
            "Results not yet committed to the record (in memory and in storage.spill_dir)")
        waiting.add_metric([], float(self.pipeline.pending))
        dropped = CounterMetricFamily(
            "slaguard_store_dropped_results",
            "Results dropped past storage.buffer_results and the spill directory "
            "(recorded as gaps)")
        dropped.add_metric([], float(self.pipeline.dropped))
        failing = GaugeMetricFamily(
            "slaguard_store_commit_failing",
            "1 while results cannot be committed to the record (/healthz says why), else 0")
        failing.add_metric([], 0.0 if self.pipeline.trouble() is None else 1.0)
        yield from (waiting, dropped, failing)
