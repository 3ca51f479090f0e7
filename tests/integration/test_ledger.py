"""Balances come from the append-only ledger; money events are booked once."""

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Activity, AppendOnlyError, AuditEntry, EntryKind, LedgerEntry
from portal.services import ledger
from portal.services.ledger import LedgerError
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant
from tests.querycount import counted_queries

TODAY = date(2026, 11, 23)


@pytest.fixture
def case(session: Session):
    set_scope(session, TenantScope.every_tenant())
    tenant = make_tenant(session, currency="EUR")
    return make_case(session, tenant, amounts=(100_000, 25_050))


def test_balance_is_derived_from_entries(session: Session, case) -> None:
    ledger.book(session, case, EntryKind.INTEREST, 1_234, value_date=TODAY, description="Interest")
    ledger.book(session, case, EntryKind.FEE, 4_000, value_date=TODAY, description="Compensation")
    ledger.book(session, case, EntryKind.PAYMENT, -50_000, value_date=TODAY, description="Paid")
    ledger.book(session, case, EntryKind.ADJUSTMENT, -284, value_date=TODAY, description="Rounding")
    balance = ledger.balance(session, case)
    assert (balance.principal, balance.interest, balance.fees) == (125_050, 1_234, 4_000)
    assert (balance.paid, balance.adjustments) == (50_000, -284)
    assert balance.outstanding == 125_050 + 1_234 + 4_000 - 284 - 50_000


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        (EntryKind.PAYMENT, 500),
        (EntryKind.PRINCIPAL, -500),
        (EntryKind.FEE, -1),
        (EntryKind.ADJUSTMENT, 0),
    ],
)
def test_entries_with_the_wrong_sign_are_refused(session: Session, case, kind, amount) -> None:
    before = session.scalars(select(LedgerEntry.id)).all()
    with pytest.raises(LedgerError):
        ledger.book(session, case, kind, amount, value_date=TODAY, description="bad")
    assert session.scalars(select(LedgerEntry.id)).all() == before


def test_the_same_event_is_booked_once(session: Session, case) -> None:
    def card_payment() -> LedgerEntry:
        return ledger.book(
            session,
            case,
            EntryKind.PAYMENT,
            -700,
            value_date=TODAY,
            description="Card",
            event_key="evt_123",
        )

    first, again = card_payment(), card_payment()
    assert again.id == first.id
    assert ledger.balance(session, case).paid == 700


def test_a_racing_duplicate_is_caught_by_the_unique_key(session: Session, case) -> None:
    """Two requests pass the look-up together: the database's unique key stops the second."""
    winner = LedgerEntry(
        tenant_id=case.tenant_id,
        case_id=case.id,
        kind=EntryKind.PAYMENT,
        amount_minor=-900,
        currency="EUR",
        value_date=TODAY,
        description="first",
        event_key="evt_race",
    )
    session.add(winner)
    session.flush()
    original_scalar = session.scalar
    calls = {"n": 0}

    def miss_first_lookup(statement, *args, **kwargs):
        calls["n"] += 1
        return None if calls["n"] == 1 else original_scalar(statement, *args, **kwargs)

    session.scalar = miss_first_lookup  # the other request has not committed when we look
    try:
        booked = ledger.book(
            session,
            case,
            EntryKind.PAYMENT,
            -900,
            value_date=TODAY,
            description="second",
            event_key="evt_race",
        )
    finally:
        del session.scalar
    assert booked.id == winner.id
    assert ledger.balance(session, case).paid == 900


def test_balances_of_many_cases_take_one_query(session: Session, case) -> None:
    tenant = case.tenant
    cases = [case] + [make_case(session, tenant) for _ in range(9)]
    session.flush()
    with counted_queries(session.get_bind()) as statements:
        sums = ledger.balances(session, cases)
    assert len(statements) == 1
    assert sums[case.id].principal == 125_050
    assert all(sums[c.id].outstanding == 125_000 for c in cases[1:])


@pytest.mark.parametrize("model", [LedgerEntry, Activity, AuditEntry])
def test_append_only_rows_cannot_change_or_go(session: Session, case, model) -> None:
    with unscoped(session):
        row = session.scalars(select(model)).first()
    assert row is not None
    field = {"LedgerEntry": "description", "Activity": "summary", "AuditEntry": "action"}
    with pytest.raises(AppendOnlyError, match="never changed"), session.begin_nested():
        setattr(row, field[model.__name__], "rewritten")
        session.flush()
    with pytest.raises(AppendOnlyError, match="never deleted"), session.begin_nested():
        session.delete(row)
        session.flush()
    with unscoped(session):
        assert getattr(session.get(model, row.id), field[model.__name__]) != "rewritten"
