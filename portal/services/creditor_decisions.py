"""What waits for the creditor's decision across their portfolio: legal action the agency
proposes, settlements below its authority, disputes that need the creditor's evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from portal.models import (
    Case,
    Dispute,
    DisputeStatus,
    LegalRequest,
    LegalRequestStatus,
    Settlement,
    SettlementStatus,
)


@dataclass(frozen=True)
class Waiting:
    case: Case
    what: str
    since: datetime
    anchor: str  # where on the case page to decide


def _with_case(model: type[LegalRequest | Settlement | Dispute]) -> _AbstractLoad:
    """Load each item's case and debtor in the same query (no query per row)."""
    return joinedload(model.case).joinedload(Case.debtor)


def waiting(session: Session) -> list[Waiting]:
    """Everything waiting in the tenants the session sees, oldest first."""
    found = [
        Waiting(r.case, "Legal action proposed", r.created_at, "decisions")
        for r in session.scalars(
            select(LegalRequest)
            .where(LegalRequest.status == LegalRequestStatus.AWAITING_CREDITOR)
            .options(_with_case(LegalRequest))
        )
    ]
    found += [
        Waiting(s.case, "Settlement below the agency's authority", s.created_at, "decisions")
        for s in session.scalars(
            select(Settlement)
            .where(Settlement.status == SettlementStatus.AWAITING_CREDITOR)
            .options(_with_case(Settlement))
        )
    ]
    found += [
        Waiting(d.case, "Dispute: your evidence", d.created_at, "decisions")
        for d in session.scalars(
            select(Dispute).where(Dispute.status == DisputeStatus.OPEN).options(_with_case(Dispute))
        )
    ]
    return sorted(found, key=lambda item: item.since)
