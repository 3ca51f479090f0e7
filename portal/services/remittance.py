"""Remittance statements: per tenant and currency, what the agency collected, what it
keeps (commission, the legal costs the creditor bears, early-intervention fees) and the
net it pays over.

A statement takes every payment, refund, creditor-borne legal cost and earned check fee
dated up to its period's end that no earlier statement carried. Each of those can be on
one statement only (unique columns on ``statement_lines``), so whatever is booked after a
statement was issued, even with an earlier value date, lands on the next one: that is how
corrections reach the creditor. Statements are numbered per tenant without gaps and never
change once issued; their PDF and CSV are made from the stored rows alone, so they come
out the same every time.

Payments the debtor made straight to the creditor (``direct_payments``) earn commission
but were never in the agency's hands: their line collects nothing and charges the
commission only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal, select
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from portal.config import PROJECT_ROOT
from portal.db import utcnow
from portal.models import (
    Case,
    Debtor,
    EntryKind,
    InvoiceCheck,
    LedgerEntry,
    LegalCost,
    RemittanceStatement,
    StatementLine,
    StatementLineKind,
    Tenant,
)
from portal.services import audit, commission, direct_payments, legal_costs
from portal.services.ledger import MONEY_IN_KINDS
from portal.services.letters import Renderer
from portal.services.money import format_money, is_currency, to_decimal
from portal.services.spreadsheet import csv_lines

# The PDF layout (``statement.html`` with ``statement.css``), rendered without Flask.
PDF_TEMPLATES = PROJECT_ROOT / "templates" / "statements"
PDF_TEMPLATE = "statement.html"
DAY = "%d %b %Y"
CHECK_FEE_DESCRIPTION = "Invoice paid after our check, without collection"

KIND_LABELS = {
    StatementLineKind.PAYMENT: "Payment",
    StatementLineKind.REVERSAL: "Refund",
    StatementLineKind.LEGAL_COST: "Legal cost",
    StatementLineKind.CHECK_FEE: "Early-intervention fee",
}
KIND_ORDER = {kind: rank for rank, kind in enumerate(KIND_LABELS)}
CSV_COLUMNS = [
    "Statement", "Currency", "Period start", "Period end", "Agency reference",
    "Creditor reference", "Debtor", "Date", "Type", "Description",
    "Collected", "Commission", "Costs", "Net",
]  # fmt: skip


class StatementError(ValueError):
    """A statement that cannot be issued; the message says why, for the person asking."""


class StatementConflict(StatementError):
    """Another statement of the tenant was issued at the same moment; nothing was issued."""


@dataclass(frozen=True)
class Totals:
    collected_minor: int = 0
    commission_minor: int = 0
    costs_minor: int = 0

    @property
    def net_minor(self) -> int:
        return self.collected_minor - self.commission_minor - self.costs_minor


@dataclass(frozen=True)
class Line:
    """One line of a statement (issued or drafted), with the case it belongs to."""

    case_id: int
    agency_reference: str
    creditor_reference: str
    debtor_name: str
    kind: StatementLineKind
    value_date: date
    description: str
    collected_minor: int = 0
    commission_minor: int = 0
    costs_minor: int = 0
    ledger_entry_id: int | None = None
    legal_cost_id: int | None = None
    invoice_check_id: int | None = None

    @property
    def net_minor(self) -> int:
        return self.collected_minor - self.commission_minor - self.costs_minor

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


def _total(lines: Iterable[Line]) -> Totals:
    lines = list(lines)
    return Totals(
        collected_minor=sum(line.collected_minor for line in lines),
        commission_minor=sum(line.commission_minor for line in lines),
        costs_minor=sum(line.costs_minor for line in lines),
    )


@dataclass(frozen=True)
class Draft:
    """What a statement up to ``period_end`` would carry if it were issued now."""

    tenant_id: int
    currency: str
    period_start: date
    period_end: date
    lines: tuple[Line, ...]

    @property
    def totals(self) -> Totals:
        return _total(self.lines)


@dataclass(frozen=True)
class OpenPeriod:
    """The figures so far of the period no statement covers yet (no lines loaded)."""

    currency: str
    period_start: date | None  # None: nothing yet, and no statement before
    up_to: date
    line_count: int
    totals: Totals


# -- what is waiting for a statement ----------------------------------------------------

# The payment a refund undoes: whether the agency received that money is known from the
# payment's event key (a refund's own key says nothing about it).
_PAYMENT = aliased(LedgerEntry, name="undone_payment")
_PAYMENT_KEY = sql_case(
    (LedgerEntry.kind == EntryKind.REVERSAL, _PAYMENT.event_key), else_=LedgerEntry.event_key
)
CASE_COLUMNS = (Case.agency_reference, Case.creditor_reference, Debtor.name)


def _ledger_source(
    tenant_id: int, currency: str, up_to: date, *columns: Any, with_cases: bool = True
) -> Select[Any]:
    """Payments and refunds dated up to ``up_to`` that are on no statement yet.

    Their cases and debtors are joined only ``with_cases`` (for the lines' references,
    not for the sums): the entries carry their tenant, and the joins made PostgreSQL
    read every case and debtor of the tenant to add up a few thousand entries."""
    on_a_statement = exists().where(StatementLine.ledger_entry_id == LedgerEntry.id)
    statement = (
        select(*columns)
        .select_from(LedgerEntry)
        .outerjoin(_PAYMENT, _PAYMENT.id == LedgerEntry.reverses_entry_id)
    )
    if with_cases:
        statement = statement.join(Case, Case.id == LedgerEntry.case_id).join(
            Debtor, Debtor.id == Case.debtor_id
        )
    return statement.where(
        LedgerEntry.tenant_id == tenant_id,
        LedgerEntry.currency == currency,
        LedgerEntry.kind.in_(MONEY_IN_KINDS),
        LedgerEntry.value_date <= up_to,
        ~on_a_statement,
    )


def _cost_source(tenant_id: int, currency: str, up_to: date, *columns: Any) -> Select[Any]:
    """Creditor-borne legal costs incurred up to ``up_to`` that no statement recovered."""
    return (
        legal_costs.not_yet_remitted(tenant_id, currency, up_to)
        .with_only_columns(*columns)
        .select_from(LegalCost)
        .join(Case, Case.id == LegalCost.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
    )


def _check_source(tenant_id: int, currency: str, up_to: date, *columns: Any) -> Select[Any]:
    """Early-intervention fees earned up to ``up_to`` that no statement charged."""
    on_a_statement = exists().where(StatementLine.invoice_check_id == InvoiceCheck.id)
    return (
        select(*columns)
        .select_from(InvoiceCheck)
        .join(Case, Case.id == InvoiceCheck.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(
            InvoiceCheck.tenant_id == tenant_id,
            Case.currency == currency,
            InvoiceCheck.fee_minor.is_not(None),
            InvoiceCheck.fee_charged_on <= up_to,
            ~on_a_statement,
        )
    )


def _is_direct(payment_key: str | None) -> bool:
    return (payment_key or "").startswith(direct_payments.EVENT_KEY_PREFIX)


def _payment_description(entry: LedgerEntry, direct: bool) -> str:
    """The payment's own words, with the commission rate (and why it is more, if it is)."""
    rate_bp = entry.commission_bp or 0
    terms = f"commission {rate_bp / 100:.2f} %"
    if (entry.commission_minor or 0) > commission.commission_on(-entry.amount_minor, rate_bp):
        terms += ", topped up to the minimum fee"
    if direct:
        paid = format_money(-entry.amount_minor, entry.currency)
        terms = f"{paid} paid to you directly; {terms}"
    return f"{entry.description} ({terms})"[:300]


