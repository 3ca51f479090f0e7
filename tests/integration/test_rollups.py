"""The dashboards' running totals move with every write that changes their sources: a
case placed or moved to another stage, a payment, a reversal, a settlement's write-off,
interest booked in bulk, a call logged, a promise kept or broken, a plan started and
broken, a legal request proposed and decided; a placement and a payment move the totals
per placement day and per debtor too. After each write the totals are read back
(as committed) and ``ledger_check.verify`` recomputes every one from its sources.

The moves are written when the session commits: a rolled-back transaction or savepoint
leaves no trace, and on PostgreSQL a transaction that has moved a total holds no lock on
it before committing. A total that drifted on purpose is named by the check."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from portal.db import utcnow
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
    Frequency,
    Lawyer,
    LedgerEntry,
    PlacementTotal,
    Role,
    Stage,
    Tenant,
    User,
)
from portal.services import (
    agency_report,
    case_work,
    invoice_checks,
    ledger,
    ledger_check,
    legal_requests,
    payment_plans,
    payments,
    personal_data,
    portfolio,
    promises,
    rollups,
    settlements,
    stages,
)
from portal.services.agency_report import AgencyFilter
from portal.services.case_work import CallOutcome
from portal.services.invoice_checks import Answer
from portal.services.legal_requests import Estimate
from portal.services.payment_plans import PlanChoice
from portal.services.placement import WarningSign, place_case
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant, make_user, placement_request

TODAY = utcnow().date()
NOON = datetime.combine(TODAY, time(10), UTC)


@pytest.fixture
def tenant(session: Session) -> Tenant:
    with unscoped(session):
        found = make_tenant(session, "acme")
        session.commit()
    return found


@pytest.fixture
def collector(session: Session) -> User:
    with unscoped(session):
        user = make_user(session, Role.COLLECTOR)
        session.commit()
    return user


@pytest.fixture
def work(session: Session, tenant: Tenant) -> Iterator[Session]:
    """The session, unscoped: the writes are the agency's and the tenant's at once."""
    with unscoped(session):
        yield session


def stage_totals(session: Session) -> dict[str, tuple[int, int]]:
    """Committed totals per stage (EUR): cases, outstanding; rows of zeros left out."""
    session.commit()
    rows = session.scalars(select(CaseStageTotal).where(CaseStageTotal.currency == "EUR"))
    return {row.stage.value: (row.cases, row.outstanding_minor) for row in rows if row.cases}


def event_totals(session: Session) -> dict[tuple[str, str, date], tuple[int, int, int]]:
    """Committed totals per kind, status and day: events, amount, outstanding (the month
    rows hold the same, checked by ``verified``)."""
    session.commit()
    rows = session.scalars(select(CaseEventTotal).where(CaseEventTotal.span == DAY))
    return {
        (row.source, row.status, row.day): (row.events, row.amount_minor, row.outstanding_minor)
        for row in rows
        if (row.events, row.amount_minor, row.outstanding_minor) != (0, 0, 0)
    }


def verified(session: Session) -> None:
    found = ledger_check.verify(session)
    assert found.discrepancies == []
    assert found.totals > 0


def pay(session: Session, case: Case, amount: int, key: str) -> None:
    payments.record_payment(
        session, case, amount_minor=amount, event_key=key, paid_on=TODAY, description=key
    )


# -- Cases per stage ----------------------------------------------------------------------------


def test_placement_and_stage_moves_carry_each_case_and_what_it_owes(work: Session) -> None:
    tenant = work.scalars(select(Tenant)).one()
    first = make_case(work, tenant, amounts=(100_000,))
    make_case(work, tenant, amounts=(30_000, 20_000))
    assert stage_totals(work) == {"placed": (2, 150_000)}
    stages.move(work, first, "send_reminder", actor_id=None, role=None)
    assert stage_totals(work) == {"placed": (1, 50_000), "amicable.reminder": (1, 100_000)}
    verified(work)


def test_payments_reversals_and_a_settlement_move_the_stage_they_are_in(work: Session) -> None:
    tenant = work.scalars(select(Tenant)).one()
    case = make_case(work, tenant, amounts=(125_000,))
    stages.move(work, case, "send_reminder", actor_id=None, role=None)
    pay(work, case, 25_000, "first")
    assert stage_totals(work) == {"amicable.reminder": (1, 100_000)}
    payments.reverse_payment(
        work, case, payment_event_key="first", amount_minor=5_000, event_key="back",
        why="Chargeback", today=TODAY,
    )  # fmt: skip
    assert stage_totals(work) == {"amicable.reminder": (1, 105_000)}
    settlements.propose(work, case, amount_minor=100_000, note="", actor_id=None)
    pay(work, case, 100_000, "settled")  # the rest is written off and the case closes
    assert work.get(Case, case.id).stage is Stage.CLOSED
    assert stage_totals(work) == {"closed": (1, 0)}
    verified(work)


def test_interest_booked_in_bulk_moves_its_cases(work: Session) -> None:
    """The dunning run's path: entries inserted together, summaries moved in one UPDATE."""
    tenant = work.scalars(select(Tenant)).one()
    cases = [make_case(work, tenant, amounts=(10_000,)) for _ in range(3)]
    entries = [
        {"tenant_id": tenant.id, "case_id": case.id, "kind": EntryKind.INTEREST,
         "amount_minor": 100 * (number + 1), "currency": "EUR", "value_date": TODAY,
         "description": "Interest", "event_key": f"interest-{case.id}"}
        for number, case in enumerate(cases)
    ]  # fmt: skip
    work.execute(insert(LedgerEntry), entries)
    ledger.add_to_summaries(work, entries)
    assert stage_totals(work) == {"placed": (3, 30_600)}
    verified(work)


