"""Notifiers: one module per channel kind, one contract.

    async def send(notification: Notification, channel, session=None, *, now_ms=None) -> None

``send`` returns once the receiver has taken the message and raises a
``NotifierError`` otherwise; its ``retryable`` tells the outbox to back off or
to dead-letter.  ``session`` is a shared ``aiohttp.ClientSession`` (one is
opened per call without it; email ignores it); ``now_ms`` (epoch ms) fixes the
clock used for signatures and timestamps, for tests and for replays.

``NOTIFIERS`` maps each config ``kind`` to its ``send``; a test keeps its keys
equal to ``slaguard.config.schema.CHANNEL_KINDS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import aiohttp

from alerting.notification import Notification
from alerting.notifiers import alertmanager, dingtalk, email, feishu, webhook, wecom
from alerting.notifiers.errors import ChannelError, DeliveryError, NotifierError
from alerting.notifiers.recording import Attempt, RecordingNotifier

__all__ = [
    "NOTIFIERS",
    "Attempt",
    "ChannelError",
    "DeliveryError",
    "NotifierError",
    "RecordingNotifier",
    "SendFn",
    "send",
]


class SendFn(Protocol):
    def __call__(
        self,
        notification: Notification,
        channel: Any,
        session: aiohttp.ClientSession | None = None,
        *,
        now_ms: int | None = None,
    ) -> Awaitable[None]: ...


NOTIFIERS: Mapping[str, SendFn] = MappingProxyType({
    "email": email.send,
    "webhook": webhook.send,
    "dingtalk": dingtalk.send,
    "wecom": wecom.send,
    "feishu": feishu.send,
    "alertmanager": alertmanager.send,
})


async def send(
    notification: Notification,
    channel: Any,
    session: aiohttp.ClientSession | None = None,
    *,
    now_ms: int | None = None,
    notifiers: Mapping[str, SendFn] = NOTIFIERS,
) -> None:
    """Dispatch on ``channel.kind``; ``notifiers`` lets a test swap in a double."""
    kind = getattr(channel, "kind", None)
    notifier = notifiers.get(kind) if isinstance(kind, str) else None
    if notifier is None:
        raise ChannelError(f"no notifier for channel kind {kind!r}")
    await notifier(notification, channel, session, now_ms=now_ms)
