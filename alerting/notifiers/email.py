"""Email over SMTP: multipart text + HTML, UTF-8 headers, one Message-ID per key.

stdlib ``smtplib`` runs in a worker thread (``asyncio.to_thread``): no extra
runtime dependency, and one slow SMTP server blocks a thread, not the loop.

``security``: ``ssl`` is implicit TLS (port 465), ``starttls`` upgrades a plain
connection and refuses to go on without it, ``none`` is for local test servers.
Unset, port 465 means ``ssl`` and any other port ``starttls``.  Certificates
are verified against the system store (``SSL_CERT_FILE`` adds a private CA).

``Message-ID`` is derived from the idempotency key, so a retry that reaches
the mailbox twice is recognisably the same message; ``In-Reply-To`` and
``References`` point at a synthetic root per incident so mail clients thread
an incident's messages (as Alertmanager v0.30 does).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal

import aiohttp

from alerting.notification import (
    Notification,
    Priority,
    action_rows,
    detail_rows,
    headline,
    render_text,
)
from alerting.notifiers._http import resolve_now_ms
from alerting.notifiers.errors import ChannelError, DeliveryError, mapped_errors
from slaguard.config.schema import EmailChannel

Security = Literal["ssl", "starttls", "none"]
TIMEOUT_S = 20.0
IMPLICIT_TLS_PORT = 465


def host_port(channel: EmailChannel) -> tuple[str, int]:
    host, _, port = channel.smtp.rpartition(":")
    return host, int(port)


def security(channel: EmailChannel) -> Security:
    if channel.security is not None:
        return channel.security
    return "ssl" if host_port(channel)[1] == IMPLICIT_TLS_PORT else "starttls"


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip("> ") or "slaguard.invalid"


def _msg_id(seed: str, domain: str) -> str:
    # Hashed: an idempotency key may hold characters a Message-ID may not.
    return f"<slaguard.{hashlib.sha256(seed.encode()).hexdigest()[:40]}@{domain}>"


def message_id(n: Notification, sender: str) -> str:
    return _msg_id(f"notification:{n.idempotency_key}", _domain(sender))


def thread_root_id(n: Notification, sender: str) -> str:
    return _msg_id(f"incident:{n.incident_id}", _domain(sender))


def render_html(n: Notification) -> str:
    esc = html.escape
    colour = "#2e7d32" if n.status.ended else {
        Priority.P1: "#c62828", Priority.P2: "#ef6c00", Priority.P3: "#f9a825",
        Priority.P4: "#1565c0"}[n.priority]
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{esc(label)}</th>'
        f"<td>{esc(value)}</td></tr>"
        for label, value in detail_rows(n)
    )
    summary = f"<p>{esc(n.summary)}</p>" if n.summary else ""
    link = f'<p><a href="{esc(n.url)}">查看详情 View incident</a></p>' if n.url else ""
    actions = "".join(
        f'<p>{esc(label)}:<br><code style="user-select:all">{esc(value)}</code></p>'
        for label, value in action_rows(n) if value != n.url
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        f'<h2 style="color:{colour}">{esc(headline(n))}</h2>{summary}'
        f"<table>{rows}</table>{link}{actions}</body></html>"
    )


def build_message(n: Notification, channel: EmailChannel, now_ms: int) -> EmailMessage:
    msg = EmailMessage()  # policy.default: non-ASCII headers become RFC 2047 words
    msg["Subject"] = headline(n)
    msg["From"] = formataddr(("slaguard", channel.from_))
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = format_datetime(datetime.fromtimestamp(now_ms / 1000, tz=UTC))
    msg["Message-ID"] = message_id(n, channel.from_)
    root = thread_root_id(n, channel.from_)
    msg["In-Reply-To"] = root
    msg["References"] = root
    msg["X-Slaguard-Incident"] = n.incident_id
    msg["X-Slaguard-Priority"] = n.priority.value
    msg["X-Slaguard-Idempotency-Key"] = n.idempotency_key
    if n.priority in (Priority.P1, Priority.P2) and not n.status.ended:
        msg["Importance"] = "high"
        msg["X-Priority"] = "1"
    msg.set_content(render_text(n))
    msg.add_alternative(render_html(n), subtype="html")
    return msg


def _connect(channel: EmailChannel, mode: Security) -> smtplib.SMTP:
    host, port = host_port(channel)
    if mode == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S,
                                context=ssl.create_default_context())
    smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
    try:
        if mode == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                # Never fall back to plain text with a password in it.
                raise ChannelError(f"email {host}:{port}: server does not offer STARTTLS")
            smtp.starttls(context=ssl.create_default_context())
    except BaseException:
        smtp.close()
        raise
    return smtp


def _deliver(msg: EmailMessage, channel: EmailChannel) -> None:
    """Blocking: runs in a worker thread."""
    with _connect(channel, security(channel)) as smtp:
        if channel.username:
            smtp.login(channel.username, channel.password or "")
        refused = smtp.send_message(msg, from_addr=channel.from_, to_addrs=channel.to)
    if refused:
        # Some recipients took it: a retry would send them a duplicate, so it is
        # only worth one when every refusal was temporary.
        codes = [code for code, _ in refused.values()]
        raise DeliveryError(
            f"email: recipients refused: {', '.join(sorted(refused))}",
            retryable=all(400 <= c < 500 for c in codes), status=min(codes),
        )


async def send(
    notification: Notification,
    channel: EmailChannel,
    session: aiohttp.ClientSession | None = None,  # unused: SMTP; kept for the one contract
    *,
    now_ms: int | None = None,
) -> None:
    msg = build_message(notification, channel, resolve_now_ms(now_ms))
    with mapped_errors(f"email smtp {channel.smtp}"):
        await asyncio.to_thread(_deliver, msg, channel)
