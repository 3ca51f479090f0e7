"""Why accounts go unpaid: what the creditor's experience with the agency shows.

Four questions, for the cases of one currency placed in a period (``ReportFilter``):
how disputes went and over what, whether the warning signs noted at placement foretold
poor recovery, how recovery falls the longer an account waited before placement, and
which debtors come back again and again. Each is an aggregate query, so ``build`` sends
four whatever the portfolio's size (disputes by outcome, disputes by reason, cases by
warning signs and delay, repeated debtors).

Warning signs are a JSON list on each case, which SQLite and PostgreSQL query in
different ways. They are grouped here by the list's JSON text instead (placement writes
it sorted, so a set of signs always has the same text, and there are few different sets),
and the few groups are split into signs in Python. Signs, delays and repeated debtors
are read from running totals kept per placement day and month (``PlacementTotal``) and
per debtor (``DebtorTotal``), moved with every placement and ledger posting
(``rollups``); only repeated debtors within a placement period are counted from the
cases themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Subquery, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import AliasedClass

from portal.models import Case, Debtor, DebtorTotal, Dispute, PlacementTotal
from portal.services import rollups
from portal.services.case_lists import (
    DISPUTE_OUTCOMES,
    NO_SIGN,
    debtor_identity,
    dispute_outcome,
    dispute_reason_key,
    placed_between,
    placement_delay,
)
from portal.services.placement import warning_sign_label
from portal.services.portfolio_report import ReportFilter, Totals, day_range_label
from portal.services.rollups import DELAY_BUCKETS

# Bounds for a placement period open on one side (the running totals' whole range).
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)

TOP_REASONS = 10
TOP_DEBTORS = 20
IDENTIFIED_BY = {"reg": "registration number", "email": "e-mail address", "name": "name"}


def delay_label(first: int, last: int | None) -> str:
    return f"{day_range_label(first, last)} days"


@dataclass(frozen=True)
class OutcomeRow:
    key: str  # a key of case_lists.DISPUTE_OUTCOMES
    label: str
    disputes: int


@dataclass(frozen=True)
class ReasonRow:
    key: str  # case_lists.dispute_reason_key: what the case list behind it matches
    reason: str  # one of the ways it was written
    disputes: int
    open: int
    upheld: int
    rejected: int


@dataclass(frozen=True)
class SignRow:
    sign: str  # the stored value, or case_lists.NO_SIGN
    label: str
    totals: Totals


@dataclass(frozen=True)
class DelayRow:
    first: int
    last: int | None
    totals: Totals

    @property
    def label(self) -> str:
        return delay_label(self.first, self.last)


@dataclass(frozen=True)
class DebtorRow:
    key: str  # case_lists.debtor_identity
    name: str
    totals: Totals

    @property
    def identified_by(self) -> str:
        return IDENTIFIED_BY.get(self.key.partition(":")[0], "name")

    @property
    def identifier(self) -> str:
        return self.key.partition(":")[2]


@dataclass(frozen=True)
class UnpaidInsights:
    filter: ReportFilter
    outcomes: list[OutcomeRow]
    reasons: list[ReasonRow]
    signs: list[SignRow]
    delays: list[DelayRow]
    repeat_debtors: list[DebtorRow]

    @property
    def disputes(self) -> int:
        return sum(row.disputes for row in self.outcomes)


def build(session: Session, report_filter: ReportFilter) -> UnpaidInsights:
    """Every figure of the page (four queries)."""
    signs, delays = signs_and_delays(session, report_filter)
    return UnpaidInsights(
        filter=report_filter,
        outcomes=dispute_outcomes(session, report_filter),
        reasons=dispute_reasons(session, report_filter),
        signs=signs,
        delays=delays,
        repeat_debtors=repeat_debtors(session, report_filter),
    )


def _in_filter(
    report_filter: ReportFilter, case: type[Case] | AliasedClass[Case] = Case
) -> list[ColumnElement[bool]]:
    return [
        case.currency == report_filter.currency,
        *placed_between(report_filter.placed_from, report_filter.placed_to, case),
    ]


def _disputed_case_in_filter(report_filter: ReportFilter) -> ColumnElement[bool]:
    """The dispute's case is one the filter counts.

    Written as a scalar subquery on the case's primary key rather than a join: disputes
    are a small share of the cases, and PostgreSQL then looks each one's case up in the
    index, where a join makes it read every case of the tenant to find the disputed ones.
    """
    currency = (
        select(Case.currency)
        .where(
            Case.id == Dispute.case_id,
            *placed_between(report_filter.placed_from, report_filter.placed_to),
        )
        .correlate(Dispute)
        .scalar_subquery()
    )
    return currency == report_filter.currency


def dispute_outcomes(session: Session, report_filter: ReportFilter) -> list[OutcomeRow]:
    """Disputes on the filter's cases by what became of them, in a fixed order (1 query)."""
    outcome = dispute_outcome().label("outcome")
    statement = (
        select(outcome, func.count())
        .select_from(Dispute)
        .where(_disputed_case_in_filter(report_filter))
        .group_by(outcome)
    )
    counts = {key: int(count) for key, count in session.execute(statement)}
    return [
        OutcomeRow(key, label, counts[key])
        for key, label in DISPUTE_OUTCOMES.items()
        if key in counts
    ]


