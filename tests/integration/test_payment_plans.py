"""Instalment plans on both databases: the debtor's choice within or beyond the policy, the
first payment in a checkout, the daily charge run with its retries, a missed instalment
moved once, a plan broken after misses in a row, completed, paid off; the dunning run
leaves a case with a plan alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.adapters.payments import (
    SIMULATED_CARD,
    SIMULATED_FAILING_CARD,
    ChargeRequest,
    ChargeResult,
    SimulatedOutcome,
    SimulatedPayments,
)
from portal.models import (
    Activity,
    ActivityKind,
    Case,
    Checkout,
    CheckoutPurpose,
    CheckoutStatus,
    ClaimPart,
    Closure,
    EntryKind,
    Frequency,
    Instalment,
    InstalmentStatus,
    LedgerEntry,
    OutboxMessage,
    PaymentPlan,
    PlanStatus,
    Role,
    Stage,
)
from portal.services import (
    checkouts,
    dunning,
    instalment_charges,
    ledger,
    payment_events,
    payment_plans,
    promises,
    stages,
)
from portal.services.commission import commission_on
from portal.services.payment_plans import PlanChoice, PlanError
from tenants.scoping import unscoped
from tests.factories import make_user
from tests.payment_support import PAGES, TODAY, place, place_in_agency_view, reload

START = date(2026, 4, 1)  # the second instalment; then one a month
SIX_MONTHLY = PlanChoice(6, Frequency.MONTHLY, START)


@pytest.fixture
def case(session: Session) -> Case:
    return place_in_agency_view(session)


class Provider(SimulatedPayments):
    """The simulated provider, keeping every charge asked of it; charges for the
    instalments in ``declines`` fail as a declined card would."""

    def __init__(self, declines: frozenset[int] = frozenset()) -> None:
        self.charges: list[ChargeRequest] = []
        self.declines = declines

    def charge_saved_card(self, request: ChargeRequest) -> ChargeResult:
        self.charges.append(request)
        paid = super().charge_saved_card(request)
        if int(request.metadata["instalment_id"]) in self.declines:
            return ChargeResult(paid.payment_ref, False, "Your card was declined.")
        return paid


def pay_checkout(
    session: Session,
    case: Case,
    purpose: CheckoutPurpose,
    outcome: SimulatedOutcome = SimulatedOutcome.PAY,
    today: date = TODAY,
) -> payment_events.Applied:
    """The debtor opens a checkout for ``purpose`` and completes it on the simulated page."""
    provider = SimulatedPayments()
    url = checkouts.start(session, provider, case, purpose, PAGES)
    checkout = checkouts.find(session, provider.name, url.rsplit("/", 1)[-1])
    assert checkout is not None
    event = provider.checkout_event(
        checkout.provider_ref, checkout.amount_minor, checkout.currency, outcome
    )
    assert event is not None
    return payment_events.apply(session, provider.name, event, today)


def active_plan(
    session: Session,
    case: Case,
    choice: PlanChoice = SIX_MONTHLY,
    outcome: SimulatedOutcome = SimulatedOutcome.PAY,
) -> int:
    plan = payment_plans.propose(session, case, choice, TODAY)
    assert plan.status is PlanStatus.AWAITING_FIRST_PAYMENT, plan.policy_exceptions
    pay_checkout(session, case, CheckoutPurpose.PLAN_FIRST, outcome)
    assert plan.status is PlanStatus.ACTIVE
    session.commit()
    return plan.id


def charge_run(
    session: Session, day: date, provider: SimulatedPayments | None = None
) -> instalment_charges.ChargeReport:
    return instalment_charges.run_due(session, provider or Provider(), OutboxMailer(), day)


def instalments(session: Session, plan_id: int) -> list[tuple[int, date, int, InstalmentStatus]]:
    plan = reload(session, PaymentPlan, plan_id)
    ordered = sorted(plan.instalments, key=lambda i: i.number)
    return [(i.number, i.due_on, i.amount_minor, i.status) for i in ordered]


def entries(session: Session, case_id: int, *kinds: EntryKind) -> list[LedgerEntry]:
    session.flush()
    session.expire_all()
    statement = select(LedgerEntry).where(
        LedgerEntry.case_id == case_id, LedgerEntry.kind.in_(kinds or (EntryKind.PAYMENT,))
    )
    return list(session.scalars(statement.order_by(LedgerEntry.id)))


def summaries(session: Session, case_id: int) -> list[str]:
    statement = select(Activity.summary).where(Activity.case_id == case_id)
    return list(session.scalars(statement.order_by(Activity.id)))


def mails_to(session: Session, case_id: int) -> list[OutboxMessage]:
    found = reload(session, Case, case_id)
    statement = select(OutboxMessage).where(OutboxMessage.recipient == found.debtor.email)
    return list(session.scalars(statement.order_by(OutboxMessage.id)))


# -- choosing a plan ----------------------------------------------------------------------


def test_a_plan_within_the_policy_waits_for_its_first_payment(session: Session, case: Case) -> None:
    queued = (case.priority, case.next_action_on)
    plan = payment_plans.propose(session, case, SIX_MONTHLY, TODAY)
    assert plan.status is PlanStatus.AWAITING_FIRST_PAYMENT
    assert (plan.total_minor, plan.instalment_count, plan.policy_exceptions) == (120_000, 6, [])
    assert instalments(session, plan.id) == [
        (1, TODAY, 20_000, InstalmentStatus.SCHEDULED),
        (2, date(2026, 4, 1), 20_000, InstalmentStatus.SCHEDULED),
        (3, date(2026, 5, 1), 20_000, InstalmentStatus.SCHEDULED),
        (4, date(2026, 6, 1), 20_000, InstalmentStatus.SCHEDULED),
        (5, date(2026, 7, 1), 20_000, InstalmentStatus.SCHEDULED),
        (6, date(2026, 8, 1), 20_000, InstalmentStatus.SCHEDULED),
    ]
    assert all(i.next_attempt_on == i.due_on for i in plan.instalments)
    found = reload(session, Case, case.id)
    assert (found.priority, found.next_action_on) == queued  # nothing for a collector
    assert payment_plans.open_plan(session, found) == plan


def test_a_plan_beyond_the_policy_waits_for_a_collector_who_approves(
    session: Session, case: Case
) -> None:
    priority = case.priority
    plan = payment_plans.propose(session, case, PlanChoice(24, Frequency.MONTHLY, START), TODAY)
    assert plan.status is PlanStatus.AWAITING_APPROVAL
    assert plan.policy_exceptions == [
        "24 instalments (the policy allows 12)",
        "a first payment under €120.00",  # an equal share, €50.00, is under 10 %
    ]
    found = reload(session, Case, case.id)
    assert found.priority == priority + promises.BROKEN_PROMISE_PRIORITY
    assert found.next_action_on == TODAY  # a collector decides today
    with unscoped(session):
        collector = make_user(session, Role.COLLECTOR)
    payment_plans.decide(session, plan, approve=True, comment="", actor_id=collector.id)
    plan = reload(session, PaymentPlan, plan.id)
    assert plan.status is PlanStatus.AWAITING_FIRST_PAYMENT
    assert (plan.decided_by_id, plan.decision_comment) == (collector.id, None)
    assert "Payment plan approved" in summaries(session, case.id)
    with pytest.raises(PlanError, match="not waiting for approval"):
        payment_plans.decide(session, plan, approve=False, comment="No", actor_id=collector.id)
    # Approved, it starts like any other plan.
    assert pay_checkout(session, case, CheckoutPurpose.PLAN_FIRST).outcome == "payment booked"
    assert reload(session, PaymentPlan, plan.id).status is PlanStatus.ACTIVE
    assert [e.amount_minor for e in entries(session, case.id)] == [-5_000]


def test_a_collector_declines_a_plan_and_says_why(session: Session, case: Case) -> None:
    plan = payment_plans.propose(session, case, PlanChoice(24, Frequency.MONTHLY, START), TODAY)
    with unscoped(session):
        collector = make_user(session, Role.COLLECTOR)
    for comment, refusal in [("  ", "Say why the plan is declined"), ("x" * 1001, "At most 1000")]:
        with pytest.raises(PlanError, match=refusal):
            payment_plans.decide(session, plan, approve=False, comment=comment,
                                 actor_id=collector.id)  # fmt: skip
        assert reload(session, PaymentPlan, plan.id).status is PlanStatus.AWAITING_APPROVAL
    why = "Two years is too long; twelve months with €200 first would do."
    payment_plans.decide(session, plan, approve=False, comment=f" {why} ", actor_id=collector.id)
    plan = reload(session, PaymentPlan, plan.id)
    assert (plan.status, plan.decision_comment) == (PlanStatus.DECLINED, why)
    assert plan.ended_at is not None
    assert {i.status for i in plan.instalments} == {InstalmentStatus.CANCELLED}
    assert payment_plans.open_plan(session, reload(session, Case, case.id)) is None
    with pytest.raises(checkouts.CheckoutError):  # nothing of it can be paid
        checkouts.start(session, SimulatedPayments(), case, CheckoutPurpose.PLAN_FIRST, PAGES)
    # The debtor may choose again.
    assert payment_plans.propose(session, case, SIX_MONTHLY, TODAY).status is (
        PlanStatus.AWAITING_FIRST_PAYMENT
    )


@pytest.mark.parametrize("first_status", ["awaiting_approval", "active"])
def test_a_case_has_one_plan_at_a_time(session: Session, case: Case, first_status: str) -> None:
    if first_status == "active":
        first_id = active_plan(session, case)
    else:
        choice = PlanChoice(24, Frequency.MONTHLY, START)
        first_id = payment_plans.propose(session, case, choice, TODAY).id
    with pytest.raises(PlanError, match="already has a payment plan"):
        payment_plans.propose(session, case, SIX_MONTHLY, TODAY)
    assert [p.id for p in payment_plans.plans_of(session, case)] == [first_id]
    assert reload(session, PaymentPlan, first_id).status is PlanStatus(first_status)


def test_a_plan_awaiting_its_first_payment_is_replaced_by_a_new_choice(
    session: Session, case: Case
) -> None:
    first = payment_plans.propose(session, case, SIX_MONTHLY, TODAY)
    second = payment_plans.propose(
        session, case, PlanChoice(4, Frequency.FORTNIGHTLY, START, 30_000), TODAY
    )
    first = reload(session, PaymentPlan, first.id)
    assert first.status is PlanStatus.CANCELLED and first.ended_at is not None
    assert {i.status for i in first.instalments} == {InstalmentStatus.CANCELLED}
    assert payment_plans.open_plan(session, reload(session, Case, case.id)).id == second.id
    assert [a for _, _, a, _ in instalments(session, second.id)] == [30_000, 30_000, 30_000, 30_000]
    pay_checkout(session, case, CheckoutPurpose.PLAN_FIRST)
    assert [e.amount_minor for e in entries(session, case.id)] == [-30_000]


def test_a_closed_case_takes_no_plan(session: Session, case: Case) -> None:
    pay_checkout(session, case, CheckoutPurpose.FULL)
    with pytest.raises(PlanError, match="This account is closed"):
        payment_plans.propose(session, reload(session, Case, case.id), SIX_MONTHLY, TODAY)


# -- the first payment ----------------------------------------------------------------------


def test_the_first_payment_starts_the_plan_and_keeps_the_card(session: Session, case: Case) -> None:
    ledger.book(session, case, EntryKind.FEE, 4_000, value_date=TODAY, description="Costs")
    ledger.book(session, case, EntryKind.INTEREST, 1_234, value_date=TODAY, description="Interest")
    plan = payment_plans.propose(session, case, SIX_MONTHLY, TODAY)
    assert plan.total_minor == 125_234
    assert [a for _, _, a, _ in instalments(session, plan.id)] == [20_872] * 5 + [20_874]
    applied = pay_checkout(session, case, CheckoutPurpose.PLAN_FIRST)
    assert (applied.outcome, applied.duplicate, applied.case_id) == ("payment booked", False,
                                                                    case.id)  # fmt: skip
    plan = reload(session, PaymentPlan, plan.id)
    assert plan.status is PlanStatus.ACTIVE
    assert plan.customer_ref and plan.customer_ref.startswith("sim_cus_")
    assert plan.payment_method_ref == SIMULATED_CARD
    assert [s for *_, s in instalments(session, plan.id)] == [InstalmentStatus.PAID] + [
        InstalmentStatus.SCHEDULED
    ] * 5
    first = min(plan.instalments, key=lambda i: i.number)
    assert first.paid_at is not None and first.next_attempt_on is None
    [payment] = entries(session, case.id)
    assert payment.amount_minor == -20_872
    assert (payment.commission_bp, payment.commission_minor) == (1_500, 3_131)  # 3 130.8
    assert {a.part: a.amount_minor for a in payment.allocations} == {
        ClaimPart.FEES: 4_000,
        ClaimPart.INTEREST: 1_234,
        ClaimPart.PRINCIPAL: 15_638,
    }
    checkout = session.scalars(select(Checkout).where(Checkout.case_id == case.id)).one()
    assert (checkout.purpose, checkout.status) == (CheckoutPurpose.PLAN_FIRST, CheckoutStatus.PAID)
    assert checkout.plan_id == plan.id and checkout.completed_at is not None
    assert "Payment plan started: first instalment paid" in summaries(session, case.id)
    found = reload(session, Case, case.id)
    assert found.stage is not Stage.CLOSED
    assert ledger.balance(session, found).outstanding == 125_234 - 20_872


# -- the daily charge run -----------------------------------------------------------------


def test_instalments_are_charged_on_their_due_dates_until_the_plan_is_paid(
    session: Session, case: Case
) -> None:
    plan_id = active_plan(session, case)
    provider = Provider()
    assert charge_run(session, date(2026, 3, 31), provider).charged == 0  # not due yet
    report = charge_run(session, START, provider)
    assert (report.charged, report.paid, report.failed) == (1, 1, 0)
    [request] = provider.charges
    second = reload(session, PaymentPlan, plan_id).instalments[1]
    assert request.idempotency_key == f"instalment-{second.id}-attempt-1"
    assert (request.amount_minor, request.currency, request.payment_method_ref) == (
        20_000, "EUR", SIMULATED_CARD)  # fmt: skip
    assert request.customer_ref.startswith("sim_cus_")
    assert (second.number, second.status, second.attempts) == (2, InstalmentStatus.PAID, 1)
    assert charge_run(session, START, provider).charged == 0  # the same day again: nothing
    assert charge_run(session, date(2026, 4, 20), provider).charged == 0
    assert len(provider.charges) == 1
    booked = entries(session, case.id)
    assert [e.amount_minor for e in booked] == [-20_000, -20_000]
    payment_ref = provider.charge_saved_card(request).payment_ref  # the same key, the same ref
    assert booked[1].event_key == payment_plans.payment_event_key("simulated", payment_ref)
    assert booked[1].commission_minor == commission_on(20_000, 1_500)
    assert {a.part: a.amount_minor for a in booked[1].allocations} == {ClaimPart.PRINCIPAL: 20_000}

    for day in (date(2026, 5, 1), date(2026, 6, 1), date(2026, 7, 1)):
        assert charge_run(session, day, provider).paid == 1
        assert reload(session, PaymentPlan, plan_id).status is PlanStatus.ACTIVE
    assert reload(session, Case, case.id).stage is not Stage.CLOSED
    assert charge_run(session, date(2026, 8, 1), provider).paid == 1  # the last one
    plan = reload(session, PaymentPlan, plan_id)
    assert plan.status is PlanStatus.COMPLETED and plan.ended_at is not None
    assert {i.status for i in plan.instalments} == {InstalmentStatus.PAID}
    found = reload(session, Case, case.id)
    assert (found.stage, found.closure) == (Stage.CLOSED, Closure.PAID)
    assert ledger.balance(session, found).outstanding == 0
    assert summaries(session, case.id).count("Payment plan completed") == 1
    assert charge_run(session, date(2026, 9, 1), provider).charged == 0


def test_a_plan_paid_to_the_end_leaves_the_case_open_while_something_is_owed(
    session: Session, case: Case
) -> None:
    plan_id = active_plan(session, case, PlanChoice(2, Frequency.WEEKLY, date(2026, 3, 9)))
    ledger.book(session, case, EntryKind.FEE, 1_500, value_date=TODAY, description="Costs")
    session.commit()
    assert charge_run(session, date(2026, 3, 9)).paid == 1
    assert reload(session, PaymentPlan, plan_id).status is PlanStatus.COMPLETED
    found = reload(session, Case, case.id)
    assert found.stage is not Stage.CLOSED
    assert ledger.balance(session, found).outstanding == 1_500


def test_a_failing_card_is_retried_then_moved_to_the_end_then_the_plan_breaks(
    session: Session, case: Case
) -> None:
    case.tenant.plan_retry_days = [6, 2]  # the tenant's own retry days, in any order
    plan_id = active_plan(session, case, outcome=SimulatedOutcome.PAY_THEN_DECLINE)
    assert reload(session, PaymentPlan, plan_id).payment_method_ref == SIMULATED_FAILING_CARD

    report = charge_run(session, START)
    assert (report.charged, report.paid, report.failed) == (1, 0, 1)
    second = reload(session, PaymentPlan, plan_id).instalments[1]
    assert (second.status, second.next_attempt_on) == (InstalmentStatus.FAILED, date(2026, 4, 3))
    assert second.last_failure == "Your card was declined."
    [mail] = mails_to(session, case.id)
    assert mail.subject.startswith("Your instalment could not be collected")
    assert "instalment 2 of €200.00" in mail.body_text
    assert "We will try again on 3 April 2026" in mail.body_text  # en_DE
    assert charge_run(session, START).charged == 0  # not again the same day
    assert charge_run(session, date(2026, 4, 2)).charged == 0

    charge_run(session, date(2026, 4, 3))
    second = reload(session, Instalment, second.id)
    assert (second.status, second.next_attempt_on, second.attempts) == (
        InstalmentStatus.FAILED, date(2026, 4, 7), 2)  # fmt: skip
    assert len(mails_to(session, case.id)) == 2

    charge_run(session, date(2026, 4, 7))  # the last retry fails: the first miss moves it
    plan = reload(session, PaymentPlan, plan_id)
    assert (plan.status, plan.misses_in_row, plan.moved_an_instalment) == (
        PlanStatus.ACTIVE, 1, True)  # fmt: skip
    assert instalments(session, plan_id)[1:] == [
        (2, date(2026, 4, 1), 20_000, InstalmentStatus.MOVED),
        (3, date(2026, 5, 1), 20_000, InstalmentStatus.SCHEDULED),
        (4, date(2026, 6, 1), 20_000, InstalmentStatus.SCHEDULED),
        (5, date(2026, 7, 1), 20_000, InstalmentStatus.SCHEDULED),
        (6, date(2026, 8, 1), 20_000, InstalmentStatus.SCHEDULED),
        (7, date(2026, 9, 1), 20_000, InstalmentStatus.SCHEDULED),  # moved to the end
    ]
    assert len(mails_to(session, case.id)) == 2  # no "we will try again" for a miss
    assert reload(session, Case, case.id).priority < promises.MAX_PRIORITY

    for day in (date(2026, 5, 1), date(2026, 5, 3)):
        assert charge_run(session, day).failed == 1
    assert reload(session, PaymentPlan, plan_id).status is PlanStatus.ACTIVE
    charge_run(session, date(2026, 5, 7))  # the second miss in a row breaks the plan
    plan = reload(session, PaymentPlan, plan_id)
    assert (plan.status, plan.misses_in_row) == (PlanStatus.BROKEN, 2)
    assert plan.ended_at is not None
    assert [s for *_, s in instalments(session, plan_id)] == [
        InstalmentStatus.PAID,
        InstalmentStatus.MOVED,
        InstalmentStatus.MISSED,
        *[InstalmentStatus.CANCELLED] * 4,
    ]
    found = reload(session, Case, case.id)
    assert (found.priority, found.next_action_on) == (promises.MAX_PRIORITY, date(2026, 5, 7))
    assert "Payment plan broken" in summaries(session, case.id)
    assert len(mails_to(session, case.id)) == 4
    assert charge_run(session, date(2026, 6, 1)).charged == 0
    assert len(entries(session, case.id)) == 1  # only the first payment was ever taken


@pytest.mark.parametrize("wish", ["no_emails", "cease_contact"])
def test_a_debtor_who_asked_for_no_emails_is_not_emailed_about_a_failed_card(
    session: Session, case: Case, wish: str
) -> None:
    plan_id = active_plan(session, case, outcome=SimulatedOutcome.PAY_THEN_DECLINE)
    setattr(reload(session, Case, case.id).debtor, wish, True)
    assert charge_run(session, START).failed == 1
    second = reload(session, PaymentPlan, plan_id).instalments[1]
    assert second.status is InstalmentStatus.FAILED  # retried all the same
    assert mails_to(session, case.id) == []


def test_a_paid_instalment_ends_a_run_of_misses(session: Session, case: Case) -> None:
    plan_id = active_plan(session, case)
    ids = [i.id for i in sorted(reload(session, PaymentPlan, plan_id).instalments,
                                key=lambda i: i.number)]  # fmt: skip
    provider = Provider(declines=frozenset({ids[1], ids[3]}))  # the 2nd and the 4th fail
    for month in (4, 5, 6):
        for day in (1, 4, 8):
            charge_run(session, date(2026, month, day), provider)
    plan = reload(session, PaymentPlan, plan_id)
    assert plan.status is PlanStatus.ACTIVE and plan.misses_in_row == 1
    assert [s for *_, s in instalments(session, plan_id)] == [
        InstalmentStatus.PAID,
        InstalmentStatus.MOVED,  # the first miss goes to the end
        InstalmentStatus.PAID,
        InstalmentStatus.MISSED,  # only one instalment is ever moved
        InstalmentStatus.SCHEDULED,
        InstalmentStatus.SCHEDULED,
        InstalmentStatus.SCHEDULED,
    ]


def test_a_miss_and_the_last_instalment_on_the_same_day_keep_the_moved_one(
    session: Session, case: Case
) -> None:
    """Weekly: the second instalment's last retry day is the third's due date. The third
    is paid in the same run that moves the second to the end: the plan is not complete."""
    plan_id = active_plan(session, case, PlanChoice(3, Frequency.WEEKLY, date(2026, 3, 9)))
    second_id = sorted(reload(session, PaymentPlan, plan_id).instalments,
                       key=lambda i: i.number)[1].id  # fmt: skip
    provider = Provider(declines=frozenset({second_id}))
    for day in (date(2026, 3, 9), date(2026, 3, 12)):
        assert charge_run(session, day, provider).failed == 1
    report = charge_run(session, date(2026, 3, 16), provider)
    assert (report.paid, report.failed) == (1, 1)
    assert instalments(session, plan_id) == [
        (1, TODAY, 40_000, InstalmentStatus.PAID),
        (2, date(2026, 3, 9), 40_000, InstalmentStatus.MOVED),
        (3, date(2026, 3, 16), 40_000, InstalmentStatus.PAID),
        (4, date(2026, 3, 23), 40_000, InstalmentStatus.SCHEDULED),
    ]
    assert reload(session, PaymentPlan, plan_id).status is PlanStatus.ACTIVE
    assert charge_run(session, date(2026, 3, 23), provider).paid == 1
    assert reload(session, PaymentPlan, plan_id).status is PlanStatus.COMPLETED
    found = reload(session, Case, case.id)
    assert (found.stage, found.closure) == (Stage.CLOSED, Closure.PAID)


# -- paying ahead ---------------------------------------------------------------------------


def test_paying_the_rest_completes_the_plan(session: Session, case: Case) -> None:
    plan_id = active_plan(session, case)
    charge_run(session, START)
    found = reload(session, Case, case.id)
    assert checkouts.options(session, found).plan_rest == 80_000
    paid = pay_checkout(session, found, CheckoutPurpose.REST, today=date(2026, 4, 10))
    assert paid.outcome == "payment booked"
    plan = reload(session, PaymentPlan, plan_id)
    assert plan.status is PlanStatus.COMPLETED
    assert {i.status for i in plan.instalments} == {InstalmentStatus.PAID}
    assert [e.amount_minor for e in entries(session, case.id)] == [-20_000, -20_000, -80_000]
    found = reload(session, Case, case.id)
    assert (found.stage, found.closure) == (Stage.CLOSED, Closure.PAID)
    assert charge_run(session, date(2026, 5, 1)).charged == 0


def test_paying_the_next_instalment_early(session: Session, case: Case) -> None:
    plan_id = active_plan(session, case)
    found = reload(session, Case, case.id)
    assert checkouts.options(session, found).next_instalment.number == 2
    pay_checkout(session, found, CheckoutPurpose.INSTALMENT, today=date(2026, 3, 20))
    provider = Provider()
    assert charge_run(session, START, provider).charged == 0  # paid already
    assert charge_run(session, date(2026, 5, 1), provider).paid == 1
    assert [s for *_, s in instalments(session, plan_id)][:4] == [InstalmentStatus.PAID] * 3 + [
        InstalmentStatus.SCHEDULED
    ]
    assert [e.amount_minor for e in entries(session, case.id)] == [-20_000] * 3


@pytest.mark.parametrize("purpose", [CheckoutPurpose.INSTALMENT, CheckoutPurpose.REST])
def test_no_checkout_for_an_instalment_while_the_run_takes_it(
    session: Session, case: Case, purpose: CheckoutPurpose
) -> None:
    """A run stopped after claiming an instalment: paying it again in a checkout could
    take the same money twice, so the page asks the debtor to wait."""
    plan_id = active_plan(session, case)
    second = sorted(reload(session, PaymentPlan, plan_id).instalments, key=lambda i: i.number)[1]
    assert payment_plans.claim_attempt(session, second.id, START) is not None
    with pytest.raises(checkouts.CheckoutError, match="being taken from your card"):
        checkouts.start(session, Provider(), reload(session, Case, case.id), purpose, PAGES)


def test_paying_in_full_during_a_plan_stops_its_charges(session: Session, case: Case) -> None:
    """The debtor pays everything at once while the plan runs: the saved card is not
    charged for instalments of a debt that is paid."""
    plan_id = active_plan(session, case)
    found = reload(session, Case, case.id)
    assert pay_checkout(session, found, CheckoutPurpose.FULL).outcome == "payment booked"
    assert reload(session, Case, case.id).closure is Closure.PAID
    plan = reload(session, PaymentPlan, plan_id)
    assert plan.status is PlanStatus.CANCELLED
    assert [s for *_, s in instalments(session, plan_id)] == [InstalmentStatus.PAID] + [
        InstalmentStatus.CANCELLED
    ] * 5
    assert "Payment plan cancelled: the case is closed" in summaries(session, case.id)
    provider = Provider()
    assert charge_run(session, START, provider).charged == 0
    assert provider.charges == []
    assert [e.amount_minor for e in entries(session, case.id)] == [-20_000, -100_000]


def test_a_case_closed_by_hand_charges_no_more_instalments(session: Session, case: Case) -> None:
    plan_id = active_plan(session, case)
    stages.close(session, reload(session, Case, case.id), Closure.WITHDRAWN, actor_id=None)
    session.commit()
    provider = Provider()
    assert charge_run(session, START, provider).charged == 0
    assert provider.charges == []
    assert reload(session, PaymentPlan, plan_id).status is PlanStatus.CANCELLED
    assert len(entries(session, case.id)) == 1


# -- the dunning run ------------------------------------------------------------------------


def test_the_dunning_run_leaves_a_case_with_a_plan_alone(session: Session, case: Case) -> None:
    other = place(session)  # the same claim without a plan, for comparison
    active_plan(session, case)
    filed: list[tuple[int, str, str]] = []
    day = date(2026, 3, 3)
    report = dunning.run_due(
        session, today=day, mailer=OutboxMailer(),
        file_letter=lambda *letter: filed.append(letter),
        now=datetime.combine(day, time(10), tzinfo=UTC),
    )  # fmt: skip
    assert report.cases == 2 and report.advanced == 1
    charged = (EntryKind.INTEREST, EntryKind.FEE)
    assert entries(session, case.id, *charged) == []
    assert entries(session, other.id, *charged) != []  # interest and compensation posted
    assert [case_id for case_id, *_ in filed] == [other.id]
    planned = reload(session, Case, case.id)
    assert (planned.stage, planned.dunning_step) == (Stage.PLACED, 0)
    sent = (ActivityKind.LETTER, ActivityKind.EMAIL)
    statement = select(Activity).where(Activity.case_id == case.id, Activity.kind.in_(sent))
    assert session.scalars(statement).all() == []
    assert mails_to(session, case.id) == []
    assert reload(session, Case, other.id).stage is Stage.REMINDER
