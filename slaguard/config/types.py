"""Configuration types shared by the schema and the per-kind models.

Units parse at load time (durations become ``timedelta``, sizes ``int`` bytes,
percents ``Decimal``); every model is ``Strict`` (unknown keys are refused).
``TargetBase`` is what every target kind shares; a kind's own model lives beside
its peers (``schema.py``, or its own module for the larger kinds) and joins
``schema.TARGET_KINDS``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)

from slaguard.units import format_duration, parse_duration, parse_percent, parse_size

Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


class StrictBound(timedelta):
    """A duration bound met only *below* it: the standard's "<" (平均 <3秒, RPO <1小时)."""

    inclusive = False


class InclusiveBound(timedelta):
    """A duration bound met at it too ("≤"), when a contract says so."""

    inclusive = True


_BOUND_OPERATOR = re.compile(r"^\s*(<=|≤|<)\s*")


def parse_bound(value: object) -> timedelta:
    """``"< 3s"`` or a bare ``3s`` (strict: the standard's wording), ``"<= 3s"`` or
    ``"≤ 3s"`` (inclusive).  The result is a ``timedelta`` that knows which."""
    if isinstance(value, StrictBound | InclusiveBound):
        return value
    op = None
    if isinstance(value, str):
        m = _BOUND_OPERATOR.match(value)
        if m:
            op, value = m.group(1), value[m.end():]
        elif value.strip()[:1] in (">", "=", "≥"):
            raise ValueError(f"not a bound: {value!r} (write < 3s, met below 3 s, or <= 3s, "
                             "met at 3 s too)")
    td = parse_duration(value)
    cls = InclusiveBound if op in ("<=", "≤") else StrictBound
    return cls(milliseconds=td // timedelta(milliseconds=1))


def bound_inclusive(td: timedelta) -> bool:
    """Whether a bound is met at its limit; a plain ``timedelta`` follows the standard
    (strict)."""
    return bool(getattr(td, "inclusive", False))


def format_bound(td: timedelta) -> str:
    return f"{'<=' if bound_inclusive(td) else '<'} {format_duration(td)}"


# A performance or recovery bound: strict unless written "<= …".
Bound = Annotated[
    timedelta, BeforeValidator(parse_bound), PlainSerializer(format_bound, return_type=str)
]
Size = Annotated[int, BeforeValidator(parse_size)]
Percent = Annotated[Decimal, BeforeValidator(parse_percent)]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _infinite(value: object) -> bool:
    return (isinstance(value, float | Decimal) and value == float("inf")) or value in (
        ".inf", "inf", "Infinity",
    )


def _duration_or_inf(value: object) -> timedelta | None:
    return None if _infinite(value) else parse_duration(value)


def _percent_or_inf(value: object) -> Decimal | None:
    if _infinite(value):
        return None
    try:
        d = Decimal(str(value).rstrip("%").strip())
    except InvalidOperation:
        raise ValueError(f"not a percent: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"not a non-negative percent: {value!r}")
    return d


OpenDuration = Annotated[timedelta | None, BeforeValidator(_duration_or_inf)]  # None = ∞
# None = ∞ (lateness may exceed 100 %)
OpenPercent = Annotated[Decimal | None, BeforeValidator(_percent_or_inf)]


def _money(value: object) -> Decimal:
    if isinstance(value, float):
        # Money never passes through a float: 12000.1 in YAML may not be 12000.10.
        raise ValueError("money must be a quoted string with two decimals, e.g. \"12000.00\"")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r} (use e.g. \"12000.00\")") from None
    if not d.is_finite() or d < 0 or d.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"not an amount in 0.01 units: {value!r}")
    return d.quantize(Decimal("0.01"))


Money = Annotated[Decimal, BeforeValidator(_money)]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as e:
        raise ValueError(f"invalid regular expression {value!r}: {e}") from None
    return value


Regex = Annotated[str, AfterValidator(_regex)]


def _objective(value: object) -> Decimal:
    """An objective carries its ``%``: a bare ``99.9`` (or ``0.999``) leaves a reader to
    guess the unit, and a guess here moves every budget and credit."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_percent(value)
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a percent: {value!r} (use e.g. 99.9%)") from None
    if d.is_finite() and 0 < d < 1:  # a fraction: 0.999 means 99.9%
        raise ValueError(f"write {(d * 100).normalize():f}% (an objective needs its % sign; "
                         f"{value} looks like a fraction)")
    raise ValueError(f"write {value}% (an objective needs its % sign)")


Objective = Annotated[Decimal, BeforeValidator(_objective)]


def _port(value: str) -> str:
    """``host:port`` with a real port; the field's pattern judges the rest (it may run
    after this)."""
    port = value.rsplit(":", 1)[-1]
    if port.isdigit() and int(port) > 65535:
        raise ValueError(f"port {port} is above 65535, the highest TCP port")
    return value


HostPort = Annotated[str, AfterValidator(_port)]




class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- targets ------------------------------------------------------------------


class Expect(Strict):
    status: list[int] | None = None  # None: any 2xx
    body_contains: str | None = None
    body_regex: Regex | None = None
    json_: dict[str, Any] | None = Field(default=None, alias="json")
    headers: dict[str, Regex] | None = None
    # A performance bound, not an assertion: a correct answer that takes longer is
    # a success recorded with ``bound_exceeded_ms`` (a latency breach, never downtime).
    # "30s" or "< 30s": exactly 30 s is a breach; "<= 30s": it is not.
    max_duration: Bound | None = None


class TLSOptions(Strict):
    insecure_skip_verify: bool = False
    ca_file: str | None = None
    server_name: str | None = None


class TargetBase(Strict):
    name: Name
    service: str
    url: Annotated[str, Field(pattern=r"^https?://")]
    interval: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(seconds=10)
    headers: dict[str, str] = Field(default_factory=dict)
    tls: TLSOptions = TLSOptions()
    # cold: a new connection per probe, no keep-alive, no DNS cache (blackbox semantics);
    # warm: keep-alive and DNS cache, labelled connection="warm".
    connection: Literal["cold", "warm"] = "cold"
    max_body: Size = 10 * 2**20
    # Does this target count towards its service's availability?
    availability: bool = True
    # Run only from these locations (default: every location).
    locations: list[str] | None = None