def test_placements_and_payments_move_the_placement_and_debtor_totals(work: Session) -> None:
    """Why accounts go unpaid: cases per placement day, signs and delay, and per debtor."""
    tenant = work.scalars(select(Tenant)).one()
    signs = frozenset({WarningSign.FALLING_ORDERS})
    first = place_case(work, tenant, placement_request("Repeat GmbH", None, (40_000,),
                                                       warning_signs=signs))  # fmt: skip
    second = place_case(work, tenant, placement_request("Repeat GmbH", None, (10_000,)))
    pay(work, first, 15_000, "part")
    work.commit()
    debtors = [(row.debtor_key, row.cases, row.placed_minor, row.claimed_minor,
                row.collected_minor) for row in work.scalars(select(DebtorTotal))]  # fmt: skip
    assert debtors == [(first.debtor_key, 2, 50_000, 50_000, 15_000)]
    placed = {
        (row.signs, row.delay_bucket): (row.cases, row.placed_minor, row.collected_minor)
        for row in work.scalars(select(PlacementTotal).where(PlacementTotal.span == DAY))
    }
    delay = rollups.delay_bucket_of(TODAY, first.oldest_due_on)
    assert first.warning_signs == ["falling_orders", "over_90_days_past_due"]  # as placed
    assert placed == {
        (json.dumps(first.warning_signs), delay): (1, 40_000, 15_000),
        (json.dumps(second.warning_signs), delay): (1, 10_000, 0),
    }
    verified(work)


def test_a_creditors_headline_figures_are_the_sums_over_its_cases(
    session: Session, tenant: Tenant
) -> None:
    """The portfolio's figures come from the totals; here they are checked against the
    cases themselves, in two currencies, across stages, with a payment and a closed case,
    and with another creditor's cases kept out."""
    with unscoped(session):
        make_case(session, make_tenant(session, "other"), amounts=(999_000,))
        first = make_case(session, tenant, amounts=(100_000,))
        make_case(session, tenant, amounts=(30_000, 20_000))
        pounds = place_case(session, tenant, placement_request(None, None, (70_000,),
                                                                currency="GBP"))  # fmt: skip
        stages.move(session, first, "send_reminder", actor_id=None, role=None)
        pay(session, first, 25_000, "part")
        settlements.propose(session, pounds, amount_minor=60_000, note="", actor_id=None)
        pay(session, pounds, 60_000, "settled")  # the rest written off, the case closed
        session.commit()
    set_scope(session, TenantScope.only(tenant.id))

    found = portfolio.overview(session)
    expected = session.execute(
        select(Case.currency, func.sum(Case.placed_minor), func.sum(Case.collected_minor),
               func.sum(Case.claimed_minor - Case.collected_minor))
        .group_by(Case.currency).order_by(Case.currency)
    ).all()  # fmt: skip
    assert [(t.currency, t.placed, t.collected, t.outstanding) for t in found.totals] == [
        tuple(row) for row in expected
    ]
    assert [(t.currency, t.placed, t.collected) for t in found.totals] == [
        ("EUR", 150_000, 25_000), ("GBP", 70_000, 60_000)
    ]  # fmt: skip
    assert found.stages == {Stage.PLACED: 1, Stage.REMINDER: 1, Stage.CLOSED: 1}
    assert found.open_cases == 2


# -- Calls -----------------------------------------------------------------------------------


