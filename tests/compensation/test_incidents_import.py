"""import-incidents: all or nothing, line numbers in errors, idempotent, read back by month."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from compensation.incidents_import import (
    Known,
    connect,
    import_incidents,
    incidents_for_period,
    parse_incident,
    read_incidents,
)
from slaguard.errors import ImportFileError
from slaguard.store import SQLiteStore
from slo import parse_month
from slo.compensation import IncidentRecord

from .scenario import at

KNOWN = Known(priorities={"P1", "P2", "P3", "P4"}, customers={"acme", "globex"},
              services={"core", "storage"})
P1: dict[str, Any] = {"id": "INC-1001", "priority": "P1", "opened": "2026-10-20T10:02:00+08:00",
                      "responded": "2026-10-20T10:20:00+08:00",
                      "restored": "2026-10-20T02:45:00Z",
                      "resolved": "2026-10-20T16:00:00.250+08:00", "data_lost_seconds": 0}
P3: dict[str, Any] = {"id": "INC-1002", "priority": "P3", "opened": "2026-10-21T03:01:00+08:00",
                      "responded": None, "data_lost_seconds": 1800, "customer": "acme",
                      "services": ["storage"], "title": "存储读取错误"}
SEPT: dict[str, Any] = {"id": "INC-0999", "priority": "P1", "opened": "2026-09-30T23:00:00+08:00"}


def write(tmp_path: Path, docs: list[Any], name: str = "incidents.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join((d if isinstance(d, str) else json.dumps(d, ensure_ascii=False)) + "\n"
                         for d in docs), encoding="utf-8")
    return p


def test_import_and_read_a_month(tmp_path: Path) -> None:
    db = tmp_path / "data" / "slaguard.db"
    stats = import_incidents(db, write(tmp_path, [P1, "", P3, SEPT]), KNOWN)
    assert (stats.lines, stats.added, stats.updated, stats.unchanged) == (3, 3, 0, 0)
    october = incidents_for_period(db, parse_month("2026-10", "Asia/Shanghai"))
    assert october == [
        # both state their data loss ("data_lost_seconds": 0 is the ticket's word)
        IncidentRecord("INC-1001", "P1", at("10-20 10:02"), at("10-20 10:20"),
                       at("10-20 10:45"), at("10-20 16:00") + 250, data_loss_stated=True),
        IncidentRecord("INC-1002", "P3", at("10-21 03:01"), None, None, None, 1800, "acme",
                       ("storage",), "存储读取错误", data_loss_stated=True),
    ]
    assert [i.id for i in read_incidents(db, 0, at("10-01 00:00"))] == ["INC-0999"]


def test_reimport_is_idempotent_and_updates_changes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    import_incidents(db, write(tmp_path, [P1, P3]), KNOWN)
    again = import_incidents(db, write(tmp_path, [P1, P3]), KNOWN)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    answered = {**P3, "responded": "2026-10-21T06:31:00+08:00"}
    later = import_incidents(db, write(tmp_path, [answered]), KNOWN)
    assert (later.added, later.updated, later.unchanged) == (0, 1, 0)
    (inc,) = [i for i in read_incidents(db, 0, 2**62) if i.id == "INC-1002"]
    assert inc.responded_ms == at("10-21 06:31")


@pytest.mark.parametrize(("doc", "message"), [
    ("{not json", "invalid JSON"),
    ([1, 2], "expected a JSON object"),
    ({**P1, "respondedd": "x"}, "unknown field(s) 'respondedd'"),
    ({k: v for k, v in P1.items() if k != "opened"}, "opened: required"),
    ({**P1, "id": ""}, "id: expected a non-empty string"),
    ({**P1, "priority": "P9"}, "priority: 'P9' is not one of P1, P2, P3, P4"),
    ({**P1, "opened": "2026-10-20T10:02:00"}, "opened: a date and time with an offset"),
    ({**P1, "opened": "2026-10-20"}, "opened: a date and time with an offset"),
    ({**P1, "opened": "yesterday"}, "opened: not an RFC 3339 timestamp"),
    ({**P1, "opened": 1790000000}, "opened: expected an RFC 3339 string"),
    ({**P1, "responded": "2026-10-20T10:00:00+08:00"}, "responded: before opened"),
    ({**P1, "data_lost_seconds": 1.5}, "data_lost_seconds: expected a whole number"),
    ({**P1, "data_lost_seconds": True}, "data_lost_seconds: expected a whole number"),
    ({**P1, "data_lost_seconds": -1}, "data_lost_seconds: expected a whole number"),
    ({**P1, "customer": "initech"}, "customer: 'initech' is not one of acme, globex"),
    ({**P1, "services": "core"}, "services: expected a list"),
    ({**P1, "services": ["core", "cache"]}, "services: unknown 'cache'"),
])
def test_a_bad_line_stops_everything_with_its_number(tmp_path: Path, doc: Any,
                                                      message: str) -> None:
    db = tmp_path / "s.db"
    path = write(tmp_path, [P3, SEPT, doc])
    with pytest.raises(ImportFileError) as e:
        import_incidents(db, path, KNOWN)
    assert e.value.line == 3 and message in e.value.message, e.value.message
    assert str(e.value).startswith(f"{path}:3: ")
    assert read_incidents(db, 0, 2**62) == []  # nothing of the file was kept


def test_duplicate_ids_in_one_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="already on line 1") as e:
        import_incidents(tmp_path / "s.db", write(tmp_path, [P1, P3, P1]), KNOWN)
    assert e.value.line == 3


def test_any_priority_without_a_configuration() -> None:
    inc = parse_incident({"id": "X", "priority": "sev1", "opened": "2026-10-01T00:00:00Z"})
    assert inc.priority == "sev1" and inc.opened_ms == at("10-01 08:00")


def test_a_failing_write_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import compensation.incidents_import as mod

    db = tmp_path / "s.db"
    import_incidents(db, write(tmp_path, [SEPT]), KNOWN)
    calls = {"n": 0}
    real = mod._upsert

    def flaky(*args: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real(*args)

    monkeypatch.setattr(mod, "_upsert", flaky)
    with pytest.raises(Exception, match="disk I/O error"):
        import_incidents(db, write(tmp_path, [P1, P3]), KNOWN)
    assert [i.id for i in read_incidents(db, 0, 2**62)] == ["INC-0999"]


def test_beside_the_store_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SQLiteStore(db)
    try:
        import_incidents(db, write(tmp_path, [P1]), KNOWN)
        with connect(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        errors: list[BaseException] = []

        def reader() -> None:  # sees the record before or after the import, never half of it
            try:
                assert len(read_incidents(db, 0, 2**62)) in (1, 3)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        import_incidents(db, write(tmp_path, [P3, SEPT], "more.jsonl"), KNOWN)
        for t in threads:
            t.join()
        assert not errors
        with closing(sqlite3.connect(db)) as raw:
            tables = {r[0] for r in raw.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"results", "runs", "imported_incidents"} <= tables
    finally:
        store.close()