def _ledger_lines(session: Session, tenant_id: int, currency: str, up_to: date) -> list[Line]:
    statement = _ledger_source(tenant_id, currency, up_to, LedgerEntry, _PAYMENT_KEY, *CASE_COLUMNS)
    lines = []
    for entry, payment_key, agency_reference, creditor_reference, debtor in session.execute(
        statement
    ):
        direct, payment = _is_direct(payment_key), entry.kind is EntryKind.PAYMENT
        lines.append(
            Line(
                entry.case_id,
                agency_reference,
                creditor_reference,
                debtor,
                kind=StatementLineKind.PAYMENT if payment else StatementLineKind.REVERSAL,
                value_date=entry.value_date,
                description=_payment_description(entry, direct) if payment else entry.description,
                collected_minor=0 if direct else -entry.amount_minor,
                commission_minor=entry.commission_minor or 0,
                ledger_entry_id=entry.id,
            )
        )
    return lines


def _cost_lines(session: Session, tenant_id: int, currency: str, up_to: date) -> list[Line]:
    statement = _cost_source(tenant_id, currency, up_to, LegalCost, *CASE_COLUMNS)
    return [
        Line(
            cost.case_id,
            agency_reference,
            creditor_reference,
            debtor,
            kind=StatementLineKind.LEGAL_COST,
            value_date=cost.incurred_on,
            description=cost.description[:300],
            costs_minor=cost.amount_minor,
            legal_cost_id=cost.id,
        )
        for cost, agency_reference, creditor_reference, debtor in session.execute(statement)
    ]


