"""The outbox: every notification is a row first, a request second.

Writing: ``enqueue`` inserts one ``pending`` row per (incident, step, channel)
in the caller's transaction, the same one that changed the incident, so an
incident is never opened without its pages nor paged without being opened.
The idempotency key is ``INC-<id>/<step>/<channel>`` and UNIQUE: writing the
same step twice (a retried transaction, a second ticker) inserts nothing.
Receivers see the key as ``webhook-id`` / ``Idempotency-Key`` / the e-mail
Message-ID seed and dedupe by it.

Delivering: ``Outbox.deliver_due`` claims due rows (``pending`` → ``sending``,
committed before the request), sends each through ``alerting.notifiers`` by the
channel's kind, and records ``sent``, a retry (``pending`` with a later
``next_attempt_ms``) or ``dead``.  Retries back off exponentially with jitter
up to a cap, and honour ``Retry-After``; an error that cannot succeed on a
retry (other 4xx, bad signature, unknown channel) or a row older than
``max_age`` is dead-lettered, and ``on_dead`` runs in the same transaction
(the service opens an internal incident from it).

Crash safety: a kill after the write and before the send leaves a ``pending``
row, delivered by the next process.  A kill during the send leaves ``sending``;
``recover()`` at start puts it back to ``pending`` and it is sent again with the
same key (at-least-once; receivers dedupe by key).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from alerting import links
from alerting.clock import Clock
from alerting.notification import Notification, Status
from alerting.notifiers import NOTIFIERS, NotifierError, SendFn, send
from alerting.store import AlertingStore, IncidentRecord, OutboxRow, Tx

log = logging.getLogger(__name__)

_MIN = 60_000


# -- writing -------------------------------------------------------------------------------


# Sources whose incidents restore and resolve by themselves (a person does the others').
AUTOMATIC_SOURCES = frozenset({"rules", "alertmanager"})


@dataclass(frozen=True, slots=True)
class Rendering:
    """How notifications (and the API) present an incident: the zone people read
    times in, where it can be opened and acknowledged, and its automatic clocks."""

    timezone: str = "UTC"
    base_url: str | None = None  # slaguard's public base URL; None: no links
    config_path: str | None = None  # the server's configuration, for the ack command
    restore_after_ms: int | None = None  # incidents.restore_after (rule incidents)
    auto_resolve_after_ms: int | None = None  # incidents.auto_resolve_after

    def url(self, inc: IncidentRecord) -> str | None:
        return None if self.base_url is None else links.incident_url(self.base_url,
                                                                     inc.public_id)

    def ack_command(self, inc: IncidentRecord) -> str | None:
        """None once resolved: there is nothing left to acknowledge."""
        if inc.resolved_ms is not None or self.base_url is None:
            return None
        return links.ack_command(inc.public_id, self.config_path, self.base_url)

    def ack_api(self, inc: IncidentRecord) -> str | None:
        if inc.resolved_ms is not None or self.base_url is None:
            return None
        return links.ack_api(self.base_url, inc.public_id)

    def restore_after_ms_of(self, inc: IncidentRecord) -> int | None:
        """Only the rules restore by quiet time; Alertmanager says when its alert ends,
        and a person restores the rest."""
        return self.restore_after_ms if inc.source == "rules" else None

    def auto_resolve_after_ms_of(self, inc: IncidentRecord) -> int | None:
        return self.auto_resolve_after_ms if inc.source in AUTOMATIC_SOURCES else None


DEFAULT_RENDERING = Rendering()


def idempotency_key(incident_id: int, step: str, channel: str) -> str:
    return f"INC-{incident_id}/{step}/{channel}"


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def notification(inc: IncidentRecord, key: str, status: Status, rendering: Rendering,
                 level: int = 0, step_name: str | None = None) -> Notification:
    ended = None
    if status is Status.RESOLVED:
        ended = inc.resolved_ms or inc.restored_ms
    elif status is Status.RESTORED:
        ended = inc.restored_ms
    started = _at(inc.opened_ms)
    assert started is not None
    return Notification(
        incident_id=inc.public_id, idempotency_key=key, priority=inc.priority, status=status,
        title=inc.title, summary=inc.summary, service=inc.service, started_at=started,
        ended_at=_at(ended), escalation_level=level, escalation_step=step_name, rule=inc.rule,
        labels=dict(inc.labels), url=rendering.url(inc), timezone=rendering.timezone,
        ack_command=rendering.ack_command(inc), ack_api=rendering.ack_api(inc),
        restore_after_s=_seconds(rendering.restore_after_ms_of(inc)),
        auto_resolve_after_s=_seconds(rendering.auto_resolve_after_ms_of(inc)))


def enqueue(tx: Tx, inc: IncidentRecord, step: str, channels: Iterable[str], status: Status,
            now_ms: int, rendering: Rendering, *, level: int = 0,
            step_name: str | None = None) -> list[str]:
    """One pending row per channel, in ``tx``; returns the keys actually inserted."""
    inserted = []
    for channel in dict.fromkeys(channels):  # a channel listed twice is told once
        key = idempotency_key(inc.id, step, channel)
        n = notification(inc, key, status, rendering, level, step_name)
        if tx.enqueue(key, inc.id, step, channel, n.to_dict(), now_ms):
            inserted.append(key)
    return inserted


# -- retry policy ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: initial × factor^(n−1), capped, minus up to ``jitter`` of it
    (so retries of many rows spread out but never exceed the cap)."""

    initial_ms: int = 5_000
    factor: int = 2
    cap_ms: int = 5 * _MIN
    jitter: float = 0.2
    max_age_ms: int = 24 * 60 * _MIN  # then dead: the Standard Webhooks schedule ends at 24 h
    max_retry_after_ms: int = 60 * _MIN

    def delay_ms(self, attempts: int, rand: float, retry_after_ms: int | None = None) -> int:
        """Delay before attempt ``attempts + 1``, ``attempts`` ≥ 1 having failed."""
        base = min(self.cap_ms, self.initial_ms * self.factor ** max(attempts - 1, 0))
        delay = int(base * (1 - self.jitter * rand))
        if retry_after_ms is not None:
            delay = max(delay, min(retry_after_ms, self.max_retry_after_ms))
        return max(delay, 1)


