"""Sending the debtor to the provider to pay, and what a completed checkout does.

What the debtor may pay is worked out here, not taken from the page: everything
outstanding, a settlement in force, a plan's first payment, its next instalment, or
the rest of the plan. A completed checkout books the payment once (the provider's
payment id is the ledger's key, whichever event reports it first) and then moves the
plan on.

The provider is asked first and the ``Checkout`` row written after: when the provider
does not answer, nothing is recorded. The same checkout asked for again (a double
click, a retry) may come back as the session already recorded, which is then reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.payments import CheckoutRequest, PaymentEvent, PaymentProvider
from portal.db import utcnow
from portal.models import (
    Case,
    Checkout,
    CheckoutPurpose,
    CheckoutStatus,
    Instalment,
    InstalmentStatus,
    PaymentPlan,
    PlanStatus,
    Settlement,
    Stage,
)
from portal.services import ledger, payment_plans, payments, settlements


class CheckoutError(ValueError):
    pass


@dataclass(frozen=True)
class PaymentOptions:
    """What the debtor can pay now, in minor units (None: not on offer)."""

    outstanding: int
    settlement: Settlement | None
    settlement_due: int | None
    plan: PaymentPlan | None
    next_instalment: Instalment | None
    plan_rest: int | None

    @property
    def can_pay(self) -> bool:
        return self.outstanding > 0


def options(session: Session, case: Case, balance: ledger.Balance | None = None) -> PaymentOptions:
    """What the debtor may pay now; ``balance``: the case's, where the caller has it."""
    if case.stage is Stage.CLOSED:
        outstanding = 0
    else:
        outstanding = (balance or ledger.balance(session, case)).outstanding
    settlement = next(
        (s for s in settlements.settlements_of(session, case) if s.status in settlements.IN_FORCE),
        None,
    )
    settlement_due = None
    if settlement is not None:
        settlement_due = max(
            settlement.amount_minor - settlements.paid_since(session, settlement), 0
        )
    plan = payment_plans.open_plan(session, case)
    unpaid = payment_plans.unpaid(plan) if plan and plan.status is PlanStatus.ACTIVE else []
    return PaymentOptions(
        outstanding=outstanding,
        settlement=settlement,
        settlement_due=settlement_due or None,
        plan=plan,
        next_instalment=unpaid[0] if unpaid else None,
        plan_rest=sum(i.amount_minor for i in unpaid) or None,
    )


@dataclass(frozen=True)
class CheckoutPages:
    success_url: str
    cancel_url: str
    locale: str


def start(
    session: Session,
    provider: PaymentProvider,
    case: Case,
    purpose: CheckoutPurpose,
    pages: CheckoutPages,
) -> str:
    """Open a checkout for ``purpose``; returns where to send the debtor."""
    found = options(session, case)
    if not found.can_pay:
        raise CheckoutError("Nothing is outstanding on this account.")
    amount, plan, instalment, what = _amount_for(found, purpose)
    request = CheckoutRequest(
        amount_minor=amount,
        currency=case.currency,
        description=f"{case.tenant.display_name}: {what}, reference {case.agency_reference}",
        success_url=pages.success_url,
        cancel_url=pages.cancel_url,
        customer_email=case.debtor.email,
        save_card=purpose is CheckoutPurpose.PLAN_FIRST,
        locale=pages.locale,
        metadata={
            "case": case.agency_reference,
            "purpose": purpose.value,
            "save_card": "1" if purpose is CheckoutPurpose.PLAN_FIRST else "0",
        },
    )
    started = provider.start_checkout(request)
    # The same request (a double click) gets the same session from the provider: the
    # case's row lock makes the second wait for the first's row instead of inserting too.
    ledger.lock_case(session, case)
    if find(session, provider.name, started.provider_ref) is None:
        session.add(
            Checkout(
                tenant_id=case.tenant_id,
                case_id=case.id,
                provider=provider.name,
                provider_ref=started.provider_ref,
                purpose=purpose,
                amount_minor=amount,
                currency=case.currency,
                plan_id=plan.id if plan else None,
                instalment_id=instalment.id if instalment else None,
            )
        )
        session.flush()
    return started.redirect_url


