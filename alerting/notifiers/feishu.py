"""Feishu/Lark custom bot: an interactive card or plain text (``channel.format``).

Signing (vendor guide "add custom bot"; nicholas-fedor/shoutrrr lark service):
``sign = Base64(HMAC-SHA256(key="<ts_s>\\n<secret>", msg=b""))`` - the key and
message are the other way round from DingTalk - and the body carries
``"timestamp": "<ts_s>"`` (a string) and ``"sign"``.  Feishu answers errors in
``code`` (older hooks: ``StatusCode``); 0 is success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import aiohttp

from alerting.notification import (
    Notification,
    Priority,
    action_rows,
    detail_rows,
    headline,
    render_text,
    truncate_utf8,
)
from alerting.notifiers._http import check_vendor_code, json_bytes, post, resolve_now_ms
from alerting.notifiers.errors import redact_url
from slaguard.config.schema import FeishuChannel

# The body may be 20 KB (19036 names 30 KB once); keep the content well below.
MAX_CONTENT_BYTES = 18_000
# 11232: over 5/s or 100/min per bot.
RETRYABLE_CODES = frozenset({11232})

_TEMPLATES = {Priority.P1: "red", Priority.P2: "orange", Priority.P3: "yellow", Priority.P4: "blue"}


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def _lark_md(n: Notification) -> str:
    lines = [n.summary, ""] if n.summary else []
    lines += [f"**{label}**: {value}" for label, value in detail_rows(n)]
    # Commands as code, so lark_md leaves their underscores and asterisks alone.
    lines += [f"**{label}**: `{value}`" for label, value in action_rows(n) if value != n.url]
    return truncate_utf8("\n".join(lines), MAX_CONTENT_BYTES)


def card(n: Notification) -> dict[str, Any]:
    template = "green" if n.status.ended else _TEMPLATES[n.priority]
    elements: list[dict[str, Any]] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": _lark_md(n)}},
    ]
    if n.url:
        elements.append({"tag": "action", "actions": [{
            "tag": "button", "type": "primary", "url": n.url,
            "text": {"tag": "plain_text", "content": "查看详情 View incident"},
        }]})
    return {
        "config": {"wide_screen_mode": True},
        "header": {"template": template, "title": {"tag": "plain_text", "content": headline(n)}},
        "elements": elements,
    }


def payload(n: Notification, fmt: str) -> dict[str, Any]:
    if fmt == "text":
        text = truncate_utf8(render_text(n), MAX_CONTENT_BYTES)
        return {"msg_type": "text", "content": {"text": text}}
    return {"msg_type": "interactive", "card": card(n)}


async def send(
    notification: Notification,
    channel: FeishuChannel,
    session: aiohttp.ClientSession | None = None,
    *,
    now_ms: int | None = None,
) -> None:
    where = f"feishu {redact_url(channel.url)}"
    body = payload(notification, channel.format)
    if channel.secret:
        timestamp_s = resolve_now_ms(now_ms) // 1000
        body = {"timestamp": str(timestamp_s), "sign": sign(channel.secret, timestamp_s), **body}
    reply = await post(session, channel.url, json_bytes(body), {}, where)
    reply.raise_for_status(where)
    check_vendor_code(reply.json(where), ("code", "StatusCode"), where, RETRYABLE_CODES,
                      message_keys=("msg", "StatusMessage"))
