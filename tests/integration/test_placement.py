"""Placing one account: the service's checks and the creditor's form, with the quote."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Activity, AuditEntry, Case, EntryKind, LedgerEntry, OutboxMessage, Role
from portal.services import placement, quote
from portal.services.placement import (
    ContactDetails,
    DebtorDetails,
    InvoiceDetails,
    PlacementRefused,
    WarningSign,
    check_placements,
    place_many,
    priority_score,
)
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user, placement_request
from tests.querycount import counted_queries

TODAY = date(2026, 11, 23)


@pytest.fixture
def acme(session: Session):
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        user = make_user(session, Role.CREDITOR_USER, tenant)
        session.commit()
    set_scope(session, TenantScope.only(tenant.id))
    return tenant, user


def problems_of(session, request) -> dict[str, str]:
    return {p.field: p.message for p in check_placements(session, [request], TODAY)[0]}


def test_a_good_request_has_no_problems(session: Session, acme) -> None:
    assert problems_of(session, placement_request()) == {}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"creditor_reference": " "}, "creditor_reference", "Required."),
        ({"creditor_reference": "x" * 65}, "creditor_reference", "At most 64"),
        ({"currency": "EURO"}, "currency", "ISO 4217"),
        ({"invoices": ()}, "invoices", "at least one invoice"),
        ({"payment_term_days": 400}, "payment_term_days", "Between 0 and 365"),
        ({"contract_interest_bp": 20_000}, "contract_interest", "Between 0 and 100"),
        ({"reminders_sent": -1}, "reminders_sent", "Between 0 and 99"),
        ({"last_reminder_on": date(2027, 1, 1)}, "last_reminder_on", "cannot be in the future"),
    ],
)
def test_bad_placement_fields(session: Session, acme, change, field, message) -> None:
    request = replace(placement_request(), **change)
    assert message in problems_of(session, request)[field]


@pytest.mark.parametrize(
    ("invoice", "field", "message"),
    [
        (InvoiceDetails("A-1", date(2026, 1, 1), date(2026, 2, 1), 0), "amount", "more than zero"),
        (InvoiceDetails("A-1", date(2026, 1, 1), date(2026, 2, 1), -5), "amount", "more than zero"),
        (InvoiceDetails("A-1", date(2026, 1, 1), date(2026, 2, 1), 10**16), "amount", "larger"),
        (InvoiceDetails("A-1", date(2026, 1, 1), date(2026, 12, 1), 100), "due_date", "future"),
        (
            InvoiceDetails("A-1", date(2026, 3, 1), date(2026, 2, 1), 100),
            "issue_date",
            "after its due",
        ),
        (InvoiceDetails(" ", date(2026, 1, 1), date(2026, 2, 1), 100), "number", "Required."),
    ],
)
def test_bad_invoices(session: Session, acme, invoice, field, message) -> None:
    request = replace(placement_request(), invoices=(invoice,))
    assert message in problems_of(session, request)[f"invoices.0.{field}"]


def test_invoice_numbers_are_unique_within_a_case(session: Session, acme) -> None:
    invoice = InvoiceDetails("A-1", date(2026, 1, 1), date(2026, 2, 1), 100)
    request = replace(placement_request(), invoices=(invoice, replace(invoice, number="a-1 ")))
    assert problems_of(session, request) == {
        "invoices.1.number": "The same invoice number appears twice."
    }


def test_bad_debtor_details(session: Session, acme) -> None:
    debtor = DebtorDetails(kind="business", name="", email="not-mail", country="Germany")
    found = problems_of(session, replace(placement_request(), debtor=debtor))
    assert found["debtor.name"] == "Required."
    assert "valid e-mail" in found["debtor.email"]
    assert "two-letter" in found["debtor.country"]


def test_duplicates_name_the_case_they_duplicate(session: Session, acme) -> None:
    tenant, _user = acme
    original = placement_request("Keller Bau", "R-1")
    first = placement.place_case(session, tenant, original, today=TODAY)
    again = placement_request("keller bau ", "R-1")
    same_invoice = replace(
        placement_request("KELLER BAU", "R-2"),
        invoices=(replace(original.invoices[0], amount_minor=5),),
    )
    assert problems_of(session, again) == {
        "creditor_reference": f"Already placed as case {first.agency_reference}."
    }
    invoice_problem = problems_of(session, same_invoice)["invoices.0.number"]
    assert first.agency_reference in invoice_problem and first.invoices[0].number in invoice_problem


def test_duplicates_within_one_batch(session: Session, acme) -> None:
    results = check_placements(session, [placement_request(reference="R-9")] * 2, TODAY)
    assert results[0] == []
    assert results[1][0].message == "The same reference appears twice."


def test_another_tenants_references_are_not_duplicates(session: Session, acme) -> None:
    tenant, _ = acme
    with unscoped(session):
        other = make_tenant(session, "other")
        placement.place_case(session, other, placement_request("Keller", "R-1"), today=TODAY)
    set_scope(session, TenantScope.only(tenant.id))
    assert problems_of(session, placement_request("Keller", "R-1")) == {}


def test_place_case_books_the_opening_ledger_and_timeline(session: Session, acme) -> None:
    tenant, user = acme
    request = replace(
        placement_request(amounts=(100_000, 23_456)),
        warning_signs=frozenset({WarningSign.FALLING_ORDERS}),
        reminders_sent=2,
        contract_reviewed=True,
    )
    case = placement.place_case(session, tenant, request, placed_by_id=user.id, today=TODAY)
    entries = session.scalars(select(LedgerEntry).where(LedgerEntry.case_id == case.id)).all()
    assert sorted(e.amount_minor for e in entries) == [23_456, 100_000]
    assert {e.kind for e in entries} == {EntryKind.PRINCIPAL}
    assert case.warning_signs == ["falling_orders", "over_90_days_past_due"]
    assert (case.reminders_sent, case.contract_reviewed) == (2, True)
    assert case.mandate_ends_on == date(2027, 11, 23)
    assert re.fullmatch(r"\d\d-[0-9A-Z]{4}-[0-9A-Z]{4}", case.agency_reference)
    [activity] = session.scalars(select(Activity).where(Activity.case_id == case.id)).all()
    assert activity.summary == "Placed with 2 invoice(s), €1,234.56"
    with unscoped(session):
        audit = select(AuditEntry).where(AuditEntry.action == "case.placed")
        assert session.scalars(audit).one().object_id == str(case.id)


def test_place_case_refuses_with_every_problem(session: Session, acme) -> None:
    tenant, _ = acme
    bad = replace(placement_request(), creditor_reference="", currency="XXXX")
    with pytest.raises(PlacementRefused) as refused:
        placement.place_case(session, tenant, bad, today=TODAY)
    assert {p.field for p in refused.value.problems} == {"creditor_reference", "currency"}
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_place_many_inserts_in_a_few_statements(session: Session, acme) -> None:
    tenant, _ = acme
    requests = [placement_request(amounts=(100, 200)) for _ in range(40)]
    with counted_queries(session.get_bind()) as statements:
        ids = place_many(session, tenant, requests, placed_by_id=None, today=TODAY)
    assert len(ids) == 40 and len(set(ids)) == 40
    assert len(statements) <= 10
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 80


def test_priority_score_follows_its_formula() -> None:
    young = replace(placement_request(amounts=(10_000,)), invoices=(
        InvoiceDetails("1", date(2026, 11, 1), date(2026, 11, 23), 10_000),))  # fmt: skip
    assert priority_score(young, "EUR", TODAY) == 0  # 100.00 EUR, due today, no signs
    old_big = replace(
        placement_request(),
        invoices=(InvoiceDetails("1", date(2025, 1, 1), date(2025, 11, 23), 100_000_00),),
        warning_signs=frozenset({WarningSign.FALLING_ORDERS, WarningSign.KEY_STAFF_LEAVING}),
    )
    assert priority_score(old_big, "EUR", TODAY) == 40 + 18 + 10
    assert priority_score(old_big, "JPY", TODAY) == 40 + 30 + 10  # 10 million yen


def test_quote_reads_the_rate_table_and_terms(session: Session, acme) -> None:
    tenant, _ = acme
    tenant.commission_grid = [{"family": "amicable", "min_amount_minor": 500_000, "rate_bp": 1000}]
    request = replace(placement_request(), invoices=(
        InvoiceDetails("1", date(2026, 5, 1), date(2026, 6, 30), 1_000_000),))  # fmt: skip
    offer = quote.quote(session, tenant, request, TODAY)
    # 146 days at 2.15 % + 8 points on 10,000.00 EUR = 406.00 EUR
    assert offer.interest == 40_600
    assert offer.compensation == 4_000
    assert offer.amicable.rate_bp == 1000 and offer.legal.rate_bp == tenant.commission_legal_bp
    assert offer.amicable_commission_on_principal == 100_000
    assert offer.mandate_ends_on == date(2027, 11, 23)


# --- the form --------------------------------------------------------------------------


def csrf(client: FlaskClient, path: str) -> str:
    return re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(path).get_data(as_text=True)
    ).group(1)


def form_data(client: FlaskClient, **changes: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf(client, "/creditor/place"),
        "creditor_reference": "ACME-77",
        "currency": "EUR",
        "debtor_kind": "business",
        "debtor_name": "Nordwind Logistik AG",
        "email": "ap@nordwind.example",
        "country": "DE",
        "language": "de",
        "invoices-0-number": "INV-1",
        "invoices-0-issue_date": "2026-08-01",
        "invoices-0-due_date": "2026-08-31",
        "invoices-0-amount": "1,250.50",
        "invoices-1-number": "",
        "reminders_sent": "2",
        "contract_reviewed": "y",
        "warning_signs": "not_returning_calls",
        "place": "1",
    }
    data.update(changes)
    return data


def cases(session: Session) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(Case))


def test_creditor_places_an_account_through_the_form(
    client: FlaskClient, session: Session, acme
) -> None:
    _tenant, user = acme
    sign_in(client, user)
    response = client.post("/creditor/place", data=form_data(client))
    assert response.status_code == 302, response.get_data(as_text=True)
    case_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nordwind Logistik AG" in case_page and "€1,250.50" in case_page
    assert "Placed. The agency reference is" in case_page
    with unscoped(session):
        mail = session.scalars(select(OutboxMessage)).one()
        case = session.scalars(select(Case)).one()
    assert mail.recipient == user.email and case.agency_reference in mail.subject
    assert case.warning_signs == ["not_returning_calls"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"invoices-0-amount": "12.345"}, "at most 2 decimals"),
        ({"invoices-0-amount": "lots"}, "is not an amount"),
        ({"invoices-0-due_date": "2099-01-01"}, "Not yet due"),
        ({"invoices-0-due_date": "31/02/2026"}, "Not a valid date"),
        ({"invoices-0-number": ""}, "Required."),
        ({"debtor_name": ""}, "This field is required."),
        ({"creditor_reference": "x" * 65}, "Field cannot be longer than 64 characters."),
        ({"debtor_kind": "robot"}, "Not a valid choice"),
        ({"currency": "XAU"}, "Not a valid choice"),
        ({"warning_signs": "ghosts"}, "not a valid choice"),
        ({"contract_interest": "nine"}, "A percentage with at most two decimals"),
        ({"reminders_sent": "-3"}, "Number must be between 0 and 99."),
        ({"email": "not-mail"}, "Not a valid e-mail address."),
        ({"contact_name": "Sam Becker", "contact_email": "not-mail"}, "Not a valid e-mail"),
        # A contact's details without the contact's name are refused, not dropped.
        ({"contact_email": "sam@nordwind.example"}, "Required."),
        ({"debtor_name": "<script>alert(1)</script>", "country": "Deutschland"}, "two-letter"),
    ],
)
def test_bad_form_input_is_explained_and_places_nothing(
    client: FlaskClient, session: Session, acme, changes, message
) -> None:
    sign_in(client, acme[1])
    response = client.post("/creditor/place", data=form_data(client, **changes))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert "<script>alert(1)</script>" not in page
    assert cases(session) == 0


def test_a_duplicate_placement_names_the_existing_case(
    client: FlaskClient, session: Session, acme
) -> None:
    sign_in(client, acme[1])
    client.post("/creditor/place", data=form_data(client))
    with unscoped(session):
        existing = session.scalars(select(Case)).one().agency_reference
    again = client.post("/creditor/place", data=form_data(client))
    assert again.status_code == 422
    assert f"Already placed as case {existing}" in again.get_data(as_text=True)
    assert cases(session) == 1


def test_the_live_quote_is_an_htmx_fragment(client: FlaskClient, acme) -> None:
    sign_in(client, acme[1])
    data = form_data(client)
    del data["place"]
    fragment = client.post("/creditor/place/quote", data=data, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<aside id="quote"')
    assert "€1,250.50" in html and "15.00 %" in html and "Fixed compensation" in html


def test_add_invoice_row_and_quote_without_javascript(
    client: FlaskClient, session: Session, acme
) -> None:
    sign_in(client, acme[1])
    data = form_data(client, add_invoice="1")
    del data["place"]
    page = client.post("/creditor/place", data=data).get_data(as_text=True)
    assert 'name="invoices-2-number"' in page
    assert "The claim can carry" in page
    assert cases(session) == 0


@pytest.mark.parametrize("changes", [{"debtor_kind": "robot"}, {"warning_signs": "ghosts"}])
def test_adding_an_invoice_row_to_a_form_with_a_choice_not_offered_shows_the_form(
    client: FlaskClient, session: Session, acme, changes
) -> None:
    sign_in(client, acme[1])
    data = form_data(client, add_invoice="1", **changes)
    del data["place"]
    response = client.post("/creditor/place", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="invoices-2-number"' in page and "The claim can carry" not in page
    assert cases(session) == 0


def test_staff_cannot_place_for_a_tenant(client: FlaskClient, session: Session, acme) -> None:
    with unscoped(session):
        collector = make_user(session, Role.COLLECTOR)
        session.commit()
    sign_in(client, collector)
    assert client.get("/creditor/place").status_code == 403


@pytest.mark.parametrize("name", ["Keller\x00Bau", "Keller\nBau", "Keller\tBau"])
def test_control_characters_are_refused_everywhere(session: Session, acme, name) -> None:
    debtor = DebtorDetails(kind="business", name=name)
    assert (
        "control characters"
        in problems_of(session, replace(placement_request(), debtor=debtor))["debtor.name"]
    )


def test_contact_details_have_limits(session: Session, acme) -> None:

    contact = ContactDetails(name="Sam", position="x" * 101, phone="1" * 33)
    debtor = DebtorDetails(kind="business", name="Keller", contacts=(contact,))
    found = problems_of(session, replace(placement_request(), debtor=debtor))
    assert set(found) == {"debtor.contacts.0.position", "debtor.contacts.0.phone"}


def test_a_contact_e_mail_is_checked_like_the_debtor_s(session: Session, acme) -> None:
    contact = ContactDetails(name="Sam", email="sam at keller")
    debtor = DebtorDetails(kind="business", name="Keller", contacts=(contact,))
    found = problems_of(session, replace(placement_request(), debtor=debtor))
    assert found == {"debtor.contacts.0.email": "Not a valid e-mail address."}


def test_new_references_avoid_other_tenants_references(session: Session, acme, monkeypatch) -> None:
    """Agency references are unique across tenants: a clash with another tenant's is redrawn."""
    tenant, _ = acme
    with unscoped(session):
        other = make_tenant(session, "other")
        taken = placement.place_case(
            session, other, placement_request(), today=TODAY
        ).agency_reference
    set_scope(session, TenantScope.only(tenant.id))
    draws = iter(taken[3:7] + taken[8:12] + "ABCDEFGH")  # the taken code first, then a free one
    monkeypatch.setattr(placement.secrets, "choice", lambda _alphabet: next(draws))
    case = placement.place_case(session, tenant, placement_request(), today=TODAY)
    assert case.agency_reference == f"{taken[:2]}-ABCD-EFGH"