def test_calls_and_answered_checks_count_per_collector_and_day(
    work: Session, collector: User
) -> None:
    tenant = work.scalars(select(Tenant)).one()
    case = make_case(work, tenant)
    for outcome in (CallOutcome.SPOKE, CallOutcome.NO_ANSWER, CallOutcome.SPOKE):
        case_work.log_call(work, case, outcome=outcome, notes="", actor_id=collector.id, now=NOON)
    checked = place_case(work, tenant, placement_request(early_intervention=True))
    check = invoice_checks.check_of(work, checked)
    assert check is not None
    invoice_checks.record_answer(work, check, answer=Answer.CONFIRMED, expected_on=TODAY,
                                 reason="", actor_id=None, today=TODAY)  # fmt: skip
    work.commit()
    totals = {
        (row.span, row.day, row.collector_key): (row.calls, row.right_party)
        for row in work.scalars(select(CallTotal))
    }
    month = TODAY.replace(day=1)
    assert totals == {
        (DAY, TODAY, collector.id): (3, 2), (DAY, TODAY, NO_COLLECTOR): (1, 1),
        (MONTH, month, collector.id): (3, 2), (MONTH, month, NO_COLLECTOR): (1, 1),
    }  # fmt: skip
    verified(work)


def test_erasing_a_debtor_keeps_the_contacts_made_and_moves_its_debtor_total(
    app: Flask, work: Session, collector: User
) -> None:
    """Erasure blanks a call's outcome, not its summary: the contact made still counts
    (it used to drop out of the dashboard's contact rate), and the case now counts
    against the erased debtor's key."""
    tenant = work.scalars(select(Tenant)).one()
    case = make_case(work, tenant, debtor_name="Erased Soon GmbH")
    case_work.log_call(work, case, outcome=CallOutcome.SPOKE, notes="", actor_id=collector.id,
                       now=NOON)  # fmt: skip
    personal_data.erase(work, app.extensions["portal.storage"], case.debtor, actor_id=None)
    work.commit()
    assert work.get(Activity, _call_of(work, case)).outcome == personal_data.ERASED
    filters = AgencyFilter(TODAY, TODAY, "EUR", TODAY)
    contacts = agency_report.contacts_per_collector(work, filters)
    assert [(row.key, row.calls, row.right_party) for row in contacts] == [(collector.id, 1, 1)]
    keys = [row.debtor_key for row in work.scalars(select(DebtorTotal)) if row.cases]
    assert keys == [f"erased:{case.debtor_id}"]
    verified(work)


def _call_of(session: Session, case: Case) -> int:
    statement = select(Activity.id).where(
        Activity.case_id == case.id, Activity.kind == ActivityKind.CALL
    )
    return session.scalars(statement).one()


# -- Promises, plans and legal requests --------------------------------------------------------


def test_a_promise_counts_open_then_kept_or_broken_on_its_due_day(
    work: Session, collector: User
) -> None:
    tenant = work.scalars(select(Tenant)).one()
    kept_case, broken_case = make_case(work, tenant), make_case(work, tenant)
    due = TODAY + timedelta(days=3)
    for case in (kept_case, broken_case):
        promises.make_promise(work, case, amount_minor=10_000, due_on=due, actor_id=collector.id,
                              today=TODAY)  # fmt: skip
    assert event_totals(work) == {("promise", "open", due): (2, 20_000, 0)}
    pay(work, kept_case, 10_000, "kept")
    promises.mark_broken_promises(work, due + timedelta(days=1))
    assert event_totals(work) == {
        ("promise", "kept", due): (1, 10_000, 0),
        ("promise", "broken", due): (1, 10_000, 0),
    }
    keys = {row.collector_key for row in work.scalars(select(CaseEventTotal))}  # both spans
    assert keys == {collector.id}
    verified(work)


def test_a_plan_counts_while_it_runs_and_on_the_day_it_broke(work: Session) -> None:
    tenant = work.scalars(select(Tenant)).one()
    case = make_case(work, tenant, amounts=(100_000,))
    choice = PlanChoice(instalments=2, frequency=Frequency.MONTHLY, start_on=TODAY + timedelta(14))
    plan = payment_plans.propose(work, case, choice, TODAY)
    assert event_totals(work) == {}  # waiting for its first payment: not counted yet
    pay(work, case, plan.instalments[0].amount_minor, "first instalment")
    payment_plans.first_payment_made(work, plan, customer_ref="cus", payment_method_ref="pm")
    made = plan.created_at.date()
    assert event_totals(work) == {("plan", "active", made): (1, 100_000, 50_000)}
    pay(work, case, 1_000, "a little more")  # what the plan's case owes moves with its ledger
    assert event_totals(work) == {("plan", "active", made): (1, 100_000, 49_000)}
    payment_plans.break_plan(work, plan, TODAY, "Missed")
    assert event_totals(work) == {("plan", "broken", TODAY): (1, 100_000, 49_000)}
    verified(work)


