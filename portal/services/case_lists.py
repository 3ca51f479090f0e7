"""The case lists creditors and collectors read: filtered, with balances, in few queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.models import Case, Debtor, Stage
from portal.services.ledger import Balance, balances

PAGE_SIZE = 50
OPEN_STAGES = tuple(stage for stage in Stage if stage is not Stage.CLOSED)


@dataclass(frozen=True)
class CaseFilter:
    search: str = ""
    stage: Stage | None = None
    tenant_id: int | None = None
    due_by: date | None = None
    page: int = 1


@dataclass(frozen=True)
class CaseRow:
    case: Case
    balance: Balance


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def _filtered(statement: Select[tuple[Case]], filters: CaseFilter) -> Select[tuple[Case]]:
    if filters.stage is not None:
        statement = statement.where(Case.stage == filters.stage)
    if filters.tenant_id is not None:
        statement = statement.where(Case.tenant_id == filters.tenant_id)
    if filters.due_by is not None:
        statement = statement.where(
            Case.next_action_on <= filters.due_by, Case.stage.in_(OPEN_STAGES)
        )
    if term := filters.search.strip():
        pattern = f"%{term.lower()}%"
        statement = statement.where(
            or_(
                func.lower(Debtor.name).like(pattern),
                func.lower(Case.creditor_reference).like(pattern),
                func.lower(Case.agency_reference).like(pattern),
                func.lower(Debtor.email).like(pattern),
                Debtor.phone.like(pattern),
            )
        )
    return statement


def find_cases(session: Session, filters: CaseFilter) -> CasePage:
    base = _filtered(select(Case).join(Case.debtor), filters)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = max(1, filters.page)
    statement = (
        base.options(joinedload(Case.debtor), joinedload(Case.tenant))
        .order_by(Case.next_action_on.asc().nulls_last(), Case.priority.desc(), Case.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    cases = list(session.scalars(statement).unique())
    sums = balances(session, cases)
    return CasePage([CaseRow(case, sums[case.id]) for case in cases], total, page)


def stage_counts(session: Session) -> dict[Stage, int]:
    statement = select(Case.stage, func.count()).group_by(Case.stage)
    return {stage: int(count) for stage, count in session.execute(statement)}
