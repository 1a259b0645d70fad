"""The notifiers' error tree, and the one place foreign exceptions map into it.

    SlaguardError
    └── NotifierError          .retryable: bool (False here)
        ├── ChannelError       the channel cannot work as configured (bad secret, URL, kind)
        └── DeliveryError      the receiver did not take the message
                               .retryable, .status, .code, .retry_after

A notifier's ``send`` returns on delivery and raises a ``NotifierError``
otherwise; the outbox backs off when ``retryable`` and dead-letters when not.
Retryable, as the outbox rules say: network errors and timeouts, HTTP 408,
425, 429 and 5xx, SMTP 4xx, and the vendors' rate-limit codes.  Everything
else (other 4xx, SMTP 5xx, vendor errors such as a bad signature) is final:
repeating the same request cannot succeed.

Exceptions that are not in the mapping (TypeError, KeyError...) are bugs and
propagate unchanged rather than being dressed up as delivery failures.
"""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

from slaguard.errors import SlaguardError

# HTTP statuses worth another try besides 5xx: timeout, too early, rate limit.
RETRYABLE_STATUS = frozenset({408, 425, 429})


class NotifierError(SlaguardError):
    retryable: bool = False


class ChannelError(NotifierError):
    """Configuration the notifier cannot use; fix the config, retrying won't help."""


class DeliveryError(NotifierError):
    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: int | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status  # HTTP status or SMTP reply code
        self.code = code  # the vendor's errcode/code
        self.retry_after = retry_after  # seconds, from Retry-After when given


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` without userinfo or query.

    WeCom's ``key`` and DingTalk's ``access_token`` live in the query and are
    the credential itself; they must not reach logs or the outbox's last_error.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def http_status_error(
    status: int, where: str, body: str = "", headers: Mapping[str, str] | None = None
) -> DeliveryError:
    retryable = status >= 500 or status in RETRYABLE_STATUS
    snippet = f": {body[:200]}" if body else ""
    return DeliveryError(
        f"{where}: HTTP {status}{snippet}",
        retryable=retryable,
        status=status,
        retry_after=parse_retry_after(headers or {}),
    )


def _smtp_code_retryable(code: int) -> bool:
    # RFC 5321: 4yz is a transient negative reply, 5yz a permanent one.
    return 400 <= code < 500


def _map_smtp(exc: smtplib.SMTPException, where: str) -> NotifierError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        refused = ", ".join(sorted(exc.recipients))
        return DeliveryError(
            f"{where}: recipients refused: {refused}",
            retryable=bool(codes) and all(_smtp_code_retryable(c) for c in codes),
            status=min(codes, default=None),
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ChannelError(f"{where}: {exc} (check `security`)")
    if isinstance(exc, smtplib.SMTPResponseException):
        # Authentication, sender and data errors all carry the server's code.
        message = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return DeliveryError(
            f"{where}: SMTP {exc.smtp_code} {message}",
            retryable=_smtp_code_retryable(exc.smtp_code),
            status=exc.smtp_code,
        )
    # SMTPServerDisconnected, SMTPConnectError without a code, etc.
    return DeliveryError(f"{where}: {type(exc).__name__}: {exc}", retryable=True)


def map_exception(exc: BaseException, where: str) -> NotifierError | None:
    """Our error for a foreign exception, or None when it is not ours to map."""
    if isinstance(exc, NotifierError):
        return exc
    if isinstance(exc, aiohttp.InvalidURL):
        # Its text holds the whole URL, credentials included: leave it out.
        return ChannelError(f"{where}: invalid URL")
    if isinstance(exc, TimeoutError):  # asyncio's and aiohttp's ServerTimeoutError too
        return DeliveryError(f"{where}: timed out", retryable=True)
    if isinstance(exc, aiohttp.ClientResponseError):
        return http_status_error(exc.status, where, exc.message)
    if isinstance(exc, smtplib.SMTPException):
        return _map_smtp(exc, where)
    if isinstance(exc, aiohttp.ClientError | OSError):  # ssl.SSLError is an OSError
        # Refused, reset, DNS, TLS handshake or certificate: the receiver or the
        # path to it, which an operator can fix while the outbox backs off.
        return DeliveryError(f"{where}: {type(exc).__name__}: {exc}", retryable=True)
    return None


def _credentials(url: str | None) -> list[str]:
    """The parts of a receiver URL that are secrets: its query and password."""
    if not url:
        return []
    parts = urlsplit(url)
    return [part for part in (parts.query, parts.password) if part]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


@contextlib.contextmanager
def mapped_errors(where: str, url: str | None = None) -> Iterator[None]:
    """Translate foreign exceptions raised in the block.

    ``where`` names the receiver in messages; ``url`` is its full URL, whose
    query and password must reach neither our message nor, through the
    chained cause, a logged traceback (aiohttp's connection-timeout text
    holds the whole URL).
    """
    secrets = _credentials(url)
    try:
        yield
    except NotifierError:
        raise
    except Exception as exc:
        mapped = map_exception(exc, where)
        if mapped is None:
            raise
        leaks = any(secret in f"{exc} {exc!r}" for secret in secrets)
        if leaks or isinstance(exc, aiohttp.InvalidURL):
            mapped.args = (_scrub(str(mapped), secrets),)
            raise mapped from None
        raise mapped from exc
