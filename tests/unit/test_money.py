import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.money import AmountError, format_money, minor_units, parse_amount


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1234.56", "EUR", 123456),
        ("1,234.5", "EUR", 123450),
        ("0.01", "EUR", 1),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        (" 7 ", "GBP", 700),
    ],
)
def test_parse_amount_in_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("12.345", "EUR"),
        ("1.5", "JPY"),
        ("abc", "EUR"),
        ("", "EUR"),
        ("NaN", "EUR"),
        ("Infinity", "EUR"),
        ("1e400000", "EUR"),
    ],
)
def test_parse_amount_refuses_what_is_not_money(text: str, currency: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text, currency)


def test_minor_units_follow_the_currency() -> None:
    assert [minor_units(c) for c in ("JPY", "EUR", "KWD")] == [0, 2, 3]


def test_format_money_for_people() -> None:
    assert format_money(123456, "EUR") == "€1,234.56"
    assert format_money(123456, "EUR", "de") == "1.234,56\xa0€"
    assert format_money(1500, "JPY") == "¥1,500"


@given(st.integers(min_value=-(10**14), max_value=10**14), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_decimal_text_parses_back_exactly(minor: int, currency: str) -> None:
    digits = minor_units(currency)
    whole, fraction = divmod(abs(minor), 10**digits)
    text = ("-" if minor < 0 else "") + str(whole) + (f".{fraction:0{digits}d}" if digits else "")
    assert parse_amount(text, currency) == minor
