"""From CSV rows to placement requests: columns, mapping, dates, grouping into cases."""

from datetime import date

import pytest

from portal.models import DebtorKind
from portal.services.import_columns import (
    COLUMNS,
    REQUIRED,
    automatic_mapping,
    mapping_problems,
    remembered_after,
    suggested_mapping,
    template_rows,
)
from portal.services.import_rows import (
    CellError,
    RowLayout,
    SeenInvoices,
    SourceRow,
    group_cases,
    parse_date,
    parse_percent,
    read_case,
)

TODAY = date(2026, 6, 1)
HEADERS = ["Ref", "Name", "Invoice", "Issued", "Due", "Amount", "Currency", "Disputed",
           "Interest", "Term"]  # fmt: skip
MAPPING = {"Ref": "creditor_reference", "Name": "debtor_name", "Invoice": "invoice_number",
           "Issued": "issue_date", "Due": "due_date", "Amount": "amount", "Currency": "currency",
           "Disputed": "disputed", "Interest": "contract_interest_percent",
           "Term": "payment_term_days"}  # fmt: skip
LAYOUT = RowLayout(HEADERS, MAPPING, "dmy", ",", "EUR")


def rows(*cells: list[str], start: int = 2) -> list[SourceRow]:
    return [SourceRow(start + index, list(row)) for index, row in enumerate(cells)]


def line(ref: str, number: str = "I-1", amount: str = "10,00", **extra: str) -> list[str]:
    values = {"Ref": ref, "Name": "Keller Bau GmbH", "Invoice": number, "Issued": "01/03/2026",
              "Due": "31.03.2026", "Amount": amount, "Currency": "", "Disputed": "",
              "Interest": "", "Term": "", **extra}  # fmt: skip
    return [values[header] for header in HEADERS]


# --- columns and mapping -----------------------------------------------------------------


def test_template_columns_cover_the_placement_request() -> None:
    names = [column.name for column in COLUMNS]
    assert set(REQUIRED) == {"creditor_reference", "debtor_name", "invoice_number",
                             "issue_date", "due_date", "amount"}  # fmt: skip
    optional = ("debtor_kind", "vat_number", "registration_number", "country", "currency",
                "payment_term_days", "contract_interest_percent", "last_reminder_date",
                "reminders_sent", "disputed", "address_line1", "postal_code", "phone")  # fmt: skip
    assert set(optional) <= set(names)
    header, first, second = template_rows("dmy", examples=True)
    assert header == names
    assert first[names.index("creditor_reference")] == second[names.index("creditor_reference")]
    assert first[names.index("due_date")] == "03/12/2025"


def test_template_headers_map_themselves_in_any_spelling() -> None:
    headers = ["Creditor Reference", "debtor-name", "INVOICE_NUMBER", "issue date", "due_date",
               "amount", ""]  # fmt: skip
    assert automatic_mapping(headers, {}) == {
        "Creditor Reference": "creditor_reference", "debtor-name": "debtor_name",
        "INVOICE_NUMBER": "invoice_number", "issue date": "issue_date",
        "due_date": "due_date", "amount": "amount",
    }  # fmt: skip


def test_unknown_columns_need_a_choice_until_one_is_remembered() -> None:
    assert automatic_mapping(HEADERS, {}) == {}
    remembered = remembered_after({}, HEADERS, MAPPING)
    assert automatic_mapping(HEADERS, remembered) == MAPPING
    assert automatic_mapping([*HEADERS, "New column"], remembered) == {}
    assert suggested_mapping([*HEADERS, "amount"], remembered)["amount"] == "amount"


def test_mapping_problems_name_what_is_wrong() -> None:
    twice = {**MAPPING, "Currency": "amount"}
    assert mapping_problems(HEADERS, twice) == [
        "Amount is chosen for two columns, 'Amount' and 'Currency'. Choose it for one of them only."
    ]
    missing = {header: field for header, field in MAPPING.items() if field != "due_date"}
    assert mapping_problems(HEADERS, missing) == ["Choose the columns that hold: Due date."]
    assert "not a template column" in mapping_problems(HEADERS, {**MAPPING, "Term": "x"})[0]


# --- cells -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date_format", "expected"),
    [
        ("2026-03-31", "dmy", date(2026, 3, 31)),
        ("2026-03-31", "iso", date(2026, 3, 31)),
        ("2026-03-31T00:00:00", "mdy", date(2026, 3, 31)),
        ("31/03/2026", "dmy", date(2026, 3, 31)),
        ("31.3.2026", "dmy", date(2026, 3, 31)),
        ("03/31/2026", "mdy", date(2026, 3, 31)),
        ("1-2-2026", "dmy", date(2026, 2, 1)),
    ],
)
def test_dates(text: str, date_format: str, expected: date) -> None:
    assert parse_date(text, date_format) == expected


