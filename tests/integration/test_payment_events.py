"""The provider's events, applied once each and in any order, on both databases: paid
checkouts, instalment charges reported by the webhook and by the charge run, refunds by
their cumulative totals, chargebacks, events that are not ours; receipts; the balance and
the portfolio net of what was given back. Two deliveries of one event at the same moment,
in two real transactions, book it once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.adapters.payments import (
    ChargeRequest,
    ChargeResult,
    EventKind,
    PaymentEvent,
    SimulatedOutcome,
    SimulatedPayments,
)
from portal.models import (
    Activity,
    Case,
    CheckoutPurpose,
    ClaimPart,
    Closure,
    Document,
    EntryKind,
    Frequency,
    Instalment,
    InstalmentStatus,
    LedgerEntry,
    OutboxMessage,
    PaymentPlan,
    PlanStatus,
    ProviderEvent,
    SettlementStatus,
    Stage,
)
from portal.services import (
    checkouts,
    instalment_charges,
    ledger,
    payment_events,
    payment_plans,
    payments,
    portfolio,
    receipts,
    settlements,
)
from portal.services.payment_plans import PlanChoice
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.payment_support import PAGES, TODAY, place, place_in_agency_view, reload
from tests.race_support import race

SIMULATED = SimulatedPayments.name


@pytest.fixture
def case(session: Session) -> Case:
    return place_in_agency_view(session)


def checkout_event(
    session: Session, case: Case, purpose: CheckoutPurpose, outcome: SimulatedOutcome
) -> PaymentEvent:
    """The debtor opens a checkout and pays on the simulated page: the event it sends."""
    provider = SimulatedPayments()
    url = checkouts.start(session, provider, case, purpose, PAGES)
    checkout = checkouts.find(session, SIMULATED, url.rsplit("/", 1)[-1])
    assert checkout is not None
    event = provider.checkout_event(
        checkout.provider_ref, checkout.amount_minor, checkout.currency, outcome
    )
    assert event is not None
    return event


def pay(
    session: Session,
    case: Case,
    purpose: CheckoutPurpose = CheckoutPurpose.FULL,
    outcome: SimulatedOutcome = SimulatedOutcome.PAY,
) -> PaymentEvent:
    event = checkout_event(session, case, purpose, outcome)
    assert payment_events.apply(session, SIMULATED, event, TODAY).outcome == "payment booked"
    return event


def provider_event(kind: EventKind, event_id: str, **facts: object) -> PaymentEvent:
    names = {
        EventKind.PAYMENT_SUCCEEDED: "payment_intent.succeeded",
        EventKind.PAYMENT_FAILED: "payment_intent.payment_failed",
        EventKind.REFUNDED: "charge.refunded",
        EventKind.DISPUTED: "charge.dispute.created",
        EventKind.IGNORED: "customer.created",
    }
    return PaymentEvent(event_id, names[kind], kind, datetime.now(UTC), **facts)


def refund(payment_ref: str, event_id: str, refunded_so_far: int) -> PaymentEvent:
    return provider_event(EventKind.REFUNDED, event_id, object_ref="ch_1",
                          payment_ref=payment_ref, amount_minor=refunded_so_far)  # fmt: skip


def money(session: Session, case_id: int) -> list[LedgerEntry]:
    """Payments and reversals on the case, oldest first."""
    session.flush()
    session.expire_all()
    kinds = (EntryKind.PAYMENT, EntryKind.REVERSAL)
    statement = select(LedgerEntry).where(
        LedgerEntry.case_id == case_id, LedgerEntry.kind.in_(kinds)
    )
    return list(session.scalars(statement.order_by(LedgerEntry.id)))


def allocations(entry: LedgerEntry) -> dict[ClaimPart, int]:
    return {a.part: a.amount_minor for a in entry.allocations}


def count(session: Session, model: type, *where: object) -> int:
    session.flush()
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def summaries(session: Session, case_id: int, text: str) -> int:
    statement = select(func.count()).where(Activity.case_id == case_id, Activity.summary == text)
    return session.scalar(statement) or 0


# -- checkouts ------------------------------------------------------------------------------


def test_a_completed_checkout_applied_twice_is_booked_once(session: Session, case: Case) -> None:
    event = checkout_event(session, case, CheckoutPurpose.FULL, SimulatedOutcome.PAY)
    first = payment_events.apply(session, SIMULATED, event, TODAY)
    assert (first.outcome, first.duplicate, first.case_id) == ("payment booked", False, case.id)
    again = payment_events.apply(session, SIMULATED, event, TODAY)
    assert (again.outcome, again.duplicate) == ("already applied", True)
    # The same payment under another event (Stripe may send more than one per session).
    other = payment_events.apply(session, SIMULATED, replace(event, event_id="evt_2"), TODAY)
    assert (other.outcome, other.duplicate) == ("already applied", False)
    assert [e.amount_minor for e in money(session, case.id)] == [-120_000]
    recorded = session.scalars(select(ProviderEvent).order_by(ProviderEvent.id)).all()
    assert [(r.event_id, r.outcome, r.case_id) for r in recorded] == [
        (event.event_id, "payment booked", case.id),
        ("evt_2", "already applied", case.id),
    ]


def test_paying_in_full_closes_the_case_as_paid_with_one_receipt(
    session: Session, case: Case
) -> None:
    ledger.book(session, case, EntryKind.FEE, 4_000, value_date=TODAY, description="Costs")
    event = pay(session, case)
    found = reload(session, Case, case.id)
    assert (found.stage, found.closure) == (Stage.CLOSED, Closure.PAID)
    [payment] = money(session, case.id)
    assert payment.amount_minor == -124_000 and payment.commission_minor == 18_600
    assert payment.event_key == payment_plans.payment_event_key(SIMULATED, event.payment_ref or "")
    assert allocations(payment) == {ClaimPart.FEES: 4_000, ClaimPart.PRINCIPAL: 120_000}
    assert ledger.balance(session, found).outstanding == 0
    mailer = OutboxMailer()
    receipt = receipts.issue(session, payment, mailer)
    assert receipt is not None and receipt.shareable_with_debtor
    assert receipts.issue(session, payment, mailer) is None  # asked again: nothing more
    assert count(session, Document, Document.case_id == case.id) == 1
    [mail] = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == found.debtor.email)
    ).all()
    assert "€1,240.00" in mail.body_text


def test_paying_a_settlement_in_force_closes_the_case_as_settled(
    session: Session, case: Case
) -> None:
    settlement = settlements.propose(session, case, amount_minor=100_000, note="", actor_id=None)
    assert settlement.status is SettlementStatus.PROPOSED  # within the agency's authority
    assert checkouts.options(session, case).settlement_due == 100_000
    pay(session, case, CheckoutPurpose.SETTLEMENT)
    found = reload(session, Case, case.id)
    assert (found.stage, found.closure) == (Stage.CLOSED, Closure.SETTLED)
    assert reload(session, type(settlement), settlement.id).status is SettlementStatus.PAID
    assert [e.amount_minor for e in money(session, case.id)] == [-100_000]
    assert ledger.balance(session, found).outstanding == 0  # the rest written off


# -- instalment charges, in either order ------------------------------------------------------


class WebhookFirst(SimulatedPayments):
    """Charges like the simulated provider; the provider's webhook for the charge is
    applied (in the webhook's own session) before the charge run records its result."""

    def __init__(self, webhook: Session, today: date) -> None:
        self.webhook, self.today = webhook, today
        self.applied: list[payment_events.Applied] = []

    def charge_saved_card(self, request: ChargeRequest) -> ChargeResult:
        result = super().charge_saved_card(request)
        kind = EventKind.PAYMENT_SUCCEEDED if result.succeeded else EventKind.PAYMENT_FAILED
        event = provider_event(
            kind, f"evt_{request.idempotency_key}", object_ref=result.payment_ref,
            payment_ref=result.payment_ref, amount_minor=request.amount_minor,
            instalment_id=int(request.metadata["instalment_id"]), failure=result.failure,
        )  # fmt: skip
        with unscoped(self.webhook):
            self.applied.append(payment_events.apply(self.webhook, self.name, event, self.today))
            self.webhook.commit()
        return result


@pytest.fixture
def webhook(session: Session) -> Iterator[Session]:
    """Another process's session (the webhook's), in the test's transaction."""
    other = Session(
        bind=session.get_bind(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield other
    other.close()


def plan_of(session: Session, case: Case, choice: PlanChoice, card: SimulatedOutcome) -> int:
    plan = payment_plans.propose(session, case, choice, TODAY)
    pay(session, case, CheckoutPurpose.PLAN_FIRST, card)
    session.commit()
    return plan.id


def test_a_charge_the_webhook_reports_first_is_booked_once(
    session: Session, case: Case, webhook: Session
) -> None:
    plan_id = plan_of(session, case, PlanChoice(2, Frequency.MONTHLY, date(2026, 4, 1)),
                      SimulatedOutcome.PAY)  # fmt: skip
    provider = WebhookFirst(webhook, date(2026, 4, 1))
    report = instalment_charges.run_due(session, provider, OutboxMailer(), date(2026, 4, 1))
    assert (report.charged, report.paid) == (1, 1)
    assert [a.outcome for a in provider.applied] == ["instalment paid"]
    assert [e.amount_minor for e in money(session, case.id)] == [-60_000, -60_000]
    plan = reload(session, PaymentPlan, plan_id)
    assert plan.status is PlanStatus.COMPLETED
    assert {i.status for i in plan.instalments} == {InstalmentStatus.PAID}
    assert summaries(session, case.id, "Payment plan completed") == 1
    assert reload(session, Case, case.id).closure is Closure.PAID


def test_a_charge_the_webhook_reports_after_the_run_changes_nothing(
    session: Session, case: Case
) -> None:
    plan_id = plan_of(session, case, PlanChoice(3, Frequency.MONTHLY, date(2026, 4, 1)),
                      SimulatedOutcome.PAY)  # fmt: skip
    provider = SimulatedPayments()
    instalment_charges.run_due(session, provider, OutboxMailer(), date(2026, 4, 1))
    second = reload(session, PaymentPlan, plan_id).instalments[1]
    charge = provider.charge_saved_card(
        ChargeRequest(40_000, "EUR", "", "", f"instalment-{second.id}-attempt-1", "")
    )
    event = provider_event(EventKind.PAYMENT_SUCCEEDED, "evt_late", object_ref=charge.payment_ref,
                           payment_ref=charge.payment_ref, amount_minor=40_000,
                           instalment_id=second.id)  # fmt: skip
    with unscoped(session):
        applied = payment_events.apply(session, SIMULATED, event, date(2026, 4, 2))
    assert (applied.outcome, applied.case_id) == ("instalment paid", case.id)
    assert [e.amount_minor for e in money(session, case.id)] == [-40_000, -40_000]
    assert [i.status for i in reload(session, PaymentPlan, plan_id).instalments] == [
        InstalmentStatus.PAID, InstalmentStatus.PAID, InstalmentStatus.SCHEDULED]  # fmt: skip


def test_a_failure_reported_by_the_run_and_by_the_webhook_counts_once(
    session: Session, case: Case, webhook: Session
) -> None:
    """The run records a declined charge; the webhook's ``payment_failed`` for that very
    charge (before or after the run records it) retries it once and moves it once."""
    plan_id = plan_of(session, case, PlanChoice(3, Frequency.MONTHLY, date(2026, 4, 1)),
                      SimulatedOutcome.PAY_THEN_DECLINE)  # fmt: skip
    second_id = reload(session, PaymentPlan, plan_id).instalments[1].id
    for day in (date(2026, 4, 1), date(2026, 4, 4)):
        provider = WebhookFirst(webhook, day)
        assert instalment_charges.run_due(session, provider, OutboxMailer(), day).failed == 1
        late = replace(provider_event(EventKind.PAYMENT_FAILED, f"evt_late_{day}"),
                       payment_ref="sim_pi_late", instalment_id=second_id,
                       failure="Your card was declined.")  # fmt: skip
        with unscoped(session):
            payment_events.apply(session, SIMULATED, late, day)  # after the run, too
    second = reload(session, Instalment, second_id)
    assert (second.status, second.attempts, second.next_attempt_on) == (
        InstalmentStatus.FAILED, 2, date(2026, 4, 8))  # fmt: skip
    assert summaries(session, case.id, "Instalment 2 failed: Your card was declined.") == 2
    provider = WebhookFirst(webhook, date(2026, 4, 8))
    instalment_charges.run_due(session, provider, OutboxMailer(), date(2026, 4, 8))
    plan = reload(session, PaymentPlan, plan_id)
    assert (plan.status, plan.misses_in_row) == (PlanStatus.ACTIVE, 1)
    assert [(i.number, i.status) for i in sorted(plan.instalments, key=lambda i: i.number)] == [
        (1, InstalmentStatus.PAID),
        (2, InstalmentStatus.MOVED),
        (3, InstalmentStatus.SCHEDULED),
        (4, InstalmentStatus.SCHEDULED),  # moved once: the debtor pays it once
    ]
    assert money(session, case.id)[0].amount_minor == -40_000 and len(money(session, case.id)) == 1


def test_an_event_for_no_instalment_of_ours_changes_nothing(session: Session, case: Case) -> None:
    for instalment_id in (None, 999_999):
        event = provider_event(EventKind.PAYMENT_SUCCEEDED, f"evt_{instalment_id}",
                               payment_ref="pi_x", amount_minor=5_000,
                               instalment_id=instalment_id)  # fmt: skip
        with unscoped(session):
            applied = payment_events.apply(session, SIMULATED, event, TODAY)
        assert (applied.outcome, applied.case_id) == ("not an instalment charge", None)
    assert money(session, case.id) == []


# -- refunds and chargebacks ----------------------------------------------------------------


def test_refunds_are_booked_by_what_is_new_in_their_cumulative_total(
    session: Session, case: Case
) -> None:
    ledger.book(session, case, EntryKind.FEE, 4_000, value_date=TODAY, description="Costs")
    ledger.book(session, case, EntryKind.INTEREST, 1_000, value_date=TODAY, description="Interest")
    paid = pay(session, case)
    ref = paid.payment_ref or ""
    first = payment_events.apply(session, SIMULATED, refund(ref, "evt_r1", 20_000), TODAY)
    assert (first.outcome, first.case_id) == ("payment reversed", case.id)
    payment, reversal = money(session, case.id)
    assert (reversal.kind, reversal.amount_minor, reversal.reverses_entry_id) == (
        EntryKind.REVERSAL, 20_000, payment.id)  # fmt: skip
    assert (reversal.commission_bp, reversal.commission_minor) == (1_500, -3_000)
    assert allocations(reversal) == {ClaimPart.PRINCIPAL: -20_000}  # the principal goes first

    payment_events.apply(session, SIMULATED, refund(ref, "evt_r2", 50_000), TODAY)
    again = payment_events.apply(session, SIMULATED, refund(ref, "evt_r2", 50_000), TODAY)
    assert again.duplicate
    # The same total in another event (a retry with a new id) books nothing new either.
    payment_events.apply(session, SIMULATED, refund(ref, "evt_r2b", 50_000), TODAY)
    # An older total arriving late books nothing.
    payment_events.apply(session, SIMULATED, refund(ref, "evt_r0", 10_000), TODAY)
    assert [e.amount_minor for e in money(session, case.id)] == [-125_000, 20_000, 30_000]

    payment_events.apply(session, SIMULATED, refund(ref, "evt_r3", 125_000), TODAY)  # the rest
    entries = money(session, case.id)
    assert [e.amount_minor for e in entries] == [-125_000, 20_000, 30_000, 75_000]
    assert allocations(entries[3]) == {
        ClaimPart.PRINCIPAL: -70_000,
        ClaimPart.INTEREST: -1_000,
        ClaimPart.FEES: -4_000,
    }
    # Everything is given back: nothing of the payment, or of its commission, is left.
    assert sum(e.amount_minor for e in entries) == 0
    assert sum(e.commission_minor or 0 for e in entries) == 0
    over = payment_events.apply(session, SIMULATED, refund(ref, "evt_r4", 130_000), TODAY)
    assert over.outcome == "nothing left to reverse"
    found = reload(session, Case, case.id)
    assert ledger.balance(session, found).paid == 0
    assert found.stage is Stage.CLOSED  # an agency admin reopens it; the timeline says so
    reversed_here = (Activity.case_id == case.id, Activity.outcome == "Reversed")
    notes = session.scalars(select(Activity.body).where(*reversed_here))
    assert all("should reopen it" in (body or "") for body in notes)


def test_a_payment_refunded_in_parts_gives_back_exactly_its_commission(
    session: Session, case: Case
) -> None:
    """Each part's commission rounded on its own would give back 1 cent too much here
    (€45.015 is rounded up twice); what is given back follows the total refunded."""
    ref = pay(session, case).payment_ref or ""
    for number, refunded in enumerate((30_010, 60_020, 120_000)):
        payment_events.apply(session, SIMULATED, refund(ref, f"evt_{number}", refunded), TODAY)
    entries = money(session, case.id)
    assert [e.amount_minor for e in entries] == [-120_000, 30_010, 30_010, 59_980]
    assert entries[0].commission_minor == 18_000
    assert sum(e.commission_minor or 0 for e in entries) == 0
    assert all(e.commission_minor <= 0 for e in entries[1:])


def test_a_chargeback_reverses_the_payment_once(session: Session, case: Case) -> None:
    priority = case.priority
    ref = pay(session, case).payment_ref or ""
    dispute = provider_event(EventKind.DISPUTED, "evt_d1", object_ref="dp_1", payment_ref=ref,
                             amount_minor=120_000, failure="fraudulent")  # fmt: skip
    applied = payment_events.apply(session, SIMULATED, dispute, TODAY)
    assert (applied.outcome, applied.case_id) == ("payment reversed", case.id)
    # The same dispute in another event (updated, funds withdrawn) reverses nothing more.
    payment_events.apply(session, SIMULATED, replace(dispute, event_id="evt_d2"), TODAY)
    entries = money(session, case.id)
    assert [(e.amount_minor, e.commission_minor) for e in entries] == [
        (-120_000, 18_000), (120_000, -18_000)]  # fmt: skip
    assert "fraudulent" in entries[1].description
    found = reload(session, Case, case.id)
    assert found.priority == min(100, priority + payments.REVERSAL_PRIORITY)
    assert ledger.balance(session, found).outstanding == 120_000


def test_a_refund_after_a_partial_chargeback_is_still_booked(session: Session, case: Case) -> None:
    """Refunds are counted against refunds: a chargeback of part of the payment does not
    swallow a refund of another part."""
    ref = pay(session, case).payment_ref or ""
    dispute = provider_event(EventKind.DISPUTED, "evt_d", object_ref="dp_1", payment_ref=ref,
                             amount_minor=50_000, failure="product_not_received")  # fmt: skip
    payment_events.apply(session, SIMULATED, dispute, TODAY)
    payment_events.apply(session, SIMULATED, refund(ref, "evt_r", 30_000), TODAY)
    payment_events.apply(session, SIMULATED, refund(ref, "evt_r2", 100_000), TODAY)
    assert [e.amount_minor for e in money(session, case.id)] == [-120_000, 50_000, 30_000, 40_000]


def test_a_refund_of_no_payment_of_ours_books_nothing(session: Session, case: Case) -> None:
    pay(session, case)
    applied = payment_events.apply(
        session, SIMULATED, refund("pi_elsewhere", "evt_x", 5_000), TODAY
    )
    assert (applied.outcome, applied.case_id, applied.duplicate) == (
        "no payment of ours", None, False)  # fmt: skip
    recorded = session.scalars(select(ProviderEvent).where(ProviderEvent.event_id == "evt_x")).one()
    assert (recorded.outcome, recorded.case_id) == ("no payment of ours", None)
    assert len(money(session, case.id)) == 1


def test_an_ignored_event_is_recorded_and_changes_nothing(session: Session, case: Case) -> None:
    before = count(session, LedgerEntry), count(session, Activity)
    event = provider_event(EventKind.IGNORED, "evt_i", object_ref="cus_1")
    applied = payment_events.apply(session, SIMULATED, event, TODAY)
    assert (applied.outcome, applied.case_id) == ("ignored (customer.created)", None)
    assert payment_events.apply(session, SIMULATED, event, TODAY).duplicate
    recorded = session.scalars(select(ProviderEvent)).one()
    assert (recorded.event_type, recorded.outcome) == ("customer.created", applied.outcome)
    assert (count(session, LedgerEntry), count(session, Activity)) == before


def test_the_balance_and_the_portfolio_count_what_was_given_back(session: Session) -> None:
    set_scope(session, TenantScope.every_tenant())
    refunded, kept = place(session, 100_000), place(session, 50_000)
    ref = pay(session, refunded).payment_ref or ""
    pay(session, kept)
    payment_events.apply(session, SIMULATED, refund(ref, "evt_r", 25_000), TODAY)
    balance = ledger.balance(session, reload(session, Case, refunded.id))
    assert (balance.paid, balance.outstanding) == (75_000, 25_000)
    [eur] = portfolio.overview(session).totals
    assert (eur.currency, eur.placed, eur.collected, eur.outstanding) == (
        "EUR", 150_000, 125_000, 25_000)  # fmt: skip
    assert eur.recovery_rate == pytest.approx(125_000 / 150_000)


# -- two deliveries at the same moment ----------------------------------------------------------


@pytest.mark.parametrize("same_event", [True, False], ids=["same-event", "two-events"])
def test_two_deliveries_at_the_same_moment_book_once(race_engine: Engine, same_event: bool) -> None:
    """The same event delivered twice at once (or two events for the one payment): each
    in its own transaction, released together by a barrier. One books, the other finds
    it booked; nothing escapes."""
    with Session(race_engine, expire_on_commit=False) as setup, unscoped(setup):
        case = place(setup)
        event = checkout_event(setup, case, CheckoutPurpose.FULL, SimulatedOutcome.PAY)
        setup.commit()
    events = [event, event if same_event else replace(event, event_id=event.event_id + "_b")]
    applied: list[payment_events.Applied] = []
    errors = race(
        race_engine,
        *(
            lambda own, event=delivered: applied.append(
                payment_events.apply(own, SIMULATED, event, TODAY)
            )
            for delivered in events
        ),
    )
    assert errors == []
    outcomes = sorted((a.outcome, a.duplicate) for a in applied)
    expected = ("already applied", same_event)
    assert outcomes == sorted([("payment booked", False), expected])
    with Session(race_engine) as check, unscoped(check):
        where = (LedgerEntry.case_id == case.id, LedgerEntry.kind == EntryKind.PAYMENT)
        assert count(check, LedgerEntry, *where) == 1
        delivered = {e.event_id for e in events}
        assert count(check, ProviderEvent, ProviderEvent.event_id.in_(delivered)) == len(delivered)
        assert check.get_one(Case, case.id).closure is Closure.PAID
