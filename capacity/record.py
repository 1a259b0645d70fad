"""A capacity run's figures, thresholds, abort rules and verdict: pure functions over
what Locust wrote (no I/O, no clock).

Locust keeps each endpoint's response times as a histogram of milliseconds (exact
to 100 ms, then rounded to 10 ms, above 1 s to 100 ms: at most 5 % off);
percentiles here are nearest-rank over that histogram, means Σ/count of the raw
times.  Durations are integer milliseconds, shares Decimal percent strings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from slaguard.config.capacity import AbortRules, Thresholds
from slaguard.config.types import bound_inclusive

Verdict = Literal["passed", "failed", "aborted", "invalid"]
VERDICTS: tuple[Verdict, ...] = ("passed", "failed", "aborted", "invalid")
HISTORY_STEP_S = 10
AGGREGATED = "Aggregated"


def _ms(value: float | Decimal) -> int:
    return int(Decimal(str(value)).to_integral_value(ROUND_HALF_UP))


def percent(part: int, whole: int) -> Decimal:
    """``part / whole`` in percent, 3 decimals (0 of 0 is 0)."""
    if whole == 0:
        return Decimal(0).quantize(Decimal("0.001"))
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.001"), ROUND_HALF_UP)


def nearest_rank(hist: Mapping[int, int], q: Decimal) -> int | None:
    """The smallest value with at least ⌈q × n⌉ values at or below it."""
    n = sum(hist.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(Decimal(n) * q))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


@dataclass(frozen=True)
class Figures:
    """One endpoint's (or all endpoints') totals over the run."""
    name: str
    method: str
    count: int
    failures: int
    mean_ms: int | None
    p50_ms: int | None
    p95_ms: int | None
    p99_ms: int | None
    max_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "count": self.count,
                "failures": self.failures,
                "error_rate_percent": str(percent(self.failures, self.count)),
                "mean_ms": self.mean_ms, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
                "p99_ms": self.p99_ms, "max_ms": self.max_ms}


def _figures(name: str, method: str, count: int, failures: int, total_ms: float | Decimal,
             hist: Mapping[int, int], max_ms: float | Decimal | None) -> Figures:
    timed = sum(hist.values())
    return Figures(name, method, count, failures,
                   mean_ms=_ms(Decimal(str(total_ms)) / timed) if timed else None,
                   p50_ms=nearest_rank(hist, Decimal("0.5")),
                   p95_ms=nearest_rank(hist, Decimal("0.95")),
                   p99_ms=nearest_rank(hist, Decimal("0.99")),
                   max_ms=None if max_ms is None or not timed else _ms(max_ms))


def figures_from_json(entries: Sequence[Mapping[str, Any]]) -> tuple[list[Figures], Figures]:
    """Per endpoint and in total, from Locust's ``--json-file`` (its stats entries,
    each with the response-time histogram)."""
    rows: list[Figures] = []
    total_hist: dict[int, int] = {}
    count = failures = 0
    total_ms, max_ms = Decimal(0), Decimal(0)
    for e in sorted(entries, key=lambda e: (e["name"], e["method"] or "")):
        hist = {int(k): int(v) for k, v in e["response_times"].items()}
        rows.append(_figures(e["name"], e["method"] or "", int(e["num_requests"]),
                             int(e["num_failures"]), e["total_response_time"], hist,
                             e["max_response_time"]))
        for k, v in hist.items():
            total_hist[k] = total_hist.get(k, 0) + v
        count += int(e["num_requests"])
        failures += int(e["num_failures"])
        total_ms += Decimal(str(e["total_response_time"]))
        max_ms = max(max_ms, Decimal(str(e["max_response_time"] or 0)))
    return rows, _figures(AGGREGATED, "", count, failures, total_ms, total_hist, max_ms)


def _int_or_none(value: str | None) -> int | None:
    return None if value in (None, "", "N/A") else _ms(Decimal(value))


def figures_from_stats_csv(rows: Iterable[Mapping[str, str]]) -> tuple[list[Figures], Figures]:
    """The fallback when Locust could not write its JSON (it was killed): the last
    ``_stats.csv`` it flushed (Locust's own cumulative percentiles)."""
    out: list[Figures] = []
    total: Figures | None = None
    for r in rows:
        f = Figures(r["Name"], r["Type"], int(r["Request Count"]), int(r["Failure Count"]),
                    _int_or_none(r["Average Response Time"]), _int_or_none(r["50%"]),
                    _int_or_none(r["95%"]), _int_or_none(r["99%"]),
                    _int_or_none(r["Max Response Time"]))
        if r["Name"] == AGGREGATED:
            total = f
        else:
            out.append(f)
    empty = Figures(AGGREGATED, "", 0, 0, None, None, None, None, None)
    return sorted(out, key=lambda f: (f.name, f.method)), total or empty


# -- the live history ----------------------------------------------------------------------


@dataclass
class Sample:
    """One second of Locust's history (``--csv-full-history``): users, cumulative
    counts, and each endpoint's p95 over the last ~10 s."""
    ts: int
    users: int
    count: int
    failures: int
    p95_ms: int | None
    endpoint_p95_ms: dict[str, int | None] = field(default_factory=dict)


@dataclass
class History:
    """The samples so far, fed row by row as Locust appends them."""
    samples: list[Sample] = field(default_factory=list)
    _pending: dict[str, int | None] = field(default_factory=dict)

    def feed(self, row: Mapping[str, str]) -> None:
        """One CSV row: endpoint rows come first, then the second's Aggregated row."""
        if None in row.values() or None in row:
            return  # not a row of the header's shape (Locust wrote it half-way)
        p95 = _int_or_none(row.get("95%", ""))
        if row["Name"] != AGGREGATED:
            self._pending[row["Name"]] = p95
            return
        self.samples.append(Sample(int(row["Timestamp"]), int(row["User Count"]),
                                   int(row["Total Request Count"]),
                                   int(row["Total Failure Count"]), p95, self._pending))
        self._pending = {}

    @property
    def peak_users(self) -> int:
        return max((s.users for s in self.samples), default=0)

    def window(self, seconds: int) -> list[Sample]:
        """The samples of the last ``seconds`` (empty until that much has passed since
        the first request)."""
        first = next((s for s in self.samples if s.count > 0), None)
        if first is None or not self.samples or self.samples[-1].ts - first.ts < seconds:
            return []
        since = self.samples[-1].ts - seconds
        return [s for s in self.samples if s.ts >= since]


def history_doc(history: History, start_ms: int) -> list[dict[str, Any]]:
    """10 s steps from the run's start: users at the step's end, requests and failures
    in it, requests/s, error share and the p95 Locust saw over its last 10 s."""
    steps: dict[int, list[Sample]] = {}
    for s in history.samples:
        steps.setdefault(max(0, s.ts * 1000 - start_ms) // (HISTORY_STEP_S * 1000), []).append(s)
    out, before = [], (0, 0)
    for k in sorted(steps):
        last = steps[k][-1]
        requests, failures = last.count - before[0], last.failures - before[1]
        out.append({"t_s": k * HISTORY_STEP_S, "users": last.users, "requests": requests,
                    "failures": failures,
                    "rps": str((Decimal(requests) / HISTORY_STEP_S).quantize(Decimal("0.1"))),
                    "error_rate_percent": str(percent(failures, requests)),
                    "p95_ms": last.p95_ms})
        before = (last.count, last.failures)
    return out


# -- abort rules, thresholds, verdict -------------------------------------------------------


def _met(observed: int, bound: timedelta) -> bool:
    limit = bound // timedelta(milliseconds=1)
    return observed <= limit if bound_inclusive(bound) else observed < limit


def _op(bound: timedelta) -> str:
    return "<=" if bound_inclusive(bound) else "<"


def abort_reason(history: History, rules: AbortRules, thresholds: Thresholds,
                 endpoints: Sequence[str]) -> str | None:
    """Why the run must stop now, or None: errors above ``abort.error_rate`` over the
    last ``abort.for``, or an endpoint whose p95 (Locust's last 10 s) stayed above
    ``p95_factor`` × its p95 threshold at every second of the last ``abort.for``."""
    seconds = int(rules.for_.total_seconds())
    window = history.window(seconds)
    if not window:
        return None
    first, last = window[0], window[-1]
    requests, failures = last.count - first.count, last.failures - first.failures
    if rules.error_rate is not None and requests and percent(failures, requests) > rules.error_rate:
        return (f"error rate {percent(failures, requests)} % over the last {seconds} s "
                f"(abort above {rules.error_rate} %)")
    if rules.p95_factor is None:
        return None
    for name in endpoints:
        bound = thresholds.for_endpoint(name).p95
        if bound is None:
            continue
        limit = rules.p95_factor * (bound // timedelta(milliseconds=1))
        seen = [s.endpoint_p95_ms.get(name) for s in window]
        if all(v is not None and Decimal(v) > limit for v in seen):
            return (f"{name}: p95 above {limit.normalize():f} ms ({rules.p95_factor} × "
                    f"{_op(bound)} {bound // timedelta(milliseconds=1)} ms) for {seconds} s "
                    f"(last {seen[-1]} ms)")
    return None


def thresholds_doc(thresholds: Thresholds, rows: Sequence[Figures], total: Figures
                   ) -> list[dict[str, Any]]:
    """Each threshold with what the run observed and whether it passed.  An endpoint
    without a timed request cannot pass a latency threshold."""
    out: list[dict[str, Any]] = []
    for f in rows:
        t = thresholds.for_endpoint(f.name)
        for metric, bound, observed in (("p95", t.p95, f.p95_ms), ("mean", t.mean, f.mean_ms)):
            if bound is None:
                continue
            ms = bound // timedelta(milliseconds=1)
            out.append({"endpoint": f.name, "metric": metric,
                        "expr": f"{f.name} {metric} {_op(bound)} {ms} ms",
                        "observed": observed,
                        "pass": observed is not None and _met(observed, bound)})
    share = percent(total.failures, total.count)
    out.append({"endpoint": None, "metric": "error_rate",
                "expr": f"error rate <= {thresholds.error_rate} %",
                "observed": str(share), "pass": share <= thresholds.error_rate})
    return out


def verdict(thresholds: Sequence[Mapping[str, Any]], aborted_by: str | None,
            invalid_reason: str | None) -> Verdict:
    """invalid (the generator, not the platform, was measured) before aborted before
    failed (any threshold missed) before passed."""
    if invalid_reason:
        return "invalid"
    if aborted_by:
        return "aborted"
    return "passed" if all(t["pass"] for t in thresholds) else "failed"
