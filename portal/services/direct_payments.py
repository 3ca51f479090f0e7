"""Payments the debtor made straight to the creditor, reported by the creditor.

They reduce the balance like any payment, and the agency still earns its commission on
them (the mandate covers the claim, whoever the debtor pays), at the rate in force on the day paid.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from portal.models import Case, LedgerEntry, Stage
from portal.services import ledger, payments
from portal.services.money import format_money


class PaymentReportError(ValueError):
    pass


# Every payment the creditor reports is booked under a key that starts so: statements
# tell by it that the agency never held the money.
EVENT_KEY_PREFIX = "direct-payment:"


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
    event_key = f"{EVENT_KEY_PREFIX}{case.id}:{idempotency_key}"
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
    described = "Direct payment to the creditor" + (f": {note.strip()}" if note.strip() else "")
    return payments.record_payment(
        session, case, amount_minor=amount_minor, event_key=event_key, paid_on=paid_on,
        description=described, actor_id=actor_id,
        summary="Creditor reported a direct payment of "
        + format_money(amount_minor, case.currency),
    ).entry  # fmt: skip
