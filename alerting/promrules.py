"""Prometheus rules from a configuration: slaguard's SLIs as recording rules over
``probe_success`` and the alerts built on them (multiwindow burn rates, confirmed
outage, silent probes, expiring certificates).

The inputs are blackbox_exporter's metric names with the labels of docs/design.md
(``target``, ``service``, ``location``, ``kind``), so the rules work on
slaguard's own ``/metrics`` and on blackbox_exporter data relabelled the same way.

How the PromQL approximates slaguard's evaluator (``slo.timeline``, ``slo.burn``)
---------------------------------------------------------------------------------
Chain, evaluated every ``evaluation_interval`` E (15 s) in one group (with the alerts,
so that they read what was recorded at the same instant):

1. ``slaguard:target_down:quorum`` — per target, 1 when a quorum of the locations
   that report ``probe_success`` *now* report 0 (``majority``: 2·down > known).
   A location whose probe cannot judge exposes no ``probe_success`` and so does not
   vote, as in the evaluator.
2. ``slaguard:service_down:quorum`` — per service, max (``down_when: any``) or min
   (``all``) over its availability targets; when no target reports, the no_data
   policy decides (``up`` → 0, ``down`` → 1, ``exclude`` → no sample).
3. ``slaguard:service_error_ratio:rate<w>`` — the share of the E-spaced samples of
   (2) in ``[t − w, t)`` that were down: a time-based error ratio.  The window is
   shifted by E/2 (``offset``) so that no sample sits on its edge: the sample taken
   at t describes ``[t, t + E)`` and is left out, the one at t − w is counted.  That
   makes the ratio the exact share of the window on the E grid, and the same on
   Prometheus 2 (closed windows) and 3 (left-open windows, prometheus#13904).

Confirmation (``confirm`` consecutive failures) cannot be applied to the ratio
itself: the evaluator counts a confirmed outage from its *first* failure, which a
recording rule only knows ``confirm − 1`` intervals later.  The two candidates:

* ratio over confirmed state (``max_over_time(probe_success[confirm·interval]) == 0``):
  every outage loses ``confirm − 1`` (up to ``confirm``) intervals, forever, and
  every page comes that much late (a 15-minute target: 15–30 minutes);
* ratio over the unconfirmed state, *gated*: the burn alerts also require a
  confirmed outage (``slaguard:service_confirmed_down:quorum``, confirmation per
  location, then the same quorum) within the rule's short window.

The second is chosen: a confirmed outage is counted from its first failure exactly
as the evaluator counts it (a 100 % outage at 99.9 % pages at the first evaluation
after 51.84 s), and blips alone never page.  What still differs:

* the recorded ratios include blips (dashboards should show the evaluator's
  ``slaguard_slo_*``), and so do the alerts once a confirmed outage opened the
  gate: blips in the same short window count, the evaluator leaves them out;
* state is sampled every E, so each change is rounded to the E grid;
* confirmation needs ``confirm`` samples in ``confirm × interval``: exact with
  blackbox_exporter (one sample per probe), up to one interval late when
  slaguard's ``/metrics`` is scraped more often than it probes;
* a location "knows" the state while Prometheus has a sample for it (up to 5 min,
  or until the staleness marker), not by the evaluator's 2 × interval rule; a
  blackbox job scraped less often than every 5 minutes leaves gaps;
* windows are rolling, maintenance is not excluded (use Alertmanager silences),
  and time Prometheus was not evaluating drops out of the window (no_data
  applies only while Prometheus runs).

``SlaguardServiceDown`` pages on the confirmed state itself (P1).

Windowed objectives (``slos[].objective.burn_alerts``)
------------------------------------------------------
``SlaguardObjectiveBurn``: for an ``availability`` objective budgeted by
``occurrences``, each burn alert as the share of failed results among successes and
failures over its lookback (``increase`` of ``slaguard_probe_results_total``, so
slaguard's own ``/metrics``), compared with threshold × (1 − target) by its ``op``,
``for`` its ``alert_after``; labelled ``rule: objective_burn`` so the webhook joins
slaguard's own incident.  ``increase`` extrapolates at the window's edges, where
slaguard counts results exactly.  Latency objectives (an arbitrary threshold is not a
bucket of ``slaguard_probe_duration_seconds``) and timeslice budgeting (slices aligned
to the window's start) are left to slaguard's own evaluation.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import yaml

from alerting import rules as own_rules  # slaguard's own rule names
from alerting.rules import SELF_THRESHOLDS, SelfThresholds
from slaguard.config.schema import Config, TargetBase
from slaguard.evaluation import windowed_specs
from slaguard.policy import from_config
from slaguard.units import format_duration
from slo.burn import DEFAULT_RULES, WINDOWS, BurnRule, budget_consumed
from slo.fmt import number, percent_text
from slo.model import BurnAlertSpec, NoDataPolicy, QuorumRule, ServiceSpec, WindowedSpec

RULES_FILE = "slaguard-rules.yml"

# Alert names; the Alertmanager config (alerting.amconfig) routes and inhibits by them.
SERVICE_DOWN = "SlaguardServiceDown"
ERROR_BUDGET_BURN = "SlaguardErrorBudgetBurn"
PROBE_SILENT = "SlaguardProbeSilent"
CERTIFICATE_EXPIRY = "SlaguardCertificateExpiry"
OBJECTIVE_BURN = "SlaguardObjectiveBurn"
# slaguard itself: the record (the evidence behind money) is not being written.
RECORD_NOT_COMMITTING = "SlaguardRecordNotCommitting"
RESULTS_DROPPED = "SlaguardResultsDropped"
PROBES_LATE = "SlaguardProbesLate"
EVALUATION_FAILING = "SlaguardEvaluationFailing"
OUTBOX_BACKLOG = "SlaguardOutboxBacklog"
CHANNEL_FAILING = "SlaguardChannelFailing"
WORKER_RESTARTING = "SlaguardWorkerRestarting"
# Always firing; Alertmanager routes it to the heartbeat receiver (a dead man's switch).
WATCHDOG = "Watchdog"
PRIORITIES = ("P1", "P2", "P3", "P4")
SEVERITY: Mapping[str, str] = MappingProxyType(
    {"P1": "page", "P2": "page", "P3": "ticket", "P4": "ticket"})

# Recorded series (level:metric:operations).
TARGET_DOWN = "slaguard:target_down:quorum"
PROBE_CONFIRM = "slaguard:probe_success:max_over_time_confirm"
TARGET_CONFIRMED_DOWN = "slaguard:target_confirmed_down:quorum"
SERVICE_DOWN_SERIES = "slaguard:service_down:quorum"
SERVICE_CONFIRMED_DOWN = "slaguard:service_confirmed_down:quorum"

# The burn tiers' priorities: P1/P2 page, P3/P4 ticket.
DEFAULT_PRIORITIES: Mapping[BurnRule, str] = MappingProxyType(
    dict(zip(DEFAULT_RULES, PRIORITIES, strict=True)))
BUDGET_PERIOD = timedelta(days=30)  # the period the burn factors are defined for

_FALLBACK: Mapping[NoDataPolicy, str] = MappingProxyType(
    {"up": " or vector(0)", "down": " or vector(1)", "exclude": ""})


def error_ratio_series(window: str) -> str:
    return f"slaguard:service_error_ratio:rate{window}"


@dataclass(frozen=True)
class RuleOptions:
    burn_rules: Sequence[BurnRule] = DEFAULT_RULES
    priorities: Mapping[BurnRule, str] = field(default_factory=lambda: DEFAULT_PRIORITIES)
    # Sampling step of the SLI state; the window offset is half of it.
    evaluation_interval: timedelta = timedelta(seconds=15)
    cert_warning: timedelta = timedelta(days=14)
    # A probe is silent after 3 intervals, but never sooner than two scrapes at
    # Prometheus's default 1m, or a 15 s target would flap between scrapes.
    silence_floor: timedelta = timedelta(minutes=2)


# -- PromQL text ------------------------------------------------------------------


def _quote(value: str) -> str:
    """A PromQL string literal (Go escaping, as JSON writes it)."""
    return json.dumps(value, ensure_ascii=False)


_RE2_SPECIAL = re.compile(r"[\\.+*?()|\[\]{}^$]")


def _re2_literal(value: str) -> str:
    """``value`` as an RE2 pattern matching itself (only RE2's operators escaped)."""
    return _RE2_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _matcher(label: str, values: Iterable[str]) -> str:
    """``label="v"`` for one value (absent_over_time keeps it), ``label=~"a|b"`` else."""
    vals = sorted(set(values))
    if len(vals) == 1:
        return f"{label}={_quote(vals[0])}"
    return f"{label}=~{_quote('|'.join(_re2_literal(v) for v in vals))}"


def decimal_text(x: Fraction | Decimal | int) -> str:
    """An exact decimal without exponent or float artefacts: 0.0144, never 0.014400000000000001."""
    text = number(x, max_places=18)
    if Fraction(text) != Fraction(x):
        raise ValueError(f"{x} has no exact decimal form")
    return text


def burn_threshold(service: ServiceSpec, rule: BurnRule) -> Fraction:
    """The error ratio a window must exceed: factor × (1 − objective), exactly."""
    return Fraction(rule.factor) * service.budget_ratio


def quorum_expr(rule: QuorumRule, series: str) -> str:
    """1 per (service, target) when ``rule`` of the locations reporting ``series`` are at 0."""
    down = f"sum by (service, target) ({series} == bool 0)"
    known = f"count by (service, target) ({series})"
    if rule == "majority":
        return f"2 * {down}\n  > bool {known}"
    if rule == "any":
        return f"{down} >= bool 1"
    if rule == "all":  # the series exists only where at least one location reports
        return f"{down}\n  >= bool {known}"
    return f"{down} >= bool {rule}"


# -- recording rules -----------------------------------------------------------------


def _confirm_expr(targets: Iterable[TargetBase], confirm: int, selector: str) -> str:
    """Per location: 1 unless every sample of the last ``confirm`` intervals failed."""
    if confirm == 1:
        # Every failure is confirmed.  (A one-interval window would hold two samples
        # whenever it ends on a sample, on Prometheus 2: a confirmation of 2.)
        return selector
    by_interval: dict[timedelta, list[str]] = defaultdict(list)
    for t in targets:
        by_interval[t.interval].append(t.name)
    return "\nor\n".join(
        f"max_over_time(probe_success{{{_matcher('target', names)}}}"
        f"[{format_duration(confirm * iv)}])"
        for iv, names in sorted(by_interval.items()))


def _service_rules(service: ServiceSpec, no_data: NoDataPolicy) -> list[dict[str, Any]]:
    agg = "max" if service.down_when == "any" else "min"
    sel = f"{{service={_quote(service.name)}}}"
    return [
        {"record": name, "expr": f"{agg}({source}{sel}){_FALLBACK[no_data]}",
         "labels": {"service": service.name}}
        for name, source in ((SERVICE_DOWN_SERIES, TARGET_DOWN),
                             (SERVICE_CONFIRMED_DOWN, TARGET_CONFIRMED_DOWN))
    ]


def sli_rules(cfg: Config, options: RuleOptions = RuleOptions()) -> list[dict[str, Any]]:
    policy = from_config(cfg)
    rules = policy.rules
    available = [t for t in cfg.targets if t.availability]
    if not available:
        return []
    selector = f"probe_success{{{_matcher('target', (t.name for t in available))}}}"
    out: list[dict[str, Any]] = [
        {"record": TARGET_DOWN, "expr": quorum_expr(rules.quorum, selector)},
        {"record": PROBE_CONFIRM, "expr": _confirm_expr(available, rules.confirm, selector)},
        {"record": TARGET_CONFIRMED_DOWN, "expr": quorum_expr(rules.quorum, PROBE_CONFIRM)},
    ]
    for service in policy.services:
        out += _service_rules(service, rules.no_data)
    half = format_duration(options.evaluation_interval / 2)
    out += [{"record": error_ratio_series(w),
             "expr": f"avg_over_time({SERVICE_DOWN_SERIES}[{w}] offset {half})"}
            for w in WINDOWS]
    return out


# -- alerts -----------------------------------------------------------------------------


def _title(service: ServiceSpec) -> str:
    return service.title or service.name


def _labels(priority: str, **extra: str) -> dict[str, str]:
    # service (and target) stated although the expression yields them too: promtool
    # flags alerts of one name with equal rule labels as duplicates.
    return {"severity": SEVERITY[priority], "priority": priority, **extra}


_QUORUM_WORDS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "majority": ("多数", "A majority"), "any": ("任一", "At least one"), "all": ("全部", "All"),
})


