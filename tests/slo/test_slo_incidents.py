"""Issue 15 item 4: respond, restore and resolve against the priority's standard, for
live and imported incidents; MTTA and MTTR per priority and month.

Standard (服务等级定义): P1 respond 15 min, restore 4 h, resolve 24 h; P2 30 min / 8 h /
48 h; P3 2 h / – / 24 h; P4 8 h / – / 72 h.  A clock is due at opening + standard and
met when done at or before it ("15分钟内": within).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from exporters.prometheus import incident_gauges
from exporters.report_table import render
from slo.compensation import IncidentRecord
from slo.evaluator import build_report
from slo.incidents import clock_result, evaluate_incidents
from slo.model import Policy, PriorityStandard
from slo.periods import parse_month

MIN = 60_000
H = 60 * MIN
OCT = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
T = OCT + 10 * 24 * H  # 2026-10-11T00:00:00+08:00
STANDARDS = (PriorityStandard("P1", 15 * MIN, 4 * H, 24 * H),
             PriorityStandard("P2", 30 * MIN, 8 * H, 48 * H),
             PriorityStandard("P3", 2 * H, None, 24 * H),
             PriorityStandard("P4", 8 * H, None, 72 * H))


def test_the_imported_p1_restored_after_6_h_and_resolved_after_72_h_is_late_twice() -> None:
    """The issue's case.  Opened T, responded T + 10 min, restored T + 6 h, resolved
    T + 72 h: respond 10 min ≤ 15 min met; restore due T + 4 h, late 2 h; resolve due
    T + 24 h, late 48 h."""
    inc = IncidentRecord("TKT-9", "P1", T, T + 10 * MIN, T + 6 * H, T + 72 * H)
    r = evaluate_incidents([(inc, "imported")], STANDARDS, OCT, OCT + 31 * 24 * H, T + 80 * H)
    (t,) = r.incidents
    assert [(c.clock, c.took_ms, c.late_ms, c.met) for c in t.clocks] == [
        ("respond", 10 * MIN, 0, True), ("restore", 6 * H, 2 * H, False),
        ("resolve", 72 * H, 48 * H, False)]
    assert t.late == ("restore", "resolve") and t.source == "imported"


@pytest.mark.parametrize(("clock", "standard"), [
    ("respond", 15 * MIN), ("restore", 4 * H), ("resolve", 24 * H)])
@pytest.mark.parametrize(("delta", "met", "late"), [(-1, True, 0), (0, True, 0), (1, False, 1)])
def test_each_clock_at_its_due_instant_and_one_ms_either_side(
        clock: str, standard: int, delta: int, met: bool, late: int) -> None:
    """Done at due − 1 ms, due, due + 1 ms: met, met ("within"), late by 1 ms."""
    done = T + standard + delta
    field = {"respond": "responded_ms", "restore": "restored_ms", "resolve": "resolved_ms"}
    inc = IncidentRecord("I", "P1", T, **{field[clock]: done})  # type: ignore[arg-type]
    c = clock_result(inc, clock, standard, T + 100 * H)
    assert (c.due_ms, c.met, c.late_ms) == (T + standard, met, late)


def test_a_clock_not_done_is_pending_until_due_then_late() -> None:
    """Unanswered P1 at now = T + 15 min: pending (None, late 0); at T + 15 min + 1 ms:
    late by 1 ms.  Resolved at T + 1 h without a response: measured to resolution
    (late 45 min), as the alerting record measures it."""
    inc = IncidentRecord("I", "P1", T)
    assert clock_result(inc, "respond", 15 * MIN, T + 15 * MIN).met is None
    c = clock_result(inc, "respond", 15 * MIN, T + 15 * MIN + 1)
    assert (c.met, c.late_ms) == (False, 1)
    gone = IncidentRecord("I", "P1", T, resolved_ms=T + H)
    assert clock_result(gone, "respond", 15 * MIN, T + 9 * H).late_ms == 45 * MIN


def test_mtta_and_mttr_per_priority_and_month() -> None:
    """P1s in October: A responded 10 min / restored 6 h; B responded 20 min / restored
    1 h; C unanswered.  MTTA = (10 + 20) / 2 = 15 min = 900 000 ms; MTTR = (6 h + 1 h) / 2
    = 3.5 h = 12 600 000 ms.  Late: respond 2 (B: 20 min > 15 min; C unanswered at now =
    T + 30 h), restore 2 (A: 6 h > 4 h; C: due T + 6 h, not restored), resolve 1 (C: due
    T + 26 h).  A P2 in September is not in
    October's figures."""
    a = IncidentRecord("A", "P1", T, T + 10 * MIN, T + 6 * H, T + 7 * H)
    b = IncidentRecord("B", "P1", T + H, T + H + 20 * MIN, T + 2 * H, T + 3 * H)
    c = IncidentRecord("C", "P1", T + 2 * H)
    sept = IncidentRecord("S", "P2", OCT - H, OCT - H + MIN)
    r = evaluate_incidents([(a, "live"), (b, "imported"), (c, "live"), (sept, "live")],
                           STANDARDS, OCT, OCT + 31 * 24 * H, T + 30 * H)
    p1 = r.by_priority[0]
    assert (p1.priority, p1.incidents, p1.answered, p1.restored) == ("P1", 3, 2, 2)
    assert p1.mtta_ms == Fraction(15 * MIN) and p1.mttr_ms == Fraction(7 * H, 2)
    assert dict(p1.late) == {"respond": 2, "restore": 2, "resolve": 1}
    assert [f.incidents for f in r.by_priority] == [3, 0, 0, 0]  # P2–P4 listed, none


