"""InfluxDB exporter: every result and the SLO figures as points, through a durable spool.

Points (InfluxDB v2 write API, line protocol, ``precision=ms``):

* ``probe`` — one per result at its start time.  Tags ``target``, ``service``,
  ``location``, ``kind``, ``outcome``; fields ``duration`` and
  ``phase_<name>`` in seconds (floats written from the integer milliseconds
  as exact decimals: 1234 ms → ``1.234``), ``status_code``, ``bytes`` and
  ``throughput`` (bytes/s over the send phase) as integers.
* ``slo`` — per service at the evaluation instant: tags ``service`` (and
  ``title``); fields ``availability``, ``objective``,
  ``error_budget_remaining`` (ratios), ``downtime_seconds``, ``gap_seconds``,
  ``coverage``; and per burn window a point with the extra tag ``window`` and
  fields ``burn_rate``, ``error_ratio``.  The names mirror the Prometheus
  ``slaguard_slo_*`` families, so dashboards translate one to one
  (VictoriaMetrics shows them as ``slo_availability``, ``slo_burn_rate``...).

Delivery.  ``observe`` turns results into lines on the event loop and hands
them to one worker thread that appends them to the spool (one transaction a
batch): the loop never waits on SQLite, and the thread's queue keeps the
order.  A shipper task sends the oldest lines in batches and deletes a batch
only after a 2xx; anything else leaves it in place, so the order on the wire
is the order of observation, and nothing is sent twice unless an answer was
lost in flight (then InfluxDB overwrites the identical point).  While the
server is unreachable or answers 5xx/429 the shipper backs off (doubling, with
jitter, capped, honouring ``Retry-After``) and the points wait on disk.  A
batch refused as such (400, 422, other 4xx) is halved until the offending
line is alone, and that line goes to the dead table with the error — the
queue never stalls behind it.  401/403/404 are not the batch's fault (token,
org or bucket): every batch would fail the same way, so they back off and
wait for the configuration to be fixed instead of burying the whole backlog.

Written directly over aiohttp rather than with influxdb-client: its batching
writer keeps points in memory on an rx thread pool and retries there, which
would make a second, volatile queue in front of the spool and hide which
points the server has acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
import re
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from exporters.spool import Batch, Spool
from slaguard.domain import PHASES, ProbeResult

if TYPE_CHECKING:
    from slaguard.config.schema import InfluxDBExporter as InfluxDBConfig
    from slaguard.store import SQLiteStore
    from slo.report import Report, ServiceReport

log = logging.getLogger(__name__)

T = TypeVar("T")
FieldValue = int | float | bool | str | Decimal | Fraction | None

# -- line protocol --------------------------------------------------------------

# Line protocol has no escape for a line break: it would end the point.
_BREAKS = re.compile(r"[\r\n]")


def _escaper(special: str) -> re.Pattern[str]:
    # A backslash before an ordinary character is literal for every parser
    # (InfluxDB, VictoriaMetrics), so it is written as is and "C:\data" arrives
    # intact.  Before a special character, another backslash or the end it
    # would read as an escape, so there it is escaped itself.  (InfluxDB OSS
    # keeps such a doubled backslash as two, and cannot store a value ending in
    # a backslash at all; VictoriaMetrics reads both back exactly.)
    chars = re.escape(special)
    return re.compile(rf"\\(?=[\\{chars}]|\Z)|[{chars}]")


_TAG = _escaper(",= ")  # tag keys, tag values, field keys
_MEASUREMENT = _escaper(", ")


def _escape(pattern: re.Pattern[str], value: str) -> str:
    return pattern.sub(lambda m: "\\" + m.group(0), _BREAKS.sub(" ", value))


def escape_tag(value: str) -> str:
    """A tag key, tag value or field key."""
    return _escape(_TAG, value)


def escape_measurement(value: str) -> str:
    return _escape(_MEASUREMENT, value)


def quote_string(value: str) -> str:
    """A string field value: quoted, with backslashes and quotes escaped."""
    inner = _BREAKS.sub(" ", value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{inner}"'


def seconds(ms: int) -> Decimal:
    """Integer milliseconds as exact decimal seconds (1234 → 1.234), no float rounding."""
    return Decimal(ms).scaleb(-3)


def format_value(value: FieldValue) -> str | None:
    """A field value in line protocol, or None to leave the field out."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    number = float(value)
    # NaN and infinities have no line-protocol form; the field is left out.
    return repr(number) if math.isfinite(number) else None


