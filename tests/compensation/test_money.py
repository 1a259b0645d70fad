"""Money: one HALF_UP rounding per line, two-decimal text, 大写 and extension days."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo.compensation import (
    amount_in_words,
    extension_days,
    money_text,
    round_money,
    share_of_fee,
)

DIGITS = "零壹贰叁肆伍陆柒捌玖"
POWERS = {"拾": 10, "佰": 100, "仟": 1000}


def test_line_rounding_is_half_up_once() -> None:
    assert share_of_fee(Decimal("1234.45"), Decimal(10)) == Decimal("123.45")  # HALF_EVEN: .44
    assert share_of_fee(Decimal("0.25"), Decimal(10)) == Decimal("0.03")
    assert round_money(Decimal("2.675")) == Decimal("2.68")  # round(2.675, 2) == 2.67
    assert round_money(Fraction(-2675, 1000)) == Decimal("-2.68")  # away from zero
    assert round_money(Fraction(1, 3)) == Decimal("0.33")
    assert share_of_fee(Decimal("10000.00"), Fraction(4)) == Decimal("400.00")


def test_rounded_amounts_keep_two_places() -> None:
    assert str(round_money(1000)) == "1000.00"
    assert money_text(Decimal("1200")) == "1200.00"
    assert money_text(Decimal("-2000.00")) == "-2000.00"
    assert money_text(Decimal("1E+3")) == "1000.00"


@pytest.mark.parametrize(("amount", "words"), [
    ("0.00", "零元整"),
    ("1200.00", "壹仟贰佰元整"),
    ("10.00", "壹拾元整"),
    ("15.00", "壹拾伍元整"),
    ("18.52", "壹拾捌元伍角贰分"),
    ("100.00", "壹佰元整"),
    ("101.00", "壹佰零壹元整"),
    ("110.00", "壹佰壹拾元整"),
    ("1009.00", "壹仟零玖元整"),
    ("1010.00", "壹仟零壹拾元整"),
    ("10000.00", "壹万元整"),
    ("10001.00", "壹万零壹元整"),
    ("12000.00", "壹万贰仟元整"),
    ("100700.00", "壹拾万零柒佰元整"),
    ("1000000.00", "壹佰万元整"),
    ("100000000.00", "壹亿元整"),
    ("100000001.00", "壹亿零壹元整"),
    ("100010000.00", "壹亿零壹万元整"),
    ("110000000.00", "壹亿壹仟万元整"),
    ("1000100000000.00", "壹万零壹亿元整"),
    # The examples of the PBOC rules for filling in bills (first form where two are allowed).
    ("1409.50", "壹仟肆佰零玖元伍角"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),
    ("107000.53", "壹拾万柒仟元零伍角叁分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    # 角 and 分 alone.
    ("0.50", "伍角"),
    ("0.05", "伍分"),
    ("0.25", "贰角伍分"),
    ("9.95", "玖元玖角伍分"),
    ("20.05", "贰拾元零伍分"),
    ("20.50", "贰拾元零伍角"),
    ("21.50", "贰拾壹元伍角"),
])
def test_amount_in_words(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


@pytest.mark.parametrize("bad", ["-1.00", "1.005", "NaN", "Infinity", "1E+16"])
def test_amount_in_words_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        amount_in_words(Decimal(bad))


def _section(text: str) -> int:
    value, digit = 0, None
    for ch in text:
        if ch == "零":
            continue
        if ch in DIGITS:
            assert digit is None, f"two digits in a row in {text!r}"
            digit = DIGITS.index(ch)
        else:
            assert digit is not None, f"{ch} without a digit in {text!r} (壹拾, never 拾)"
            value, digit = value + digit * POWERS[ch], None
    return value + (digit or 0)


def _integer(text: str) -> int:
    """An independent reading of the integer part, splitting at the largest unit."""
    if "亿" in text:
        head, tail = text.rsplit("亿", 1)
        return _integer(head) * 10**8 + _integer(tail.removeprefix("零"))
    if "万" in text:
        head, tail = text.split("万", 1)
        return _section(head) * 10**4 + _integer(tail.removeprefix("零"))
    return _section(text)


def read_words(words: str) -> int:
    """大写 back to fen."""
    if words == "零元整":
        return 0
    body = words.removesuffix("整")
    yuan_text, _, rest = body.rpartition("元") if "元" in body else ("", "", body)
    rest = rest.removeprefix("零")
    jiao = fen = 0
    if "角" in rest:
        j, rest = rest.split("角")
        jiao = DIGITS.index(j)
    if rest:
        assert rest.endswith("分") and len(rest) == 2, words
        fen = DIGITS.index(rest[0])
    return _integer(yuan_text) * 100 + jiao * 10 + fen


amounts = st.integers(min_value=0, max_value=10**15 * 100 - 1).map(
    lambda fen: Decimal(fen).scaleb(-2))


@given(amounts)
def test_words_read_back_to_the_amount(amount: Decimal) -> None:
    words = amount_in_words(amount)
    assert read_words(words) == int(amount.scaleb(2))


@given(amounts)
def test_words_are_well_formed(amount: Decimal) -> None:
    words = amount_in_words(amount)
    assert set(words) <= set(DIGITS + "拾佰仟万亿元角分整")
    assert "零零" not in words
    for unit in "万亿元角分":
        assert f"零{unit}" not in words or words == "零元整"
    assert not words.startswith("零") or words == "零元整"
    fen = int(amount.scaleb(2))
    assert words.endswith("整") == (fen % 100 == 0)
    assert words.endswith("分") == (fen % 10 != 0)
    assert ("元" in words) == (fen >= 100 or fen == 0)


def test_extension_days() -> None:
    assert extension_days(Decimal("1000.00"), Decimal("10000.00"), 30) == 3
    assert extension_days(Decimal("1000.01"), Decimal("10000.00"), 30) == 4
    assert extension_days(Decimal("1000.00"), Decimal("10000.00"), 31) == 4  # 3.1 → 4
    assert extension_days(Decimal("0.01"), Decimal("10000.00"), 30) == 1
    assert extension_days(Decimal("0.00"), Decimal("10000.00"), 30) == 0
    assert extension_days(Decimal("8400.00"), Decimal("12000.00"), 31) == 22
    assert extension_days(Decimal("5.00"), Decimal("0.00"), 30) is None
