"""Incidents over a real SQLite store: dedup, lifecycle, clocks, MTTA/MTTR."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import slo
from alerting import rules
from alerting.clock import FakeClock
from alerting.incidents import (
    IncidentClosed,
    Opening,
    SourceChange,
    compensation_records,
    lateness,
    response_stats,
)
from alerting.notification import Priority, Status
from alerting.notifiers import RecordingNotifier
from alerting.service import AlertingService
from alerting.store import AlertingStore, IncidentRecord
from slaguard.store import SQLiteStore
from tests.alerting.test_rules import HOUR, MIN, NOW, SEC, T0, make_config, outage_report

TZ = "Asia/Shanghai"


def make_service(tmp_path: Path, clock: FakeClock, notifier: RecordingNotifier | None = None,
                 **kwargs: Any) -> tuple[AlertingService, RecordingNotifier]:
    """A service on ``tmp_path/slaguard.db`` whose webhook channels record instead of POST."""
    rec = notifier if notifier is not None else RecordingNotifier()
    svc = AlertingService.from_config(make_config(tmp_path / "slaguard.db"), clock=clock,
                                      notifiers={"webhook": rec}, rng=random.Random(7),
                                      **kwargs)
    return svc, rec


def channel_of(key: str) -> str:
    return key.rsplit("/", 1)[1]


def opening(key: str = "core/availability", priority: Priority = Priority.P1,
            title: str = "core down") -> Opening:
    service, rule = key.split("/")
    return Opening(key, service, rule, priority, title)


def fire(svc: AlertingService, source: str, o: Opening | None = None) -> IncidentRecord | None:
    return svc.apply([SourceChange(source, True, o or opening())])[0]


def clear(svc: AlertingService, source: str) -> IncidentRecord | None:
    return svc.apply([SourceChange(source, False, opening())])[0]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def svc(tmp_path: Path, clock: FakeClock) -> AlertingService:
    return make_service(tmp_path, clock)[0]


# -- dedup -------------------------------------------------------------------------------------


async def test_one_outage_seen_by_several_rules_and_two_locations_pages_once(
        tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    svc, rec = make_service(tmp_path, clock)
    report, snap = outage_report(make_config(), NOW)
    outcome = svc.evaluate(report, snap)
    firing = {e.alert.rule for e in outcome.events}
    assert {"confirmed_outage", "burn_rate"} <= firing and len(outcome.events) == 5
    [inc] = svc.incidents.find()
    assert (inc.dedup_key, inc.priority) == ("core/availability", Priority.P1)
    assert inc.labels["locations"] == "beijing,shanghai"
    await svc.tick()
    assert sorted(channel_of(k) for k in rec.keys) == ["email", "phone", "sms"]
    assert len(set(rec.keys)) == 3
    # Still down a minute later: nothing new is opened or sent.
    clock.advance(MIN)
    report, snap = outage_report(make_config(), NOW + MIN, minutes=21)
    assert svc.evaluate(report, snap).events == ()
    await svc.tick()
    assert len(svc.incidents.find()) == 1 and len(rec.sent) == 3


def test_repeats_join_the_open_incident_and_a_resolved_key_opens_a_new_one(
        svc: AlertingService, clock: FakeClock) -> None:
    a = fire(svc, "am:1")
    b = fire(svc, "am:2")
    assert a is not None and b is not None and a.id == b.id
    svc.incidents.resolve(a.id, "alice")
    assert clear(svc, "am:1") is None  # a late clear for a closed key is dropped
    clock.advance(MIN)
    c = fire(svc, "am:1")
    assert c is not None and c.id != a.id


def test_the_database_refuses_a_second_open_incident_per_key(svc: AlertingService) -> None:
    fire(svc, "am:1")
    with pytest.raises(sqlite3.IntegrityError), svc.store.transaction() as tx:
        tx.db.execute("INSERT INTO alerting_incidents (dedup_key, service, rule, priority, "
                      "title, source, opened_ms, escalation, updated_ms) VALUES "
                      "('core/availability', 'core', 'availability', 'P1', 't', 'rules', 0, "
                      "'{}', 0)")


def test_hand_made_incidents_are_never_deduplicated(svc: AlertingService) -> None:
    a = svc.incidents.create("core", "customer cannot log in", Priority.P2, "hotline")
    b = svc.incidents.create("core", "customer cannot log in", Priority.P2, "hotline")
    assert a.id != b.id and a.source == "manual" and a.rule == "manual"


def test_a_more_urgent_alert_upgrades_the_incident(svc: AlertingService) -> None:
    inc = fire(svc, "rule:slow", opening(priority=Priority.P4, title="slow burn"))
    assert inc is not None and inc.priority is Priority.P4
    up = fire(svc, "rule:outage", opening(priority=Priority.P1, title="outage"))
    assert up is not None and up.id == inc.id and up.priority is Priority.P1
    assert up.title == "outage"
    _, log = svc.incidents.get(inc.id)
    change = next(e for e in log if e.kind == "priority_changed")
    assert (change.detail["from"], change.detail["to"], change.actor) == ("P4", "P1", "rules")
    with svc.store.reading() as tx:
        steps = {r.step for r in tx.outbox_rows(inc.id)}
    assert steps == {"open-P4", "open-P1"}


# -- lifecycle -------------------------------------------------------------------------------


def test_lifecycle_with_reopen_and_automatic_resolution(svc: AlertingService,
                                                        clock: FakeClock) -> None:
    inc = fire(svc, "rule:a")
    assert inc is not None and inc.state == "opened"
    clock.advance(5 * MIN)
    acked = svc.incidents.acknowledge(inc.id, "bob")
    assert acked.state == "acknowledged" and acked.responded_ms == T0 + 5 * MIN
    clock.advance(MIN)
    assert svc.incidents.acknowledge(inc.id, "carol").responded_by == "bob"  # first one kept
    clock.advance(10 * MIN)
    restored = clear(svc, "rule:a")
    assert restored is not None and restored.state == "restored"
    assert restored.restored_ms == T0 + 16 * MIN and restored.restored_by == "rules"
    # A breach before resolution re-opens the same incident; the response stays.
    clock.advance(2 * MIN)
    again = fire(svc, "rule:a")
    assert again is not None and again.id == inc.id and again.reopen_count == 1
    assert again.restored_ms is None and again.responded_ms == T0 + 5 * MIN
    clock.advance(MIN)
    back = clear(svc, "rule:a")
    assert back is not None and back.restored_ms == T0 + 19 * MIN
    # One quiet hour later it resolves by itself.
    clock.advance(HOUR - 1)
    assert svc.incidents.resolve_due() == []
    clock.advance(1)
    assert svc.incidents.resolve_due() == [inc.id]
    done, log = svc.incidents.get(inc.id)
    assert done.state == "resolved" and done.resolved_by == "auto"
    assert [e.kind for e in log] == ["opened", "acknowledged", "restored", "joined",
                                     "reopened", "restored", "resolved"]


def test_restoration_waits_for_every_source(svc: AlertingService) -> None:
    fire(svc, "am:1")
    fire(svc, "am:2")
    one = clear(svc, "am:1")
    assert one is not None and one.restored_ms is None
    both = clear(svc, "am:2")
    assert both is not None and both.restored_ms is not None


def test_a_person_resolving_has_responded_and_restored(svc: AlertingService,
                                                       clock: FakeClock) -> None:
    inc = svc.incidents.create("core", "hotline: upload fails", Priority.P3, "hotline")
    clock.advance(40 * MIN)
    done = svc.incidents.resolve(inc.id, "dave")
    assert done.responded_ms == done.restored_ms == done.resolved_ms == T0 + 40 * MIN
    with pytest.raises(IncidentClosed):
        svc.incidents.acknowledge(inc.id, "late")


def test_resolution_tells_the_channels_that_were_told(svc: AlertingService) -> None:
    inc = svc.incidents.create("core", "down", Priority.P2, "hotline")
    svc.incidents.resolve(inc.id, "erin")
    with svc.store.reading() as tx:
        rows = tx.outbox_rows(inc.id)
    resolved = [r for r in rows if r.step == "resolved"]
    assert sorted(r.channel for r in resolved) == ["email", "phone"]
    assert all(r.payload["status"] == Status.RESOLVED.value for r in resolved)


def test_clocks_come_from_the_priority(svc: AlertingService) -> None:
    inc = svc.incidents.create("core", "down", Priority.P1, "hotline")
    assert (inc.respond_due_ms, inc.restore_due_ms, inc.resolve_due_ms) == (
        T0 + 15 * MIN, T0 + 4 * HOUR, T0 + 24 * HOUR)
    p3 = svc.incidents.create("core", "slow", Priority.P3, "hotline")
    assert (p3.respond_due_ms, p3.restore_due_ms) == (T0 + 2 * HOUR, None)


def test_lateness_is_to_the_second_rounded_up(svc: AlertingService, clock: FakeClock) -> None:
    on_time = svc.incidents.create("core", "a", Priority.P1, "hotline")
    late = svc.incidents.create("core", "b", Priority.P1, "hotline")
    barely = svc.incidents.create("core", "c", Priority.P1, "hotline")
    clock.set(T0 + 15 * MIN)
    on_time = svc.incidents.acknowledge(on_time.id, "x")
    clock.set(T0 + 15 * MIN + 1)
    barely = svc.incidents.acknowledge(barely.id, "x")
    clock.set(T0 + 17 * MIN + 30 * SEC + 200)
    late = svc.incidents.acknowledge(late.id, "x")
    now = clock.now_ms()
    assert lateness(on_time, now).respond_s == 0
    assert lateness(barely, now).respond_ms == 1 and lateness(barely, now).respond_s == 1
    assert lateness(late, now).respond_ms == 150_200 and lateness(late, now).respond_s == 151
    # An unanswered incident is late up to now.
    open_one = svc.incidents.create("core", "d", Priority.P1, "hotline")
    assert lateness(open_one, now + 20 * MIN).respond_s == 5 * 60


# -- figures for compensation -----------------------------------------------------------------


def test_mtta_and_mttr_per_priority_and_month(svc: AlertingService, clock: FakeClock) -> None:
    def incident(opened: int, priority: Priority, ack_after: int | None,
                 restore_after: int | None) -> None:
        clock.set(opened)
        inc = svc.incidents.create("core", "x", priority, "hotline")
        if ack_after is not None:
            clock.set(opened + ack_after)
            svc.incidents.acknowledge(inc.id, "ops")
        if restore_after is not None:
            clock.set(opened + restore_after)
            svc.incidents.restore(inc.id, "ops")

    october, november = T0, T0 + 31 * 24 * HOUR  # 2026-10-01 / 2026-11-01 00:00 +08:00
    incident(october + HOUR, Priority.P1, 10 * MIN, HOUR)
    incident(october + 2 * HOUR, Priority.P1, 20 * MIN, 3 * HOUR)
    incident(october + 6 * HOUR, Priority.P3, 3 * HOUR, None)  # 1 h late
    incident(november - 1, Priority.P1, 16 * MIN, 2 * HOUR)  # 23:59:59.999 still October
    incident(november + 3 * HOUR, Priority.P1, 5 * MIN, 30 * MIN)
    now = november + 10 * HOUR
    stats = {(s.month, s.priority): s for s in response_stats(
        svc.incidents.find(), TZ, now)}
    oct_p1 = stats[("2026-10", Priority.P1)]
    assert (oct_p1.incidents, oct_p1.acknowledged, oct_p1.restored) == (3, 3, 3)
    assert oct_p1.mtta_ms == (10 + 20 + 16) * MIN // 3
    assert oct_p1.mttr_ms == (1 * HOUR + 3 * HOUR + 2 * HOUR) // 3
    assert oct_p1.late_responses == 2  # 20 and 16 minutes against 15
    oct_p3 = stats[("2026-10", Priority.P3)]
    assert (oct_p3.mtta_ms, oct_p3.mttr_ms, oct_p3.late_responses) == (3 * HOUR, None, 1)
    nov_p1 = stats[("2026-11", Priority.P1)]
    assert (nov_p1.incidents, nov_p1.mtta_ms, nov_p1.mttr_ms) == (1, 5 * MIN, 30 * MIN)
    # The compensation module's read: incidents opened in the month, plain data.
    listed = svc.store.list_incidents(slo.parse_month("2026-10", TZ))
    assert [i.opened_ms for i in listed] == [october + HOUR, october + 2 * HOUR,
                                             october + 6 * HOUR, november - 1]
    assert all(isinstance(i, IncidentRecord) for i in listed)


def test_the_alerting_tables_live_beside_the_results_store(tmp_path: Path) -> None:
    db = tmp_path / "slaguard.db"
    results = SQLiteStore(db)
    alerting = AlertingStore(db)
    mode = alerting._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert alerting._db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    names = {r[0] for r in results._db.execute("SELECT name FROM sqlite_master")}
    assert {"results", "alerting_incidents", "alerting_outbox"} <= names
    results.close()
    alerting.close()


def test_rule_sources_restore_through_the_service(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    svc, _ = make_service(tmp_path, clock)
    report, snap = outage_report(make_config(), NOW)
    svc.evaluate(report, snap)
    # Healthy again: the alerts clear, and resolve after 5 min of damping.
    healthy, healthy_snap = outage_report(make_config(), NOW + 10 * MIN, minutes=0)
    clock.set(NOW + 10 * MIN)
    assert [e.kind for e in svc.evaluate(healthy, healthy_snap).events
            if e.alert.rule == rules.CONFIRMED_OUTAGE] == []
    [inc] = svc.incidents.find()
    assert inc.restored_ms is None
    clock.set(NOW + 15 * MIN)
    healthy, healthy_snap = outage_report(make_config(), NOW + 15 * MIN, minutes=0)
    resolved = [e.alert.rule for e in svc.evaluate(healthy, healthy_snap).events]
    assert "confirmed_outage" in resolved
    [inc] = svc.incidents.find()
    assert inc.state == "restored" and inc.restored_ms == NOW + 15 * MIN


def test_a_person_restoring_before_the_sources_clear_still_auto_resolves(
        svc: AlertingService, clock: FakeClock) -> None:
    inc = fire(svc, "am:1")
    assert inc is not None
    clock.advance(MIN)
    restored = svc.incidents.restore(inc.id, "bob")
    assert restored.auto_resolve_ms is None  # am:1 still fires
    assert restored.responded_ms == T0 + MIN  # restoring by hand is a response
    clock.advance(MIN)
    quiet = clear(svc, "am:1")
    assert quiet is not None and quiet.auto_resolve_ms == T0 + 2 * MIN + HOUR
    clock.set(T0 + 2 * MIN + HOUR)
    assert svc.incidents.resolve_due() == [inc.id]


def test_records_for_the_compensation_module(svc: AlertingService, clock: FakeClock) -> None:
    inc = svc.incidents.create("core", "web down", Priority.P1, "hotline")
    silent = fire(svc, "rule:silent", opening("core/probe_down", Priority.P3, "probe silent"))
    assert silent is not None
    clock.advance(20 * MIN)
    svc.incidents.acknowledge(inc.id, "bob")
    [record] = compensation_records(svc.store.list_incidents(slo.parse_month("2026-10", TZ)))
    assert (record.id, record.priority, record.opened_ms, record.responded_ms) == (
        f"INC-{inc.id}", "P1", T0, T0 + 20 * MIN)
    assert record.services == ("core",) and record.concerns("acme", ["core", "backup"])