def _service_down_alert(service: ServiceSpec, quorum: QuorumRule, confirm: int
                        ) -> dict[str, Any]:
    zh, en = _QUORUM_WORDS.get(str(quorum), (f"至少 {quorum} 个", f"At least {quorum}"))
    which_zh, which_en = ("任一", "an") if service.down_when == "any" else ("全部", "every")
    return {
        "alert": SERVICE_DOWN,
        "expr": f"{SERVICE_CONFIRMED_DOWN}{{service={_quote(service.name)}}} == 1",
        "labels": _labels("P1", service=service.name),
        "annotations": {
            "summary": f"{_title(service)}：服务中断（已确认） / service down (confirmed)",
            "description": (
                f"{which_zh}可用性目标在{zh}报告地点连续 {confirm} 次探测失败。"
                f" / {en} of the reporting locations failed {confirm} consecutive probes"
                f" of {which_en} availability target."),
        },
    }


def _burn_alert(service: ServiceSpec, rule: BurnRule, priority: str) -> dict[str, Any]:
    threshold = decimal_text(burn_threshold(service, rule))
    sel = f"{{service={_quote(service.name)}}}"
    factor = decimal_text(rule.factor)
    long, short = rule.long_window, rule.short_window
    used = decimal_text(budget_consumed(
        rule.factor, WINDOWS[long], int(BUDGET_PERIOD.total_seconds() * 1000)) * 100)
    pct = decimal_text(burn_threshold(service, rule) * 100)
    objective = percent_text(service.objective_percent)
    value = "{{ $value | humanizePercentage }}"
    return {
        "alert": ERROR_BUDGET_BURN,
        "expr": (f"{error_ratio_series(long)}{sel} > {threshold}\n"
                 f"and {error_ratio_series(short)}{sel} > {threshold}\n"
                 # Blips alone never page: the evaluator counts confirmed outages only.
                 f"and max_over_time({SERVICE_CONFIRMED_DOWN}{sel}[{short}]) == 1"),
        "labels": _labels(priority, service=service.name, long=long, short=short,
                          burn_rate=factor),
        "annotations": {
            "summary": (f"{_title(service)}：错误预算 {factor} 倍速消耗"
                        f" / error budget burning at {factor}× ({long}, {short})"),
            "description": (
                f"{long} 错误率 {value}，{long} 与 {short} 均超过 {pct} %（目标 {objective} %），"
                f"照此速度 {long} 用去 30 天预算的 {used} %。"
                f" / Error ratio {value} over {long}; {long} and {short} both above {pct} %"
                f" (objective {objective} %): at this rate {long} uses {used} % of a"
                " 30-day budget."),
        },
    }


