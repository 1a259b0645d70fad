"""Hourly latency histograms: the exact durations of one series' successful results
in one UTC hour, kept beside the raw results so a month's latency objective reads
~720 small rows per series instead of ~86 400 raw ones.

A histogram is stored as ascending (duration_ms, count) pairs of little-endian
32-bit integers.  An hour holding a duration that does not fit 32 bits keeps no
histogram (``NULL``): readers take that hour from the raw rows, so the record
stays exact whatever a probe or an import reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

HOUR_MS = 3_600_000
_INT32 = np.dtype("<i4")
_LOW, _HIGH = -(2**31), 2**31 - 1


def hour_of(ts_ms: int) -> int:
    """Start of the UTC hour holding ``ts_ms`` (floor, also before 1970)."""
    return ts_ms - ts_ms % HOUR_MS


def encode(counts: Mapping[int, int]) -> bytes | None:
    """The blob of ``{duration_ms: count}``; ``None`` when a number does not fit."""
    items = sorted(counts.items())
    if items[0][0] < _LOW or items[-1][0] > _HIGH or max(counts.values()) > _HIGH:
        return None
    return np.array(items, dtype=_INT32).tobytes()


def decode(blob: bytes) -> dict[int, int]:
    pairs = np.frombuffer(blob, dtype=_INT32).reshape(-1, 2).tolist()
    return {v: c for v, c in pairs}


def merged(blob: bytes | None, counts: Mapping[int, int]) -> bytes | None:
    """``counts`` added to an hour's stored histogram (``None`` stays ``None``)."""
    if blob is None:
        return None
    total = decode(blob)
    for v, c in counts.items():
        total[v] = total.get(v, 0) + c
    return encode(total)


def pairs(blobs: Sequence[bytes]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every (value, count) pair of several blobs, unmerged, as two int64 arrays."""
    flat = np.frombuffer(b"".join(blobs), dtype=_INT32).reshape(-1, 2)
    return flat[:, 0].astype(np.int64), flat[:, 1].astype(np.int64)
