"""The case lists creditors and collectors read: filtered, with balances, in few queries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from babel.numbers import list_currencies
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy import case as sql_case
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session, joinedload, selectinload
from sqlalchemy.orm.util import AliasedClass
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from portal.db import utcnow
from portal.models import (
    Case,
    Debtor,
    Dispute,
    DisputeStatus,
    InvoiceCheck,
    LedgerEntry,
    PromiseStatus,
    PromiseToPay,
    Stage,
)
from portal.services import creditor_decisions
from portal.services.ledger import MONEY_IN_KINDS
from portal.services.money import minor_units

PAGE_SIZE = 50
COUNT_CAP = 10_000  # case lists count exactly up to here, then say "more than"
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
    """What a case list shows. ``None`` (or ``False``, or ``""``) leaves a criterion out.

    Amounts are in major units of each case's own currency (``100`` is EUR 100.00 on a
    euro case and JPY 100 on a yen case), as people type them over a mixed list. The age
    is counted in days from the oldest invoice's due date up to ``today`` (both ends
    included); the placement delay in days from that due date to the day of placement.
    The criteria after ``page`` are the ones the dashboards' figures link with, each
    built on the same SQL expression as the figure (see the end of this module).
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
    max_age_days: int | None = None
    currency: str | None = None
    open_only: bool = False
    paid_from: date | None = None  # a payment or a reversal valued in these days
    paid_to: date | None = None
    warning_sign: str | None = None  # a sign noted at placement; NO_SIGN: none at all
    min_delay_days: int | None = None
    max_delay_days: int | None = None
    dispute: str | None = None  # one of DISPUTE_FILTERS
    dispute_reason: str = ""  # as ``dispute_reason_key`` writes it
    debtor_key: str = ""  # as ``debtor_identity`` writes it
    awaiting_decision: bool = False  # something waits for the creditor's decision


@dataclass(frozen=True)
class CaseRow:
    """A case as the lists show it; what it owes is read from its money summaries
    (``Case.placed_minor`` and the rest), kept with its ledger."""

    case: Case
    check: InvoiceCheck | None = None  # for invoices handed over for an early check


