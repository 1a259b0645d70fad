"""The registry against the config schema, the one contract, the shipped double."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

import alerting.notifiers as notifiers
from alerting.notification import Notification
from alerting.notifiers import NOTIFIERS, DeliveryError, RecordingNotifier, send
from alerting.notifiers.errors import ChannelError
from slaguard.config.schema import CHANNEL_KINDS, Channel, WebhookChannel


def test_registry_covers_every_channel_kind() -> None:
    assert set(NOTIFIERS) == set(CHANNEL_KINDS)


def test_registry_matches_the_schema_union() -> None:
    # CHANNEL_KINDS is itself a hand-kept list: check it against the union too.
    union = Channel.__origin__.__args__  # type: ignore[attr-defined]
    kinds = {model.model_fields["kind"].annotation.__args__[0] for model in union}
    assert kinds == set(NOTIFIERS)


def test_one_contract_for_every_kind() -> None:
    def shape(fn: object) -> list[tuple[str, object, object]]:
        sig = inspect.signature(fn)  # type: ignore[arg-type]
        return [(p.name, p.kind, p.default) for p in sig.parameters.values()]

    expected = shape(notifiers.SendFn.__call__)[1:]  # without self
    for kind, fn in NOTIFIERS.items():
        assert inspect.iscoroutinefunction(fn), kind
        assert shape(fn) == expected, kind
    assert shape(RecordingNotifier().__call__) == expected


def test_public_names() -> None:
    assert set(notifiers.__all__) == {
        "NOTIFIERS", "Attempt", "ChannelError", "DeliveryError", "NotifierError",
        "RecordingNotifier", "SendFn", "send",
    }
    for name in notifiers.__all__:
        assert hasattr(notifiers, name)


async def test_recording_notifier_fails_then_records(notification: Notification) -> None:
    rec = RecordingNotifier(fail_times=2)
    channel = WebhookChannel(kind="webhook", url="https://example.invalid/")
    for _ in range(2):
        with pytest.raises(DeliveryError) as info:
            await rec(notification, channel, now_ms=1)
        assert info.value.retryable
    await rec(notification, channel, now_ms=2)
    assert rec.sent == [notification]
    assert rec.keys == [notification.idempotency_key]
    assert [a.error is None for a in rec.attempts] == [False, False, True]
    rec.fail_next(1, retryable=False)
    with pytest.raises(DeliveryError) as info:
        await rec(notification, channel)
    assert not info.value.retryable


async def test_dispatch_by_kind(notification: Notification) -> None:
    rec = RecordingNotifier()
    channel = WebhookChannel(kind="webhook", url="https://example.invalid/")
    await send(notification, channel, now_ms=5, notifiers={"webhook": rec})
    assert rec.attempts[0].channel is channel and rec.attempts[0].now_ms == 5
    with pytest.raises(ChannelError, match="pager"):
        await send(notification, SimpleNamespace(kind="pager"), notifiers={"webhook": rec})
    with pytest.raises(ChannelError, match="None"):
        await send(notification, object(), notifiers={"webhook": rec})
