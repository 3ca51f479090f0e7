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


@dataclass(frozen=True)
class Overview:
    """The portfolio's headline figures: money per currency, cases per stage."""

    totals: list[CurrencyTotals]
    stages: dict[Stage, int]

    @property
    def open_cases(self) -> int:
        return sum(count for stage, count in self.stages.items() if stage is not Stage.CLOSED)


def overview(session: Session) -> Overview:
    """From the cases' money summaries (one row per case, not per entry), in one pass over
    the cases grouped by currency and stage."""
    statement = select(
        Case.currency,
        Case.stage,
        func.count(),
        func.sum(Case.placed_minor),
        func.sum(Case.collected_minor),
        func.sum(Case.outstanding_minor),
    ).group_by(Case.currency, Case.stage)
    money: dict[str, tuple[int, int, int]] = {}
    stages: dict[Stage, int] = {}
    for currency, stage, count, placed, collected, outstanding in session.execute(statement):
        stages[stage] = stages.get(stage, 0) + int(count)
        before = money.get(currency, (0, 0, 0))
        money[currency] = (
            before[0] + int(placed), before[1] + int(collected), before[2] + int(outstanding)
        )  # fmt: skip
    totals = [CurrencyTotals(currency, *money[currency]) for currency in sorted(money)]
    return Overview(totals, stages)
