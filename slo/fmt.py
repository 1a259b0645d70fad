"""Exact numbers to display strings, with the rounding direction stated.

Report fields never carry floats: ratios travel as ``Fraction`` and are shown
as decimal strings.  Availability is rounded *down* so that 99.8993 % never
shows as 99.90 % beside a credit; other ratios are exact when they terminate
within the requested places and rounded down (towards −∞) otherwise.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


def _floor_fixed(x: Fraction, places: int) -> str:
    scaled = (x.numerator * 10**places) // x.denominator  # floor, also for negatives
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(places + 1, "0")
    if places == 0:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def percent_down(ratio: Fraction, places: int = 3) -> str:
    """A ratio as a percent string rounded down: 0.99899907 → ``"99.899"``."""
    return _floor_fixed(ratio * 100, places)


def number(x: Fraction | Decimal | int, max_places: int = 6) -> str:
    """Exact decimal when it terminates within ``max_places`` (trailing zeros dropped),
    else rounded down to ``max_places``: 2592 → ``"2592"``, 259.2 → ``"259.2"``."""
    fr = Fraction(x)
    text = _floor_fixed(fr, max_places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def percent_text(p: Decimal) -> str:
    """An objective percent, no exponent or trailing zeros: ``Decimal('99.90')`` → ``"99.9"``."""
    return number(p, max_places=12)


def fraction_text(x: Fraction) -> str:
    """The exact value, for audit fields: ``"23000/101"`` or ``"3"``."""
    return str(x)