def _silent_alert(cfg: Config, t: TargetBase, options: RuleOptions) -> dict[str, Any]:
    window = format_duration(max(3 * t.interval, options.silence_floor))
    base = f"{_matcher('service', [t.service])}, {_matcher('target', [t.name])}"
    return {
        "alert": PROBE_SILENT,
        "expr": "\nor\n".join(
            f"absent_over_time(probe_success{{{base}, {_matcher('location', [loc])}}}[{window}])"
            for loc in sorted(t.locations or cfg.all_locations)),
        "labels": _labels("P3", service=t.service, target=t.name),
        "annotations": {
            "summary": f"{t.name} @ {{{{ $labels.location }}}}：探测无数据 / probe silent",
            "description": (
                f"{window} 内没有 probe_success（探测未运行或无法判断），不计为停机。"
                f" / No probe_success for {window} (the probe is not running or cannot"
                " judge); not counted as downtime."),
        },
    }


def _cert_alert(https_targets: list[str], warning: timedelta) -> dict[str, Any]:
    # In days, as certificates are talked about ("2w" would be format_duration's choice).
    limit = f"{warning.days}d" if warning % timedelta(days=1) == timedelta(0) \
        else format_duration(warning)
    left = "{{ $value | humanizeDuration }}"
    sel = f"probe_ssl_earliest_cert_expiry{{{_matcher('target', https_targets)}}}"
    return {
        "alert": CERTIFICATE_EXPIRY,
        # The earliest expiry any location saw: one location may meet an old certificate.
        "expr": f"min by (service, target) ({sel}) - time() < {int(warning.total_seconds())}",
        "labels": _labels("P3"),
        "annotations": {
            "summary": "{{ $labels.target }}：TLS 证书即将过期 / TLS certificate expiring",
            "description": (f"证书剩余 {left}（阈值 {limit}）。"
                            f" / The certificate expires in {left} (threshold {limit})."),
        },
    }


