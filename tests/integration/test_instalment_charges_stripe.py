"""The daily instalment run through the real Stripe adapter and SDK, against the local
stand-in for Stripe's API: the charge's idempotency key, a run that stopped after charging
(charged again with the same key: Stripe answers with the charge it made), a declined card."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.adapters.stripe_payments import StripePayments
from portal.models import (
    Case,
    CheckoutPurpose,
    EntryKind,
    Frequency,
    Instalment,
    InstalmentStatus,
    LedgerEntry,
    OutboxMessage,
    PaymentPlan,
    PlanStatus,
)
from portal.services import checkouts, instalment_charges, payment_events, payment_plans
from portal.services.payment_plans import PlanChoice
from tenants.scoping import unscoped
from tests.fake_stripe import (  # noqa: F401 - the fixture
    DECLINED_CARD,
    FakeStripe,
    event,
    fake_stripe,
    sign,
)
from tests.payment_support import PAGES, TODAY, place_in_agency_view

DUE = date(2026, 4, 1)  # the second instalment


@pytest.fixture
def case(session: Session) -> Case:
    return place_in_agency_view(session)


@pytest.fixture
def fake(fake_stripe: FakeStripe) -> FakeStripe:  # noqa: F811 - the fixture imported above
    return fake_stripe


@pytest.fixture
def stripe(fake: FakeStripe) -> StripePayments:
    return StripePayments(fake.secret_key, fake.webhook_secret, fake.url)


def deliver(session: Session, stripe: StripePayments, fake: FakeStripe, payload: bytes) -> str:
    """A signed webhook delivery, read by the adapter and applied (as the webhook view does)."""
    parsed = stripe.parse_event(payload, sign(payload, fake.webhook_secret))
    with unscoped(session):
        applied = payment_events.apply(session, stripe.name, parsed, TODAY)
        session.commit()
    return applied.outcome


@pytest.fixture
def plan_id(session: Session, case: Case, stripe: StripePayments, fake: FakeStripe) -> int:
    """Six monthly instalments; the first paid on Stripe's Checkout, which kept the card."""
    plan = payment_plans.propose(session, case, PlanChoice(6, Frequency.MONTHLY, DUE), TODAY)
    url = checkouts.start(session, stripe, case, CheckoutPurpose.PLAN_FIRST, PAGES)
    paid = fake.complete_checkout(url.rsplit("/", 1)[-1], payment_method="pm_card_visa")
    outcome = deliver(session, stripe, fake, event("checkout.session.completed", paid))
    assert outcome == "payment booked"
    assert (plan.status, plan.payment_method_ref) == (PlanStatus.ACTIVE, "pm_card_visa")
    assert plan.customer_ref == paid["customer"]
    return plan.id


def second_instalment(session: Session, plan_id: int) -> Instalment:
    session.expire_all()
    plan = session.get_one(PaymentPlan, plan_id)
    return sorted(plan.instalments, key=lambda i: i.number)[1]


def charge_requests(fake: FakeStripe) -> list:
    return [r for r in fake.requests if (r.method, r.path) == ("POST", "/v1/payment_intents")]


def payments(session: Session, case_id: int) -> list[LedgerEntry]:
    session.expire_all()
    statement = select(LedgerEntry).where(
        LedgerEntry.case_id == case_id, LedgerEntry.kind == EntryKind.PAYMENT
    )
    return list(session.scalars(statement.order_by(LedgerEntry.id)))


def run(
    session: Session, stripe: StripePayments, day: date = DUE
) -> instalment_charges.ChargeReport:
    return instalment_charges.run_due(session, stripe, OutboxMailer(), day)


def test_a_due_instalment_is_charged_off_session_with_its_attempts_key(
    session: Session,
    case: Case,
    stripe: StripePayments,
    fake: FakeStripe,
    plan_id: int,
) -> None:
    assert run(session, stripe, date(2026, 3, 31)).charged == 0
    report = run(session, stripe)
    assert (report.charged, report.paid) == (1, 1)
    second = second_instalment(session, plan_id)
    [request] = charge_requests(fake)
    assert request.idempotency_key == f"instalment-{second.id}-attempt-1"
    plan = session.get_one(PaymentPlan, plan_id)
    assert request.params | {"description": None} == {
        "amount": "20000",
        "currency": "eur",
        "customer": plan.customer_ref,
        "payment_method": "pm_card_visa",
        "off_session": "true",
        "confirm": "true",
        "description": None,
        "metadata": {"instalment_id": str(second.id), "case": case.agency_reference},
    }
    [charge] = fake.charges_created()
    assert second.status is InstalmentStatus.PAID
    booked = payments(session, case.id)
    assert [e.amount_minor for e in booked] == [-20_000, -20_000]
    assert booked[1].event_key == payment_plans.payment_event_key("stripe", charge["id"])
    assert run(session, stripe).charged == 0  # again the same day: Stripe is not asked
    assert len(charge_requests(fake)) == 1


