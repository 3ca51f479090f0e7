"""Early intervention: placing invoices for a check by form, CSV and API; the daily run
that writes to the debtors and converts the checks unpaid too long; the fee; what the
creditor sees."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.models import (
    Case,
    CheckStatus,
    Closure,
    EntryKind,
    InvoiceCheck,
    LedgerEntry,
    OutboxMessage,
    Role,
    Stage,
    Tenant,
    User,
)
from portal.services import invoice_checks, notifications, payments
from portal.services.invoice_checks import Answer
from portal.services.placement import place_case
from tenants.scoping import unscoped
from tests.api_support import ApiClient, new_key, placement_body
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user, placement_request
from tests.integration.test_imports import HEADER, batch_of, confirm, csv_bytes, reasons, row
from tests.integration.test_imports import upload as upload_csv
from tests.integration.test_placement import form_data

PLACED = date(2026, 3, 1)
LAST_DUE = date(2026, 2, 10)  # the factories' invoice due date
CONVERT_DAYS = 30  # converted once LAST_DUE + 30 days (2026-03-12) has passed
PRINCIPAL = 125_000


@pytest.fixture
def acme(session: Session) -> Tenant:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        tenant.early_intervention_convert_days = CONVERT_DAYS
        session.commit()
    return tenant


@pytest.fixture
def creditor(session: Session, acme: Tenant) -> User:
    with unscoped(session):
        user = make_user(session, Role.CREDITOR_USER, acme)
        session.commit()
    return user


def place_check(session: Session, tenant: Tenant, **fields: object) -> int:
    """A case placed for early intervention, committed; its id."""
    with unscoped(session):
        request = placement_request(early_intervention=True, **fields)  # type: ignore[arg-type]
        when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
        case_id = place_case(session, tenant, request, today=PLACED, placed_at=when).id
        session.commit()
    return case_id


def fetch(session: Session, case_id: int) -> tuple[Case, InvoiceCheck]:
    with unscoped(session):
        session.expire_all()
        case = session.get(Case, case_id)
        assert case is not None
        check = invoice_checks.check_of(session, case)
        assert check is not None
        return case, check


def placed_by_reference(session: Session, reference: str) -> tuple[Case, InvoiceCheck | None]:
    with unscoped(session):
        case = session.scalars(select(Case).where(Case.creditor_reference == reference)).one()
        return case, invoice_checks.check_of(session, case)


def assert_under_check(session: Session, reference: str) -> None:
    case, check = placed_by_reference(session, reference)
    assert case.stage is Stage.CHECK
    assert check is not None and check.status is CheckStatus.OPEN


def run_due(app: Flask, day: date) -> str:
    result = app.test_cli_runner().invoke(args=["collections", "run-due", "--date", str(day)])
    assert result.exit_code == 0, result.output
    return result.output


def mails_to(session: Session, recipient: str) -> list[OutboxMessage]:
    with unscoped(session):
        statement = select(OutboxMessage).where(OutboxMessage.recipient == recipient)
        return list(session.scalars(statement))


def ledger_of(session: Session, case_id: int, kind: EntryKind) -> list[LedgerEntry]:
    with unscoped(session):
        statement = select(LedgerEntry).where(LedgerEntry.case_id == case_id)
        return [entry for entry in session.scalars(statement) if entry.kind is kind]


# --- placing -------------------------------------------------------------------------------


def test_placing_by_the_form(client: FlaskClient, session: Session, creditor: User) -> None:
    sign_in(client, creditor)
    page = client.get("/creditor/place").get_data(as_text=True)
    assert "Early intervention: check the invoice with the debtor before collection" in page
    response = client.post("/creditor/place", data=form_data(client, early_intervention="y"))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert_under_check(session, "ACME-77")
    with unscoped(session):
        acknowledgement = session.scalars(select(OutboxMessage)).one()
    assert "We first check the invoices with the debtor" in acknowledgement.body_text


def test_the_form_without_the_box_places_for_collection(
    client: FlaskClient, session: Session, creditor: User
) -> None:
    sign_in(client, creditor)
    assert client.post("/creditor/place", data=form_data(client)).status_code == 302
    case, check = placed_by_reference(session, "ACME-77")
    assert case.stage is Stage.PLACED and check is None


def test_placing_by_csv(client: FlaskClient, session: Session, creditor: User) -> None:
    sign_in(client, creditor)
    content = csv_bytes([
        [*HEADER, "early_intervention"],
        [*row("CSV-1", "Keller Bau GmbH", "RE-1", "100"), "ja"],
        [*row("CSV-2", "Nordwind AG", "RE-2", "200"), ""],
        [*row("CSV-3", "Sonne KG", "RE-3", "300"), "True"],
        [*row("CSV-4", "Mond KG", "RE-4", "400"), "maybe"],
    ])  # fmt: skip
    batch = batch_of(session, upload_csv(client, content))
    assert (batch.valid_cases, batch.rejected_rows) == (3, 1)
    assert reasons(session, batch) == {5: "early_intervention: 'maybe': write yes or no."}
    assert confirm(client, batch).status_code == 302
    assert_under_check(session, "CSV-1")
    assert_under_check(session, "CSV-3")
    case, check = placed_by_reference(session, "CSV-2")
    assert case.stage is Stage.PLACED and check is None


def test_placing_by_the_api(app: Flask, client: FlaskClient, session: Session, acme) -> None:
    with unscoped(session):
        api = ApiClient(app, client, new_key(session, acme))
        session.commit()
    response = api.post("/cases", placement_body("ERP-9", early_intervention=True))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["stage"] == "early.check"
    assert_under_check(session, "ERP-9")
    refused = api.post("/cases", placement_body("ERP-10", early_intervention="yes"))
    assert refused.status_code == 422
    assert refused.content_type == "application/problem+json"
    assert "/early_intervention" in {error["field"] for error in refused.get_json()["errors"]}


# --- the daily run -------------------------------------------------------------------------


def test_the_check_letter_is_written_once_and_the_case_is_not_dunned(
    app: Flask, session: Session, acme: Tenant
) -> None:
    case_id = place_check(session, acme)
    with unscoped(session):
        debtor_email = fetch(session, case_id)[0].debtor.email or ""
    output = run_due(app, date(2026, 3, 2))
    assert "1 invoice check(s) written, 0 converted to collection" in output
    assert len(mails_to(session, debtor_email)) == 1
    again = run_due(app, date(2026, 3, 3))
    assert "0 invoice check(s) written, 0 converted to collection" in again
    assert len(mails_to(session, debtor_email)) == 1
    case, check = fetch(session, case_id)
    assert (check.status, check.letter_sent_on) == (CheckStatus.OPEN, date(2026, 3, 2))
    assert (case.stage, case.dunning_step) == (Stage.CHECK, 0)
    assert ledger_of(session, case_id, EntryKind.INTEREST) == []


def test_unpaid_checks_convert_after_the_days_and_are_dunned_the_day_after(
    app: Flask, session: Session, acme: Tenant
) -> None:
    case_id = place_check(session, acme)
    assert "0 converted to collection" in run_due(app, date(2026, 3, 12))
    assert fetch(session, case_id)[0].stage is Stage.CHECK

    assert "1 converted to collection" in run_due(app, date(2026, 3, 13))
    case, check = fetch(session, case_id)
    assert check.status is CheckStatus.CONVERTED and check.converted_on is not None
    assert case.stage is Stage.PLACED  # converted after the day's dunning run
    assert ledger_of(session, case_id, EntryKind.INTEREST) == []

    assert "0 converted to collection" in run_due(app, date(2026, 3, 14))
    case, check = fetch(session, case_id)
    assert (case.stage, case.dunning_step) == (Stage.REMINDER, 1)
    assert check.status is CheckStatus.CONVERTED
    assert ledger_of(session, case_id, EntryKind.INTEREST)  # since the due date, kept


def test_convert_due_is_idempotent(session: Session, acme: Tenant) -> None:
    place_check(session, acme)
    with unscoped(session):
        assert invoice_checks.convert_due(session, date(2026, 3, 13)) == 1
        assert invoice_checks.convert_due(session, date(2026, 3, 13)) == 0


# --- paid, disputed, the figures -----------------------------------------------------------


def test_paid_in_full_during_the_check_earns_the_fee_and_no_commission(
    session: Session, acme: Tenant
) -> None:
    case_id = place_check(session, acme)
    with unscoped(session):
        case = session.get(Case, case_id)
        assert case is not None
        paid = payments.record_payment(
            session, case, amount_minor=PRINCIPAL, event_key="bank:1",
            paid_on=date(2026, 3, 5), description="Bank transfer",
        )  # fmt: skip
        session.commit()
    assert (paid.entry.commission_minor, paid.entry.commission_bp) == (0, 0)
    case, check = fetch(session, case_id)
    assert (case.stage, case.closure) == (Stage.CLOSED, Closure.PAID)
    assert check.status is CheckStatus.PAID
    assert check.fee_minor == acme.early_intervention_fee_minor


def answer(session: Session, case_id: int, given: Answer, **fields: object) -> None:
    with unscoped(session):
        _case, check = fetch(session, case_id)
        values: dict[str, object] = {"expected_on": None, "reason": ""} | fields
        invoice_checks.record_answer(session, check, answer=given, actor_id=None,
                                     today=date(2026, 3, 5), **values)  # type: ignore[arg-type]  # fmt: skip
        session.commit()


def test_figures_and_the_portfolio_card(
    client: FlaskClient, session: Session, acme: Tenant, creditor: User
) -> None:
    sign_in(client, creditor)
    assert "Invoice checks" not in client.get("/creditor/").get_data(as_text=True)
    paid, disputed, converted, _waiting = (place_check(session, acme) for _ in range(4))
    with unscoped(session):
        other = make_tenant(session, "other")
    place_check(session, other)  # another tenant's: not counted
    with unscoped(session):
        case = session.get(Case, paid)
        assert case is not None
        payments.record_payment(session, case, amount_minor=PRINCIPAL, event_key="bank:2",
                                paid_on=date(2026, 3, 5), description="Bank transfer")  # fmt: skip
        invoice_checks.convert(
            session, fetch(session, converted)[1], actor_id=None, why="Late", today=PLACED
        )
        session.commit()
    answer(session, disputed, Answer.DISPUTED, reason="Goods never delivered")
    with unscoped(session):
        assert invoice_checks.figures(session) == invoice_checks.CheckFigures(
            checked=5, paid_after_check=1, disputed=1, converted=1, waiting=2
        )
    page = client.get("/creditor/").get_data(as_text=True)
    assert "Invoice checks" in page
    expected = {"Checked": 4, "Paid after the check, without collection": 1, "Disputed": 1,
                "Converted to collection": 1, "Waiting for an answer or payment": 1}  # fmt: skip
    for label, number in expected.items():
        assert f"<dt>{label}</dt><dd>{number}</dd>" in page
    assert "Invoice check" in page  # the stage label in the case list


def test_the_case_page_shows_the_check(
    client: FlaskClient, session: Session, acme: Tenant, creditor: User
) -> None:
    sign_in(client, creditor)
    confirmed, disputed = place_check(session, acme), place_check(session, acme)
    answer(session, confirmed, Answer.CONFIRMED, expected_on=date(2026, 3, 20))
    answer(session, disputed, Answer.DISPUTED, reason="Goods never delivered")
    page = client.get(f"/creditor/cases/{confirmed}").get_data(as_text=True)
    assert 'id="invoice-check"' in page and "Received and not disputed" in page
    assert "Expected payment" in page and "payments carry no commission" in page
    page = client.get(f"/creditor/cases/{disputed}").get_data(as_text=True)
    assert "Disputed by the debtor" in page and "Goods never delivered" in page


def test_a_dispute_is_reported_to_the_creditors_people(
    session: Session, acme: Tenant, creditor: User
) -> None:
    case_id = place_check(session, acme)
    answer(session, case_id, Answer.DISPUTED, reason="Wrong price")
    with unscoped(session):
        _case, check = fetch(session, case_id)
        notifications.check_disputed(session, OutboxMailer(), check)
        session.commit()
    mail = mails_to(session, creditor.email)[-1]
    assert mail.subject.startswith("Invoice disputed")
    assert "Wrong price" in mail.body_text


def test_the_creditors_list_shows_each_checks_outcome(
    client: FlaskClient, session: Session, acme: Tenant, creditor: User
) -> None:
    sign_in(client, creditor)
    confirmed, disputed = place_check(session, acme), place_check(session, acme)
    answer(session, confirmed, Answer.CONFIRMED, expected_on=date(2026, 3, 20))
    answer(session, disputed, Answer.DISPUTED, reason="Goods never delivered")
    listing = client.get("/creditor/").get_data(as_text=True)
    assert "Check: confirmed, will pay by 20 Mar 2026" in listing
    assert "Check: disputed: Goods never delivered" in listing
