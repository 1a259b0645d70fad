"""Results the record could not take yet, on another disk: fsynced JSONL segments.

When the record cannot commit (its disk is full, it fails) and the writer's
memory buffer is full, results go here, one segment per spill, in the
interchange format ``import-results`` reads.  A segment is written to a
temporary name, fsynced and renamed (then the directory fsynced), so after a
crash a segment is either whole or absent.  Segments are replayed oldest first,
on recovery and at the next start, and removed once committed; committing one
twice is harmless (the record skips results it already has).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from slaguard.domain import InterchangeError, ProbeResult, from_interchange, to_json_line

log = logging.getLogger(__name__)

PREFIX = "spill-"
SUFFIX = ".jsonl"


class Spill:
    """The segments in one directory.  The writer thread replays them while another
    writes new ones (and the event loop reads the count): a lock guards the index."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self._lock = threading.Lock()
        self._seq = 0
        # Segment path → results in it (for the uncommitted gauge without re-reading).
        self._segments: dict[Path, int] = {}
        if self.dir.is_dir():
            for p in sorted(self.dir.glob(f"{PREFIX}*{SUFFIX}")):
                with open(p, "rb") as f:
                    self._segments[p] = sum(1 for line in f if line.strip())

    @property
    def count(self) -> int:
        with self._lock:
            return sum(self._segments.values())

    @property
    def segments(self) -> int:
        with self._lock:
            return len(self._segments)

    def write(self, results: list[ProbeResult]) -> None:
        """One durable segment, or OSError and nothing (its temporary file removed)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._seq += 1
            seq = self._seq
        # Names sort in the order written, also across restarts.
        name = f"{PREFIX}{time.time_ns():020d}-{os.getpid()}-{seq:06d}{SUFFIX}"
        final, tmp = self.dir / name, self.dir / (name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(to_json_line(r) + "\n" for r in results)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.dir)
        with self._lock:
            self._segments[final] = len(results)

    def oldest(self) -> tuple[Path, list[ProbeResult]]:
        """The oldest segment and its results (a line that cannot be read is logged, skipped)."""
        with self._lock:
            path = min(self._segments)
        results: list[ProbeResult] = []
        if not path.exists():  # removed by hand: nothing to replay
            self.remove(path)
            return path, results
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    results.append(from_interchange(json.loads(line)))
                except (ValueError, InterchangeError) as e:
                    log.error("spill %s line %d cannot be read, skipped: %s", path, n, e)
        return path, results

    def remove(self, path: Path) -> None:
        with self._lock:
            self._segments.pop(path, None)
        path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
