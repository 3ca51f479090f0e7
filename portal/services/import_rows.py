"""Turning the rows of a placement CSV into ``PlacementRequest`` values, one case at a time.

Rows arrive one by one (see ``csv_reading``); ``group_cases`` joins the consecutive rows
that share a creditor reference into one case, so only one case is held at a time.
That is why the rows of a case must come one after another: a reference that comes
back after other rows is refused with that reason, instead of holding every row of the
file until the end. Only the references seen so far are kept, to notice that.

``read_case`` reads each cell (dates in the tenant's format, amounts with the file's
decimal mark) and builds the request; cells it cannot read are reported and stood in
for by harmless values, so that ``check_placements`` can still report every other
problem of the case (an already placed reference, for one) in the same pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar

from portal.models import DebtorKind
from portal.services.import_columns import BY_NAME, COLUMNS, DATE_FORMATS, Level
from portal.services.money import AmountError, is_currency, parse_amount, plain_number
from portal.services.placement import DebtorDetails, InvoiceDetails, PlacementRequest, Problem
from portal.services.spreadsheet import unquote_cell

CASE_FIELDS = tuple(
    column.name
    for column in COLUMNS
    if column.level is Level.CASE and column.name != "creditor_reference"
)
KINDS = {
    "business": DebtorKind.BUSINESS,
    "company": DebtorKind.BUSINESS,
    "person": DebtorKind.PERSON,
    "private": DebtorKind.PERSON,
    "individual": DebtorKind.PERSON,
}
YES = {"yes", "y", "true", "1", "ja"}
NO = {"no", "n", "false", "0", "nein"}
ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
LOCAL_DATE = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?")
# Where check_placements reports a problem, as template columns.
PROBLEM_COLUMNS = {
    "creditor_reference": "creditor_reference",
    "currency": "currency",
    "payment_term_days": "payment_term_days",
    "contract_interest": "contract_interest_percent",
    "reminders_sent": "reminders_sent",
    "last_reminder_on": "last_reminder_date",
    "debtor.name": "debtor_name",
    "number": "invoice_number",
}


T = TypeVar("T")


class CellError(ValueError):
    """A cell that cannot be read as what its column holds; the message says how to write it."""


@dataclass(frozen=True)
class SourceRow:
    line: int
    cells: list[str]


@dataclass
class CaseRows:
    """The consecutive rows of one creditor reference; ``refused`` rejects all of them."""

    reference: str
    rows: list[SourceRow]
    refused: str | None = None


@dataclass(frozen=True)
class RowLayout:
    """Where each template field sits in the file's rows, and how values are written."""

    headers: Sequence[str]
    mapping: dict[str, str]  # {header: template field}
    date_format: str
    decimal_separator: str
    default_currency: str
    positions: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        where = {header: index for index, header in enumerate(self.headers)}
        positions = {
            name: where[header] for header, name in self.mapping.items() if header in where
        }
        object.__setattr__(self, "positions", positions)

    def value(self, row: SourceRow, name: str) -> str:
        """A cell's text, trimmed (and a spreadsheet's protective quote taken off)."""
        index = self.positions.get(name)
        if index is None or index >= len(row.cells):
            return ""
        return unquote_cell(row.cells[index].strip()).strip()

    def label(self, name: str) -> str:
        """The creditor's own header for a field, else the template's column name."""
        for header, mapped in self.mapping.items():
            if mapped == name:
                return header
        return name


def group_cases(rows: Iterable[SourceRow], layout: RowLayout) -> Iterator[CaseRows]:
    """Consecutive rows with the same creditor reference, one case at a time."""
    first_lines: dict[str, int] = {}
    current: CaseRows | None = None
    for row in rows:
        reference = layout.value(row, "creditor_reference")
        if current is not None and reference and reference == current.reference:
            current.rows.append(row)
            continue
        if current is not None:
            yield current
        current = CaseRows(reference, [row])
        if reference in first_lines:
            current.refused = (
                f"{layout.label('creditor_reference')}: {reference} already appeared on line "
                f"{first_lines[reference]}, with other rows in between. The rows of one case "
                "must come one after another: sort the file by this column and upload it "
                "again."
            )
        elif reference:
            first_lines[reference] = row.line
    if current is not None:
        yield current


# --- cells -------------------------------------------------------------------------------


def parse_date(text: str, date_format: str) -> date:
    """ISO 8601 (``2026-03-31``) always; else the tenant's day/month/year or month/day/year."""
    found = ISO_DATE.fullmatch(text)
    if found:
        year, month, day = (int(part) for part in found.groups())
    elif (found := LOCAL_DATE.fullmatch(text)) and date_format != "iso":
        first, second, year_text = found.groups()
        if len(year_text) != 4:
            raise CellError(f"{text!r} needs a four-digit year.")
        day, month = (int(first), int(second))
        if date_format == "mdy":
            day, month = month, day
        year = int(year_text)
    else:
        example = date(2026, 3, 31).strftime(DATE_FORMATS[date_format][1])
        raise CellError(
            f"{text!r} is not a date. Write dates as {DATE_FORMATS[date_format][0]} "
            f"({example}) or as year-month-day (2026-03-31)."
        )
    try:
        return date(year, month, day)
    except ValueError as error:
        raise CellError(f"{text!r} is not a date in the calendar.") from error


