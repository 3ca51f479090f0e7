"""Booking money on a case and deriving balances from the ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from portal.models import Case, EntryKind, LedgerEntry
from portal.services import rollups

# The sign each kind of entry must carry: what is owed is positive, what pays it negative.
SIGN_RULES = {
    EntryKind.PRINCIPAL: 1,
    EntryKind.INTEREST: 1,
    EntryKind.FEE: 1,
    EntryKind.PAYMENT: -1,
    EntryKind.REVERSAL: 1,
}


# How an entry of each kind moves the case's stored summaries (see Case.placed_minor):
# the column and the sign it adds the entry's amount with.
SUMMARY_EFFECTS: dict[EntryKind, tuple[tuple[str, int], ...]] = {
    EntryKind.PRINCIPAL: (("placed_minor", 1), ("claimed_minor", 1)),
    EntryKind.INTEREST: (("claimed_minor", 1),),
    EntryKind.FEE: (("claimed_minor", 1),),
    EntryKind.ADJUSTMENT: (("claimed_minor", 1),),
    EntryKind.PAYMENT: (("collected_minor", -1),),
    EntryKind.REVERSAL: (("collected_minor", -1),),
}


SUMMARY_COLUMNS = ("placed_minor", "claimed_minor", "collected_minor")
# What makes up the claim, and the money that came in (payments less what was given back).
CLAIMED_KINDS = (EntryKind.PRINCIPAL, EntryKind.INTEREST, EntryKind.FEE, EntryKind.ADJUSTMENT)
MONEY_IN_KINDS = (EntryKind.PAYMENT, EntryKind.REVERSAL)


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
    collector_id: int | None = None,
) -> LedgerEntry:
    """Append one entry and move the case's summaries with it. With an ``event_key`` the
    same money event is booked only once: a repeat returns the entry already booked."""
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
        collector_id=collector_id,
    )
    try:
        with session.begin_nested():
            session.add(entry)
            _move_summaries(case, kind, amount_minor)
            session.flush()
    except IntegrityError:
        # Another request booked the same event between our check and our insert.
        existing = find_event(session, event_key) if event_key else None
        if existing is None:
            raise
        return existing
    rollups.entry_booked(session, entry, {c: s * amount_minor for c, s in SUMMARY_EFFECTS[kind]})
    return entry


def _move_summaries(case: Case, kind: EntryKind, amount_minor: int) -> None:
    """Add the entry to the case's summaries in SQL (``x = x + amount``), so two
    transactions booking on the same case never lose each other's amounts."""
    for column, sign in SUMMARY_EFFECTS[kind]:
        setattr(case, column, getattr(Case, column) + sign * amount_minor)


def add_to_summaries(session: Session, entries: list[dict[str, Any]]) -> None:
    """Move the case summaries for entries inserted in bulk (``insert(LedgerEntry)``):
    one UPDATE executed for all the cases touched."""
    deltas: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SUMMARY_COLUMNS, 0))
    for entry in entries:
        for column, sign in SUMMARY_EFFECTS[EntryKind(entry["kind"])]:
            deltas[entry["case_id"]][column] += sign * entry["amount_minor"]
    if not deltas:
        return
    table = cast(Table, Case.__table__)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("case_key"))
        .values({column: table.c[column] + bindparam(column) for column in SUMMARY_COLUMNS}),
        [{"case_key": case_id, **moved} for case_id, moved in deltas.items()],
    )
    rollups.money_moved(session, deltas)
    for case in session.identity_map.values():
        if isinstance(case, Case) and case.id in deltas:
            session.expire(case, list(SUMMARY_COLUMNS))


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
