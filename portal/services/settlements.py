"""Settlements: a reduced amount that closes the claim once the debtor has paid it.

A collector may settle down to ``tenant.settlement_authority_bp`` of the outstanding
balance on their own (the settlement is PROPOSED to the debtor at once); below that the
creditor decides first (AWAITING_CREDITOR, then ACCEPTED or DECLINED). A PROPOSED or
ACCEPTED settlement is in force: once the payments booked since it was made reach its
amount, ``settle_if_paid`` writes off the rest and closes the case as settled.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.adapters.mail import Mailer
from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    Closure,
    EntryKind,
    LedgerEntry,
    NotificationKind,
    Settlement,
    SettlementStatus,
    Stage,
)
from portal.services import audit, ledger, notices, stages
from portal.services.money import format_money
from portal.services.timeline import log_activity

IN_FORCE = (SettlementStatus.PROPOSED, SettlementStatus.ACCEPTED)
PENDING = (*IN_FORCE, SettlementStatus.AWAITING_CREDITOR)
MAX_COMMENT = 1000


class SettlementError(ValueError):
    pass


def authority_floor(case: Case, outstanding_minor: int) -> int:
    """The lowest amount the agency may settle for without the creditor (rounded up)."""
    return -(-outstanding_minor * case.tenant.settlement_authority_bp // 10_000)


def settlements_of(session: Session, case: Case) -> list[Settlement]:
    statement = (
        select(Settlement)
        .where(Settlement.case_id == case.id)
        .order_by(Settlement.created_at.desc(), Settlement.id.desc())
    )
    return list(session.scalars(statement))


def pending_settlement(session: Session, case: Case) -> Settlement | None:
    statement = select(Settlement).where(
        Settlement.case_id == case.id, Settlement.status.in_(PENDING)
    )
    return session.scalars(statement.order_by(Settlement.id.desc())).first()


def propose(
    session: Session,
    case: Case,
    *,
    amount_minor: int,
    note: str,
    actor_id: int | None,
    mailer: Mailer | None = None,
) -> Settlement:
    """Make the settlement; below the agency's authority the creditor's people are asked
    to decide (by e-mail at once only with ``mailer``, see ``notices``)."""
    if case.stage is Stage.CLOSED:
        raise SettlementError("The case is closed.")
    if pending_settlement(session, case) is not None:
        raise SettlementError("A settlement is already pending on this case.")
    outstanding = ledger.balance(session, case).outstanding
    if amount_minor <= 0:
        raise SettlementError("The amount must be more than zero.")
    if amount_minor >= outstanding:
        raise SettlementError(
            f"A settlement is less than the {format_money(outstanding, case.currency)} outstanding."
        )
    within = amount_minor >= authority_floor(case, outstanding)
    settlement = Settlement(
        tenant_id=case.tenant_id,
        case_id=case.id,
        amount_minor=amount_minor,
        outstanding_minor=outstanding,
        status=SettlementStatus.PROPOSED if within else SettlementStatus.AWAITING_CREDITOR,
        note=note.strip() or None,
        proposed_by_id=actor_id,
    )
    session.add(settlement)
    session.flush()
    amounts = (
        f"{format_money(amount_minor, case.currency)} of {format_money(outstanding, case.currency)}"
    )
    log_activity(
        session, case, ActivityKind.NOTE,
        f"Settlement proposed: {amounts}",
        actor_id=actor_id, body=settlement.note,
        outcome="Within the agency's authority" if within else "Awaiting the creditor's approval",
        settlement_id=settlement.id,
    )  # fmt: skip
    if not within:
        notices.notify(
            session, mailer, kind=NotificationKind.DECISION_WAITING,
            recipients=notices.recipients_for_tenant(session, case.tenant_id),
            title=f"Settlement for you to approve: {case.debtor.name}, {case.creditor_reference}",
            body=(
                f"{case.debtor.name} (your reference {case.creditor_reference}, agency "
                f"reference {case.agency_reference}) offers to settle for {amounts} "
                "outstanding, below what we may accept without you. Please approve or "
                "decline it in the portal."
            ),
            link=notices.creditor_case_path(case.id), tenant_id=case.tenant_id,
            case_id=case.id,
        )  # fmt: skip
    return settlement


def decide(
    session: Session, settlement: Settlement, *, approve: bool, comment: str, actor_id: int | None
) -> None:
    """The creditor approves or declines a settlement below the agency's authority."""
    text = comment.strip()
    if settlement.status is not SettlementStatus.AWAITING_CREDITOR:
        raise SettlementError("This settlement is not waiting for your decision.")
    if not approve and not text:
        raise SettlementError("Say why you decline the settlement.")
    if len(text) > MAX_COMMENT:
        raise SettlementError(f"At most {MAX_COMMENT} characters.")
    case = settlement.case
    if case.stage is Stage.CLOSED:
        raise SettlementError("The case is closed.")
    settlement.status = SettlementStatus.ACCEPTED if approve else SettlementStatus.DECLINED
    settlement.decided_by_id, settlement.decided_at = actor_id, utcnow()
    settlement.decision_comment = text or None
    verb = "approved" if approve else "declined"
    log_activity(
        session, case, ActivityKind.NOTE,
        f"Creditor {verb} the settlement of {format_money(settlement.amount_minor, case.currency)}",
        actor_id=actor_id, outcome=verb.capitalize(), body=text or None,
        settlement_id=settlement.id,
    )  # fmt: skip
    audit.record(session, f"settlement.{verb}", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=settlement, comment=text or None)  # fmt: skip
    session.flush()


def paid_since(session: Session, settlement: Settlement) -> int:
    """Payments booked on the case since the settlement was made, less reversals (positive
    minor units)."""
    statement = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.case_id == settlement.case_id,
        LedgerEntry.kind.in_(ledger.MONEY_IN_KINDS),
        LedgerEntry.created_at >= settlement.created_at,
    )
    return -int(session.scalar(statement) or 0)


def settle_if_paid(session: Session, case: Case) -> Settlement | None:
    """Close the case as settled when a settlement in force is paid; returns it, or None."""
    if case.stage is Stage.CLOSED:
        return None
    statement = select(Settlement).where(
        Settlement.case_id == case.id, Settlement.status.in_(IN_FORCE)
    )
    for settlement in session.scalars(statement.order_by(Settlement.id)):
        if paid_since(session, settlement) < settlement.amount_minor:
            continue
        rest = ledger.balance(session, case).outstanding
        if rest > 0:
            ledger.book(session, case, EntryKind.ADJUSTMENT, -rest,
                        value_date=utcnow().date(),
                        description="Written off: settlement paid",
                        event_key=f"settlement-write-off:{settlement.id}")  # fmt: skip
        settlement.status = SettlementStatus.PAID
        log_activity(
            session, case, ActivityKind.NOTE,
            f"Settlement of {format_money(settlement.amount_minor, case.currency)} paid",
            outcome="Paid", settlement_id=settlement.id,
        )  # fmt: skip
        stages.close(session, case, Closure.SETTLED, actor_id=None, why="Settlement paid")
        return settlement
    return None
