"""The Stripe path end to end: the debtor's page opens a Checkout Session on (a local stand-in
for) Stripe, Stripe's signed webhook books the payment once, refunds take it back, and
deliveries that are forged, stale or replayed change nothing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.adapters.stripe_payments import StripePayments
from portal.extensions import limiter
from portal.models import (
    Case,
    Closure,
    EntryKind,
    InstalmentStatus,
    LedgerEntry,
    PaymentPlan,
    PlanStatus,
    ProviderEvent,
    Stage,
)
from portal.services import payment_links
from tenants.scoping import unscoped
from tests.factories import make_case, make_tenant
from tests.fake_stripe import FakeStripe, event, fake_stripe, sign  # noqa: F401 - the fixture

WEBHOOK = "/webhooks/stripe"


@pytest.fixture
def stripe_app(app: Flask, fake_stripe: FakeStripe) -> Iterator[FakeStripe]:  # noqa: F811
    """The app taking payments through the real Stripe adapter, pointed at the stand-in."""
    provider = StripePayments(fake_stripe.secret_key, fake_stripe.webhook_secret, fake_stripe.url)
    previous = app.extensions["portal.payments"]
    app.extensions["portal.payments"] = provider
    yield fake_stripe
    app.extensions["portal.payments"] = previous


@pytest.fixture
def case(session: Session) -> Case:
    limiter.reset()
    with unscoped(session):
        found = make_case(session, make_tenant(session, "acme"), amounts=(120_000,))
        session.commit()
    return found


def link(case: Case) -> str:
    return f"/pay/{payment_links.token_for(case)}"


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def deliver(client: FlaskClient, payload: bytes, secret: str, **sign_options: int):
    header = sign(payload, secret, **sign_options)
    return client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": header},
                       content_type="application/json")  # fmt: skip


def open_checkout(client: FlaskClient, fake: FakeStripe, case: Case, purpose: str) -> str:
    started = client.post(
        f"{link(case)}/checkout", data={"csrf_token": csrf(client, link(case)), "purpose": purpose}
    )
    assert started.status_code == 303 and started.headers["Location"].startswith(fake.url)
    return started.headers["Location"].rsplit("/", 1)[-1]


def completed(fake: FakeStripe, session_id: str, **options: str) -> bytes:
    return event("checkout.session.completed", fake.complete_checkout(session_id, **options))


def payments_of(session: Session, case: Case) -> list[LedgerEntry]:
    with unscoped(session):
        session.expire_all()
        statement = select(LedgerEntry).where(
            LedgerEntry.case_id == case.id,
            LedgerEntry.kind.in_((EntryKind.PAYMENT, EntryKind.REVERSAL)),
        )
        return list(session.scalars(statement.order_by(LedgerEntry.id)))


def test_a_checkout_paid_on_stripe_is_booked_once_from_its_webhook(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe
) -> None:
    session_id = open_checkout(client, stripe_app, case, "full")
    sent = stripe_app.sessions[session_id]
    assert (sent["amount_total"], sent["currency"]) == (120_000, "eur")
    payload = completed(stripe_app, session_id)
    first = deliver(client, payload, stripe_app.webhook_secret)
    assert first.status_code == 200 and first.json["outcome"] == "payment booked"
    again = deliver(client, payload, stripe_app.webhook_secret)  # Stripe retries, or a replay
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert [p.amount_minor for p in payments_of(session, case)] == [-120_000]
    with unscoped(session):
        found = session.get(Case, case.id)
        assert (found.stage, found.closure) == (Stage.CLOSED, Closure.PAID)


def test_refunds_reverse_the_payment_by_what_is_new(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe
) -> None:
    session_id = open_checkout(client, stripe_app, case, "full")
    deliver(client, completed(stripe_app, session_id), stripe_app.webhook_secret)
    intent = stripe_app.sessions[session_id]["payment_intent"]
    charge = {"id": "ch_1", "object": "charge", "payment_intent": intent, "currency": "eur"}
    for refunded in (20_000, 50_000):  # cumulative totals, as Stripe sends them
        payload = event("charge.refunded", charge | {"amount_refunded": refunded})
        assert deliver(client, payload, stripe_app.webhook_secret).status_code == 200
    entries = payments_of(session, case)
    assert [e.amount_minor for e in entries] == [-120_000, 20_000, 30_000]
    assert [e.commission_minor for e in entries] == [18_000, -3_000, -4_500]
    with unscoped(session):
        summaries = [a.summary for a in session.get(Case, case.id).activities]
        assert "Payment reversed: €200.00" in summaries and "Payment reversed: €300.00" in summaries


def test_a_chargeback_reverses_the_payment(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe
) -> None:
    session_id = open_checkout(client, stripe_app, case, "full")
    deliver(client, completed(stripe_app, session_id), stripe_app.webhook_secret)
    intent = stripe_app.sessions[session_id]["payment_intent"]
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": intent, "amount": 120_000,
               "currency": "eur", "reason": "fraudulent"}  # fmt: skip
    deliver(client, event("charge.dispute.created", dispute), stripe_app.webhook_secret)
    assert [e.amount_minor for e in payments_of(session, case)] == [-120_000, 120_000]


def test_the_plans_first_payment_keeps_the_card_for_the_rest(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe
) -> None:
    plan_url = f"{link(case)}/plan"
    client.post(plan_url, data={"csrf_token": csrf(client, plan_url), "instalments": "4",
                                "frequency": "monthly", "start_on": "2099-01-01"})  # fmt: skip
    with unscoped(session):  # far in the future: beyond the policy, so a collector approves
        plan = session.scalars(select(PaymentPlan)).one()
        plan.status = PlanStatus.AWAITING_FIRST_PAYMENT
        session.commit()
    review = f"{link(case)}/plan/first-payment"
    started = client.post(review, data={"csrf_token": csrf(client, review)})
    session_id = started.headers["Location"].rsplit("/", 1)[-1]
    created = [r for r in stripe_app.requests if r.path == "/v1/checkout/sessions"][-1]
    assert created.params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert created.params["line_items"][0]["price_data"]["unit_amount"] == "30000"
    deliver(client, completed(stripe_app, session_id, payment_method="pm_card_mastercard"),
            stripe_app.webhook_secret)  # fmt: skip
    with unscoped(session):
        session.expire_all()
        plan = session.get(PaymentPlan, plan.id)
        assert plan.status is PlanStatus.ACTIVE
        assert plan.payment_method_ref == "pm_card_mastercard" and plan.customer_ref
        assert plan.instalments[0].status is InstalmentStatus.PAID


@pytest.mark.parametrize(
    ("secret", "age", "reason"),
    [
        ("whsec_someone_else", 0, "bad Stripe-Signature"),
        ("whsec_test_fake", 301, "bad Stripe-Signature"),  # older than the tolerance
    ],
)
def test_forged_and_stale_deliveries_are_refused(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe,
    secret: str, age: int, reason: str,
) -> None:  # fmt: skip
    session_id = open_checkout(client, stripe_app, case, "full")
    payload = completed(stripe_app, session_id)
    refused = deliver(client, payload, secret, timestamp=int(time.time()) - age)
    assert refused.status_code == 400 and reason in refused.json["error"]
    assert payments_of(session, case) == []


def test_a_tampered_body_or_no_signature_is_refused(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe
) -> None:
    session_id = open_checkout(client, stripe_app, case, "full")
    payload = completed(stripe_app, session_id)
    header = sign(payload, stripe_app.webhook_secret)
    tampered = payload.replace(b"120000", b"999999")
    assert (
        client.post(WEBHOOK, data=tampered, headers={"Stripe-Signature": header}).status_code == 400
    )
    assert client.post(WEBHOOK, data=payload).status_code == 400
    assert payments_of(session, case) == []
    with unscoped(session):
        assert session.scalar(select(func.count()).select_from(ProviderEvent)) == 0


def test_unknown_events_are_acknowledged_and_change_nothing(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe
) -> None:
    payload = event("customer.created", {"id": "cus_1", "object": "customer"})
    answer = deliver(client, payload, stripe_app.webhook_secret)
    assert answer.status_code == 200 and answer.json["outcome"].startswith("ignored")
    assert payments_of(session, case) == []


def test_a_refund_of_a_payment_not_ours_books_nothing(
    client: FlaskClient, session: Session, case: Case, stripe_app: FakeStripe
) -> None:
    charge = {"id": "ch_x", "object": "charge", "payment_intent": "pi_unknown",
              "amount_refunded": 5_000, "currency": "eur"}  # fmt: skip
    answer = deliver(client, event("charge.refunded", charge), stripe_app.webhook_secret)
    assert answer.json["outcome"] == "no payment of ours"
    assert payments_of(session, case) == []


def test_the_webhook_is_closed_when_stripe_is_not_the_provider(client: FlaskClient) -> None:
    payload = json.dumps({"id": "evt_1"}).encode()
    assert client.post(WEBHOOK, data=payload).status_code == 404