def skipped_burn_rules(cfg: Config, options: RuleOptions = RuleOptions()
                       ) -> list[tuple[str, BurnRule]]:
    """(service, rule) pairs left out because their threshold is ≥ 100 %: they could never
    fire (the largest burn rate is 1 / budget, e.g. 14.4 needs an objective above 93.06 %)."""
    return [(s.name, r) for s in from_config(cfg).services for r in options.burn_rules
            if burn_threshold(s, r) >= 1]


def alert_rules(cfg: Config, options: RuleOptions = RuleOptions()) -> list[dict[str, Any]]:
    policy = from_config(cfg)
    out: list[dict[str, Any]] = []
    for s in policy.services:
        out.append(_service_down_alert(s, policy.rules.quorum, policy.rules.confirm))
        out += [_burn_alert(s, r, options.priorities[r]) for r in options.burn_rules
                if burn_threshold(s, r) < 1]
    out += [_silent_alert(cfg, t, options) for t in cfg.targets]
    https = [t.name for t in cfg.targets if t.url.startswith("https://")]
    if https:
        out.append(_cert_alert(https, options.cert_warning))
    return out + objective_burn_alerts(cfg)


_PROM_OPS: Mapping[str, str] = MappingProxyType({"gt": ">", "gte": ">=", "lt": "<",
                                                 "lte": "<="})


