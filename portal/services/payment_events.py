"""Applying the provider's events (webhooks, and the simulated checkout page) once each.

An event is claimed by inserting its id; a second delivery of the same event, even one
arriving at the same moment from another process, fails on the unique key (PostgreSQL
makes it wait for the first to commit) and changes nothing. Events may arrive in any
order: a payment is booked under the provider's payment id by whichever event reports
it first, and a refund books only what was not given back yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.adapters.payments import EventKind, PaymentEvent
from portal.models import Case, Instalment, LedgerEntry, ProviderEvent
from portal.services import checkouts, payment_plans, payments


@dataclass(frozen=True)
class Applied:
    outcome: str
    duplicate: bool = False
    case_id: int | None = None


def apply(session: Session, provider: str, event: PaymentEvent, today: date) -> Applied:
    """Apply ``event`` unless it was applied before. Call unscoped: the event names the
    case, and so the tenant."""
    record = ProviderEvent(
        provider=provider, event_id=event.event_id, event_type=event.event_type, outcome="received"
    )
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        return Applied("already applied", duplicate=True)
    outcome, case_id = _dispatch(session, provider, event, today)
    record.outcome, record.case_id = outcome[:300], case_id
    session.flush()
    return Applied(outcome, case_id=case_id)


def _dispatch(
    session: Session, provider: str, event: PaymentEvent, today: date
) -> tuple[str, int | None]:
    if event.kind is EventKind.CHECKOUT_COMPLETED:
        checkout = checkouts.find(session, provider, event.checkout_ref or "")
        outcome = checkouts.complete(session, provider, event, today)
        return outcome, checkout.case_id if checkout else None
    if event.kind in (EventKind.PAYMENT_SUCCEEDED, EventKind.PAYMENT_FAILED):
        return _instalment_charge(session, provider, event, today)
    if event.kind in (EventKind.REFUNDED, EventKind.DISPUTED):
        return _reversal(session, provider, event, today)
    return f"ignored ({event.event_type})", None


def _instalment_charge(
    session: Session, provider: str, event: PaymentEvent, today: date
) -> tuple[str, int | None]:
    """An off-session charge's result, for a run that stopped before recording it. A
    payment made in a checkout is booked from its checkout event instead."""
    instalment = session.get(Instalment, event.instalment_id) if event.instalment_id else None
    if instalment is None or not event.payment_ref:
        return "not an instalment charge", None
    if event.kind is EventKind.PAYMENT_SUCCEEDED:
        payment_plans.charge_paid(
            session, instalment, payment_ref=event.payment_ref, provider=provider, today=today
        )
        return "instalment paid", instalment.case_id
    payment_plans.charge_failed(session, instalment, event.failure or "declined", today)
    return "instalment failed", instalment.case_id


def _reversal(
    session: Session, provider: str, event: PaymentEvent, today: date
) -> tuple[str, int | None]:
    payment_key = payment_plans.payment_event_key(provider, event.payment_ref or "")
    payment = session.scalar(select(LedgerEntry).where(LedgerEntry.event_key == payment_key))
    if payment is None:
        return "no payment of ours", None
    case = session.get(Case, payment.case_id)
    if case is None:
        return "no payment of ours", None
    if event.kind is EventKind.REFUNDED:
        # ``amount_minor`` is everything refunded so far: the key makes each total count once.
        refunded_before = _refunded_total(session, provider, payment)
        entry = payments.reverse_payment(
            session, case, payment_event_key=payment_key,
            amount_minor=event.amount_minor - refunded_before,
            event_key=f"refund:{provider}:{event.object_ref}:{event.amount_minor}",
            why="Refunded to the debtor", today=today,
        )  # fmt: skip
    else:
        entry = payments.reverse_payment(
            session, case, payment_event_key=payment_key, amount_minor=event.amount_minor,
            event_key=f"chargeback:{provider}:{event.object_ref}",
            why=f"Chargeback by the debtor's bank ({event.failure or 'no reason given'})",
            today=today,
        )  # fmt: skip
    return ("payment reversed" if entry else "nothing left to reverse"), case.id


def _refunded_total(session: Session, provider: str, payment: LedgerEntry) -> int:
    """What refunds of the payment gave back so far. Refunds only: the provider's refund
    total does not include a chargeback, so counting one would swallow a later refund."""
    statement = select(LedgerEntry.amount_minor).where(
        LedgerEntry.reverses_entry_id == payment.id,
        LedgerEntry.event_key.startswith(f"refund:{provider}:", autoescape=True),
    )
    return sum(session.scalars(statement))