def test_a_run_that_stopped_after_charging_charges_once(
    session: Session,
    case: Case,
    stripe: StripePayments,
    fake: FakeStripe,
    plan_id: int,
) -> None:
    second_id = second_instalment(session, plan_id).id
    with unscoped(session):  # the run claims the attempt and charges the card, then stops
        claimed = payment_plans.claim_attempt(session, second_id, DUE)
        assert claimed is not None
        instalment, key = claimed
        session.commit()
        charged = stripe.charge_saved_card(instalment_charges._request(instalment, key))
    assert charged.succeeded
    assert second_instalment(session, plan_id).status is InstalmentStatus.PROCESSING
    assert len(payments(session, case.id)) == 1  # nothing recorded

    report = run(session, stripe)  # the next run charges it again, with the same key
    assert (report.charged, report.paid) == (1, 1)
    requests = charge_requests(fake)
    assert (
        [r.idempotency_key for r in requests]
        == [key, key]
        == [f"instalment-{second_id}-attempt-1"] * 2
    )
    assert [c["id"] for c in fake.charges_created()] == [charged.payment_ref]  # one charge
    booked = payments(session, case.id)
    assert [e.amount_minor for e in booked] == [-20_000, -20_000]
    assert booked[1].event_key == payment_plans.payment_event_key("stripe", charged.payment_ref)
    second = second_instalment(session, plan_id)
    assert (second.status, second.attempts) == (InstalmentStatus.PAID, 1)
    assert run(session, stripe).charged == 0


def test_the_webhook_books_a_stopped_runs_charge_and_the_next_run_adds_nothing(
    session: Session,
    case: Case,
    stripe: StripePayments,
    fake: FakeStripe,
    plan_id: int,
) -> None:
    second_id = second_instalment(session, plan_id).id
    with unscoped(session):
        claimed = payment_plans.claim_attempt(session, second_id, DUE)
        assert claimed is not None
        instalment, key = claimed
        session.commit()
        charged = stripe.charge_saved_card(instalment_charges._request(instalment, key))
    intent = fake.payment_intents[charged.payment_ref]
    outcome = deliver(session, stripe, fake, event("payment_intent.succeeded", intent))
    assert outcome == "instalment paid"
    assert second_instalment(session, plan_id).status is InstalmentStatus.PAID
    assert run(session, stripe).charged == 0  # paid: nothing left to charge
    assert len(fake.charges_created()) == 1
    assert [e.amount_minor for e in payments(session, case.id)] == [-20_000, -20_000]


def test_a_declined_card_fails_the_instalment_with_stripes_message(
    session: Session,
    case: Case,
    stripe: StripePayments,
    fake: FakeStripe,
    plan_id: int,
) -> None:
    debtor_email = case.debtor.email
    with unscoped(session):
        session.get_one(PaymentPlan, plan_id).payment_method_ref = DECLINED_CARD
        session.commit()
    report = run(session, stripe)
    assert (report.charged, report.paid, report.failed) == (1, 0, 1)
    [declined] = fake.charges_created()
    assert declined["status"] == "requires_payment_method"
    second = second_instalment(session, plan_id)
    assert (second.status, second.next_attempt_on) == (InstalmentStatus.FAILED, date(2026, 4, 4))
    assert second.last_failure == "Your card was declined."
    assert len(payments(session, case.id)) == 1
    mail = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == debtor_email)
    ).one()
    assert "could not be collected" in mail.subject
    # The retry is a new attempt, under a new key.
    run(session, stripe, date(2026, 4, 4))
    keys = [r.idempotency_key for r in charge_requests(fake)]
    assert keys == [f"instalment-{second.id}-attempt-1", f"instalment-{second.id}-attempt-2"]
    assert second_instalment(session, plan_id).attempts == 2