def test_the_report_json_table_and_gauges() -> None:
    """The issue's P1 in a report of October 2026: JSON, table line, and the SLO gauges
    (MTTA 600 s, MTTR 21 600 s, late on restore and resolve)."""
    inc = IncidentRecord("TKT-9", "P1", T, T + 10 * MIN, T + 6 * H, T + 72 * H)
    pol = Policy("Asia/Shanghai", (), (), incident_standards=STANDARDS)
    period = parse_month("2026-10", "Asia/Shanghai")
    rep = build_report(pol, period, period.end_ms, [], incidents=[(inc, "imported")])
    doc = rep.to_dict()["incidents"]
    (row,) = doc["list"]
    assert row["restore"] == {"standard_ms": 4 * H, "due": "2026-10-11T04:00:00+08:00",
                              "done": "2026-10-11T06:00:00+08:00", "took_ms": 6 * H,
                              "late_ms": 2 * H, "met": False}
    assert doc["by_priority"][0] == {"priority": "P1", "incidents": 1, "answered": 1,
                                     "restored": 1, "resolved": 1, "mtta_ms": "600000",
                                     "mttr_ms": "21600000",
                                     "late": {"respond": 0, "restore": 1, "resolve": 1}}
    table = render(rep.to_dict())
    assert ("  P1 TKT-9 (imported) opened 2026-10-11T00:00:00+08:00: respond 10m00s / 15m00s "
            "met; restore 6h00m00s / 4h00m00s LATE by 2h00m00s; resolve 72h00m00s / "
            "24h00m00s LATE by 48h00m00s") in table
    assert "  P1: 1 incidents, MTTA 10m00s, MTTR 6h00m00s; late: respond 0, restore 1, " \
           "resolve 1" in table
    gauges = {m.name: {tuple(s.labels.values()): s.value for s in m.samples}
              for m in incident_gauges(rep)}
    assert gauges["slaguard_slo_incident_mtta_seconds"][("P1",)] == 600.0
    assert gauges["slaguard_slo_incident_mttr_seconds"][("P1",)] == 21600.0
    assert gauges["slaguard_slo_incidents_late"][("P1", "restore")] == 1.0
    assert gauges["slaguard_slo_incidents_late"][("P1", "respond")] == 0.0
