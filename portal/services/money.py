"""Amounts are integers in a currency's minor units; this converts them for people."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies

# Far above any claim, far below what a BIGINT column holds.
MAX_MINOR_UNITS = 10**15


class AmountError(ValueError):
    """Text that is not an amount of money in the given currency."""


# Thousands may be grouped with spaces (plain, no-break, narrow no-break) or apostrophes
# as well as with "," or "."; which of those two is the decimal mark is worked out.
_GROUP_SPACES = re.compile("[ \u00a0\u202f']")
_NUMBER_TEXT = re.compile(r"[0-9](?:[0-9 ,.]*[0-9])?")


def is_currency(code: str) -> bool:
    return code in list_currencies()


def minor_units(currency: str) -> int:
    """Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD."""
    return int(get_currency_precision(currency))


def parse_amount(text: str, currency: str, *, decimal_separator: str | None = None) -> int:
    """``"1234.5"`` in EUR is 123450: refuses more decimals than the currency has.

    Without ``decimal_separator`` the point is the decimal mark and commas are ignored
    (what people type into the portal's forms). With it (``","`` or ``"."``) the text
    is read as spreadsheets export it, see ``plain_number``.
    """
    if decimal_separator is None:
        plain = text.strip().replace(",", "")
    else:
        plain = plain_number(text, decimal_separator)
    try:
        value = Decimal(plain)
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


def plain_number(text: str, decimal_separator: str) -> str:
    """Number text as spreadsheets export it, as plain ``-1234.56``; else ``AmountError``.

    ``"1.234,56"``, ``"1,234.56"``, ``"1 234,56"`` and ``"1'234.56"`` are all 1234.56:
    when both marks appear the last one is the decimal mark, and a mark repeated or
    followed by other than three digits can only be one thing. The one ambiguous
    case, a single mark followed by exactly three digits (``"12,345"``), is read with
    ``decimal_separator``: with a decimal comma ``"12,345"`` is 12.345, never 12 345.
    Thousands groups must have three digits; letters, exponents and "1,2,3" are refused.
    """
    if decimal_separator not in {",", "."}:
        raise ValueError(f"decimal separator {decimal_separator!r} is neither ',' nor '.'")
    body = text.strip()
    sign = "-" if body.startswith("-") else ""
    if body[:1] in {"-", "+"}:
        body = body[1:].lstrip()
    body = _GROUP_SPACES.sub(" ", body)
    if not _NUMBER_TEXT.fullmatch(body):
        raise AmountError(f"{text!r} is not an amount")
    whole, fraction = body, ""
    mark_at = _decimal_mark(body, decimal_separator)
    if mark_at is not None:
        whole, fraction = body[:mark_at], body[mark_at + 1 :]
        if not fraction.isdigit() or body[mark_at] in whole:
            raise AmountError(f"{text!r} is not an amount")
    groups = re.split(r"[ ,.]", whole)
    grouped = len(groups) == 1 or (
        1 <= len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:])
    )
    if not grouped or not all(group.isdigit() for group in groups):
        raise AmountError(f"{text!r} is not an amount: thousands are grouped by three")
    return sign + "".join(groups) + (f".{fraction}" if fraction else "")


def _decimal_mark(body: str, decimal_separator: str) -> int | None:
    """Where the decimal mark is in ``body``, or None when it has none."""
    at = max(body.rfind(","), body.rfind("."))
    if at < 0:
        return None
    mark = body[at]
    if ("." if mark == "," else ",") in body:
        return at  # both marks: the last one separates the decimals
    if body.count(mark) > 1:
        return None  # repeated: it groups thousands
    if len(body) - at - 1 != 3:
        return at  # thousands groups have three digits, so this is the decimal mark
    return at if mark == decimal_separator else None


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-minor_units(currency))


def format_money(amount_minor: int, currency: str, locale: str = "en") -> str:
    return str(format_currency(to_decimal(amount_minor, currency), currency, locale=locale))