def objective_burn_alerts(cfg: Config) -> list[dict[str, Any]]:
    """The burn alerts of availability objectives budgeted by occurrences (see the
    module doc), one per service of the SLO."""
    return [_objective_burn_alert(spec, a, service) for spec in windowed_specs(cfg)
            if spec.sli == "availability" and spec.budgeting == "occurrences"
            for a in spec.burn_alerts for service in spec.services]


def _objective_burn_alert(spec: WindowedSpec, a: BurnAlertSpec, service: str
                          ) -> dict[str, Any]:
    lookback = format_duration(timedelta(milliseconds=a.lookback_ms))
    sel = _matcher("target", spec.targets)
    failed = f'sum(increase(slaguard_probe_results_total{{{sel}, outcome="failure"}}[{lookback}]))'
    known = (f'sum(increase(slaguard_probe_results_total{{{sel}, outcome=~"failure|success"}}'
             f"[{lookback}]))")
    ratio = Fraction(a.threshold) * spec.budget_ratio
    limit, pct = decimal_text(ratio), decimal_text(ratio * 100)
    factor, op = decimal_text(a.threshold), _PROM_OPS[a.op]
    priority = own_rules.DEFAULT_PRIORITIES[f"{own_rules.OBJECTIVE_BURN}:{a.severity}"].value
    value = "{{ $value | humanizePercentage }}"
    rule: dict[str, Any] = {
        "alert": OBJECTIVE_BURN,
        "expr": f"{failed}\n/\n{known}\n{op} {limit}",
        "labels": _labels(priority, service=service, slo=spec.name, burn_alert=a.name,
                          rule=own_rules.OBJECTIVE_BURN),
        "annotations": {
            "summary": (f"{spec.name}：错误预算消耗速率 {op} {factor} 倍"
                        f" / error budget burn rate {op} {factor}× ({a.name}, {lookback})"),
            "description": (
                f"{lookback} 内失败结果占 {value}（阈值 {op} {pct} %，"
                f"目标 {percent_text(spec.target_percent)} %，窗口 {spec.window_label}）。"
                f" / Failed results {value} of {lookback} (threshold {op} {pct} %,"
                f" objective"
                f" {percent_text(spec.target_percent)} % over {spec.window_label})."),
        },
    }
    if a.alert_after_ms:
        rule["for"] = format_duration(timedelta(milliseconds=a.alert_after_ms))
    return rule


