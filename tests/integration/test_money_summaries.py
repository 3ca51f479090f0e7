"""The money summaries kept on each case equal its ledger, whichever path booked the
money; ``flask ledger verify`` proves it and names what differs; the minimum fee."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from portal import jobs
from portal.adapters.mail import OutboxMailer
from portal.models import Case, EntryKind, LedgerEntry, PaymentAllocation, Role, Stage, Tenant
from portal.services import dunning, ledger, ledger_check, payments
from portal.services.placement import place_case
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant, make_user, placement_request
from tests.race_support import race

TODAY = date(2026, 11, 23)


@pytest.fixture
def tenant(session: Session) -> Tenant:
    set_scope(session, TenantScope.every_tenant())
    return make_tenant(session)


def pay(session: Session, case: Case, amount: int, key: str) -> LedgerEntry:
    return payments.record_payment(
        session, case, amount_minor=amount, event_key=key, paid_on=TODAY, description="Transfer"
    ).entry


def summaries(session: Session, case: Case) -> tuple[int, int, int, date | None]:
    session.refresh(case)
    return case.placed_minor, case.claimed_minor, case.collected_minor, case.oldest_due_on


def verified(session: Session) -> ledger_check.Verification:
    with unscoped(session):
        return ledger_check.verify(session)


def test_placement_sums_the_invoices_and_notes_the_oldest_due_date(
    session: Session, tenant: Tenant
) -> None:
    request = placement_request(amounts=(100_000, 25_050))
    case = place_case(session, tenant, request, today=TODAY)
    assert summaries(session, case) == (125_050, 125_050, 0, date(2026, 2, 10))
    assert case.outstanding_minor == 125_050
    assert verified(session).ok


def test_every_kind_of_entry_moves_the_summaries(session: Session, tenant: Tenant) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    ledger.book(session, case, EntryKind.INTEREST, 1_234, value_date=TODAY, description="Interest")
    ledger.book(session, case, EntryKind.FEE, 4_000, value_date=TODAY, description="Compensation")
    ledger.book(session, case, EntryKind.ADJUSTMENT, -284, value_date=TODAY, description="Credit")
    pay(session, case, 50_000, "pay-1")
    payments.reverse_payment(
        session, case, payment_event_key="pay-1", amount_minor=20_000, event_key="refund-1",
        why="Refund", today=TODAY,
    )  # fmt: skip
    claimed = 100_000 + 1_234 + 4_000 - 284
    assert summaries(session, case) == (100_000, claimed, 30_000, date(2026, 2, 10))
    assert case.outstanding_minor == ledger.balance(session, case).outstanding == claimed - 30_000
    assert verified(session).ok


def test_a_repeated_event_moves_the_summaries_once(session: Session, tenant: Tenant) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    pay(session, case, 10_000, "same-transfer")
    pay(session, case, 10_000, "same-transfer")
    assert summaries(session, case)[2] == 10_000


def test_interest_booked_in_bulk_by_the_daily_run_moves_the_summaries(
    app: Flask, session: Session, tenant: Tenant
) -> None:
    case_id = place_case(session, tenant, placement_request(), today=date(2026, 3, 1)).id
    dunning.run_due(
        session, today=date(2026, 5, 1), mailer=OutboxMailer(), file_letter=jobs.file_letter,
        now=datetime(2026, 5, 1, 10, tzinfo=UTC),
    )  # fmt: skip
    with unscoped(session):
        case = session.get_one(Case, case_id)
        owed = ledger.balance(session, case)
        assert owed.interest > 0 and owed.fees == 4_000  # the EUR 40 compensation
        assert summaries(session, case)[:3] == (125_000, 125_000 + owed.interest + 4_000, 0)
    assert verified(session).ok


def test_payments_credit_the_collector_assigned_when_the_money_came_in(
    session: Session, tenant: Tenant
) -> None:
    carla, colin = make_user(session, Role.COLLECTOR), make_user(session, Role.COLLECTOR)
    case = make_case(session, tenant, amounts=(100_000,))
    case.assigned_collector_id = carla.id
    first = pay(session, case, 10_000, "pay-carla")
    case.assigned_collector_id = colin.id
    second = pay(session, case, 5_000, "pay-colin")
    back = payments.reverse_payment(
        session, case, payment_event_key="pay-carla", amount_minor=10_000, event_key="chargeback",
        why="Chargeback", today=TODAY,
    )  # fmt: skip
    assert back is not None
    assert (first.collector_id, second.collector_id, back.collector_id) == (
        carla.id, colin.id, carla.id)  # fmt: skip


# -- the check --------------------------------------------------------------------------------


def test_verify_names_a_summary_that_drifted_from_the_ledger(
    session: Session, tenant: Tenant
) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    pay(session, case, 10_000, "pay-1")
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(collected_minor=Case.collected_minor + 1, oldest_due_on=date(2026, 1, 1))
    )
    found = verified(session)
    assert [str(d) for d in found.discrepancies] == [
        f"case {case.agency_reference}: collected: stored 10001, ledger says 10000",
        f"case {case.agency_reference}: oldest due date: stored 2026-01-01, ledger says 2026-02-10",
    ]


def test_verify_finds_a_payment_whose_allocations_do_not_add_up(
    session: Session, tenant: Tenant
) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    entry = pay(session, case, 10_000, "pay-1")
    extra = PaymentAllocation(
        tenant_id=tenant.id, ledger_entry_id=entry.id, case_id=case.id,
        part=entry.allocations[0].part, amount_minor=1,
    )  # fmt: skip
    session.add(extra)
    session.flush()
    assert [str(d) for d in verified(session).discrepancies] == [
        f"ledger entry {entry.id}: allocated: stored 10001, ledger says 10000"
    ]


def test_the_command_says_all_is_well_or_lists_what_differs(
    app: Flask, session: Session, tenant: Tenant
) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    pay(session, case, 10_000, "pay-1")
    session.commit()  # the command ends the session it runs in
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "every stored figure equals the ledger" in result.output
    with unscoped(session):  # a new session, with no scope yet
        session.execute(update(Case).where(Case.id == case.id).values(claimed_minor=1))
        session.commit()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert f"case {case.agency_reference}: claimed: stored 1, ledger says 100000" in result.output


# -- the minimum fee --------------------------------------------------------------------------


@pytest.fixture
def minimum_fee_tenant(tenant: Tenant) -> Tenant:
    tenant.commission_amicable_bp, tenant.commission_minimum_fee_minor = 1_500, 5_000
    return tenant


def test_the_first_money_in_pays_the_minimum_fee_then_the_rate_applies(
    session: Session, minimum_fee_tenant: Tenant
) -> None:
    case = make_case(session, minimum_fee_tenant, amounts=(100_000,))
    small = pay(session, case, 2_000, "pay-1")  # 15 % is 300; all 2,000 go to the fee
    middle = pay(session, case, 10_000, "pay-2")  # 1,500 at the rate, 3,000 still lacking
    later = pay(session, case, 10_000, "pay-3")  # the fee is earned: the rate alone
    assert [small.commission_minor, middle.commission_minor, later.commission_minor] == [
        2_000, 3_000, 1_500]  # fmt: skip
    assert all(e.commission_bp == 1_500 for e in (small, middle, later))


def test_a_payment_at_the_rate_above_the_minimum_fee_is_not_topped_up(
    session: Session, minimum_fee_tenant: Tenant
) -> None:
    case = make_case(session, minimum_fee_tenant, amounts=(100_000,))
    assert pay(session, case, 40_000, "pay-1").commission_minor == 6_000


def test_a_refund_gives_back_the_fee_in_proportion_and_the_next_payment_earns_it_again(
    session: Session, minimum_fee_tenant: Tenant
) -> None:
    case = make_case(session, minimum_fee_tenant, amounts=(100_000,))
    pay(session, case, 10_000, "pay-1")  # 5,000: the minimum fee
    back = payments.reverse_payment(
        session, case, payment_event_key="pay-1", amount_minor=4_000, event_key="refund-1",
        why="Refund", today=TODAY,
    )  # fmt: skip
    assert back is not None and back.commission_minor == -2_000  # 4/10 of 5,000
    rest = payments.reverse_payment(
        session, case, payment_event_key="pay-1", amount_minor=6_000, event_key="refund-2",
        why="Refund", today=TODAY,
    )  # fmt: skip
    assert rest is not None and rest.commission_minor == -3_000  # all of it is back
    assert pay(session, case, 10_000, "pay-2").commission_minor == 5_000


def test_an_invoice_check_pays_its_fixed_fee_not_the_minimum(
    session: Session, minimum_fee_tenant: Tenant
) -> None:
    request = placement_request(amounts=(30_000,), early_intervention=True)
    case = place_case(session, minimum_fee_tenant, request, today=TODAY)
    assert case.stage is Stage.CHECK
    assert pay(session, case, 30_000, "pay-1").commission_minor == 0


# -- two payments at the same moment -----------------------------------------------------------


def test_two_payments_at_once_both_reach_the_summary(race_engine: Engine) -> None:
    """Each in its own transaction, released together: neither amount is lost."""
    with Session(race_engine, expire_on_commit=False) as setup, unscoped(setup):
        case_id = make_case(setup, make_tenant(setup), amounts=(100_000,)).id
        setup.commit()
    errors = race(
        race_engine,
        *(lambda own, key=key: pay(own, own.get_one(Case, case_id), 30_000, key) for key in "ab"),
    )
    assert errors == []
    with Session(race_engine) as check, unscoped(check):
        assert check.get_one(Case, case_id).collected_minor == 60_000
        assert ledger_check.verify(check).ok
