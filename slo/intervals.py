"""Sets of half-open integer intervals ``[start, end)`` on numpy int64 arrays.

Every timeline in ``slo`` is a set of disjoint, sorted, non-adjacent intervals
of epoch milliseconds (or whole seconds after quantisation).  Keeping them
normalised means lengths add up exactly and set operations are a sweep over
boundaries: the cost grows with the number of *state changes*, never with the
number of seconds or results, which is what lets a month of 30 s probes over
a thousand series be evaluated in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
Mask = NDArray[np.bool_]

_EMPTY: I64 = np.zeros(0, dtype=np.int64)


def _i64(values: Sequence[int] | I64) -> I64:
    return np.asarray(values, dtype=np.int64)


@dataclass(frozen=True, eq=False, slots=True)
class IntervalSet:
    """A normalised set of ``[start, end)`` intervals; build it with :meth:`of`."""

    starts: I64
    ends: I64

    # -- construction -------------------------------------------------------

    @staticmethod
    def of(starts: Sequence[int] | I64, ends: Sequence[int] | I64) -> IntervalSet:
        """Normalise: drop empty intervals, sort, merge overlapping and touching ones."""
        s, e = _i64(starts), _i64(ends)
        keep = e > s
        s, e = s[keep], e[keep]
        if s.size == 0:
            return EMPTY
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
        reach = np.maximum.accumulate(e)
        new = np.ones(s.size, dtype=np.bool_)
        new[1:] = s[1:] > reach[:-1]
        idx = np.flatnonzero(new)
        return IntervalSet(s[idx], np.maximum.reduceat(e, idx))

    @staticmethod
    def span(start: int, end: int) -> IntervalSet:
        return IntervalSet.of([start], [end])

    @staticmethod
    def from_pairs(pairs: Iterable[tuple[int, int]]) -> IntervalSet:
        ps = list(pairs)
        return IntervalSet.of([p[0] for p in ps], [p[1] for p in ps])

    # -- inspection ---------------------------------------------------------

    def __len__(self) -> int:
        return int(self.starts.size)

    def __bool__(self) -> bool:
        return self.starts.size > 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.starts.tolist(), self.ends.tolist(), strict=True)

    def __repr__(self) -> str:
        return f"IntervalSet({list(self)!r})"

    def pairs(self) -> list[tuple[int, int]]:
        return list(self)

    def total(self) -> int:
        """Summed length, an exact Python int."""
        return int((self.ends - self.starts).sum())

    def contains(self, points: I64) -> Mask:
        """For each point, whether it lies inside one of the intervals."""
        if self.starts.size == 0:
            return np.zeros(points.shape, dtype=np.bool_)
        idx = np.searchsorted(self.starts, points, side="right") - 1
        return (idx >= 0) & (points < self.ends[np.maximum(idx, 0)])

    def intersects(self, start: int, end: int) -> bool:
        return bool(self.clip(start, end))

    # -- operations ---------------------------------------------------------

    def clip(self, lo: int, hi: int) -> IntervalSet:
        """The part inside ``[lo, hi)``."""
        if hi <= lo or self.starts.size == 0:
            return EMPTY
        s = np.maximum(self.starts, lo)
        e = np.minimum(self.ends, hi)
        keep = e > s
        return IntervalSet(s[keep], e[keep])

    def union(self, *others: IntervalSet) -> IntervalSet:
        sets = (self, *others)
        return IntervalSet.of(np.concatenate([x.starts for x in sets]),
                              np.concatenate([x.ends for x in sets]))

    def intersect(self, other: IntervalSet) -> IntervalSet:
        return combine((self, other), lambda m: m[0] & m[1])

    def subtract(self, other: IntervalSet) -> IntervalSet:
        if not other or not self:
            return self
        return combine((self, other), lambda m: m[0] & ~m[1])

    def complement(self, lo: int, hi: int) -> IntervalSet:
        """``[lo, hi)`` minus this set."""
        return IntervalSet.span(lo, hi).subtract(self)

    def outward(self, unit: int) -> IntervalSet:
        """Widen every interval to whole ``unit``s (start floored, end ceiled), in units."""
        return IntervalSet.of(self.starts // unit, -(-self.ends // unit))

    def inward(self, unit: int) -> IntervalSet:
        """Shrink every interval to the whole ``unit``s it fully contains, in units."""
        return IntervalSet.of(-(-self.starts // unit), self.ends // unit)

    def scale(self, unit: int) -> IntervalSet:
        return IntervalSet(self.starts * unit, self.ends * unit)


EMPTY = IntervalSet(_EMPTY, _EMPTY)


def segments(sets: Sequence[IntervalSet]) -> tuple[I64, I64, list[Mask]]:
    """Elementary segments between all boundaries, and each set's membership of them.

    Membership is constant on each segment, so any pointwise predicate over the
    sets (quorum counts, any/all) is evaluated once per segment.
    """
    points = np.unique(np.concatenate([np.concatenate([x.starts, x.ends]) for x in sets]))
    if points.size < 2:
        return _EMPTY, _EMPTY, [np.zeros(0, dtype=np.bool_) for _ in sets]
    seg_s, seg_e = points[:-1], points[1:]
    return seg_s, seg_e, [x.contains(seg_s) for x in sets]


def combine(sets: Sequence[IntervalSet], predicate: Callable[[list[Mask]], Mask]) -> IntervalSet:
    """The set of points where ``predicate`` over the sets' memberships holds."""
    if not sets:
        return EMPTY
    seg_s, seg_e, masks = segments(sets)
    if seg_s.size == 0:
        return EMPTY
    keep = predicate(masks)
    return IntervalSet.of(seg_s[keep], seg_e[keep])


def union_all(sets: Iterable[IntervalSet]) -> IntervalSet:
    items = list(sets)
    if not items:
        return EMPTY
    return items[0].union(*items[1:])
