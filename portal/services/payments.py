"""Booking money the debtor paid, and giving it back.

Every payment, whoever took it (the card provider, the creditor reporting a direct
payment, a collector), goes through ``record_payment``: under a lock on the case it is
booked once per ``event_key``, split over fees, interest and principal in the tenant's
order, charged with the commission in force, and then does what a payment does to a
case: keeps promises, pays a settlement, closes the case as paid when nothing is left.
``reverse_payment`` undoes part or all of a payment (a refund, a chargeback) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.adapters import metrics
from portal.models import (
    ActivityKind,
    Case,
    ClaimPart,
    Closure,
    EntryKind,
    LedgerEntry,
    NotificationKind,
    PaymentAllocation,
    Stage,
)
from portal.services import (
    allocation,
    audit,
    commission,
    invoice_checks,
    ledger,
    notices,
    promises,
    settlements,
    stages,
)
from portal.services.money import format_money
from portal.services.timeline import log_activity

# Which ledger entries make up each part of the claim (adjustments change the principal).
PART_KINDS = {
    ClaimPart.FEES: (EntryKind.FEE,),
    ClaimPart.INTEREST: (EntryKind.INTEREST,),
    ClaimPart.PRINCIPAL: (EntryKind.PRINCIPAL, EntryKind.ADJUSTMENT),
}
# A payment taken back makes the case urgent again.
REVERSAL_PRIORITY = 30


@dataclass(frozen=True)
class RecordedPayment:
    entry: LedgerEntry
    new: bool  # False when this event had been booked before (nothing changed now)


def owed_by_part(session: Session, case: Case) -> dict[ClaimPart, int]:
    """What each part of the claim still owes: claimed less what payments paid on it."""
    claimed = dict(
        session.execute(
            select(LedgerEntry.kind, func.sum(LedgerEntry.amount_minor))
            .where(LedgerEntry.case_id == case.id)
            .group_by(LedgerEntry.kind)
        )
        .tuples()
        .all()
    )
    paid = dict(
        session.execute(
            select(PaymentAllocation.part, func.sum(PaymentAllocation.amount_minor))
            .where(PaymentAllocation.case_id == case.id)
            .group_by(PaymentAllocation.part)
        )
        .tuples()
        .all()
    )
    return {
        part: sum(int(claimed.get(kind, 0)) for kind in kinds) - int(paid.get(part, 0))
        for part, kinds in PART_KINDS.items()
    }


def commission_rate(case: Case, principal_minor: int, today: date) -> commission.CommissionRate:
    """The rate in force today: by the stage family the case is in (or was in before a
    hold), the claim's size and the age of its oldest invoice."""
    stage = case.stage_before_hold if case.stage is Stage.ON_HOLD else case.stage
    family = (stage or Stage.PLACED).family
    if stage is Stage.CHECK:  # the early-intervention fee replaces the commission
        return commission.CommissionRate(family, 0, "early intervention: a fixed fee instead")
    oldest_due = min((invoice.due_date for invoice in case.invoices), default=today)
    return commission.rate_for(case.tenant, family, principal_minor, (today - oldest_due).days)


def _commission(
    session: Session, case: Case, rate: commission.CommissionRate, amount_minor: int
) -> int:
    """The agency's commission on this payment: at the rate, topped up to the tenant's
    minimum fee per case while the case has not yet earned it (not on an invoice check,
    which carries its own fixed fee)."""
    earned = commission.commission_on(amount_minor, rate.rate_bp)
    minimum_fee = case.tenant.commission_minimum_fee_minor
    if not minimum_fee or case.stage is Stage.CHECK:
        return earned
    so_far = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.commission_minor), 0)).where(
            LedgerEntry.case_id == case.id
        )
    )
    return commission.with_minimum_fee(
        earned, amount_minor, minimum_fee=minimum_fee, earned_before=int(so_far or 0)
    )


def record_payment(
    session: Session,
    case: Case,
    *,
    amount_minor: int,
    event_key: str,
    paid_on: date,
    description: str,
    actor_id: int | None = None,
    summary: str | None = None,
) -> RecordedPayment:
    """Book a payment once per ``event_key`` and apply its effects on the case; the
    timeline says ``summary`` (by default: payment received, and how much)."""
    if amount_minor <= 0:
        raise ledger.LedgerError("A payment must be more than zero.")
    ledger.lock_case(session, case)
    if (already := ledger.find_event(session, event_key)) is not None:
        return RecordedPayment(already, new=False)
    owed = ledger.balance(session, case)
    rate = commission_rate(case, owed.principal, paid_on)
    entry = ledger.book(
        session, case, EntryKind.PAYMENT, -amount_minor,
        value_date=paid_on, description=description[:300], event_key=event_key,
        created_by_id=actor_id, collector_id=case.assigned_collector_id,
        commission_bp=rate.rate_bp,
        commission_minor=_commission(session, case, rate, amount_minor),
    )  # fmt: skip
    order = allocation.order_of(case.tenant.allocation_order)
    shares = allocation.allocate(amount_minor, owed_by_part(session, case), order)
    _add_allocations(session, case, entry, shares)
    log_activity(
        session, case, ActivityKind.PAYMENT,
        summary or f"Payment received: {format_money(amount_minor, case.currency)}",
        actor_id=actor_id, body=description, ledger_entry_id=entry.id,
    )  # fmt: skip
    audit.record(session, "payment.recorded", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=entry, amount_minor=amount_minor, event_key=event_key)  # fmt: skip
    _tell_creditor(session, case, amount_minor, owed.outstanding - amount_minor,
                   summary=summary, paid_on=paid_on, actor_id=actor_id)  # fmt: skip
    _apply_to_case(session, case, paid_on)
    metrics.payment_booked(session, case.currency, amount_minor)
    return RecordedPayment(entry, new=True)


