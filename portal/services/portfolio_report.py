"""The creditor's dashboard: what was placed, collected and is still owed, by stage, by
age and by month, in a constant number of aggregate queries whatever the portfolio's size.

Figures add up the summaries each case carries (``placed_minor``, ``collected_minor``,
``claimed_minor``, ``oldest_due_on``; index ``ix_cases_portfolio``) and the payments in
the ledger by value date (index ``ix_ledger_kind_value_date``); no case is read one by one.
Tenant scoping is the session's (the ORM hook), so one function serves the creditor's own
view and any agency view of the same figures. The case lists behind each figure use the
same conditions (``case_lists``).

Queries: ``build`` sends two, one over cases (headline, stages, ageing and the currencies
present, grouped by currency, stage and age bucket) and one over the ledger (collected per
month).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from portal.models import Case, LedgerEntry, Stage
from portal.services.case_lists import placed_between
from portal.services.ledger import MONEY_IN_KINDS
from portal.services.report_months import month_index

MONTHS = 12
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip


@dataclass(frozen=True)
class ReportFilter:
    """Which cases the figures count: one currency (amounts are never added across
    currencies), placed between two days (UTC, both included; None: no bound). Ages are
    counted up to ``today``; the months end with today's."""

    currency: str
    today: date
    placed_from: date | None = None
    placed_to: date | None = None


@dataclass(frozen=True)
class AgeBucket:
    """Open cases whose oldest invoice is ``first`` to ``last`` days past due (None: more)."""

    first: int
    last: int | None

    @property
    def label(self) -> str:
        return day_range_label(self.first, self.last)


def day_range_label(first: int, last: int | None) -> str:
    """``31-60`` (with an en dash); an open end as the trade writes it, ``180+``."""
    return f"{first}\N{EN DASH}{last}" if last is not None else f"{first - 1}+"


AGE_BUCKETS = (
    AgeBucket(0, 30),
    AgeBucket(31, 60),
    AgeBucket(61, 90),
    AgeBucket(91, 180),
    AgeBucket(181, None),
)
CLOSED_BUCKET = -1  # closed cases have no age on the dashboard


@dataclass(frozen=True)
class Totals:
    """Cases and their money in minor units; ``outstanding`` is claimed less collected."""

    count: int = 0
    placed: int = 0
    collected: int = 0
    outstanding: int = 0

    @classmethod
    def of_sums(cls, count: int, placed: int, collected: int, claimed: int) -> Totals:
        """From a query's count and sums of the case summaries (``claimed_minor`` and not
        outstanding is what cases carry)."""
        return cls(int(count), int(placed), int(collected), int(claimed) - int(collected))

    @property
    def recovery_rate(self) -> float:
        """Share of the placed principal collected so far (a display figure, not money)."""
        return self.collected / self.placed if self.placed else 0.0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.count + other.count,
            self.placed + other.placed,
            self.collected + other.collected,
            self.outstanding + other.outstanding,
        )


@dataclass(frozen=True)
class StageRow:
    stage: Stage
    totals: Totals


@dataclass(frozen=True)
class AgeRow:
    bucket: AgeBucket
    count: int
    outstanding: int


@dataclass(frozen=True)
class MonthRow:
    """Payments less reversals valued in the month starting ``first``; ``last`` is its
    last day (or today, for the month under way)."""

    first: date
    last: date
    collected: int

    @property
    def label(self) -> str:
        return f"{MONTH_NAMES[self.first.month - 1]} {self.first:%y}"


@dataclass(frozen=True)
class PortfolioReport:
    filter: ReportFilter
    headline: Totals
    stages: list[StageRow]
    ageing: list[AgeRow]
    months: list[MonthRow]
    currencies: list[str] = field(default_factory=list)

    @property
    def open_outstanding(self) -> int:
        return sum(row.outstanding for row in self.ageing)


