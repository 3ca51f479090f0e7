"""The costs the agency advanced in the legal stage, read for cases and statements.

Costs are recorded by ``enforcement.add_cost``; those the tenant's terms put on the
creditor are recovered on the remittance statement of the period they were incurred in.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, CostBearer, LegalCost


def recoverable_from_creditor(
    session: Session, tenant_id: int, start: date, end: date
) -> list[LegalCost]:
    """The tenant's creditor-borne costs incurred from ``start`` to ``end`` (both included),
    oldest first: what the remittance statement of that period recovers."""
    statement = select(LegalCost).where(
        LegalCost.tenant_id == tenant_id,
        LegalCost.recoverable_from == CostBearer.CREDITOR,
        LegalCost.incurred_on >= start,
        LegalCost.incurred_on <= end,
    )
    return list(session.scalars(statement.order_by(LegalCost.incurred_on, LegalCost.id)))


def costs_of(session: Session, case: Case) -> list[LegalCost]:
    statement = select(LegalCost).where(LegalCost.case_id == case.id)
    return list(session.scalars(statement.order_by(LegalCost.incurred_on, LegalCost.id)))
