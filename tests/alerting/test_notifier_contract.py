"""One suite run on every notifier: what the outbox relies on, whatever the kind."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import TypeAdapter

from alerting.notification import Notification, Status
from alerting.notifiers import _http, send
from alerting.notifiers import email as email_notifier
from alerting.notifiers.errors import DeliveryError
from slaguard.config.schema import CHANNEL_KINDS, Channel
from tests.alerting.conftest import ACK_API, ACK_COMMAND, NOW_MS, Receiver
from tests.conftest import check_golden

HTTP_KINDS = [k for k in CHANNEL_KINDS if k != "email"]
CHANNEL = TypeAdapter(Channel)


def make_channel(kind: str, base_url: str) -> Any:
    """A channel as the config loader would build it, pointing at ``base_url``."""
    if kind == "email":
        host, _, port = base_url.removeprefix("smtp://").partition(":")
        return CHANNEL.validate_python({"kind": "email", "smtp": f"{host}:{port}",
                                        "security": "none", "from": "slaguard@example.com",
                                        "to": ["oncall@example.com"]})
    secret = {"webhook": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "dingtalk": "SECx",
              "feishu": "SECx"}.get(kind)
    doc = {"kind": kind, "url": f"{base_url}/{kind}?token=t"}
    if secret:
        doc["secret"] = secret
    return CHANNEL.validate_python(doc)


def vendor_ok(kind: str) -> web.Response:
    body = {"dingtalk": {"errcode": 0, "errmsg": "ok"}, "wecom": {"errcode": 0, "errmsg": "ok"},
            "feishu": {"code": 0, "msg": "success"}}.get(kind)
    return web.json_response(body) if body else web.Response(status=200)


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_delivers_with_and_without_a_session(
    kind: str, receiver: Receiver, session: aiohttp.ClientSession, notification: Notification
) -> None:
    receiver.respond = lambda: vendor_ok(kind)
    ch = make_channel(kind, receiver.base_url)
    await send(notification, ch, session, now_ms=NOW_MS)
    await send(notification, ch, now_ms=NOW_MS)  # opens and closes its own session
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert not session.closed


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
async def test_refused_connection_is_retryable(
    kind: str, free_port: int, notification: Notification
) -> None:
    scheme = "smtp" if kind == "email" else "http"
    with pytest.raises(DeliveryError) as info:
        await send(notification, make_channel(kind, f"{scheme}://127.0.0.1:{free_port}"),
                   now_ms=NOW_MS)
    assert info.value.retryable
    assert isinstance(info.value.__cause__, OSError)
    assert "token=t" not in str(info.value)


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("status, retryable", [(500, True), (400, False)])
async def test_http_status(kind: str, status: int, retryable: bool, receiver: Receiver,
                           notification: Notification) -> None:
    receiver.respond = lambda: web.Response(status=status, text="boom")
    with pytest.raises(DeliveryError) as info:
        await send(notification, make_channel(kind, receiver.base_url), now_ms=NOW_MS)
    assert (info.value.status, info.value.retryable) == (status, retryable)


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_timeout_is_retryable(kind: str, aiohttp_server: Any, notification: Notification,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", slow)
    server = await aiohttp_server(app, host="127.0.0.1")
    monkeypatch.setattr(_http, "TIMEOUT", aiohttp.ClientTimeout(total=0.2))
    with pytest.raises(DeliveryError, match="timed out") as info:
        await send(notification, make_channel(kind, str(server.make_url("")).rstrip("/")),
                   now_ms=NOW_MS)
    assert info.value.retryable


# -- what on-call needs to act, whatever the kind ------------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "notifications"


def strings(doc: Any) -> list[str]:
    """Every string in a JSON document, keys excepted."""
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in strings(v)]
    return []


async def shown(kind: str, n: Notification, receiver: Receiver) -> tuple[str, str]:
    """(what a person reads, the golden rendering) of ``n`` sent through ``kind``."""
    if kind == "email":  # rendered as it goes out; SMTP itself: test_notifier_email
        msg = email_notifier.build_message(n, make_channel(kind, "smtp://127.0.0.1:25"), NOW_MS)
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        page = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        return f"{text}\n{html.unescape(page)}", f"{text}\n----\n{page}\n"
    receiver.respond = lambda: vendor_ok(kind)
    await send(n, make_channel(kind, receiver.base_url), now_ms=NOW_MS)
    doc = receiver.last.json()
    return "\n".join(strings(doc)), json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
async def test_every_kind_links_the_incident_and_says_how_to_acknowledge(
        kind: str, receiver: Receiver, notification: Notification, update_golden: bool) -> None:
    read, golden = await shown(kind, notification, receiver)
    assert notification.url and notification.url in read
    assert ACK_COMMAND in read and ACK_API in read
    check_golden(GOLDEN / f"{kind}.txt", golden, update_golden)


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
async def test_every_kind_tells_a_restoration_as_over(kind: str, receiver: Receiver,
                                                      notification: Notification) -> None:
    ended = datetime(2023, 11, 14, 22, 10, tzinfo=UTC)
    n = dataclasses.replace(notification, status=Status.RESTORED, ended_at=ended)
    read, _ = await shown(kind, n, receiver)
    if kind != "alertmanager":  # Alertmanager's own templates render its alerts
        assert "已恢复 Restored" in read and "结束 Ended" in read
        assert "2023-11-15 06:10:00 +08:00" in read
    assert ACK_COMMAND in read  # restored, not resolved: the response may still be owed
    doc: Any = receiver.last.json() if kind != "email" else None
    if kind == "alertmanager":
        assert doc[0]["endsAt"] == "2023-11-14T22:10:00.000Z"  # the alert ends with it
        assert doc[0]["annotations"]["status"] == "restored"
    elif kind == "feishu":
        assert doc["card"]["header"]["template"] == "green"
    elif kind == "wecom":
        assert doc["markdown"]["content"].startswith('<font color="info">')
    elif kind == "webhook":
        assert doc["type"] == "incident.restored"
    elif kind == "email":
        assert "#2e7d32" in read