def _check_lines(session: Session, tenant_id: int, currency: str, up_to: date) -> list[Line]:
    statement = _check_source(tenant_id, currency, up_to, InvoiceCheck, *CASE_COLUMNS)
    return [
        Line(
            check.case_id,
            agency_reference,
            creditor_reference,
            debtor,
            kind=StatementLineKind.CHECK_FEE,
            value_date=check.fee_charged_on,
            description=CHECK_FEE_DESCRIPTION,
            costs_minor=check.fee_minor or 0,
            invoice_check_id=check.id,
        )
        for check, agency_reference, creditor_reference, debtor in session.execute(statement)
    ]


def _line_order(line: Line) -> tuple[Any, ...]:
    source = line.ledger_entry_id or line.legal_cost_id or line.invoice_check_id or 0
    return line.agency_reference, line.value_date, KIND_ORDER[line.kind], source


def last_statement(session: Session, tenant_id: int, currency: str) -> RemittanceStatement | None:
    return session.scalars(
        select(RemittanceStatement)
        .where(RemittanceStatement.tenant_id == tenant_id, RemittanceStatement.currency == currency)
        .order_by(RemittanceStatement.period_end.desc())
        .limit(1)
    ).first()


def _start_after(previous: RemittanceStatement | None) -> date | None:
    return previous.period_end + timedelta(days=1) if previous is not None else None


def draft(session: Session, tenant: Tenant, currency: str, period_end: date) -> Draft:
    """The lines a statement up to ``period_end`` would carry, case by case.

    The period starts the day after the previous statement's end (the first statement:
    on the first of its end's month, or on its earliest line's day if that is earlier);
    lines dated before the start are corrections booked after the previous statement was
    issued.
    """
    found = [
        *_ledger_lines(session, tenant.id, currency, period_end),
        *_cost_lines(session, tenant.id, currency, period_end),
        *_check_lines(session, tenant.id, currency, period_end),
    ]
    lines = tuple(sorted(found, key=_line_order))
    start = _start_after(last_statement(session, tenant.id, currency))
    if start is None:
        start = min((line.value_date for line in lines), default=period_end)
        start = min(start, period_end.replace(day=1))
    return Draft(tenant.id, currency, start, period_end, lines)


