"""``AlertingService``: rules → incidents → escalation → outbox, on one clock.

What the App calls:

* ``evaluate(report, snapshot)`` after each SLO evaluation (synchronous, a few
  milliseconds of SQLite: call it through ``asyncio.to_thread``).  One
  transaction holds the new alert states, every incident they open, join or
  restore and the outbox rows of those changes.
* ``tick()`` runs the escalation steps that are due, the automatic
  resolutions that are due and the deliveries that are due.  ``start()`` runs
  it every ``tick_interval_s`` (sooner when something was just written) after
  putting back rows a crash left half-sent and catching up on overdue steps;
  ``stop()`` ends that task and ``close()`` the store.

The clock is injected: with a ``FakeClock`` a test drives thirty minutes of
escalation and backoff by moving the clock and calling ``tick()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from alerting import rules
from alerting.clock import Clock, SystemClock
from alerting.escalation import EscalationPolicy, EscalationStep, Escalator
from alerting.incidents import DEFAULT_AUTO_RESOLVE_AFTER_MS, Incidents, Opening, SourceChange
from alerting.notification import Priority
from alerting.notifiers import NOTIFIERS, SendFn
from alerting.outbox import (
    DEFAULT_RENDERING,
    DEFAULT_RETRY,
    DeliveryStats,
    Outbox,
    Rendering,
    RetryPolicy,
)
from alerting.store import AlertingStore, IncidentRecord, OutboxRow, Tx
from slo.model import MaintenanceSpec
from slo.report import Report

if TYPE_CHECKING:
    from slaguard.config.schema import Config

log = logging.getLogger(__name__)

INTERNAL_SERVICE = "slaguard"


@dataclass(frozen=True, slots=True)
class TickResult:
    escalations: list[EscalationStep] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    delivery: DeliveryStats = field(default_factory=DeliveryStats)


def rule_change(event: rules.AlertEvent) -> SourceChange:
    """A rule alert as an incident source: ``rule:<alert key>``."""
    a = event.alert
    opening = Opening(a.incident_key, a.service, a.incident_rule, a.priority, a.title,
                      a.summary, "rules", {**a.labels, "alert_rule": a.rule})
    return SourceChange(f"rule:{a.key}", event.kind is rules.EventKind.FIRING, opening)


class AlertingService:
    def __init__(self, store: AlertingStore, *, policy: EscalationPolicy,
                 settings: rules.RuleSettings, channels: Mapping[str, Any],
                 clock: Clock | None = None, rendering: Rendering = DEFAULT_RENDERING,
                 notifiers: Mapping[str, SendFn] = NOTIFIERS, retry: RetryPolicy = DEFAULT_RETRY,
                 rng: random.Random | None = None,
                 auto_resolve_after_ms: int | None = DEFAULT_AUTO_RESOLVE_AFTER_MS,
                 tick_interval_s: float = 2.0) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.settings = settings
        self.incidents = Incidents(store, policy, self.clock, rendering, auto_resolve_after_ms)
        self.escalator = Escalator(store, self.clock, rendering)
        self.outbox = Outbox(store, channels, self.clock, notifiers=notifiers, retry=retry,
                             rng=rng, on_dead=self._dead_lettered)
        self.tick_interval_s = tick_interval_s
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._own_session = False

    @classmethod
    def from_config(cls, cfg: Config, *, clock: Clock | None = None,
                    store: AlertingStore | None = None,
                    priorities: Mapping[str, str | Priority] | None = None,
                    clear_after: timedelta = timedelta(minutes=5),
                    incident_url: str | None = None, **kwargs: Any) -> AlertingService:
        """Everything from the configuration; ``priorities`` overrides rule priorities
        (keys as in ``rules.DEFAULT_PRIORITIES``)."""
        return cls(
            store or AlertingStore(cfg.storage.path),
            policy=EscalationPolicy.from_config(cfg.incidents),
            settings=rules.settings_from_config(cfg, priorities=priorities,
                                                clear_after=clear_after),
            channels=dict(cfg.channels), clock=clock,
            rendering=Rendering(cfg.timezone, incident_url), **kwargs)

    # -- rules -------------------------------------------------------------------------

    def evaluate(self, report: Report | None, snapshot: rules.Snapshot) -> rules.RuleOutcome:
        """Run the rules and apply what changed, in one transaction."""
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            previous = {k: rules.AlertState.from_dict(v) for k, v in tx.alert_states().items()}
            outcome = rules.evaluate(report, list(snapshot), previous, now, self.settings)
            tx.replace_alert_states({k: a.to_dict() for k, a in outcome.alerts.items()})
            for event in outcome.events:
                self.incidents.apply(tx, rule_change(event), now)
        if outcome.events:
            self.wake()
        return outcome

    def apply(self, changes: Sequence[SourceChange]) -> list[IncidentRecord | None]:
        """Source changes from outside (the Alertmanager webhook), in one transaction."""
        now = self.clock.now_ms()
        with self.store.transaction() as tx:
            done = [self.incidents.apply(tx, c, now) for c in changes]
        self.wake()
        return done

    def _dead_lettered(self, tx: Tx, row: OutboxRow, error: str, now_ms: int) -> None:
        """A dead letter is itself an incident (P3 by default), joined by later ones while
        open.  A dead notification *of that incident* is only logged: no recursion."""
        inc = None if row.incident_id is None else tx.incident(row.incident_id)
        if inc is not None and inc.rule == rules.DEAD_LETTER:
            log.error("dead-letter notification %s itself dead-lettered: %s",
                      row.idempotency_key, error)
            return
        opening = Opening(
            rules.incident_key(INTERNAL_SERVICE, rules.DEAD_LETTER), INTERNAL_SERVICE,
            rules.DEAD_LETTER, self.settings.priority(rules.DEAD_LETTER),
            "通知投递失败 / notification dead-lettered",
            f"{row.idempotency_key} via {row.channel}: {error}", "internal",
            {"channel": row.channel})
        self.incidents.fire(tx, opening, f"outbox:{row.id}", now_ms)

    def maintenance_windows(self) -> list[MaintenanceSpec]:
        return self.store.maintenance_windows()

    # -- the ticker ---------------------------------------------------------------------

    async def tick(self) -> TickResult:
        steps = await asyncio.to_thread(self.escalator.run_due)
        resolved = await asyncio.to_thread(self.incidents.resolve_due)
        delivery = await self.outbox.deliver_due()
        return TickResult(steps, resolved, delivery)

    def wake(self) -> None:
        """Run the ticker now (thread-safe): a new P1 should not wait for the next tick."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self, session: aiohttp.ClientSession | None = None) -> None:
        """Recover half-sent rows, catch up on overdue steps, then tick in the background."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.outbox.session is None:
            self.outbox.session = session or aiohttp.ClientSession()
            self._own_session = session is None
        recovered = await asyncio.to_thread(self.outbox.recover)
        if recovered:
            log.warning("outbox: %d notifications were being sent at the last stop; "
                        "sending them again (same idempotency keys)", recovered)
        try:
            await self.tick()
        except Exception:  # alerting trouble must not stop probing from starting
            log.exception("alerting catch-up failed; the ticker keeps trying")
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_interval_s)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("alerting tick failed; retrying at the next one")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._own_session and self.outbox.session is not None:
            await self.outbox.session.close()
            self.outbox.session = None
            self._own_session = False
        self._loop = None

    def close(self) -> None:
        self.store.close()


def incident_ids(changes: Iterable[IncidentRecord | None]) -> list[str]:
    """Public ids of the incidents a batch touched (for API replies)."""
    return sorted({c.public_id for c in changes if c is not None})