def encode_line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue],
                ts_ms: int) -> str:
    """One point.  Empty tag values and None fields are left out (line protocol
    has no empty tag value); tags are sorted by key, as InfluxDB prefers."""
    tag_text = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)
    formatted = ((k, format_value(v)) for k, v in fields.items())
    field_text = ",".join(f"{escape_tag(k)}={v}" for k, v in formatted if v is not None)
    if not field_text:
        raise ValueError(f"a {measurement} point needs at least one field")
    return f"{escape_measurement(measurement)}{tag_text} {field_text} {ts_ms}"


# -- points -----------------------------------------------------------------------


def probe_line(r: ProbeResult) -> str:
    tags = {"target": r.target, "service": r.service, "location": r.location, "kind": r.kind,
            "outcome": r.outcome.value}
    fields: dict[str, FieldValue] = {"duration": seconds(r.duration_ms)}
    for phase in PHASES:
        if phase in r.phases_ms:
            fields[f"phase_{phase}"] = seconds(r.phases_ms[phase])
    fields["status_code"] = r.status_code
    fields["bytes"] = r.bytes
    fields["throughput"] = r.throughput_bps()
    return encode_line("probe", tags, fields, r.ts_ms)


def _ratio(x: Fraction | None) -> float | None:
    return None if x is None else float(x)


def _service_lines(s: ServiceReport, ts_ms: int) -> list[str]:
    a = s.availability
    tags = {"service": s.spec.name, "title": s.spec.title}
    out = [encode_line("slo", tags, {
        "availability": float(a.availability),
        "objective": float(a.objective),
        "error_budget_remaining": _ratio(a.error_budget_remaining),
        "downtime_seconds": a.downtime_seconds,
        "gap_seconds": a.gap_seconds,
        "coverage": float(a.coverage),
    }, ts_ms)]
    if s.burn is not None:
        out += [encode_line("slo", {**tags, "window": w.name},
                            {"burn_rate": _ratio(w.burn_rate), "error_ratio": float(w.error_ratio)},
                            ts_ms)
                for w in s.burn.windows]
    return out


def slo_lines(report: Report) -> list[str]:
    """This period's figures per service, stamped with the evaluation instant."""
    return [line for s in report.services for line in _service_lines(s, report.now_ms)]


# -- answers and backoff -------------------------------------------------------------


class Verdict(enum.Enum):
    ACCEPTED = "accepted"  # 2xx: delete the batch
    RETRY = "retry"  # server down, busy or misconfigured: keep it, back off
    SPLIT = "split"  # 413: too large, send it in halves
    POISON = "poison"  # refused for its content: isolate the bad line, bury it


# Not about the batch: every batch would get the same answer until a person
# fixes the token, org or bucket (or the URL), so burying would only empty
# the queue into the dead table.
_CONFIG_ERRORS = frozenset({401, 403, 404})