# increase() extrapolates (3 restarts may read 3.09): a count is printed whole.
_COUNT = '{{ $value | printf "%.0f" }}'


def _self_alert(name: str, expr: str, priority: str, summary: str, description: str,
                for_: str | None = None, **labels: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = _labels(priority, service="slaguard", **labels)
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def _record_rules() -> list[dict[str, Any]]:
    return [_self_alert(
        RECORD_NOT_COMMITTING, "max by (instance) (slaguard_store_commit_failing) == 1", "P2",
        "slaguard 无法写入记录 / slaguard cannot commit results",
        "结果暂存于内存和 storage.spill_dir，恢复后自动写入；超出上限的结果计为未知。"
        "处理：/healthz 给出原因（如磁盘已满），释放空间或修复存储。 / Results wait in "
        "memory and storage.spill_dir and are written once it heals; beyond those "
        "bounds they are dropped and count as unknown. Runbook: /healthz says why "
        "(e.g. disk full); free space or repair the storage.", "1m",
    ), _self_alert(
        RESULTS_DROPPED, "increase(slaguard_store_dropped_results_total[15m]) > 0", "P2",
        "slaguard 丢弃了探测结果 / slaguard dropped results",
        "{{ $value }} 个结果超出缓冲与溢写上限被丢弃，相应时段记为监控缺口（未知）。"
        "处理：修复存储，调大 storage.buffer_results 或设置 storage.spill_dir。 / "
        "{{ $value }} results exceeded the buffer and spill bounds and were dropped; "
        "those intervals are monitoring gaps (unknown). Runbook: repair the storage; "
        "raise storage.buffer_results or set storage.spill_dir.",
    )]


def _probing_rules(th: SelfThresholds) -> list[dict[str, Any]]:
    late = f"{float(th.late_after_s)!r}"  # the histogram's le label, as exposed
    share = decimal_text(th.late_share)
    pct = decimal_text(th.late_share * 100)
    buckets = "slaguard_probe_start_lateness_seconds_bucket"
    return [_self_alert(
        PROBES_LATE,
        # The share of starts over the bound, from the histogram (exact, unlike a quantile).
        f"1 - (\n  sum by (instance, location) (rate({buckets}{{le=\"{late}\"}}[5m]))\n"
        f"  / sum by (instance, location) (rate({buckets}{{le=\"+Inf\"}}[5m]))\n) > {share}\n"
        "or\nsum by (instance, location) (rate(slaguard_probes_skipped_total[5m])) > 0",
        "P3", "{{ $labels.location }}：探测启动延迟 / probes start late",
        f"超过 {pct} % 的探测迟于计划时刻 {th.late_after_s} 秒以上启动，"
        "或有探测被跳过（记为未知）。"
        "处理：查看 slaguard_probe_start_lateness_seconds 与 slaguard_probes_skipped_total，"
        "调大 scheduling.workers / max_concurrency 或减少目标。 / "
        f"Over {pct} % of probes started more than {th.late_after_s} s after their slot, or "
        "runs were skipped (recorded as unknown). Runbook: check "
        "slaguard_probe_start_lateness_seconds and slaguard_probes_skipped_total; raise "
        "scheduling.workers or max_concurrency, or probe fewer targets.", "5m",
        rule=own_rules.PROBES_LATE,
    ), _self_alert(
        WORKER_RESTARTING,
        f"increase(slaguard_worker_restarts_total[15m]) >= {th.worker_restarts}", "P2",
        "探测进程 {{ $labels.worker }} 反复重启 / probe worker restarting in a loop",
        f"15 分钟内重启 {_COUNT} 次，其目标出现监控缺口。处理：查看该进程日志"
        f"（probe-worker-N）。 / Restarted {_COUNT} times in 15 min; its targets have "
        "monitoring gaps. Runbook: read its log (probe-worker-N).",
        rule=own_rules.WORKER_RESTARTING,
    )]


def _evaluation_rule(every: timedelta, th: SelfThresholds) -> dict[str, Any]:
    stale = int((every * th.evaluation_rounds).total_seconds())
    window = format_duration(every * th.evaluation_rounds + timedelta(minutes=1))
    return _self_alert(
        EVALUATION_FAILING,
        f"time() - slaguard_evaluation_last_success_timestamp_seconds > {stale}\n"
        f"and increase(slaguard_evaluation_failures_total[{window}]) > 0", "P2",
        "SLO 评估失败 / slaguard evaluation failing",
        f"{stale} 秒以上没有成功的评估，SLO 指标停留在旧值。处理：查看日志中的 "
        "\"SLO evaluation failed\"。 / No successful evaluation for over "
        f"{stale} s; the SLO gauges keep old values. Runbook: the log says why "
        "(\"SLO evaluation failed\").", rule=own_rules.EVALUATION_FAILING)


def _notification_rules(th: SelfThresholds) -> list[dict[str, Any]]:
    age = th.outbox_age_ms // 1000
    return [_self_alert(
        OUTBOX_BACKLOG, f"slaguard_outbox_oldest_pending_age_seconds > {age}", "P3",
        "slaguard 通知积压 / notifications backlog",
        "最早的待发通知已等待 {{ $value | humanizeDuration }}。处理：检查渠道"
        "（slaguard_notification_failures_total）与网络。 / The oldest waiting notification "
        "is {{ $value | humanizeDuration }} old. Runbook: check the channels "
        "(slaguard_notification_failures_total) and the network.",
        rule=own_rules.OUTBOX_BACKLOG,
    ), _self_alert(
        CHANNEL_FAILING,
        "sum by (instance, channel) (increase(slaguard_notification_failures_total[15m]))"
        f" >= {th.channel_attempts}\nunless\n"
        "sum by (instance, channel) (increase(slaguard_notifications_sent_total[15m])) > 0",
        "P3", "{{ $labels.channel }}：通知渠道失败 / channel failing",
        f"15 分钟内 {_COUNT} 次投递失败且无一成功，通知在重试。处理：查看 outbox 的 "
        f"last_error，检查地址、密钥与对方限流。 / {_COUNT} failed deliveries and none "
        "sent in 15 min; they are being retried. Runbook: read the outbox rows' last_error; "
        "check the URL, secret and the vendor's rate limit.",
        rule=own_rules.CHANNEL_FAILING,
    )]


def watchdog_rule() -> dict[str, Any]:
    """Always firing: its *absence* at the heartbeat receiver means the alerting pipeline
    (Prometheus, the rules, Alertmanager) is down (kube-prometheus's ``Watchdog``)."""
    return {
        "alert": WATCHDOG, "expr": "vector(1)", "labels": {"severity": "none"},
        "annotations": {
            "summary": "告警链路存活信号 / alerting pipeline heartbeat (always firing)",
            "description": (
                "此告警始终触发，经 Alertmanager 的 heartbeat 接收者发往外部死人开关；"
                "它停止到达即告警链路失效。处理：检查 Prometheus 与 Alertmanager。 / "
                "Always firing, routed by Alertmanager to the heartbeat receiver (an "
                "external dead man's switch); when it stops arriving, the alerting pipeline "
                "is broken. Runbook: check Prometheus and Alertmanager."),
        },
    }


def self_rules(cfg: Config | None = None, th: SelfThresholds = SELF_THRESHOLDS
               ) -> list[dict[str, Any]]:
    """Alerts on slaguard itself, with the thresholds of slaguard's own rules
    (``alerting.rules.self_conditions``).  Prometheus evaluates them as well as slaguard:
    while the disk is full slaguard cannot record its own incident.  Their ``rule`` label
    is slaguard's rule name, so both engines' alerts join one incident (service
    ``slaguard``).  Last the ``Watchdog``, always firing."""
    every = cfg.scheduling.evaluate_every if cfg is not None else timedelta(seconds=60)
    return [*_record_rules(), *_probing_rules(th), _evaluation_rule(every, th),
            *_notification_rules(th), watchdog_rule()]


def rules_config(cfg: Config, options: RuleOptions = RuleOptions()) -> dict[str, Any]:
    for r in options.burn_rules:
        if r.long_window not in WINDOWS or r.short_window not in WINDOWS:
            raise ValueError(f"burn rule windows must be among {list(WINDOWS)}: {r}")
    # One group: its rules run in order at one timestamp, so every alert reads the
    # state recorded the same instant (two groups run at unrelated phases).
    every = format_duration(options.evaluation_interval)
    return {"groups": [
        {"name": "slaguard", "interval": every,
         "rules": sli_rules(cfg, options) + alert_rules(cfg, options)},
        {"name": "slaguard-self", "interval": every, "rules": self_rules(cfg)},
    ]}


# -- YAML ---------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line PromQL as a literal block, so the file reads like hand-written rules.
    return dumper.represent_scalar("tag:yaml.org,2002:str", data,
                                   style="|" if "\n" in data else None)


_Dumper.add_representer(str, _str)


def dump_yaml(doc: Mapping[str, Any], header: str) -> str:
    body = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=1000)
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    return comment + body


_RULES_HEADER = """\
slaguard Prometheus rules, generated by `slaguard rules` from the configuration: do not edit.
Inputs: probe_success and probe_ssl_earliest_cert_expiry labelled target, service, location
(slaguard's /metrics, or blackbox_exporter relabelled the same way).
slaguard:service_error_ratio:* approximate slaguard's evaluator (time-based, quorum over
locations); alerting/promrules.py says what differs.
"""


def render_rules(cfg: Config, options: RuleOptions = RuleOptions()) -> str:
    skipped = [f"{s} {decimal_text(r.factor)}× ({r.long_window}, {r.short_window})"
               for s, r in skipped_burn_rules(cfg, options)]
    header = _RULES_HEADER + (
        f"Not generated, threshold ≥ 100 % (can never fire): {', '.join(skipped)}.\n"
        if skipped else "")
    return dump_yaml(rules_config(cfg, options), header)