def open_period(session: Session, tenant: Tenant, currency: str, up_to: date) -> OpenPeriod:
    """The figures of the period no statement covers yet, summed by the database."""
    nothing = literal(0)  # a column of zeros: where a source has no such money
    collected = sql_case(
        (_PAYMENT_KEY.startswith(direct_payments.EVENT_KEY_PREFIX, autoescape=True), 0),
        else_=-LedgerEntry.amount_minor,
    )
    sums = [
        session.execute(query).one()
        for query in (
            _ledger_source(
                tenant.id, currency, up_to, func.count(), func.min(LedgerEntry.value_date),
                func.sum(collected), func.sum(LedgerEntry.commission_minor), nothing,
                with_cases=False,
            ),
            _cost_source(
                tenant.id, currency, up_to, func.count(), func.min(LegalCost.incurred_on),
                nothing, nothing, func.sum(LegalCost.amount_minor),
            ),
            _check_source(
                tenant.id, currency, up_to, func.count(), func.min(InvoiceCheck.fee_charged_on),
                nothing, nothing, func.sum(InvoiceCheck.fee_minor),
            ),
        )
    ]  # fmt: skip
    start = _start_after(last_statement(session, tenant.id, currency))
    if start is None:
        earliest = min((row[1] for row in sums if row[1] is not None), default=None)
        start = None if earliest is None else min(earliest, up_to.replace(day=1))
    return OpenPeriod(
        currency=currency,
        period_start=start,
        up_to=up_to,
        line_count=sum(int(row[0]) for row in sums),
        totals=Totals(*(sum(int(row[column] or 0) for row in sums) for column in (2, 3, 4))),
    )


# -- issuing ----------------------------------------------------------------------------


def _refuse_unless_issuable(
    session: Session, tenant: Tenant, currency: str, period_end: date, today: date
) -> None:
    if not is_currency(currency):
        raise StatementError(f"{currency!r} is not a currency code.")
    if period_end > today:
        raise StatementError(
            f"A statement covers days that have passed: {period_end:{DAY}} is after today."
        )
    previous = last_statement(session, tenant.id, currency)
    if previous is not None and period_end <= previous.period_end:
        raise StatementError(
            f"Statement {previous.number} already covers {tenant.name}'s {currency} up to "
            f"{previous.period_end:{DAY}}; choose a later day."
        )


def _lock_tenant(session: Session, tenant: Tenant) -> None:
    """Hold the tenant's row until the transaction ends: its statements are issued one at a
    time (the unique constraints refuse whatever gets past this, e.g. on SQLite)."""
    session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())


def _number(session: Session, tenant: Tenant) -> tuple[int, str]:
    last = session.scalar(
        select(func.max(RemittanceStatement.sequence)).where(
            RemittanceStatement.tenant_id == tenant.id
        )
    )
    sequence = int(last or 0) + 1
    return sequence, f"{tenant.slug.upper()[:34]}-{sequence:04d}"  # fits String(40)


def _write(
    session: Session, tenant: Tenant, drafted: Draft, issued_by_id: int | None
) -> RemittanceStatement:
    sequence, number = _number(session, tenant)
    totals = drafted.totals
    statement = RemittanceStatement(
        tenant_id=tenant.id, sequence=sequence, number=number, currency=drafted.currency,
        period_start=drafted.period_start, period_end=drafted.period_end,
        collected_minor=totals.collected_minor, commission_minor=totals.commission_minor,
        costs_minor=totals.costs_minor, net_minor=totals.net_minor, issued_at=utcnow(),
        issued_by_id=issued_by_id,
    )  # fmt: skip
    for line in drafted.lines:
        StatementLine(
            statement=statement, tenant_id=tenant.id, case_id=line.case_id, kind=line.kind,
            value_date=line.value_date, description=line.description,
            ledger_entry_id=line.ledger_entry_id, legal_cost_id=line.legal_cost_id,
            invoice_check_id=line.invoice_check_id, collected_minor=line.collected_minor,
            commission_minor=line.commission_minor, costs_minor=line.costs_minor,
            net_minor=line.net_minor,
        )  # fmt: skip
    session.add(statement)
    session.flush()
    return statement


