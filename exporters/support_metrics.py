"""The support desk's compliance this month as Prometheus gauges, read at scrape time.

Per channel and commitment (``response``, ``follow_up``), every one that applies,
zero included, so a dashboard can tell "nothing counted" from "no data":

    slaguard_support_checks{channel, commitment, outcome}   met | missed | excluded | not_judged
    slaguard_support_compliance_ratio{channel, commitment}  met / (met + missed), when any counted

Per customer (only customers with interactions this month, so 10 000 customers
do not make 10 000 × 10 series of zeros), over every channel:

    slaguard_support_customer_checks{customer, commitment, outcome}  met | missed
    slaguard_support_customer_compliance_ratio{customer, commitment}

Ratios over several series are ``sum(met) / sum(met + missed)``: a ratio of sums,
as the report computes them, never a mean of ratios.  The ratio is exact in the
report and the API; a gauge is a float, for dashboards only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from compensation.support import SupportDesk
from slo.periods import month_containing
from slo.support import Tally

OUTCOMES = ("met", "missed", "excluded", "not_judged")


def _outcomes(t: Tally) -> dict[str, int]:
    return {"met": t.met, "missed": t.missed, "excluded": sum(t.excluded.values()),
            "not_judged": t.not_judged}


class SupportCollector(Collector):
    """This month's support compliance, computed from the record at each scrape."""

    def __init__(self, desk: SupportDesk, now_ms: Callable[[], int]):
        self.desk, self.now_ms = desk, now_ms

    def collect(self) -> Iterator[Metric]:
        now = self.now_ms()
        report = self.desk.report(month_containing(now, self.desk.rules.timezone), now)
        row = ["channel", "commitment"]
        checks = GaugeMetricFamily(
            "slaguard_support_checks",
            "Support-desk checks this month by outcome (excluded: outside service hours, "
            "pending, abandoned in time, no calendar data; not_judged: no time stated)",
            labels=[*row, "outcome"])
        ratio = GaugeMetricFamily(
            "slaguard_support_compliance_ratio",
            "Support-desk compliance this month: met / (met + missed)", labels=row)
        for t in report.desk.rows:
            labels = [t.channel or "", t.commitment or ""]
            for outcome, n in _outcomes(t).items():
                checks.add_metric([*labels, outcome], float(n))
            if t.compliance is not None:
                ratio.add_metric(labels, float(t.compliance))
        who = ["customer", "commitment"]
        c_checks = GaugeMetricFamily(
            "slaguard_support_customer_checks",
            "A customer's counted support-desk checks this month (every channel)",
            labels=[*who, "outcome"])
        c_ratio = GaugeMetricFamily(
            "slaguard_support_customer_compliance_ratio",
            "A customer's support-desk compliance this month (every channel)", labels=who)
        for customer, summary in sorted(report.customers.items()):
            for t in summary.commitments:
                labels = [customer, t.commitment or ""]
                c_checks.add_metric([*labels, "met"], float(t.met))
                c_checks.add_metric([*labels, "missed"], float(t.missed))
                if t.compliance is not None:
                    c_ratio.add_metric(labels, float(t.compliance))
        yield from (checks, ratio, c_checks, c_ratio)
