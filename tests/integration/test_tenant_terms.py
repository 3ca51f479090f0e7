"""Agency admins set a client's terms section by section: what they save is stored and
audited, bad input changes nothing, and saved terms apply from then on without
rewriting what was booked before."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.adapters.mail import OutboxMailer
from portal.adapters.payments import SimulatedOutcome, SimulatedPayments
from portal.models import (
    AuditEntry,
    Case,
    CheckoutPurpose,
    Frequency,
    InstalmentStatus,
    LedgerEntry,
    PaymentPlan,
    Role,
    Tenant,
)
from portal.services import (
    checkouts,
    instalment_charges,
    payment_events,
    payment_plans,
    payments,
    quote,
)
from portal.services.commission import commission_on
from portal.services.placement import PlacementRequest, place_case
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user, placement_request

TODAY = date(2026, 3, 2)

COMMISSION = {
    "amicable_rate": "12.5",
    "legal_rate": "25",
    "minimum_fee": "50",
    "early_intervention_fee": "15.00",
    "grid-0-family": "amicable",
    "grid-0-min_amount": "10000.50",
    "grid-0-rate": "12",
    "grid-1-family": "legal",
    "grid-1-min_amount": "0",
    "grid-1-max_amount": "5000",
    "grid-1-min_age_days": "90",
    "grid-1-rate": "30",
}
INSTALMENTS = {
    "max_instalments": "6",
    "min_instalment": "40",
    "min_down_payment": "20",
    "frequencies": ["monthly", "weekly"],
    "max_misses": "3",
    "retry_days": "2, 5, 9",
}
DUNNING = {
    "steps-0-day": "0",
    "steps-0-stage": "amicable.reminder",
    "steps-0-sends": "reminder_email",
    "steps-1-day": "10",
    "steps-1-stage": "amicable.demand",
    "steps-1-sends": "demand_letter",
    "steps-2-day": "",
    "steps-2-stage": "",
    "steps-2-sends": "",
}
CONTACT = {"hours_start": "9", "hours_end": "18", "max_calls": "3", "window_days": "14"}
INTEREST = {"charge_compensation": "y"}  # an unticked box is not posted
COLLECTION = {
    "mandate_months": "24",
    "settlement_authority": "75.5",
    "allocation_order": "principal,interest,fees",
    "payment_link_valid_days": "30",
    "dispute_days": "21",
    "legal_costs_bearer": "creditor",
    "early_intervention_convert_days": "10",
    "retention_months": "120",
}
GOOD = {
    "commission": COMMISSION,
    "instalments": INSTALMENTS,
    "dunning": DUNNING,
    "contact": CONTACT,
    "interest": INTEREST,
    "collection": COLLECTION,
}


@pytest.fixture
def acme(session: Session) -> Tenant:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        session.commit()
    return tenant


@pytest.fixture
def admin_client(client: FlaskClient, session: Session) -> FlaskClient:
    with unscoped(session):
        admin = make_user(session, Role.AGENCY_ADMIN)
        session.commit()
    sign_in(client, admin)
    return client


def terms_url(tenant: Tenant) -> str:
    return f"/agency/tenants/{tenant.id}/terms"


def post(client: FlaskClient, tenant: Tenant, section: str, fields: dict[str, Any]) -> TestResponse:
    page = client.get(terms_url(tenant)).get_data(as_text=True)
    token = re.search(rf'name="{section}-csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    data = {f"{section}-{name}": value for name, value in fields.items()}
    return client.post(
        f"{terms_url(tenant)}/{section}", data=data | {f"{section}-csrf_token": token.group(1)}
    )


def reload(session: Session, tenant_id: int) -> Tenant:
    with unscoped(session):
        session.expire_all()
        return session.get_one(Tenant, tenant_id)


def columns(session: Session, tenant_id: int) -> dict[str, Any]:
    tenant = reload(session, tenant_id)
    return {column.key: getattr(tenant, column.key) for column in Tenant.__table__.columns}


def audits(session: Session) -> list[AuditEntry]:
    with unscoped(session):
        statement = select(AuditEntry).where(AuditEntry.action == "tenant.terms_changed")
        return list(session.scalars(statement.order_by(AuditEntry.id)))


# --- reading and saving --------------------------------------------------------------------


def test_the_page_states_every_section_in_plain_words(
    admin_client: FlaskClient, acme: Tenant
) -> None:
    page = admin_client.get(terms_url(acme))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"Terms for {acme.name}" in text
    assert "Amicable stage: 15.00 % of what is collected." in text
    assert "Debtors may spread the balance over up to 12 instalments of at least €25.00" in text
    assert "A plan breaks after 2 missed instalments in a row." in text
    assert "Day 14 after placement: a demand letter" in text
    for section in GOOD:
        assert f'action="{terms_url(acme)}/{section}"' in text


def test_the_commission_grid_is_saved_as_bands_in_minor_units_and_audited(
    admin_client: FlaskClient, session: Session, acme: Tenant
) -> None:
    saved = post(admin_client, acme, "commission", COMMISSION)
    assert saved.status_code == 302 and saved.headers["Location"].endswith("terms#commission")
    tenant = reload(session, acme.id)
    assert (tenant.commission_amicable_bp, tenant.commission_legal_bp) == (1250, 2500)
    assert (tenant.commission_minimum_fee_minor, tenant.early_intervention_fee_minor) == (
        5_000,
        1_500,
    )
    assert tenant.commission_grid == [
        {"family": "amicable", "min_amount_minor": 1_000_050, "max_amount_minor": None,
         "min_age_days": 0, "rate_bp": 1200},
        {"family": "legal", "min_amount_minor": 0, "max_amount_minor": 500_000,
         "min_age_days": 90, "rate_bp": 3000},
    ]  # fmt: skip
    [entry] = audits(session)
    assert entry.tenant_id == acme.id and entry.details["section"] == "commission"
    assert entry.details["before"]["commission_amicable_bp"] == 1500
    assert entry.details["after"]["commission_amicable_bp"] == 1250
    assert "commission_legal_bp" not in entry.details["after"]  # unchanged: not recorded
    text = admin_client.get(terms_url(acme)).get_data(as_text=True)
    assert "Amicable stage: 12.50 % of what is collected; claims from €10,000.50: 12.00 %." in text
    assert "claims under €5,000.00, oldest invoice at least 90 days past due: 30.00 %" in text


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("instalments", {"plan_max_instalments": 6, "plan_min_instalment_minor": 4_000,
                         "plan_min_down_payment_bp": 2_000,
                         "plan_frequencies": ["weekly", "monthly"],
                         "plan_max_misses": 3, "plan_retry_days": [2, 5, 9]}),
        ("dunning", {"dunning_cadence": [
            {"stage": "amicable.reminder", "days": 0, "sends": "reminder_email"},
            {"stage": "amicable.demand", "days": 10, "sends": "demand_letter"}]}),
        ("contact", {"contact_hours_start": 9, "contact_hours_end": 18, "contact_max_calls": 3,
                     "contact_window_days": 14}),
        ("interest", {"charge_statutory_interest": False, "charge_compensation": True}),
        ("collection", {"mandate_months": 24, "settlement_authority_bp": 7_550,
                        "allocation_order": ["principal", "interest", "fees"],
                        "payment_link_valid_days": 30, "dispute_days": 21,
                        "legal_costs_recoverable_from": "creditor",
                        "early_intervention_convert_days": 10, "retention_months": 120}),
    ],
)  # fmt: skip
def test_each_section_is_saved(
    admin_client: FlaskClient,
    session: Session,
    acme: Tenant,
    section: str,
    expected: dict[str, Any],
) -> None:
    before = columns(session, acme.id)
    assert post(admin_client, acme, section, GOOD[section]).status_code == 302
    stored = columns(session, acme.id)
    assert {name: stored[name] for name in expected} == expected
    changed = {name: value for name, value in expected.items() if before[name] != value}
    [entry] = audits(session)
    assert entry.details == {
        "section": section,
        "before": {name: before[name] for name in changed},
        "after": changed,
    }


def test_the_dunning_days_are_entered_after_placement_and_shown_back_so(
    admin_client: FlaskClient, session: Session, acme: Tenant
) -> None:
    three_steps = DUNNING | {
        "steps-2-day": "30",
        "steps-2-stage": "amicable.negotiation",
        "steps-2-sends": "negotiation_call",
    }
    assert post(admin_client, acme, "dunning", three_steps).status_code == 302
    # The run counts each step's days from the step before.
    assert [step["days"] for step in reload(session, acme.id).dunning_cadence] == [0, 10, 20]
    text = admin_client.get(terms_url(acme)).get_data(as_text=True)
    assert "Day 30 after placement: a call to negotiate" in text
    assert 'name="dunning-steps-2-day" type="text" value="30"' in text


def test_saving_the_same_terms_changes_and_audits_nothing(
    admin_client: FlaskClient, session: Session, acme: Tenant
) -> None:
    assert post(admin_client, acme, "contact", CONTACT).status_code == 302
    before = columns(session, acme.id)
    again = post(admin_client, acme, "contact", CONTACT)
    assert again.status_code == 302
    assert "nothing changed" in admin_client.get(terms_url(acme)).get_data(as_text=True)
    assert columns(session, acme.id) == before
    assert len(audits(session)) == 1


# --- bad input -------------------------------------------------------------------------------

PERCENT = "A percentage from 0 to 100 with at most two decimals"


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        ("commission", {"amicable_rate": "100.5"}, PERCENT),
        ("commission", {"legal_rate": "-1"}, PERCENT),
        ("commission", {"amicable_rate": "12.345"}, PERCENT),
        ("commission", {"minimum_fee": "-5"}, "Zero or more."),
        ("commission", {"early_intervention_fee": "-0.01"}, "Zero or more."),
        ("commission", {"grid-0-rate": "101"}, PERCENT),
        ("commission", {"grid-1-max_amount": "0"}, "More than the amount the band starts from."),
        ("commission", {"grid-0-min_amount": "ten"}, "An amount in EUR, like 10000"),
        ("commission", {"grid-2-family": "amicable", "grid-2-min_amount": "20000",
                        "grid-2-rate": "10"}, "Overlaps the band for claims from €10,000.50"),
        ("commission", {"grid-2-family": "legal", "grid-2-min_amount": "4999.99",
                        "grid-2-max_amount": "9000", "grid-2-min_age_days": "90",
                        "grid-2-rate": "10"}, "Overlaps the band for claims under €5,000.00"),
        ("instalments", {"max_instalments": "0"}, "A whole number from 1 to 120."),
        ("instalments", {"min_instalment": "0"}, "More than zero."),
        ("instalments", {"min_down_payment": "100.01"}, PERCENT),
        ("instalments", {"frequencies": []}, "Choose at least one"),
        ("instalments", {"frequencies": ["daily"]}, "Choose at least one"),
        ("instalments", {"max_misses": "0"}, "A whole number from 1 to 12."),
        ("instalments", {"retry_days": "7, 3"}, "later than the one before"),
        ("instalments", {"retry_days": "0, 3"}, "each from 1 to 60"),
        ("instalments", {"retry_days": "3, soon"}, "each from 1 to 60"),
        ("dunning", {"steps-0-day": "", "steps-0-stage": "", "steps-0-sends": "",
                     "steps-1-day": "", "steps-1-stage": "", "steps-1-sends": ""},
         "At least one step."),
        ("dunning", {"steps-1-day": "0"}, "A day after 0."),
        ("dunning", {"steps-1-sends": "sms"}, "Choose one of: a reminder letter"),
        ("dunning", {"steps-1-stage": "legal.review"}, "Choose one of: Reminder"),
        ("dunning", {"steps-0-stage": "amicable.demand"},
         "A case at Placed cannot move to Demand letter"),
        ("contact", {"hours_start": "18", "hours_end": "9"}, "Later than the start."),
        ("contact", {"hours_end": "25"}, "A whole number from 0 to 24."),
        ("contact", {"max_calls": "0"}, "A whole number from 1 to 100."),
        ("contact", {"window_days": "0"}, "A whole number from 1 to 365."),
        ("collection", {"allocation_order": "fees,fees,principal"},
         "Fees, interest and principal, each once"),
        ("collection", {"payment_link_valid_days": "366"}, "A whole number from 1 to 365."),
        ("collection", {"payment_link_valid_days": "0"}, "A whole number from 1 to 365."),
        ("collection", {"retention_months": "11"}, "A whole number from 12 to 240."),
        ("collection", {"retention_months": "241"}, "A whole number from 12 to 240."),
        ("collection", {"mandate_months": "121"}, "A whole number from 1 to 120."),
        ("collection", {"settlement_authority": "101"}, PERCENT),
        ("collection", {"legal_costs_bearer": "agency"}, "Choose one of: the debtor"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_by_its_field_and_changes_nothing(
    admin_client: FlaskClient,
    session: Session,
    acme: Tenant,
    section: str,
    changes: dict[str, Any],
    message: str,
) -> None:
    before = columns(session, acme.id)
    refused = post(admin_client, acme, section, GOOD[section] | changes)
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    article = text.split(f'<article id="{section}">')[1].split("</article>")[0]
    assert message in article and "<details open>" in article  # shown by the form, open
    assert text.count("<details open>") == 1
    assert columns(session, acme.id) == before
    assert audits(session) == []


@pytest.mark.parametrize("section", GOOD)
def test_a_post_without_its_token_is_refused(
    admin_client: FlaskClient, session: Session, acme: Tenant, section: str
) -> None:
    before = columns(session, acme.id)
    data = {f"{section}-{name}": value for name, value in GOOD[section].items()}
    assert admin_client.post(f"{terms_url(acme)}/{section}", data=data).status_code == 400
    assert columns(session, acme.id) == before
    assert audits(session) == []


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.LEGAL, Role.CREDITOR_ADMIN])
def test_only_agency_admins_see_or_change_terms(
    client: FlaskClient, session: Session, acme: Tenant, role: Role
) -> None:
    with unscoped(session):
        user = make_user(session, role, acme if role is Role.CREDITOR_ADMIN else None)
        session.commit()
    sign_in(client, user)
    before = columns(session, acme.id)
    assert client.get(terms_url(acme)).status_code == 403
    assert client.post(f"{terms_url(acme)}/contact").status_code in {400, 403}
    assert columns(session, acme.id) == before


def test_an_unknown_client_is_not_found(admin_client: FlaskClient) -> None:
    assert admin_client.get("/agency/tenants/999999/terms").status_code == 404


# --- the terms at work ---------------------------------------------------------------------


def test_a_new_rate_applies_to_later_payments_and_rewrites_no_earlier_one(
    admin_client: FlaskClient, session: Session, acme: Tenant
) -> None:
    with unscoped(session):
        case = make_case(session, acme, amounts=(100_000,))
        session.commit()
        first = payments.record_payment(
            session, case, amount_minor=20_000, event_key="terms-first",
            paid_on=TODAY, description="Bank transfer",
        ).entry  # fmt: skip
        session.commit()
        first_id = first.id
    changed = COMMISSION | {"amicable_rate": "10", "minimum_fee": "0", "grid-0-family": "",
                            "grid-0-min_amount": "", "grid-0-rate": ""}  # fmt: skip
    assert post(admin_client, acme, "commission", changed).status_code == 302
    with unscoped(session):
        session.expire_all()
        case = session.get_one(Case, case.id)
        payments.record_payment(
            session, case, amount_minor=20_000, event_key="terms-second",
            paid_on=TODAY, description="Bank transfer",
        )  # fmt: skip
        session.commit()
        session.expire_all()
        booked = session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.case_id == case.id, LedgerEntry.commission_bp.is_not(None))
            .order_by(LedgerEntry.id)
        ).all()
    assert booked[0].id == first_id
    assert [(entry.commission_bp, entry.commission_minor) for entry in booked] == [
        (1_500, commission_on(20_000, 1_500)),
        (1_000, commission_on(20_000, 1_000)),
    ]


def test_the_quote_carries_only_the_interest_and_compensation_the_client_charges(
    session: Session, acme: Tenant
) -> None:
    request = placement_request(amounts=(100_000,))
    with unscoped(session):
        charged = quote.quote(session, acme, request, TODAY)
        acme.charge_statutory_interest, acme.charge_compensation = False, False
        neither = quote.quote(session, acme, request, TODAY)
        contract = quote.quote(
            session, acme, placement_request(amounts=(100_000,), contract_interest_bp=900), TODAY
        )
    assert charged.interest > 0 and charged.compensation > 0
    assert (neither.interest, neither.compensation) == (0, 0)
    assert neither.total_claim == neither.principal
    assert contract.interest > 0 and contract.compensation == 0


def _plan_with_an_instalment_due(session: Session, tenant: Tenant) -> int:
    """A case of ``tenant`` on a monthly plan whose first payment is made: the second
    instalment is due on 2026-04-01."""
    with unscoped(session):
        placed = datetime.combine(date(2026, 3, 1), time(9, 30), tzinfo=UTC)
        request: PlacementRequest = placement_request(amounts=(120_000,))
        case = place_case(session, tenant, request, today=date(2026, 3, 1), placed_at=placed)
        session.commit()
    set_scope(session, TenantScope.every_tenant())
    choice = payment_plans.PlanChoice(6, Frequency.MONTHLY, date(2026, 4, 1))
    plan = payment_plans.propose(session, case, choice, TODAY)
    provider = SimulatedPayments()
    pages = checkouts.CheckoutPages(
        "https://portal.example/paid", "https://portal.example/pay", "en"
    )
    url = checkouts.start(session, provider, case, CheckoutPurpose.PLAN_FIRST, pages)
    checkout = checkouts.find(session, provider.name, url.rsplit("/", 1)[-1])
    assert checkout is not None
    event = provider.checkout_event(
        checkout.provider_ref, checkout.amount_minor, checkout.currency, SimulatedOutcome.PAY
    )
    assert event is not None
    payment_events.apply(session, provider.name, event, TODAY)
    session.commit()
    return plan.id


def test_a_paused_client_s_instalments_wait_until_collection_resumes(
    session: Session, acme: Tenant
) -> None:
    plan_id = _plan_with_an_instalment_due(session, acme)
    with unscoped(session):
        acme.collection_paused = True
        session.commit()
    due = date(2026, 4, 1)
    paused = instalment_charges.run_due(session, SimulatedPayments(), OutboxMailer(), due)
    assert (paused.charged, paused.paused) == (0, 1)
    assert "1 left alone: their client's collection is paused" in paused.summary()
    with unscoped(session):
        session.expire_all()
        statuses = [i.status for i in session.get_one(PaymentPlan, plan_id).instalments]
        assert statuses.count(InstalmentStatus.PAID) == 1  # the first payment only
        session.get_one(Tenant, acme.id).collection_paused = False
        session.commit()
    resumed = instalment_charges.run_due(
        session, SimulatedPayments(), OutboxMailer(), date(2026, 4, 3)
    )
    assert (resumed.charged, resumed.paid, resumed.paused) == (1, 1, 0)
