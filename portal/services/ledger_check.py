"""Proving that every stored money figure equals the ledger it summarises.

The ledger is the single source of every balance. A few figures are stored beside it so
pages can add up rows of cases instead of every entry (the case summaries), or so a
document never changes once issued (remittance statements); ``verify`` recomputes each
from the entries and lists what differs. ``flask ledger verify`` runs it.

The dashboard's running totals (``portal.models.rollup``: cases per stage, calls,
promises, plans and legal requests) are checked the same way: ``expected_totals`` says
what each row must hold, computed from the cases, the timeline and the events (the
benchmark's generator fills the tables with it too).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Date,
    FunctionElement,
    Select,
    String,
    Table,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy import case as sql_case
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler

from portal.models import (
    DAY,
    MONTH,
    NO_COLLECTOR,
    Activity,
    ActivityKind,
    CallTotal,
    Case,
    CaseEventTotal,
    CaseStageTotal,
    DebtorTotal,
    EntryKind,
    Invoice,
    LedgerEntry,
    LegalRequest,
    LegalRequestStatus,
    MoneyInTotal,
    PaymentAllocation,
    PaymentPlan,
    PlacementTotal,
    PromiseToPay,
    RemittanceStatement,
    StatementLine,
)
from portal.services import rollups
from portal.services.case_lists import warning_signs_text
from portal.services.case_work import CallOutcome
from portal.services.invoice_checks import Answer
from portal.services.ledger import CLAIMED_KINDS, MONEY_IN_KINDS
from portal.services.rollups import ENDED_PLAN_STATUSES, PLAN_STATUSES, PROMISE_STATUSES
from portal.services.unpaid_insights import delay_bucket

# A call reached the debtor (a right party contact): the collector spoke with them, or
# the debtor answered an invoice check. Read from the entry's summary, which erasing
# the debtor's personal data leaves as it is (it blanks the outcome).
RIGHT_PARTY_SUMMARIES = (
    f"Call: {CallOutcome.SPOKE.label.lower()}",
    *(f"Invoice check: {answer.label}" for answer in (Answer.CONFIRMED, Answer.DISPUTED)),
)


@dataclass(frozen=True)
class Discrepancy:
    subject: str  # what was checked, in words ("case ACM-10001: collected")
    stored: object
    from_ledger: object

    def __str__(self) -> str:
        return f"{self.subject}: stored {self.stored}, ledger says {self.from_ledger}"


@dataclass
class Verification:
    cases: int = 0
    payments: int = 0
    statements: int = 0
    totals: int = 0  # rows of the dashboard's running totals
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies


def verify(session: Session) -> Verification:
    """Check every case summary, payment allocation and statement against the ledger, and
    every running total against its sources (call it unscoped to check every tenant). The
    session's own moves not yet committed are written first, so they are checked too."""
    rollups.write_pending(session)
    found = Verification()
    found.cases = session.scalar(select(func.count()).select_from(Case)) or 0
    found.discrepancies.extend(_case_summaries(session))
    found.payments = (
        session.scalar(select(func.count()).where(LedgerEntry.kind.in_(MONEY_IN_KINDS))) or 0
    )
    found.discrepancies.extend(_allocations(session))
    found.discrepancies.extend(_reversals(session))
    found.statements = session.scalar(select(func.count()).select_from(RemittanceStatement)) or 0
    found.discrepancies.extend(_statement_totals(session))
    found.discrepancies.extend(_statement_lines(session))
    for model in rollups.MODELS:
        found.totals += session.scalar(select(func.count()).select_from(model)) or 0
        found.discrepancies.extend(_totals(session, model))
    return found


def _sum_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(sql_case((condition, LedgerEntry.amount_minor), else_=0)), 0)