@dataclass(frozen=True)
class CasePage:
    """A page of cases. Counting hundreds of thousands of cases exactly takes longer than
    anyone needs the figure for, so ``total`` is exact up to ``COUNT_CAP`` cases (or the
    cases up to the page shown, if further); past it ``capped`` is true and ``total`` is
    the cap: "more than 10,000"."""

    rows: list[CaseRow]
    total: int
    page: int
    capped: bool = False

    @property
    def pages(self) -> int:
        """The pages there are (when ``capped``: at least, and one more follows)."""
        return max(1, -(-self.total // PAGE_SIZE))

    @property
    def has_next(self) -> bool:
        return self.capped or self.page < self.pages


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


def _filtered(statement: Select[tuple[Case]], filters: CaseFilter) -> Select[tuple[Case]]:
    if filters.stage is not None:
        statement = statement.where(Case.stage == filters.stage)
    if filters.tenant_id is not None:
        statement = statement.where(Case.tenant_id == filters.tenant_id)
    statement = statement.where(*placed_between(filters.placed_from, filters.placed_to))
    if filters.currency:
        statement = statement.where(Case.currency == filters.currency)
    if filters.open_only:
        statement = statement.where(Case.stage != Stage.CLOSED)
    if filters.due_by is not None:
        statement = statement.where(
            Case.next_action_on <= filters.due_by, Case.stage.in_(OPEN_STAGES)
        )
    statement = _work_filtered(statement, filters)
    statement = _insight_filtered(statement, filters)
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
    if filters.min_outstanding is not None:
        statement = statement.where(
            Case.outstanding_minor >= _in_minor_units(filters.min_outstanding)
        )
    if filters.max_outstanding is not None:
        statement = statement.where(
            Case.outstanding_minor <= _in_minor_units(filters.max_outstanding)
        )
    today = filters.today or utcnow().date()
    if filters.min_age_days is not None:
        statement = statement.where(Case.oldest_due_on <= _days_before(today, filters.min_age_days))
    if filters.max_age_days is not None:
        statement = statement.where(Case.oldest_due_on >= _days_before(today, filters.max_age_days))
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


def _insight_filtered(statement: Select[tuple[Case]], filters: CaseFilter) -> Select[tuple[Case]]:
    """The criteria behind the dashboards' figures."""
    if filters.paid_from is not None or filters.paid_to is not None:
        money_in = [LedgerEntry.case_id == Case.id, LedgerEntry.kind.in_(MONEY_IN_KINDS)]
        if filters.paid_from is not None:
            money_in.append(LedgerEntry.value_date >= filters.paid_from)
        if filters.paid_to is not None:
            money_in.append(LedgerEntry.value_date <= filters.paid_to)
        statement = statement.where(exists().where(*money_in))
    if filters.warning_sign:
        statement = statement.where(has_warning_sign(filters.warning_sign))
    if filters.min_delay_days is not None:
        statement = statement.where(placement_delay() >= filters.min_delay_days)
    if filters.max_delay_days is not None:
        statement = statement.where(placement_delay() <= filters.max_delay_days)
    if filters.dispute or filters.dispute_reason:
        disputed = [Dispute.case_id == Case.id]
        if filters.dispute == UPHELD_IN_ANY_WAY:
            disputed.append(Dispute.status == DisputeStatus.UPHELD)
        elif filters.dispute in DISPUTE_OUTCOMES:
            disputed.append(dispute_outcome() == filters.dispute)
        if filters.dispute_reason:
            disputed.append(dispute_reason_key() == filters.dispute_reason)
        statement = statement.where(exists().where(*disputed))
    if filters.debtor_key:
        statement = statement.where(debtor_identity() == filters.debtor_key)
    if filters.awaiting_decision:
        statement = statement.where(creditor_decisions.awaiting_decision())
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
        return statement.order_by(Case.outstanding_minor.desc(), Case.id)
    return statement.order_by(Case.next_action_on.asc().nulls_last(), Case.priority.desc(), Case.id)


def _rows(session: Session, statement: Select[tuple[Case]]) -> list[CaseRow]:
    # The tenant by its own query: a page holds a few tenants at most, and joined to every
    # row each tenant's settings would be read and decoded once per case.
    statement = statement.options(joinedload(Case.debtor), selectinload(Case.tenant))
    cases = list(session.scalars(statement).unique())
    checks = {
        check.case_id: check
        for check in session.scalars(
            select(InvoiceCheck).where(InvoiceCheck.case_id.in_([case.id for case in cases]))
        )
    }
    return [CaseRow(case, checks.get(case.id)) for case in cases]


def _base(filters: CaseFilter) -> Select[tuple[Case]]:
    """The cases the filter matches, joined to their debtors only when a criterion or the
    order reads the debtor (the rows' debtors are loaded with them either way): the join
    makes PostgreSQL read every debtor of the tenant, where without it a page is read off
    an index in the list's order."""
    statement = select(Case)
    if filters.search.strip() or filters.sort == "debtor":
        statement = statement.join(Case.debtor)
    return _filtered(statement, filters)


def _capped_count(session: Session, base: Select[tuple[Case]], cap: int) -> int:
    """How many cases ``base`` matches, counting no further than ``cap + 1``."""
    counted = base.with_only_columns(Case.id).order_by(None).limit(cap + 1).subquery()
    return session.scalar(select(func.count()).select_from(counted)) or 0


def find_cases(session: Session, filters: CaseFilter) -> CasePage:
    """A page of the filter's cases and how many there are: exactly up to ``COUNT_CAP``
    (and always past the page shown), beyond that "more than" (``CasePage.capped``)."""
    base = _base(filters)
    page = max(1, filters.page)
    cap = max(COUNT_CAP, page * PAGE_SIZE)
    found = _capped_count(session, base, cap)
    skipped = (page - 1) * PAGE_SIZE
    # Counted first: a search that matches nothing (which reads every case) is read once.
    rows = []
    if found > skipped:
        rows = _rows(session, _sorted(base, filters.sort).limit(PAGE_SIZE).offset(skipped))
    return CasePage(rows, min(found, cap), page, capped=found > cap)


def all_cases(session: Session, filters: CaseFilter, chunk: int = 500) -> Iterator[CaseRow]:
    """Every case the filter matches, a chunk at a time (for exports of any size)."""
    base = _sorted(_base(filters), filters.sort)
    offset = 0
    while rows := _rows(session, base.limit(chunk).offset(offset)):
        yield from rows
        for row in rows:  # let the chunk go; tenants stay, the signed-in user holds one
            session.expunge(row.case.debtor)
            session.expunge(row.case)
        offset += chunk


# --- the SQL the dashboards' figures and the case lists behind them share ----------------
# A figure and the list it links to are computed with the same expression, so the list
# holds exactly the cases the figure counts. Everything here runs on SQLite and PostgreSQL.

NO_SIGN = "none"
# What became of a dispute: open, or the resolution it was decided with (the outcome text
# starts with the resolution's words, see ``disputes.resolve``).
DISPUTE_OUTCOMES = {
    "open": "Waiting for a decision",
    "adjust": "Upheld: the claim was reduced",
    "withdraw": "Upheld: the case was withdrawn",
    "reject": "Rejected: collection went on",
    "upheld": "Upheld",
}
_RESOLUTION_WORDS = {
    "adjust": "Upheld: reduce the claim",
    "withdraw": "Upheld: withdraw the case",
    "reject": "Rejected: collection goes on",
}
# The case list's ``dispute`` criterion: any dispute, upheld whatever the resolution, or an outcome.
UPHELD_IN_ANY_WAY = "upheld_any"
DISPUTE_FILTERS = frozenset({"any", UPHELD_IN_ANY_WAY, *DISPUTE_OUTCOMES})
REASON_KEY_LENGTH = 200


def _days_before(day: date, days: int) -> date:
    """``day`` less ``days``, or the first day there is when that would be before it."""
    return day - timedelta(days=days) if days <= (day - date.min).days else date.min


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def placed_between(
    first: date | None, last: date | None, case: type[Case] | AliasedClass[Case] = Case
) -> list[ColumnElement[bool]]:
    """Conditions on ``Case.placed_at`` (or an alias's): placed on ``first`` or later, on
    ``last`` or before (UTC days). Bounds are timestamps, so the index on ``placed_at``
    answers them."""
    found: list[ColumnElement[bool]] = []
    if first is not None:
        found.append(case.placed_at >= _start_of(first))
    if last is not None and last < date.max:
        found.append(case.placed_at < _start_of(last + timedelta(days=1)))
    return found


class placement_delay_days(FunctionElement[int]):
    """Whole days from a case's oldest due date to the UTC day it was placed."""

    type = Integer()
    name = "placement_delay_days"
    inherit_cache = True


@compiles(placement_delay_days)
def _delay_postgresql(element: placement_delay_days, compiler: SQLCompiler, **kw: Any) -> str:
    placed_at, due_on = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(({placed_at}) AT TIME ZONE 'UTC' AS DATE) - ({due_on}))"


@compiles(placement_delay_days, "sqlite")
def _delay_sqlite(element: placement_delay_days, compiler: SQLCompiler, **kw: Any) -> str:
    placed_at, due_on = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday(date({placed_at})) - julianday({due_on}) AS INTEGER)"


