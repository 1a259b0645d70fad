"""The outbox: idempotent writes, crash safety, backoff against a real server, dead letters."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerting import rules
from alerting.clock import FakeClock
from alerting.notification import Priority, Status
from alerting.notifiers import RecordingNotifier
from alerting.notifiers.errors import DeliveryError
from alerting.outbox import Outbox, RetryPolicy, enqueue
from alerting.service import AlertingService
from alerting.store import AlertingStore
from slaguard.config.schema import Config
from tests.alerting.test_incidents import channel_of, make_service
from tests.alerting.test_rules import MIN, SEC, T0, make_config, raw_config
from tests.conftest import free_port


def rows(store: AlertingStore, state: str | None = None) -> list[Any]:
    with store.reading() as tx:
        return tx.outbox_rows(state=state)


# -- writing ----------------------------------------------------------------------------------


def test_writing_the_same_step_twice_creates_one_notification(tmp_path: Path) -> None:
    svc, _ = make_service(tmp_path, FakeClock(T0))
    inc = svc.incidents.create("core", "down", Priority.P1, "hotline")
    assert len(rows(svc.store)) == 3
    with svc.store.transaction() as tx:
        again = enqueue(tx, inc, "open-P1", ["phone", "sms", "email"], Status.FIRING,
                        T0, svc.incidents.rendering)
    assert again == [] and len(rows(svc.store)) == 3
    assert sorted(r.idempotency_key for r in rows(svc.store)) == [
        f"INC-{inc.id}/open-P1/email", f"INC-{inc.id}/open-P1/phone",
        f"INC-{inc.id}/open-P1/sms"]


# -- crash safety --------------------------------------------------------------------------------


async def test_the_outbox_survives_a_kill_between_write_and_send(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    crashed, _ = make_service(tmp_path, clock)
    crashed.incidents.create("core", "down", Priority.P1, "hotline")
    del crashed  # killed: written, never sent (its connection is simply abandoned)
    rec = RecordingNotifier()
    store = AlertingStore(tmp_path / "slaguard.db")
    outbox = Outbox(store, dict(make_config().channels), clock, notifiers={"webhook": rec})
    assert outbox.recover() == 0
    assert (await outbox.deliver_due()).sent == 3
    assert (await outbox.deliver_due()).sent == 0
    assert sorted(channel_of(k) for k in rec.keys) == ["email", "phone", "sms"]
    assert len(rows(store, "sent")) == 3
    store.close()


async def test_a_kill_during_the_send_resends_with_the_same_key(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    svc, _ = make_service(tmp_path, clock)
    svc.incidents.create("core", "down", Priority.P4, "hotline")
    with svc.store.transaction() as tx:  # claimed, then the process died mid-request
        [claimed] = tx.claim_due(T0, 10)
    svc.close()
    rec = RecordingNotifier()
    store = AlertingStore(tmp_path / "slaguard.db")
    outbox = Outbox(store, dict(make_config().channels), clock, notifiers={"webhook": rec})
    assert (await outbox.deliver_due()).sent == 0  # 'sending' is not picked up blindly
    assert outbox.recover() == 1
    assert (await outbox.deliver_due()).sent == 1
    assert rec.keys == [claimed.idempotency_key]
    store.close()


# -- backoff --------------------------------------------------------------------------------------


def test_backoff_is_exponential_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(initial_ms=5_000, factor=2, cap_ms=5 * MIN, jitter=0.2)
    assert [policy.delay_ms(n, 0.0) for n in range(1, 9)] == [
        5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]
    assert policy.delay_ms(3, 1.0) == 16_000  # at most 20 % earlier, never later
    assert policy.delay_ms(3, 0.0, retry_after_ms=120_000) == 120_000
    assert policy.delay_ms(3, 0.0, retry_after_ms=10 * 3_600_000) == 3_600_000


async def test_retries_follow_the_policy_on_the_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier(fail_times=3)
    svc, _ = make_service(tmp_path, clock, rec, retry=RetryPolicy(jitter=0.0))
    svc.incidents.create("core", "down", Priority.P4, "hotline")  # one channel: ticket
    attempts_at = []
    for _ in range(40):
        stats = await svc.tick()
        if stats.delivery.sent or stats.delivery.retried:
            attempts_at.append(clock.now_ms() - T0)
        clock.advance(SEC)
    assert attempts_at == [0, 5 * SEC, 15 * SEC, 35 * SEC]
    assert len(rec.sent) == 1 and len(rec.attempts) == 4


@dataclass
class FlakyReceiver:
    """A real HTTP receiver: 503 until ``healthy``; records every request's webhook-id."""

    healthy: bool = False
    answered: Counter[tuple[str, int]] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        status = 200 if self.healthy else 503
        self.answered[(request.headers["webhook-id"], status)] += 1
        return web.json_response({}, status=status)