def dispute_reasons(session: Session, report_filter: ReportFilter) -> list[ReasonRow]:
    """The reasons given most often, with how the disputes over each went (1 query)."""
    key = dispute_reason_key().label("reason_key")
    outcome = dispute_outcome()

    def counted(*keys: str) -> ColumnElement[int]:
        return func.coalesce(func.sum(sql_case((outcome.in_(keys), 1), else_=0)), 0)

    statement = (
        select(
            key,
            func.min(Dispute.reason),
            func.count(),
            counted("open"),
            counted("adjust", "withdraw", "upheld"),
            counted("reject"),
        )
        .select_from(Dispute)
        .where(_disputed_case_in_filter(report_filter))
        .group_by(key)
        .order_by(func.count().desc(), key)
        .limit(TOP_REASONS)
    )
    return [
        ReasonRow(reason_key, text, int(total), int(still_open), int(upheld), int(rejected))
        for reason_key, text, total, still_open, upheld, rejected in session.execute(statement)
    ]


def delay_bucket() -> ColumnElement[int]:
    """The index in ``DELAY_BUCKETS`` of each case (a case placed before its due date, or
    without one, counts in the first)."""
    delay = placement_delay()
    whens: list[tuple[ColumnElement[bool], int]] = [(Case.oldest_due_on.is_(None), 0)]
    whens += [
        (delay <= last, index)
        for index, (_first, last) in enumerate(DELAY_BUCKETS)
        if last is not None
    ]
    return sql_case(*whens, else_=len(DELAY_BUCKETS) - 1)


def signs_and_delays(
    session: Session, report_filter: ReportFilter
) -> tuple[list[SignRow], list[DelayRow]]:
    """Recovery by warning sign and by delay before placement, from one query over the
    running totals per placement day or month, signs' JSON text and delay bucket
    (``PlacementTotal``: few rows, see the module's docstring)."""
    statement = (
        select(
            PlacementTotal.signs,
            PlacementTotal.delay_bucket,
            func.sum(PlacementTotal.cases),
            func.coalesce(func.sum(PlacementTotal.placed_minor), 0),
            func.coalesce(func.sum(PlacementTotal.collected_minor), 0),
            func.coalesce(func.sum(PlacementTotal.claimed_minor), 0),
        )
        .where(PlacementTotal.currency == report_filter.currency, _placed_in(report_filter))
        .group_by(PlacementTotal.signs, PlacementTotal.delay_bucket)
        .having(func.sum(PlacementTotal.cases) != 0)
    )
    by_sign: dict[str, Totals] = {}
    by_delay: dict[int, Totals] = {}
    for text, index, count, placed, collected, claimed in session.execute(statement):
        totals = Totals.of_sums(count, placed, collected, claimed)
        for sign in _signs_in(text) or [NO_SIGN]:
            by_sign[sign] = by_sign.get(sign, Totals()) + totals
        by_delay[int(index)] = by_delay.get(int(index), Totals()) + totals
    signs = [
        SignRow(sign, "No warning sign noted" if sign == NO_SIGN else warning_sign_label(sign), t)
        for sign, t in sorted(
            by_sign.items(), key=lambda item: (item[0] == NO_SIGN, -item[1].count, item[0])
        )
    ]
    delays = [
        DelayRow(first, last, by_delay.get(index, Totals()))
        for index, (first, last) in enumerate(DELAY_BUCKETS)
    ]
    return signs, delays