def _amount_for(
    found: PaymentOptions, purpose: CheckoutPurpose
) -> tuple[int, PaymentPlan | None, Instalment | None, str]:
    plan = found.plan
    if purpose is CheckoutPurpose.FULL:
        return found.outstanding, None, None, "payment in full"
    if purpose is CheckoutPurpose.SETTLEMENT and found.settlement_due:
        return found.settlement_due, None, None, "agreed settlement"
    if (
        purpose is CheckoutPurpose.PLAN_FIRST
        and plan
        and plan.status is PlanStatus.AWAITING_FIRST_PAYMENT
    ):
        first = min(plan.instalments, key=lambda i: i.number)
        return first.amount_minor, plan, first, "first instalment"
    if purpose in (CheckoutPurpose.INSTALMENT, CheckoutPurpose.REST) and _being_charged(plan):
        raise CheckoutError(
            "An instalment is being taken from your card right now; try again in a few minutes."
        )
    if purpose is CheckoutPurpose.INSTALMENT and found.next_instalment is not None:
        instalment = found.next_instalment
        return instalment.amount_minor, plan, instalment, f"instalment {instalment.number}"
    if purpose is CheckoutPurpose.REST and found.plan_rest:
        return found.plan_rest, plan, None, "rest of the payment plan"
    raise CheckoutError("This payment is not open on the account any more.")


def _being_charged(plan: PaymentPlan | None) -> bool:
    """The daily run is charging one of the plan's instalments: paying it (or the rest) in
    a checkout now could take the same money twice."""
    return plan is not None and any(
        i.status is InstalmentStatus.PROCESSING for i in plan.instalments
    )


def find(session: Session, provider: str, provider_ref: str) -> Checkout | None:
    return session.scalar(
        select(Checkout).where(Checkout.provider == provider, Checkout.provider_ref == provider_ref)
    )


def complete(session: Session, provider: str, event: PaymentEvent, today: date) -> str:
    """Apply a completed checkout; returns what happened, in words."""
    checkout = find(session, provider, event.checkout_ref or "")
    if checkout is None:
        return "no such checkout"
    case = checkout.case
    ledger.lock_case(session, case)
    session.refresh(checkout)
    if checkout.status is CheckoutStatus.PAID:
        return "already applied"
    payment_ref = event.payment_ref or checkout.provider_ref
    paid = payments.record_payment(
        session, case, amount_minor=event.amount_minor,
        event_key=payment_plans.payment_event_key(provider, payment_ref),
        paid_on=today, description=f"Paid online ({checkout.purpose.value.replace('_', ' ')})",
    )  # fmt: skip
    checkout.status, checkout.completed_at = CheckoutStatus.PAID, utcnow()
    _move_plan_on(session, checkout, event)
    payment_plans.end_with_case(session, case)  # paid in full or settled beside a plan
    session.flush()
    return "payment booked" if paid.new else "payment already booked"


def _move_plan_on(session: Session, checkout: Checkout, event: PaymentEvent) -> None:
    plan = session.get(PaymentPlan, checkout.plan_id) if checkout.plan_id else None
    if plan is None:
        return
    if checkout.purpose is CheckoutPurpose.PLAN_FIRST:
        payment_plans.first_payment_made(
            session,
            plan,
            customer_ref=event.customer_ref,
            payment_method_ref=event.payment_method_ref,
        )
    elif checkout.purpose is CheckoutPurpose.INSTALMENT and checkout.instalment_id:
        instalment = session.get(Instalment, checkout.instalment_id)
        if instalment is not None:
            payment_plans.instalment_paid(session, instalment)
    elif checkout.purpose is CheckoutPurpose.REST:
        payment_plans.rest_paid(session, plan)
