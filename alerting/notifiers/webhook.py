"""Generic webhook: a JSON POST, signed as Standard Webhooks when a secret is set.

Headers (standard-webhooks/standard-webhooks ``spec/standard-webhooks.md``):
``webhook-id`` is the idempotency key, the same on every retry, so receivers
dedupe by it; ``webhook-timestamp`` is epoch seconds; ``webhook-signature`` is
``v1,<Base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>``.  The key is the
Base64-decoded secret after an optional ``whsec_`` prefix, as the standard's
reference libraries read it.  ``Idempotency-Key`` repeats the id for receivers
that follow the IETF idempotency-key draft instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import aiohttp

from alerting.notification import Notification, headline, render_text, rfc3339
from alerting.notifiers._http import json_bytes, post, resolve_now_ms
from alerting.notifiers.errors import ChannelError, redact_url
from slaguard.config.schema import WebhookChannel

SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ChannelError(
            "webhook secret must be Base64, optionally prefixed with whsec_ "
            "(Standard Webhooks)"
        ) from None


def sign(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>``."""
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def payload(n: Notification, now_ms: int) -> dict[str, Any]:
    """Standard Webhooks envelope: ``type``, ``timestamp``, ``data``."""
    sent_at = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    data = n.to_dict()
    data.update(
        priority_name={"zh": n.priority.zh, "en": n.priority.en},
        headline=headline(n),
        text=render_text(n),
    )
    return {"type": f"incident.{n.status.value}", "timestamp": rfc3339(sent_at), "data": data}


def headers(n: Notification, channel: WebhookChannel, body: bytes, now_ms: int) -> dict[str, str]:
    timestamp_s = now_ms // 1000
    # Lower-cased so a configured "Content-Type" replaces ours instead of doubling it.
    out = {k.lower(): v for k, v in channel.headers.items()}
    # Ours come last: a configured header must not override the idempotency
    # key or the signature the receiver verifies.
    out["webhook-id"] = n.idempotency_key
    out["webhook-timestamp"] = str(timestamp_s)
    out["idempotency-key"] = n.idempotency_key
    if channel.secret:
        out["webhook-signature"] = sign(channel.secret, n.idempotency_key, timestamp_s, body)
    return out


async def send(
    notification: Notification,
    channel: WebhookChannel,
    session: aiohttp.ClientSession | None = None,
    *,
    now_ms: int | None = None,
) -> None:
    now = resolve_now_ms(now_ms)
    body = json_bytes(payload(notification, now))
    where = f"webhook {redact_url(channel.url)}"
    reply = await post(session, channel.url, body, headers(notification, channel, body, now), where)
    reply.raise_for_status(where)