def _tell_creditor(
    session: Session,
    case: Case,
    amount_minor: int,
    left_minor: int,
    *,
    summary: str | None,
    paid_on: date,
    actor_id: int | None,
) -> None:
    """The creditor's people (not the one who reported it) hear of the payment. No mailer
    here: a notice wanted at once comes with the digest (see ``notices``)."""
    money = format_money(amount_minor, case.currency)
    notices.notify(
        session, None, kind=NotificationKind.PAYMENT_RECEIVED,
        recipients=notices.recipients_for_tenant(session, case.tenant_id, except_id=actor_id),
        title=f"{summary or f'Payment received: {money}'} \N{EN DASH} {case.debtor.name}, "
        f"{case.creditor_reference}",
        body=(
            f"{case.debtor.name} (your reference {case.creditor_reference}, agency reference "
            f"{case.agency_reference}) paid {money} on {paid_on.isoformat()}. Still "
            f"outstanding: {format_money(max(left_minor, 0), case.currency)}."
        ),
        link=notices.creditor_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip


def _add_allocations(
    session: Session, case: Case, entry: LedgerEntry, shares: dict[ClaimPart, int]
) -> None:
    session.add_all(
        PaymentAllocation(
            tenant_id=case.tenant_id,
            ledger_entry_id=entry.id,
            case_id=case.id,
            part=part,
            amount_minor=amount,
        )
        for part, amount in shares.items()
    )
    session.flush()


def _apply_to_case(session: Session, case: Case, today: date) -> None:
    promises.settle_promises(session, case, today)
    if settlements.settle_if_paid(session, case) is not None or case.stage is Stage.CLOSED:
        return
    if ledger.balance(session, case).outstanding <= 0:
        checked = case.stage is Stage.CHECK
        stages.close(session, case, Closure.PAID, actor_id=None, why="Paid in full")
        if checked:
            invoice_checks.mark_paid(session, case, today)


def reverse_payment(
    session: Session,
    case: Case,
    *,
    payment_event_key: str,
    amount_minor: int,
    event_key: str,
    why: str,
    today: date,
) -> LedgerEntry | None:
    """Give back up to ``amount_minor`` of the payment booked as ``payment_event_key``.

    Booked once per ``event_key``; never more than what is left of the payment. Returns
    None when there is no such payment or nothing of it is left to reverse.
    """
    ledger.lock_case(session, case)
    if (already := ledger.find_event(session, event_key)) is not None:
        return already
    payment = ledger.find_event(session, payment_event_key)
    if payment is None or payment.kind is not EntryKind.PAYMENT:
        return None
    left = _left_of(session, payment)
    amount = min(amount_minor, sum(left.values()))
    if amount <= 0:
        return None
    entry = ledger.book(
        session, case, EntryKind.REVERSAL, amount,
        value_date=today, description=why[:300], event_key=event_key,
        reverses_entry_id=payment.id, collector_id=payment.collector_id,
        commission_bp=payment.commission_bp,
        commission_minor=-_commission_back(session, payment, amount),
    )  # fmt: skip
    order = allocation.order_of(case.tenant.allocation_order)
    taken = allocation.take_back(amount, left, order)
    _add_allocations(session, case, entry, {part: -share for part, share in taken.items()})
    case.priority = min(promises.MAX_PRIORITY, case.priority + REVERSAL_PRIORITY)
    closed = " The case is closed: an agency admin should reopen it."
    closed = closed if case.stage is Stage.CLOSED else ""
    log_activity(
        session, case, ActivityKind.PAYMENT,
        f"Payment reversed: {format_money(amount, case.currency)}",
        body=f"{why}.{closed}", outcome="Reversed", ledger_entry_id=entry.id,
    )  # fmt: skip
    audit.record(session, "payment.reversed", actor_id=None, tenant_id=case.tenant_id,
                 subject=entry, amount_minor=amount, event_key=event_key)  # fmt: skip
    return entry


def _commission_back(session: Session, payment: LedgerEntry, amount_minor: int) -> int:
    """The commission a reversal of ``amount_minor`` gives back: the payment's commission
    in proportion to the total reversed so far, less what earlier reversals gave back.
    Rounding each part on its own would give back more (or less) than the payment earned
    once it is all reversed."""
    paid, earned = -payment.amount_minor, payment.commission_minor or 0
    before = _reversed_total(session, payment)
    return commission.share_of(earned, before + amount_minor, paid) - commission.share_of(
        earned, before, paid
    )


def _reversed_total(session: Session, payment: LedgerEntry) -> int:
    """What reversals of the payment gave back so far (positive minor units)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
            LedgerEntry.reverses_entry_id == payment.id
        )
    )
    return int(total or 0)


def _left_of(session: Session, payment: LedgerEntry) -> dict[ClaimPart, int]:
    """What a payment still pays on each part, after any earlier reversals of it."""
    reversal_ids = select(LedgerEntry.id).where(LedgerEntry.reverses_entry_id == payment.id)
    rows = session.execute(
        select(PaymentAllocation.part, func.sum(PaymentAllocation.amount_minor))
        .where(
            PaymentAllocation.ledger_entry_id.in_(reversal_ids)
            | (PaymentAllocation.ledger_entry_id == payment.id)
        )
        .group_by(PaymentAllocation.part)
    ).tuples()
    left = {part: int(amount) for part, amount in rows if amount > 0}
    if not left:  # booked before payments were allocated: all of it counts as principal
        rest = -payment.amount_minor - _reversed_total(session, payment)
        return {ClaimPart.PRINCIPAL: rest} if rest > 0 else {}
    return left
