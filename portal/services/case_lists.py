"""The case lists creditors and collectors read: filtered, with balances, in few queries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache

from babel.numbers import list_currencies
from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.selectable import Subquery

from portal.models import (
    Case,
    Debtor,
    Invoice,
    InvoiceCheck,
    LedgerEntry,
    PromiseStatus,
    PromiseToPay,
    Stage,
)
from portal.services.ledger import Balance, balances
from portal.services.money import minor_units

PAGE_SIZE = 50
OPEN_STAGES = tuple(stage for stage in Stage if stage is not Stage.CLOSED)


SORTS = {
    "next_action": "Next action",
    "priority": "Priority",
    "newest": "Newest placement",
    "oldest": "Oldest placement",
    "debtor": "Debtor name",
    "outstanding": "Largest balance",
}


@dataclass(frozen=True)
class CaseFilter:
    """What a case list shows. ``None`` (or ``False``) leaves a criterion out.

    Amounts are in major units of each case's own currency (``100`` is EUR 100.00 on a
    euro case and JPY 100 on a yen case), as people type them over a mixed list. The age
    is counted in days from the oldest invoice's due date up to ``today``.
    """

    search: str = ""
    stage: Stage | None = None
    tenant_id: int | None = None
    due_by: date | None = None
    placed_from: date | None = None
    placed_to: date | None = None
    min_outstanding: Decimal | None = None
    max_outstanding: Decimal | None = None
    min_age_days: int | None = None
    broken_promise: bool = False
    assigned_to: int | None = None
    unassigned: bool = False
    today: date | None = None
    sort: str = "next_action"
    page: int = 1


@dataclass(frozen=True)
class CaseRow:
    case: Case
    balance: Balance
    check: InvoiceCheck | None = None  # for invoices handed over for an early check


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


@cache
def _currencies_by_exponent() -> dict[int, tuple[str, ...]]:
    """ISO currencies whose minor unit is not the cent (JPY has none, KWD has three)."""
    found: dict[int, list[str]] = {}
    for code in sorted(list_currencies()):
        exponent = minor_units(code)
        if exponent != 2:
            found.setdefault(exponent, []).append(code)
    return {exponent: tuple(codes) for exponent, codes in found.items()}


def _in_minor_units(amount: Decimal) -> ColumnElement[Decimal]:
    """``amount`` (major units) in each case's minor units, as a SQL expression."""
    whens = [
        (Case.currency.in_(codes), amount.scaleb(exponent))
        for exponent, codes in _currencies_by_exponent().items()
    ]
    return sql_case(*whens, else_=amount.scaleb(2))


def _owed_subquery() -> Subquery:
    return (
        select(LedgerEntry.case_id, func.sum(LedgerEntry.amount_minor).label("owed"))
        .group_by(LedgerEntry.case_id)
        .subquery()
    )


def _filtered(statement: Select[tuple[Case]], filters: CaseFilter) -> Select[tuple[Case]]:
    if filters.stage is not None:
        statement = statement.where(Case.stage == filters.stage)
    if filters.tenant_id is not None:
        statement = statement.where(Case.tenant_id == filters.tenant_id)
    if filters.placed_from is not None:
        statement = statement.where(func.date(Case.placed_at) >= filters.placed_from)
    if filters.placed_to is not None:
        statement = statement.where(func.date(Case.placed_at) <= filters.placed_to)
    if filters.due_by is not None:
        statement = statement.where(
            Case.next_action_on <= filters.due_by, Case.stage.in_(OPEN_STAGES)
        )
    statement = _work_filtered(statement, filters)
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


def _work_filtered(statement: Select[tuple[Case]], filters: CaseFilter) -> Select[tuple[Case]]:
    """The collector's criteria: balance, age, broken promises, who works the case."""
    if filters.min_outstanding is not None or filters.max_outstanding is not None:
        owed = _owed_subquery()
        outstanding = func.coalesce(owed.c.owed, 0)
        statement = statement.outerjoin(owed, owed.c.case_id == Case.id)
        if filters.min_outstanding is not None:
            statement = statement.where(outstanding >= _in_minor_units(filters.min_outstanding))
        if filters.max_outstanding is not None:
            statement = statement.where(outstanding <= _in_minor_units(filters.max_outstanding))
    if filters.min_age_days is not None:
        cutoff = (filters.today or date.today()) - timedelta(days=filters.min_age_days)
        statement = statement.where(
            exists().where(Invoice.case_id == Case.id, Invoice.due_date <= cutoff)
        )
    if filters.broken_promise:
        statement = statement.where(
            exists().where(
                PromiseToPay.case_id == Case.id, PromiseToPay.status == PromiseStatus.BROKEN
            )
        )
    if filters.unassigned:
        statement = statement.where(Case.assigned_collector_id.is_(None))
    elif filters.assigned_to is not None:
        statement = statement.where(Case.assigned_collector_id == filters.assigned_to)
    return statement


def _sorted(statement: Select[tuple[Case]], sort: str) -> Select[tuple[Case]]:
    if sort == "newest":
        return statement.order_by(Case.placed_at.desc(), Case.id.desc())
    if sort == "oldest":
        return statement.order_by(Case.placed_at.asc(), Case.id)
    if sort == "debtor":
        return statement.order_by(func.lower(Debtor.name), Case.id)
    if sort == "priority":
        return statement.order_by(
            Case.priority.desc(), Case.next_action_on.asc().nulls_last(), Case.id
        )
    if sort == "outstanding":
        owed = _owed_subquery()
        return statement.outerjoin(owed, owed.c.case_id == Case.id).order_by(
            func.coalesce(owed.c.owed, 0).desc(), Case.id
        )
    return statement.order_by(Case.next_action_on.asc().nulls_last(), Case.priority.desc(), Case.id)


def _rows(session: Session, statement: Select[tuple[Case]]) -> list[CaseRow]:
    statement = statement.options(joinedload(Case.debtor), joinedload(Case.tenant))
    cases = list(session.scalars(statement).unique())
    sums = balances(session, cases)
    checks = {
        check.case_id: check
        for check in session.scalars(
            select(InvoiceCheck).where(InvoiceCheck.case_id.in_([case.id for case in cases]))
        )
    }
    return [CaseRow(case, sums[case.id], checks.get(case.id)) for case in cases]


def find_cases(session: Session, filters: CaseFilter) -> CasePage:
    base = _filtered(select(Case).join(Case.debtor), filters)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = max(1, filters.page)
    statement = _sorted(base, filters.sort).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    return CasePage(_rows(session, statement), total, page)


def all_cases(session: Session, filters: CaseFilter, chunk: int = 500) -> Iterator[CaseRow]:
    """Every case the filter matches, a chunk at a time (for exports of any size)."""
    base = _sorted(_filtered(select(Case).join(Case.debtor), filters), filters.sort)
    offset = 0
    while rows := _rows(session, base.limit(chunk).offset(offset)):
        yield from rows
        for row in rows:  # let the chunk go; tenants stay, the signed-in user holds one
            session.expunge(row.case.debtor)
            session.expunge(row.case)
        offset += chunk


def stage_counts(session: Session) -> dict[Stage, int]:
    statement = select(Case.stage, func.count()).group_by(Case.stage)
    return {stage: int(count) for stage, count in session.execute(statement)}


# --- who works which case ----------------------------------------------------------------
