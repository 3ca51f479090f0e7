"""What waits for the creditor's decision across their portfolio: legal action the agency
proposes, settlements below its authority, disputes that need the creditor's evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.strategy_options import _AbstractLoad
from sqlalchemy.sql import ColumnElement

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


@dataclass(frozen=True)
class WaitingList:
    items: list[Waiting]  # the ones waiting longest
    total: int  # all of them


Decided = LegalRequest | Settlement | Dispute
# What waits for the creditor, and how it is named on their pages.
WAITING_ON: tuple[tuple[type[Decided], ColumnElement[bool], str], ...] = (
    (LegalRequest, LegalRequest.status == LegalRequestStatus.AWAITING_CREDITOR,
     "Legal action proposed"),
    (Settlement, Settlement.status == SettlementStatus.AWAITING_CREDITOR,
     "Settlement below the agency's authority"),
    (Dispute, Dispute.status == DisputeStatus.OPEN, "Dispute: your evidence"),
)  # fmt: skip


def _with_case(model: type[Decided]) -> _AbstractLoad:
    """Load each item's case and debtor in the same query (no query per row)."""
    return joinedload(model.case).joinedload(Case.debtor)


def waiting(session: Session, limit: int = 10) -> WaitingList:
    """What waits in the tenants the session sees: the ``limit`` oldest and how many in
    all, in a fixed number of queries however long the list is."""
    items: list[Waiting] = []
    total = 0
    for model, condition, what in WAITING_ON:
        total += session.scalar(select(func.count()).select_from(model).where(condition)) or 0
        oldest = select(model).where(condition).order_by(model.created_at, model.id).limit(limit)
        rows: list[Decided] = list(session.scalars(oldest.options(_with_case(model))))
        items += [Waiting(row.case, what, row.created_at, "decisions") for row in rows]
    return WaitingList(sorted(items, key=lambda item: item.since)[:limit], total)


def awaiting_decision() -> ColumnElement[bool]:
    """SQL: the case has something waiting for the creditor (for the case list)."""
    return or_(
        *(exists().where(model.case_id == Case.id, condition) for model, condition, _ in WAITING_ON)
    )
