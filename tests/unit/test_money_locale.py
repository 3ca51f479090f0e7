"""Amounts as spreadsheets export them: decimal comma or point, grouped thousands."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.money import AmountError, minor_units, parse_amount, plain_number


@pytest.mark.parametrize(
    ("text", "decimal", "minor"),
    [
        ("1.234,56", ",", 123456),
        ("1.234,56", ".", 123456),
        ("1,234.56", ",", 123456),
        ("1 234,56", ",", 123456),
        ("1\u00a0234,56", ",", 123456),
        ("1\u202f234.56", ".", 123456),
        ("1'234.56", ".", 123456),
        ("1.234.567,8", ",", 123456780),
        ("12,5", ".", 1250),
        ("12,345", ".", 1234500),
        ("1.234", ",", 123400),
        (" 7 ", ",", 700),
        ("+3", ",", 300),
        ("-5,00", ",", -500),
    ],
)
def test_locale_amounts(text: str, decimal: str, minor: int) -> None:
    assert parse_amount(text, "EUR", decimal_separator=decimal) == minor


@pytest.mark.parametrize(
    ("text", "decimal", "message"),
    [
        ("12,345", ",", "at most 2 decimals"),
        ("1.234", ".", "at most 2 decimals"),
        ("abc", ",", "not an amount"),
        ("", ",", "not an amount"),
        ("1,2,3", ".", "grouped by three"),
        ("12 34", ",", "grouped by three"),
        ("1.", ".", "not an amount"),
        (",5", ",", "not an amount"),
        ("1,234.567,8", ",", "not an amount"),
        ("1e5", ".", "not an amount"),
        ("€ 5", ".", "not an amount"),
        ("1" * 20, ".", "larger than any amount"),
    ],
)
def test_locale_amounts_refused(text: str, decimal: str, message: str) -> None:
    with pytest.raises(AmountError, match=message):
        parse_amount(text, "EUR", decimal_separator=decimal)


def test_yen_and_dinar_decimals() -> None:
    assert parse_amount("1.234", "JPY", decimal_separator=",") == 1234
    assert parse_amount("1,234", "KWD", decimal_separator=",") == 1234
    with pytest.raises(AmountError):
        parse_amount("1,5", "JPY", decimal_separator=",")


def test_decimal_separator_must_be_a_mark() -> None:
    with pytest.raises(ValueError, match="neither"):
        plain_number("1", ";")


@given(
    st.integers(min_value=0, max_value=10**12),
    st.sampled_from(["EUR", "JPY", "KWD"]),
    st.sampled_from([(",", "."), (".", ","), (",", " "), (".", "'")]),
)
def test_grouped_text_parses_back_exactly(minor: int, currency: str, marks) -> None:
    decimal, group = marks
    digits = minor_units(currency)
    whole, fraction = divmod(minor, 10**digits)
    grouped = f"{whole:,}".replace(",", group)
    text = grouped + (f"{decimal}{fraction:0{digits}d}" if digits else "")
    assert parse_amount(text, currency, decimal_separator=decimal) == minor
