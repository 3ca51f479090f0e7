"""The columns of the placement CSV template, and matching a creditor's own columns to them.

One row per invoice; the rows sharing a creditor reference are one case. Creditors
rarely upload our template as is: the columns of their own export are mapped to these
fields once, and the mapping is remembered for the tenant ({their header: our field},
an empty field for a column they ignore).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date


class Level(enum.StrEnum):
    """Whether a column describes the whole case (the same on each of its rows) or one invoice."""

    CASE = "case"
    INVOICE = "invoice"


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    required: bool
    level: Level
    format: str
    example: str
    second_example: str = ""  # the value on the example's second invoice, when it differs


DATE_FORMATS = {
    "dmy": ("day/month/year", "%d/%m/%Y"),
    "mdy": ("month/day/year", "%m/%d/%Y"),
    "iso": ("year-month-day (ISO 8601)", "%Y-%m-%d"),
}

COLUMNS: tuple[Column, ...] = (
    Column("creditor_reference", "Your reference", True, Level.CASE,
           "Your own reference for the case, up to 64 characters. The rows of one case "
           "share it and must come one after another.", "CUST-1001"),
    Column("debtor_kind", "Debtor kind", False, Level.CASE,
           "business or person. Empty means business.", "business"),
    Column("debtor_name", "Debtor name", True, Level.CASE,
           "The company's or the person's full name, up to 200 characters.", "Keller Bau GmbH"),
    Column("registration_number", "Registration number", False, Level.CASE,
           "Company register number, up to 64 characters.", "HRB 123456"),
    Column("vat_number", "VAT number", False, Level.CASE,
           "VAT identification number, up to 32 characters.", "DE123456789"),
    Column("email", "E-mail", False, Level.CASE,
           "The debtor's e-mail address.", "accounts@keller-bau.example"),
    Column("phone", "Phone", False, Level.CASE,
           "With the country code, up to 32 characters.", "+49 30 1234567"),
    Column("address_line1", "Address", False, Level.CASE,
           "Street and number, up to 200 characters.", "Hauptstrasse 5"),
    Column("address_line2", "Address, second line", False, Level.CASE,
           "Building, floor or c/o, up to 200 characters.", ""),
    Column("postal_code", "Postal code", False, Level.CASE, "Up to 16 characters.", "10115"),
    Column("city", "City", False, Level.CASE, "Up to 100 characters.", "Berlin"),
    Column("country", "Country", False, Level.CASE,
           "Two-letter ISO code. Empty means DE.", "DE"),
    Column("invoice_number", "Invoice number", True, Level.INVOICE,
           "Up to 64 characters, not repeated within a case.", "RE-2025-0412", "RE-2025-0467"),
    Column("issue_date", "Issue date", True, Level.INVOICE,
           "The date the invoice was issued: {date}.", "2025-11-03", "2025-11-20"),
    Column("due_date", "Due date", True, Level.INVOICE,
           "The date payment was due: {date}, and in the past.", "2025-12-03", "2025-12-20"),
    Column("amount", "Amount", True, Level.INVOICE,
           "What is still owed on the invoice, more than zero, with at most the currency's "
           "decimals (2 for EUR). Thousands may be grouped: 1234.56, 1,234.56, 1.234,56 "
           "and 1 234,56 are all accepted.", "1234.56", "310.00"),
    Column("currency", "Currency", False, Level.CASE,
           "ISO 4217 code. Empty means your account's currency ({currency}).", ""),
    Column("payment_term_days", "Payment term (days)", False, Level.CASE,
           "The payment term you gave, in whole days from 0 to 365.", "30"),
    Column("contract_interest_percent", "Contract interest (%)", False, Level.CASE,
           "Interest per year agreed in your terms, 0 to 100, at most two decimals.", ""),
    Column("last_reminder_date", "Last reminder", False, Level.CASE,
           "When you last sent a reminder: {date}.", "2026-01-15"),
    Column("reminders_sent", "Reminders sent", False, Level.CASE,
           "How many reminders you sent, 0 to 99. Empty means 0.", "2"),
    Column("disputed", "Disputed", False, Level.CASE,
           "yes if the debtor disputes the claim, else no. Empty means no.", "no"),
    Column("early_intervention", "Early intervention", False, Level.CASE,
           "yes to have the invoices checked with the debtor before collection, else no. "
           "Empty means no.", "no"),
)  # fmt: skip

BY_NAME = {column.name: column for column in COLUMNS}
REQUIRED = tuple(column.name for column in COLUMNS if column.required)
# The two columns added to the file of rejected rows: ignored when it comes back fixed.
ROUND_TRIP_COLUMNS = ("import_line", "import_error")


def normalise_header(header: str) -> str:
    """``" Debtor name "`` and ``"debtor-name"`` both read as ``debtor_name``."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def template_field(header: str) -> str | None:
    """The template column a header names, if it names one."""
    name = normalise_header(header)
    return name if name in BY_NAME else None


