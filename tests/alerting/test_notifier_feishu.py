"""Feishu bot against a real local server that checks the signature as Feishu does."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from typing import Any

import pytest
from aiohttp import web

from alerting.notification import Notification, Status, headline, render_text
from alerting.notifiers import feishu
from alerting.notifiers.errors import DeliveryError
from slaguard.config.schema import FeishuChannel
from tests.alerting.conftest import NOW_MS, Receiver

SECRET = "SECthis-is-a-test-secret"


def feishu_accepts(secret: str, timestamp: str, sign: str, now_s: int) -> bool:
    """The bot's check, written independently of ``feishu.sign``: HMAC of the empty string."""
    if abs(now_s - int(timestamp)) > 3600:
        return False
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(mac).decode(), sign)


def channel(receiver: Receiver, **extra: Any) -> FeishuChannel:
    return FeishuChannel(kind="feishu", url=receiver.url("/open-apis/bot/v2/hook/h00k"),
                         **extra)


def ok() -> web.Response:
    return web.json_response({"code": 0, "data": {}, "msg": "success"})


async def test_signed_card(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    await feishu.send(notification, channel(receiver, secret=SECRET), now_ms=NOW_MS)
    doc = receiver.last.json()
    assert receiver.last.path == "/open-apis/bot/v2/hook/h00k"
    # The notes' second vector: timestamp as a string, in the body.
    assert doc["timestamp"] == "1700000000"
    assert doc["sign"] == "gdeBDn0ZZt7Fp6HbHty8qc7nHdERFc/VAB8yTK7p9FY="
    assert feishu_accepts(SECRET, doc["timestamp"], doc["sign"], now_s=1700000000)
    assert doc["msg_type"] == "interactive"
    card = doc["card"]
    assert card["header"] == {"template": "red",
                              "title": {"tag": "plain_text", "content": headline(notification)}}
    text = card["elements"][0]["text"]
    assert text["tag"] == "lark_md"
    assert text["content"].startswith("3/3 个地点确认故障 confirmed down from 3/3 locations\n\n"
                                      "**优先级 Priority**: P1 紧急问题 (Critical)\n")
    assert card["elements"][1] == {"tag": "action", "actions": [{
        "tag": "button", "type": "primary", "url": "https://slaguard.example.com/api/v1/incidents/INC-42",
        "text": {"tag": "plain_text", "content": "查看详情 View incident"}}]}


async def test_text_unsigned(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    await feishu.send(notification, channel(receiver, format="text"), now_ms=NOW_MS)
    assert receiver.last.json() == {"msg_type": "text",
                                    "content": {"text": render_text(notification)}}


async def test_resolved_card_is_green(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    n = dataclasses.replace(notification, status=Status.RESOLVED, url=None)
    await feishu.send(n, channel(receiver), now_ms=NOW_MS)
    card = receiver.last.json()["card"]
    assert card["header"]["template"] == "green" and len(card["elements"]) == 1


async def test_old_style_reply_accepted(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = lambda: web.json_response(
        {"Extra": None, "StatusCode": 0, "StatusMessage": "success"})
    await feishu.send(notification, channel(receiver), now_ms=NOW_MS)


@pytest.mark.parametrize("code, retryable", [(11232, True), (19021, False), (19024, False),
                                             (19036, False)])
async def test_code(receiver: Receiver, notification: Notification, code: int,
                    retryable: bool) -> None:
    receiver.respond = lambda: web.json_response({"code": code, "data": {}, "msg": "nope"})
    with pytest.raises(DeliveryError, match=f"error {code} nope") as info:
        await feishu.send(notification, channel(receiver, secret=SECRET), now_ms=NOW_MS)
    assert (info.value.code, info.value.retryable) == (code, retryable)
