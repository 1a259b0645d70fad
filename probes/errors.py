"""The one place where exceptions become ``ErrorClass``es.

Probes raise freely inside (aiohttp, asyncio, ssl and socket errors, plus the
small tree of our own below) and ``classify`` turns whatever escaped into a
``ProbeError``.  Keeping the mapping here means every probe kind classifies a
refused port, a bad certificate or a slow server the same way.
"""

from __future__ import annotations

import socket
import ssl
from typing import ClassVar

import aiohttp

from slaguard.domain import ErrorClass, Outcome, ProbeError


class ProbeFailure(Exception):
    """A failure the probe itself decided on (the target misbehaved)."""

    error_class: ClassVar[ErrorClass] = ErrorClass.PROBE_ERROR


class StatusMismatch(ProbeFailure):
    error_class = ErrorClass.HTTP_STATUS


class AssertionFailed(ProbeFailure):
    error_class = ErrorClass.ASSERTION


class BodyTooLarge(ProbeFailure):
    error_class = ErrorClass.BODY_TOO_LARGE


class ProbeTimeout(ProbeFailure):
    error_class = ErrorClass.TIMEOUT


# What the cold client (probes._cold) raises where aiohttp's session would
# raise its own Client*Error: the same classes, in words of our own.


class DnsFailure(ProbeFailure):
    error_class = ErrorClass.DNS


class ConnectFailure(ProbeFailure):
    error_class = ErrorClass.CONNECT


class TlsFailure(ProbeFailure):
    error_class = ErrorClass.TLS


class RedirectFailure(ProbeFailure):
    """A redirect that cannot be followed: the target's fault, like a bad status."""

    error_class = ErrorClass.HTTP_STATUS


class MalformedResponse(ProbeFailure):
    """Not HTTP: no status to judge, the target's fault (aiohttp's ClientResponseError)."""

    error_class = ErrorClass.HTTP_STATUS


# Order matters: the first matching row wins, and aiohttp's hierarchy nests
# (a DNS error *is* a ClientConnectorError, a certificate error *is* an
# ssl.SSLError *is* an OSError, a ServerTimeoutError *is* a TimeoutError).
_TABLE: tuple[tuple[tuple[type[BaseException], ...], ErrorClass], ...] = (
    ((TimeoutError,), ErrorClass.TIMEOUT),
    ((aiohttp.ClientConnectorDNSError, socket.gaierror, socket.herror), ErrorClass.DNS),
    (
        (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch, ssl.SSLError),
        ErrorClass.TLS,
    ),
    # A redirect to a malformed or non-HTTP location is the target's fault;
    # checked before InvalidURL, which these subclass.
    ((aiohttp.RedirectClientError, aiohttp.ClientResponseError), ErrorClass.HTTP_STATUS),
    # A URL aiohttp cannot even parse is a configuration problem, not the target's.
    ((aiohttp.InvalidURL,), ErrorClass.PROBE_ERROR),
    (
        (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError),
        ErrorClass.CONNECT,
    ),
)


def error_class(exc: BaseException) -> ErrorClass:
    if isinstance(exc, ProbeFailure):
        return exc.error_class
    for types, cls in _TABLE:
        if isinstance(exc, types):
            return cls
    return ErrorClass.PROBE_ERROR


def describe(exc: BaseException) -> str:
    # TimeoutError and friends often stringify to "", which says nothing.
    text = str(exc)
    if isinstance(exc, ProbeFailure):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify(exc: BaseException) -> ProbeError:
    return ProbeError(error_class(exc), describe(exc))


def outcome_of(error: ProbeError | None) -> Outcome:
    """A failure we cannot blame on the target (our bug) must not count as downtime."""
    if error is None:
        return Outcome.SUCCESS
    if error.cls is ErrorClass.PROBE_ERROR:
        return Outcome.UNKNOWN
    return Outcome.FAILURE
