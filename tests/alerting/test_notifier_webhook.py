"""Generic webhook against a real local server, signature verified as a receiver would."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from alerting.notification import Notification, headline, render_text
from alerting.notifiers import webhook
from alerting.notifiers.errors import ChannelError, DeliveryError
from slaguard.config.schema import WebhookChannel
from tests.alerting.conftest import NOW_MS, Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def verify_standard_webhook(secret: str, headers: Mapping[str, str], body: bytes,
                            now_s: int, tolerance_s: int = 300) -> bool:
    """What a Standard Webhooks receiver does, written independently of ``webhook.sign``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now_s - int(ts)) > tolerance_s:
        return False
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    offered = [s.partition(",")[2] for s in headers["webhook-signature"].split(" ")
               if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, s) for s in offered)


def channel(receiver: Receiver, **extra: Any) -> WebhookChannel:
    return WebhookChannel(kind="webhook", url=receiver.url("/hooks/sms?route=a"), **extra)


async def test_signed_post(receiver: Receiver, session: aiohttp.ClientSession,
                           notification: Notification) -> None:
    ch = channel(receiver, secret=SECRET, headers={"Authorization": "Bearer t0k",
                                                   "Webhook-Id": "not-mine"})
    await webhook.send(notification, ch, session, now_ms=NOW_MS)

    got = receiver.last
    assert (got.method, got.path, got.raw_query) == ("POST", "/hooks/sms", "route=a")
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert got.headers["Authorization"] == "Bearer t0k"
    # The configured header cannot replace the idempotency key.
    assert got.headers.getall("webhook-id") == [notification.idempotency_key]
    assert got.headers["Idempotency-Key"] == notification.idempotency_key
    assert got.headers["webhook-timestamp"] == "1700000000"
    assert verify_standard_webhook(SECRET, got.headers, got.body, now_s=1700000000)
    assert not verify_standard_webhook(SECRET, got.headers, got.body + b" ", now_s=1700000000)
    assert "核心服务".encode() in got.body  # UTF-8, not \\u escapes
    assert got.json() == {
        "type": "incident.firing",
        "timestamp": "2023-11-14T22:13:20.000Z",
        "data": {
            "incident_id": "INC-42",
            "idempotency_key": "msg_INC-42.firing.1.oncall",
            "priority": "P1",
            "priority_name": {"zh": "紧急问题", "en": "Critical"},
            "status": "firing",
            "title": "核心服务不可用 Core service down",
            "summary": "3/3 个地点确认故障 confirmed down from 3/3 locations",
            "service": "core",
            "started_at": "2023-11-14T22:00:00+00:00",
            "ended_at": None,
            "escalation_level": 0,
            "escalation_step": None,
            "rule": "confirmed_outage",
            "labels": {"target": "web-home"},
            "url": "https://slaguard.example.com/api/v1/incidents/INC-42",
            "timezone": "Asia/Shanghai",
            "ack_command": notification.ack_command,
            "ack_api": notification.ack_api,
            "restore_after_s": 300,
            "auto_resolve_after_s": 3600,
            "headline": headline(notification),
            "text": render_text(notification),
        },
    }


async def test_unsigned_still_carries_the_id(receiver: Receiver,
                                              notification: Notification) -> None:
    await webhook.send(notification, channel(receiver), now_ms=NOW_MS)  # own session
    await webhook.send(notification, channel(receiver), now_ms=NOW_MS + 5000)  # a retry
    first, retry = receiver.requests
    assert "webhook-signature" not in first.headers
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert retry.headers["webhook-timestamp"] == "1700000005"


async def test_bad_secret_fails_before_sending(receiver: Receiver,
                                               notification: Notification) -> None:
    with pytest.raises(ChannelError):
        await webhook.send(notification, channel(receiver, secret="whsec_!!"), now_ms=NOW_MS)
    assert receiver.requests == []


@pytest.mark.parametrize(
    "status, headers, retryable, retry_after",
    [(500, {}, True, None), (503, {"Retry-After": "7"}, True, 7.0), (429, {}, True, None),
     (400, {}, False, None), (404, {}, False, None)],
)
async def test_status_mapping(receiver: Receiver, notification: Notification, status: int,
                              headers: dict[str, str], retryable: bool,
                              retry_after: float | None) -> None:
    receiver.respond = lambda: web.Response(status=status, text="nope", headers=headers)
    with pytest.raises(DeliveryError) as info:
        await webhook.send(notification, channel(receiver), now_ms=NOW_MS)
    err = info.value
    assert (err.status, err.retryable, err.retry_after) == (status, retryable, retry_after)
    assert "HTTP" in str(err) and "nope" in str(err)


async def test_redirect_is_not_followed(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = lambda: web.Response(status=302, headers={"Location": "/elsewhere"})
    with pytest.raises(DeliveryError) as info:
        await webhook.send(notification, channel(receiver), now_ms=NOW_MS)
    assert (info.value.status, info.value.retryable) == (302, False)
    assert len(receiver.requests) == 1