def is_ignored(header: str) -> bool:
    return not header.strip() or normalise_header(header) in ROUND_TRIP_COLUMNS


def suggested_mapping(headers: Sequence[str], remembered: Mapping[str, str]) -> dict[str, str]:
    """A first choice for each header: what was remembered, else the template name."""
    suggestion = {}
    for header in headers:
        if is_ignored(header):
            continue
        field = remembered.get(header)
        suggestion[header] = field if field in BY_NAME else (template_field(header) or "")
    return suggestion


def automatic_mapping(headers: Sequence[str], remembered: Mapping[str, str]) -> dict[str, str]:
    """The mapping to use without asking, or ``{}`` when the creditor has to choose.

    Used when every column is one of the template's, or when every column is one the
    tenant mapped before (the same export as last time) and that mapping is complete.
    """
    named = [header for header in headers if not is_ignored(header)]
    template = {header: template_field(header) or "" for header in named}
    if all(template.values()) and not mapping_problems(named, template):
        return {header: field for header, field in template.items() if field}
    if all(header in remembered for header in named):
        choice = {header: remembered[header] for header in named}
        if not mapping_problems(named, choice):
            return {header: field for header, field in choice.items() if field}
    return {}


def mapping_problems(headers: Sequence[str], chosen: Mapping[str, str]) -> list[str]:
    """What is wrong with a choice of {header: field} ('' ignores a column)."""
    problems = []
    taken: dict[str, str] = {}
    for header in headers:
        field = chosen.get(header, "")
        if not field:
            continue
        if field not in BY_NAME:
            problems.append(f"{header!r} is mapped to {field!r}, which is not a template column.")
        elif field in taken:
            problems.append(
                f"{BY_NAME[field].label} is chosen for two columns, {taken[field]!r} and "
                f"{header!r}. Choose it for one of them only."
            )
        else:
            taken[field] = header
    missing = [BY_NAME[name].label for name in REQUIRED if name not in taken]
    if missing:
        problems.append("Choose the columns that hold: " + ", ".join(missing) + ".")
    return problems


def remembered_after(
    remembered: Mapping[str, str], headers: Sequence[str], chosen: Mapping[str, str]
) -> dict[str, str]:
    """The tenant's remembered mapping with this file's choices (ignored ones too) added."""
    return {
        **remembered,
        **{header: chosen.get(header, "") for header in headers if not is_ignored(header)},
    }


def describe_format(column: Column, *, date_format: str, currency: str) -> str:
    return column.format.format(date=DATE_FORMATS[date_format][0], currency=currency)


def example_value(column: Column, date_format: str, *, second: bool = False) -> str:
    """The column's example as the tenant writes it (dates in its format)."""
    value = (column.second_example or column.example) if second else column.example
    if value and column.name.endswith("_date"):
        return date.fromisoformat(value).strftime(DATE_FORMATS[date_format][1])
    return value


def template_rows(date_format: str, *, examples: bool) -> Iterator[list[str]]:
    """The template's header, and with ``examples`` one case of two invoices."""
    yield [column.name for column in COLUMNS]
    if examples:
        yield [example_value(column, date_format) for column in COLUMNS]
        yield [example_value(column, date_format, second=True) for column in COLUMNS]
