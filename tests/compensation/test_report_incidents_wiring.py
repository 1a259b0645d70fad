"""Issue 15 item 4, wired: the evaluator's report has the incidents section with the
live (alerting record) and imported (``import-incidents``) incidents of the month, an
imported ticket winning over a live incident with the same id, as on statements."""

from __future__ import annotations

import json
from pathlib import Path

from compensation.incidents_import import import_incidents
from compensation.statements import imported_incidents
from slaguard.config import parse_config
from slaguard.config.calendar import load_calendar
from slaguard.evaluation import Evaluator
from slaguard.store import SQLiteStore
from slo.compensation import IncidentRecord

from .scenario import CONFIG, at

NOW = at("11-10 00:00")


def test_live_and_imported_incidents_in_the_report(tmp_path: Path) -> None:
    """Imported TKT-9 (P1: restored after 6 h, resolved after 72 h) and INC-5; live
    INC-5 (the same incident: the imported one wins) and INC-6.  The section lists
    TKT-9, INC-5 (imported), INC-6 (live); TKT-9 is late on restore and resolve."""
    db = tmp_path / "slaguard.db"
    cfg = parse_config({**json.loads(json.dumps(CONFIG)), "storage": {"path": str(db)}},
                       env={})[0]
    f = tmp_path / "tickets.jsonl"
    f.write_text("\n".join(json.dumps(d) for d in (
        {"id": "TKT-9", "priority": "P1", "opened": "2026-10-11T00:00:00+08:00",
         "responded": "2026-10-11T00:10:00+08:00", "restored": "2026-10-11T06:00:00+08:00",
         "resolved": "2026-10-14T00:00:00+08:00"},
        {"id": "INC-5", "priority": "P2", "opened": "2026-10-12T00:00:00+08:00",
         "responded": "2026-10-12T00:05:00+08:00", "title": "from the ticket system"},
    )) + "\n")
    import_incidents(db, f)
    live = [IncidentRecord("INC-5", "P2", at("10-12 00:00"), title="live copy"),
            IncidentRecord("INC-6", "P3", at("10-13 00:00"), at("10-13 00:30"))]
    ev = Evaluator(cfg, SQLiteStore(db), load_calendar(cfg), incidents=lambda _: live,
                   imported=imported_incidents(cfg))
    doc = ev.month("2026-10", NOW).to_dict()["incidents"]
    assert [(i["id"], i["source"], i["title"]) for i in doc["list"]] == [
        ("TKT-9", "imported", ""), ("INC-5", "imported", "from the ticket system"),
        ("INC-6", "live", "")]
    assert doc["list"][0]["late"] == ["restore", "resolve"]
    assert doc["list"][0]["restore"]["late_ms"] == 2 * 3_600_000
