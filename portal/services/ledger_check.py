"""Proving that every stored money figure equals the ledger it summarises.

The ledger is the single source of every balance. A few figures are stored beside it so
pages can add up rows of cases instead of every entry (the case summaries), or so a
document never changes once issued (remittance statements); ``verify`` recomputes each
from the entries and lists what differs. ``flask ledger verify`` runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import case as sql_case
from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from portal.models import (
    Case,
    EntryKind,
    Invoice,
    LedgerEntry,
    PaymentAllocation,
    RemittanceStatement,
    StatementLine,
)
from portal.services.ledger import CLAIMED_KINDS, MONEY_IN_KINDS


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
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies


def verify(session: Session) -> Verification:
    """Check every case summary, payment allocation and statement against the ledger
    (call it unscoped to check every tenant)."""
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
