"""What ``slaguard demo`` prints: where to look at start, then every ten seconds each
target's state per location, this month's availability and the open incidents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerting.store import IncidentRecord
from demo.config import DemoTokens
from demo.platform import CYCLE_S, LOCATIONS, SCRIPT
from slaguard.domain import ProbeResult
from slaguard.state import SeriesKey, SeriesState
from slo.fmt import percent_down
from slo.report import Report

MARKS = {"success": "ok  ", "failure": "FAIL", "unknown": "??  "}
SLOW = "slow"  # a success over its performance bound: a breach, not downtime


def banner(url: str, platform_url: str, speed: float, tokens: DemoTokens,
           customer: str = "demo", notes: Sequence[str] = ()) -> str:
    """Where to look; ``notes`` (what the demo adds or leaves out, e.g. the browser
    target without Chromium) are printed before the fault script."""
    lines = [
        "slaguard demo: a simulated AI bid-document platform, probed from "
        f"{', '.join(LOCATIONS)}",
        f"  platform      {platform_url}/",
        f"  status page   {url}/status",
        f"  portal        {url}/portal   sign in as customer {customer!r} with token "
        f"{tokens.customer}",
        f"  health        {url}/healthz",
        f"  staff token   {tokens.staff}   (the routes below need it: README \"Security\")",
        f"  metrics       {url}/metrics",
        f"  SLO report    {url}/api/v1/slo",
        f"  results       {url}/api/v1/results?target=web-home",
        f"  incidents     {url}/api/v1/incidents",
        f"  e.g.          curl -H 'Authorization: Bearer {tokens.staff}' {url}/api/v1/slo",
        f"  acknowledge   SLAGUARD_API_TOKEN={tokens.staff} slaguard incidents ack INC-n "
        f"--url {url}",
        f"  books         {platform_url}/api/usage   (probe traffic, never billed, apart)",
        *notes,
        f"  fault script  (repeats every {CYCLE_S / speed:.0f} s)",
    ]
    lines += [f"    {f.start_s / speed:6.0f}–{f.end_s / speed:.0f} s  {f.name}"
              + (f" ({', '.join(f.locations)} only)" if f.locations else "") for f in SCRIPT]
    lines.append("Ctrl-C stops it.")
    return "\n".join(lines)


def clock(ms: int) -> str:
    """A duration as ``1h02m``, ``3m05s`` or ``42s``."""
    s = max(0, ms) // 1000
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def incident_line(inc: IncidentRecord, now_ms: int) -> str:
    """``P2 INC-3 core: … open 2m10s, restored 40s ago, resolves in 1m00s``."""
    parts = [f"{inc.priority.value} {inc.public_id} {inc.title}",
             f"open {clock(now_ms - inc.opened_ms)}"]
    if inc.responded_ms is None:
        due = inc.respond_due_ms
        parts.append("unacknowledged" if due is None else
                     f"unacknowledged, respond due in {clock(due - now_ms)}" if due > now_ms
                     else f"unacknowledged, respond overdue by {clock(now_ms - due)}")
    else:
        parts.append(f"acknowledged by {inc.responded_by}")
    if inc.restored_ms is not None:
        parts.append(f"restored {clock(now_ms - inc.restored_ms)} ago")
    if inc.auto_resolve_ms is not None:
        parts.append(f"resolves in {clock(inc.auto_resolve_ms - now_ms)}")
    return ", ".join(parts)


def span(ms: int) -> str:
    """A step's or a page's time: ``640 ms``, ``3.6 s``, ``12m00s``."""
    if ms < 1000:
        return f"{ms} ms"
    return f"{ms / 1000:.1f} s" if ms < 60_000 else clock(ms)


def mark(r: ProbeResult) -> str:
    return SLOW if r.success and r.too_slow else MARKS[r.outcome.value]


def page_line(r: ProbeResult) -> str:
    """A browser check's page load (the SLA figure) and what the page was made of."""
    v = r.vitals
    parts = [f"page load {span(r.duration_ms)}"]
    parts += [f"{k} {span(v[k])}" for k in ("ttfb", "fcp", "lcp") if k in v]
    if "requests" in v:
        parts.append(f"{v['requests']} requests")
    if "bytes" in v:
        parts.append(f"{v['bytes'] // 1024} KiB")
    if r.error is not None:
        parts.append(f"error: {r.error.message}")
    return f"    {r.location}: " + ", ".join(parts)


def steps_line(r: ProbeResult) -> str:
    """A journey run's steps in order: time, polls, and the failing step's error."""
    cells = []
    for s in r.steps:
        cell = f"{s.step} {span(s.elapsed_ms)}"
        if s.attempts > 1:
            cell += f" ({s.attempts} polls)"
        if not s.ok:
            cell += " FAIL" + (f": {s.error.message}" if s.error else "")
        cells.append(cell)
    return f"    {r.location}: " + (" · ".join(cells) or "no steps")


def details(latest: Sequence[ProbeResult]) -> list[str]:
    """Below a browser or journey target's row: the newest result's page or steps."""
    r = max(latest, key=lambda x: x.ts_ms)
    if r.kind == "browser":
        return [page_line(r)]
    if r.kind == "journey":
        return [steps_line(r)]
    return []


def books_line(usage: dict[str, Any]) -> str:
    """The platform's own books (``/api/usage``): what it bills and what it does not."""
    b, p, c = usage["billable"], usage["probe"], usage["capacity"]
    return (f"  platform books: billable {b['requests']} requests, {b['pages']} pages; "
            f"probes {p['requests']} requests, {p['pages']} pages (not billed); "
            f"load: {c['in_flight']} in flight, peak {c['peak_in_flight']}, "
            f"{c['rejected']} shed past the knee of {c['knee']}")


def status_line(t_s: float, snapshot: Sequence[tuple[SeriesKey, SeriesState]],
                report: Report | None, incidents: Sequence[IncidentRecord],
                now_ms: int, usage: dict[str, Any] | None = None) -> str:
    """One head line, one line per target (each location's last outcome and duration;
    a browser target's page load and a journey's steps below it), the platform's
    books, one line per open incident."""
    rows: dict[str, list[str]] = {}
    latest: dict[str, list[ProbeResult]] = {}
    for (target, _svc, loc, _kind), st in snapshot:
        r = st.latest
        rows.setdefault(target, []).append(f"{loc} {mark(r)} {r.duration_ms:>5} ms")
        latest.setdefault(target, []).append(r)
    active = [f.name for f in SCRIPT if f.active(t_s, None)
              or f.active(t_s, (f.locations or ("",))[0])]
    head = f"[t={t_s:5.0f}s] faults: {', '.join(active) or 'none'}"
    if report is not None:
        head += "; this month: " + ", ".join(
            f"{s.spec.name} {percent_down(s.availability.availability)}% "
            f"({s.availability.downtime_seconds} s down)" for s in report.services)
    lines: list[Any] = [head]
    for t, cells in rows.items():
        lines.append(f"  {t:<18} " + " | ".join(cells))
        lines += details(latest[t])
    if usage is not None:
        lines.append(books_line(usage))
    open_ = [i for i in incidents if i.is_open]
    lines.append(f"  incidents: {len(open_)} open" + ("" if open_ else " (none)"))
    lines += [f"    {incident_line(i, now_ms)}" for i in open_]
    return "\n".join(lines)
