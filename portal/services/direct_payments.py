"""Payments the debtor made straight to the creditor, reported by the creditor.

They reduce the balance like any payment, and the agency still earns its commission on
them (the mandate covers the claim, whoever the debtor pays), at the rate in force today.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from portal.models import ActivityKind, Case, EntryKind, LedgerEntry, Stage
from portal.services import audit, commission, ledger, promises, settlements
from portal.services.money import format_money
from portal.services.timeline import log_activity


class PaymentReportError(ValueError):
    pass


def report(
    session: Session,
    case: Case,
    *,
    amount_minor: int,
    paid_on: date,
    note: str,
    actor_id: int,
    idempotency_key: str,
    today: date,
) -> LedgerEntry:
    """Book the payment once per ``idempotency_key`` (a resubmitted form books nothing)."""
    ledger.lock_case(session, case)
    event_key = f"direct-payment:{case.id}:{idempotency_key}"
    if (already := ledger.find_event(session, event_key)) is not None:
        return already
    if case.stage is Stage.CLOSED:
        raise PaymentReportError("This case is closed; ask the agency to reopen it.")
    if amount_minor <= 0:
        raise PaymentReportError("The amount must be more than zero.")
    if paid_on > today:
        raise PaymentReportError("The payment date cannot be in the future.")
    owed = ledger.balance(session, case)
    if amount_minor > owed.outstanding:
        raise PaymentReportError(
            f"More than the {format_money(owed.outstanding, case.currency)} outstanding."
        )
    oldest_due = min((invoice.due_date for invoice in case.invoices), default=today)
    rate = commission.rate_for(
        case.tenant, case.stage.family, owed.principal, (today - oldest_due).days
    )
    entry = ledger.book(
        session,
        case,
        EntryKind.PAYMENT,
        -amount_minor,
        value_date=paid_on,
        description="Direct payment to the creditor"
        + (f": {note.strip()}" if note.strip() else ""),
        event_key=event_key,
        created_by_id=actor_id,
        commission_bp=rate.rate_bp,
        commission_minor=commission.commission_on(amount_minor, rate.rate_bp),
    )
    log_activity(
        session,
        case,
        ActivityKind.PAYMENT,
        f"Creditor reported a direct payment of {format_money(amount_minor, case.currency)}",
        actor_id=actor_id,
        body=note.strip() or None,
    )
    audit.record(session, "payment.direct_reported", actor_id=actor_id,
                 tenant_id=case.tenant_id, subject=entry, amount_minor=amount_minor)  # fmt: skip
    promises.settle_promises(session, case, today)
    settlements.settle_if_paid(session, case)
    return entry