def parse_whole_number(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise CellError(f"{text!r} is not a whole number.")
    return int(text)


def parse_percent(text: str, decimal_separator: str) -> int:
    """A percentage as basis points: ``"9,5"`` is 950."""
    try:
        value = Decimal(plain_number(text.removesuffix("%").strip(), decimal_separator))
    except AmountError as error:
        raise CellError(f"{text!r} is not a percentage.") from error
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        raise CellError(f"{text!r} has more than two decimals.")
    return int(scaled)


def parse_yes_no(text: str) -> bool:
    word = text.lower()
    if word in YES:
        return True
    if word in NO:
        return False
    raise CellError(f"{text!r}: write yes or no.")


def parse_kind(text: str) -> DebtorKind:
    try:
        return KINDS[text.lower()]
    except KeyError:
        raise CellError(f"{text!r}: write business or person.") from None


# --- cases -------------------------------------------------------------------------------


@dataclass
class ReadCase:
    """One case as read from its rows: the request, and what is wrong on which line."""

    rows: CaseRows
    request: PlacementRequest | None = None
    notes: dict[int, list[str]] = field(default_factory=dict)
    # Problems check_placements would report about a stand-in value, not the cell.
    stand_ins: set[str] = field(default_factory=set)

    def note(self, line: int, message: str) -> None:
        self.notes.setdefault(line, []).append(message)

    def add_problems(self, problems: Iterable[Problem], layout: RowLayout) -> None:
        for problem in problems:
            if problem.field in self.stand_ins:
                continue
            line, name = self._locate(problem)
            self.note(line, f"{layout.label(name)}: {problem.message}")

    def _locate(self, problem: Problem) -> tuple[int, str]:
        parts = problem.field.split(".")
        if parts[0] == "invoices" and len(parts) == 3 and parts[1].isdigit():
            row = self.rows.rows[int(parts[1])]
            return row.line, PROBLEM_COLUMNS.get(parts[2], parts[2])
        first = self.rows.rows[0].line
        if problem.field in PROBLEM_COLUMNS:
            return first, PROBLEM_COLUMNS[problem.field]
        if parts[0] == "debtor" and len(parts) == 2 and parts[1] in BY_NAME:
            return first, parts[1]
        return first, problem.field

    @property
    def valid(self) -> bool:
        return self.request is not None and not self.notes and self.rows.refused is None

    def reasons(self) -> dict[int, str]:
        """{line: why it is rejected} for every row of a rejected case; {} when valid."""
        if self.rows.refused is not None:
            return {row.line: self.rows.refused for row in self.rows.rows}
        if not self.notes:
            return {}
        first_bad = min(self.notes)
        other = f"Not placed: the case {self.rows.reference} has a problem on line {first_bad}."
        return {
            row.line: " ".join(self.notes[row.line]) if row.line in self.notes else other
            for row in self.rows.rows
        }


def _same(text: str) -> str:
    return " ".join(text.split()).casefold()


class _CaseReader:
    """Reads the cells of one case, noting each one that cannot be read."""

    def __init__(self, case: ReadCase, layout: RowLayout, today: date) -> None:
        self.case = case
        self.layout = layout
        self.today = today
        self.first = case.rows.rows[0]

    def fail(self, row: SourceRow, name: str, message: str, stand_in: str | None) -> None:
        self.case.note(row.line, f"{self.layout.label(name)}: {message}")
        if stand_in:
            self.case.stand_ins.add(stand_in)

    def text(self, name: str) -> str | None:
        return self.layout.value(self.first, name) or None

    def cell(
        self, row: SourceRow, name: str, parse: Callable[[str], T], stand_in: str | None
    ) -> T | None:
        """The parsed cell; None when it is empty or cannot be read (and then noted)."""
        text = self.layout.value(row, name)
        if not text:
            return None
        try:
            return parse(text)
        except CellError as error:
            self.fail(row, name, str(error), stand_in)
            return None

    def check_shape(self) -> None:
        width = len(self.layout.headers)
        for row in self.case.rows.rows:
            if any(cell.strip() for cell in row.cells[width:]):
                self.case.note(
                    row.line,
                    f"The row has {len(row.cells)} cells but the header names {width} columns.",
                )

    def check_same_case_values(self) -> None:
        """Case columns may be left empty on later rows; if filled, they must agree."""
        for row in self.case.rows.rows[1:]:
            for name in CASE_FIELDS:
                value = self.layout.value(row, name)
                first = self.layout.value(self.first, name)
                if value and _same(value) != _same(first):
                    self.fail(
                        row,
                        name,
                        f"{value!r} differs from {first!r} on line {self.first.line}, the "
                        f"first row of case {self.case.rows.reference}.",
                        None,
                    )

    def debtor(self) -> DebtorDetails:
        return DebtorDetails(
            kind=self.cell(self.first, "debtor_kind", parse_kind, None) or DebtorKind.BUSINESS,
            name=self.text("debtor_name") or "",
            registration_number=self.text("registration_number"),
            vat_number=self.text("vat_number"),
            email=self.text("email"),
            phone=self.text("phone"),
            address_line1=self.text("address_line1"),
            address_line2=self.text("address_line2"),
            postal_code=self.text("postal_code"),
            city=self.text("city"),
            country=(self.text("country") or "DE").upper(),
        )

    def date_cell(self, row: SourceRow, name: str, stand_in: str) -> date | None:
        if not self.layout.value(row, name):
            self.fail(row, name, "Required.", stand_in)
            return None
        return self.cell(row, name, self.parse_date, stand_in)

    def invoice(self, index: int, row: SourceRow, currency: str | None) -> InvoiceDetails:
        where = f"invoices.{index}"
        issue = self.date_cell(row, "issue_date", f"{where}.issue_date")
        due = self.date_cell(row, "due_date", f"{where}.due_date")
        if due is None:  # stand-ins that raise no problem of their own
            due = max(issue or self.today, self.today)
        return InvoiceDetails(
            number=self.layout.value(row, "invoice_number"),
            issue_date=issue or due,
            due_date=due,
            amount_minor=self.amount(row, f"{where}.amount", currency),
        )

    def amount(self, row: SourceRow, path: str, currency: str | None) -> int:
        text = self.layout.value(row, "amount")
        if not text:
            self.fail(row, "amount", "Required.", path)
            return 1
        if currency is None:  # the currency's own problem is reported instead
            self.case.stand_ins.add(path)
            return 1
        separator = self.layout.decimal_separator
        try:
            return parse_amount(text, currency, decimal_separator=separator)
        except AmountError as error:
            message = str(error).rstrip(".") + "."
            if repr(text) not in message:
                mark = "comma" if separator == "," else "point"
                message = f"{text!r}: {message[:-1]} (this file's decimal mark is a {mark})."
            self.fail(row, "amount", message, path)
            return 1

    def parse_date(self, text: str) -> date:
        return parse_date(text, self.layout.date_format)

    def parse_percent(self, text: str) -> int:
        return parse_percent(text, self.layout.decimal_separator)

    def request(self) -> PlacementRequest:
        self.check_shape()
        self.check_same_case_values()
        first = self.first
        currency = (self.text("currency") or "").upper() or None
        money_currency = currency or self.layout.default_currency
        invoices = tuple(
            self.invoice(index, row, money_currency if is_currency(money_currency) else None)
            for index, row in enumerate(self.case.rows.rows)
        )
        return PlacementRequest(
            debtor=self.debtor(),
            creditor_reference=self.case.rows.reference,
            invoices=invoices,
            currency=currency,
            payment_term_days=self.cell(
                first, "payment_term_days", parse_whole_number, "payment_term_days"
            ),
            contract_interest_bp=self.cell(
                first, "contract_interest_percent", self.parse_percent, "contract_interest"
            ),
            last_reminder_on=self.cell(
                first, "last_reminder_date", self.parse_date, "last_reminder_on"
            ),
            reminders_sent=self.cell(first, "reminders_sent", parse_whole_number, None) or 0,
            disputed=self.cell(first, "disputed", parse_yes_no, None) or False,
            early_intervention=self.cell(first, "early_intervention", parse_yes_no, None) or False,
        )


class SeenInvoices:
    """The (debtor, invoice number) pairs of the cases read so far, as 8-byte digests.

    ``check_placements`` finds an invoice placed before, but not one that two cases of
    the same file share; placing the first would then refuse the second. Digests keep
    the memory this costs to a few dozen bytes a row.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    @staticmethod
    def _digest(debtor: str, number: str) -> bytes:
        text = f"{debtor.strip().casefold()}\x00{number.strip().casefold()}"
        return hashlib.blake2b(text.encode(), digest_size=8).digest()

    def check(self, case: ReadCase, layout: RowLayout) -> None:
        if case.request is None:
            return
        debtor = case.request.debtor.name
        keys = set()
        for row, invoice in zip(case.rows.rows, case.request.invoices, strict=True):
            if not invoice.number.strip():
                continue
            key = self._digest(debtor, invoice.number)
            if key in self._seen:
                case.note(
                    row.line,
                    f"{layout.label('invoice_number')}: invoice {invoice.number} of {debtor} "
                    "is also in an earlier case of this file.",
                )
            keys.add(key)
        self._seen |= keys


def read_case(rows: CaseRows, layout: RowLayout, today: date) -> ReadCase:
    """The case's request (with stand-ins for unreadable cells) and its cell problems."""
    case = ReadCase(rows)
    if rows.refused is None:
        case.request = _CaseReader(case, layout, today).request()
    return case
