"""A month's report names only the maintenance windows that overlap that month.

The record keeps every announced window (the configuration's and the API's), and
the evaluator assesses them all; December's report listed October's window.
"""

from __future__ import annotations

from typing import Any

from exporters.report_table import render
from slaguard.config import parse_config
from slaguard.policy import from_config
from slo.evaluator import report_from_results
from slo.periods import parse_month


def window(wid: str, start: str, end: str) -> dict[str, Any]:
    return {"id": wid, "services": ["core"], "start": start, "end": end,
            "announced": "2026-09-01T10:00:00+08:00"}


CONFIG: dict[str, Any] = {
    "version": 1,
    "services": {"core": {"availability": "99.9%"}},
    "targets": [{"name": "web", "service": "core", "kind": "http",
                 "url": "https://app.example.com/"}],
    "maintenance": [
        window("MW-OCT", "2026-10-14T02:00:00+08:00", "2026-10-14T04:00:00+08:00"),
        # Across midnight at the end of November: both months name it.
        window("MW-NOV-DEC", "2026-11-30T23:00:00+08:00", "2026-12-01T01:00:00+08:00"),
        window("MW-DEC", "2026-12-09T02:00:00+08:00", "2026-12-09T03:00:00+08:00"),
        # Ends exactly where December begins: not December's.
        window("MW-NOV-END", "2026-11-30T22:00:00+08:00", "2026-12-01T00:00:00+08:00"),
    ],
}


def listed(month: str) -> list[str]:
    pol = from_config(parse_config(CONFIG, env={})[0])
    p = parse_month(month, pol.timezone)
    doc = report_from_results(pol, p, p.end_ms, []).to_dict()
    return [m["id"] for m in doc["services"][0]["maintenance"]]


def test_each_month_names_its_own_windows() -> None:
    assert listed("2026-10") == ["MW-OCT"]
    assert listed("2026-11") == ["MW-NOV-DEC", "MW-NOV-END"]
    assert listed("2026-12") == ["MW-NOV-DEC", "MW-DEC"]
    assert listed("2027-01") == []


def test_the_table_names_only_the_month_s_windows() -> None:
    pol = from_config(parse_config(CONFIG, env={})[0])
    p = parse_month("2026-12", pol.timezone)
    table = render(report_from_results(pol, p, p.end_ms, []).to_dict())
    assert "MW-DEC" in table and "MW-NOV-DEC" in table
    assert "MW-OCT" not in table and "MW-NOV-END" not in table
