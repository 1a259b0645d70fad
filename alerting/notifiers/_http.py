"""What the HTTP notifiers share: one POST, its reply, the vendor code check."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from alerting.notifiers.errors import DeliveryError, http_status_error, mapped_errors
from slaguard import __version__

# The outbox rules ask for 15-30 s: long enough for a slow vendor, short
# enough that one dead receiver does not hold a worker for minutes.
TIMEOUT = aiohttp.ClientTimeout(total=20)
USER_AGENT = f"slaguard/{__version__}"
# Replies are small JSON documents; never buffer an unexpected large page.
MAX_REPLY_BYTES = 64 * 1024


def resolve_now_ms(now_ms: int | None) -> int:
    return time.time_ns() // 1_000_000 if now_ms is None else now_ms


def json_bytes(payload: Any) -> bytes:
    # Serialised once: the bytes we sign are the bytes we send.  UTF-8 as is,
    # since the limits count bytes and \\uXXXX escapes would double Chinese.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def raise_for_status(self, where: str) -> None:
        if not self.ok:
            raise http_status_error(self.status, where, self.text(), self.headers)

    def json(self, where: str) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            # A 2xx that is not the vendor's JSON is a proxy or a wrong URL:
            # the same request will get the same page.
            raise DeliveryError(
                f"{where}: reply is not JSON: {self.text()[:200]!r}", retryable=False,
                status=self.status,
            ) from None


async def post(
    session: aiohttp.ClientSession | None,
    url: str | URL,
    body: bytes,
    headers: Mapping[str, str],
    where: str,
) -> Reply:
    """POST ``body``; transport failures raise mapped errors, any status is returned.

    Without a session (a one-off send, a test) a private one is opened and closed.
    """
    if session is not None:
        return await _post(session, url, body, headers, where)
    async with aiohttp.ClientSession() as own:
        return await _post(own, url, body, headers, where)


async def _post(
    session: aiohttp.ClientSession,
    url: str | URL,
    body: bytes,
    headers: Mapping[str, str],
    where: str,
) -> Reply:
    all_headers = {"content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT,
                   **{k.lower(): v for k, v in headers.items()}}
    with mapped_errors(where, str(url)):
        # No redirects: a webhook that moved is a config error to see, and
        # following would turn the POST into a GET.
        async with session.post(url, data=body, headers=all_headers, timeout=TIMEOUT,
                                allow_redirects=False) as resp:
            return Reply(resp.status, resp.headers, await _read_capped(resp))


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(8192):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_REPLY_BYTES:
            break
    return b"".join(chunks)[:MAX_REPLY_BYTES]


def check_vendor_code(
    doc: Any,
    keys: tuple[str, ...],
    where: str,
    retryable: Collection[int],
    message_keys: tuple[str, ...] = ("errmsg", "msg"),
) -> None:
    """Chat bots answer HTTP 200 on errors; the verdict is a code in the body (0 = ok)."""
    if not isinstance(doc, dict):
        raise DeliveryError(f"{where}: unexpected reply {doc!r:.200}", retryable=False)
    code = next((doc[k] for k in keys if k in doc), None)
    if code is None:
        raise DeliveryError(f"{where}: reply without {'/'.join(keys)}: {doc!r:.200}",
                            retryable=False)
    if code == 0:
        return
    message = next((str(doc[k]) for k in message_keys if k in doc), "")
    raise DeliveryError(f"{where}: error {code} {message}".rstrip(),
                        retryable=code in retryable, code=code)
