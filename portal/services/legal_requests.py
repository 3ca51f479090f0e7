"""Escalation to legal action, which the creditor approves and pays for.

A collector (or the legal team) proposes legal action with a lawyer from the agency's
network and a cost estimate; the case goes to legal review and the creditor decides in the
portal. Approval opens the court file (``LegalProceeding``) with that lawyer and moves the
case to litigation: the only way in (see the guard in ``stages``). Declining returns the
case to negotiation or closes it as uncollectible, as the creditor chooses.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import Mailer
from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    DeclineOutcome,
    Lawyer,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
    NotificationKind,
    Role,
    Stage,
)
from portal.services import audit, ledger, notices, rollups, stages
from portal.services.money import format_money
from portal.services.timeline import log_activity

MAX_TEXT = 2000


class LegalRequestError(ValueError):
    pass


@dataclass(frozen=True)
class Estimate:
    court_fees_minor: int
    lawyer_fees_minor: int
    advance_minor: int

    def check(self) -> None:
        amounts = (self.court_fees_minor, self.lawyer_fees_minor, self.advance_minor)
        if any(amount < 0 for amount in amounts):
            raise LegalRequestError("Costs cannot be negative.")
        if self.court_fees_minor + self.lawyer_fees_minor == 0:
            raise LegalRequestError("Give the estimated court and lawyer fees.")
        if self.advance_minor > self.court_fees_minor + self.lawyer_fees_minor:
            raise LegalRequestError("The advance cannot be more than the estimated costs.")


def active_lawyers(session: Session) -> list[Lawyer]:
    statement = select(Lawyer).where(Lawyer.active.is_(True)).order_by(Lawyer.name)
    return list(session.scalars(statement))


def requests_of(session: Session, case: Case) -> list[LegalRequest]:
    statement = select(LegalRequest).where(LegalRequest.case_id == case.id)
    return list(session.scalars(statement.order_by(LegalRequest.id.desc())))


def pending_request(session: Session, case: Case) -> LegalRequest | None:
    statement = select(LegalRequest).where(
        LegalRequest.case_id == case.id,
        LegalRequest.status == LegalRequestStatus.AWAITING_CREDITOR,
    )
    return session.scalars(statement).first()


def awaiting_creditor(session: Session) -> list[LegalRequest]:
    """Every request waiting for a decision, in the tenants the session may see."""
    statement = (
        select(LegalRequest)
        .where(LegalRequest.status == LegalRequestStatus.AWAITING_CREDITOR)
        .order_by(LegalRequest.created_at)
    )
    return list(session.scalars(statement))


def propose(
    session: Session,
    case: Case,
    *,
    lawyer: Lawyer,
    estimate: Estimate,
    note: str,
    actor_id: int,
    role: Role,
    mailer: Mailer | None = None,
) -> LegalRequest:
    """Ask the creditor to approve legal action; the case goes to legal review and the
    creditor's people are told (by e-mail at once only with ``mailer``, see ``notices``)."""
    if pending_request(session, case) is not None:
        raise LegalRequestError("A request for legal action is already waiting for the creditor.")
    if not lawyer.active:
        raise LegalRequestError("This lawyer is no longer in the agency's network.")
    if len(note) > MAX_TEXT:
        raise LegalRequestError(f"At most {MAX_TEXT} characters.")
    estimate.check()
    if case.stage is not Stage.LEGAL_REVIEW:
        stages.move(session, case, "propose_legal", actor_id=actor_id, role=role,
                    why=f"Legal action proposed with {lawyer.label}")  # fmt: skip
    request = LegalRequest(
        tenant_id=case.tenant_id, case_id=case.id, lawyer_id=lawyer.id,
        court_fees_minor=estimate.court_fees_minor, lawyer_fees_minor=estimate.lawyer_fees_minor,
        advance_minor=estimate.advance_minor, note=note.strip() or None, proposed_by_id=actor_id,
    )  # fmt: skip
    session.add(request)
    session.flush()
    rollups.legal_request_moved(session, request, None)
    money = format_money(request.estimate_minor, case.currency)
    log_activity(session, case, ActivityKind.NOTE, f"Legal action proposed: {lawyer.label}",
                 actor_id=actor_id, outcome="Awaiting the creditor's decision",
                 body=f"Estimated costs {money}. {request.note or ''}".strip(),
                 legal_request_id=request.id)  # fmt: skip
    notices.notify(
        session, mailer, kind=NotificationKind.DECISION_WAITING,
        recipients=notices.recipients_for_tenant(session, case.tenant_id),
        title=f"Legal action for you to approve: {case.debtor.name}, {case.creditor_reference}",
        body=(
            f"Amicable collection from {case.debtor.name} (your reference "
            f"{case.creditor_reference}, agency reference {case.agency_reference}) has not "
            f"brought payment: we propose to take the claim to court with {lawyer.label}. "
            f"Estimated costs: {money}. Please approve or decline it in the portal."
        ),
        link=notices.creditor_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip
    return request


def decide(
    session: Session,
    request: LegalRequest,
    *,
    approve: bool,
    comment: str,
    decline_outcome: DeclineOutcome | None,
    actor_id: int,
) -> None:
    """The creditor approves (the case goes to litigation) or declines legal action."""
    text = comment.strip()
    if request.status is not LegalRequestStatus.AWAITING_CREDITOR:
        raise LegalRequestError("This request is not waiting for your decision.")
    if len(text) > MAX_TEXT:
        raise LegalRequestError(f"At most {MAX_TEXT} characters.")
    if not approve and decline_outcome is None:
        raise LegalRequestError("Choose what happens to the case instead.")
    case = request.case
    ledger.lock_case(session, case)
    request.decided_by_id, request.decided_at = actor_id, utcnow()
    request.decision_comment = text or None
    verb = "approved" if approve else "declined"
    log_activity(session, case, ActivityKind.NOTE, f"Creditor {verb} legal action",
                 actor_id=actor_id, outcome=verb.capitalize(), body=text or None,
                 legal_request_id=request.id)  # fmt: skip
    audit.record(session, f"legal_request.{verb}", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=request, comment=text or None)  # fmt: skip
    if approve:
        request.status = LegalRequestStatus.APPROVED
        _open_proceeding(session, request, actor_id)
    else:
        request.status, request.decline_outcome = LegalRequestStatus.DECLINED, decline_outcome
        _decline(session, case, decline_outcome, text, actor_id)
    rollups.legal_request_moved(session, request, LegalRequestStatus.AWAITING_CREDITOR)
    session.flush()


def _open_proceeding(session: Session, request: LegalRequest, actor_id: int) -> None:
    case = request.case
    session.flush()
    why = f"Approved by the creditor: {request.lawyer.label} files the claim"
    stages.move(session, case, "start_litigation", actor_id=actor_id, role=None, why=why)
    session.add(
        LegalProceeding(
            tenant_id=case.tenant_id,
            case_id=case.id,
            request_id=request.id,
            lawyer_id=request.lawyer_id,
        )
    )


def _decline(
    session: Session, case: Case, outcome: DeclineOutcome | None, why: str, actor_id: int
) -> None:
    reason = why or "The creditor declined legal action"
    if outcome is DeclineOutcome.CLOSE_UNCOLLECTIBLE:
        stages.move(session, case, "close_uncollectible", actor_id=actor_id, role=None, why=reason)
    elif case.stage is Stage.LEGAL_REVIEW:
        stages.move(session, case, "back_to_amicable", actor_id=actor_id, role=None, why=reason)
