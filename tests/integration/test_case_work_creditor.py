"""The creditor on a case: messages with the agency, direct payments, withdrawal, exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    ActivityKind,
    AuditEntry,
    Case,
    Closure,
    EntryKind,
    LedgerEntry,
    OutboxMessage,
    Role,
    Stage,
)
from portal.services import ledger, stages
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user


def token(client: FlaskClient, path: str, name: str = "csrf_token") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(rf'name="{name}" type="hidden" value="([^"]+)"', page) or re.search(
        rf'id="{name}" name="{name}" type="hidden" value="([^"]+)"', page
    )
    assert found, f"no {name} on {path}"
    return found.group(1)


@pytest.fixture
def world(session: Session):
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        people = {
            "creditor": make_user(session, Role.CREDITOR_ADMIN, tenant),
            "colleague": make_user(session, Role.CREDITOR_USER, tenant),
            "collector": make_user(session, Role.COLLECTOR),
            "admin": make_user(session, Role.AGENCY_ADMIN),
        }
        session.commit()
    return {"tenant": tenant, "case": case, **people}


def load(session: Session, model, object_id):
    """Read back what a request wrote, across tenants (until the next request)."""
    session.expire_all()
    set_scope(session, TenantScope.every_tenant())
    return session.get(model, object_id)


def outbox(session: Session) -> list[OutboxMessage]:
    with unscoped(session):
        return session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


# --- messages ----------------------------------------------------------------------------


def test_agency_requests_information_and_the_creditor_answers(
    client: FlaskClient, session: Session, world
) -> None:
    case = world["case"]
    agency_page = f"/agency/cases/{case.id}"
    sign_in(client, world["collector"])
    sent = client.post(
        f"{agency_page}/messages",
        data={
            "csrf_token": token(client, agency_page),
            "body": "Please send the signed delivery note.",
            "requests_information": "y",
        },
    )
    assert sent.status_code == 302
    creditor_mail = {m.recipient for m in outbox(session)}
    assert creditor_mail == {world["creditor"].email, world["colleague"].email}

    creditor_page = f"/creditor/cases/{case.id}"
    sign_in(client, world["creditor"])
    page = client.get(creditor_page).get_data(as_text=True)
    assert "The agency needs something from you" in page and "signed delivery note" in page
    client.post(
        f"{creditor_page}/messages",
        data={"csrf_token": token(client, creditor_page), "body": "Attached to the case now."},
    )
    page = client.get(creditor_page).get_data(as_text=True)
    assert "The agency needs something from you" not in page
    assert "Attached to the case now." in page
    assert outbox(session)[-1].recipient.endswith("agency.example")  # no collector yet: the inbox


@pytest.mark.parametrize("body", ["", "   ", "x" * 5001])
def test_empty_or_huge_messages_are_refused(
    client: FlaskClient, session: Session, world, body
) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    response = client.post(
        f"{path}/messages", data={"csrf_token": token(client, path), "body": body}
    )
    assert response.status_code == 422
    assert load(session, Case, world["case"].id).messages == []
    assert outbox(session) == []


def test_creditors_cannot_request_information(client: FlaskClient, session: Session, world) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    client.post(
        f"{path}/messages",
        data={"csrf_token": token(client, path), "body": "Hello", "requests_information": "y"},
    )
    [message] = load(session, Case, world["case"].id).messages
    assert message.requests_information is False


# --- direct payments ---------------------------------------------------------------------


def payment_form(client: FlaskClient, path: str, **changes: str) -> dict[str, str]:
    data = {
        "csrf_token": token(client, path),
        "idempotency_key": token(client, path, "idempotency_key"),
        "amount": "250.00",
        "paid_on": "2026-11-02",
        "note": "Bank transfer 4711",
    }
    data.update(changes)
    return data


def test_direct_payment_is_booked_once_with_commission(
    client: FlaskClient, session: Session, world
) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    data = payment_form(client, path)
    first = client.post(f"{path}/payments", data=data)
    again = client.post(f"{path}/payments", data=data)  # the same form sent twice
    assert first.status_code == again.status_code == 302
    with unscoped(session):
        payments = session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind == EntryKind.PAYMENT)
        ).all()
        case = session.get(Case, world["case"].id)
        assert ledger.balance(session, case).outstanding == 75_000
    assert [(p.amount_minor, p.commission_bp, p.commission_minor) for p in payments] == [
        (-25_000, 1500, 3_750)
    ]
    assert payments[0].value_date == date(2026, 11, 2)
    assert "€250.00" in client.get(path).get_data(as_text=True)
    kinds = [a.kind for a in case.activities]
    assert kinds.count(ActivityKind.PAYMENT) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": "0"}, "more than zero"),
        ({"amount": "-5"}, "more than zero"),
        ({"amount": "1000.01"}, "More than the €1,000.00 outstanding"),
        ({"amount": "12.345"}, "at most 2 decimals"),
        ({"amount": "ten"}, "is not an amount"),
        ({"paid_on": "2099-01-01"}, "cannot be in the future"),
        ({"paid_on": "yesterday"}, "Not a valid date"),
        ({"idempotency_key": "short"}, "This form has expired"),
    ],
)
def test_bad_direct_payments_book_nothing(
    client: FlaskClient, session: Session, world, changes, message
) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    response = client.post(f"{path}/payments", data=payment_form(client, path, **changes))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with unscoped(session):
        assert (
            session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.PAYMENT)).all()
            == []
        )


# --- withdrawal --------------------------------------------------------------------------


def test_withdrawing_an_amicable_case_closes_it(
    client: FlaskClient, session: Session, world
) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    response = client.post(
        f"{path}/withdraw",
        data={"csrf_token": token(client, path), "reason": "Settled with the customer"},
    )
    assert response.status_code == 302
    case = load(session, Case, world["case"].id)
    assert (case.stage, case.closure) == (Stage.CLOSED, Closure.WITHDRAWN)
    assert case.activities[0].summary == "Placed → Closed: withdrawn"
    with unscoped(session):
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.stage_changed")
        ).one()
    assert audit.details["closure"] == "withdrawn" and audit.actor_id == world["creditor"].id
    closed_page = client.get(path).get_data(as_text=True)
    assert "Withdraw this case" not in closed_page


def test_withdrawing_in_legal_needs_the_agency(
    client: FlaskClient, session: Session, world
) -> None:
    with unscoped(session):
        case = session.get(Case, world["case"].id)
        case.stage = Stage.LITIGATION  # arranged: the stage machine's legal steps come later
        session.commit()
    path = f"/creditor/cases/{case.id}"
    sign_in(client, world["creditor"])
    client.post(f"{path}/withdraw", data={"csrf_token": token(client, path), "reason": "Insolvent"})
    assert load(session, Case, case.id).stage is Stage.LITIGATION
    assert load(session, Case, case.id).withdrawal_requested_at is not None

    sign_in(client, world["collector"])
    agency_path = f"/agency/cases/{case.id}"
    assert "An agency admin decides" in client.get(agency_path).get_data(as_text=True)
    refused = client.post(
        f"{agency_path}/withdrawal", data={"csrf_token": token(client, agency_path)}
    )
    assert refused.status_code == 403
    sign_in(client, world["admin"])
    client.post(f"{agency_path}/withdrawal", data={"csrf_token": token(client, agency_path)})
    closed = load(session, Case, case.id)
    assert (closed.stage, closed.closure, closed.withdrawal_requested_at) == (
        Stage.CLOSED,
        Closure.WITHDRAWN,
        None,
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_withdrawal_needs_a_reason(client: FlaskClient, session: Session, world, reason) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    response = client.post(
        f"{path}/withdraw", data={"csrf_token": token(client, path), "reason": reason}
    )
    assert response.status_code == 422
    assert load(session, Case, world["case"].id).stage is Stage.PLACED


def test_closed_cases_cannot_be_withdrawn_or_paid(session: Session, world) -> None:
    with unscoped(session):
        case = session.get(Case, world["case"].id)
        stages.close(session, case, Closure.UNCOLLECTIBLE, actor_id=None)
        with pytest.raises(stages.StageError, match="already closed"):
            stages.withdraw(session, case, actor_id=world["creditor"].id, reason="x")
        with pytest.raises(stages.StageError, match="already closed"):
            stages.close(session, case, Closure.PAID, actor_id=None)


def test_closing_as_paid_needs_a_zero_balance(session: Session, world) -> None:
    with unscoped(session):
        case = session.get(Case, world["case"].id)
        with pytest.raises(stages.StageError, match="nothing is outstanding"):
            stages.close(session, case, Closure.PAID, actor_id=None)
        assert case.stage is Stage.PLACED


# --- the list: filters, sort, export -----------------------------------------------------


@pytest.fixture
def portfolio(session: Session, world):
    with unscoped(session):
        tenant = world["tenant"]
        make_case(session, tenant, debtor_name='=HYPERLINK("http://x")', amounts=(5_000,))
        make_case(session, tenant, debtor_name="Anker Werft", amounts=(900_000,))
        session.commit()
    return world


def listed(client: FlaskClient, query: str) -> list[str]:
    page = client.get(f"/creditor/?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
    return re.findall(r"data-row-link>([^<]+)</a>", page)


def test_sorting_and_date_filters(client: FlaskClient, portfolio) -> None:
    sign_in(client, portfolio["creditor"])
    assert listed(client, "sort=outstanding")[:2] == ["Anker Werft", "Keller Bau GmbH"]
    assert listed(client, "sort=debtor")[0] == "=HYPERLINK(&#34;http://x&#34;)"
    assert len(listed(client, "from=2000-01-01")) == 3
    assert listed(client, "to=2000-01-01") == []
    assert len(listed(client, "from=garbage&sort=nonsense")) == 3


def test_csv_export_follows_the_filters_and_defuses_formulas(
    client: FlaskClient, portfolio
) -> None:
    sign_in(client, portfolio["creditor"])
    response = client.get("/creditor/cases.csv?sort=outstanding")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["agency_reference", "creditor_reference", "debtor"]
    assert [row[2] for row in rows[1:]] == [
        "Anker Werft",
        "Keller Bau GmbH",
        '\'=HYPERLINK("http://x")',
    ]
    assert rows[1][8] == "9000.00"
    only_keller = client.get("/creditor/cases.csv?q=keller").get_data(as_text=True)
    assert "Keller Bau GmbH" in only_keller and "Anker" not in only_keller


def test_the_creditor_answers_with_a_document(client: FlaskClient, session: Session, world) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    response = client.post(
        f"{path}/messages",
        data={
            "csrf_token": token(client, path),
            "body": "Delivery note attached.",
            "attachment": (io.BytesIO(pdf), "delivery-note.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    [message] = load(session, Case, world["case"].id).messages
    [document] = message.documents
    assert (document.filename, document.content_type) == ("delivery-note.pdf", "application/pdf")
    page = client.get(path).get_data(as_text=True)
    assert "delivery-note.pdf" in page
    download = client.get(f"{path}/documents/{document.id}")
    assert download.status_code == 200 and download.data == pdf


def test_a_refused_attachment_sends_no_message(
    client: FlaskClient, session: Session, world
) -> None:
    path = f"/creditor/cases/{world['case'].id}"
    sign_in(client, world["creditor"])
    response = client.post(
        f"{path}/messages",
        data={
            "csrf_token": token(client, path),
            "body": "See the program",
            "attachment": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00"), "x.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Windows program" in response.get_data(as_text=True)
    case = load(session, Case, world["case"].id)
    assert case.messages == [] and case.documents == []
    assert outbox(session) == []
