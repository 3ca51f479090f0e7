"""Disputes: the debtor contests the claim, each party puts forward evidence, the agency decides.

Opening a dispute puts the case on hold (reason: dispute) until it is resolved:

- upheld with an adjustment: the amount entered comes off the claim (a negative ADJUSTMENT
  in the ledger) and the case returns to the stage it left;
- upheld with withdrawal: the claim is dropped, the case closes as withdrawn;
- rejected: the case returns to the stage it left.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import Mailer
from portal.adapters.storage import Storage
from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    Dispute,
    DisputeEvidence,
    DisputeStatus,
    DocumentKind,
    EntryKind,
    HoldReason,
    Party,
    Role,
    Stage,
    User,
)
from portal.services import audit, ledger, messages, stages
from portal.services.documents import add_document
from portal.services.money import format_money
from portal.services.timeline import log_activity

MAX_TEXT = 5_000


class DisputeError(ValueError):
    pass


class Resolution(enum.StrEnum):
    ADJUST = "adjust"  # upheld: reduce the claim
    WITHDRAW = "withdraw"  # upheld: drop the claim
    REJECT = "reject"  # rejected: collection goes on

    @property
    def label(self) -> str:
        return {
            "adjust": "Upheld: reduce the claim",
            "withdraw": "Upheld: withdraw the case",
            "reject": "Rejected: collection goes on",
        }[self.value]


@dataclass(frozen=True)
class Upload:
    filename: str
    stream: IO[bytes]
    storage: Storage
    max_bytes: int


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise DisputeError(f"Write the {what} first.")
    if len(text) > MAX_TEXT:
        raise DisputeError(f"The {what} is too long: at most {MAX_TEXT} characters.")
    return text


def disputes_of(session: Session, case: Case) -> list[Dispute]:
    statement = (
        select(Dispute)
        .where(Dispute.case_id == case.id)
        .order_by(Dispute.created_at.desc(), Dispute.id.desc())
    )
    return list(session.scalars(statement))


def open_dispute_of(session: Session, case: Case) -> Dispute | None:
    statement = select(Dispute).where(
        Dispute.case_id == case.id, Dispute.status == DisputeStatus.OPEN
    )
    return session.scalars(statement).first()


def open_dispute(
    session: Session,
    case: Case,
    *,
    raised_by: Party,
    reason: str,
    actor_id: int | None,
    role: Role | None,
    today: date,
) -> Dispute:
    """Record a dispute and put the case on hold; due ``tenant.dispute_days`` from today."""
    text = _text(reason, "reason for the dispute")
    if case.stage is Stage.CLOSED:
        raise DisputeError("The case is closed.")
    if open_dispute_of(session, case) is not None:
        raise DisputeError("This case already has an open dispute: add evidence to it.")
    dispute = Dispute(
        tenant_id=case.tenant_id,
        case_id=case.id,
        raised_by=raised_by,
        reason=text,
        due_on=today + timedelta(days=case.tenant.dispute_days),
        status=DisputeStatus.OPEN,
        created_by_id=actor_id,
    )
    session.add(dispute)
    session.flush()
    log_activity(
        session, case, ActivityKind.DISPUTE, f"Dispute raised by the {raised_by.value}",
        actor_id=actor_id, outcome=f"Decide by {dispute.due_on.isoformat()}", body=text,
        dispute_id=dispute.id,
    )  # fmt: skip
    if case.stage is not Stage.ON_HOLD:  # a case already on hold stays there
        stages.move(session, case, "hold", actor_id=actor_id, role=role,
                    why=f"Disputed: {text}"[:500], hold_reason=HoldReason.DISPUTE)  # fmt: skip
    return dispute


def add_evidence(
    session: Session,
    dispute: Dispute,
    *,
    party: Party,
    statement: str,
    actor_id: int | None,
    upload: Upload | None = None,
) -> DisputeEvidence:
    """One party's statement (and document); ``DisputeError`` or ``DocumentRefused``."""
    text = _text(statement, "statement")
    if dispute.status is not DisputeStatus.OPEN:
        raise DisputeError("This dispute is decided: no more evidence.")
    case = dispute.case
    document_id = None
    if upload is not None:
        document = add_document(
            session, upload.storage, case, filename=upload.filename, stream=upload.stream,
            kind=DocumentKind.CORRESPONDENCE.value, shareable_with_debtor=False,
            uploaded_by_id=actor_id, max_bytes=upload.max_bytes,
        )  # fmt: skip
        document_id = document.id
    evidence = DisputeEvidence(
        tenant_id=case.tenant_id,
        dispute_id=dispute.id,
        party=party,
        statement=text,
        document_id=document_id,
        created_by_id=actor_id,
    )
    session.add(evidence)
    session.flush()
    log_activity(
        session, case, ActivityKind.DISPUTE, f"Dispute evidence from the {party.value}",
        actor_id=actor_id, body=text, dispute_id=dispute.id, evidence_id=evidence.id,
    )  # fmt: skip
    return evidence


