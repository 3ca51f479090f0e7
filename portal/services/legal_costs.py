"""The costs the agency advanced in the legal stage, read for cases and statements.

Costs are recorded by ``enforcement.add_cost``; those the tenant's terms put on the
creditor are recovered on the first remittance statement issued once they are incurred
(``not_yet_remitted``): a cost recorded late, with a day inside a period already on a
statement, is recovered on the next one.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from portal.models import Case, CostBearer, LegalCost, StatementLine


def recoverable_from_creditor(
    session: Session, tenant_id: int, start: date, end: date
) -> list[LegalCost]:
    """The tenant's creditor-borne costs incurred from ``start`` to ``end`` (both included),
    oldest first, whether or not a statement recovered them yet."""
    statement = select(LegalCost).where(
        LegalCost.tenant_id == tenant_id,
        LegalCost.recoverable_from == CostBearer.CREDITOR,
        LegalCost.incurred_on >= start,
        LegalCost.incurred_on <= end,
    )
    return list(session.scalars(statement.order_by(LegalCost.incurred_on, LegalCost.id)))


def not_yet_remitted(tenant_id: int, currency: str, up_to: date) -> Select[tuple[LegalCost]]:
    """The query for the tenant's creditor-borne costs in ``currency`` incurred up to
    ``up_to`` that no statement has recovered yet (callers add columns and joins)."""
    on_a_statement = exists().where(StatementLine.legal_cost_id == LegalCost.id)
    return select(LegalCost).where(
        LegalCost.tenant_id == tenant_id,
        LegalCost.currency == currency,
        LegalCost.recoverable_from == CostBearer.CREDITOR,
        LegalCost.incurred_on <= up_to,
        ~on_a_statement,
    )


def costs_of(session: Session, case: Case) -> list[LegalCost]:
    statement = select(LegalCost).where(LegalCost.case_id == case.id)
    return list(session.scalars(statement.order_by(LegalCost.incurred_on, LegalCost.id)))
