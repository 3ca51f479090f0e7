"""The cases as a creditor's system reads them through the API.

The list is a feed ordered by last change (``updated_at``, then id), read a page at a
time from a position: a system that keeps the last position it saw picks up every
change since, and pages stay stable while new cases arrive (no offsets to shift).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.models import Activity, Case, Document, Stage
from portal.services.ledger import Balance, balance, balances

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class FeedPosition:
    """Where a page ended: the last case's change time and id."""

    updated_at: datetime
    case_id: int


@dataclass(frozen=True)
class FeedItem:
    case: Case
    balance: Balance


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    next_position: FeedPosition | None


def case_feed(
    session: Session,
    *,
    stage: Stage | None = None,
    updated_since: datetime | None = None,
    after: FeedPosition | None = None,
    limit: int = 50,
) -> FeedPage:
    """One page of the session's cases, oldest change first, with their balances."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    statement = select(Case).options(joinedload(Case.debtor))
    if stage is not None:
        statement = statement.where(Case.stage == stage)
    if updated_since is not None:
        statement = statement.where(Case.updated_at >= updated_since)
    if after is not None:
        statement = statement.where(
            or_(
                Case.updated_at > after.updated_at,
                and_(Case.updated_at == after.updated_at, Case.id > after.case_id),
            )
        )
    statement = statement.order_by(Case.updated_at, Case.id).limit(limit + 1)
    cases = list(session.scalars(statement).unique())
    more, cases = len(cases) > limit, cases[:limit]
    sums = balances(session, cases)
    last = cases[-1] if cases else None
    position = FeedPosition(last.updated_at, last.id) if more and last else None
    return FeedPage([FeedItem(case, sums[case.id]) for case in cases], position)


@dataclass(frozen=True)
class CaseDetail:
    """One case with everything its creditor may see of it."""

    case: Case
    balance: Balance
    documents: list[Document]
    timeline: list[Activity]


def case_detail(session: Session, case: Case) -> CaseDetail:
    """The case's current state, its collections read afresh (a request may just have
    added to them without going through the relationship)."""
    session.expire(case, ["invoices", "documents", "activities"])
    return CaseDetail(
        case=case,
        balance=balance(session, case),
        documents=list(case.documents),
        timeline=[entry for entry in case.activities if entry.visible_to_creditor],
    )
