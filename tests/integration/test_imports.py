"""Placing accounts by CSV: upload, mapping, validation job, preview, confirmation."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    AuditEntry,
    Case,
    ImportBatch,
    ImportRowError,
    ImportStatus,
    Invoice,
    Role,
    Tenant,
)
from portal.services import imports
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user

TODAY = utcnow().date()
PAST = TODAY - timedelta(days=60)
ISSUED = TODAY - timedelta(days=90)
HEADER = [
    "creditor_reference", "debtor_kind", "debtor_name", "email", "postal_code", "city",
    "country", "invoice_number", "issue_date", "due_date", "amount", "currency",
]  # fmt: skip
HTMX = {"HX-Request": "true"}


def dmy(day) -> str:
    return day.strftime("%d/%m/%Y")


def row(reference: str, name: str, number: str, amount: str, **changes: str) -> list[str]:
    values = {
        "creditor_reference": reference,
        "debtor_kind": "business",
        "debtor_name": name,
        "email": "ap@debtor.example",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
        "invoice_number": number,
        "issue_date": dmy(ISSUED),
        "due_date": dmy(PAST),
        "amount": amount,
        "currency": "",
        **changes,
    }
    return [values[name] for name in HEADER]


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


@pytest.fixture
def world(session: Session):
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other")
        placed = make_case(session, acme, debtor_name="Old Debtor GmbH", reference="OLD-1")
        people = {
            "creditor": make_user(session, Role.CREDITOR_USER, acme),
            "stranger": make_user(session, Role.CREDITOR_ADMIN, other),
        }
        session.commit()
    return {"acme": acme, "other": other, "placed": placed, **people}


def token(client: FlaskClient, path: str = "/creditor/imports") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def upload(client: FlaskClient, content: bytes, *, date_format: str = "dmy", name="a.csv"):
    return client.post(
        "/creditor/imports",
        data={
            "csrf_token": token(client),
            "file": (io.BytesIO(content), name),
            "date_format": date_format,
        },
        content_type="multipart/form-data",
    )


def fresh(session: Session, model, object_id: int):
    """The object as the database has it now (each request ends the session it used)."""
    with unscoped(session):
        return session.get(model, object_id, populate_existing=True)


def batch_of(session: Session, response) -> ImportBatch:
    batch_id = int(re.search(r"/imports/(\d+)", response.headers["Location"]).group(1))
    return fresh(session, ImportBatch, batch_id)


def count(session: Session, model, **where) -> int:
    with unscoped(session):
        statement = select(func.count()).select_from(model)
        for name, value in where.items():
            statement = statement.where(getattr(model, name) == value)
        return session.scalar(statement)


def reasons(session: Session, batch: ImportBatch) -> dict[int, str]:
    with unscoped(session):
        errors = session.scalars(select(ImportRowError).where(ImportRowError.batch_id == batch.id))
        return {error.line_number: error.reason for error in errors}


def confirm(client: FlaskClient, batch: ImportBatch):
    path = f"/creditor/imports/{batch.id}"
    return client.post(f"{path}/confirm", data={"csrf_token": token(client, path)})


# --- the happy paths -----------------------------------------------------------------------


def test_template_file_is_checked_then_placed_on_confirmation(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    content = "\ufeff".encode() + csv_bytes([
        HEADER,
        row("ACME-1", "Keller Bau GmbH", "RE-1", "1,234.56"),
        row("ACME-1", "Keller Bau GmbH", "RE-2", " 100 "),
        row("ACME-2", "Café Zürich AG", "RE-3", "99.90", currency="CHF"),
    ])  # fmt: skip
    response = upload(client, content)
    assert response.status_code == 302
    batch = batch_of(session, response)
    assert batch.status == ImportStatus.VALIDATED
    assert batch.storage_key.startswith(f"tenant/{world['acme'].id}/imports/")
    assert (batch.total_rows, batch.valid_rows, batch.valid_cases, batch.rejected_rows) == (
        3, 3, 2, 0,
    )  # fmt: skip
    assert count(session, Case, tenant_id=world["acme"].id) == 1  # nothing placed yet

    page = client.get(f"/creditor/imports/{batch.id}").get_data(as_text=True)
    assert "Place 2 cases" in page and 'hx-trigger="every 1s"' not in page

    assert confirm(client, batch).status_code == 302
    with unscoped(session):
        placed = session.scalars(
            select(Case).where(Case.import_batch_id == batch.id).order_by(Case.creditor_reference)
        ).all()
        assert [case.creditor_reference for case in placed] == ["ACME-1", "ACME-2"]
        assert [case.currency for case in placed] == ["EUR", "CHF"]
        assert sorted(invoice.amount_minor for invoice in placed[0].invoices) == [10_000, 123_456]
        assert placed[1].debtor.name == "Café Zürich AG"
    batch = fresh(session, ImportBatch, batch.id)
    assert (batch.status, batch.placed_cases) == (ImportStatus.PLACED, 2)
    assert "2 cases placed" in client.get(f"/creditor/imports/{batch.id}").get_data(as_text=True)


def test_accounting_export_is_mapped_once_and_then_recognised(
    client: FlaskClient, session: Session, world
) -> None:
    """Windows-1252, semicolons, decimal comma, thousands points, day/month/year, spaces."""
    sign_in(client, world["creditor"])
    export = [
        ["Kundennr", "Kunde", "Rechnung", "Datum", "Fällig", "Offen", "Notiz"],
        ["K-7", " Müller & Söhne KG ", "R-1", dmy(ISSUED), dmy(PAST), "1.234,56", "x"],
        ["K-7", "Müller & Söhne KG", "R-2", ISSUED.isoformat(), dmy(PAST), "1 000,5", ""],
        ["K-8", "Straßenbau Süd GmbH", "R-3", dmy(ISSUED), dmy(PAST), "12", ""],
    ]
    content = csv_bytes(export, delimiter=";", encoding="cp1252")
    response = upload(client, content, name="export.csv")
    assert response.status_code == 302 and response.headers["Location"].endswith("/columns")
    batch = batch_of(session, response)
    assert (batch.encoding, batch.delimiter, batch.status) == ("cp1252", ";", ImportStatus.UPLOADED)
    assert batch.headers[4] == "Fällig"

    mapping_page = client.get(f"/creditor/imports/{batch.id}/columns").get_data(as_text=True)
    assert "Müller &amp; Söhne KG" in mapping_page  # the preview of the first rows
    choice = {"column_0": "creditor_reference", "column_1": "debtor_name",
              "column_2": "invoice_number", "column_3": "issue_date", "column_4": "due_date",
              "column_5": "amount", "column_6": ""}  # fmt: skip
    path = f"/creditor/imports/{batch.id}/columns"
    response = client.post(path, data={"csrf_token": token(client, path), **choice})
    assert response.status_code == 302
    batch = fresh(session, ImportBatch, batch.id)
    tenant = fresh(session, Tenant, world["acme"].id)
    assert batch.status == ImportStatus.VALIDATED, batch.error
    assert (batch.valid_cases, batch.rejected_rows) == (2, 0), reasons(session, batch)
    assert tenant.csv_column_mapping["Offen"] == "amount"
    assert tenant.csv_column_mapping["Notiz"] == ""

    confirm(client, batch)
    with unscoped(session):
        amounts = session.scalars(
            select(Invoice.amount_minor).join(Case).where(Case.import_batch_id == batch.id)
        ).all()
        debtor = session.scalars(select(Case).where(Case.creditor_reference == "K-7")).one().debtor
    assert sorted(amounts) == [1_200, 100_050, 123_456]
    assert debtor.name == "Müller & Söhne KG"

    again = [export[0], ["K-9", "Neu GmbH", "R-9", dmy(ISSUED), dmy(PAST), "5,00", ""]]
    response = upload(client, csv_bytes(again, delimiter=";", encoding="cp1252"))
    assert not response.headers["Location"].endswith("/columns")
    second = batch_of(session, response)
    assert (second.status, second.valid_cases) == (ImportStatus.VALIDATED, 1)


def test_example_file_from_the_template_page_imports(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    page = client.get("/creditor/imports/template").get_data(as_text=True)
    assert "creditor_reference" in page and "one after another" in page
    template = client.get("/creditor/imports/template.csv")
    assert template.mimetype == "text/csv"
    assert template.get_data(as_text=True).lstrip("\ufeff").startswith("creditor_reference,")
    example = client.get("/creditor/imports/example.csv").get_data()
    batch = batch_of(session, upload(client, example))
    assert (batch.status, batch.valid_cases, batch.valid_rows) == (ImportStatus.VALIDATED, 1, 2)


# --- rows that are refused ---------------------------------------------------------------


def test_bad_rows_are_reported_by_line_and_nothing_else_is_affected(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    agency_reference = world["placed"].agency_reference
    future = dmy(TODAY + timedelta(days=10))
    rows = [
        ["creditor_reference", "debtor_name", "invoice_number", "issue_date", "due_date",
         "amount", "currency", "email"],
        ["OK-1", "Good GmbH", "G-1", dmy(ISSUED), dmy(PAST), "10,00", "", ""],  # 2
        ["A-1", "Decimals GmbH", "D-1", dmy(ISSUED), dmy(PAST), "12,345", "", ""],  # 3
        ["A-2", "Letters GmbH", "L-1", dmy(ISSUED), dmy(PAST), "abc", "", ""],  # 4
        ["A-3", "Negative GmbH", "N-1", dmy(ISSUED), dmy(PAST), "-5,00", "", ""],  # 5
        ["A-4", "Zero GmbH", "Z-1", dmy(ISSUED), dmy(PAST), "0", "", ""],  # 6
        ["A-5", "Calendar GmbH", "C-1", dmy(ISSUED), "31/02/2026", "1", "", ""],  # 7
        ["A-6", "Future GmbH", "F-1", dmy(ISSUED), future, "1", "", ""],  # 8
        ["A-7", "Money GmbH", "M-1", dmy(ISSUED), dmy(PAST), "1", "EURO", ""],  # 9
        ["OLD-1", "Again GmbH", "O-1", dmy(ISSUED), dmy(PAST), "1", "", ""],  # 10
        ["B-1", "Split GmbH", "S-1", dmy(ISSUED), dmy(PAST), "1", "", ""],  # 11
        ["B-2", "Between GmbH", "S-2", dmy(ISSUED), dmy(PAST), "1", "", ""],  # 12
        ["B-1", "Split GmbH", "S-3", dmy(ISSUED), dmy(PAST), "1", "", ""],  # 13
        ["C-1", "Same Debtor GmbH", "X-1", dmy(ISSUED), dmy(PAST), "1", "", ""],  # 14
        ["C-1", "Other Name GmbH", "X-2", dmy(ISSUED), dmy(PAST), "1", "", ""],  # 15
        ["D-1", "=HYPERLINK(\"http://evil\")", "E-1", dmy(ISSUED), dmy(PAST), "1", "",
         "not-an-email"],  # 16
    ]  # fmt: skip
    batch = batch_of(session, upload(client, csv_bytes(rows, delimiter=";")))
    assert batch.status == ImportStatus.VALIDATED, batch.error
    found = reasons(session, batch)
    assert sorted(found) == [*range(3, 11), 13, 14, 15, 16]
    assert "'12,345'" in found[3] and "at most 2 decimals" in found[3]
    assert "'abc' is not an amount" in found[4]
    assert "more than zero" in found[5] and "more than zero" in found[6]
    assert "31/02/2026" in found[7] and "calendar" in found[7]
    assert "Not yet due" in found[8]
    assert "ISO 4217" in found[9]
    assert f"Already placed as case {agency_reference}" in found[10]
    assert "already appeared on line 11" in found[13] and "one after another" in found[13]
    assert "'Other Name GmbH' differs from 'Same Debtor GmbH'" in found[15]
    assert "problem on line 15" in found[14]
    assert "e-mail" in found[16]
    assert (batch.total_rows, batch.valid_cases, batch.valid_rows, batch.rejected_rows) == (
        15, 3, 3, 12,
    )  # fmt: skip
    assert batch.summary["cases"] == 13  # B-1's second run is not a case of its own

    page = client.get(f"/creditor/imports/{batch.id}").get_data(as_text=True)
    assert "Place 3 cases" in page and "Already placed as case" in page
    download = client.get(f"/creditor/imports/{batch.id}/rejected.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")),
                            delimiter=";"))  # fmt: skip
    assert lines[0][-2:] == ["import_line", "import_error"]
    assert len(lines) == 1 + 12
    evil = next(line for line in lines if line[-2] == "16")
    assert evil[1] == '\'=HYPERLINK("http://evil")'
    negative = next(line for line in lines if line[-2] == "5")
    assert negative[5] == "'-5,00"
    assert count(session, Case, tenant_id=world["acme"].id) == 1
    exported = AuditEntry.action == "import.rejected_rows_exported"
    [entry] = session.scalars(select(AuditEntry).where(exported)).all()
    assert (entry.object_id, entry.tenant_id) == (str(batch.id), world["acme"].id)


def test_upload_of_the_rejected_rows_file_reads_it_back(
    client: FlaskClient, session: Session, world
) -> None:
    """The two added columns are ignored and protective quotes come off again."""
    sign_in(client, world["creditor"])
    rows = [HEADER, row("R-1", "Minus GmbH", "M-1", "-1"), row("R-2", "Fine GmbH", "F-1", "1")]
    batch = batch_of(session, upload(client, csv_bytes(rows)))
    download = client.get(f"/creditor/imports/{batch.id}/rejected.csv").get_data()
    fixed = download.replace(b"'-1", b"7.5")
    again = batch_of(session, upload(client, fixed))
    assert (again.status, again.valid_cases, again.rejected_rows) == (ImportStatus.VALIDATED, 1, 0)


# --- files that are refused --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"   \r\n\r\n", "The file is empty."),
        (",".join(HEADER).encode() + b"\r\n", "no rows below it"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not a text file"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "Excel workbook"),
        ("a;b\n1;2\n".encode("utf-16"), "UTF-16"),
        (b"just one column\nvalue\n", "only one column"),
        (b"name,Name\nx,y\n", "both called"),
    ],
)
def test_unusable_files_are_refused_and_nothing_is_stored(
    client: FlaskClient, session: Session, world, content: bytes, message: str
) -> None:
    sign_in(client, world["creditor"])
    response = upload(client, content)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count(session, ImportBatch) == 0


def test_a_file_over_the_row_limit_is_refused(
    client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    sign_in(client, world["creditor"])
    rows = [HEADER] + [row(f"R-{n}", "Many GmbH", f"M-{n}", "1") for n in range(4)]
    response = upload(client, csv_bytes(rows))
    assert response.status_code == 400
    assert "more than 3 rows" in response.get_data(as_text=True)
    assert count(session, ImportBatch) == 0


def test_upload_without_a_file_is_refused(client: FlaskClient, world) -> None:
    sign_in(client, world["creditor"])
    response = client.post(
        "/creditor/imports", data={"csrf_token": token(client), "date_format": "dmy"}
    )
    assert response.status_code == 400
    assert "Choose the CSV file" in response.get_data(as_text=True)


def test_a_file_name_with_a_nul_byte_is_refused(
    client: FlaskClient, session: Session, world
) -> None:
    """The name is kept with the import, and PostgreSQL cannot store a NUL byte."""
    sign_in(client, world["creditor"])
    rows = [HEADER, row("R-1", "Keller Bau GmbH", "K-1", "100")]
    response = upload(client, csv_bytes(rows), name="cases\x00.csv")
    assert response.status_code == 400
    assert count(session, ImportBatch) == 0


def test_unknown_columns_wait_for_a_mapping_and_cannot_be_confirmed(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    rows = [["ref", "who", "amount"], ["X-1", "Somebody", "1"]]
    response = upload(client, csv_bytes(rows))
    batch = batch_of(session, response)
    assert response.headers["Location"].endswith(f"/imports/{batch.id}/columns")
    assert batch.status == ImportStatus.UPLOADED and batch.mapping == {}
    assert confirm(client, batch).status_code == 409
    assert count(session, ImportRowError) == 0
    assert count(session, Case, import_batch_id=batch.id) == 0
    page = client.get(f"/creditor/imports/{batch.id}").get_data(as_text=True)
    assert "Match your columns" in page


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ({"column_0": "creditor_reference", "column_1": "debtor_name", "column_2": "debtor_name",
          "column_3": "amount"}, "Debtor name is chosen for two columns"),
        ({"column_0": "creditor_reference", "column_1": "debtor_name", "column_2": "",
          "column_3": "amount"}, "Invoice number, Issue date, Due date"),
        ({"column_0": "nonsense"}, "Not a valid choice"),
    ],
)  # fmt: skip
def test_a_bad_mapping_is_refused_and_changes_nothing(
    client: FlaskClient, session: Session, world, choice: dict, message: str
) -> None:
    sign_in(client, world["creditor"])
    rows = [["ref", "who", "company", "sum"], ["X-1", "A", "B", "1"]]
    batch = batch_of(session, upload(client, csv_bytes(rows)))
    path = f"/creditor/imports/{batch.id}/columns"
    response = client.post(path, data={"csrf_token": token(client, path), **choice})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    batch = fresh(session, ImportBatch, batch.id)
    tenant = fresh(session, Tenant, world["acme"].id)
    assert batch.mapping == {} and batch.status == ImportStatus.UPLOADED
    assert tenant.csv_column_mapping == {}


# --- confirming --------------------------------------------------------------------------


def test_confirming_twice_places_once(client: FlaskClient, session: Session, world) -> None:
    sign_in(client, world["creditor"])
    batch = batch_of(session, upload(client, csv_bytes([HEADER, row("T-1", "Twice", "T", "1")])))
    assert confirm(client, batch).status_code == 302
    second = confirm(client, batch)
    assert second.status_code == 409
    assert "placed already" in second.get_data(as_text=True)
    assert count(session, Case, import_batch_id=batch.id) == 1


def test_another_tenants_batch_is_not_found(client: FlaskClient, session: Session, world) -> None:
    sign_in(client, world["creditor"])
    batch = batch_of(session, upload(client, csv_bytes([HEADER, row("S-1", "Secret", "S", "1")])))
    sign_in(client, world["stranger"])
    other_token = token(client)
    for path in ("", "/columns", "/rejected.csv"):
        assert client.get(f"/creditor/imports/{batch.id}{path}").status_code == 404
    response = client.post(f"/creditor/imports/{batch.id}/confirm",
                           data={"csrf_token": other_token})  # fmt: skip
    assert response.status_code == 404
    assert "Secret" not in client.get("/creditor/imports").get_data(as_text=True)
    assert count(session, Case, import_batch_id=batch.id) == 0


def test_a_placement_failing_midway_leaves_no_case(
    client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    sign_in(client, world["creditor"])
    rows = [HEADER] + [row(f"M-{n}", f"Midway {n} GmbH", f"I-{n}", "1") for n in range(6)]
    batch = batch_of(session, upload(client, csv_bytes(rows)))
    assert batch.valid_cases == 6
    real_place_many, calls = imports.place_many, []

    def failing_place_many(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_place_many(*args, **kwargs)

    monkeypatch.setattr(imports, "place_many", failing_place_many)
    confirm(client, batch)
    assert len(calls) == 2  # the first chunk was inserted before the failure
    assert count(session, Case, import_batch_id=batch.id) == 0
    assert count(session, Case, tenant_id=world["acme"].id) == 1
    batch = fresh(session, ImportBatch, batch.id)
    assert batch.status == ImportStatus.FAILED
    assert "unexpected error" in batch.error
    page = client.get(f"/creditor/imports/{batch.id}").get_data(as_text=True)
    assert "The import stopped" in page and "Nothing was placed" in page


def test_cases_placed_since_the_preview_refuse_the_whole_batch(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    rows = [HEADER, row("LATE-1", "Late GmbH", "L-1", "1"), row("LATE-2", "Late2", "L-2", "1")]
    batch = batch_of(session, upload(client, csv_bytes(rows)))
    with unscoped(session):
        make_case(session, world["acme"], reference="LATE-2")
        session.commit()
    confirm(client, batch)
    batch = fresh(session, ImportBatch, batch.id)
    assert batch.status == ImportStatus.FAILED
    assert "placed another way" in batch.error
    assert count(session, Case, import_batch_id=batch.id) == 0


def test_a_case_placed_at_the_same_moment_is_a_readable_failure(
    client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    """Placed between the last check and the insert: the unique reference refuses it."""
    sign_in(client, world["creditor"])
    rows = [HEADER, row("RACE-1", "Race GmbH", "R-1", "1"), row("RACE-2", "Race 2", "R-2", "1")]
    batch = batch_of(session, upload(client, csv_bytes(rows)))
    with unscoped(session):
        make_case(session, world["acme"], reference="RACE-2")
        session.commit()
    monkeypatch.setattr(
        imports, "check_placements", lambda _s, requests, _t: [[] for _ in requests]
    )
    confirm(client, batch)
    batch = fresh(session, ImportBatch, batch.id)
    assert (batch.status, batch.error) == (ImportStatus.FAILED, imports.CONFLICT)
    assert count(session, Case, import_batch_id=batch.id) == 0


# --- progress ------------------------------------------------------------------------------


def test_the_status_fragment_polls_while_busy_and_stops_when_done(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    batch = batch_of(session, upload(client, csv_bytes([HEADER, row("P-1", "Poll", "P", "1")])))
    with unscoped(session):
        batch.status, batch.processed_rows, batch.total_rows = ImportStatus.VALIDATING, 1, 4
        session.commit()
    fragment = client.get(f"/creditor/imports/{batch.id}", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="import-status"')
    assert 'hx-trigger="every 1s"' in fragment
    assert '<progress id="import-progress" value="1" max="4">' in fragment
    assert "style=" not in fragment
    with unscoped(session):
        fresh(session, ImportBatch, batch.id).status = ImportStatus.VALIDATED
        session.commit()
    done = client.get(f"/creditor/imports/{batch.id}", headers=HTMX).get_data(as_text=True)
    assert "hx-trigger" not in done and "Place 1 case" in done


def test_validation_commits_progress_as_it_goes(
    app: Flask, client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    sign_in(client, world["creditor"])
    rows = [HEADER] + [row(f"G-{n}", f"Go {n}", f"I-{n}", "1") for n in range(7)]
    batch = fresh(session, ImportBatch, batch_of(session, upload(client, csv_bytes(rows))).id)
    assert imports.begin_validation(session, batch)  # check it again, counting commits
    session.commit()
    progress: list[int] = []
    listener = lambda _session: progress.append(batch.processed_rows)  # noqa: E731
    event.listen(session, "after_commit", listener)
    try:
        imports.run_validation(session, app.extensions["portal.storage"], batch.id)
    finally:
        event.remove(session, "after_commit", listener)
    batch = fresh(session, ImportBatch, batch.id)
    assert (batch.status, batch.processed_rows, batch.valid_cases) == (
        ImportStatus.VALIDATED, 7, 7,
    )  # fmt: skip
    assert progress == [2, 4, 6, 7, 7]  # a commit per chunk of two rows, and the result


def test_a_missing_file_fails_the_job_with_a_readable_error(
    app: Flask, client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    rows = [["ref", "who"], ["X-1", "Somebody"]]
    batch = batch_of(session, upload(client, csv_bytes(rows)))
    app.extensions["portal.storage"].delete(batch.storage_key)
    path = f"/creditor/imports/{batch.id}/columns"
    client.post(path, data={"csrf_token": token(client, path), "column_0": "creditor_reference",
                            "column_1": "debtor_name"})  # fmt: skip
    batch = fresh(session, ImportBatch, batch.id)
    assert batch.status == ImportStatus.UPLOADED  # the mapping was incomplete: nothing ran
    with unscoped(session):
        batch.mapping = {"ref": "creditor_reference"}
        session.commit()
    assert imports.begin_validation(session, batch)
    session.commit()
    imports.run_validation(session, app.extensions["portal.storage"], batch.id)
    batch = fresh(session, ImportBatch, batch.id)
    assert batch.status == ImportStatus.FAILED
    assert batch.error == "The uploaded file is no longer stored: upload it again."


def test_upload_page_lists_the_tenants_imports_and_links_the_nav(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["creditor"])
    upload(client, csv_bytes([HEADER, row("N-1", "Nav", "N", "1")]), name="../../etc/nav.csv")
    page = client.get("/creditor/imports").get_data(as_text=True)
    assert "Import CSV" in page and 'aria-current="page"' in page
    assert ">nav.csv<" in page and "../" not in page