@pytest.mark.parametrize(
    ("text", "date_format", "message"),
    [
        ("31/02/2026", "dmy", "not a date in the calendar"),
        ("31/03/2026", "mdy", "not a date in the calendar"),
        ("31/03/2026", "iso", "not a date"),
        ("31/03/26", "dmy", "four-digit year"),
        ("March 31", "dmy", "day/month/year"),
    ],
)
def test_bad_dates(text: str, date_format: str, message: str) -> None:
    with pytest.raises(CellError, match=message):
        parse_date(text, date_format)


def test_percent_as_basis_points() -> None:
    assert parse_percent("9,5", ",") == 950
    assert parse_percent("8 %", ".") == 800
    with pytest.raises(CellError, match="two decimals"):
        parse_percent("1,005", ",")


# --- cases -------------------------------------------------------------------------------


def test_consecutive_rows_of_a_reference_are_one_case() -> None:
    cases = list(group_cases(rows(line("A"), line("A", "I-2"), line("B"), line(""), line("")),
                             LAYOUT))  # fmt: skip
    assert [(case.reference, len(case.rows)) for case in cases] == [
        ("A", 2), ("B", 1), ("", 1), ("", 1),
    ]  # fmt: skip
    assert all(case.refused is None for case in cases)


def test_a_reference_that_comes_back_later_is_refused() -> None:
    cases = list(group_cases(rows(line("A"), line("B"), line("A", "I-2")), LAYOUT))
    assert cases[2].refused is not None
    assert "A already appeared on line 2" in cases[2].refused
    assert read_case(cases[2], LAYOUT, TODAY).reasons() == {4: cases[2].refused}
    assert read_case(cases[0], LAYOUT, TODAY).valid


def test_a_case_is_read_into_one_request() -> None:
    [case] = group_cases(
        rows(line("A", "I-1", "1.234,56", Disputed="Yes", Interest="9,5", Term="30"),
             line("A", "I-2", "0,44", Name="", Currency="")),
        LAYOUT,
    )  # fmt: skip
    read = read_case(case, LAYOUT, TODAY)
    assert read.notes == {}
    request = read.request
    assert request.creditor_reference == "A"
    assert request.debtor.name == "Keller Bau GmbH" and request.debtor.kind == DebtorKind.BUSINESS
    assert request.debtor.country == "DE"
    assert [invoice.amount_minor for invoice in request.invoices] == [123456, 44]
    assert request.invoices[0].due_date == date(2026, 3, 31)
    assert (request.disputed, request.contract_interest_bp, request.payment_term_days) == (
        True, 950, 30,
    )  # fmt: skip


def test_cells_that_cannot_be_read_are_noted_on_their_line() -> None:
    [case] = group_cases(
        rows(line("A", Disputed="maybe", Term="thirty"),
             line("A", "I-2", "12,345", Issued="", Name="Somebody Else")),
        LAYOUT,
    )  # fmt: skip
    read = read_case(case, LAYOUT, TODAY)
    assert not read.valid
    assert read.notes[2] == ["Term: 'thirty' is not a whole number.",
                             "Disputed: 'maybe': write yes or no."]  # fmt: skip
    assert read.notes[3][0].startswith("Name: 'Somebody Else' differs from 'Keller Bau GmbH'")
    assert "Issued: Required." in read.notes[3]
    assert any("at most 2 decimals" in note and "comma" in note for note in read.notes[3])
    assert "invoices.1.amount" in read.stand_ins and "invoices.1.issue_date" in read.stand_ins


def test_an_invoice_in_two_cases_of_one_file_is_refused() -> None:
    seen = SeenInvoices()
    cases = [
        read_case(case, LAYOUT, TODAY)
        for case in group_cases(rows(line("A", "I-1"), line("B", "i-1 ")), LAYOUT)
    ]
    for case in cases:
        seen.check(case, LAYOUT)
    assert cases[0].notes == {}
    assert "also in an earlier case of this file" in cases[1].notes[3][0]


def test_too_many_cells_are_noted() -> None:
    [case] = group_cases(rows([*line("A"), "", "surprise"]), LAYOUT)
    read = read_case(case, LAYOUT, TODAY)
    assert read.notes[2] == ["The row has 12 cells but the header names 10 columns."]
