"""Escalation on a fake clock: levels on time, stopped by acknowledgement, kept across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.clock import FakeClock
from alerting.escalation import EscalationPolicy, level_channels
from alerting.notification import Priority, Status
from alerting.notifiers import RecordingNotifier
from alerting.service import AlertingService
from tests.alerting.test_incidents import channel_of, clear, fire, make_service, opening
from tests.alerting.test_rules import HOUR, MIN, T0, make_config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def pair(tmp_path: Path, clock: FakeClock) -> tuple[AlertingService, RecordingNotifier]:
    return make_service(tmp_path, clock)


def told(rec: RecordingNotifier) -> list[str]:
    return [channel_of(k) for k in rec.keys]


def test_the_policy_comes_from_config() -> None:
    policy = EscalationPolicy.from_config(make_config().incidents)
    snap = policy.snapshot(Priority.P1)
    assert snap.notify == ("phone", "sms", "email") and snap.escalate_after_ms == 30 * MIN
    assert [level_channels(snap, n) for n in range(5)] == [
        ("phone", "sms", "email"), ("oncall",), ("senior-engineer",), ("ops-director",), ()]


async def test_p1_not_acknowledged_reaches_the_second_level_at_30_min_not_before(
        pair: tuple[AlertingService, RecordingNotifier], clock: FakeClock) -> None:
    svc, rec = pair
    inc = svc.incidents.create("core", "core down", Priority.P1, "hotline")
    await svc.tick()
    assert sorted(told(rec)) == ["email", "phone", "sms"]
    clock.set(T0 + 30 * MIN - 1)
    result = await svc.tick()
    assert result.escalations == [] and len(rec.sent) == 3
    clock.set(T0 + 30 * MIN)
    result = await svc.tick()
    assert [(s.level, s.channels, s.late_ms) for s in result.escalations] == [
        (1, ("oncall",), 0)]
    assert told(rec)[3:] == ["oncall"]
    page = rec.sent[-1]
    assert (page.status, page.escalation_level, page.escalation_step) == (
        Status.ESCALATED, 1, "oncall")
    # And on up the chain, one level per 30 minutes, then nothing more.
    for minutes in (60, 90, 120, 150, 300):
        clock.set(T0 + minutes * MIN)
        await svc.tick()
    assert told(rec)[3:] == ["oncall", "senior-engineer", "ops-director"]
    done, _ = svc.incidents.get(inc.id)
    assert done.escalation_level == 3 and done.next_escalation_ms is None


async def test_acknowledged_at_29_min_never_escalates(
        pair: tuple[AlertingService, RecordingNotifier], clock: FakeClock) -> None:
    svc, rec = pair
    inc = svc.incidents.create("core", "core down", Priority.P1, "hotline")
    await svc.tick()
    clock.set(T0 + 29 * MIN)
    svc.incidents.acknowledge(inc.id, "bob")
    for minutes in (30, 31, 60, 600):
        clock.set(T0 + minutes * MIN)
        result = await svc.tick()
        assert result.escalations == []
    assert sorted(told(rec)) == ["email", "phone", "sms"]


async def test_restoration_stops_escalation(pair: tuple[AlertingService, RecordingNotifier],
                                            clock: FakeClock) -> None:
    svc, rec = pair
    fire(svc, "rule:outage")
    clock.set(T0 + 10 * MIN)
    clear(svc, "rule:outage")
    clock.set(T0 + 2 * HOUR)
    assert (await svc.tick()).escalations == []
    assert "oncall" not in told(rec)


async def test_a_breach_after_restoration_resumes_escalation(
        pair: tuple[AlertingService, RecordingNotifier], clock: FakeClock) -> None:
    svc, rec = pair
    fire(svc, "rule:outage")
    clock.set(T0 + 10 * MIN)
    clear(svc, "rule:outage")
    clock.set(T0 + 40 * MIN)
    fire(svc, "rule:outage")  # re-opened, still unacknowledged: paging resumes
    clock.set(T0 + 70 * MIN - 1)
    assert (await svc.tick()).escalations == []
    clock.set(T0 + 70 * MIN)
    assert [s.level for s in (await svc.tick()).escalations] == [1]
    assert told(rec).count("oncall") == 1


async def test_timers_survive_a_restart_and_overdue_steps_run_once(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    first, first_rec = make_service(tmp_path, clock)
    inc = first.incidents.create("core", "core down", Priority.P1, "hotline")
    await first.tick()
    assert len(first_rec.sent) == 3
    first.close()  # the process stops; 65 minutes pass
    clock.set(T0 + 65 * MIN)
    second, rec = make_service(tmp_path, clock)
    await second.start()  # catches up: levels 1 (due at 30 min) and 2 (at 60 min), once each
    await second.stop()
    assert told(rec) == ["oncall", "senior-engineer"]
    _, log = second.incidents.get(inc.id)
    late = [(e.detail["level"], e.detail["late_ms"]) for e in log if e.kind == "escalated"]
    assert late == [(1, 35 * MIN), (2, 5 * MIN)]
    await second.tick()
    assert len(rec.sent) == 2  # nothing runs twice
    clock.set(T0 + 90 * MIN)
    await second.tick()
    assert told(rec)[-1] == "ops-director"
    second.close()


async def test_priority_change_recomputes_clocks_and_pages_the_new_first_level(
        pair: tuple[AlertingService, RecordingNotifier], clock: FakeClock) -> None:
    svc, rec = pair
    inc = svc.incidents.create("core", "slow uploads", Priority.P3, "hotline")
    await svc.tick()
    assert sorted(told(rec)) == ["email", "ticket"]
    clock.set(T0 + 10 * MIN)
    up = svc.incidents.change_priority(inc.id, Priority.P1, "alice", "customers cannot upload")
    assert up.respond_due_ms == T0 + 15 * MIN and up.next_escalation_ms == T0 + 30 * MIN
    await svc.tick()
    assert sorted(told(rec)[2:]) == ["email", "phone", "sms"]
    clock.set(T0 + 30 * MIN)
    await svc.tick()
    assert told(rec)[-1] == "oncall"


async def test_an_acknowledged_incident_with_a_stale_deadline_pages_nobody(
        pair: tuple[AlertingService, RecordingNotifier], clock: FakeClock) -> None:
    svc, rec = pair
    inc = fire(svc, "rule:x", opening(priority=Priority.P1))
    assert inc is not None
    with svc.store.transaction() as tx:  # as if an old process had left the deadline behind
        tx.update_incident(inc.id, T0, responded_ms=T0 + MIN, responded_by="bob")
    clock.set(T0 + HOUR)
    assert (await svc.tick()).escalations == []
    assert "oncall" not in told(rec)
    assert svc.incidents.get(inc.id)[0].next_escalation_ms is None