def issue(
    session: Session,
    tenant: Tenant,
    currency: str,
    period_end: date,
    issued_by_id: int | None,
    *,
    today: date | None = None,
) -> RemittanceStatement | None:
    """Issue the tenant's next statement in ``currency`` up to ``period_end``.

    None when there is nothing to put on it (an empty period gets no statement).
    ``StatementError`` for a day in the future or not after the last statement's end;
    ``StatementConflict`` when another statement of the tenant was issued at the same
    moment (nothing is issued then).
    """
    currency = currency.strip().upper()
    today = today or utcnow().date()
    _refuse_unless_issuable(session, tenant, currency, period_end, today)
    _lock_tenant(session, tenant)
    _refuse_unless_issuable(session, tenant, currency, period_end, today)  # after the wait
    drafted = draft(session, tenant, currency, period_end)
    if not drafted.lines:
        return None
    try:
        with session.begin_nested():
            statement = _write(session, tenant, drafted, issued_by_id)
    except IntegrityError:
        raise StatementConflict(
            f"Another statement for {tenant.name} was issued at the same moment; nothing was "
            "issued twice. Reload the page to see it."
        ) from None
    audit.record(
        session, "statement.issued", actor_id=issued_by_id, tenant_id=tenant.id,
        subject=statement, number=statement.number, net_minor=statement.net_minor,
    )  # fmt: skip
    session.flush()
    return statement


def month_end(day: date) -> date:
    """The last day of ``day``'s calendar month."""
    first_of_next = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_of_next - timedelta(days=1)


def previous_month_end(today: date) -> date:
    return today.replace(day=1) - timedelta(days=1)


def _tenant_currencies(session: Session, only: Tenant | None) -> Iterator[tuple[Tenant, str]]:
    """Every tenant with cases, with each currency its cases are in (by slug, currency)."""
    statement = select(Case.tenant_id, Case.currency).distinct()
    if only is not None:
        statement = statement.where(Case.tenant_id == only.id)
    pairs = session.execute(statement).tuples().all()
    tenants = {
        tenant.id: tenant
        for tenant in session.scalars(
            select(Tenant).where(Tenant.id.in_({tenant_id for tenant_id, _ in pairs}))
        )
    }
    for tenant_id, currency in sorted(pairs, key=lambda p: (tenants[p[0]].slug, p[1])):
        yield tenants[tenant_id], currency


def issue_monthly(
    session: Session, today: date, *, month: date | None = None, tenant: Tenant | None = None
) -> list[RemittanceStatement]:
    """Issue every tenant's statement per currency for a calendar month (by default the
    one before ``today``'s) where it is not issued yet: running it again issues nothing.

    ``month`` is any day of the month; ``tenant`` limits the run to one tenant.
    """
    period_end = month_end(month) if month is not None else previous_month_end(today)
    if period_end >= today:
        raise StatementError(f"{period_end:%B %Y} has not ended yet; nothing was issued.")
    issued = []
    for each, currency in _tenant_currencies(session, tenant):
        previous = last_statement(session, each.id, currency)
        if previous is not None and previous.period_end >= period_end:
            continue
        try:
            statement = issue(session, each, currency, period_end, None, today=today)
        except StatementConflict:
            continue  # issued at the same moment by someone else
        if statement is not None:
            issued.append(statement)
    return issued


# -- reading issued statements (from their stored rows only) ----------------------------


@dataclass(frozen=True)
class Listed:
    statement: RemittanceStatement
    tenant_name: str


def listing(session: Session, limit: int = 500) -> list[Listed]:
    """Issued statements the session may see, newest first."""
    rows = session.execute(
        select(RemittanceStatement, Tenant.name)
        .join(Tenant, Tenant.id == RemittanceStatement.tenant_id)
        .order_by(RemittanceStatement.issued_at.desc(), RemittanceStatement.id.desc())
        .limit(limit)
    )
    return [Listed(statement, name) for statement, name in rows]


