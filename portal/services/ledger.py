"""Booking money on a case and deriving balances from the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from portal.models import Case, EntryKind, LedgerEntry

# The sign each kind of entry must carry: what is owed is positive, what pays it negative.
SIGN_RULES = {
    EntryKind.PRINCIPAL: 1,
    EntryKind.INTEREST: 1,
    EntryKind.FEE: 1,
    EntryKind.PAYMENT: -1,
    EntryKind.REVERSAL: 1,
}


class LedgerError(ValueError):
    pass


@dataclass(frozen=True)
class Balance:
    """What a case owes, split the way a debtor and a creditor read it."""

    currency: str
    principal: int = 0
    interest: int = 0
    fees: int = 0
    paid: int = 0  # payments less what was given back (refunds, chargebacks)
    adjustments: int = 0

    @property
    def total_claimed(self) -> int:
        return self.principal + self.interest + self.fees + self.adjustments

    @property
    def outstanding(self) -> int:
        return self.total_claimed - self.paid


def book(
    session: Session,
    case: Case,
    kind: EntryKind,
    amount_minor: int,
    *,
    value_date: date,
    description: str,
    invoice_id: int | None = None,
    event_key: str | None = None,
    created_by_id: int | None = None,
    commission_bp: int | None = None,
    commission_minor: int | None = None,
    reverses_entry_id: int | None = None,
) -> LedgerEntry:
    """Append one entry. With an ``event_key`` the same money event is booked only once:
    a repeat returns the entry already booked."""
    sign = SIGN_RULES.get(kind)
    if amount_minor == 0 or (sign is not None and amount_minor * sign < 0):
        raise LedgerError(f"a {kind.value} entry cannot be {amount_minor}")
    if event_key is not None and (existing := find_event(session, event_key)) is not None:
        return existing
    entry = LedgerEntry(
        tenant_id=case.tenant_id,
        case_id=case.id,
        invoice_id=invoice_id,
        kind=kind,
        amount_minor=amount_minor,
        currency=case.currency,
        value_date=value_date,
        description=description,
        event_key=event_key,
        created_by_id=created_by_id,
        commission_bp=commission_bp,
        commission_minor=commission_minor,
        reverses_entry_id=reverses_entry_id,
    )
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError:
        # Another request booked the same event between our check and our insert.
        existing = find_event(session, event_key) if event_key else None
        if existing is None:
            raise
        return existing
    return entry


def find_event(session: Session, event_key: str) -> LedgerEntry | None:
    """The entry already booked for this money event, if any."""
    return session.scalar(select(LedgerEntry).where(LedgerEntry.event_key == event_key))


def lock_case(session: Session, case: Case) -> None:
    """Hold the case's row until the transaction ends, so money on it changes one at a time."""
    session.execute(select(Case.id).where(Case.id == case.id).with_for_update())


def _sum_of(kind: EntryKind) -> ColumnElement[int]:
    amount = sql_case((LedgerEntry.kind == kind, LedgerEntry.amount_minor), else_=0)
    return func.coalesce(func.sum(amount), 0)


def balances(session: Session, cases: Iterable[Case]) -> dict[int, Balance]:
    """Balances of many cases in one query (no query per case)."""
    by_id = {case.id: case for case in cases}
    if not by_id:
        return {}
    statement = (
        select(
            LedgerEntry.case_id,
            _sum_of(EntryKind.PRINCIPAL),
            _sum_of(EntryKind.INTEREST),
            _sum_of(EntryKind.FEE),
            _sum_of(EntryKind.PAYMENT),
            _sum_of(EntryKind.ADJUSTMENT),
            _sum_of(EntryKind.REVERSAL),
        )
        .where(LedgerEntry.case_id.in_(by_id))
        .group_by(LedgerEntry.case_id)
    )
    found = {
        case_id: Balance(
            by_id[case_id].currency, int(p), int(i), int(f), -int(pay) - int(rev), int(adj)
        )
        for case_id, p, i, f, pay, adj, rev in session.execute(statement)
    }
    return {case_id: found.get(case_id, Balance(case.currency)) for case_id, case in by_id.items()}


def balance(session: Session, case: Case) -> Balance:
    return balances(session, [case])[case.id]
