"""slaguard's metrics about itself, in the Prometheus conventions.

The runtime reports what happens to a ``SelfStats`` (plain numbers under one lock:
the store writer's thread, the event loop and a scrape may meet); ``SelfCollector``
reads it, and a few live values (queue depth, outbox backlog, file sizes), at
scrape time.  Nothing here is global: each App (and each test) builds its own.

=================================================  ==========================================
metric                                             what moves it
=================================================  ==========================================
slaguard_probe_start_lateness_seconds              a scheduled probe starting after its slot
  {location, worker} (histogram)                   (a busy worker, a full probe semaphore)
slaguard_probes_skipped_total                      a run missed (``missed``), the previous
  {location, worker, reason}                       still running (``overrun``), no probe slot
                                                   in time (``overloaded``)
slaguard_pipeline_queue_results                    results in memory waiting for the writer
slaguard_store_commit_duration_seconds (histogram) each committed batch
slaguard_store_commit_failures_total               each failed commit attempt
slaguard_evaluation_duration_seconds (histogram)   each SLO evaluation round
slaguard_evaluation_failures_total                 a round that raised or could not record
slaguard_evaluation_last_success_timestamp_seconds the last round that succeeded
slaguard_outbox_pending_notifications              rows waiting to be sent (pending)
slaguard_outbox_oldest_pending_age_seconds         the oldest of those (0 when none)
slaguard_notifications_sent_total {channel}        a delivery accepted by the receiver
slaguard_notification_failures_total {channel}     a delivery attempt that failed
slaguard_notifications_dead_total {channel}        a notification given up (dead letter)
slaguard_worker_restarts_total {worker}            a probe worker process restarted
slaguard_store_size_bytes {file}                   the SQLite file, its -wal and -shm
slaguard_heartbeat_up                              1 while the heartbeat is being sent
slaguard_heartbeat_pings_total {outcome}           each heartbeat request (ok, failed)
slaguard_build_info {version, python}              always 1
=================================================  ==========================================

(``slaguard_store_uncommitted_results``, ``slaguard_store_dropped_results_total`` and
``slaguard_store_commit_failing`` come from ``exporters.prometheus.StoreCollector``.)

``SelfStats.readings()`` sums up the recent past for slaguard's own alert rules
(``alerting.rules.SelfReadings``): they run in slaguard too, not only in Prometheus.
"""

from __future__ import annotations

import bisect
import os
import platform
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

import slaguard
from alerting.rules import SELF_THRESHOLDS, SelfReadings

# Probe start lateness: a healthy worker starts within milliseconds of the slot;
# misfire_grace (5 s by default) is where a start becomes a skipped run.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
EVALUATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# The window slaguard's own rules look back over (probe starts; worker restarts).
RECENT_S = 300.0
RESTARTS_RECENT_S = 900.0