def _case_currencies(*where: ColumnElement[bool]) -> Select[tuple[str]]:
    """The currencies of the cases of the tenants ``where`` picks, found by looking each
    one up in the index on (tenant, currency, ...): a DISTINCT would read every case,
    where this reads one index entry per tenant and currency (a recursive query: the
    first currency of each tenant, then the next one after it, and so on)."""
    first = (
        select(func.min(Case.currency))
        .where(Case.tenant_id == Tenant.id)
        .correlate(Tenant)
        .scalar_subquery()
    )
    found = (
        select(Tenant.id.label("tenant_id"), first.label("currency"))
        .where(*where)
        .cte("case_currencies", recursive=True)
    )
    following = (
        select(func.min(Case.currency))
        .where(Case.tenant_id == found.c.tenant_id, Case.currency > found.c.currency)
        .correlate(found)
        .scalar_subquery()
    )
    found = found.union_all(
        select(found.c.tenant_id, following).where(found.c.currency.is_not(None))
    )
    return select(found.c.currency).where(found.c.currency.is_not(None)).distinct()


def currencies_of(session: Session, tenant: Tenant) -> list[str]:
    """The currencies the tenant has cases or statements in (its own currency always)."""
    in_cases = _case_currencies(Tenant.id == tenant.id)
    on_statements = (
        select(RemittanceStatement.currency)
        .where(RemittanceStatement.tenant_id == tenant.id)
        .distinct()
    )
    found = {*session.scalars(in_cases), *session.scalars(on_statements), tenant.currency}
    return sorted(found)


def currencies_in_use(session: Session) -> list[str]:
    """Every currency of the tenants and cases the session may see."""
    found = {
        *session.scalars(_case_currencies()),
        *session.scalars(select(Tenant.currency).distinct()),
    }
    return sorted(found)


LINES_PER_PAGE = 200  # a statement's lines on one web page


