"""Email against a real local SMTP server (aiosmtpd), plain, STARTTLS and implicit TLS."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.conftest import REQUIRE_INTEGRATION

try:  # a test-only dependency: skip without it, but never silently in CI
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, Envelope, Session
except ImportError:  # pragma: no cover
    if REQUIRE_INTEGRATION:
        raise
    pytest.skip("aiosmtpd not installed (pip install aiosmtpd)", allow_module_level=True)

from alerting.notification import Notification, Status, render_text
from alerting.notifiers import email as email_notifier
from alerting.notifiers.errors import ChannelError, DeliveryError
from slaguard.config.schema import EmailChannel
from tests.alerting.conftest import NOW_MS


class Mailbox:
    """aiosmtpd handler: keeps what arrives; refuses addresses that say so."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "452 4.2.2 mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    # A method, not a property: aiosmtpd inspects the handler's attributes.
    def last(self) -> tuple[Envelope, EmailMessage]:
        envelope = self.envelopes[-1]
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return envelope, msg


def _authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (auth_data.login, auth_data.password) == (b"slaguard", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def trust_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the test CA the way an operator would trust a private one: SSL_CERT_FILE."""
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))


def _run(port: int, **smtp_options: Any) -> Iterator[tuple[Mailbox, Controller]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    try:
        yield box, controller
    finally:
        controller.stop()


@pytest.fixture
def plain_smtp(free_port: int) -> Iterator[tuple[Mailbox, Controller]]:
    yield from _run(free_port)


@pytest.fixture
def starttls_smtp(free_port: int, server_tls: ssl.SSLContext
                  ) -> Iterator[tuple[Mailbox, Controller]]:
    yield from _run(free_port, tls_context=server_tls, require_starttls=True,
                    authenticator=_authenticate, auth_required=True)


@pytest.fixture
def implicit_tls_smtp(free_port: int, server_tls: ssl.SSLContext
                      ) -> Iterator[tuple[Mailbox, Controller]]:
    yield from _run(free_port, ssl_context=server_tls)


def channel(port: int, security: str | None, **extra: Any) -> EmailChannel:
    return EmailChannel.model_validate({
        "kind": "email", "smtp": f"127.0.0.1:{port}", "security": security,
        "from": "slaguard@example.com", "to": ["oncall@example.com", "lead@example.com"],
        **extra,
    })


def assert_is_the_page(msg: EmailMessage, n: Notification) -> None:
    assert msg["Subject"] == (
        "[P1 紧急问题 Critical] 告警 Firing · core: 核心服务不可用 Core service down")
    assert msg["To"] == "oncall@example.com, lead@example.com"
    assert msg["From"] == "slaguard <slaguard@example.com>"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().rstrip("\n") == render_text(n)
    html_content = html.get_content()
    assert "<h2" in html_content and "核心服务不可用 Core service down" in html_content
    assert 'href="https://slaguard.example.com/api/v1/incidents/INC-42"' in html_content


async def test_plain_smtp(plain_smtp: tuple[Mailbox, Controller], notification: Notification
                          ) -> None:
    box, controller = plain_smtp
    await email_notifier.send(notification, channel(controller.port, "none"), now_ms=NOW_MS)
    envelope, msg = box.last()
    assert envelope.mail_from == "slaguard@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    assert_is_the_page(msg, notification)
    assert msg["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert msg["X-Slaguard-Incident"] == "INC-42"
    assert msg["Importance"] == "high"
    # The subject travels as RFC 2047 words, not raw UTF-8.
    assert isinstance(envelope.content, bytes)
    assert b"=?utf-8?" in envelope.content.split(b"\r\n\r\n")[0]


async def test_same_key_same_message_id(plain_smtp: tuple[Mailbox, Controller],
                                        notification: Notification) -> None:
    box, controller = plain_smtp
    ch = channel(controller.port, "none")
    await email_notifier.send(notification, ch, now_ms=NOW_MS)
    await email_notifier.send(notification, ch, now_ms=NOW_MS + 60_000)  # a retry
    next_event = dataclasses.replace(notification, status=Status.RESOLVED,
                                     idempotency_key="msg_INC-42.resolved.2.oncall")
    await email_notifier.send(next_event, ch, now_ms=NOW_MS)
    msgs = [email.message_from_bytes(e.content, policy=email.policy.default)  # type: ignore[arg-type]
            for e in box.envelopes]
    ids = [m["Message-ID"] for m in msgs]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<slaguard.") and ids[0].endswith("@example.com>")
    # All three thread under one synthetic root per incident.
    roots = {(m["In-Reply-To"], m["References"]) for m in msgs}
    assert len(roots) == 1 and next(iter(roots))[0] not in ids


@pytest.mark.usefixtures("trust_ca")
async def test_starttls_with_login(starttls_smtp: tuple[Mailbox, Controller],
                                   notification: Notification) -> None:
    box, controller = starttls_smtp
    ch = channel(controller.port, None, username="slaguard", password="s3cret")
    assert email_notifier.security(ch) == "starttls"  # the default on a port other than 465
    await email_notifier.send(notification, ch, now_ms=NOW_MS)
    _, msg = box.last()
    assert_is_the_page(msg, notification)


@pytest.mark.usefixtures("trust_ca")
async def test_wrong_password_is_final(starttls_smtp: tuple[Mailbox, Controller],
                                       notification: Notification) -> None:
    _, controller = starttls_smtp
    ch = channel(controller.port, "starttls", username="slaguard", password="guess")
    with pytest.raises(DeliveryError) as info:
        await email_notifier.send(notification, ch, now_ms=NOW_MS)
    assert (info.value.status, info.value.retryable) == (535, False)


async def test_untrusted_certificate(starttls_smtp: tuple[Mailbox, Controller],
                                     notification: Notification) -> None:
    _, controller = starttls_smtp
    with pytest.raises(DeliveryError) as info:
        await email_notifier.send(notification, channel(controller.port, "starttls"),
                                  now_ms=NOW_MS)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert info.value.retryable  # the receiver's certificate can be fixed while we back off


@pytest.mark.usefixtures("trust_ca")
async def test_implicit_tls(implicit_tls_smtp: tuple[Mailbox, Controller],
                            notification: Notification) -> None:
    box, controller = implicit_tls_smtp
    await email_notifier.send(notification, channel(controller.port, "ssl"), now_ms=NOW_MS)
    _, msg = box.last()
    assert_is_the_page(msg, notification)


async def test_starttls_required_but_not_offered(plain_smtp: tuple[Mailbox, Controller],
                                                 notification: Notification) -> None:
    box, controller = plain_smtp
    with pytest.raises(ChannelError, match="STARTTLS"):
        await email_notifier.send(notification, channel(controller.port, "starttls"),
                                  now_ms=NOW_MS)
    assert box.envelopes == []


def test_security_defaults_by_port() -> None:
    assert email_notifier.security(channel(465, None)) == "ssl"
    assert email_notifier.security(channel(587, None)) == "starttls"
    assert email_notifier.security(channel(25, None)) == "starttls"
    assert email_notifier.security(channel(465, "none")) == "none"


@pytest.mark.parametrize(
    "to, retryable, delivered",
    [
        (["nobody@example.com"], False, 0),
        (["busy@example.com"], True, 0),
        # One accepted: a retry would duplicate it, so it is not retried.
        (["oncall@example.com", "nobody@example.com"], False, 1),
        (["oncall@example.com", "busy@example.com"], True, 1),
    ],
)
async def test_refused_recipients(plain_smtp: tuple[Mailbox, Controller],
                                  notification: Notification, to: list[str], retryable: bool,
                                  delivered: int) -> None:
    box, controller = plain_smtp
    with pytest.raises(DeliveryError, match="recipients refused") as info:
        await email_notifier.send(notification, channel(controller.port, "none", to=to),
                                  now_ms=NOW_MS)
    assert info.value.retryable is retryable
    assert len(box.envelopes) == delivered
