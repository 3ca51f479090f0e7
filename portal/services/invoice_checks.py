"""Early intervention: checking an invoice with the debtor before it becomes a debt to collect.

The collector asks whether the invoice arrived, whether it is disputed and when it will
be paid, and records the answer: confirmed (with the promised date, when the collector
follows up), disputed (reported back to the creditor), or no answer yet (tried again in
a few days). A check is paid when its case closes as paid, earning the tenant's
early-intervention fee instead of a commission. One still unpaid
``tenant.early_intervention_convert_days`` after the due date becomes a full placement,
keeping its history (``convert_due``, run daily).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.adapters.mail import Mailer
from portal.db import utcnow
from portal.models import ActivityKind, Case, CheckStatus, InvoiceCheck, Stage
from portal.services import audit, letters, rollups, stages
from portal.services.money import format_money
from portal.services.timeline import log_activity

RETRY_DAYS = 3  # no answer: the collector tries again this many days later
MAX_TEXT = 2000
WAITING = (CheckStatus.OPEN, CheckStatus.CONFIRMED)


class CheckError(ValueError):
    pass


class Answer(enum.StrEnum):
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"
    NO_ANSWER = "no_answer"

    @property
    def label(self) -> str:
        return {
            Answer.CONFIRMED: "Received, not disputed: will pay",
            Answer.DISPUTED: "Disputed",
            Answer.NO_ANSWER: "No answer yet",
        }[self]


def check_of(session: Session, case: Case) -> InvoiceCheck | None:
    return session.scalar(select(InvoiceCheck).where(InvoiceCheck.case_id == case.id))


def record_answer(
    session: Session,
    check: InvoiceCheck,
    *,
    answer: Answer,
    expected_on: date | None,
    reason: str,
    actor_id: int | None,
    today: date,
) -> None:
    """What the debtor said; the creditor sees it on the case's timeline."""
    case = check.case
    if case.stage is not Stage.CHECK or check.status not in WAITING:
        raise CheckError("This invoice is no longer being checked.")
    text = reason.strip()
    if len(text) > MAX_TEXT:
        raise CheckError(f"At most {MAX_TEXT} characters.")
    if answer is Answer.CONFIRMED:
        if expected_on is None or expected_on < today:
            raise CheckError("Give the date the debtor says they will pay (today or later).")
        check.status, check.received = CheckStatus.CONFIRMED, True
        check.expected_payment_on, check.follow_up_on = expected_on, expected_on + timedelta(days=1)
        outcome = f"Will pay by {expected_on.isoformat()}"
    elif answer is Answer.DISPUTED:
        if not text:
            raise CheckError("Say what the debtor disputes; the creditor reads it.")
        check.status, check.dispute_reason, check.follow_up_on = CheckStatus.DISPUTED, text, None
        case.next_action_on = None
        outcome = "Disputed: reported to the creditor"
    else:
        check.follow_up_on = today + timedelta(days=RETRY_DAYS)
        outcome = f"Try again on {check.follow_up_on.isoformat()}"
    if answer is not Answer.NO_ANSWER:
        check.answered_at, check.answered_by_id = utcnow(), actor_id
    if check.follow_up_on is not None:
        case.next_action_on = check.follow_up_on
    call = log_activity(session, case, ActivityKind.CALL, f"Invoice check: {answer.label}",
                        actor_id=actor_id, outcome=outcome, body=text or None)  # fmt: skip
    rollups.call_logged(session, call, reached=answer is not Answer.NO_ANSWER)
    audit.record(session, f"invoice_check.{answer.value}", actor_id=actor_id,
                 tenant_id=case.tenant_id, subject=check)  # fmt: skip
    session.flush()


def send_check_letters(session: Session, mailer: Mailer, today: date) -> int:
    """Write once to each debtor whose invoice is newly under check (by e-mail; without
    an address, or when they asked for none, the collector calls instead). Returns how
    many were e-mailed. Call unscoped: the agency's own daily work."""
    statement = (
        select(InvoiceCheck)
        .where(InvoiceCheck.status == CheckStatus.OPEN, InvoiceCheck.letter_sent_on.is_(None))
        .options(joinedload(InvoiceCheck.case))
        .order_by(InvoiceCheck.id)
    )
    sent = 0
    for check in session.scalars(statement).unique():
        case = check.case
        mailed = letters.email(session, mailer, case, "invoice_check", today=today)
        check.letter_sent_on = today
        summary = "Invoice check e-mailed" if mailed else "No e-mail to send: call the debtor"
        log_activity(session, case, ActivityKind.EMAIL if mailed else ActivityKind.NOTE, summary,
                     recipient=case.debtor.email if mailed else None)  # fmt: skip
        sent += mailed
    session.flush()
    return sent


