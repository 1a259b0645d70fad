"""``RecordingNotifier``: a shipped test double with the notifier contract.

For pure unit tests of the outbox, escalation and incidents: it records what
was sent and can be told to fail, so backoff and dead-lettering can be tested
without a network.  Adapters themselves are tested against real servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from alerting.notification import Notification
from alerting.notifiers.errors import DeliveryError


@dataclass(frozen=True, slots=True)
class Attempt:
    notification: Notification
    channel: Any
    now_ms: int | None
    error: DeliveryError | None  # None: delivered


@dataclass
class RecordingNotifier:
    """Callable as ``send(notification, channel, session=None, *, now_ms=None)``.

    ``fail_times`` attempts fail (with ``DeliveryError(retryable=...)``) before
    the next ones succeed; ``fail_next`` re-arms it.
    """

    fail_times: int = 0
    retryable: bool = True
    attempts: list[Attempt] = field(default_factory=list)

    def fail_next(self, times: int, *, retryable: bool = True) -> None:
        self.fail_times, self.retryable = times, retryable

    @property
    def sent(self) -> list[Notification]:
        """Delivered notifications, in order (duplicates included: it is at-least-once)."""
        return [a.notification for a in self.attempts if a.error is None]

    @property
    def keys(self) -> list[str]:
        return [n.idempotency_key for n in self.sent]

    async def __call__(
        self,
        notification: Notification,
        channel: Any,
        session: aiohttp.ClientSession | None = None,
        *,
        now_ms: int | None = None,
    ) -> None:
        error = None
        if self.fail_times > 0:
            self.fail_times -= 1
            error = DeliveryError("recording notifier: told to fail", retryable=self.retryable)
        self.attempts.append(Attempt(notification, channel, now_ms, error))
        if error is not None:
            raise error
