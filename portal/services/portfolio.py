"""A portfolio at a glance: what was placed, what was collected, what is still owed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Case, EntryKind, LedgerEntry, Stage


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
    statement = (
        select(LedgerEntry.currency, LedgerEntry.kind, func.sum(LedgerEntry.amount_minor))
        .group_by(LedgerEntry.currency, LedgerEntry.kind)
        .order_by(LedgerEntry.currency)
    )
    sums: dict[str, dict[EntryKind, int]] = {}
    for currency, kind, amount in session.execute(statement):
        sums.setdefault(currency, {})[kind] = int(amount)
    return [
        CurrencyTotals(
            currency=currency,
            placed=by_kind.get(EntryKind.PRINCIPAL, 0),
            collected=-by_kind.get(EntryKind.PAYMENT, 0) - by_kind.get(EntryKind.REVERSAL, 0),
            outstanding=sum(by_kind.values()),
        )
        for currency, by_kind in sums.items()
    ]


def open_case_count(session: Session) -> int:
    statement = select(func.count()).select_from(Case).where(Case.stage != Stage.CLOSED)
    return session.scalar(statement) or 0
