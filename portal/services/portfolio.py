"""A portfolio at a glance: what was placed, what was collected, what is still owed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import MONTH, CaseStageTotal, PlacementTotal, Stage


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


@dataclass(frozen=True)
class Overview:
    """The portfolio's headline figures: money per currency, cases per stage."""

    totals: list[CurrencyTotals]
    stages: dict[Stage, int]

    @property
    def open_cases(self) -> int:
        return sum(count for stage, count in self.stages.items() if stage is not Stage.CLOSED)


def overview(session: Session) -> Overview:
    """From the running totals (``portal.models.rollup``), a few hundred rows however many
    cases: cases and what they still owe per stage, and what was placed and collected per
    month of placement."""
    stages: dict[Stage, int] = {}
    outstanding: dict[str, int] = {}
    by_stage = select(
        CaseStageTotal.currency, CaseStageTotal.stage, CaseStageTotal.cases,
        CaseStageTotal.outstanding_minor,
    ).where(CaseStageTotal.cases != 0)  # fmt: skip
    for currency, stage, cases, owed in session.execute(by_stage):
        stages[stage] = stages.get(stage, 0) + cases
        outstanding[currency] = outstanding.get(currency, 0) + owed
    by_currency = (
        select(
            PlacementTotal.currency,
            func.sum(PlacementTotal.placed_minor),
            func.sum(PlacementTotal.collected_minor),
        )
        .where(PlacementTotal.span == MONTH, PlacementTotal.currency.in_(outstanding))
        .group_by(PlacementTotal.currency)
    )
    money = {currency: (int(placed), int(collected))
             for currency, placed, collected in session.execute(by_currency)}  # fmt: skip
    totals = [
        CurrencyTotals(currency, *money.get(currency, (0, 0)), outstanding[currency])
        for currency in sorted(outstanding)
    ]
    return Overview(totals, stages)
