"""The monthly compensation statement (pure): a report, a customer, a policy,
incidents and ``now`` in; a frozen statement out.

The statement carries everything docs/design.md "Statement" lists, and its dictionary
form (:meth:`Statement.to_dict`) is what every renderer reads.  ``hash`` is the
SHA-256 of the canonical JSON of that dictionary without ``hash`` (sorted keys,
no whitespace, UTF-8, non-ASCII kept): anyone can recompute it from the JSON
statement.  Money is a string with two decimals; percents and ratios are exact
decimal strings (rounded down only past 6 places), never floats.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, Protocol

from slaguard.domain import evidence_path
from slo.availability import Outage
from slo.compensation import (
    CompensationPolicy,
    CreditLine,
    Credits,
    IncidentCredit,
    IncidentRecord,
    ServiceCredit,
    assess_credits,
    availability_rule,
    bound_text,
    duration_text,
    extension_days,
    incidents_for,
    money_text,
    pct,
    remedy_status,
)
from slo.fmt import fraction_text, number, percent_down, percent_text
from slo.incidents import clock_result
from slo.maintenance import MaintenanceAssessment
from slo.model import comparison
from slo.periods import Period, local_date, rfc3339
from slo.report import Report, ServiceReport, TargetSummary

FEE_BASIS = "contracted monthly service fee"
HASH_METHOD = ("sha256 over the canonical JSON of this document without hash "
               "(sorted keys, no whitespace, UTF-8)")
ClaimStatus = Literal["provisional", "no_credit", "open", "expired"]


class CustomerTerms(Protocol):
    """What a statement needs of a customer (``slaguard.config.schema.Customer`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def monthly_fee(self) -> Decimal: ...
    @property
    def services(self) -> Sequence[str]: ...
    @property
    def contract(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ServiceStatement:
    report: ServiceReport
    credit: ServiceCredit
    maintenance: tuple[MaintenanceAssessment, ...]  # windows touching the period


@dataclass(frozen=True, slots=True)
class Settlement:
    options: tuple[str, ...]  # fee_reduction and/or extension, as the policy offers
    fee_reduction: Decimal | None
    extension_days: int | None  # ceil(total ÷ (fee ÷ days in the month))
    days_in_month: int


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    deadline: date
    window_days: int


@dataclass(frozen=True, slots=True)
class Statement:
    report: Report
    number: str
    customer_id: str
    customer_name: str
    contract: str | None
    policy: CompensationPolicy
    period: Period
    now_ms: int
    fee: Decimal
    days_in_month: int
    services: tuple[ServiceStatement, ...]
    credits: Credits
    settlement: Settlement
    claim: Claim
    reviews: tuple[str, ...]
    # Browser targets: their failed checks kept a screenshot and a trace, which each
    # outage of theirs links (``evidence``).
    evidence_targets: frozenset[str] = frozenset()

    @property
    def complete(self) -> bool:
        return self.period.is_complete(self.now_ms)

    @property
    def lines(self) -> tuple[CreditLine, ...]:
        return self.credits.lines

    @property
    def total(self) -> Decimal:
        return self.credits.total

    def content(self) -> dict[str, Any]:
        """The statement's dictionary without ``hash``: what the hash covers."""
        return _Doc(self.period.timezone, self.evidence_targets).statement(self)

    @property
    def hash(self) -> str:
        return content_hash(self.content())

    def to_dict(self) -> dict[str, Any]:
        return {**self.content(), "hash": self.hash}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def content_hash(doc: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of ``doc`` less any ``hash`` key."""
    body = canonical_json({k: v for k, v in doc.items() if k != "hash"})
    return hashlib.sha256(body).hexdigest()


# -- building ------------------------------------------------------------------------


def days_in_month(period: Period) -> int:
    return (local_date(period.end_ms, period.timezone)
            - local_date(period.start_ms, period.timezone)).days


def _touching(assessments: Iterable[MaintenanceAssessment], period: Period
              ) -> tuple[MaintenanceAssessment, ...]:
    return tuple(a for a in assessments
                 if a.window.end_ms > period.start_ms and a.window.start_ms < period.end_ms)


def claim_deadline(period: Period, window_days: int) -> date:
    """The last day a claim for ``period`` may be made: ``window_days`` after its last."""
    last_day = local_date(period.end_ms, period.timezone) - timedelta(days=1)
    return last_day + timedelta(days=window_days)


def _claim(period: Period, now_ms: int, total: Decimal, window_days: int) -> Claim:
    deadline = claim_deadline(period, window_days)
    status: ClaimStatus
    if not period.is_complete(now_ms):
        status = "provisional"
    elif total == 0:
        status = "no_credit"
    elif local_date(now_ms, period.timezone) <= deadline:
        status = "open"
    else:
        status = "expired"
    return Claim(status, deadline, window_days)


def _settlement(policy: CompensationPolicy, total: Decimal, fee: Decimal, days: int
                ) -> Settlement:
    options = policy.settlement
    return Settlement(
        options,
        total if "fee_reduction" in options else None,
        extension_days(total, fee, days) if "extension" in options else None,
        days,
    )


def _maintenance_reviews(services: Iterable[ServiceStatement]) -> list[str]:
    seen: dict[str, str] = {}
    for s in services:
        for m in s.maintenance:
            if m.status.value == "needs_review":
                seen[m.window.id] = f"maintenance {m.window.id}: {m.reason}"
    return list(seen.values())


def _ongoing_reviews(services: Iterable[ServiceStatement], complete: bool) -> list[str]:
    if not complete:
        return []
    return [f"{s.report.spec.name}: an outage is still ongoing at the end of the period"
            for s in services if any(o.ongoing for o in s.report.availability.outages)]


def build_statement(report: Report, customer: CustomerTerms, policy: CompensationPolicy,
                    incidents: Iterable[IncidentRecord], now_ms: int,
                    evidence_targets: Iterable[str] = ()) -> Statement:
    """The statement of ``customer`` for ``report.period``.

    ``report`` must cover the customer's services; ``incidents`` may be every
    incident known (``IncidentRecord``): those opened in the period that concern
    the customer are selected here.  ``now_ms`` decides whether the month is
    complete (else the statement is ``provisional``) and the claim status.
    """
    period = report.period
    try:
        reports = [report.service(name) for name in customer.services]
    except KeyError as e:
        raise ValueError(f"customer {customer.id}: the report has no service {e}") from None
    mine = incidents_for(incidents, customer.id, customer.services,
                         period.start_ms, period.until(now_ms))
    credits = assess_credits(customer.monthly_fee, [r.availability for r in reports], mine,
                             policy, now_ms, report.recovery_points, period.timezone)
    services = tuple(ServiceStatement(r, c, _touching(r.maintenance, period))
                     for r, c in zip(reports, credits.services, strict=True))
    days = days_in_month(period)
    reviews = (*credits.reviews, *_maintenance_reviews(services),
               *_ongoing_reviews(services, period.is_complete(now_ms)))
    return Statement(
        report=report,
        number=f"SG-{period.label.replace('-', '')}-{customer.id}",
        customer_id=customer.id, customer_name=customer.name, contract=customer.contract,
        policy=policy, period=period, now_ms=now_ms, fee=customer.monthly_fee,
        days_in_month=days, services=services, credits=credits,
        settlement=_settlement(policy, credits.total, customer.monthly_fee, days),
        claim=_claim(period, now_ms, credits.total, policy.claim_window_days),
        reviews=tuple(reviews),
        evidence_targets=frozenset(evidence_targets),
    )


# -- the dictionary --------------------------------------------------------------------


def _seconds_text(ms: int | None) -> str | None:
    return None if ms is None else f"{number(Fraction(ms, 1000), 3)} s"


def objectives(report: Report) -> list[dict[str, Any]]:
    """The performance and recovery objectives of the month, each with the comparison
    it is judged by as the standard writes it (``"< 3000 ms"``: a value at the bound
    is not met) and the value measured: evidence beside the credit lines."""
    out: list[dict[str, Any]] = []
    for x in report.latency:
        for b in x.bounds:
            out.append({"kind": "latency", "slo": x.name, "bound": b.bound.key,
                        "comparison": b.bound.comparison, "inclusive": b.bound.inclusive,
                        "value": None if b.value is None else f"{number(b.value, 3)} ms",
                        "met": b.holds, "count": x.count})
    for r in report.rpo:
        out.append({"kind": "rpo", "slo": r.name, "bound": "age",
                    "comparison": r.comparison, "inclusive": r.inclusive,
                    "value": _seconds_text(None if r.worst is None else r.worst.age_ms),
                    "met": r.compliant, "count": r.samples})
    for t in report.rto:
        worst = max((o.elapsed_ms for o in t.outages), default=None)
        out.append({"kind": "rto", "slo": t.name, "bound": "restore",
                    "comparison": t.comparison, "inclusive": t.inclusive,
                    "value": _seconds_text(worst),
                    "met": None if t.pending and t.compliant else t.compliant,
                    "count": len(t.outages)})
    for j in report.steps:  # journeys' step objectives ("100 pages < 10 min")
        out.append({"kind": "step", "slo": f"{j.journey}/{j.step}", "bound": "elapsed",
                    "comparison": f"{comparison(j.inclusive)} {j.bound_ms} ms",
                    "inclusive": j.inclusive, "value": _seconds_text(j.worst_ms),
                    "met": None if j.runs == 0 else j.compliant, "count": j.runs})
    return out


def _minutes(seconds: int) -> str:
    return number(Fraction(seconds, 60), 2)


@dataclass(frozen=True, slots=True)
class _Doc:
    tz: str
    evidence: frozenset[str] = frozenset()

    def ts(self, ms: int | None) -> str | None:
        return None if ms is None else rfc3339(ms, self.tz)

    def statement(self, st: Statement) -> dict[str, Any]:
        p = st.period
        return {
            "statement": st.number,
            "customer": st.customer_id,
            "customer_name": st.customer_name,
            "contract": st.contract,
            "month": p.label,
            "period": {"start": self.ts(p.start_ms), "end": self.ts(p.end_ms),
                       "timezone": p.timezone, "days": st.days_in_month,
                       "seconds": (p.end_ms - p.start_ms) // 1000,
                       "minutes": _minutes((p.end_ms - p.start_ms) // 1000),
                       "complete": st.complete, "evaluated_until": self.ts(p.until(st.now_ms))},
            "currency": st.policy.currency,
            "fee": money_text(st.fee),
            "fee_basis": FEE_BASIS,
            "policy_version": st.policy.policy_version,
            "policy": self.policy(st.policy),
            "services": [self.service(s) for s in st.services],
            "objectives": objectives(st.report),
            "incidents": [self.incident(i, st.policy, st.now_ms) for i in st.credits.incidents],
            "lines": [self.line(x) for x in st.lines],
            "total": money_text(st.total),
            "total_in_words": st.credits.total_in_words,
            "settlement": self.settlement(st.settlement),
            "claim": {"status": st.claim.status, "deadline": st.claim.deadline.isoformat(),
                      "window_days": st.claim.window_days},
            "reviews": list(st.reviews),
            "hash_method": HASH_METHOD,
        }

    def policy(self, p: CompensationPolicy) -> dict[str, Any]:
        def opt(b: Decimal | None) -> str | None:
            return None if b is None else pct(b)

        return {
            "version": p.policy_version,
            "availability_mode": p.mode,
            "availability_tiers": [[bound_text(lo), pct(c)] for lo, c in p.availability_tiers],
            "linear_factor": pct(p.linear_factor),
            "interruption": p.interruption,
            "interruption_refund": p.interruption_refund,
            "response_combine": p.response_combine,
            "response_tiers": [[opt(b), pct(c)] for b, c in p.response_tiers],
            "data_loss_tiers_seconds": [[b, pct(c)] for b, c in p.data_loss_tiers],
            "data_loss_from_backups": list(p.data_loss_from_backups),
            "data_corruption_percent": pct(p.data_corruption_percent),
            "security_percent": pct(p.security_percent),
            "cap_percent": pct(p.cap_percent),
            "settlement": list(p.settlement),
        }

    def service(self, s: ServiceStatement) -> dict[str, Any]:
        a, c = s.report.availability, s.credit
        rule, rule_zh = availability_rule(c)
        return {
            "service": a.service,
            "title": s.report.spec.title,
            "objective": percent_text(a.objective_percent),
            "period_seconds": a.period_seconds,
            "period_minutes": _minutes(a.period_seconds),
            "elapsed_seconds": a.elapsed_seconds,
            "excluded_seconds": a.excluded_seconds,
            "maintenance_seconds": a.maintenance_seconds,
            "downtime_seconds": a.downtime_seconds,
            "downtime_minutes": _minutes(a.downtime_seconds),
            "downtime": duration_text(a.downtime_seconds),
            "gap_seconds": a.gap_seconds,
            "coverage_percent": percent_down(a.coverage),
            "availability_exact": fraction_text(a.availability),
            "availability_percent": percent_down(a.availability),
            "met": a.met,
            "outages": [self.outage(o) for o in a.outages],
            "maintenance": [self.maintenance(m) for m in s.maintenance],
            "targets": [self.target(t) for t in s.report.targets],
            "credit": {"mode": c.mode, "applied": c.applied, "percent": pct(c.percent),
                       "tiered_percent": pct(c.tiered), "linear_percent": pct(c.linear),
                       "prorata_percent": pct(c.prorata), "rule": rule, "rule_zh": rule_zh},
        }

    def outage(self, o: Outage) -> dict[str, Any]:
        doc = {"start": self.ts(o.start_ms), "end": self.ts(o.end_ms), "seconds": o.seconds,
               "duration": duration_text(o.seconds), "targets": list(o.targets),
               "locations": list(o.locations), "cause": o.cause, "ongoing": o.ongoing}
        evidence = [evidence_path(t, o.start_ms, o.end_ms) for t in o.targets
                    if t in self.evidence]
        if evidence:  # the API paths (staff read) of the screenshots and traces
            doc["evidence"] = evidence
        return doc

    def maintenance(self, m: MaintenanceAssessment) -> dict[str, Any]:
        w = m.window
        return {"id": w.id, "title": w.title, "start": self.ts(w.start_ms),
                "end": self.ts(w.end_ms), "announced": self.ts(w.announced_ms),
                "notice_working_days": m.notice_days,
                "required_working_days": m.required_days, "qualified": m.qualifies,
                "status": m.status.value, "reason": m.reason}

    def target(self, t: TargetSummary) -> dict[str, Any]:
        return {"target": t.target, "coverage_percent": percent_down(t.coverage),
                "locations": [{"location": x.location,
                               "coverage_percent": percent_down(x.coverage)}
                              for x in t.locations]}

    def clocks(self, i: IncidentRecord, p: CompensationPolicy, now_ms: int) -> dict[str, Any]:
        """Restore and resolve against the priority's standard, as evidence (the
        standard promises them; no credit tier of its own)."""
        out: dict[str, Any] = {}
        for clock, std in (("restore", p.restore_ms), ("resolve", p.resolve_ms)):
            c = clock_result(i, clock, std.get(i.priority), now_ms)
            out |= {f"{clock}_standard_seconds": None if c.standard_ms is None
                    else c.standard_ms // 1000,
                    f"{clock}_due": self.ts(c.due_ms),
                    f"{clock}_seconds": None if c.took_ms is None else c.took_ms // 1000,
                    f"{clock}_late_seconds": None if c.late_ms is None
                    else -(-c.late_ms // 1000),
                    f"{clock}_met": c.met}
        return out

    def incident(self, ic: IncidentCredit, p: CompensationPolicy, now_ms: int
                 ) -> dict[str, Any]:
        i = ic.incident
        return {
            "id": i.id, "priority": i.priority, "title": i.title,
            "opened": self.ts(i.opened_ms), "responded": self.ts(i.responded_ms),
            "restored": self.ts(i.restored_ms), "resolved": self.ts(i.resolved_ms),
            "respond_standard_seconds": None if ic.standard_ms is None else ic.standard_ms // 1000,
            "response_seconds": None if ic.response_ms is None else ic.response_ms // 1000,
            "answered": ic.answered,
            "lateness_percent": None if ic.lateness is None else pct(ic.lateness),
            "response_credit_percent": pct(ic.response_percent),
            "data_lost_seconds": ic.data_loss_seconds,
            "data_loss_source": ic.data_loss_source,
            "newest_backup": None if ic.backup is None else self.ts(ic.backup.point_ms),
            "backup_target": None if ic.backup is None else ic.backup.target,
            "data_loss_credit_percent": pct(ic.data_loss_percent),
            "review": ic.review,
            "data_corruption": i.data_corruption,
            "recovery_status": remedy_status(i, "recovery_status") if i.data_corruption
            else None,
            "security": i.security,
            "hardening_status": remedy_status(i, "hardening_status") if i.security else None,
            **self.clocks(i, p, now_ms),
        }

    def line(self, x: CreditLine) -> dict[str, Any]:
        return {"kind": x.kind, "service": x.service, "rule": x.rule, "rule_zh": x.rule_zh,
                "percent": pct(x.percent), "amount": money_text(x.amount),
                "incident": x.incident, "review": x.review}

    def settlement(self, s: Settlement) -> dict[str, Any]:
        return {"options": list(s.options),
                "fee_reduction": None if s.fee_reduction is None else money_text(s.fee_reduction),
                "extension_days": s.extension_days, "days_in_month": s.days_in_month}
