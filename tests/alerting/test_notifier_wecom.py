"""WeCom robot against a real local server."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp import web

from alerting.notification import Notification, Status, render_markdown
from alerting.notifiers import wecom
from alerting.notifiers.errors import DeliveryError
from slaguard.config.schema import WeComChannel
from tests.alerting.conftest import NOW_MS, Receiver


def channel(receiver: Receiver) -> WeComChannel:
    return WeComChannel(kind="wecom", url=receiver.url("/cgi-bin/webhook/send?key=KEY-693a"))


def ok() -> web.Response:
    return web.json_response({"errcode": 0, "errmsg": "ok"})


async def test_markdown(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    await wecom.send(notification, channel(receiver), now_ms=NOW_MS)
    got = receiver.last
    assert (got.path, got.raw_query) == ("/cgi-bin/webhook/send", "key=KEY-693a")
    assert "webhook-signature" not in got.headers
    assert got.json() == {"msgtype": "markdown", "markdown": {"content": (
        '<font color="warning">P1 紧急问题 (Critical) · 告警 Firing</font>\n'
        + render_markdown(notification))}}


async def test_resolved_is_green(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    await wecom.send(dataclasses.replace(notification, status=Status.RESOLVED),
                     channel(receiver), now_ms=NOW_MS)
    assert receiver.last.json()["markdown"]["content"].startswith('<font color="info">')


async def test_content_fits_4096_bytes(receiver: Receiver, notification: Notification) -> None:
    receiver.respond = ok
    await wecom.send(dataclasses.replace(notification, summary="中" * 3000), channel(receiver))
    content = receiver.last.json()["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("…")


@pytest.mark.parametrize("errcode, retryable", [(45009, True), (-1, True), (40058, False),
                                                (93000, False)])
async def test_errcode(receiver: Receiver, notification: Notification, errcode: int,
                       retryable: bool) -> None:
    receiver.respond = lambda: web.json_response({"errcode": errcode, "errmsg": "nope"})
    with pytest.raises(DeliveryError) as info:
        await wecom.send(notification, channel(receiver), now_ms=NOW_MS)
    assert (info.value.code, info.value.retryable) == (errcode, retryable)
    assert "KEY-693a" not in str(info.value)  # the key is the credential
