"""The support collector, in its own registry, read from a real record at scrape time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, generate_latest

from compensation.support import Known, SupportDesk, SupportStore, import_support
from exporters.support_metrics import SupportCollector
from slaguard.config import parse_config
from slo.calendar import make_calendar
from slo.periods import to_ms
from tests.conftest import api_config

TZ = "Asia/Shanghai"


def at(month: int, day: int, h: int, m: int = 0, s: int = 0) -> int:
    return to_ms(datetime(2026, month, day, h, m, s, tzinfo=ZoneInfo(TZ)))


def test_this_months_compliance_per_channel_and_customer(tmp_path: Path) -> None:
    """'Now' 2026-11-30 12:00.  acme: chats in 10 s (met) and 40 s (missed), resolved and
    followed up after 2 h (met); a call at 08:00 (outside hours: excluded).  October's
    chat is another month: not here.  chat response 1/2, follow-up 1/1; acme response
    1/2."""
    cfg = parse_config(api_config(tmp_path, "staff-token"), env={})[0]
    store = SupportStore(cfg.storage.path)
    src = tmp_path / "s.jsonl"
    lines = [
        {"id": "C-1", "channel": "chat", "customer": "acme", "opened": "2026-11-24T10:00:00+08:00",
         "answered": "2026-11-24T10:00:10+08:00", "resolved": "2026-11-24T10:30:00+08:00",
         "followed_up": "2026-11-24T12:30:00+08:00"},
        {"id": "C-2", "channel": "chat", "customer": "acme", "opened": "2026-11-25T10:00:00+08:00",
         "answered": "2026-11-25T10:00:40+08:00"},
        {"id": "H-1", "channel": "hotline", "customer": "acme",
         "opened": "2026-11-25T08:00:00+08:00", "answered": "2026-11-25T08:05:00+08:00"},
        {"id": "C-0", "channel": "chat", "customer": "acme", "opened": "2026-10-25T10:00:00+08:00",
         "answered": "2026-10-25T10:09:00+08:00"},
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    import_support(store, src, Known({"acme"}))
    registry = CollectorRegistry(auto_describe=True)
    desk = SupportDesk.from_config(cfg, store, make_calendar("CN"))
    registry.register(SupportCollector(desk, lambda: at(11, 30, 12)))
    try:
        def value(name: str, **labels: str) -> float | None:
            return registry.get_sample_value(name, labels)

        chat = {"channel": "chat", "commitment": "response"}
        assert value("slaguard_support_checks", **chat, outcome="met") == 1
        assert value("slaguard_support_checks", **chat, outcome="missed") == 1
        assert value("slaguard_support_compliance_ratio", **chat) == 0.5
        assert value("slaguard_support_checks", channel="hotline", commitment="response",
                     outcome="excluded") == 1
        assert value("slaguard_support_compliance_ratio", channel="hotline",
                     commitment="response") is None  # nothing counted: no ratio, not 100 %
        assert value("slaguard_support_compliance_ratio", channel="chat",
                     commitment="follow_up") == 1
        # Every channel and commitment is there, zero included.
        assert value("slaguard_support_checks", channel="vip", commitment="follow_up",
                     outcome="not_judged") == 0
        assert value("slaguard_support_customer_compliance_ratio", customer="acme",
                     commitment="response") == 0.5
        assert value("slaguard_support_customer_checks", customer="acme",
                     commitment="follow_up", outcome="met") == 1
        text = generate_latest(registry).decode()
        assert text.count("slaguard_support_checks{") == 5 * 2 * 4
        assert "# TYPE slaguard_support_compliance_ratio gauge" in text
    finally:
        store.close()


def test_an_empty_record_gives_zeros_and_no_ratios(tmp_path: Path) -> None:
    cfg = parse_config(api_config(tmp_path, "staff-token"), env={})[0]
    store = SupportStore(cfg.storage.path)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SupportCollector(SupportDesk.from_config(cfg, store, make_calendar("CN")),
                                       lambda: at(11, 30, 12)))
    try:
        text = generate_latest(registry).decode()
        assert 'slaguard_support_checks{channel="chat",commitment="response",outcome="met"} 0.0' \
            in text
        assert "slaguard_support_compliance_ratio{" not in text
        assert "slaguard_support_customer_checks{" not in text
    finally:
        store.close()
