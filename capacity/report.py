"""The month's ``capacity`` section (``slaguard report``).  The Grafana panels read
Prometheus (``exporters.capacity_metrics``, the SLA overview's capacity row).

The section lists the runs that started in the month with their verdicts, and the
rule: capacity runs never count in availability; probe results inside a run's window
are flagged (:mod:`capacity.windows`).
"""

from __future__ import annotations

from typing import Any

from capacity.api import summary
from capacity.store import CapacityStore
from capacity.windows import RunWindow, flag_outages
from slo.periods import Period, parse_rfc3339

RULE = ("capacity runs never count in availability; probe results inside a run's window "
        "are flagged capacity_run")


def capacity_section(store: CapacityStore, period: Period) -> dict[str, Any]:
    """Runs started in ``period`` (oldest first) with their verdicts, and the count per
    verdict."""
    runs = [d for d in store.between(period.start_ms, period.end_ms)
            if period.start_ms <= d["start_ms"] < period.end_ms]
    counts = {v: 0 for v in ("passed", "failed", "aborted", "invalid", "running")}
    for d in runs:
        counts[d["verdict"]] = counts.get(d["verdict"], 0) + 1
    return {"runs": [summary(d) | {"windows_ms": [d["start_ms"], d.get("end_ms")]}
                     for d in runs],
            "verdicts": counts, "rule": RULE}


def annotate_outages(report: dict[str, Any], windows: list[RunWindow]) -> dict[str, Any]:
    """``report`` (``Report.to_dict()``) with ``capacity_runs`` on each outage that
    overlaps a run: the outage still counts (customers saw it); the flag says a load
    test was going on."""
    for service in report.get("services", []):
        spans = flag_outages(service.get("outages", []), windows, lambda o: (
            parse_rfc3339(o["start"], "start"),
            None if o.get("end") is None else parse_rfc3339(o["end"], "end")))
        for outage, runs in spans:
            if runs:
                outage["capacity_runs"] = runs
    return report


def render_capacity_table(section: dict[str, Any]) -> str:
    """The section for a terminal."""
    lines = ["Capacity runs"]
    if not section["runs"]:
        return "Capacity runs: none this month\n"
    for r in section["runs"]:
        why = r["aborted_by"] or r["invalid_reason"] or ""
        lines.append(f"  {r['id']:<8} {r['job']:<20} {r['start']}  {r['verdict']:<8} "
                     f"peak {r['peak_users']} users, {r['requests']} requests, p95 "
                     f"{r['p95_ms']} ms" + (f"  ({why})" if why else ""))
    lines.append(f"  {RULE}")
    return "\n".join(lines) + "\n"
