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
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from slaguard.config import Config
from slaguard.domain import InterchangeError, ProbeResult, from_interchange
from slaguard.errors import ImportFileError
from slaguard.store import SQLiteStore
from slaguard.units import to_ms

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


@dataclass(frozen=True)
class Known:
    """What the configuration knows: every line must agree with it."""

    services: dict[str, str]  # target → service
    intervals: dict[str, int]  # target → interval ms
    kinds: dict[str, str] | None = None  # target → kind
    locations: Collection[str] | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> Known:
        return cls(cfg.target_services, {t.name: to_ms(t.interval) for t in cfg.targets},
                   {t.name: t.kind for t in cfg.targets}, cfg.all_locations)


def import_results(store: SQLiteStore, path: str | Path, known: Known,
                   progress: Callable[[int, bool], None] | None = None) -> ImportStats:
    t0 = time.monotonic()
    lines = added = dups = 0
    p = Path(path)
    try:
        f = p.open(encoding="utf-8")
    except OSError as e:
        raise ImportFileError(str(p), 0, f"cannot read: {e.strerror}") from None
    with store.transaction() as db, f:
        chunk: list[ProbeResult] = []
        for lineno, line in _lines(str(p), f):
            if not line.strip():
                continue
            chunk.append(_parse(str(p), lineno, line, known))
            lines += 1
            if len(chunk) >= CHUNK:
                stats = store.add_in(db, chunk, known.intervals)
                added, dups, chunk = added + stats.added, dups + stats.duplicates, []
                if progress:
                    progress(lines, False)
        if chunk:
            stats = store.add_in(db, chunk, known.intervals)
            added, dups = added + stats.added, dups + stats.duplicates
    if progress:
        progress(lines, True)
    return ImportStats(lines, added, dups, time.monotonic() - t0)


def _lines(path: str, f: TextIO) -> Iterator[tuple[int, str]]:
    lineno = 0
    try:
        for lineno, line in enumerate(f, 1):
            yield lineno, line
    except UnicodeDecodeError as e:
        raise ImportFileError(path, lineno + 1, f"not UTF-8: {e.reason}") from None


def _parse(path: str, lineno: int, line: str, known: Known) -> ProbeResult:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        raise ImportFileError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    try:
        return from_interchange(doc, known.services, known.kinds, known.locations)
    except InterchangeError as e:
        raise ImportFileError(path, lineno, str(e)) from None
