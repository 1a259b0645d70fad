"""DingTalk robot against a real local server that checks 加签 as DingTalk does."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json

import pytest
from aiohttp import web

from alerting.notification import Notification, headline, render_markdown
from alerting.notifiers import dingtalk
from alerting.notifiers.errors import DeliveryError
from slaguard.config.schema import DingTalkChannel
from tests.alerting.conftest import NOW_MS, Receiver

SECRET = "SECthis-is-a-test-secret"


def dingtalk_accepts(secret: str, timestamp: str, sign: str, now_ms: int) -> bool:
    """The robot's check, written independently of ``dingtalk.sign``."""
    if abs(now_ms - int(timestamp)) > 3600_000:
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(mac).decode(), sign)


def channel(receiver: Receiver, secret: str | None = SECRET) -> DingTalkChannel:
    return DingTalkChannel(kind="dingtalk", url=receiver.url("/robot/send?access_token=tok123"),
                           secret=secret)


def answer(errcode: int, errmsg: str = "") -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


async def test_signed_markdown(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = lambda: answer(0, "ok")
    await dingtalk.send(notification, channel(receiver), now_ms=NOW_MS)

    got = receiver.last
    assert (got.method, got.path) == ("POST", "/robot/send")
    # The notes' first vector, on the wire, encoded exactly once.
    assert got.raw_query == ("access_token=tok123&timestamp=1700000000000"
                             "&sign=IRZT287QybIa2F%2FxrEkTcyuBS3Hp0ycAceupV5IhA5s%3D")
    assert dingtalk_accepts(SECRET, got.query["timestamp"], got.query["sign"], NOW_MS)
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert got.json() == {
        "msgtype": "markdown",
        "markdown": {"title": headline(notification), "text": render_markdown(notification)},
        "at": {"atMobiles": [], "isAtAll": False},
    }


async def test_unsigned(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = lambda: answer(0, "ok")
    await dingtalk.send(notification, channel(receiver, secret=None), now_ms=NOW_MS)
    assert receiver.last.raw_query == "access_token=tok123"


async def test_long_text_fits_the_body_limit(receiver: Receiver,
                                             notification: Notification) -> None:
    receiver.respond = lambda: answer(0, "ok")
    long = dataclasses.replace(notification, summary="故障" * 10_000)  # 60 000 bytes
    await dingtalk.send(long, channel(receiver), now_ms=NOW_MS)
    assert len(receiver.last.body) <= 20_000
    assert receiver.last.json()["markdown"]["text"].endswith("…")


@pytest.mark.parametrize(
    "errcode, retryable",
    [(130101, True), (-1, True), (310000, False), (300001, False), (460101, False)],
)
async def test_errcode(receiver: Receiver, notification: Notification, errcode: int,
                       retryable: bool) -> None:
    receiver.respond = lambda: answer(errcode, "send too fast" if errcode == 130101 else "bad")
    with pytest.raises(DeliveryError) as info:
        await dingtalk.send(notification, channel(receiver), now_ms=NOW_MS)
    assert (info.value.code, info.value.retryable) == (errcode, retryable)
    assert "tok123" not in str(info.value)  # the access token is the credential


async def test_reply_that_is_not_json(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = lambda: web.Response(text="<html>portal</html>", content_type="text/html")
    with pytest.raises(DeliveryError, match="not JSON") as info:
        await dingtalk.send(notification, channel(receiver), now_ms=NOW_MS)
    assert not info.value.retryable


async def test_reply_without_errcode(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = lambda: web.Response(text=json.dumps({"ok": True}))
    with pytest.raises(DeliveryError, match="errcode") as info:
        await dingtalk.send(notification, channel(receiver), now_ms=NOW_MS)
    assert not info.value.retryable
