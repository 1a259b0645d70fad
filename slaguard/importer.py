"""``import-results FILE.jsonl``: the interchange format into the record.

All or nothing: the whole file is imported in one transaction; the first bad
line stops the import with its line number and the store is left as it was.
Results already in the record (same target, location and ts) are skipped, so
importing a file twice never doubles anything.

Whatever the file holds, the answer is a line number and a short reason: the
file is read as bytes and each line decoded on its own (a text reader decodes
ahead in blocks and would name a later line), no line may exceed
``MAX_LINE_BYTES`` (``/dev/zero`` or a 64 MiB line must not fill memory or the
message), and numbers that SQLite cannot hold are refused before they reach it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from slaguard.config import Config
from slaguard.domain import InterchangeError, ProbeResult, from_interchange
from slaguard.errors import ImportFileError
from slaguard.store import SQLiteStore
from slaguard.units import to_ms

CHUNK = 5000
# A result line is a few hundred bytes; 1 MiB leaves room for any honest line and
# bounds what one line can cost in memory and time.
MAX_LINE_BYTES = 1 << 20
# An error quotes values from the line; past this it is cut, so a huge value
# cannot flood a terminal or a log.
MAX_MESSAGE_CHARS = 300
DAY_MS = 86_400_000
INT64_MAX = 2**63 - 1  # SQLite's INTEGER
# The largest value each integer field may have; SQLite cannot store more than
# INT64_MAX, and a probe lasting more than a day is a unit mistake, not a probe.
_MAXIMA = {"duration_ms": DAY_MS, "bound_exceeded_ms": DAY_MS, "duration_us": DAY_MS * 1000,
           "status_code": 999, "bytes": INT64_MAX, "cert_expiry": INT64_MAX}
# A journey step's figures (``steps[i].…``): inside a run of at most a day.
_STEP_MAXIMA = {"offset_ms": DAY_MS, "elapsed_ms": DAY_MS, "attempts": DAY_MS,
                "status_code": 999}


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
        f = p.open("rb")
    except OSError as e:
        raise ImportFileError(str(p), 0, f"cannot read: {e.strerror}") from None
    with store.transaction() as db, f:
        chunk: list[ProbeResult] = []
        for lineno, doc in json_lines(str(p), f):
            chunk.append(_parse(str(p), lineno, doc, known))
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


def json_lines(path: str, f: BinaryIO) -> Iterator[tuple[int, Any]]:
    """The JSON value of each non-blank line with its number (from 1), or
    :class:`ImportFileError` naming the first line that is not one."""
    for lineno, text in text_lines(path, f):
        if text.strip():
            yield lineno, json_value(path, lineno, text)


def text_lines(path: str, f: BinaryIO, hint: str = "is this a JSON Lines file?"
               ) -> Iterator[tuple[int, str]]:
    """Each line decoded on its own with its number (from 1): at most MAX_LINE_BYTES read,
    so neither a huge line nor /dev/zero is held whole; bad UTF-8 named by its line."""
    lineno = 0
    while raw := f.readline(MAX_LINE_BYTES + 1):
        lineno += 1
        body = raw[:-1] if raw.endswith(b"\n") else raw
        if len(body) > MAX_LINE_BYTES:
            raise ImportFileError(path, lineno, f"line longer than {MAX_LINE_BYTES:,} bytes "
                                                f"(1 MiB); {hint}")
        try:
            yield lineno, body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ImportFileError(path, lineno,
                                  f"not UTF-8: {e.reason} (byte {e.start + 1})") from None


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


def json_value(path: str, lineno: int, text: str) -> Any:
    """One line's JSON value (NaN and Infinity refused), or :class:`ImportFileError`."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ImportFileError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise ImportFileError(path, lineno, "invalid JSON: nested too deeply") from None
    except _NotJson as e:
        raise ImportFileError(path, lineno, f"invalid JSON: {e}") from None
    except ValueError:  # Python's guard against quadratic int(): more than 4300 digits
        raise ImportFileError(path, lineno, "invalid JSON: a number with more than "
                                            f"{sys.get_int_max_str_digits()} digits") from None


def short(message: str) -> str:
    """``message``, cut to :data:`MAX_MESSAGE_CHARS` with the length it had."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return f"{message[:MAX_MESSAGE_CHARS]}… ({len(message):,} characters)"


def _in_range(r: ProbeResult) -> ProbeResult:
    fields = [(key, getattr(r, key), top) for key, top in _MAXIMA.items()]
    fields += [(f"phases_ms.{k}", v, DAY_MS) for k, v in r.phases_ms.items()]
    fields += [(f"steps[{i}].{key}", getattr(st, key), top) for i, st in enumerate(r.steps)
               for key, top in _STEP_MAXIMA.items()]
    fields += [(f"vitals.{k}", v, INT64_MAX) for k, v in r.vitals.items()]
    for key, value, top in fields:
        if value is not None and value > top:
            raise InterchangeError(f"{key}: {value} is more than the largest allowed, {top}")
    return r


def _parse(path: str, lineno: int, doc: Any, known: Known) -> ProbeResult:
    try:
        return _in_range(from_interchange(doc, known.services, known.kinds, known.locations))
    except InterchangeError as e:
        raise ImportFileError(path, lineno, short(str(e))) from None
