"""Parsing of the human units used in configuration: durations, sizes, percents.

Each parser returns an exact value (``timedelta``, ``int`` bytes, ``Decimal``)
and raises ``ValueError`` with a message fit to follow a config path.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$")
_SIZE = {
    None: 1, "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30,
}


def parse_duration(value: object) -> timedelta:
    """``30s``, ``15m``, ``1h30m``, ``500ms``; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a duration: {value!r}")
        return timedelta(milliseconds=_exact_ms(Decimal(str(value)) * 1000, value))
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 1h)")
    text = value.strip()
    pos, total = 0, Decimal(0)
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += Decimal(m.group(1)) * _DURATION_MS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 1h)")
    return timedelta(milliseconds=_exact_ms(total, value))


def _exact_ms(ms: Decimal, original: object) -> int:
    if ms != ms.to_integral_value():
        raise ValueError(f"duration {original!r} is finer than a millisecond")
    return int(ms)


def to_ms(td: timedelta) -> int:
    """Exact integer milliseconds (no float: 1001 ms stays 1001)."""
    return td // timedelta(milliseconds=1)


def format_duration(td: timedelta) -> str:
    ms = to_ms(td)
    for unit in ("w", "d", "h", "m", "s"):
        if ms and ms % _DURATION_MS[unit] == 0:
            return f"{ms // _DURATION_MS[unit]}{unit}"
    return f"{ms}ms"


def parse_size(value: object) -> int:
    """``10MiB`` → 10485760, ``10MB`` → 10000000; a bare integer is bytes."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"not a size: {value!r}")
        return value
    m = _SIZE_RE.match(str(value).strip())
    if not m:
        raise ValueError(f"not a size: {value!r} (use e.g. 10MiB, 512KB)")
    n = Decimal(m.group(1)) * _SIZE[m.group(2)]
    if n != n.to_integral_value():
        raise ValueError(f"size {value!r} is not a whole number of bytes")
    return int(n)


def parse_percent(value: object) -> Decimal:
    """``99.9%`` or ``99.9`` → ``Decimal('99.9')`` (a percent, 0..100)."""
    if isinstance(value, bool):
        raise ValueError(f"not a percent: {value!r}")
    text = str(value).strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    try:
        # str() of a YAML float keeps its shortest repr: 99.9 stays 99.9.
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a percent: {value!r} (use e.g. 99.9%)") from None
    if not d.is_finite() or d < 0 or d > 100:
        raise ValueError(f"percent out of range 0..100: {value!r}")
    return d
