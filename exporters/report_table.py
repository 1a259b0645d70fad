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
    for x in doc["latency"]:
        bounds = ", ".join(f"{b['bound']} {b['value_ms'] or '-'} ms ≤ {b['limit_ms']} ms "
                           f"{_yes(b['holds'])}" for b in x["bounds"])
        lines.append(f"latency {x['slo']}: {x['count']} results; {bounds}")
    for x in doc["rpo"]:
        worst = x["worst"]["age_ms"] // 1000 if x["worst"] else "-"
        lines.append(f"rpo {x['slo']}: worst age {worst} s ≤ {x['objective_ms'] // 1000} s "
                     f"{_yes(x['compliant'])}")
    for x in doc["rto"]:
        lines.append(f"rto {x['slo']}: {len(x['outages'])} outages, all within "
                     f"{x['objective_ms'] // 1000} s: {_yes(x['compliant'])}")
    return "\n".join(lines) + "\n"
