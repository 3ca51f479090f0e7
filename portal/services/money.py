"""Amounts are integers in a currency's minor units; this converts them for people."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies

# Far above any claim, far below what a BIGINT column holds.
MAX_MINOR_UNITS = 10**15


class AmountError(ValueError):
    """Text that is not an amount of money in the given currency."""


def is_currency(code: str) -> bool:
    return code in list_currencies()


def minor_units(currency: str) -> int:
    """Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD."""
    return int(get_currency_precision(currency))


def parse_amount(text: str, currency: str) -> int:
    """``"1234.5"`` in EUR is 123450: refuses more decimals than the currency has."""
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation as error:
        raise AmountError(f"{text!r} is not an amount") from error
    if not value.is_finite():
        raise AmountError(f"{text!r} is not an amount")
    if abs(value) >= MAX_MINOR_UNITS:
        raise AmountError(f"{text!r} is larger than any amount the portal accepts")
    scaled = value.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise AmountError(f"{currency} amounts have at most {minor_units(currency)} decimals")
    return int(scaled)


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-minor_units(currency))


def format_money(amount_minor: int, currency: str, locale: str = "en") -> str:
    return str(format_currency(to_decimal(amount_minor, currency), currency, locale=locale))