def _placed_in(report_filter: ReportFilter) -> ColumnElement[bool]:
    """The placement totals' rows that add up the cases placed in the filter's period
    (each day once; without a bound, every day on that side; no case is placed outside
    ``EARLIEST`` to ``LATEST``)."""
    first = min(max(report_filter.placed_from or EARLIEST, EARLIEST), LATEST)
    last = min(max(report_filter.placed_to or LATEST, EARLIEST), LATEST)
    return rollups.in_period(PlacementTotal.span, PlacementTotal.day, first, last)


def _signs_in(text: str | None) -> list[str]:
    """The signs in a stored JSON list (anything else: none)."""
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return []
    if not isinstance(found, list):
        return []
    return sorted({sign for sign in found if isinstance(sign, str) and sign})


def repeat_debtors(session: Session, report_filter: ReportFilter) -> list[DebtorRow]:
    """Debtors placed more than once, most placements first (1 query; see
    ``case_lists.debtor_identity`` for how placements are matched to one debtor).

    Over every placement, the running totals per debtor (``DebtorTotal``) are read in the
    order of their index, so no debtor is read until the 20 are found; for a placement
    period the cases are grouped by the key placement copied onto them, in the order of
    an index that carries the summaries. Each of the 20 is then named from its own
    placements' debtors."""
    top = (
        _debtor_totals(report_filter)
        if report_filter.placed_from is None and report_filter.placed_to is None
        else _debtors_placed_in(report_filter)
    )
    named = aliased(Case)
    name = (
        select(func.min(Debtor.name))
        .select_from(named)
        .join(Debtor, Debtor.id == named.debtor_id)
        .where(named.debtor_key == top.c.identity, *_in_filter(report_filter, named))
        .correlate(top)
        .scalar_subquery()
    )
    statement = select(top, name.label("name")).order_by(
        top.c.cases.desc(), top.c.placed.desc(), top.c.identity
    )
    return [
        DebtorRow(key, name, Totals.of_sums(n, placed, collected, claimed))
        for key, n, placed, collected, claimed, name in session.execute(statement)
    ]


def _debtor_totals(report_filter: ReportFilter) -> Subquery:
    return (
        select(
            DebtorTotal.debtor_key.label("identity"),
            DebtorTotal.cases.label("cases"),
            DebtorTotal.placed_minor.label("placed"),
            DebtorTotal.collected_minor.label("collected"),
            DebtorTotal.claimed_minor.label("claimed"),
        )
        .where(DebtorTotal.currency == report_filter.currency, DebtorTotal.cases > 1)
        .order_by(DebtorTotal.cases.desc(), DebtorTotal.placed_minor.desc(), DebtorTotal.debtor_key)
        .limit(TOP_DEBTORS)
        .subquery()
    )


def _debtors_placed_in(report_filter: ReportFilter) -> Subquery:
    identity = debtor_identity().label("identity")
    cases = func.count()  # not count(id): the index holds no id, and reads no row then
    return (
        select(
            identity,
            cases.label("cases"),
            func.coalesce(func.sum(Case.placed_minor), 0).label("placed"),
            func.coalesce(func.sum(Case.collected_minor), 0).label("collected"),
            func.coalesce(func.sum(Case.claimed_minor), 0).label("claimed"),
        )
        .where(*_in_filter(report_filter))
        .group_by(identity)
        .having(cases > 1)
        .order_by(cases.desc(), func.sum(Case.placed_minor).desc(), identity)
        .limit(TOP_DEBTORS)
        .subquery()
    )