def _case_summaries(session: Session) -> Iterator[Discrepancy]:
    sums = (
        select(
            LedgerEntry.case_id.label("case_id"),
            _sum_where(LedgerEntry.kind == EntryKind.PRINCIPAL).label("placed"),
            _sum_where(LedgerEntry.kind.in_(CLAIMED_KINDS)).label("claimed"),
            (-_sum_where(LedgerEntry.kind.in_(MONEY_IN_KINDS))).label("collected"),
        )
        .group_by(LedgerEntry.case_id)
        .subquery()
    )
    due = (
        select(Invoice.case_id.label("case_id"), func.min(Invoice.due_date).label("oldest"))
        .group_by(Invoice.case_id)
        .subquery()
    )
    placed = func.coalesce(sums.c.placed, 0)
    claimed = func.coalesce(sums.c.claimed, 0)
    collected = func.coalesce(sums.c.collected, 0)
    statement = (
        select(Case, placed, claimed, collected, due.c.oldest)
        .outerjoin(sums, sums.c.case_id == Case.id)
        .outerjoin(due, due.c.case_id == Case.id)
        .where(
            or_(
                Case.placed_minor != placed,
                Case.claimed_minor != claimed,
                Case.collected_minor != collected,
                Case.oldest_due_on.is_distinct_from(due.c.oldest),
            )
        )
        .order_by(Case.id)
    )
    for case, *from_ledger in session.execute(statement).tuples():
        stored = (case.placed_minor, case.claimed_minor, case.collected_minor, case.oldest_due_on)
        names = ("placed", "claimed", "collected", "oldest due date")
        for name, kept, computed in zip(names, stored, from_ledger, strict=True):
            if kept != computed:
                yield Discrepancy(f"case {case.agency_reference}: {name}", kept, computed)


def _allocations(session: Session) -> Iterator[Discrepancy]:
    """A payment's allocations add up to it (a reversal's to minus its amount)."""
    statement = (
        select(
            LedgerEntry.id,
            LedgerEntry.amount_minor,
            func.sum(PaymentAllocation.amount_minor),
        )
        .join(PaymentAllocation, PaymentAllocation.ledger_entry_id == LedgerEntry.id)
        .group_by(LedgerEntry.id, LedgerEntry.amount_minor)
        .having(LedgerEntry.amount_minor + func.sum(PaymentAllocation.amount_minor) != 0)
    )
    for entry_id, amount, allocated in session.execute(statement).tuples():
        yield Discrepancy(f"ledger entry {entry_id}: allocated", int(allocated), -amount)


def _reversals(session: Session) -> Iterator[Discrepancy]:
    """What was given back of a payment never exceeds it, nor does its commission."""
    reversal = select(
        LedgerEntry.reverses_entry_id.label("payment_id"),
        func.sum(LedgerEntry.amount_minor).label("back"),
        func.sum(func.coalesce(LedgerEntry.commission_minor, 0)).label("commission_back"),
    )
    given_back = (
        reversal.where(LedgerEntry.reverses_entry_id.is_not(None))
        .group_by(LedgerEntry.reverses_entry_id)
        .subquery()
    )
    statement = (
        select(LedgerEntry, given_back.c.back, given_back.c.commission_back)
        .join(given_back, given_back.c.payment_id == LedgerEntry.id)
        .where(
            or_(
                given_back.c.back > -LedgerEntry.amount_minor,
                -given_back.c.commission_back > func.coalesce(LedgerEntry.commission_minor, 0),
            )
        )
    )
    for payment, back, commission_back in session.execute(statement).tuples():
        yield Discrepancy(
            f"payment {payment.id}: given back (amount, commission)",
            (int(back), -int(commission_back)),
            (-payment.amount_minor, payment.commission_minor or 0),
        )