def classify(status: int | None) -> Verdict:
    """``status`` None: no answer (connection refused, reset, timeout)."""
    if status is None or status >= 500 or status < 200:
        return Verdict.RETRY
    if status < 300:
        return Verdict.ACCEPTED
    if status == 413:
        return Verdict.SPLIT
    if status in (408, 429) or status in _CONFIG_ERRORS or status < 400:
        return Verdict.RETRY  # 3xx too: a proxy in the way is not the points' fault
    return Verdict.POISON


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.5
    cap_s: float = 60.0
    jitter: bool = True

    def delay(self, failures: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure."""
        d = min(self.cap_s, self.initial_s * 2.0 ** min(failures - 1, 32))
        if self.jitter:
            # Several slaguard locations writing to one InfluxDB should not
            # come back in lock-step after its restart.
            d *= random.uniform(0.5, 1.0)
        if retry_after_s is not None:
            d = max(d, min(retry_after_s, self.cap_s))
        return d


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None  # absent, or an HTTP date: the backoff alone decides


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None
    detail: str
    retry_after_s: float | None = None


# -- the exporter --------------------------------------------------------------------


class InfluxExporter:
    """A pipeline sink (``observe``) plus a background shipper (``start``/``stop``).

    Metric-able attributes: ``sent_points``, ``sent_batches``, ``failed_attempts``
    (answers that meant "retry"), ``poison_batches`` and ``dead_points`` (lines
    moved to the dead table), ``dropped_points`` (observed after ``stop``),
    ``pending_points`` (waiting, on disk or about to be), ``consecutive_failures``,
    ``last_error``; ``stats()`` returns the counters as one dict.
    """

    def __init__(self, url: str, db_path: str | Path, *, org: str = "", bucket: str = "",
                 token: str = "", batch_size: int = 5000, linger_s: float = 1.0,
                 timeout_s: float = 10.0, backoff: Backoff | None = None,
                 spool_name: str = "influx"):
        self.write_url = url.rstrip("/") + "/api/v2/write"
        self.params = {**{k: v for k, v in (("org", org), ("bucket", bucket)) if v},
                       "precision": "ms"}
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.batch_size, self.linger_s, self.timeout_s = batch_size, linger_s, timeout_s
        self.backoff = backoff or Backoff()
        self.spool = Spool(db_path, spool_name)
        # Every spool operation runs on this one thread, in submission order.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-spool")
        self._unsaved: list[str] = []  # lines the spool could not take yet (io thread only)
        self._arrived = asyncio.Event()  # observe() → an empty shipper
        self._kick = asyncio.Event()  # flush() → a lingering shipper
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._in_commit = False  # probe points spooled by the record's commits (feed_from)
        self._session: aiohttp.ClientSession | None = None
        self._limit = batch_size  # smaller while a refused batch is being halved
        self._suspect_end = 0  # last spool id of the batch being halved
        self.sent_points = self.sent_batches = self.failed_attempts = 0
        self.poison_batches = self.dead_points = self.dropped_points = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, conf: InfluxDBConfig, db_path: str | Path,
                    **options: Any) -> InfluxExporter:
        return cls(conf.url, db_path, org=conf.org, bucket=conf.bucket, token=conf.token,
                   **options)

    # -- producer side (event loop) -------------------------------------------------

    def feed_from(self, store: SQLiteStore) -> None:
        """Spool probe points inside the record's own commits (the spool lives in the
        same file): a result is committed together with its point or not at all, so a
        kill -9 between commit and sink cannot lose one.  ``observe`` then only counts."""
        if Path(store.path).resolve() != Path(self.spool.path).resolve():
            raise ValueError("the spool must live in the record's file to share its commits")
        store.in_commit.append(self._spool_in_commit)
        self._in_commit = True

    def _spool_in_commit(self, db: sqlite3.Connection, results: Sequence[ProbeResult]) -> None:
        self.spool.append_in(db, [probe_line(r) for r in results])

    def observe(self, results: list[ProbeResult]) -> None:
        """Pipeline sink: spool one ``probe`` point per committed result."""
        if self._in_commit:  # spooled by the commit itself
            self.spool.appended(len(results))
            self._arrived.set()
            return
        self._enqueue([probe_line(r) for r in results])

    def observe_report(self, report: Report) -> None:
        """Spool the ``slo`` points of a freshly evaluated report."""
        self._enqueue(slo_lines(report))

    def _enqueue(self, lines: list[str]) -> None:
        if not lines:
            return
        if self._closed:  # stop() has run: counted and logged, never silently lost
            self.dropped_points += len(lines)
            log.error("InfluxDB exporter is stopped; %d points were not spooled", len(lines))
            return
        self._io.submit(self._save, lines)
        self._arrived.set()

    # -- spool side (io thread) -------------------------------------------------------

    def _save(self, lines: list[str]) -> None:
        self._unsaved.extend(lines)
        self._save_unsaved()

    def _save_unsaved(self) -> None:
        if not self._unsaved:
            return
        try:
            self.spool.append(self._unsaved)
        except sqlite3.Error as e:
            # Kept in memory, in order, ahead of later lines; retried on the
            # next observe or shipper round.
            self.last_error = f"spool: {e}"
            log.warning("cannot spool %d InfluxDB points (%s); retrying", len(self._unsaved), e)
            return
        self._unsaved = []

    def _next_batch(self) -> Batch | None:
        self._save_unsaved()
        return self.spool.peek(self._limit)

    def _pending(self) -> int:
        return len(self.spool) + len(self._unsaved)

    def _close_spool(self) -> None:
        self._save_unsaved()
        if self._unsaved:
            self.dropped_points += len(self._unsaved)
            log.error("%d InfluxDB points could not be spooled before exit", len(self._unsaved))
        self.spool.close()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    # -- shipper (event loop) ------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        self._task = asyncio.create_task(self._ship_forever(), name="influx-shipper")

    async def _ship_forever(self) -> None:
        while True:
            try:
                await self._ship_once()
            except Exception:
                # A spool error must not end shipping for the life of the process.
                log.exception("InfluxDB shipper failed; retrying")
                await asyncio.sleep(min(self.backoff.cap_s, 5.0))

    async def _ship_once(self) -> None:
        batch: Batch | None = await self._call(self._next_batch)
        if batch is None:
            await _wait(self._arrived, self.linger_s)
            return
        attempt = await self._post(batch)
        verdict = classify(attempt.status)
        if verdict is Verdict.ACCEPTED:
            await self._accepted(batch)
        elif verdict is Verdict.RETRY:
            await asyncio.sleep(self._failed(attempt))
        elif len(batch) > 1:
            self._halve(batch)
        else:
            await self._bury(batch, attempt)

    async def _post(self, batch: Batch) -> Attempt:
        assert self._session is not None
        try:
            async with self._session.post(self.write_url, params=self.params, data=batch.body(),
                                          headers=self.headers, allow_redirects=False) as resp:
                text = (await resp.read()).decode("utf-8", "replace")[:500]
                return Attempt(resp.status, f"HTTP {resp.status}: {text}".strip(),
                               _retry_after(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as e:
            return Attempt(None, f"{type(e).__name__}: {e}")

    async def _accepted(self, batch: Batch) -> None:
        await self._call(self.spool.ack, batch)
        full = len(batch) >= self._limit
        self.sent_points += len(batch)
        self.sent_batches += 1
        if self.consecutive_failures:
            log.info("InfluxDB accepts points again after %d failed attempts; %d waiting",
                     self.consecutive_failures, len(self.spool))
        self.consecutive_failures = 0
        if batch.last_id >= self._suspect_end:
            self._limit = self.batch_size  # past the halved batch: full batches again
        if not full:
            # Not a full batch: let more points gather (flush() cuts this short).
            await _wait(self._kick, self.linger_s)

    def _failed(self, attempt: Attempt) -> float:
        self.failed_attempts += 1
        self.consecutive_failures += 1
        self.last_error = attempt.detail
        delay = self.backoff.delay(self.consecutive_failures, attempt.retry_after_s)
        # One warning per outage, not one per attempt.
        level = logging.WARNING if self.consecutive_failures == 1 else logging.DEBUG
        hint = " (check url, token, org and bucket)" if attempt.status in _CONFIG_ERRORS else ""
        log.log(level, "InfluxDB write failed: %s%s; %d points wait in the spool, "
                "retrying in %.1f s", attempt.detail, hint, len(self.spool), delay)
        return delay

    def _halve(self, batch: Batch) -> None:
        # Binary search for the refused line: the good half goes through, the
        # bad half is halved again, until one line is left to bury.
        self._limit = len(batch) // 2
        self._suspect_end = max(self._suspect_end, batch.last_id)

    async def _bury(self, batch: Batch, attempt: Attempt) -> None:
        await self._call(self.spool.bury, batch, attempt.detail, attempt.status)
        self.poison_batches += 1
        self.dead_points += len(batch)
        self.last_error = attempt.detail
        self._limit = self.batch_size
        log.error("InfluxDB refused a point, moved to %s: %s; line: %s",
                  self.spool.dead_table, attempt.detail, batch.lines[0][:300])

    # -- control ---------------------------------------------------------------------------

    @property
    def pending_points(self) -> int:
        return len(self.spool) + len(self._unsaved)

    def stats(self) -> dict[str, int]:
        return {
            "sent_points": self.sent_points, "sent_batches": self.sent_batches,
            "failed_attempts": self.failed_attempts, "poison_batches": self.poison_batches,
            "dead_points": self.dead_points, "dropped_points": self.dropped_points,
            "pending_points": self.pending_points,
        }

    async def pending(self) -> int:
        """Points not yet acknowledged, counted after every ``observe`` so far was spooled."""
        return int(await self._call(self._pending))

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every point observed so far is acknowledged (True), or ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while await self.pending() > 0:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._kick.set()
            self._arrived.set()
            await asyncio.sleep(0.02)
        return True

    async def stop(self, drain_s: float = 5.0) -> None:
        """Ship what can be shipped within ``drain_s``, then stop; the rest stays spooled.

        A batch cancelled in flight stays too and is sent again on the next
        start; if the server had stored it, InfluxDB overwrites the same points.
        """
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            if drain_s > 0:
                await self.flush(drain_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._call(self._close_spool)
        self._io.shutdown(wait=True)


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` or ``timeout_s``, then clear it (the caller always looks again)."""
    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
    # arrives as the event fires, and stop() would then wait forever.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    event.clear()

