"""``import-results FILE.jsonl``: the interchange format into the record.

All or nothing: the whole file is imported in one transaction; the first bad
line stops the import with its line number and the store is left as it was.
Results already in the record (same target, location and ts) are skipped, so
importing a file twice never doubles anything.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from slaguard.domain import InterchangeError, ProbeResult, from_interchange
from slaguard.errors import ImportFileError
from slaguard.store import SQLiteStore

CHUNK = 5000


@dataclass(frozen=True)
class ImportStats:
    lines: int
    added: int
    duplicates: int
    seconds: float


class Progress:
    """Progress on a terminal, silent otherwise (a log file wants no \\r)."""

    def __init__(self, stream: TextIO | None = None, every: float = 0.5):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.every, self._last, self._t0 = every, 0.0, time.monotonic()

    def __call__(self, lines: int, done: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not done and now - self._last < self.every):
            return
        self._last = now
        rate = lines / max(now - self._t0, 1e-9)
        end = "\n" if done else ""
        self.stream.write(f"\rimported {lines:,} lines ({rate:,.0f}/s){end}")
        self.stream.flush()


def import_results(store: SQLiteStore, path: str | Path, services: dict[str, str],
                   intervals: dict[str, int],
                   progress: Callable[[int, bool], None] | None = None) -> ImportStats:
    t0 = time.monotonic()
    lines = added = dups = 0
    p = Path(path)
    with store.transaction() as db, p.open(encoding="utf-8") as f:
        chunk: list[ProbeResult] = []
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            chunk.append(_parse(str(p), lineno, line, services))
            lines += 1
            if len(chunk) >= CHUNK:
                stats = store.add_in(db, chunk, intervals)
                added, dups, chunk = added + stats.added, dups + stats.duplicates, []
                if progress:
                    progress(lines, False)
        if chunk:
            stats = store.add_in(db, chunk, intervals)
            added, dups = added + stats.added, dups + stats.duplicates
    if progress:
        progress(lines, True)
    return ImportStats(lines, added, dups, time.monotonic() - t0)


def _parse(path: str, lineno: int, line: str, services: dict[str, str]) -> ProbeResult:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        raise ImportFileError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    try:
        return from_interchange(doc, services)
    except InterchangeError as e:
        raise ImportFileError(path, lineno, str(e)) from None