def test_a_legal_request_counts_while_it_waits_and_on_the_day_it_was_decided(
    work: Session,
) -> None:
    tenant = work.scalars(select(Tenant)).one()
    legal, admin = make_user(work, Role.LEGAL), make_user(work, Role.AGENCY_ADMIN)
    lawyer = Lawyer(name="Dr. Weber", firm="Weber", email="weber@law.example")
    work.add(lawyer)
    case = make_case(work, tenant, amounts=(90_000,))
    for step in ("send_reminder", "send_demand"):
        stages.move(work, case, step, actor_id=None, role=None)
    request = legal_requests.propose(
        work, case, lawyer=lawyer, estimate=Estimate(10_000, 20_000, 0), note="",
        actor_id=legal.id, role=Role.LEGAL,
    )  # fmt: skip
    assert event_totals(work) == {("legal", "awaiting_creditor", TODAY): (1, 30_000, 90_000)}
    legal_requests.decide(work, request, approve=True, comment="", decline_outcome=None,
                          actor_id=admin.id)  # fmt: skip
    assert event_totals(work) == {("legal", "approved", TODAY): (1, 30_000, 90_000)}
    assert stage_totals(work) == {"legal.litigation": (1, 90_000)}
    verified(work)


# -- When the moves are written ------------------------------------------------------------------


def test_a_rolled_back_transaction_moves_nothing(work: Session) -> None:
    tenant = work.scalars(select(Tenant)).one()
    make_case(work, tenant)
    work.rollback()
    assert stage_totals(work) == {}


def test_a_rolled_back_savepoint_takes_only_its_own_moves(work: Session) -> None:
    tenant = work.scalars(select(Tenant)).one()
    kept = make_case(work, tenant, amounts=(10_000,))
    with pytest.raises(stages.StageError), work.begin_nested():
        make_case(work, tenant, amounts=(99_000,))
        stages.move(work, kept, "enforce", actor_id=None, role=None)  # refused: rolled back
    assert stage_totals(work) == {"placed": (1, 10_000)}
    verified(work)


# -- The check ------------------------------------------------------------------------------------


def test_verify_names_a_total_that_drifted(work: Session, collector: User) -> None:
    tenant = work.scalars(select(Tenant)).one()
    case = make_case(work, tenant, amounts=(10_000,))
    case_work.log_call(work, case, outcome=CallOutcome.SPOKE, notes="", actor_id=collector.id,
                       now=NOON)  # fmt: skip
    work.commit()
    verified(work)
    work.execute(update(CaseStageTotal).values(cases=CaseStageTotal.cases + 1))
    work.execute(update(CallTotal).where(CallTotal.span == DAY).values(right_party=0))
    found = [str(d) for d in ledger_check.verify(work).discrepancies]
    assert found == [
        f"case_stage_totals ({tenant.id}, EUR, placed): cases, outstanding_minor: "
        "stored (2, 10000), ledger says (1, 10000)",
        f"call_totals ({tenant.id}, {collector.id}, day, {TODAY}): calls, right_party: "
        "stored (1, 0), ledger says (1, 1)",
    ]


# -- Locks ----------------------------------------------------------------------------------------


def test_a_transaction_holds_no_lock_on_a_total_before_it_commits(
    race_engine: Engine, database_url: str
) -> None:
    """One worker has moved a case (not committed yet); another moves a case of the same
    tenant and stage and commits at once, without waiting for the first."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time, whatever the rows")
    with Session(race_engine) as setup, unscoped(setup):
        tenant = make_tenant(setup, f"race-{threading.get_ident()}")
        first, second = make_case(setup, tenant).id, make_case(setup, tenant).id
        tenant_id = tenant.id
        setup.commit()
    with Session(race_engine) as slow, unscoped(slow):
        stages.move(slow, slow.get(Case, first), "send_reminder", actor_id=None, role=None)
        slow.flush()
        finished = threading.Event()

        def other_worker() -> None:
            with Session(race_engine) as quick, unscoped(quick):
                stages.move(quick, quick.get(Case, second), "send_reminder", actor_id=None,
                            role=None)  # fmt: skip
                quick.commit()
            finished.set()

        thread = threading.Thread(target=other_worker)
        thread.start()
        assert finished.wait(timeout=5), "the second worker waited for the first"
        thread.join()
        slow.commit()
    with Session(race_engine) as check, unscoped(check):
        row = check.scalars(
            select(CaseStageTotal).where(
                CaseStageTotal.tenant_id == tenant_id, CaseStageTotal.stage == Stage.REMINDER
            )
        ).one()
        assert row.cases == 2
        assert ledger_check.verify(check).discrepancies == []
