"""Issue 15 item 5: data loss from the backup record.

A failure that begins at t loses the data since the newest recoverable backup point
p ≤ t (docs/design.md "RPO"): L = t − p, in whole seconds rounded up.  An incident
of a priority in ``compensation.data_loss.from_backups`` (default P1), or flagged
data corruption, whose ticket states no loss, is credited on L with the point as
evidence.  Tiers (standard 数据丢失补偿): L < 1 h → 50 %; 1 h ≤ L ≤ 24 h → 100 %;
L > 24 h → 300 % + review.  Fee 10 000.00.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from alerting.clock import FakeClock
from alerting.incidents import compensation_records
from alerting.notification import Priority
from slaguard.config import ConfigError, parse_config
from slaguard.policy import compensation_policy
from slo.compensation import IncidentRecord, assess_credits
from slo.recovery import FreshnessSample, RecoveryPoint, data_loss_at, recovery_points
from tests.alerting.test_incidents import make_service

from .kit import FEE, T0, down, policy
from .scenario import CONFIG

H = 3_600_000
TZ = "Asia/Shanghai"
START = T0 + 10 * H  # 2026-09-01T10:00:00+08:00


def backups(*points_ms: int) -> tuple[RecoveryPoint, ...]:
    return tuple(RecoveryPoint(p, "backup-incr", p + 300_000, "shanghai") for p in points_ms)


def credit_lines(inc: IncidentRecord, points: tuple[RecoveryPoint, ...], **pol: object
                 ) -> list[tuple[str, str]]:
    c = assess_credits(FEE, [down(0)], [inc], policy(**pol), START + 48 * H, points, TZ)
    return [(x.kind, str(x.amount)) for x in c.lines
            if x.kind not in ("availability", "response")]


def test_a_p1_two_hours_after_the_newest_backup_loses_two_hours() -> None:
    """The issue's case: P1 opened 10:00, newest point 08:00 (the 06:00 one is older,
    the 11:00 one is after the start and cannot restore it): L = 7 200 s, in
    [1 h, 24 h] → 100 % = 10 000.00, the evidence in the rule."""
    inc = IncidentRecord("INC-1", "P1", START)
    points = backups(START - 4 * H, START - 2 * H, START + H)
    c = assess_credits(FEE, [down(0)], [inc], policy(), START + 48 * H, points, TZ)
    (line,) = [x for x in c.lines if x.kind == "data_loss"]
    assert (str(line.amount), line.incident) == ("10000.00", "INC-1")
    assert line.rule == (
        "INC-1: 2 h of data lost (began 2026-09-01T10:00:00+08:00; newest recoverable backup "
        "2026-09-01T08:00:00+08:00 by backup-incr, 2 h old) (≤ 1 d) → 100 %, outside the cap")
    assert "最近可恢复备份 2026-09-01T08:00:00+08:00（backup-incr），距事件 2小时" in line.rule_zh
    (ic,) = c.incidents
    assert (ic.data_loss_seconds, ic.data_loss_source, ic.backup) == (7200, "backups", points[1])


@pytest.mark.parametrize(("age_ms", "kind_amount", "review"), [
    (H - 1000, ("data_loss", "5000.00"), False),       # 3 599 s < 1 h → 50 %
    (H - 999, ("data_loss", "10000.00"), False),       # 3 599.001 s rounds up to 3 600 s
    (H, ("data_loss", "10000.00"), False),             # exactly 1 h → 100 %
    (H + 1000, ("data_loss", "10000.00"), False),      # 3 601 s → 100 %
    (24 * H, ("data_loss", "10000.00"), False),        # exactly 24 h → 100 %
    (24 * H + 1000, ("data_loss", "30000.00"), True),  # 24 h 1 s → 300 % + review
])
def test_tier_boundaries_from_the_backup_record(age_ms: int, kind_amount: tuple[str, str],
                                                review: bool) -> None:
    inc = IncidentRecord("INC-1", "P1", START)
    c = assess_credits(FEE, [down(0)], [inc], policy(), START + 48 * H,
                       backups(START - age_ms), TZ)
    (line,) = [x for x in c.lines if x.kind == "data_loss"]
    assert ((line.kind, str(line.amount)), line.review) == (kind_amount, review)


def test_a_point_taken_exactly_at_the_start_loses_nothing() -> None:
    assert credit_lines(IncidentRecord("INC-1", "P1", START), backups(START)) == []


def test_the_tickets_word_wins() -> None:
    """A ticket stating 0 s (data replicated, nothing lost) or 30 min is believed over
    the 2 h the backup record would give: no line / 50 % = 5 000.00."""
    points = backups(START - 2 * H)
    assert credit_lines(IncidentRecord("INC-1", "P1", START, data_loss_stated=True),
                        points) == []
    assert credit_lines(IncidentRecord("INC-1", "P1", START, data_lost_seconds=1800),
                        points) == [("data_loss", "5000.00")]


def test_only_the_configured_priorities_and_corruption() -> None:
    """P2 is not in the default scope [P1]; with [P1, P2] it is; a P3 flagged
    data_corruption always is (2 h → 100 %, plus the corruption lines)."""
    points = backups(START - 2 * H)
    p2 = IncidentRecord("INC-2", "P2", START)
    assert credit_lines(p2, points) == []
    assert credit_lines(p2, points, data_loss_from_backups=("P1", "P2")) == [
        ("data_loss", "10000.00")]
    p3 = IncidentRecord("INC-3", "P3", START, data_corruption=True)
    assert credit_lines(p3, points) == [
        ("data_loss", "10000.00"), ("data_corruption", "1000.00"), ("data_recovery", "0.00")]


def test_without_a_point_before_it_a_person_reviews() -> None:
    """Backups are known, but only one taken after the start: not assessed, reviewed.
    Without any backup record at all nothing is said (no RPO objective)."""
    inc = IncidentRecord("INC-1", "P1", START)
    c = assess_credits(FEE, [down(0)], [inc], policy(), START + H, backups(START + 1), TZ)
    assert c.reviews == ("INC-1: no backup point is known before it began: data loss not "
                         "assessed from the backup record",)
    assert assess_credits(FEE, [down(0)], [inc], policy(), START + H, (), TZ).reviews == ()


def test_recovery_points_are_distinct_with_their_first_sighting() -> None:
    """Three probes report the 08:00 point (first at 08:05 from beijing), one the
    09:00 point: two points; at 08:59:59.999 the newest is 08:00 (3 599.999 s → 3 600 s
    rounded up), at 09:00 it is 09:00 (0 s)."""
    samples = [FreshnessSample(START - 2 * H + 600_000, START - 2 * H, "bk", "shanghai"),
               FreshnessSample(START - 2 * H + 300_000, START - 2 * H, "bk", "beijing"),
               FreshnessSample(START - H + 60_000, START - 2 * H, "bk", "shanghai"),
               FreshnessSample(START - H + 60_000, START - H, "bk", "shanghai")]
    pts = recovery_points(samples)
    assert pts == (RecoveryPoint(START - 2 * H, "bk", START - 2 * H + 300_000, "beijing"),
                   RecoveryPoint(START - H, "bk", START - H + 60_000, "shanghai"))
    assert data_loss_at(START - H - 1, pts).seconds == 3600
    assert data_loss_at(START - H, pts).seconds == 0


def test_config_scope_default_and_setting() -> None:
    raw = json.loads(json.dumps(CONFIG))
    assert compensation_policy(parse_config(raw, env={})[0]).data_loss_from_backups == ("P1",)
    raw["compensation"]["data_loss"]["from_backups"] = []
    assert compensation_policy(parse_config(raw, env={})[0]).data_loss_from_backups == ()
    raw["compensation"]["data_loss"]["from_backups"] = ["P5"]
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, env={})
    assert any(e.startswith("compensation.data_loss.from_backups[0]:") for e in exc.value.errors)


def test_warnings_from_the_rules_state_no_data_loss(tmp_path: Path) -> None:
    """A live P1 raised because the backup is stale (rule rpo) is a risk, not a failure:
    it reaches compensation stating 0 s lost; a confirmed outage states nothing."""
    svc, _ = make_service(tmp_path, FakeClock(START))
    made = svc.incidents.create("core", "down", Priority.P1, "hotline")
    recs = compensation_records([replace(made, rule="rpo"),
                                 replace(made, rule="confirmed_outage")])
    assert [r.states_data_loss for r in recs] == [True, False]
