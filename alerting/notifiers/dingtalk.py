"""DingTalk custom robot (自定义机器人): a markdown message, 加签 when a secret is set.

Signing (timonwong/prometheus-webhook-dingtalk ``notifier/notification.go``):
``sign = URL-encode(Base64(HMAC-SHA256(key=secret, msg="<ts_ms>\\n<secret>")))``,
appended as ``&timestamp=<ts_ms>&sign=<sign>``.  The URL is built already
encoded and handed to aiohttp as such: encoding the sign twice is the classic
``310000 sign not match``.  DingTalk answers HTTP 200 on errors; ``errcode``
decides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from yarl import URL

from alerting.notification import Notification, headline, render_markdown, truncate_utf8
from alerting.notifiers._http import check_vendor_code, json_bytes, post, resolve_now_ms
from alerting.notifiers.errors import redact_url
from slaguard.config.schema import DingTalkChannel

# The body may be 20000 bytes (460101); leave room for the JSON around the text.
MAX_TEXT_BYTES = 18_000
# 130101: more than 20 messages a minute; -1: 系统繁忙 (system busy).
RETRYABLE_CODES = frozenset({130101, -1})


def sign(secret: str, timestamp_ms: int) -> str:
    """Base64 HMAC-SHA256, not yet URL-encoded."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str, secret: str | None, timestamp_ms: int) -> URL:
    if not secret:
        return URL(url)
    base = str(URL(url))  # normalised and percent-encoded once
    separator = "&" if "?" in base else "?"
    query = f"timestamp={timestamp_ms}&sign={quote_plus(sign(secret, timestamp_ms))}"
    return URL(base + separator + query, encoded=True)


def payload(n: Notification) -> dict[str, Any]:
    return {
        "msgtype": "markdown",
        # `title` is what the conversation list and the phone banner show.
        "markdown": {
            "title": headline(n),
            "text": truncate_utf8(render_markdown(n), MAX_TEXT_BYTES),
        },
        "at": {"atMobiles": [], "isAtAll": False},
    }


async def send(
    notification: Notification,
    channel: DingTalkChannel,
    session: aiohttp.ClientSession | None = None,
    *,
    now_ms: int | None = None,
) -> None:
    where = f"dingtalk {redact_url(channel.url)}"
    url = signed_url(channel.url, channel.secret, resolve_now_ms(now_ms))
    reply = await post(session, url, json_bytes(payload(notification)), {}, where)
    reply.raise_for_status(where)
    check_vendor_code(reply.json(where), ("errcode",), where, RETRYABLE_CODES)