# -- delivering ----------------------------------------------------------------------------

DEFAULT_RETRY = RetryPolicy()
OnDead = Callable[[Tx, OutboxRow, str, int], None]
# (channel, outcome): ``sent``, ``retry`` (an attempt failed, tried again later) or ``dead``.
OnDelivery = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0

    def __add__(self, other: DeliveryStats) -> DeliveryStats:
        return DeliveryStats(self.sent + other.sent, self.retried + other.retried,
                             self.dead + other.dead)


_SENT, _RETRIED, _DEAD = DeliveryStats(sent=1), DeliveryStats(retried=1), DeliveryStats(dead=1)


class Outbox:
    """Delivers due rows.  ``channels`` are the config's Channel objects by name."""

    def __init__(self, store: AlertingStore, channels: Mapping[str, Any], clock: Clock, *,
                 notifiers: Mapping[str, SendFn] = NOTIFIERS, retry: RetryPolicy = DEFAULT_RETRY,
                 rng: random.Random | None = None, on_dead: OnDead | None = None,
                 session: aiohttp.ClientSession | None = None, batch: int = 100,
                 concurrency: int = 8, on_delivery: OnDelivery | None = None) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.notifiers = notifiers
        self.retry = retry
        self.rng = rng or random.Random()
        self.on_dead = on_dead
        self.session = session
        self.batch = batch
        self.concurrency = concurrency
        self.on_delivery = on_delivery

    def recover(self) -> int:
        """After a crash: rows left ``sending`` go back to ``pending``."""
        with self.store.transaction() as tx:
            return tx.reset_sending()

    def backlog(self) -> tuple[int, int | None]:
        """(rows waiting to be sent, age in ms of the oldest or None): the outbox's
        backlog for slaguard's own metrics and rules.  Pending rows only, read through
        the partial index on them (a scrape must not scan every row ever sent); a row
        being sent right now is pending again if the attempt fails."""
        with self.store.reading() as tx:
            count, oldest = tx.db.execute(
                "SELECT count(*), min(created_ms) FROM alerting_outbox "
                "WHERE state = 'pending'").fetchone()
        return int(count), None if oldest is None else max(self.clock.now_ms() - oldest, 0)

    def _told(self, channel: str, outcome: str) -> None:
        if self.on_delivery is not None:
            self.on_delivery(channel, outcome)

    def _claim(self) -> list[OutboxRow]:
        with self.store.transaction() as tx:
            return tx.claim_due(self.clock.now_ms(), self.batch)

    async def deliver_due(self) -> DeliveryStats:
        """Send every row due now (in batches), concurrently up to ``concurrency``."""
        total = DeliveryStats()
        limit = asyncio.Semaphore(self.concurrency)
        while rows := await asyncio.to_thread(self._claim):
            results = await asyncio.gather(*(self._deliver(r, limit) for r in rows))
            total = sum(results, total)
            if len(rows) < self.batch:
                break
        return total

    async def _deliver(self, row: OutboxRow, limit: asyncio.Semaphore) -> DeliveryStats:
        channel = self.channels.get(row.channel)
        if channel is None:
            return await asyncio.to_thread(
                self._dead, row, f"channel {row.channel!r} is not configured")
        async with limit:
            try:
                await send(Notification.from_dict(row.payload), channel, self.session,
                           now_ms=self.clock.now_ms(), notifiers=self.notifiers)
            except NotifierError as e:
                return await asyncio.to_thread(self._failed, row, e)
            except Exception as e:  # a notifier bug: keep the row, let max_age decide
                log.exception("outbox row %s: unexpected error from %s", row.id, row.channel)
                return await asyncio.to_thread(self._retry, row, f"{type(e).__name__}: {e}",
                                               None)
        return await asyncio.to_thread(self._sent, row)

    def _sent(self, row: OutboxRow) -> DeliveryStats:
        with self.store.transaction() as tx:
            tx.mark_sent(row.id, self.clock.now_ms())
        self._told(row.channel, "sent")
        log.info("notification %s sent via %s (attempt %d)", row.idempotency_key, row.channel,
                 row.attempts + 1)
        return _SENT

    def _failed(self, row: OutboxRow, error: NotifierError) -> DeliveryStats:
        if not error.retryable:
            return self._dead(row, str(error))
        retry_after = getattr(error, "retry_after", None)
        return self._retry(row, str(error),
                           None if retry_after is None else int(retry_after * 1000))

    def _retry(self, row: OutboxRow, error: str, retry_after_ms: int | None) -> DeliveryStats:
        now = self.clock.now_ms()
        if now - row.created_ms >= self.retry.max_age_ms:
            return self._dead(row, f"gave up after {row.attempts + 1} attempts: {error}")
        delay = self.retry.delay_ms(row.attempts + 1, self.rng.random(), retry_after_ms)
        with self.store.transaction() as tx:
            tx.mark_retry(row.id, now + delay, error)
        self._told(row.channel, "retry")
        log.info("notification %s via %s failed (attempt %d), retry in %d s: %s",
                 row.idempotency_key, row.channel, row.attempts + 1, -(-delay // 1000), error)
        return _RETRIED

    def _dead(self, row: OutboxRow, error: str) -> DeliveryStats:
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            tx.mark_dead(row.id, error)
            if self.on_dead is not None:
                self.on_dead(tx, row, error, now)
        self._told(row.channel, "dead")
        log.error("notification %s via %s failed for good (dead-lettered): %s",
                  row.idempotency_key, row.channel, error)
        return _DEAD
