"""Money under concurrency, with real connections racing each other: the instalment run
in two workers at once, and a refund racing a new payment on the same case. Each leaves
exactly the ledger effects it should, and the ledger check finds nothing wrong after.

(Two deliveries of one webhook at once: ``test_payment_events``; two payments committed
at the same moment: ``test_money_summaries``.)"""

from __future__ import annotations

import threading
import time
from datetime import date

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.adapters.payments import (
    ChargeRequest,
    ChargeResult,
    SimulatedOutcome,
    SimulatedPayments,
)
from portal.adapters.stripe_payments import StripePayments
from portal.models import (
    Case,
    Checkout,
    CheckoutPurpose,
    EntryKind,
    Frequency,
    Instalment,
    InstalmentStatus,
    LedgerEntry,
)
from portal.services import (
    checkouts,
    instalment_charges,
    ledger_check,
    payment_events,
    payment_plans,
)
from portal.services.payment_plans import PlanChoice
from tenants.scoping import unscoped
from tests.fake_stripe import FakeStripe, event, fake_stripe, sign  # noqa: F401 - the fixture
from tests.integration.test_payment_events import SIMULATED, checkout_event, refund
from tests.payment_support import PAGES, TODAY, place
from tests.race_support import race

FIRST_CHARGE_DAY = date(2026, 4, 1)


class CountingProvider(SimulatedPayments):
    """The simulated provider, shared by both workers: it keeps every charge asked of it
    and, like a real provider, answers the same idempotency key with the same payment."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def charge_saved_card(self, request: ChargeRequest) -> ChargeResult:
        with self._lock:
            self.keys.append(request.idempotency_key)
        time.sleep(0.02)  # a network round trip: the other worker runs meanwhile
        return super().charge_saved_card(request)


def payments_on(session: Session, case_id: int, kind: EntryKind = EntryKind.PAYMENT) -> int:
    statement = select(func.count()).where(LedgerEntry.case_id == case_id, LedgerEntry.kind == kind)
    return session.scalar(statement) or 0


def ledger_is_clean(engine: Engine) -> None:
    with Session(engine) as check, unscoped(check):
        found = ledger_check.verify(check)
    assert found.discrepancies == [], found.discrepancies


def plans_due(engine: Engine, count: int) -> list[int]:
    """``count`` cases, each with an active monthly plan whose second instalment is due on
    ``FIRST_CHARGE_DAY``."""
    case_ids = []
    with Session(engine, expire_on_commit=False) as setup, unscoped(setup):
        for _ in range(count):
            case = place(setup)
            payment_plans.propose(
                setup, case, PlanChoice(4, Frequency.MONTHLY, FIRST_CHARGE_DAY), TODAY
            )
            event = checkout_event(setup, case, CheckoutPurpose.PLAN_FIRST, SimulatedOutcome.PAY)
            payment_events.apply(setup, SIMULATED, event, TODAY)
            setup.commit()
            case_ids.append(case.id)
    return case_ids


def test_the_instalment_run_in_two_workers_charges_each_instalment_once(
    race_engine: Engine,
) -> None:
    case_ids = plans_due(race_engine, 6)
    provider = CountingProvider()
    runs = [
        lambda own: instalment_charges.run_due(own, provider, OutboxMailer(), FIRST_CHARGE_DAY)
        for _ in range(2)
    ]
    assert race(race_engine, *runs) == []
    with Session(race_engine) as check, unscoped(check):
        # The first payment from the checkout, and one charge per plan: never two.
        assert [payments_on(check, case_id) for case_id in case_ids] == [2] * len(case_ids)
        due = select(Instalment).where(
            Instalment.case_id.in_(case_ids), Instalment.due_on == FIRST_CHARGE_DAY
        )
        assert {i.status for i in check.scalars(due)} == {InstalmentStatus.PAID}
    # A worker may ask again for a charge the other is making, always with the same key,
    # which the provider answers with the payment it already made.
    assert len(set(provider.keys)) == len(case_ids)
    ledger_is_clean(race_engine)


def test_a_refund_racing_a_new_payment_books_both_once(race_engine: Engine) -> None:
    """The first instalment of a plan was paid; part of it is refunded while the debtor
    pays the rest in full: both land, once each, whatever the order."""
    [case_id] = plans_due(race_engine, 1)
    with Session(race_engine, expire_on_commit=False) as setup, unscoped(setup):
        [first] = setup.scalars(
            select(LedgerEntry).where(
                LedgerEntry.case_id == case_id, LedgerEntry.kind == EntryKind.PAYMENT
            )
        )
        payment_ref = first.event_key.rsplit(":", 1)[-1] if first.event_key else ""
        refund_event = refund(payment_ref, "evt_refund_race", 1_000)
        rest = checkout_event(
            setup, setup.get_one(Case, case_id), CheckoutPurpose.FULL, SimulatedOutcome.PAY
        )
        setup.commit()
    applied: list[payment_events.Applied] = []
    errors = race(
        race_engine,
        lambda own: applied.append(payment_events.apply(own, SIMULATED, refund_event, TODAY)),
        lambda own: applied.append(payment_events.apply(own, SIMULATED, rest, TODAY)),
    )
    assert errors == []
    assert not any(a.duplicate for a in applied), [a.outcome for a in applied]
    for delivery in (refund_event, rest):  # delivered again after the race: nothing more
        with Session(race_engine) as again, unscoped(again):
            assert payment_events.apply(again, SIMULATED, delivery, TODAY).duplicate
            again.commit()
    with Session(race_engine) as check, unscoped(check):
        assert payments_on(check, case_id) == 2
        assert payments_on(check, case_id, EntryKind.REVERSAL) == 1
    ledger_is_clean(race_engine)


def test_a_debtor_clicking_pay_twice_at_once_gets_one_checkout_and_pays_once(
    race_engine: Engine,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture imported above
) -> None:
    """Both clicks reach Stripe with the same idempotency key and get the one session; the
    case's row lock keeps the second from inserting it again. Paid, it books once."""
    stripe = StripePayments(fake_stripe.secret_key, fake_stripe.webhook_secret, fake_stripe.url)
    with Session(race_engine, expire_on_commit=False) as setup, unscoped(setup):
        case_id = place(setup).id
    urls: list[str] = []

    def click(own: Session) -> None:
        urls.append(
            checkouts.start(own, stripe, own.get_one(Case, case_id), CheckoutPurpose.FULL, PAGES)
        )

    assert race(race_engine, click, click) == []
    assert len(urls) == 2 and urls[0] == urls[1]
    with Session(race_engine) as check, unscoped(check):
        on_case = select(func.count()).where(Checkout.case_id == case_id)
        assert check.scalar(on_case) == 1
    session_id = urls[0].rsplit("/", 1)[-1]
    paid = fake_stripe.complete_checkout(session_id)
    payload = event("checkout.session.completed", paid)
    delivered = stripe.parse_event(payload, sign(payload, fake_stripe.webhook_secret))
    for _ in range(2):  # and Stripe may deliver it twice
        with Session(race_engine) as own, unscoped(own):
            payment_events.apply(own, stripe.name, delivered, TODAY)
            own.commit()
    with Session(race_engine) as check, unscoped(check):
        assert payments_on(check, case_id) == 1
    ledger_is_clean(race_engine)
