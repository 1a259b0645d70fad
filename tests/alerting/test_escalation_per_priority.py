"""Issue 15 item 3: escalation chains per priority, as the standard writes them.

The standard (服务等级定义): P1 升级机制 "30分钟无响应自动升级至高级工程师"; P2 1 小时,
P3 4 小时, P4 24 小时无响应自动升级.  The shared chain of old (level n after
n × escalate_after: oncall at 30 min, the senior engineer only at 60 min) stays for
configurations without per-priority chains.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from alerting.clock import FakeClock
from alerting.escalation import EscalationPolicy, level_channels, scheduled_ms
from alerting.notification import Priority, Status
from alerting.notifiers import RecordingNotifier
from alerting.service import AlertingService
from alerting.store import EscalationSnapshot
from slaguard.config import ConfigError, parse_config
from tests.alerting.test_incidents import channel_of
from tests.alerting.test_rules import HOUR, MIN, T0, raw_config

# The standard for P1–P4, as examples/slaguard.yaml writes it.
STANDARD = {
    "P1": [{"after": "30m", "notify": ["senior-engineer"]},
           {"after": "1h", "notify": ["ops-director"]}],
    "P2": [{"after": "1h", "notify": ["senior-engineer"]}],
    "P3": [{"after": "4h", "notify": ["senior-engineer"]}],
    "P4": [{"after": "24h", "notify": ["senior-engineer"]}],
}


def standard_raw(db: Path | str = "data/test.db") -> dict[str, Any]:
    raw = raw_config(db)
    for prio, steps in STANDARD.items():
        p = raw["incidents"]["priorities"][prio]
        p.pop("escalate_after")
        p["escalation"] = steps
    return raw


def service(tmp_path: Path, clock: FakeClock) -> tuple[AlertingService, RecordingNotifier]:
    rec = RecordingNotifier()
    cfg = parse_config(standard_raw(tmp_path / "slaguard.db"), env={})[0]
    svc = AlertingService.from_config(cfg, clock=clock, notifiers={"webhook": rec},
                                      rng=random.Random(7))
    return svc, rec


def told(rec: RecordingNotifier) -> list[str]:
    return [channel_of(k) for k in rec.keys]


def test_each_priority_has_its_own_plan() -> None:
    """P1: senior engineer at 30 min (1 800 000 ms), ops director at 60 min; P2–P4 the
    senior engineer at 1 h / 4 h / 24 h after opening."""
    pol = EscalationPolicy.from_config(parse_config(standard_raw(), env={})[0].incidents)
    p1 = pol.snapshot(Priority.P1)
    assert [level_channels(p1, n) for n in range(4)] == [
        ("phone", "sms", "email"), ("senior-engineer",), ("ops-director",), ()]
    assert [scheduled_ms(p1, n, 0) for n in (1, 2, 3)] == [30 * MIN, HOUR, None]
    for prio, after in ((Priority.P2, HOUR), (Priority.P3, 4 * HOUR),
                        (Priority.P4, 24 * HOUR)):
        snap = pol.snapshot(prio)
        assert scheduled_ms(snap, 1, 0) == after
        assert level_channels(snap, 1) == ("senior-engineer",)


@pytest.mark.parametrize(("prio", "after_ms"), [
    (Priority.P1, 30 * MIN), (Priority.P2, HOUR), (Priority.P3, 4 * HOUR),
    (Priority.P4, 24 * HOUR)])
async def test_unanswered_reaches_the_senior_engineer_exactly_on_time(
        tmp_path: Path, prio: Priority, after_ms: int) -> None:
    """Opened at T0, never acknowledged: at T0 + after − 1 ms nobody new is told; at
    T0 + after the senior engineer is (level 1, not late); at + 1 ms nothing repeats."""
    clock = FakeClock(T0)
    svc, rec = service(tmp_path, clock)
    svc.incidents.create("core", "core down", prio, "hotline")
    await svc.tick()
    first = len(rec.sent)
    clock.set(T0 + after_ms - 1)
    assert (await svc.tick()).escalations == [] and len(rec.sent) == first
    clock.set(T0 + after_ms)
    result = await svc.tick()
    assert [(s.level, s.channels, s.late_ms) for s in result.escalations] == [
        (1, ("senior-engineer",), 0)]
    assert told(rec)[first:] == ["senior-engineer"]
    page = rec.sent[-1]
    assert (page.status, page.escalation_level, page.escalation_step) == (
        Status.ESCALATED, 1, "senior-engineer")
    clock.set(T0 + after_ms + 1)
    assert (await svc.tick()).escalations == []


async def test_p1_acknowledged_one_ms_before_30_min_never_escalates(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    svc, rec = service(tmp_path, clock)
    inc = svc.incidents.create("core", "core down", Priority.P1, "hotline")
    await svc.tick()
    clock.set(T0 + 30 * MIN - 1)
    svc.incidents.acknowledge(inc.id, "bob")
    for minutes in (30, 60, 600):
        clock.set(T0 + minutes * MIN)
        assert (await svc.tick()).escalations == []
    assert "senior-engineer" not in told(rec)


async def test_a_late_ticker_runs_each_step_once_on_its_own_schedule(tmp_path: Path) -> None:
    """The ticker first runs at T0 + 2 h: both P1 steps are overdue; each runs once,
    level 1 due at 30 min (90 min late), level 2 at 60 min (60 min late)."""
    clock = FakeClock(T0)
    svc, _rec = service(tmp_path, clock)
    svc.incidents.create("core", "core down", Priority.P1, "hotline")
    clock.set(T0 + 2 * HOUR)
    result = await svc.tick()
    assert [(s.level, s.channels, s.due_ms - T0, s.late_ms) for s in result.escalations] == [
        (1, ("senior-engineer",), 30 * MIN, 90 * MIN),
        (2, ("ops-director",), HOUR, HOUR)]


def test_the_shared_chain_still_works_for_old_configurations() -> None:
    """raw_config() has no per-priority chain: P1 level 1 (oncall) at 30 min, level 2
    (senior engineer) at 60 min, as before."""
    pol = EscalationPolicy.from_config(parse_config(raw_config(), env={})[0].incidents)
    snap = pol.snapshot(Priority.P1)
    assert snap.steps == ()
    assert [(scheduled_ms(snap, n, 0), level_channels(snap, n)) for n in (1, 2)] == [
        (30 * MIN, ("oncall",)), (HOUR, ("senior-engineer",))]


def test_snapshots_keep_their_steps_and_old_rows_still_read() -> None:
    snap = EscalationSnapshot(("phone",), (), None, ((30 * MIN, ("senior-engineer",)),))
    assert EscalationSnapshot.from_json(snap.to_json()) == snap
    old = EscalationSnapshot.from_json(
        '{"notify": ["phone"], "chain": ["oncall", "senior-engineer"], '
        '"escalate_after_ms": 1800000}')
    assert old.plan == ((30 * MIN, ("oncall",)), (HOUR, ("senior-engineer",)))


@pytest.mark.parametrize(("steps", "extra", "error"), [
    ([{"after": "30m", "notify": ["pager"]}], {},
     "incidents.priorities.P1.escalation[0].notify[0]: unknown channel 'pager'"),
    ([{"after": "1h", "notify": ["oncall"]}, {"after": "30m", "notify": ["ops-director"]}], {},
     "incidents.priorities.P1.escalation[1].after: must be later than the step before it (1h)"),
    ([{"after": "0s", "notify": ["oncall"]}], {},
     "incidents.priorities.P1.escalation[0].after: must be longer than 0s"),
    ([{"after": "45m", "notify": ["senior-engineer"]}], {"escalate_after": "30m"},
     "incidents.priorities.P1.escalate_after: 30m disagrees with escalation[0].after (45m); "
     "drop one or make them equal"),
])
def test_bad_chains_are_refused_naming_the_field(steps: list[dict[str, Any]],
                                                 extra: dict[str, Any], error: str) -> None:
    raw = raw_config()
    p1 = raw["incidents"]["priorities"]["P1"]
    p1.pop("escalate_after")
    p1.update(extra, escalation=steps)
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, env={})
    assert error in exc.value.errors


def test_live_incidents_are_flagged_by_their_labels(tmp_path: Path) -> None:
    """Issue 15 item 7 for live incidents: a hand-made ticket with labels
    data_corruption=true, recovery_status=in_progress (and security=true with a
    misspelt status, which is dropped, not the flag) reaches compensation flagged."""
    from alerting.incidents import compensation_records

    clock = FakeClock(T0)
    svc, _ = service(tmp_path, clock)
    made = svc.incidents.create("core", "rows garbled", Priority.P2, "hotline", labels={
        "data_corruption": "true", "recovery_status": "in_progress", "security": "true",
        "hardening_status": "finished"})
    (rec,) = compensation_records([made])
    assert (rec.data_corruption, rec.recovery_status, rec.security, rec.hardening_status) == (
        True, "in_progress", True, None)
