"""What waits for the creditor's decision across their portfolio: legal action the agency
proposes, settlements below its authority, disputes that need the creditor's evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, literal, or_, select, union_all
from sqlalchemy.orm import Session, joinedload
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


def waiting(session: Session, limit: int = 10) -> WaitingList:
    """What waits in the tenants the session sees: the ``limit`` oldest and how many in
    all, in three queries however long the list is: the counts together, the oldest of
    each kind (their keys only) together, then the cases of the ones shown."""
    counts = [
        select(func.count()).select_from(model).where(condition).scalar_subquery()
        for model, condition, _ in WAITING_ON
    ]
    total = sum(session.execute(select(*counts)).one())
    if not total:
        return WaitingList([], 0)
    oldest_of_each = [
        select(literal(kind).label("kind"), model.case_id, model.created_at, model.id)
        .where(condition)
        .order_by(model.created_at, model.id)
        .limit(limit)
        .subquery()
        for kind, (model, condition, _) in enumerate(WAITING_ON)
    ]
    oldest = union_all(*(select(*each.c) for each in oldest_of_each)).subquery()
    keys = session.execute(select(oldest).order_by(oldest.c.created_at, oldest.c.id).limit(limit))
    shown = [(WAITING_ON[kind][2], case_id, since) for kind, case_id, since, _id in keys]
    cases = session.scalars(
        select(Case).where(Case.id.in_({case_id for _, case_id, _ in shown}))
        .options(joinedload(Case.debtor))
    )  # fmt: skip
    by_id = {case.id: case for case in cases}
    items = [Waiting(by_id[case_id], what, since, "decisions") for what, case_id, since in shown]
    return WaitingList(items, total)


def awaiting_decision() -> ColumnElement[bool]:
    """SQL: the case has something waiting for the creditor (for the case list)."""
    return or_(
        *(exists().where(model.case_id == Case.id, condition) for model, condition, _ in WAITING_ON)
    )