def build(session: Session, report_filter: ReportFilter) -> PortfolioReport:
    """Every figure of the dashboard (two queries)."""
    by_stage, by_age, currencies = _case_figures(session, report_filter)
    stages = [StageRow(stage, by_stage[stage]) for stage in Stage if stage in by_stage]
    return PortfolioReport(
        filter=report_filter,
        headline=sum(by_stage.values(), Totals()),
        stages=stages,
        ageing=[
            AgeRow(bucket, *by_age.get(index, (0, 0))) for index, bucket in enumerate(AGE_BUCKETS)
        ],
        months=collected_per_month(session, report_filter),
        currencies=currencies,
    )


def age_bucket(today: date) -> ColumnElement[int]:
    """The index in ``AGE_BUCKETS`` of each open case, ``CLOSED_BUCKET`` for closed ones.

    The boundaries are due dates worked out here and bound as parameters: no date
    arithmetic in SQL, and the index on ``oldest_due_on`` can serve them. A case without
    a due date (none is placed so) counts as current.
    """
    whens: list[tuple[ColumnElement[bool], int]] = [
        (Case.stage == Stage.CLOSED, CLOSED_BUCKET),
        (Case.oldest_due_on.is_(None), 0),
    ]
    for index, bucket in enumerate(AGE_BUCKETS):
        if bucket.last is not None:
            whens.append((Case.oldest_due_on >= today - timedelta(days=bucket.last), index))
    return sql_case(*whens, else_=len(AGE_BUCKETS) - 1)


def _case_figures(
    session: Session, report_filter: ReportFilter
) -> tuple[dict[Stage, Totals], dict[int, tuple[int, int]], list[str]]:
    bucket = age_bucket(report_filter.today).label("bucket")
    statement = (
        select(
            Case.currency,
            Case.stage,
            bucket,
            func.count(),
            func.coalesce(func.sum(Case.placed_minor), 0),
            func.coalesce(func.sum(Case.collected_minor), 0),
            func.coalesce(func.sum(Case.claimed_minor), 0),
        )
        .where(*placed_between(report_filter.placed_from, report_filter.placed_to))
        .group_by(Case.currency, Case.stage, bucket)
    )
    by_stage: dict[Stage, Totals] = {}
    by_age: dict[int, tuple[int, int]] = {}
    currencies: set[str] = set()
    for currency, stage, index, count, placed, collected, claimed in session.execute(statement):
        currencies.add(currency)
        if currency != report_filter.currency:
            continue
        row = Totals.of_sums(count, placed, collected, claimed)
        by_stage[stage] = by_stage.get(stage, Totals()) + row
        if index != CLOSED_BUCKET:
            before = by_age.get(index, (0, 0))
            by_age[index] = (before[0] + row.count, before[1] + row.outstanding)
    return by_stage, by_age, sorted(currencies)


def month_starts(today: date, months: int = MONTHS) -> list[date]:
    """The first days of the ``months`` months up to today's, oldest first."""
    this_month = today.replace(day=1)
    return [this_month - relativedelta(months=back) for back in range(months - 1, -1, -1)]


def collected_per_month(session: Session, report_filter: ReportFilter) -> list[MonthRow]:
    """Payments less reversals per month for the last twelve months (one query).

    Each entry's month is found with a CASE over the months' first days, bound as
    parameters, so both databases group alike and the ledger's (kind, value_date) index
    answers the range. With a placement period, only its cases' money counts.
    """
    today = report_filter.today
    starts = month_starts(today)
    month = month_index(LedgerEntry.value_date, starts).label("month")
    statement = (
        select(month, func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(
            LedgerEntry.kind.in_(MONEY_IN_KINDS),
            LedgerEntry.currency == report_filter.currency,
            LedgerEntry.value_date >= starts[0],
            LedgerEntry.value_date <= today,
        )
        .group_by(month)
    )
    period = placed_between(report_filter.placed_from, report_filter.placed_to)
    if period:
        statement = statement.join(Case, Case.id == LedgerEntry.case_id).where(*period)
    # Payments are negative in the ledger and reversals positive: collected is minus the sum.
    collected = {int(index): -int(total) for index, total in session.execute(statement)}
    return [
        MonthRow(start, _month_end(start, today), collected.get(index, 0))
        for index, start in enumerate(starts)
    ]


def _month_end(start: date, today: date) -> date:
    return min(start + relativedelta(months=1) - timedelta(days=1), today)
