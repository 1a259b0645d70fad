"""``statement --format html``: the bilingual (中文/English) statement, printable (A4).

One Jinja2 template, ``templates/statement.html.j2``, fed with the statement's
dictionary (the same as the JSON) and the label texts below; the Chinese
wording follows the service standard (服务补偿标准, 补偿申请流程, 服务延期或费用减免 …).
Autoescaped, strict: an unknown name in the template is an error, not a blank.
"""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from slo.compensation import LINE_KINDS, REMEDY_STATUS_TEXT, duration_text
from slo.statement import Statement

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "statement.html.j2"
DEFAULT_FONTS = ('"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
                 '"WenQuanYi Micro Hei", sans-serif')

_FAMILY = re.compile(r"^[\w .+-]+$")  # nothing that could end a CSS string or a <style>

Pair = tuple[str, str]

LABELS: dict[str, Pair] = {
    "title": ("服务补偿对账单", "SLA compensation statement"),
    "number": ("对账单编号", "Statement no."),
    "customer": ("客户", "Customer"),
    "contract": ("合同编号", "Contract"),
    "policy_version": ("服务补偿标准版本", "Compensation policy version"),
    "services": ("服务", "Services"),
    "service": ("服务", "Service"),
    "period": ("结算周期", "Period"),
    "evaluated_until": ("统计截至", "evaluated until"),
    "timezone": ("时区", "Time zone"),
    "total_minutes": ("当月总分钟数", "Total minutes"),
    "days": ("天", "days"),
    "fee": ("当月服务费", "Monthly service fee"),
    "fee_basis": ("计费依据", "Fee basis"),
    "fee_basis_text": ("合同约定的当月服务费", "the contracted monthly service fee"),
    "availability_section": ("系统可用性", "Availability"),
    "objective": ("可用性承诺", "Objective"),
    "downtime": ("停机时间", "Downtime"),
    "maintenance_time": ("计划维护（已排除）", "Qualifying maintenance"),
    "gaps": ("监测缺口", "Monitoring gaps"),
    "coverage": ("监测覆盖率", "Coverage"),
    "availability": ("实际可用性", "Availability"),
    "exact": ("精确值", "Exact"),
    "excluded": ("不计入周期的时间", "Excluded from the period"),
    "service_credit": ("可用性补偿比例", "Availability credit"),
    "prorata": ("按中断时间比例", "Pro rata by downtime"),
    "times_in": ("时间均为", "Times are in"),
    "window": ("维护时间", "Window"),
    "took": ("实际用时", "Took"),
    "not_answered": ("尚未响应", "not answered"),
    "met": ("是否达标", "Met"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "display_note": ("可用性向下取整至小数点后三位；补偿档位按精确值判定。",
                     "Availability is shown rounded down to 3 decimals; tiers use the exact "
                     "value."),
    "coverage_so_far": (
        "本月尚未结束。监测覆盖率是本月至今有监测数据的时间占比，不是可用性：监测开始之前、"
        "以及所有监测点都无法判断的时间没有数据（见“监测缺口”），按合同的无数据规则计算。"
        "月末后数字才最终确定。",
        "The month is not over. Coverage is the share of the month so far for which there is "
        "monitoring data, not availability: time before monitoring began, or when no location "
        "could judge, has none (see Monitoring gaps) and counts as the contract's no-data rule "
        "says. Figures are final once the month has closed."),
    "outages": ("服务中断记录", "Outages"),
    "no_outages": ("本月无服务中断。", "No outage this month."),
    "start": ("开始", "Start"),
    "end": ("结束", "End"),
    "duration": ("时长", "Duration"),
    "targets": ("监测目标", "Targets"),
    "locations": ("监测点", "Locations"),
    "browser_evidence": ("证据（截图与跟踪）", "Evidence (screenshots and traces)"),
    "cause": ("依据", "Evidence"),
    "ongoing": ("持续中", "ongoing"),
    "maintenance": ("计划维护", "Planned maintenance"),
    "announced": ("通知时间", "Announced"),
    "notice_days": ("提前通知工作日 / 要求", "Working days of notice / required"),
    "qualified": ("是否符合通知要求", "Qualified"),
    "evidence": ("监测覆盖率（目标、监测点）", "Coverage by target and location"),
    "objectives": ("性能指标与数据恢复", "Performance and recovery objectives"),
    "objective_kind": ("指标", "Objective"),
    "measured": ("实测值", "Measured"),
    "comparison": ("承诺", "Promise"),
    "samples": ("样本数", "Samples"),
    "strict_note": ("按服务标准的写法，“<”表示恰好等于上限即未达标。",
                    "As the standard writes it, \"<\" means a value exactly at the bound is "
                    "not met."),
    "incidents": ("事件与响应时间", "Incidents and response times"),
    "incident": ("事件", "Incident"),
    "opened": ("受理时间", "Opened"),
    "responded": ("响应时间", "Responded"),
    "respond_standard": ("响应标准", "Respond standard"),
    "lateness": ("超出标准", "Late by"),
    "response_credit": ("响应时间补偿", "Response credit"),
    "data_lost": ("数据丢失", "Data lost"),
    "data_loss_credit": ("数据丢失补偿", "Data-loss credit"),
    "newest_backup": ("最近可恢复备份", "newest recoverable backup"),
    "restore_clock": ("恢复服务 / 标准", "Restored / standard"),
    "resolve_clock": ("彻底解决 / 标准", "Resolved / standard"),
    "not_yet": ("尚未", "not yet"),
    "late_by": ("超时", "late by"),
    "lines": ("补偿明细", "Credit lines"),
    "kind": ("类别", "Kind"),
    "rule": ("适用规则", "Rule applied"),
    "percent": ("占当月服务费", "Share of fee"),
    "amount": ("金额", "Amount"),
    "total": ("补偿金额合计", "Total credit"),
    "in_words": ("大写金额", "In words"),
    "settlement": ("补偿执行方式", "Form of credit"),
    "fee_reduction": ("费用减免", "Fee reduction"),
    "extension": ("服务延期", "Service extension"),
    "extension_rule": ("延期天数 = 补偿金额 ÷ 日服务费，向上取整；日服务费 = 当月服务费 ÷ 当月天数",
                       "days = credit ÷ daily fee, rounded up; daily fee = monthly fee ÷ days "
                       "in the month"),
    "either": ("以上两种方式择一执行。", "One of the two forms is applied."),
    "claim": ("补偿申请流程", "Claim process"),
    "claim_status": ("申请状态", "Claim status"),
    "deadline": ("申请截止日期", "Claim deadline"),
    "days_after_month": ("天（自当月最后一日起）", "days after the month's last day"),
    "reviews": ("需人工审核事项", "Needs manual review"),
    "policy": ("服务补偿标准", "Compensation policy"),
    "mode": ("可用性补偿计算方式", "Availability credit rule"),
    "refund": ("服务中断补偿（按中断时间比例）", "Interruption refund (pro rata)"),
    "availability_tiers": ("可用性补偿档位", "Availability tiers"),
    "below_objective": ("低于可用性承诺时", "below the objective"),
    "linear": ("计算公式", "Formula"),
    "response_tiers": ("响应时间补偿档位", "Response tiers"),
    "cap": ("补偿上限", "Cap"),
    "cap_scope": ("可用性、服务中断与响应时间补偿合计；数据丢失补偿不计入",
                  "availability, interruption and response together; data loss outside"),
    "remedy_credits": ("数据损坏、安全事件的服务费补偿",
                       "Fee credit for data corruption, security"),
    "remedy_scope": ("另提供免费数据恢复、免费安全加固；不计入上限",
                     "besides free data recovery and hardening; outside the cap"),
    "hash": ("内容哈希（SHA-256）", "Content hash (SHA-256)"),
}

STATUSES: dict[str, Pair] = {
    "provisional": ("暂估（当月尚未结束）", "provisional (month not over)"),
    "no_credit": ("本月无补偿", "no credit due"),
    "open": ("待客户申请确认", "open for the customer's claim"),
    "expired": ("已过申请期限", "claim window closed"),
}

CAUSES: dict[str, Pair] = {
    "observed": ("监测确认", "observed"),
    "no_data": ("无监测数据（按停机计）", "no data, counted as down"),
    "observed+no_data": ("监测确认及无数据", "observed and no data"),
}

MODES: dict[str, Pair] = {
    "tiered": ("按档位", "tiered"),
    "linear": ("按公式", "linear formula"),
    "max": ("档位与公式取较大者", "the greater of tiers and formula"),
    # The interruption refund: when it is owed (the greater of it and the
    # availability credit is paid).
    "always": ("每月均补偿，与可用性补偿取较大者", "every month; the greater of it and the "
               "availability credit"),
    "when_objective_missed": ("仅在未达可用性目标时，与可用性补偿取较大者",
                              "only when the objective is missed; the greater of it and the "
                              "availability credit"),
    "none": ("不适用", "not applied"),
}

STEPS: tuple[Pair, ...] = (
    ("客户提交补偿申请及相关证明", "The customer submits a claim with supporting evidence"),
    ("运营团队审核申请材料", "Operations reviews the claim"),
    ("技术团队确认服务问题", "Engineering confirms the service problem"),
    ("财务部门计算补偿金额", "Finance calculates the amount (this statement)"),
    ("客户确认补偿方案", "The customer confirms the settlement"),
    ("补偿执行（服务延期或费用减免）",
     "The credit is applied (service extension or fee reduction)"),
)


def local_time(rfc3339: str | None) -> str:
    """``2026-10-20T10:00:00+08:00`` → ``2026-10-20 10:00:00`` (the zone is printed once)."""
    if rfc3339 is None:
        return "—"
    return rfc3339[:19].replace("T", " ") + rfc3339[19:-6]  # keeps milliseconds when present


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["local"] = local_time
    env.filters["dur"] = duration_text
    return env


def render(statement: Statement, *, font_family: str | None = None) -> str:
    """The statement as one self-contained HTML page.  ``font_family`` (a CSS family
    name) is put first in the font stack: the PDF renderer passes the CJK font it found."""
    if font_family is not None and not _FAMILY.match(font_family):
        raise ValueError(f"unusable font family name {font_family!r}")
    fonts = DEFAULT_FONTS if font_family is None else f'"{font_family}", {DEFAULT_FONTS}'
    return environment().get_template(TEMPLATE).render(
        d=statement.to_dict(), L=LABELS, K=LINE_KINDS, R=REMEDY_STATUS_TEXT, S=STATUSES,
        C=CAUSES, M=MODES, STEPS=STEPS,
        font_family=fonts,
    )