def request_creditor_evidence(
    session: Session,
    mailer: Mailer,
    dispute: Dispute,
    *,
    author: User,
    body: str,
    agency_inbox: str,
) -> None:
    """Ask the creditor for their evidence through the case messages."""
    if dispute.status is not DisputeStatus.OPEN:
        raise DisputeError("This dispute is decided.")
    text = _text(body, "request")
    try:
        messages.post(session, mailer, dispute.case, author=author, body=text,
                      requests_information=True, agency_inbox=agency_inbox)  # fmt: skip
    except messages.MessageError as error:
        raise DisputeError(str(error)) from error


def resolve(
    session: Session,
    dispute: Dispute,
    *,
    resolution: Resolution,
    comment: str,
    actor_id: int | None,
    role: Role | None,
    today: date,
    amount_minor: int | None = None,
) -> None:
    """Decide the dispute (see the module's docstring for what each resolution does)."""
    text = _text(comment, "reasons for the decision")
    if dispute.status is not DisputeStatus.OPEN:
        raise DisputeError("This dispute is already decided.")
    case = dispute.case
    if resolution is Resolution.ADJUST:
        outstanding = ledger.balance(session, case).outstanding
        if amount_minor is None or amount_minor <= 0:
            raise DisputeError("Enter the amount that comes off the claim.")
        if amount_minor >= outstanding:
            raise DisputeError(
                f"That is all of the {format_money(outstanding, case.currency)} outstanding: "
                "withdraw the case instead."
            )
        ledger.book(session, case, EntryKind.ADJUSTMENT, -amount_minor, value_date=today,
                    description=f"Dispute upheld: {text}"[:300],
                    event_key=f"dispute-adjustment:{dispute.id}",
                    created_by_id=actor_id)  # fmt: skip
    dispute.status = DisputeStatus.REJECTED if resolution is Resolution.REJECT else (
        DisputeStatus.UPHELD)  # fmt: skip
    dispute.outcome = f"{resolution.label}. {text}"
    dispute.resolved_at = utcnow()
    summary = f"Dispute {dispute.status.value}"
    if resolution is Resolution.ADJUST and amount_minor is not None:
        summary += f": {format_money(amount_minor, case.currency)} off the claim"
    log_activity(session, case, ActivityKind.DISPUTE, summary, actor_id=actor_id,
                 outcome=resolution.label, body=text, dispute_id=dispute.id)  # fmt: skip
    audit.record(session, "dispute.resolved", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=dispute, resolution=resolution.value,
                 amount_minor=amount_minor)  # fmt: skip
    if resolution is Resolution.WITHDRAW:
        stages.move(session, case, "withdraw", actor_id=actor_id, role=role,
                    why=f"Dispute upheld: {text}"[:500])  # fmt: skip
    elif case.stage is Stage.ON_HOLD and case.hold_reason is HoldReason.DISPUTE:
        stages.move(session, case, "resume", actor_id=actor_id, role=role,
                    why=f"Dispute {dispute.status.value}")  # fmt: skip
    session.flush()
