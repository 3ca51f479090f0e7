"""The daily dunning run: cadence steps, interest once per period, promises, idempotency."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import jobs
from portal.adapters.mail import OutboxMailer
from portal.models import (
    Activity,
    ActivityKind,
    AuditEntry,
    Case,
    DebtorKind,
    EntryKind,
    HoldReason,
    LedgerEntry,
    OutboxMessage,
    PromiseStatus,
    PromiseToPay,
    Stage,
    Tenant,
)
from portal.services import dunning, interest, ledger, stages
from portal.services.placement import DebtorDetails, place_case
from tenants.scoping import unscoped
from tests.factories import make_tenant, placement_request

PLACED = date(2026, 3, 1)
DUE = date(2026, 2, 10)  # the factories' invoice due date
PRINCIPAL = 125_000


def place(session: Session, tenant: Tenant, **fields: object) -> int:
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    request = placement_request(**fields)  # type: ignore[arg-type]
    return place_case(session, tenant, request, today=PLACED, placed_at=when).id


def run(session: Session, day: date, batch_size: int = 500, hour: int = 10) -> dunning.RunReport:
    """The run for ``day`` at ``hour`` o'clock UTC (inside the default contact hours)."""
    now = datetime.combine(day, time(hour), tzinfo=UTC)
    return dunning.run_due(
        session,
        today=day,
        mailer=OutboxMailer(),
        file_letter=jobs.file_letter,  # filed at once, as the inline job queue would
        now=now,
        batch_size=batch_size,
    )


def fetch(session: Session, case_id: int) -> Case:
    with unscoped(session):
        session.expire_all()
        found = session.get(Case, case_id)
        assert found is not None
        return found


def counts(session: Session) -> tuple[int, ...]:
    with unscoped(session):
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (LedgerEntry, Activity, AuditEntry, OutboxMessage)
        )


def interest_entries(session: Session, case_id: int) -> list[LedgerEntry]:
    with unscoped(session):
        statement = (
            select(LedgerEntry)
            .where(LedgerEntry.case_id == case_id, LedgerEntry.kind == EntryKind.INTEREST)
            .order_by(LedgerEntry.id)
        )
        return list(session.scalars(statement))


@pytest.fixture
def acme(session: Session) -> Tenant:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        session.commit()
    return tenant


