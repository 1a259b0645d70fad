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

slaguard's own absence is not the probes' silence.  ``start(last_seen_ms=…)``
is told the newest result in the record: when slaguard was away longer than
``silent_intervals`` of the shortest probe interval, that gap is written once
as slaguard's own event (source ``self``, service ``slaguard``, rule
``monitoring_gap``, P4 unless ``priorities`` says otherwise), and no probe
whose silence began before this start is paged as ``probe_down`` until it has
been silent that many of its intervals since the start.  The evaluator counts
the gap as no data (unknown), never as downtime.

The clock is injected: with a ``FakeClock`` a test drives thirty minutes of
escalation and backoff by moving the clock and calling ``tick()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from alerting import links, rules
from alerting.clock import Clock, SystemClock
from alerting.escalation import EscalationPolicy, EscalationStep, Escalator
from alerting.incidents import DEFAULT_AUTO_RESOLVE_AFTER_MS, Incidents, Opening, SourceChange
from alerting.notification import Priority, duration, format_time
from alerting.notifiers import NOTIFIERS, SendFn
from alerting.outbox import (
    DEFAULT_RENDERING,
    DEFAULT_RETRY,
    DeliveryStats,
    OnDelivery,
    Outbox,
    Rendering,
    RetryPolicy,
)
from alerting.store import AlertingStore, IncidentRecord, OutboxRow, Tx
from slaguard.records import Rejected
from slo.model import MaintenanceSpec
from slo.report import Report

if TYPE_CHECKING:
    from slaguard.config.schema import Config

log = logging.getLogger(__name__)