@pytest.fixture
async def listen_later() -> AsyncIterator[Callable[[web.Application, int], Any]]:
    """Start an app on a given port when the test says so (until then: refused)."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, port: int) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)

    yield start
    for r in runners:
        await r.cleanup()


def config_to(port: int, db: Path) -> Config:
    raw = raw_config(db)
    raw["channels"] = {name: {"kind": "webhook", "url": f"http://127.0.0.1:{port}/{name}"}
                       for name in raw["channels"]}
    return make_config(db, channels=raw["channels"])


async def test_a_channel_down_for_30_minutes_loses_nothing_and_duplicates_nothing(
        tmp_path: Path, listen_later: Callable[[web.Application, int], Any]) -> None:
    port = free_port()
    clock = FakeClock(T0)
    svc = AlertingService.from_config(config_to(port, tmp_path / "slaguard.db"), clock=clock,
                                      rng=random.Random(1))  # the real webhook notifier
    first = svc.incidents.create("core", "core down", Priority.P1, "hotline")
    second = svc.incidents.create("storage", "storage down", Priority.P2, "hotline")
    keys = {r.idempotency_key for r in rows(svc.store)}
    assert len(keys) == 5  # 3 channels for P1, 2 for P2
    receiver = FlakyReceiver()
    app = web.Application()
    app.router.add_post("/{channel}", receiver.handle)
    refused, listening = 0, False
    while clock.now_ms() < T0 + 40 * MIN:
        elapsed = clock.now_ms() - T0
        if elapsed >= 10 * MIN and not listening:  # minutes 0-10: connection refused
            await listen_later(app, port)  # minutes 10-30: listening, answering 503
            listening = True
        receiver.healthy = elapsed >= 30 * MIN  # from minute 30: 200
        stats = await svc.tick()
        refused += 0 if listening else stats.delivery.retried
        clock.advance(15 * SEC)
    delivered = Counter(key for (key, status), n in receiver.answered.items()
                        if status == 200 for _ in range(n))
    # The P1 also escalated at minute 30 (nobody acknowledged): one more key.
    all_keys = {r.idempotency_key for r in rows(svc.store)}
    assert all_keys - keys == {f"INC-{first.id}/escalate-1/oncall"}
    assert delivered == {key: 1 for key in all_keys}
    assert refused >= 5 and sum(n for (_, s), n in receiver.answered.items() if s == 503) >= 5
    assert len(rows(svc.store, "sent")) == 6 and rows(svc.store, "dead") == []
    assert all(r.attempts > 1 for r in rows(svc.store) if r.idempotency_key in keys)
    assert {first.id, second.id} == {r.incident_id for r in rows(svc.store)}
    svc.close()


# -- dead letters ---------------------------------------------------------------------------------


async def test_a_final_error_dead_letters_and_raises_one_internal_incident(
        tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier(fail_times=100, retryable=False)
    svc, _ = make_service(tmp_path, clock, rec)
    a = svc.incidents.create("core", "down", Priority.P2, "hotline")
    stats = (await svc.tick()).delivery
    # The two pages of INC-a die; the internal incident's own two pages die too,
    # and those only get logged: no incident about an incident about an incident.
    assert stats.dead == 2
    stats = (await svc.tick()).delivery
    assert stats.dead == 2
    assert (await svc.tick()).delivery == type(stats)()
    internal = [i for i in svc.incidents.find() if i.rule == rules.DEAD_LETTER]
    assert len(internal) == 1
    [dl] = internal
    assert (dl.service, dl.priority, dl.source) == ("slaguard", Priority.P3, "internal")
    assert f"INC-{a.id}/open-P2/" in dl.summary
    with svc.store.reading() as tx:
        assert sorted(tx.firing_sources(dl.id)) == sorted(
            f"outbox:{r.id}" for r in tx.outbox_rows(a.id))
    # A later dead letter joins the open internal incident.
    rec.fail_next(100, retryable=False)
    svc.incidents.create("core", "again", Priority.P4, "hotline")
    await svc.tick()
    assert len([i for i in svc.incidents.find() if i.rule == rules.DEAD_LETTER]) == 1


async def test_too_old_and_unknown_channel_rows_are_dead(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier(fail_times=10_000)
    svc, _ = make_service(tmp_path, clock, rec,
                          retry=RetryPolicy(max_age_ms=10 * MIN, cap_ms=MIN))
    svc.incidents.create("core", "down", Priority.P4, "hotline")
    while clock.now_ms() < T0 + 12 * MIN:
        await svc.tick()
        clock.advance(30 * SEC)
    [ticket] = [r for r in rows(svc.store) if r.step == "open-P4"]
    assert ticket.state == "dead" and ticket.last_error is not None
    assert ticket.last_error.startswith("gave up after")
    svc.outbox.channels = {}
    with svc.store.transaction() as tx:
        tx.enqueue("manual-key", None, "test", "gone", {"x": 1}, clock.now_ms())
    await svc.outbox.deliver_due()
    [gone] = [r for r in rows(svc.store) if r.idempotency_key == "manual-key"]
    assert gone.state == "dead" and gone.last_error == "channel 'gone' is not configured"


async def test_retry_after_from_the_receiver_is_honoured(tmp_path: Path) -> None:
    clock = FakeClock(T0)

    async def busy(notification: Any, channel: Any, session: Any = None, *,
                   now_ms: int | None = None) -> None:
        raise DeliveryError("429", retryable=True, status=429, retry_after=90.0)

    svc, _ = make_service(tmp_path, clock, notifier=None)
    svc.outbox.notifiers = {"webhook": busy}
    svc.incidents.create("core", "down", Priority.P4, "hotline")
    await svc.tick()
    [row] = rows(svc.store)
    assert row.state == "pending" and row.next_attempt_ms == T0 + 90 * SEC


async def test_the_ticker_sends_at_once_when_woken(tmp_path: Path) -> None:
    svc, rec = make_service(tmp_path, FakeClock(T0), tick_interval_s=3600)
    await svc.start()
    try:
        svc.incidents.create("core", "down", Priority.P1, "hotline")
        svc.wake()  # what evaluate() and the API do after a write
        for _ in range(200):
            if len(rec.sent) == 3:
                break
            await asyncio.sleep(0.01)
        assert len(rec.sent) == 3
    finally:
        await svc.stop()
        svc.close()