def placement_delay() -> ColumnElement[int]:
    """How long the account was past due when it was placed, in days (SQL)."""
    return placement_delay_days(Case.placed_at, Case.oldest_due_on)


def warning_signs_text() -> ColumnElement[str]:
    """``Case.warning_signs`` as its JSON text (``["a", "b"]``), which both databases can
    group and search: placement writes the list sorted, so equal sets give equal text."""
    return cast(Case.warning_signs, Text)


def has_warning_sign(sign: str) -> ColumnElement[bool]:
    if sign == NO_SIGN:
        return or_(Case.warning_signs.is_(None), warning_signs_text() == "[]")
    return warning_signs_text().contains(f'"{sign}"', autoescape=True)


def dispute_outcome() -> ColumnElement[str]:
    """A key of ``DISPUTE_OUTCOMES`` for each dispute (SQL)."""
    return sql_case(
        (Dispute.status == DisputeStatus.OPEN, "open"),
        *[
            (Dispute.outcome.startswith(words, autoescape=True), key)
            for key, words in _RESOLUTION_WORDS.items()
        ],
        else_="upheld",
    )


def dispute_reason_key() -> ColumnElement[str]:
    """A dispute's reason, trimmed and in lower case (its first 200 characters): reasons
    are written freely, so this is how the same reason given twice is counted together."""
    return func.lower(func.trim(func.substr(Dispute.reason, 1, REASON_KEY_LENGTH)))


def debtor_identity() -> QueryableAttribute[str]:
    """Who a case's debtor is across placements: the debtor's key, which placement copies
    onto the case (see ``portal.models.debtor.identity_key``: registration number, else a
    person's e-mail address, else the name; the prefix says which was used)."""
    return Case.debtor_key