INTERNAL_SERVICE = "slaguard"
MONITORING_GAP = "monitoring_gap"
BAD_RECORD = "bad_record"
SELF_SOURCE = "self"
# When this process started watching, kept so the next start measures its gap from it.
_STARTED_KEY = "started_ms"


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
                 tick_interval_s: float = 2.0, on_delivery: OnDelivery | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.settings = settings
        # The clocks shown with every incident are the ones that run it.
        self.rendering = replace(rendering, restore_after_ms=settings.clear_after_ms,
                                 auto_resolve_after_ms=auto_resolve_after_ms)
        rendering = self.rendering
        self.incidents = Incidents(store, policy, self.clock, rendering, auto_resolve_after_ms)
        self.escalator = Escalator(store, self.clock, rendering)
        self.outbox = Outbox(store, channels, self.clock, notifiers=notifiers, retry=retry,
                             rng=rng, on_dead=self._dead_lettered, on_delivery=on_delivery)
        self.tick_interval_s = tick_interval_s
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._own_session = False
        # Since when this process watches; probe silence from before is our own absence.
        self.watching_since_ms: int | None = None

    @classmethod
    def from_config(cls, cfg: Config, *, clock: Clock | None = None,
                    store: AlertingStore | None = None,
                    priorities: Mapping[str, str | Priority] | None = None,
                    clear_after: timedelta | None = None,
                    config_path: str | None = None, **kwargs: Any) -> AlertingService:
        """Everything from the configuration; ``priorities`` overrides rule priorities
        (keys as in ``rules.DEFAULT_PRIORITIES``); ``clear_after`` overrides
        ``incidents.restore_after``; ``config_path`` (the file ``cfg`` came from)
        goes into the acknowledge command of notifications."""
        after = cfg.incidents.auto_resolve_after
        kwargs.setdefault("auto_resolve_after_ms",
                          None if after is None else after // timedelta(milliseconds=1))
        server = cfg.server
        return cls(
            store or AlertingStore(cfg.storage.path),
            policy=EscalationPolicy.from_config(cfg.incidents),
            settings=rules.settings_from_config(
                cfg, priorities=priorities,
                clear_after=cfg.incidents.restore_after if clear_after is None else clear_after),
            channels=dict(cfg.channels), clock=clock,
            rendering=Rendering(
                cfg.timezone, links.public_base_url(server.public_url, server.listen),
                None if config_path is None else os.path.abspath(config_path)),
            **kwargs)

    # -- rules -------------------------------------------------------------------------

    def evaluate(self, report: Report | None, snapshot: rules.Snapshot,
                 health: rules.SelfReadings | None = None) -> rules.RuleOutcome:
        """Run the rules and apply what changed, in one transaction; ``health`` also
        runs the rules on slaguard itself (``rules.self_conditions``)."""
        now = self.clock.now_ms()
        latest = list(snapshot)
        with self.store.transaction() as tx:
            previous = {k: rules.AlertState.from_dict(v) for k, v in tx.alert_states().items()}
            outcome = self._not_our_absence(
                rules.evaluate(report, latest, previous, now, self.settings, health),
                rules.latest_results(latest), now)
            tx.replace_alert_states({k: a.to_dict() for k, a in outcome.alerts.items()})
            for event in outcome.events:
                self.incidents.apply(tx, rule_change(event), now)
        if outcome.events:
            self.wake()
        return outcome

    def _not_our_absence(self, outcome: rules.RuleOutcome, latest: Sequence[Any],
                         now_ms: int) -> rules.RuleOutcome:
        """Drop new probe_down alerts whose silence began before this process started
        watching and has not yet lasted ``silent_intervals`` intervals since: the probe
        did not stop, slaguard was not running (see the module doc)."""
        since = self.watching_since_ms
        if since is None:
            return outcome
        newest = {(r.target, r.location): r.ts_ms for r in latest}

        def ours(a: rules.AlertState) -> bool:
            ts = newest.get((a.labels.get("target", ""), a.labels.get("location", "")))
            interval = self.settings.intervals_ms.get(a.labels.get("target", ""))
            return (a.rule == rules.PROBE_DOWN and ts is not None and interval is not None
                    and ts < since and now_ms - since <= self.settings.silent_intervals * interval)

        skipped = {e.alert.key for e in outcome.events
                   if e.kind is rules.EventKind.FIRING and ours(e.alert)}
        if not skipped:
            return outcome
        return rules.RuleOutcome({k: a for k, a in outcome.alerts.items() if k not in skipped},
                                 tuple(e for e in outcome.events if e.alert.key not in skipped))

    def resume(self, last_seen_ms: int | None) -> IncidentRecord | None:
        """This process starts watching now; ``last_seen_ms`` is the newest result in the
        record.  A gap longer than ``silent_intervals`` of the shortest interval since
        then (or since the last start) is written and told once as slaguard's own event."""
        now = self.clock.now_ms()
        self.watching_since_ms = now
        with self.store.transaction() as tx:
            before = tx.meta(_STARTED_KEY)
            tx.set_meta(_STARTED_KEY, str(now))
        shortest = min(self.settings.intervals_ms.values(), default=None)
        if last_seen_ms is None or shortest is None:  # nothing was being watched
            return None
        # A start that recorded nothing (a crash loop) was there all the same.
        gap_from = max(last_seen_ms, 0 if before is None else int(before))
        if now - gap_from <= self.settings.silent_intervals * shortest:
            return None
        inc = self.incidents.record_event(self._gap_opening(gap_from, now), gap_from, now)
        log.warning("slaguard was not running from %s to %s (%s): a monitoring gap, not "
                    "downtime, and no probe alert for it; told once as %s",
                    self._local(gap_from), self._local(now), duration((now - gap_from) // 1000),
                    inc.public_id)
        self.wake()
        return inc

    def _local(self, ms: int) -> str:
        return format_time(datetime.fromtimestamp(ms / 1000, tz=UTC), self.rendering.timezone)

    def _gap_opening(self, start_ms: int, end_ms: int) -> Opening:
        start, end = self._local(start_ms), self._local(end_ms)
        span = duration((end_ms - start_ms) // 1000)
        return Opening(
            rules.incident_key(INTERNAL_SERVICE, MONITORING_GAP), INTERNAL_SERVICE,
            MONITORING_GAP, self.settings.priorities.get(MONITORING_GAP, Priority.P4),
            "slaguard 未运行：监控缺口 / slaguard was not running: monitoring gap",
            f"{start} 至 {end}（{span}）没有探测：这段时间记为监控缺口（未知），不计为停机，"
            f"也不对任何目标告警 / no probe ran from {start} to {end} ({span}): that time is "
            "a monitoring gap (unknown), not downtime, and raises no alert against a target",
            SELF_SOURCE, {"gap_seconds": str((end_ms - start_ms) // 1000)})

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

    def records_rejected(self, rejected: Sequence[Rejected]) -> IncidentRecord | None:
        """Records evaluation leaves out (``slaguard.records``) as slaguard's own alert:
        one incident (service ``slaguard``, source ``self``, rule ``bad_record``, P3
        unless ``priorities`` says otherwise) with one source per record, so later rounds
        that find the same records join it; restored once none is left out."""
        now = self.clock.now_ms()
        key = rules.incident_key(INTERNAL_SERVICE, BAD_RECORD)
        wanted = {f"{SELF_SOURCE}:{BAD_RECORD}:{r.kind}:{r.id}": r for r in rejected}
        with self.store.transaction() as tx:
            inc = tx.open_incident(key)
            firing = set() if inc is None else set(tx.firing_sources(inc.id))
            for source in sorted(wanted.keys() - firing):
                inc = self.incidents.fire(tx, self._bad_record_opening(wanted[source]), source,
                                          now)
            for source in sorted(firing - wanted.keys()):
                inc = self.incidents.clear(tx, source, SELF_SOURCE, now)
        if wanted.keys() != firing:
            self.wake()
        return inc

    def _bad_record_opening(self, r: Rejected) -> Opening:
        return Opening(
            rules.incident_key(INTERNAL_SERVICE, BAD_RECORD), INTERNAL_SERVICE, BAD_RECORD,
            self.settings.priority(BAD_RECORD),
            "记录无法用于评估 / a record is left out of evaluation",
            f"{r}：评估继续，但不含此记录，请更正或删除 / evaluation goes on without it; "
            "correct or delete the record", SELF_SOURCE, {"kind": r.kind, "record": r.id})

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

    async def start(self, session: aiohttp.ClientSession | None = None, *,
                    last_seen_ms: int | None = None) -> None:
        """Note slaguard's own absence (``resume``), recover half-sent rows, catch up on
        overdue steps, then tick in the background."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            await asyncio.to_thread(self.resume, last_seen_ms)
        except Exception:  # a lost note must not stop probing from starting
            log.exception("could not record slaguard's own monitoring gap")
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