def _statement_totals(session: Session) -> Iterator[Discrepancy]:
    """A statement's totals are the sums of its lines, and its net is what they leave."""
    sums = (
        select(
            StatementLine.statement_id.label("statement_id"),
            func.sum(StatementLine.collected_minor).label("collected"),
            func.sum(StatementLine.commission_minor).label("commission"),
            func.sum(StatementLine.costs_minor).label("costs"),
            func.sum(StatementLine.net_minor).label("net"),
        )
        .group_by(StatementLine.statement_id)
        .subquery()
    )
    statement = select(
        RemittanceStatement,
        func.coalesce(sums.c.collected, 0),
        func.coalesce(sums.c.commission, 0),
        func.coalesce(sums.c.costs, 0),
        func.coalesce(sums.c.net, 0),
    ).outerjoin(sums, sums.c.statement_id == RemittanceStatement.id)
    names = ("collected", "commission", "costs", "net")
    for issued, *from_lines in session.execute(statement).tuples():
        stored = (
            issued.collected_minor, issued.commission_minor, issued.costs_minor, issued.net_minor
        )  # fmt: skip
        for name, kept, computed in zip(names, stored, from_lines, strict=True):
            if kept != int(computed):
                yield Discrepancy(f"statement {issued.number}: {name}", kept, int(computed))
        left = issued.collected_minor - issued.commission_minor - issued.costs_minor
        if issued.net_minor != left:
            yield Discrepancy(
                f"statement {issued.number}: net of its totals", issued.net_minor, left
            )


def _statement_lines(session: Session) -> Iterator[Discrepancy]:
    """A statement line taken from the ledger shows that entry's money and commission."""
    statement = (
        select(StatementLine, LedgerEntry)
        .join(LedgerEntry, LedgerEntry.id == StatementLine.ledger_entry_id)
        .where(
            or_(
                StatementLine.collected_minor != -LedgerEntry.amount_minor,
                StatementLine.commission_minor
                != func.coalesce(LedgerEntry.commission_minor, literal(0)),
                StatementLine.net_minor
                != StatementLine.collected_minor
                - StatementLine.commission_minor
                - StatementLine.costs_minor,
            )
        )
    )
    for line, entry in session.execute(statement).tuples():
        yield Discrepancy(
            f"statement line {line.id} (ledger entry {entry.id}): collected, commission, net",
            (line.collected_minor, line.commission_minor, line.net_minor),
            (
                -entry.amount_minor,
                entry.commission_minor or 0,
                line.collected_minor - line.commission_minor - line.costs_minor,
            ),
        )


# -- The dashboard's running totals -------------------------------------------------------------


class utc_day(FunctionElement[Any]):
    """The UTC day of a stored timestamp (SQL)."""

    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


class month_start(FunctionElement[Any]):
    """The first day of a date's month (SQL)."""

    type = Date()
    name = "month_start"
    inherit_cache = True


