"""The one mapping of foreign exceptions and statuses into our error tree."""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from alerting.notifiers.errors import (
    ChannelError,
    DeliveryError,
    NotifierError,
    http_status_error,
    map_exception,
    mapped_errors,
    parse_retry_after,
    redact_url,
)
from slaguard.errors import SlaguardError


def test_tree() -> None:
    assert issubclass(NotifierError, SlaguardError)
    assert issubclass(DeliveryError, NotifierError) and issubclass(ChannelError, NotifierError)
    assert ChannelError("x").retryable is False


@pytest.mark.parametrize(
    "status, retryable",
    [(500, True), (502, True), (503, True), (504, True), (408, True), (425, True), (429, True),
     (400, False), (401, False), (403, False), (404, False), (410, False), (422, False),
     (302, False)],
)
def test_http_status(status: int, retryable: bool) -> None:
    err = http_status_error(status, "webhook https://h/p", "body")
    assert (err.retryable, err.status) == (retryable, status)
    assert str(err) == f"webhook https://h/p: HTTP {status}: body"


def test_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "120"}) == 120.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 < (parse_retry_after({"Retry-After": later}) or 0) <= 90
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    assert http_status_error(429, "w", headers={"Retry-After": "7"}).retry_after == 7.0


def test_redact_url_drops_credentials() -> None:
    assert redact_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
    assert redact_url("http://user:pw@127.0.0.1:9093/api?x=1") == "http://127.0.0.1:9093/api"


@pytest.mark.parametrize(
    "exc, retryable, status",
    [
        (TimeoutError(), True, None),
        (aiohttp.ServerTimeoutError(), True, None),
        (ConnectionRefusedError(111, "refused"), True, None),
        (OSError(101, "network unreachable"), True, None),
        (ssl.SSLCertVerificationError("certificate verify failed"), True, None),
        (aiohttp.ServerDisconnectedError(), True, None),
        (smtplib.SMTPServerDisconnected("gone"), True, None),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), False, 535),
        (smtplib.SMTPSenderRefused(451, b"4.3.0 later", "a@b"), True, 451),
        (smtplib.SMTPSenderRefused(553, b"5.7.1 not yours", "a@b"), False, 553),
        (smtplib.SMTPDataError(452, b"4.3.1 full"), True, 452),
        (smtplib.SMTPDataError(554, b"5.6.0 rejected"), False, 554),
        (smtplib.SMTPRecipientsRefused({"a@b": (450, b"busy"), "c@d": (451, b"later")}), True, 450),
        (smtplib.SMTPRecipientsRefused({"a@b": (450, b"busy"), "c@d": (550, b"no")}), False, 450),
    ],
)
def test_map_exception(exc: BaseException, retryable: bool, status: int | None) -> None:
    err = map_exception(exc, "where")
    assert isinstance(err, DeliveryError)
    assert (err.retryable, err.status) == (retryable, status)
    assert str(err).startswith("where: ")


def test_smtp_without_starttls_is_a_channel_error() -> None:
    err = map_exception(smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), "w")
    assert isinstance(err, ChannelError) and not err.retryable


def test_invalid_url_hides_the_url() -> None:
    with pytest.raises(ChannelError) as info, mapped_errors("wecom https://h/send"):
        raise aiohttp.InvalidURL("https://h/send?key=SECRET")
    assert "SECRET" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_mapped_errors_chains_the_cause() -> None:
    with pytest.raises(DeliveryError) as info, mapped_errors("w"):
        raise ConnectionResetError("reset")
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_bugs_are_not_dressed_up() -> None:
    assert map_exception(KeyError("x"), "w") is None
    with pytest.raises(KeyError), mapped_errors("w"):
        raise KeyError("x")


def test_our_errors_pass_through() -> None:
    original = DeliveryError("w: error 130101", retryable=True, code=130101)
    with pytest.raises(DeliveryError) as info, mapped_errors("w"):
        raise original
    assert info.value is original


@pytest.mark.parametrize(
    "url, secret",
    [("https://h/send?key=SECRET-KEY", "key=SECRET-KEY"),
     ("http://am:pa55word@h:9093/api/v2/alerts", "pa55word")],
)
def test_credentials_leak_neither_in_message_nor_cause(url: str, secret: str) -> None:
    with pytest.raises(DeliveryError) as info, mapped_errors("w", url):
        raise aiohttp.ClientConnectionError(f"Connection timeout to host {url}")
    assert secret not in str(info.value) and "<redacted>" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert info.value.retryable


def test_cause_kept_when_it_holds_no_credential() -> None:
    with pytest.raises(DeliveryError) as info, mapped_errors("w", "https://h/send?key=K3Y"):
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
