"""Latency histograms: the exact durations of one series' successful results in one
UTC hour, and in one UTC day, kept beside the raw results so a month's latency
objective reads ~30 day rows per series (and hour rows at the edges of a
period that is not made of whole UTC days) instead of ~86 400 raw rows.

A histogram is stored as ascending (duration_ms, count) pairs of little-endian
32-bit integers.  An hour holding a duration that does not fit 32 bits keeps no
histogram (``NULL``): readers take that hour from the raw rows, so the record
stays exact whatever a probe or an import reports; its day keeps none either,
and readers take that day from its hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from slo.latency import merge_counts

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
_INT32 = np.dtype("<i4")
_LOW, _HIGH = -(2**31), 2**31 - 1


def hour_of(ts_ms: int) -> int:
    """Start of the UTC hour holding ``ts_ms`` (floor, also before 1970)."""
    return ts_ms - ts_ms % HOUR_MS


def day_of(ts_ms: int) -> int:
    """Start of the UTC day holding ``ts_ms``."""
    return ts_ms - ts_ms % DAY_MS


def encode(counts: Mapping[int, int]) -> bytes | None:
    """The blob of ``{duration_ms: count}``; ``None`` when a number does not fit."""
    values, counts_ = _arrays(counts)
    order = np.argsort(values)
    return encode_arrays(values[order], counts_[order])


def encode_arrays(values: NDArray[np.int64], counts: NDArray[np.int64]) -> bytes | None:
    """The blob of a histogram as arrays (values distinct and ascending)."""
    if values.size == 0:
        return None
    if values[0] < _LOW or values[-1] > _HIGH or counts.max() > _HIGH:
        return None
    return np.column_stack((values, counts)).astype(_INT32).tobytes()


def decode(blob: bytes) -> dict[int, int]:
    pairs = np.frombuffer(blob, dtype=_INT32).reshape(-1, 2).tolist()
    return {v: c for v, c in pairs}


def merged(blob: bytes | None, counts: Mapping[int, int]) -> bytes | None:
    """``counts`` added to an hour's stored histogram (``None`` stays ``None``)."""
    if blob is None:
        return None
    old_values, old_counts = pairs([blob])
    new_values, new_counts = _arrays(counts)
    return encode_arrays(*merge_counts(np.concatenate((old_values, new_values)),
                                       np.concatenate((old_counts, new_counts))))


def _arrays(counts: Mapping[int, int]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    # Durations fit 64 bits: SQLite has refused the result row before its count comes here.
    n = len(counts)
    return (np.fromiter(counts.keys(), dtype=np.int64, count=n),
            np.fromiter(counts.values(), dtype=np.int64, count=n))


def pairs(blobs: Sequence[bytes]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every (value, count) pair of several blobs, unmerged, as two int64 arrays."""
    flat = np.frombuffer(b"".join(blobs), dtype=_INT32).reshape(-1, 2)
    return flat[:, 0].astype(np.int64), flat[:, 1].astype(np.int64)
