"""Issue 15 item 7: 数据损坏: 免费数据恢复 + 服务费补偿; 安全事件: 免费安全加固 + 服务费补偿.

An incident flagged ``data_corruption`` or ``security`` gives, once per kind and
month, a fee-credit line (``compensation.data_corruption.credit`` /
``security.credit``, default 10 %, outside the cap) and, per incident, a
non-monetary line for the free remedy with its status.  Fee 10 000.00 throughout.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from compensation.incidents_import import import_incidents, parse_incident, read_incidents
from slaguard.config import ConfigError, parse_config
from slaguard.policy import compensation_policy
from slo.compensation import IncidentRecord, assess_credits

from .kit import FEE, T0, down, policy
from .scenario import CONFIG


def inc(id_: str = "INC-7", **kw: Any) -> IncidentRecord:
    return IncidentRecord(id_, "P1", T0, T0 + 60_000, **kw)


def lines(incidents: list[IncidentRecord], **pol: Any) -> list[tuple[str, str, str | None]]:
    c = assess_credits(FEE, [down(0)], incidents, policy(**pol), T0 + 86_400_000)
    return [(x.kind, str(x.amount), x.incident) for x in c.lines]


def test_data_corruption_gives_a_fee_credit_and_free_recovery() -> None:
    """10 000.00 × 10 % = 1 000.00 (the default); the recovery line is 0.00 with its
    status.  Availability met (0 s down): its line is 0.00."""
    c = assess_credits(FEE, [down(0)], [inc(data_corruption=True, recovery_status="done")],
                       policy(), T0 + 86_400_000)
    assert [(x.kind, str(x.amount)) for x in c.lines] == [
        ("availability", "0.00"), ("data_corruption", "1000.00"), ("data_recovery", "0.00")]
    fee_line, remedy = c.lines[1], c.lines[2]
    assert fee_line.rule == ("data corruption (INC-7): service-fee compensation 10 % of the "
                             "monthly fee, once for the month, outside the cap")
    assert fee_line.rule_zh == "数据损坏（INC-7）：服务费补偿当月服务费的 10%，当月一次，不计入上限"
    assert remedy.rule == "INC-7: free data recovery, free of charge: done"
    assert remedy.rule_zh == "INC-7：免费数据恢复，免费提供：已完成"
    assert c.total == Decimal("1000.00") and c.reviews == ()


def test_security_incident_gives_a_fee_credit_and_free_hardening_pending_is_reviewed() -> None:
    """security.credit 15 % → 1 500.00; hardening not reported yet: pending, and the
    statement lists it among the things a person follows up."""
    c = assess_credits(FEE, [down(0)], [inc(security=True)], policy(security_percent=Decimal(15)),
                       T0 + 86_400_000)
    assert [(x.kind, str(x.amount)) for x in c.lines][1:] == [
        ("security", "1500.00"), ("security_hardening", "0.00")]
    assert c.lines[2].rule == "INC-7: free security hardening, free of charge: pending"
    assert c.reviews == ("INC-7: free security hardening owed, pending",)


def test_one_fee_credit_per_kind_and_month_one_remedy_per_incident() -> None:
    """Two corrupted incidents and one that is both: data corruption 1 000.00 once
    (three incidents named), security 1 000.00 once; three recoveries, one hardening.
    Total 2 000.00."""
    got = lines([inc("INC-1", data_corruption=True), inc("INC-2", data_corruption=True),
                 inc("INC-3", data_corruption=True, security=True)])
    assert got[1:] == [
        ("data_corruption", "1000.00", "INC-1"), ("data_recovery", "0.00", "INC-1"),
        ("data_recovery", "0.00", "INC-2"), ("data_recovery", "0.00", "INC-3"),
        ("security", "1000.00", "INC-3"), ("security_hardening", "0.00", "INC-3")]


def test_outside_the_cap() -> None:
    """Availability 100 % (4 321 min down of 43 200: A < 90 %) → 10 000.00, the cap is
    not exceeded by it; data corruption adds 1 000.00 beyond the cap: 11 000.00."""
    c = assess_credits(FEE, [down(4321 * 60)], [inc(data_corruption=True)], policy(),
                       T0 + 86_400_000)
    assert [(x.kind, str(x.amount)) for x in c.lines] == [
        ("availability", "10000.00"), ("data_corruption", "1000.00"),
        ("data_recovery", "0.00")]
    assert c.total == Decimal("11000.00")


def test_rounding_of_the_fee_credit() -> None:
    """1 234.45 × 10 % = 123.445 → 123.45 (ROUND_HALF_UP, once)."""
    c = assess_credits(Decimal("1234.45"), [], [inc(security=True)], policy(), T0)
    assert str(c.lines[0].amount) == "123.45"


def test_a_status_needs_its_flag() -> None:
    with pytest.raises(ValueError, match="recovery_status is only for a data_corruption"):
        inc(recovery_status="done")
    with pytest.raises(ValueError, match="hardening_status must be one of"):
        inc(security=True, hardening_status="finished")


def test_policy_from_config_and_its_default() -> None:
    """Default 10 %; ``compensation.security.credit: 20%`` sets 20."""
    raw = json.loads(json.dumps(CONFIG))
    assert compensation_policy(parse_config(raw, env={})[0]).data_corruption_percent == 10
    raw["compensation"]["security"] = {"credit": "20%"}
    pol = compensation_policy(parse_config(raw, env={})[0])
    assert (pol.security_percent, pol.data_corruption_percent) == (20, 10)
    raw["compensation"]["data_corruption"] = {"credit": "150%"}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, env={})
    assert any(e.startswith("compensation.data_corruption.credit: percent out of range")
               for e in exc.value.errors)


BASE = {"id": "INC-9", "priority": "P1", "opened": "2026-10-20T10:02:00+08:00"}


def test_import_reads_the_flags_and_statuses() -> None:
    r = parse_incident({**BASE, "data_corruption": True, "recovery_status": "in_progress",
                        "security": True})
    assert (r.data_corruption, r.recovery_status, r.security, r.hardening_status) == (
        True, "in_progress", True, None)


@pytest.mark.parametrize(("extra", "message"), [
    ({"data_corruption": "yes"}, "data_corruption: expected true or false, got 'yes'"),
    ({"recovery_status": "done"}, "recovery_status: only for an incident with "
                                  "data_corruption: true"),
    ({"security": True, "hardening_status": "finished"},
     "hardening_status: expected one of pending, in_progress, done, got 'finished'"),
])
def test_import_refuses_bad_flags_naming_the_field(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_incident({**BASE, **extra})
    assert str(exc.value) == message


def test_an_older_table_gains_the_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    """A table as the previous slaguard wrote it (no flag columns): opening it adds them
    with their defaults; the old row reads back unflagged; a new import stores flags."""
    db = tmp_path / "slaguard.db"
    with closing(sqlite3.connect(db)) as con:
        con.execute("CREATE TABLE imported_incidents (id TEXT PRIMARY KEY, priority TEXT NOT "
                    "NULL, opened_ms INTEGER NOT NULL, responded_ms INTEGER, restored_ms "
                    "INTEGER, resolved_ms INTEGER, data_lost_seconds INTEGER NOT NULL DEFAULT "
                    "0, customer TEXT, services TEXT NOT NULL DEFAULT '[]', title TEXT NOT NULL "
                    "DEFAULT '', source TEXT NOT NULL, imported_ms INTEGER NOT NULL)")
        con.execute("INSERT INTO imported_incidents (id, priority, opened_ms, source, "
                    "imported_ms) VALUES ('OLD-1', 'P2', ?, 'old.jsonl', 0)", (T0,))
        con.commit()
    (old,) = read_incidents(db, 0, T0 + 1)
    assert (old.id, old.data_corruption, old.security, old.recovery_status) == (
        "OLD-1", False, False, None)
    f = tmp_path / "new.jsonl"
    f.write_text(json.dumps({**BASE, "security": True, "hardening_status": "done"}) + "\n")
    import_incidents(db, f)
    new = next(i for i in read_incidents(db, 0, 2**62) if i.id == "INC-9")
    assert (new.security, new.hardening_status) == (True, "done")