def mark_paid(session: Session, case: Case, paid_on: date) -> None:
    """The invoice was paid during the check: the check ends and earns the tenant's fee
    (charged on the remittance statement of the period ``paid_on`` falls in)."""
    check = check_of(session, case)
    if check is None or check.status not in (*WAITING, CheckStatus.DISPUTED):
        return
    check.status, check.fee_minor = CheckStatus.PAID, case.tenant.early_intervention_fee_minor
    check.fee_charged_on = paid_on
    check.follow_up_on = None
    fee = format_money(check.fee_minor, case.currency)
    log_activity(session, case, ActivityKind.NOTE, "Invoice paid after the check",
                 outcome=f"Early-intervention fee {fee}")  # fmt: skip
    session.flush()


def convert(
    session: Session, check: InvoiceCheck, *, actor_id: int | None, why: str, today: date
) -> None:
    """Make the checked invoice a full placement: the collection process starts (the
    dunning run takes it from the next day)."""
    case = check.case
    if check.status not in (*WAITING, CheckStatus.DISPUTED) or case.stage is not Stage.CHECK:
        raise CheckError("This invoice is no longer being checked.")
    stages.move(session, case, "convert", actor_id=actor_id, role=None, why=why)
    check.status, check.converted_on, check.follow_up_on = CheckStatus.CONVERTED, today, None
    case.next_action_on = today
    # Its first dunning step comes with tomorrow's run (interest runs from the due date).
    case.last_dunning_on = today
    session.flush()


def convert_due(session: Session, today: date) -> int:
    """Convert every check still unpaid ``early_intervention_convert_days`` after its
    invoices' last due date (idempotent: converted checks are not looked at again).
    Returns how many were converted. Call unscoped: the agency's own daily work."""
    converted = 0
    statement = (
        select(InvoiceCheck)
        .join(Case, Case.id == InvoiceCheck.case_id)
        .where(InvoiceCheck.status.in_(WAITING), Case.stage == Stage.CHECK)
        .options(joinedload(InvoiceCheck.case).selectinload(Case.invoices))
        .order_by(InvoiceCheck.id)
    )
    for check in session.scalars(statement).unique():
        case = check.case
        last_due = max((invoice.due_date for invoice in case.invoices), default=today)
        days = case.tenant.early_intervention_convert_days
        if last_due + timedelta(days=days) < today:
            convert(session, check, actor_id=None, today=today,
                    why=f"Still unpaid {days} days after the due date")  # fmt: skip
            converted += 1
    return converted


def due_checks(session: Session, today: date) -> list[InvoiceCheck]:
    """The collectors' early-intervention queue: checks waiting, the ones due first."""
    statement = (
        select(InvoiceCheck)
        .join(Case, Case.id == InvoiceCheck.case_id)
        .where(InvoiceCheck.status.in_(WAITING), Case.stage == Stage.CHECK)
        .options(
            joinedload(InvoiceCheck.case).joinedload(Case.debtor),
            joinedload(InvoiceCheck.case).joinedload(Case.tenant),
        )
        .order_by(func.coalesce(InvoiceCheck.follow_up_on, today), InvoiceCheck.id)
    )
    return list(session.scalars(statement).unique())


@dataclass(frozen=True)
class CheckFigures:
    checked: int
    paid_after_check: int  # paid without ever becoming a collection case
    disputed: int
    converted: int
    waiting: int


def figures(session: Session) -> CheckFigures:
    """How early intervention did, in the tenants the session sees."""
    counts = dict(
        session.execute(select(InvoiceCheck.status, func.count()).group_by(InvoiceCheck.status))
        .tuples()
        .all()
    )
    return CheckFigures(
        checked=sum(counts.values()),
        paid_after_check=counts.get(CheckStatus.PAID, 0),
        disputed=counts.get(CheckStatus.DISPUTED, 0),
        converted=counts.get(CheckStatus.CONVERTED, 0),
        waiting=counts.get(CheckStatus.OPEN, 0) + counts.get(CheckStatus.CONFIRMED, 0),
    )