def test_cases_advance_per_cadence(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        case_id = place(session, acme)
        session.commit()
    first = run(session, PLACED)
    assert (first.cases, first.advanced, first.letters) == (1, 1, 1)
    case = fetch(session, case_id)
    assert case.stage is Stage.REMINDER
    assert (case.dunning_step, case.last_dunning_on) == (1, PLACED)
    assert case.next_action_on == date(2026, 3, 15)  # the demand is due 14 days later
    with unscoped(session):
        kinds = [
            a.kind for a in session.scalars(select(Activity).where(Activity.case_id == case_id))
        ]
    assert ActivityKind.LETTER in kinds and ActivityKind.STAGE_CHANGE in kinds

    run(session, date(2026, 3, 14))
    assert fetch(session, case_id).stage is Stage.REMINDER  # not yet
    run(session, date(2026, 3, 15))
    case = fetch(session, case_id)
    assert (case.stage, case.dunning_step) == (Stage.DEMAND, 2)
    run(session, date(2026, 4, 11))
    assert fetch(session, case_id).stage is Stage.DEMAND
    report = run(session, date(2026, 4, 12))
    case = fetch(session, case_id)
    assert (case.stage, case.dunning_step) == (Stage.NEGOTIATION, 3)
    assert report.letters == 0  # the negotiation step is a call: nothing is sent
    assert case.next_action_on == date(2026, 4, 12)  # a collector's turn
    run(session, date(2026, 6, 1))
    assert fetch(session, case_id).stage is Stage.NEGOTIATION  # the cadence is done


def test_a_second_run_on_the_same_day_changes_nothing(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        ids = [place(session, acme) for _ in range(3)]
        session.commit()
    run(session, PLACED)
    before = counts(session)
    states = [
        (c.stage, c.dunning_step, c.interest_posted_until) for c in (fetch(session, i) for i in ids)
    ]
    again = run(session, PLACED)
    assert again.cases == 0 and again.advanced == 0 and again.interest_entries == 0
    assert counts(session) == before
    assert states == [
        (c.stage, c.dunning_step, c.interest_posted_until) for c in (fetch(session, i) for i in ids)
    ]


def test_interest_is_posted_once_per_period(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        case_id = place(session, acme)
        contract_id = place(session, acme, contract_interest_bp=1_200)
        session.commit()
        rules = interest.rules_for(session, "EUR")
    days = [PLACED, date(2026, 3, 10), date(2026, 3, 10), date(2026, 7, 15)]
    for day in days:
        run(session, day)
    expected = [
        interest.statutory_interest(rules, PRINCIPAL, DUE, PLACED),
        interest.statutory_interest(rules, PRINCIPAL, PLACED, date(2026, 3, 10)),
        interest.statutory_interest(rules, PRINCIPAL, date(2026, 3, 10), date(2026, 7, 15)),
    ]
    entries = interest_entries(session, case_id)
    assert [entry.amount_minor for entry in entries] == expected
    assert all(amount > 0 for amount in expected)
    assert [entry.value_date for entry in entries] == [PLACED, date(2026, 3, 10), date(2026, 7, 15)]
    assert len({entry.event_key for entry in entries}) == 3
    assert entries[0].event_key == f"interest:{case_id}:{entries[0].invoice_id}:2026-03-01"
    assert fetch(session, case_id).interest_posted_until == date(2026, 7, 15)

    contract = interest_entries(session, contract_id)
    assert contract[0].amount_minor == interest.statutory_interest(
        rules, PRINCIPAL, DUE, PLACED, contract_rate_bp=1_200
    )
    with unscoped(session):
        total = ledger.balance(session, fetch(session, case_id)).interest
    assert total == sum(expected)


def test_interest_per_invoice(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        case_id = place(session, acme, amounts=(10_000, 90_000))
        session.commit()
        rules = interest.rules_for(session, "EUR")
    run(session, PLACED)
    amounts = sorted(entry.amount_minor for entry in interest_entries(session, case_id))
    assert amounts == sorted(
        interest.statutory_interest(rules, principal, DUE, PLACED) for principal in (10_000, 90_000)
    )
    assert len({entry.invoice_id for entry in interest_entries(session, case_id)}) == 2


def test_closed_and_on_hold_cases_are_untouched(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        closed_id, held_id = place(session, acme), place(session, acme)
        session.commit()
        stages.move(session, fetch(session, closed_id), "withdraw", actor_id=None, role=None,
                    why="Creditor settled directly")  # fmt: skip
        session.commit()
        stages.move(session, fetch(session, held_id), "hold", actor_id=None, role=None,
                    why="Debtor disputes", hold_reason=HoldReason.DISPUTE)  # fmt: skip
        session.commit()
    before = counts(session)
    report = run(session, date(2026, 4, 1))
    assert report.cases == 0
    assert counts(session) == before
    for case_id, stage in ((closed_id, Stage.CLOSED), (held_id, Stage.ON_HOLD)):
        case = fetch(session, case_id)
        assert case.stage is stage
        assert (case.dunning_step, case.interest_posted_until) == (0, None)


def test_a_case_moved_on_by_hand_is_not_pulled_back(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        case_id = place(session, acme)
        session.commit()
        case = fetch(session, case_id)
        stages.move(session, case, "send_reminder", actor_id=None, role=None)
        stages.move(session, case, "negotiate", actor_id=None, role=None)
        session.commit()
    report = run(session, PLACED)
    assert report.advanced == 0 and report.cases == 1
    assert fetch(session, case_id).stage is Stage.NEGOTIATION
    assert interest_entries(session, case_id)  # interest runs all the same


def test_broken_promises_are_marked(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        broken_id, kept_id, later_id = (
            place(session, acme),
            place(session, acme),
            place(session, acme),
        )
        promises = {
            case_id: PromiseToPay(
                tenant_id=acme.id,
                case_id=case_id,
                amount_minor=20_000,
                due_on=due,
                paid_before_minor=0,
            )
            for case_id, due in (
                (broken_id, date(2026, 3, 5)),
                (kept_id, date(2026, 3, 5)),
                (later_id, date(2026, 3, 20)),
            )
        }
        session.add_all(promises.values())
        ledger.book(session, fetch(session, kept_id), EntryKind.PAYMENT, -20_000,
                    value_date=date(2026, 3, 4), description="Paid as promised")  # fmt: skip
        session.commit()
        promise_ids = {case_id: promise.id for case_id, promise in promises.items()}
    report = run(session, date(2026, 3, 10))
    assert report.promises_broken == 1
    with unscoped(session):
        session.expire_all()
        status = {
            case_id: session.get(PromiseToPay, promise_id).status  # type: ignore[union-attr]
            for case_id, promise_id in promise_ids.items()
        }
        broken_notes = session.scalars(
            select(Activity.summary).where(
                Activity.case_id == broken_id, Activity.kind == ActivityKind.PROMISE
            )
        ).all()
    assert status == {
        broken_id: PromiseStatus.BROKEN,
        kept_id: PromiseStatus.KEPT,
        later_id: PromiseStatus.OPEN,
    }
    assert broken_notes == ["Promise to pay €200.00 by 2026-03-05 broken"]
    assert fetch(session, broken_id).next_action_on <= date(2026, 3, 10)  # type: ignore[operator]
    again = run(session, date(2026, 3, 10))
    assert again.promises_broken == 0


def test_e_mail_steps_go_to_the_outbox(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        tenant = session.get(Tenant, acme.id)
        assert tenant is not None
        tenant.dunning_cadence = [
            {"stage": "amicable.reminder", "days": 0, "sends": "reminder_email"}
        ]
        with_mail = place(session, acme)
        no_mail = place(
            session,
            acme,
            debtor=DebtorDetails(kind=placement_request().debtor.kind, name="No Mail GmbH"),
        )
        session.commit()
    report = run(session, PLACED)
    assert (report.emails, report.held_back) == (1, 1)
    with unscoped(session):
        outbox = session.scalars(select(OutboxMessage)).all()
        debtor_email = fetch(session, with_mail).debtor.email
        mailed = session.scalars(
            select(Activity.case_id).where(Activity.kind == ActivityKind.EMAIL)
        ).all()
    assert [message.recipient for message in outbox] == [debtor_email]
    assert outbox[0].subject.startswith("Payment reminder")  # the reminder letter's text
    assert mailed == [with_mail]
    assert fetch(session, with_mail).stage is Stage.REMINDER
    # No address: the contact rules refuse the e-mail, the step waits for a collector.
    held = fetch(session, no_mail)
    assert (held.stage, held.dunning_step, held.next_action_on) == (Stage.PLACED, 0, PLACED)


def test_contact_rules_hold_steps_back(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        tenant = session.get(Tenant, acme.id)
        assert tenant is not None
        tenant.dunning_cadence = [
            {"stage": "amicable.reminder", "days": 0, "sends": "reminder_email"}
        ]
        night_id = place(session, acme)
        opted_out_id = place(session, acme)
        session.commit()
        fetch(session, opted_out_id).debtor.no_letters = True  # letters only: e-mail allowed
        session.commit()
    report = run(session, PLACED, hour=1)  # 02:00 in Berlin: no e-mails at night
    assert (report.advanced, report.held_back, report.emails) == (0, 2, 0)
    assert fetch(session, night_id).stage is Stage.PLACED
    assert interest_entries(session, night_id)  # interest is no contact
    with unscoped(session):
        letter_tenant = session.get(Tenant, acme.id)
        assert letter_tenant is not None
        letter_tenant.dunning_cadence = [
            {"stage": "amicable.reminder", "days": 0, "sends": "reminder_letter"}
        ]
        session.commit()
    later = run(session, date(2026, 3, 2), hour=1)  # letters have no quiet hours
    assert (later.advanced, later.held_back) == (1, 1)
    assert fetch(session, night_id).stage is Stage.REMINDER
    assert fetch(session, opted_out_id).stage is Stage.PLACED


def test_batches_cover_every_case(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        ids = [place(session, acme) for _ in range(5)]
        session.commit()
    report = run(session, PLACED, batch_size=2)
    assert (report.cases, report.batches, report.advanced) == (5, 3, 5)
    assert {fetch(session, case_id).stage for case_id in ids} == {Stage.REMINDER}


def test_the_command(app: Flask, session: Session, acme: Tenant) -> None:
    with unscoped(session):
        case_id = place(session, acme)
        session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["collections", "run-due", "--date", "2026-03-01"])
    assert result.exit_code == 0, result.output
    assert "2026-03-01: 1 case(s) looked at" in result.output and "1 advanced" in result.output
    assert fetch(session, case_id).stage is Stage.REMINDER
    again = runner.invoke(args=["collections", "run-due", "--date", "2026-03-01"])
    assert "0 case(s) looked at" in again.output
    bad = runner.invoke(args=["collections", "run-due", "--date", "March"])
    assert bad.exit_code != 0


def test_the_command_files_the_letters_after_the_run(app, session: Session) -> None:
    """``collections run-due`` commits the run, then has each letter's PDF filed as a job."""
    with unscoped(session):
        tenant = make_tenant(session, "cli-letters")
        case_id = place(session, tenant)
        session.commit()
    result = app.test_cli_runner().invoke(
        args=["collections", "run-due", "--date", (PLACED + timedelta(days=1)).isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "1 letter(s) filed as PDF" in result.output
    with unscoped(session):
        session.expire_all()
        documents = session.get(Case, case_id).documents
        assert [d.content_type for d in documents] == ["application/pdf"]
    again = app.test_cli_runner().invoke(
        args=["collections", "run-due", "--date", (PLACED + timedelta(days=1)).isoformat()]
    )
    assert "0 letter(s) filed as PDF" in again.output


def test_fixed_compensation_is_claimed_once_per_invoice_of_a_business(
    session: Session, acme: Tenant
) -> None:
    with unscoped(session):
        business = place(session, acme, amounts=(10_000, 90_000))
        person = place(
            session, acme, debtor=DebtorDetails(kind=DebtorKind.PERSON, name="Erika Muster")
        )
        session.commit()
    for day in (PLACED, date(2026, 3, 10), date(2026, 4, 20)):
        run(session, day)
    with unscoped(session):
        fees = session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind == EntryKind.FEE).order_by(LedgerEntry.id)
        ).all()
    assert [(fee.case_id, fee.amount_minor) for fee in fees] == [(business, 4_000)] * 2
    assert {fee.event_key for fee in fees} == {f"compensation:{fee.invoice_id}" for fee in fees}
    assert person not in {fee.case_id for fee in fees}


# --- the client's terms -----------------------------------------------------------------


def test_without_statutory_interest_only_a_contract_rate_runs(
    session: Session, acme: Tenant
) -> None:
    with unscoped(session):
        session.get_one(Tenant, acme.id).charge_statutory_interest = False
        statutory_id = place(session, acme)
        contract_id = place(session, acme, contract_interest_bp=1_200)
        session.commit()
        rules = interest.rules_for(session, "EUR")
    run(session, PLACED)
    run(session, date(2026, 4, 1))
    assert interest_entries(session, statutory_id) == []
    assert [entry.amount_minor for entry in interest_entries(session, contract_id)] == [
        interest.statutory_interest(rules, PRINCIPAL, DUE, PLACED, contract_rate_bp=1_200),
        interest.statutory_interest(
            rules, PRINCIPAL, PLACED, date(2026, 4, 1), contract_rate_bp=1_200
        ),
    ]
    assert fetch(session, statutory_id).stage is Stage.DEMAND  # the cadence runs all the same


def test_without_compensation_no_fixed_fee_is_claimed(session: Session, acme: Tenant) -> None:
    with unscoped(session):
        session.get_one(Tenant, acme.id).charge_compensation = False
        business = place(session, acme, amounts=(10_000, 90_000))
        session.commit()
    for day in (PLACED, date(2026, 3, 10)):
        run(session, day)
    with unscoped(session):
        fees = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.FEE))
        assert fees.all() == []
    assert interest_entries(session, business)  # statutory interest still runs


def test_a_paused_clients_cases_are_left_alone_until_collection_resumes(
    session: Session, acme: Tenant
) -> None:
    with unscoped(session):
        paused_id = place(session, acme)
        working_id = place(session, make_tenant(session, "other"))
        session.get_one(Tenant, acme.id).collection_paused = True
        session.commit()
        rules = interest.rules_for(session, "EUR")
        activities = select(func.count()).select_from(Activity).where(Activity.case_id == paused_id)
        done_before = session.scalar(activities)
    report = run(session, PLACED)
    assert (report.cases, report.advanced, report.paused) == (1, 1, 1)
    assert "1 case(s) left alone: their client's collection is paused" in report.summary()
    paused = fetch(session, paused_id)
    assert (paused.stage, paused.dunning_step, paused.interest_posted_until) == (
        Stage.PLACED, 0, None)  # fmt: skip
    assert interest_entries(session, paused_id) == []
    with unscoped(session):
        assert session.scalar(activities) == done_before  # no letter, no move
    assert fetch(session, working_id).stage is Stage.REMINDER

    with unscoped(session):
        session.get_one(Tenant, acme.id).collection_paused = False
        session.commit()
    resumed = run(session, date(2026, 3, 10))
    assert resumed.paused == 0 and "left alone" not in resumed.summary()
    assert fetch(session, paused_id).stage is Stage.REMINDER
    # The interest of the paused days is posted by the first run after the pause.
    assert [entry.amount_minor for entry in interest_entries(session, paused_id)] == [
        interest.statutory_interest(rules, PRINCIPAL, DUE, date(2026, 3, 10))
    ]