@dataclass
class Histogram:
    """Cumulative-bucket counts as Prometheus exposes them (``le`` upper bounds)."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.total += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            running += n
            out.append((_le(bound), float(running)))
        out.append(("+Inf", float(self.count)))
        return out


def _le(bound: float) -> str:
    return repr(float(bound))


class SelfStats:
    """What the runtime tells about itself; every method is cheap and thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.clock, self.wall = clock, wall
        self._lock = threading.Lock()
        self.lateness: dict[tuple[str, str], Histogram] = {}
        self.skipped: dict[tuple[str, str, str], int] = defaultdict(int)
        self.commit = Histogram(COMMIT_BUCKETS)
        self.commit_failures = 0
        self.evaluation = Histogram(EVALUATION_BUCKETS)
        self.evaluation_failures = 0
        self.evaluation_failing_rounds = 0  # in a row, for slaguard's own rule
        self.last_evaluation_ok: float | None = None  # wall clock
        self.last_evaluation_ok_mono: float | None = None
        self.sent: dict[str, int] = defaultdict(int)
        self.failures: dict[str, int] = defaultdict(int)
        self.dead: dict[str, int] = defaultdict(int)
        self.failing_in_row: dict[str, int] = defaultdict(int)
        self.restarts: dict[str, int] = defaultdict(int)
        self.heartbeat_up: bool | None = None  # None: no heartbeat configured
        self.pings: dict[str, int] = defaultdict(int)
        # (monotonic time, late?) per started probe, and restart times: the recent past.
        self._starts: deque[tuple[float, bool]] = deque()
        self._restart_times: deque[tuple[float, str]] = deque()

    def known(self, *, workers: int = 0, channels: Sequence[str] = ()) -> None:
        """Export the counters of these workers and channels at 0 from the start, so the
        first restart or failure is an increase Prometheus can see."""
        with self._lock:
            for i in range(workers):
                self.restarts.setdefault(str(i), 0)
            for c in channels:
                self.sent.setdefault(c, 0)
                self.failures.setdefault(c, 0)
                self.dead.setdefault(c, 0)

    # -- probing (ProbeObserver, see slaguard.scheduler) ---------------------------------

    def probe_started(self, location: str, worker: str, lateness_s: float) -> None:
        now = self.clock()
        with self._lock:
            h = self.lateness.get((location, worker))
            if h is None:
                h = self.lateness[(location, worker)] = Histogram(LATENESS_BUCKETS)
            h.observe(max(lateness_s, 0.0))
            self._starts.append((now, lateness_s > SELF_THRESHOLDS.late_after_s))
            self._trim(now)

    def probe_skipped(self, location: str, worker: str, reason: str) -> None:
        now = self.clock()
        with self._lock:
            self.skipped[(location, worker, reason)] += 1
            self._starts.append((now, True))  # a skipped run is the latest start there is
            self._trim(now)

    def worker_restarted(self, worker: str) -> None:
        now = self.clock()
        with self._lock:
            self.restarts[worker] += 1
            self._restart_times.append((now, worker))
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._starts and now - self._starts[0][0] > RECENT_S:
            self._starts.popleft()
        while self._restart_times and now - self._restart_times[0][0] > RESTARTS_RECENT_S:
            self._restart_times.popleft()

    # -- the record, evaluation, notifications, heartbeat -----------------------------------

    def commit_done(self, seconds: float, ok: bool) -> None:
        with self._lock:
            if ok:
                self.commit.observe(seconds)
            else:
                self.commit_failures += 1

    def evaluation_done(self, seconds: float, ok: bool) -> None:
        with self._lock:
            self.evaluation.observe(seconds)
            if ok:
                self.evaluation_failing_rounds = 0
                self.last_evaluation_ok = self.wall()
                self.last_evaluation_ok_mono = self.clock()
            else:
                self.evaluation_failures += 1
                self.evaluation_failing_rounds += 1

    def delivery(self, channel: str, outcome: str) -> None:
        """``outcome``: ``sent``, ``retry`` (a failed attempt to be retried) or ``dead``."""
        with self._lock:
            if outcome == "sent":
                self.sent[channel] += 1
                self.failing_in_row[channel] = 0
                return
            self.failures[channel] += 1
            self.failing_in_row[channel] += 1
            if outcome == "dead":
                self.dead[channel] += 1

    def heartbeat(self, up: bool, outcome: str | None) -> None:
        """The heartbeat's state; ``outcome`` (``ok``/``failed``) when a request was made."""
        with self._lock:
            self.heartbeat_up = up
            if outcome is not None:
                self.pings[outcome] += 1

    # -- for slaguard's own rules ----------------------------------------------------------

    def readings(self, outbox: tuple[int, int | None] = (0, None)) -> SelfReadings:
        """The recent past as slaguard's own alert rules read it; ``outbox`` is
        (pending, oldest pending age in ms)."""
        now = self.clock()
        with self._lock:
            self._trim(now)
            restarts: dict[str, int] = defaultdict(int)
            for _, worker in self._restart_times:
                restarts[worker] += 1
            return SelfReadings(
                probes_started=len(self._starts),
                probes_late=sum(1 for _, late in self._starts if late),
                evaluation_failing_rounds=self.evaluation_failing_rounds,
                outbox_pending=outbox[0], outbox_oldest_age_ms=outbox[1],
                channels_failing={c: n for c, n in self.failing_in_row.items() if n},
                worker_restarts=dict(restarts))


def store_files(path: str) -> list[str]:
    """The SQLite database file and its WAL companions (a ``:memory:`` store has none)."""
    if path == ":memory:":
        return []
    return [path, f"{path}-wal", f"{path}-shm"]