@compiles(month_start)
def _month_start_postgresql(element: month_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(date_trunc('month', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element: month_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, 'start of month')"


# Each table's key columns (the daily ones end with span and day), then its amounts.
KEYS = {
    CaseStageTotal: ("tenant_id", "currency", "stage"),
    CallTotal: ("tenant_id", "collector_key", "span", "day"),
    CaseEventTotal: ("tenant_id", "currency", "source", "status", "collector_key", "span", "day"),
    MoneyInTotal: ("tenant_id", "currency", "collector_key", "span", "day"),
    PlacementTotal: ("tenant_id", "currency", "signs", "delay_bucket", "span", "day"),
    DebtorTotal: ("tenant_id", "currency", "debtor_key"),
}
AMOUNTS = {
    CaseStageTotal: ("cases", "outstanding_minor"),
    CallTotal: ("calls", "right_party"),
    CaseEventTotal: ("events", "amount_minor", "outstanding_minor"),
    MoneyInTotal: ("payments", "collected_minor", "commission_minor"),
    PlacementTotal: ("cases", "placed_minor", "claimed_minor", "collected_minor"),
    DebtorTotal: ("cases", "placed_minor", "claimed_minor", "collected_minor"),
}


def expected_totals(model: type[Any]) -> Select[Any]:
    """What every row of ``model`` must hold, from the source rows: its key columns then
    its amounts, in the order of ``KEYS`` and ``AMOUNTS``."""
    if model is CaseStageTotal:
        owed = _owed_per_case()
        return (
            select(Case.tenant_id, Case.currency, Case.stage, func.count(),
                   func.sum(func.coalesce(owed.c.owed, 0)))
            .outerjoin(owed, owed.c.case_id == Case.id)
            .group_by(Case.tenant_id, Case.currency, Case.stage)
        )  # fmt: skip
    if model is DebtorTotal:
        cases = _placed_cases()
        keys = [cases.c.tenant_id, cases.c.currency, cases.c.debtor_key]
        sums = [func.sum(cases.c[name]) for name in AMOUNTS[DebtorTotal]]
        return select(*keys, *sums).group_by(*keys)
    sources = {
        CallTotal: _calls, CaseEventTotal: _events, MoneyInTotal: _money_in,
        PlacementTotal: _placed_cases,
    }  # fmt: skip
    return _per_day_and_month(sources[model](), KEYS[model][:-2], AMOUNTS[model])


def _per_day_and_month(rows: Any, keys: tuple[str, ...], amounts: tuple[str, ...]) -> Select[Any]:
    """Source ``rows`` (their keys, ``day`` and amounts) summed per day and per month."""
    grouped = [rows.c[name] for name in keys]
    sums = [func.sum(rows.c[name]) for name in amounts]
    per_day = select(*grouped, literal(DAY), rows.c.day, *sums).group_by(*grouped, rows.c.day)
    month = month_start(rows.c.day)
    per_month = select(*grouped, literal(MONTH), month, *sums).group_by(*grouped, month)
    both = union_all(per_day, per_month).subquery()
    return select(*both.c)


def _calls() -> Any:
    reached = sql_case((Activity.summary.in_(RIGHT_PARTY_SUMMARIES), 1), else_=0)
    return (
        select(
            Activity.tenant_id.label("tenant_id"),
            func.coalesce(Activity.actor_id, NO_COLLECTOR).label("collector_key"),
            utc_day(Activity.occurred_at).label("day"),
            literal(1).label("calls"),
            reached.label("right_party"),
        )
        .where(Activity.kind == ActivityKind.CALL)
        .subquery()
    )


def _placed_cases() -> Any:
    """Every case with what placement and debtor totals key it by, and its money by its
    ledger (see ``_owed_per_case``)."""
    money = (
        select(
            LedgerEntry.case_id.label("case_id"),
            _sum_where(LedgerEntry.kind == EntryKind.PRINCIPAL).label("placed"),
            _sum_where(LedgerEntry.kind.in_(CLAIMED_KINDS)).label("claimed"),
            (-_sum_where(LedgerEntry.kind.in_(MONEY_IN_KINDS))).label("collected"),
        )
        .group_by(LedgerEntry.case_id)
        .subquery()
    )
    return (
        select(
            Case.tenant_id.label("tenant_id"),
            Case.currency.label("currency"),
            func.coalesce(warning_signs_text(), "[]").label("signs"),
            delay_bucket().label("delay_bucket"),
            Case.debtor_key.label("debtor_key"),
            utc_day(Case.placed_at).label("day"),
            literal(1).label("cases"),
            func.coalesce(money.c.placed, 0).label("placed_minor"),
            func.coalesce(money.c.claimed, 0).label("claimed_minor"),
            func.coalesce(money.c.collected, 0).label("collected_minor"),
        )
        .outerjoin(money, money.c.case_id == Case.id)
        .subquery()
    )


def _money_in() -> Any:
    is_payment = sql_case((LedgerEntry.kind == EntryKind.PAYMENT, 1), else_=0)
    return (
        select(
            LedgerEntry.tenant_id.label("tenant_id"),
            LedgerEntry.currency.label("currency"),
            func.coalesce(LedgerEntry.collector_id, NO_COLLECTOR).label("collector_key"),
            LedgerEntry.value_date.label("day"),
            is_payment.label("payments"),
            (-LedgerEntry.amount_minor).label("collected_minor"),
            func.coalesce(LedgerEntry.commission_minor, 0).label("commission_minor"),
        )
        .where(LedgerEntry.kind.in_(MONEY_IN_KINDS))
        .subquery()
    )


def _owed_per_case() -> Any:
    """What each case owes by its ledger: every entry's amount, owed positive and paid
    negative (not the case's own summaries, which are checked against the same sums)."""
    return (
        select(
            LedgerEntry.case_id.label("case_id"), func.sum(LedgerEntry.amount_minor).label("owed")
        )
        .group_by(LedgerEntry.case_id)
        .subquery()
    )


def _events() -> Any:
    """One row per counted promise, plan and legal request, as ``CaseEventTotal`` keys it."""
    by_case = _owed_per_case()
    owed = func.coalesce(by_case.c.owed, 0)
    ended = PaymentPlan.status.in_(ENDED_PLAN_STATUSES)
    decided = LegalRequest.status != LegalRequestStatus.AWAITING_CREDITOR
    promises: Select[Any] = (
        select(
            PromiseToPay.tenant_id.label("tenant_id"),
            Case.currency.label("currency"),
            literal_column("'promise'").label("source"),
            type_coerce(PromiseToPay.status, String).label("status"),
            func.coalesce(PromiseToPay.created_by_id, NO_COLLECTOR).label("collector_key"),
            PromiseToPay.due_on.label("day"),
            literal(1).label("events"),
            PromiseToPay.amount_minor.label("amount_minor"),
            literal(0).label("outstanding_minor"),
        )
        .join(Case, Case.id == PromiseToPay.case_id)
        .where(PromiseToPay.status.in_(PROMISE_STATUSES))
    )
    plans = (
        select(
            PaymentPlan.tenant_id,
            Case.currency,
            literal_column("'plan'"),
            type_coerce(PaymentPlan.status, String),
            literal(NO_COLLECTOR),
            utc_day(sql_case((ended, PaymentPlan.ended_at), else_=PaymentPlan.created_at)),
            literal(1),
            PaymentPlan.total_minor,
            owed,
        )
        .join(Case, Case.id == PaymentPlan.case_id)
        .outerjoin(by_case, by_case.c.case_id == Case.id)
        .where(PaymentPlan.status.in_(PLAN_STATUSES))
    )
    requests = select(
        LegalRequest.tenant_id, Case.currency, literal_column("'legal'"),
        type_coerce(LegalRequest.status, String),
        literal(NO_COLLECTOR),
        utc_day(sql_case((decided, LegalRequest.decided_at), else_=LegalRequest.created_at)),
        literal(1),
        LegalRequest.court_fees_minor + LegalRequest.lawyer_fees_minor, owed,
    ).join(Case, Case.id == LegalRequest.case_id).outerjoin(
        by_case, by_case.c.case_id == Case.id
    )  # fmt: skip
    return union_all(promises, plans, requests).subquery()


def fill_totals(session: Session, model: type[Any]) -> None:
    """Write ``model``'s rows from the source rows (its table empty: a new database)."""
    table: Table = model.__table__
    columns = [*KEYS[model], *AMOUNTS[model]]
    session.execute(table.insert().from_select(columns, expected_totals(model)))


def _totals(session: Session, model: type[Any]) -> Iterator[Discrepancy]:
    """Each row of ``model`` against its sources; a row of zeros needs no source row."""
    width = len(KEYS[model])
    stored_columns = [getattr(model, name) for name in (*KEYS[model], *AMOUNTS[model])]
    stored = _by_key(session.execute(select(*stored_columns)), width)
    expected = _by_key(session.execute(expected_totals(model)), width)
    for key in sorted(stored.keys() | expected.keys(), key=lambda k: tuple(map(str, k))):
        zeros = (0,) * (len(stored_columns) - width)
        kept, computed = stored.get(key, zeros), expected.get(key, zeros)
        if kept != computed:
            names = ", ".join(AMOUNTS[model])
            where = ", ".join(str(value) for value in key)
            yield Discrepancy(f"{model.__tablename__} ({where}): {names}", kept, computed)


def _by_key(rows: Any, width: int) -> dict[tuple[Any, ...], tuple[int, ...]]:
    return {tuple(row[:width]): tuple(int(amount or 0) for amount in row[width:]) for row in rows}
