"""Live state: what the exporters read at scrape time.

Updated only with results the store has already committed.  Counters and
histogram buckets are plain integers; exporters turn them into seconds.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slaguard.domain import Outcome, ProbeResult

# Bucket bounds in ms, with one at every SLA threshold (0.5 s API p95 cut-off,
# 1 s, 3 s page mean, 5 s page p95, 30 s upload, 600 s document generation) so
# a latency SLO computed from the histogram is exact at the threshold.
DURATION_BUCKETS_MS = (
    50, 100, 250, 500, 1000, 2000, 3000, 5000, 10_000, 30_000, 60_000, 120_000, 600_000,
)

SeriesKey = tuple[str, str, str, str]  # target, service, location, kind


@dataclass
class SeriesState:
    latest: ProbeResult
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    # Histogram of successful results' durations: cumulative counts per bucket.
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS_MS))
    count: int = 0
    sum_ms: int = 0
    # Which change of the state last touched this series (LiveState.changed_since):
    # lets /metrics re-render only the series that changed since its last scrape.
    version: int = 0


class LiveState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[SeriesKey, SeriesState] = {}
        self._version = 0  # bumped by every change; never repeats
        self._keys: list[SeriesKey] | None = []  # sorted keys; None when a key was added
        # This month to date (an slo.Report), refreshed by the SLO job, and what
        # each customer's statement would credit so far (customer id → Decimal).
        self.slo_report: Any = None
        self.exposure: dict[str, Any] = {}

    @staticmethod
    def key(r: ProbeResult) -> SeriesKey:
        return (r.target, r.service, r.location, r.kind)

    def restore(self, latest: list[ProbeResult]) -> None:
        """Seed the gauges after a restart (counters start again at zero)."""
        with self._lock:
            for r in latest:
                if self.key(r) not in self._series:
                    self._version += 1
                    self._series[self.key(r)] = SeriesState(latest=r, version=self._version)
                    self._keys = None

    def observe(self, results: list[ProbeResult]) -> None:
        with self._lock:
            for r in results:
                st = self._series.get(self.key(r))
                if st is None:
                    st = self._series[self.key(r)] = SeriesState(latest=r)
                    self._keys = None
                elif r.ts_ms >= st.latest.ts_ms:
                    st.latest = r
                self._version += 1
                st.version = self._version
                st.outcomes[r.outcome] += 1
                if r.outcome is Outcome.SUCCESS:
                    st.count += 1
                    st.sum_ms += r.duration_ms
                    i = bisect.bisect_left(DURATION_BUCKETS_MS, r.duration_ms)
                    for j in range(i, len(st.buckets)):
                        st.buckets[j] += 1

    def snapshot(self) -> list[tuple[SeriesKey, SeriesState]]:
        with self._lock:
            return [
                (k, SeriesState(v.latest, Counter(v.outcomes), list(v.buckets), v.count,
                                v.sum_ms, v.version))
                for k, v in sorted(self._series.items())
            ]

    def changed_since(self, seen: Mapping[SeriesKey, int]
                      ) -> list[tuple[SeriesKey, SeriesState | None]]:
        """Every series in key order, with a copy of its state where its version is
        not ``seen[key]`` and None where it is (unchanged since the caller's copy).

        Cheaper than :meth:`snapshot` when few series changed, and it holds the lock
        (which ``observe`` on the event loop waits for) only for the copies."""
        with self._lock:
            if self._keys is None:
                self._keys = sorted(self._series)
            out: list[tuple[SeriesKey, SeriesState | None]] = []
            for k in self._keys:
                v = self._series[k]
                if seen.get(k) == v.version:
                    out.append((k, None))
                else:
                    out.append((k, SeriesState(v.latest, Counter(v.outcomes), list(v.buckets),
                                               v.count, v.sum_ms, v.version)))
            return out

    def latest(self) -> list[tuple[SeriesKey, ProbeResult]]:
        """Each series' latest result in key order (results are immutable: no copy)."""
        with self._lock:
            if self._keys is None:
                self._keys = sorted(self._series)
            return [(k, self._series[k].latest) for k in self._keys]
