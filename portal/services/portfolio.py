"""A portfolio at a glance: what was placed, what was collected, what is still owed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Case, Stage


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    placed: int
    collected: int
    outstanding: int

    @property
    def recovery_rate(self) -> float:
        """Share of the placed principal collected so far (a display figure, not money)."""
        return self.collected / self.placed if self.placed else 0.0


def totals_by_currency(session: Session) -> list[CurrencyTotals]:
    """From the cases' money summaries (one row per case, not per entry)."""
    statement = (
        select(
            Case.currency,
            func.sum(Case.placed_minor),
            func.sum(Case.collected_minor),
            func.sum(Case.outstanding_minor),
        )
        .group_by(Case.currency)
        .order_by(Case.currency)
    )
    return [
        CurrencyTotals(currency, int(placed), int(collected), int(outstanding))
        for currency, placed, collected, outstanding in session.execute(statement)
    ]


def open_case_count(session: Session) -> int:
    statement = select(func.count()).select_from(Case).where(Case.stage != Stage.CLOSED)
    return session.scalar(statement) or 0
