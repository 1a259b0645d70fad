"""``slos[].objective`` (WindowedObjective): what a valid objective reads as, and that
it writes back to the same text (the OpenSLO exporter and the API rely on it).  Each
refused rule has its own file in invalid/ (slo-objective-*.yaml)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from slaguard.config.objectives import CALENDAR_MONTH, WindowedObjective
from slaguard.config.types import bound_inclusive

FULL = {
    "sli": "latency", "threshold": "<= 3s", "target": "99.9%", "window": "4w",
    "budgeting": "timeslices", "timeslice_window": "1m", "timeslice_target": "95%",
    "burn_alerts": [{"name": "fast-burn", "severity": "page", "threshold": 14.4, "op": "gt",
                     "lookback": "1h", "alert_after": "5m"}],
}


def test_full_objective_reads_exact_values() -> None:
    o = WindowedObjective.model_validate(FULL)
    assert o.window == timedelta(days=28) and not o.calendar
    assert o.threshold == timedelta(seconds=3) and bound_inclusive(o.threshold)
    assert o.target == Decimal("99.9") and o.timeslice_target == Decimal("95")
    assert o.timeslice_window == timedelta(minutes=1)
    alert = o.burn_alerts[0]
    # 14.4 arrives from YAML as a float; it is read through its shortest text, exactly.
    assert alert.threshold == Decimal("14.4") and alert.alert_after == timedelta(minutes=5)


def test_written_back_as_text_and_read_again_unchanged() -> None:
    o = WindowedObjective.model_validate(FULL)
    text = o.model_dump(mode="json")
    assert text == {**FULL, "window": "28d",
                    "burn_alerts": [{**FULL["burn_alerts"][0], "threshold": "14.4"}]}  # type: ignore[dict-item]
    assert WindowedObjective.model_validate(text) == o


def test_defaults_and_calendar_month() -> None:
    o = WindowedObjective.model_validate({"sli": "availability", "target": "99.95%",
                                          "window": "1M"})
    assert o.calendar and o.window == CALENDAR_MONTH
    assert o.budgeting == "occurrences" and o.burn_alerts == []
    assert o.threshold is None and o.timeslice_window is None
    burn = WindowedObjective.model_validate({
        "sli": "availability", "target": "99%", "window": "1M",
        "burn_alerts": [{"name": "slow", "severity": "ticket", "threshold": "1",
                         "lookback": "28d"}]}).burn_alerts[0]
    # A lookback as long as the shortest month fits every calendar month.
    assert burn.op == "gt" and burn.alert_after == timedelta(0)
