"""Alertmanager: ``POST /api/v2/alerts`` with one alert per notification.

The alert's identity is its label set, so labels hold only what is stable for
the incident (alertname, service, severity, incident, rule and the
incident's own labels); status and escalation go to annotations, or a resolve
would not match the alert it ends.  Re-posting is idempotent.

Alertmanager resolves an alert by itself at ``endsAt``.  A firing alert gets
``endsAt = now + 4 min`` (Prometheus: 4 x max(eval, 60 s)), so the caller must
re-send it every minute while the incident is open, as Prometheus does; a
restored or resolved one gets ``endsAt = ended_at`` (or now).  How to
acknowledge travels in the annotations ``acknowledge`` and ``acknowledge_api``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from alerting.notification import Notification, render_text, rfc3339
from alerting.notifiers._http import json_bytes, post, resolve_now_ms
from alerting.notifiers.errors import redact_url
from slaguard.config.schema import AlertmanagerChannel

API_PATH = "/api/v2/alerts"
FIRING_TTL = timedelta(minutes=4)
_BAD_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def alerts_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(API_PATH) else base + API_PATH


def label_name(name: str) -> str:
    """A valid Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``); AM answers 400 otherwise."""
    cleaned = _BAD_LABEL_CHARS.sub("_", name)
    return f"_{cleaned}" if cleaned[:1].isdigit() or not cleaned else cleaned


def alertname(rule: str | None) -> str:
    """``confirmed_outage`` → ``SlaguardConfirmedOutage``, as our exported rules name alerts."""
    if not rule:
        return "SlaguardIncident"
    return "Slaguard" + "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", rule))


def labels(n: Notification) -> dict[str, str]:
    out = {label_name(k): v for k, v in n.labels.items() if v}
    # Ours win: routing and inhibition depend on them.
    out.update(alertname=alertname(n.rule), service=n.service, severity=n.priority.value,
               incident=n.incident_id)
    if n.rule:
        out["rule"] = n.rule
    return out


def alert(n: Notification, now_ms: int) -> dict[str, Any]:
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    ends = (n.ended_at or now) if n.status.ended else now + FIRING_TTL
    doc: dict[str, Any] = {
        "labels": labels(n),
        "annotations": {
            "summary": n.title,
            "description": n.summary or render_text(n),
            "priority": n.priority.label,
            "status": n.status.value,
            "escalation_level": str(n.escalation_level),
        },
        "startsAt": rfc3339(n.started_at),
        "endsAt": rfc3339(max(ends, n.started_at)),  # AM rejects start after end (400)
    }
    if n.escalation_step:
        doc["annotations"]["escalation_step"] = n.escalation_step
    if n.ack_command:
        doc["annotations"]["acknowledge"] = n.ack_command
    if n.ack_api:
        doc["annotations"]["acknowledge_api"] = n.ack_api
    if n.restore_after_s is not None:
        doc["annotations"]["restore_after_seconds"] = str(n.restore_after_s)
    if n.auto_resolve_after_s is not None:
        doc["annotations"]["auto_resolve_after_seconds"] = str(n.auto_resolve_after_s)
    if n.url and _is_absolute(n.url):
        doc["generatorURL"] = n.url
    elif n.url:
        # AM answers 422 to a generatorURL it cannot parse as a URI; a page must
        # not be dead-lettered over a link, so it travels as an annotation.
        doc["annotations"]["url"] = n.url
    return doc


def _is_absolute(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


async def send(
    notification: Notification,
    channel: AlertmanagerChannel,
    session: aiohttp.ClientSession | None = None,
    *,
    now_ms: int | None = None,
) -> None:
    url = alerts_url(channel.url)
    where = f"alertmanager {redact_url(url)}"
    body = json_bytes([alert(notification, resolve_now_ms(now_ms))])
    reply = await post(session, url, body, {}, where)
    reply.raise_for_status(where)