class SelfCollector(Collector):
    """``SelfStats`` and live readings at scrape time."""

    def __init__(self, stats: SelfStats, *, queue_depth: Callable[[], int],
                 outbox_backlog: Callable[[], tuple[int, int | None]],
                 store_path: str) -> None:
        self.stats = stats
        self.queue_depth = queue_depth
        self.outbox_backlog = outbox_backlog
        self.store_path = store_path

    def collect(self) -> Iterator[Metric]:
        yield from self._probing()
        yield from self._record()
        yield from self._evaluation()
        yield from self._notifications()
        yield from self._process()

    def _probing(self) -> Iterator[Metric]:
        s = self.stats
        late = HistogramMetricFamily(
            "slaguard_probe_start_lateness_seconds",
            "How late scheduled probes started after their slot", labels=["location", "worker"])
        skipped = CounterMetricFamily(
            "slaguard_probes_skipped",
            "Scheduled probe runs that did not run (recorded as unknown): missed, "
            "overrun (the previous run still going) or overloaded (no probe slot in time)",
            labels=["location", "worker", "reason"])
        restarts = CounterMetricFamily("slaguard_worker_restarts",
                                       "Probe worker processes restarted after they exited",
                                       labels=["worker"])
        with s._lock:
            for (loc, worker), h in sorted(s.lateness.items()):
                late.add_metric([loc, worker], h.buckets(), h.total)
            for key, n in sorted(s.skipped.items()):
                skipped.add_metric(list(key), float(n))
            for worker, n in sorted(s.restarts.items()):
                restarts.add_metric([worker], float(n))
        yield from (late, skipped, restarts)

    def _record(self) -> Iterator[Metric]:
        s = self.stats
        queue = GaugeMetricFamily("slaguard_pipeline_queue_results",
                                  "Results in memory waiting for the store writer")
        queue.add_metric([], float(self.queue_depth()))
        commit = HistogramMetricFamily("slaguard_store_commit_duration_seconds",
                                       "Time to commit one batch of results to the record")
        failures = CounterMetricFamily("slaguard_store_commit_failures",
                                       "Commit attempts that failed (each retry counts)")
        size = GaugeMetricFamily("slaguard_store_size_bytes",
                                 "Size of the record's SQLite files", labels=["file"])
        with s._lock:
            commit.add_metric([], s.commit.buckets(), s.commit.total)
            failures.add_metric([], float(s.commit_failures))
        for path, kind in zip(store_files(self.store_path), ("db", "wal", "shm"), strict=False):
            try:
                size.add_metric([kind], float(os.stat(path).st_size))
            except OSError:  # no WAL right now (checkpointed), or the file is gone
                size.add_metric([kind], 0.0)
        yield from (queue, commit, failures, size)

    def _evaluation(self) -> Iterator[Metric]:
        s = self.stats
        duration = HistogramMetricFamily("slaguard_evaluation_duration_seconds",
                                          "Time of one SLO and alert evaluation round")
        failures = CounterMetricFamily("slaguard_evaluation_failures",
                                       "Evaluation rounds that failed or could not be recorded")
        last = GaugeMetricFamily("slaguard_evaluation_last_success_timestamp_seconds",
                                 "When an evaluation round last succeeded (0: not yet)")
        with s._lock:
            duration.add_metric([], s.evaluation.buckets(), s.evaluation.total)
            failures.add_metric([], float(s.evaluation_failures))
            last.add_metric([], s.last_evaluation_ok or 0.0)
        yield from (duration, failures, last)

    def _notifications(self) -> Iterator[Metric]:
        s = self.stats
        pending, oldest_ms = self.outbox_backlog()
        backlog = GaugeMetricFamily("slaguard_outbox_pending_notifications",
                                    "Notifications waiting in the outbox to be sent")
        backlog.add_metric([], float(pending))
        age = GaugeMetricFamily("slaguard_outbox_oldest_pending_age_seconds",
                                "Age of the oldest notification waiting in the outbox (0: none)")
        age.add_metric([], (oldest_ms or 0) / 1000)
        families = {name: CounterMetricFamily(name, doc, labels=["channel"]) for name, doc in (
            ("slaguard_notifications_sent", "Notifications the receiver accepted"),
            ("slaguard_notification_failures", "Notification attempts that failed"),
            ("slaguard_notifications_dead", "Notifications given up (dead-lettered)"))}
        with s._lock:
            for name, counts in (("slaguard_notifications_sent", s.sent),
                                 ("slaguard_notification_failures", s.failures),
                                 ("slaguard_notifications_dead", s.dead)):
                for channel, n in sorted(counts.items()):
                    families[name].add_metric([channel], float(n))
        yield from (backlog, age, *families.values())

    def _process(self) -> Iterator[Metric]:
        s = self.stats
        info = GaugeMetricFamily("slaguard_build_info", "slaguard's version and Python's",
                                 labels=["version", "python"])
        info.add_metric([slaguard.__version__, platform.python_version()], 1.0)
        yield info
        with s._lock:
            up, pings = s.heartbeat_up, dict(s.pings)
        if up is None:  # no heartbeat configured: no series, rather than a false 0
            return
        hb = GaugeMetricFamily("slaguard_heartbeat_up",
                               "1 while the heartbeat URL is being called (slaguard healthy)")
        hb.add_metric([], 1.0 if up else 0.0)
        sent = CounterMetricFamily("slaguard_heartbeat_pings", "Heartbeat requests made",
                                   labels=["outcome"])
        for outcome in ("ok", "failed"):
            sent.add_metric([outcome], float(pings.get(outcome, 0)))
        yield from (hb, sent)
