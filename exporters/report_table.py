"""``report --format table``: the month at a glance for a terminal, from the JSON form
(so the table can never say something the JSON does not)."""

from __future__ import annotations

from typing import Any


def _duration(seconds: int | float | str) -> str:
    s = int(float(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


def _yes(v: bool | None) -> str:
    return "n/a" if v is None else ("met" if v else "MISSED")


def render(doc: dict[str, Any]) -> str:
    p = doc["period"]
    lines = [f"SLA report {p['label']} ({p['timezone']}), {p['start']} – {p['end']}"
             + ("" if p["complete"] else f", to date ({p['evaluated_until']})"), ""]
    rows = []
    for s in doc["services"]:
        remaining = s["error_budget_remaining"]
        rows.append([
            s["service"], s["objective"] + "%", s["availability_percent"] + "%",
            _yes(s["met"]), _duration(s["downtime_seconds"]),
            _duration(s["error_budget_seconds"]),
            "n/a" if remaining is None else f"{float(remaining) * 100:.1f}%",
            s["coverage_percent"] + "%", str(len(s["outages"])),
        ])
    lines += _table(["service", "objective", "availability", "", "downtime", "budget",
                     "budget left", "coverage", "outages"], rows)
    for s in doc["services"]:
        for o in s["outages"]:
            lines.append(f"  {s['service']}: outage {o['start']} → {o['end'] or 'ongoing'} "
                         f"{_duration(o['seconds'])} seen by {', '.join(o['locations'])}")
        for m in s["maintenance"]:
            verdict = "qualified" if m["qualified"] else m["status"]
            lines.append(f"  {s['service']}: maintenance {m['id']} {m['start']} – {m['end']}: "
                         f"{verdict} ({m['reason']})")
    # Each objective is printed with its own comparison: the standard's "<" is not
    # met by a value exactly at the limit, an inclusive bound ("≤") is.
    for x in doc["latency"]:
        bounds = ", ".join(f"{b['bound']} {b['value_ms'] or '-'} ms (objective "
                           f"{b['comparison']}) {_yes(b['holds'])}" for b in x["bounds"])
        lines.append(f"latency {x['slo']}: {x['count']} results; {bounds}")
    for x in doc["rpo"]:
        worst = x["worst"]["age_ms"] // 1000 if x["worst"] else "-"
        lines.append(f"rpo {x['slo']}: worst age {worst} s (objective {x['comparison']}) "
                     f"{_yes(x['compliant'])}")
    for x in doc["rto"]:
        lines.append(f"rto {x['slo']}: {len(x['outages'])} outages, each restored "
                     f"{x['comparison']}: {_yes(x['compliant'])}")
    for b in doc.get("backups", []):
        verdict = {"ok": "ok", "due": "due (within grace)", "missed": "MISSED: RPO risk",
                   "unknown": "never seen: RPO risk"}[b["status"]]
        lines.append(f"backup {b['of']} {b['kind']} (every {_ms(b['every_ms'])}, grace "
                     f"{_ms(b['grace_ms'])}): newest {b['newest'] or '-'}, age "
                     f"{_ms(b['age_ms'])} at {b['at']}: {verdict}; "
                     f"{b['late_probes']} probes found it late")
    lines += _incidents(doc.get("incidents"))
    lines += _objectives(doc.get("objectives", []))
    lines += _steps(doc.get("steps", []))
    return "\n".join(lines) + "\n"


def _objectives(xs: list[dict[str, Any]]) -> list[str]:
    """Each windowed objective over its own window (not the month's): the SLI, the
    budget left, and each burn alert's rate over its lookback."""
    out = []
    for x in xs:
        sli = x["sli"] + (f" {x['threshold']}" if x["threshold"] else "")
        counted = (f"{x['events']} events" if x["slices"] is None
                   else f"{x['slices']} slices of {_ms(x['timeslice_window_ms'])}, "
                        f"{x['events']} events")
        ratio = "-" if x["ratio_percent"] is None else x["ratio_percent"] + "%"
        left = x["budget"]["remaining_ratio"]
        left_text = "n/a" if left is None else f"{float(left) * 100:.1f}%"
        out.append(f"objective {x['name']} ({sli}, {x['window']} {x['budgeting']}, "
                   f"{x['start']} – {x['end']}): {ratio} of {counted} (objective "
                   f"{x['target']}%) {_yes(x['met'])}; budget left {left_text}")
        for b in x["burn_alerts"]:
            rate = "-" if b["burn_rate"] is None else b["burn_rate"]
            out.append(f"  burn {b['name']} ({b['severity']}): rate {rate} over "
                       f"{_ms(b['lookback_ms'])} ({b['op']} {b['threshold']}: "
                       f"{'holds' if b['holds'] else 'clear'})")
    return out


def _steps(xs: list[dict[str, Any]]) -> list[str]:
    """Each journey step objective: its runs, and each breaching run for evidence."""
    out = []
    for x in xs:
        worst = "-" if x["worst_ms"] is None else f"{x['worst_ms']} ms"
        out.append(f"step {x['journey']}/{x['step']} (objective {x['bound']}): "
                   f"{x['met']} of {x['runs']} runs met, {x['breached']} breached, "
                   f"{x['not_judged']} not judged; worst {worst} {_yes(x['compliant'])}")
        for b in x["breaches"]:
            failed = "" if b["step_ok"] else " (step failed)"
            out.append(f"  {b['ts']} {b['location']}: {b['elapsed_ms']} ms{failed}")
    return out


def _ms(ms: int | str | None) -> str:
    return "-" if ms is None else _duration(int(float(ms)) // 1000)


def _clock(name: str, c: dict[str, Any]) -> str:
    if c["standard_ms"] is None:
        return f"{name} {_ms(c['took_ms']) if c['took_ms'] is not None else '-'}"
    took = _ms(c["took_ms"]) if c["took_ms"] is not None else "not yet"
    verdict = {True: "met", False: f"LATE by {_ms(c['late_ms'])}", None: "pending"}[c["met"]]
    return f"{name} {took} / {_ms(c['standard_ms'])} {verdict}"


def _incidents(x: dict[str, Any] | None) -> list[str]:
    """Each incident's respond, restore and resolve clock against its priority's
    standard, then MTTA / MTTR and the late counts per priority."""
    if x is None:
        return []
    out = [f"incidents: {len(x['list'])} opened"]
    for i in x["list"]:
        clocks = "; ".join(_clock(c, i[c]) for c in ("respond", "restore", "resolve"))
        out.append(f"  {i['priority']} {i['id']} ({i['source']}) opened {i['opened']}: {clocks}")
    for f in x["by_priority"]:
        if not f["incidents"]:
            continue
        late = ", ".join(f"{c} {n}" for c, n in f["late"].items())
        out.append(f"  {f['priority']}: {f['incidents']} incidents, MTTA {_ms(f['mtta_ms'])}, "
                   f"MTTR {_ms(f['mttr_ms'])}; late: {late}")
    return out
