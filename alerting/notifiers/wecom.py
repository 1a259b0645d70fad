"""WeCom (企业微信) group robot: a markdown message.

Not signed: the ``key`` in the URL is the credential, so errors name the URL
without its query.  WeCom answers HTTP 200 on errors; ``errcode`` decides.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from alerting.notification import Notification, Priority, render_markdown, truncate_utf8
from alerting.notifiers._http import check_vendor_code, json_bytes, post
from alerting.notifiers.errors import redact_url
from slaguard.config.schema import WeComChannel

# markdown.content is limited to 4096 bytes (40058), counted in UTF-8.
MAX_CONTENT_BYTES = 4096
# 45009: over the frequency limit (20 a minute); -1: system busy.
RETRYABLE_CODES = frozenset({45009, -1})


def _colour(n: Notification) -> str:
    # WeCom knows three font colours only: info (green), comment (grey), warning (orange).
    if n.status.ended:
        return "info"
    return "warning" if n.priority in (Priority.P1, Priority.P2) else "comment"


def payload(n: Notification) -> dict[str, Any]:
    banner = f'<font color="{_colour(n)}">{n.priority.label} · {n.status.label}</font>'
    content = truncate_utf8(f"{banner}\n{render_markdown(n)}", MAX_CONTENT_BYTES)
    return {"msgtype": "markdown", "markdown": {"content": content}}


async def send(
    notification: Notification,
    channel: WeComChannel,
    session: aiohttp.ClientSession | None = None,
    *,
    now_ms: int | None = None,  # unused: nothing is signed; kept for the one contract
) -> None:
    where = f"wecom {redact_url(channel.url)}"
    reply = await post(session, channel.url, json_bytes(payload(notification)), {}, where)
    reply.raise_for_status(where)
    check_vendor_code(reply.json(where), ("errcode",), where, RETRYABLE_CODES)