def _issued_lines(statement: RemittanceStatement, page: int | None = None) -> Select[Any]:
    """The statement's lines with their cases' references, in order: all of them, or
    page ``page``, which is picked from the lines alone before the cases are joined (so
    a page of 200 lines looks up 200 cases, not the statement's ten thousand)."""
    lines = StatementLine.statement_id == statement.id
    if page is not None:
        on_page = (
            select(StatementLine.id)
            .where(lines)
            .order_by(StatementLine.id)
            .limit(LINES_PER_PAGE)
            .offset((page - 1) * LINES_PER_PAGE)
        )
        lines = StatementLine.id.in_(on_page.scalar_subquery())
    return (
        select(StatementLine, *CASE_COLUMNS)
        .join(Case, Case.id == StatementLine.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(lines)
        .order_by(StatementLine.id)
    )


def _issued_line(line: StatementLine, agency_reference: str, creditor_reference: str,
                 debtor: str) -> Line:  # fmt: skip
    return Line(
        line.case_id,
        agency_reference,
        creditor_reference,
        debtor,
        kind=line.kind,
        value_date=line.value_date,
        description=line.description,
        collected_minor=line.collected_minor,
        commission_minor=line.commission_minor,
        costs_minor=line.costs_minor,
        ledger_entry_id=line.ledger_entry_id,
        legal_cost_id=line.legal_cost_id,
        invoice_check_id=line.invoice_check_id,
    )


def lines_of(session: Session, statement: RemittanceStatement) -> list[Line]:
    """The statement's lines as they were issued, in their order (all of them)."""
    rows = session.execute(_issued_lines(statement))
    return [_issued_line(*row) for row in rows]


@dataclass(frozen=True)
class LinePage:
    """A page of a statement's lines (the web page shows a statement a page at a time:
    one can carry ten thousand lines; the PDF and the CSV carry them all)."""

    lines: list[Line]
    total: int  # lines on the whole statement
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // LINES_PER_PAGE))


def lines_page(session: Session, statement: RemittanceStatement, page: int) -> LinePage:
    """Page ``page`` (from 1) of the statement's lines and how many there are in all, in
    one query (a page past the last one is empty, and costs a count)."""
    page = max(1, page)
    counted = select(func.count()).where(StatementLine.statement_id == statement.id)
    statement_rows = _issued_lines(statement, page).add_columns(
        counted.scalar_subquery().label("total")
    )
    rows = session.execute(statement_rows).all()
    if rows:
        return LinePage([_issued_line(*row[:4]) for row in rows], int(rows[0].total), page)
    return LinePage([], (session.scalar(counted) or 0) if page > 1 else 0, page)


def totals_of(statement: RemittanceStatement) -> Totals:
    return Totals(statement.collected_minor, statement.commission_minor, statement.costs_minor)


def net_label(net_minor: int) -> str:
    return "Net due to you" if net_minor >= 0 else "Due from you"


def statement_csv(session: Session, statement: RemittanceStatement) -> str:
    """The statement as CSV: a row per line and a total row, the same text every time."""
    currency = statement.currency

    def amounts(collected: int, commission_minor: int, costs: int, net: int) -> list[object]:
        return [to_decimal(value, currency) for value in (collected, commission_minor, costs, net)]

    head = [
        statement.number, currency,
        statement.period_start.isoformat(), statement.period_end.isoformat(),
    ]  # fmt: skip
    rows: list[list[object]] = [
        [
            *head,
            line.agency_reference,
            line.creditor_reference,
            line.debtor_name,
            line.value_date.isoformat(),
            line.kind_label,
            line.description,
            *amounts(line.collected_minor, line.commission_minor, line.costs_minor, line.net_minor),
        ]
        for line in lines_of(session, statement)
    ]
    total = [
        *head, "", "", "", "", "Total", net_label(statement.net_minor),
        *amounts(statement.collected_minor, statement.commission_minor,
                 statement.costs_minor, statement.net_minor),
    ]  # fmt: skip
    return "".join(csv_lines(CSV_COLUMNS, [*rows, total]))


def statement_context(
    session: Session, statement: RemittanceStatement, agency_name: str
) -> dict[str, Any]:
    """What the PDF shows, as plain text values (the PDF layout has no filters)."""
    tenant = session.scalars(select(Tenant).where(Tenant.id == statement.tenant_id)).one()

    def money(amount_minor: int) -> str:
        return format_money(amount_minor, statement.currency)

    return {
        "agency_name": agency_name,
        "tenant": tenant.name,
        "number": statement.number,
        "currency": statement.currency,
        "period_start": statement.period_start.strftime(DAY),
        "period_end": statement.period_end.strftime(DAY),
        "issued_on": statement.issued_at.strftime(DAY),
        "lines": [
            {
                "agency_reference": line.agency_reference,
                "creditor_reference": line.creditor_reference,
                "debtor": line.debtor_name,
                "date": line.value_date.strftime(DAY),
                "correction": line.value_date < statement.period_start,
                "kind": line.kind_label,
                "description": line.description,
                "collected": money(line.collected_minor),
                "commission": money(line.commission_minor),
                "costs": money(line.costs_minor),
                "net": money(line.net_minor),
            }
            for line in lines_of(session, statement)
        ],
        "totals": {
            "collected": money(statement.collected_minor),
            "commission": money(statement.commission_minor),
            "costs": money(statement.costs_minor),
            "net": money(statement.net_minor),
        },
        "net_label": net_label(statement.net_minor),
        "net_due": money(abs(statement.net_minor)),
    }


def statement_pdf(
    session: Session, statement: RemittanceStatement, renderer: Renderer, agency_name: str
) -> bytes:
    """The PDF, from ``renderer`` reading ``PDF_TEMPLATES``."""
    context = statement_context(session, statement, agency_name)
    return renderer.pdf(renderer.render_html(PDF_TEMPLATE, context))


def filename(statement: RemittanceStatement, extension: str) -> str:
    return f"remittance-{statement.number}.{extension}"
