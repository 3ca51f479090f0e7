"""Litigation after the creditor's approval: the court file, hearings and their reminders,
updates the creditor sees, and the judgment that sets the claim to its figures."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.db import utcnow
from portal.models import (
    Activity,
    AuditEntry,
    Case,
    Document,
    DocumentKind,
    EntryKind,
    Hearing,
    Judgment,
    Lawyer,
    LedgerEntry,
    LegalProceeding,
    LegalRequestStatus,
    OutboxMessage,
    Role,
    Stage,
)
from portal.services import ledger, legal_requests, litigation, stages
from portal.services.documents import DocumentRefused
from portal.services.legal_requests import Estimate
from portal.services.litigation import LitigationError, UploadedFile
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant, make_user

TODAY = utcnow().date()
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"


@pytest.fixture
def world(session: Session) -> dict:
    """A case in litigation the way it gets there: proposed, then approved by the creditor."""
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        case.stage = Stage.NEGOTIATION  # arranged: the amicable stages are tested elsewhere
        lawyer = Lawyer(name="Dr. Anna Weber", firm="Weber & Partner", email="weber@law.example",
                        jurisdictions=["DE", "AT"], languages=["de", "en"])  # fmt: skip
        session.add(lawyer)
        people = {
            "legal": make_user(session, Role.LEGAL),
            "collector": make_user(session, Role.COLLECTOR),
            "creditor": make_user(session, Role.CREDITOR_ADMIN, tenant),
        }
        session.flush()
        to_litigation(session, case, lawyer, people)
        session.commit()
    set_scope(session, TenantScope.only(tenant.id))
    return {"tenant": tenant, "case": case, "lawyer": lawyer, **people}


def to_litigation(session: Session, case: Case, lawyer: Lawyer, people: dict) -> None:
    request = legal_requests.propose(
        session, case, lawyer=lawyer, estimate=Estimate(30_000, 50_000, 20_000),
        note="No answer to the demand letter.", actor_id=people["collector"].id,
        role=Role.COLLECTOR,
    )  # fmt: skip
    legal_requests.decide(session, request, approve=True, comment="Go ahead",
                          decline_outcome=None, actor_id=people["creditor"].id)  # fmt: skip


def proceeding(session: Session, case: Case) -> LegalProceeding:
    found = litigation.proceeding_of(session, case)
    assert found is not None
    return found


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def judge(app: Flask, session: Session, world: dict, **changes: object) -> Judgment:
    values: dict[str, object] = {
        "judgment_date": TODAY - timedelta(days=1),
        "principal_minor": 90_000,
        "interest_minor": 4_000,
        "costs_minor": 6_500,
        "title": None,
        "storage": app.extensions["portal.storage"],
        "max_bytes": 1_000_000,
        "actor_id": world["legal"].id,
        "role": Role.LEGAL,
    }
    values.update(changes)
    return litigation.record_judgment(session, world["case"], **values)  # type: ignore[arg-type]


# --- the court file ------------------------------------------------------------------------


def test_approval_opens_the_court_file_that_legal_keeps(session: Session, world) -> None:
    case = world["case"]
    assert case.stage is Stage.LITIGATION
    [request] = legal_requests.requests_of(session, case)
    assert request.status is LegalRequestStatus.APPROVED
    court_file = proceeding(session, case)
    assert court_file.lawyer_id == world["lawyer"].id and court_file.court is None
    litigation.update_court_file(
        session, court_file, court="Amtsgericht Berlin-Mitte", case_number=" 12 C 345/26 ",
        filed_on=TODAY, actor_id=world["legal"].id,
    )  # fmt: skip
    assert (court_file.court, court_file.court_case_number, court_file.filed_on) == (
        "Amtsgericht Berlin-Mitte", "12 C 345/26", TODAY,
    )  # fmt: skip
    [logged] = session.scalars(select(Activity).where(Activity.summary.like("Court file%"))).all()
    assert logged.visible_to_creditor and "12 C 345/26" in (logged.body or "")
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "legal.court_file_updated"))


@pytest.mark.parametrize(
    ("court", "filed_on", "message"),
    [
        ("  ", None, "Give the court"),
        ("x" * 201, None, "too long"),
        ("Amtsgericht Berlin", TODAY + timedelta(days=1), "cannot be in the future"),
    ],
)
def test_bad_court_files_are_refused(
    session: Session, world, court: str, filed_on: date | None, message: str
) -> None:
    court_file = proceeding(session, world["case"])
    with pytest.raises(LitigationError, match=message):
        litigation.update_court_file(session, court_file, court=court, case_number="1",
                                     filed_on=filed_on, actor_id=world["legal"].id)  # fmt: skip
    assert court_file.court is None


def test_hearings_are_ahead_and_listed_on_the_court_file(session: Session, world) -> None:
    court_file = proceeding(session, world["case"])
    when = utcnow() + timedelta(days=10)
    hearing = litigation.add_hearing(session, court_file, held_at=when, place="Room 1.14",
                                     note="Bring notes", actor_id=world["legal"].id)  # fmt: skip
    assert court_file.hearings == [hearing] and hearing.reminded_at is None
    with pytest.raises(LitigationError, match="in the past"):
        litigation.add_hearing(session, court_file, held_at=utcnow() - timedelta(hours=1),
                               place="", note="", actor_id=world["legal"].id)  # fmt: skip
    with pytest.raises(LitigationError, match="time zone"):
        litigation.add_hearing(session, court_file, held_at=when.replace(tzinfo=None),
                               place="", note="", actor_id=world["legal"].id)  # fmt: skip
    assert count(session, Hearing) == 1


def test_updates_are_for_the_creditor_and_only_in_the_legal_stage(session: Session, world) -> None:
    text = "Claim served on the debtor.\nDefence due in two weeks."
    update = litigation.post_update(session, world["case"], text=text, actor_id=world["legal"].id)
    assert (
        update.visible_to_creditor and update.summary == "Legal update: Claim served on the debtor."
    )
    with pytest.raises(LitigationError, match="Give the update"):
        litigation.post_update(session, world["case"], text="  ", actor_id=world["legal"].id)
    with unscoped(session):
        amicable = make_case(session, world["tenant"])
    with pytest.raises(LitigationError, match="legal stage"):
        litigation.post_update(session, amicable, text="Hello", actor_id=world["legal"].id)


# --- the judgment ------------------------------------------------------------------------


def test_the_judgment_sets_the_claim_to_its_figures_once(
    app: Flask, session: Session, world
) -> None:
    case = world["case"]
    ledger.book(session, case, EntryKind.INTEREST, 5_000, value_date=TODAY, description="Interest")
    ledger.book(session, case, EntryKind.FEE, 4_000, value_date=TODAY, description="Compensation")
    judgment = judge(app, session, world, title=UploadedFile("urteil.pdf", io.BytesIO(PDF)))
    assert case.stage is Stage.JUDGMENT
    owed = ledger.balance(session, case)
    assert owed.total_claimed == judgment.total_minor == 100_500
    booked = session.scalars(
        select(LedgerEntry).where(LedgerEntry.event_key.like(f"judgment:{judgment.id}:%"))
    ).all()
    assert {(e.event_key, e.kind, e.amount_minor) for e in booked} == {
        (f"judgment:{judgment.id}:principal", EntryKind.ADJUSTMENT, -10_000),
        (f"judgment:{judgment.id}:interest", EntryKind.ADJUSTMENT, -1_000),
        (f"judgment:{judgment.id}:costs", EntryKind.FEE, 2_500),
    }
    title = session.get(Document, judgment.title_document_id)
    assert title is not None and title.kind is DocumentKind.OTHER
    assert title.filename == "urteil.pdf"
    entries = count(session, LedgerEntry)
    with pytest.raises(LitigationError, match="already recorded"):
        judge(app, session, world)
    assert count(session, LedgerEntry) == entries
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "legal.judgment_recorded"))


def test_more_interest_awarded_is_booked_as_interest(app: Flask, session: Session, world) -> None:
    judgment = judge(app, session, world, principal_minor=100_000, interest_minor=7_000,
                     costs_minor=0)  # fmt: skip
    [entry] = session.scalars(select(LedgerEntry).where(LedgerEntry.event_key.like("judgment:%")))
    assert (entry.kind, entry.amount_minor) == (EntryKind.INTEREST, 7_000)
    assert ledger.balance(session, world["case"]).total_claimed == judgment.total_minor


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"interest_minor": -1}, LitigationError, "cannot be negative"),
        ({"principal_minor": 0, "interest_minor": 0, "costs_minor": 0}, LitigationError,
         "Give the amounts"),
        ({"judgment_date": TODAY + timedelta(days=1)}, LitigationError, "in the future"),
        ({"role": Role.COLLECTOR}, stages.StageError, "Your role cannot"),
        ({"title": ("title.exe", b"MZ\x90\x00" * 64)}, DocumentRefused, "Windows program"),
    ],
)  # fmt: skip
def test_bad_judgments_change_nothing(
    app: Flask, session: Session, world, changes: dict, error: type, message: str
) -> None:
    if "title" in changes:  # a fresh stream for each database
        name, data = changes["title"]
        changes = {"title": UploadedFile(name, io.BytesIO(data))}
    entries, activities = count(session, LedgerEntry), count(session, Activity)
    with pytest.raises(error, match=message):
        judge(app, session, world, **changes)
    session.rollback()  # as the view does
    assert world["case"].stage is Stage.LITIGATION
    assert count(session, Judgment) == 0 and count(session, LedgerEntry) == entries
    assert count(session, Activity) == activities


def test_no_judgment_without_a_court_file(app: Flask, session: Session, world) -> None:
    with unscoped(session):
        amicable = make_case(session, world["tenant"])
    with pytest.raises(LitigationError, match="no court file"):
        judge(app, session, {**world, "case": amicable})
    world["case"].stage = Stage.JUDGMENT  # a court file, but past litigation
    with pytest.raises(LitigationError, match="recorded in litigation"):
        judge(app, session, world)


# --- hearing reminders ---------------------------------------------------------------------


def test_reminders_go_to_legal_staff_and_the_lawyer_once(session: Session, world) -> None:
    court_file = proceeding(session, world["case"])
    now = utcnow()
    soon = litigation.add_hearing(session, court_file, held_at=now + timedelta(days=2),
                                  place="Saal 3", note="", actor_id=world["legal"].id)  # fmt: skip
    litigation.add_hearing(session, court_file, held_at=now + timedelta(days=9), place="",
                           note="", actor_id=world["legal"].id)  # fmt: skip
    with unscoped(session):
        elsewhere = make_user(session, Role.LEGAL, limited_to=[make_tenant(session, "zeta")])
    session.commit()
    with unscoped(session):  # what the case's way to court sent its people already
        before = session.scalar(select(func.max(OutboxMessage.id))) or 0
    assert litigation.due_hearing_reminders(session, now) == [soon]
    assert litigation.send_hearing_reminders(session, OutboxMailer(), now) == 1
    with unscoped(session):
        reminders = select(OutboxMessage).where(OutboxMessage.id > before)
        mails = session.scalars(reminders.order_by(OutboxMessage.id)).all()
    assert {mail.recipient for mail in mails} == {world["legal"].email, "weber@law.example"}
    assert elsewhere.email not in {mail.recipient for mail in mails}
    assert all(world["case"].agency_reference in mail.subject for mail in mails)
    assert "Saal 3" in mails[0].body_text and soon.reminded_at == now
    assert litigation.send_hearing_reminders(session, OutboxMailer(), now) == 0
    later = now + timedelta(days=8)
    assert litigation.send_hearing_reminders(session, OutboxMailer(), later) == 1


def test_the_daily_run_sends_the_reminders(app: Flask, session: Session, world) -> None:
    court_file = proceeding(session, world["case"])
    litigation.add_hearing(session, court_file, held_at=utcnow() + timedelta(days=1), place="",
                           note="", actor_id=world["legal"].id)  # fmt: skip
    session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["collections", "run-due"])
    assert first.exit_code == 0, first.output
    assert "1 hearing reminder(s) sent" in first.output
    again = runner.invoke(args=["collections", "run-due"])
    assert "0 hearing reminder(s) sent" in again.output


# --- the legal queue -----------------------------------------------------------------------


def test_the_legal_queue_lists_legal_cases_with_court_and_next_hearing(
    session: Session, world
) -> None:
    court_file = proceeding(session, world["case"])
    court_file.court = "Landgericht Hamburg"
    when = utcnow() + timedelta(days=5)
    litigation.add_hearing(session, court_file, held_at=when, place="", note="",
                           actor_id=world["legal"].id)  # fmt: skip
    with unscoped(session):
        make_case(session, world["tenant"])  # amicable: not in the legal queue
    [row] = litigation.legal_queue(session, utcnow())
    assert row.case.id == world["case"].id and row.proceeding is court_file
    assert row.next_hearing == when and row.request_status is LegalRequestStatus.APPROVED
    assert row.balance.outstanding == 100_000
    assert litigation.legal_queue(session, utcnow(), stage=Stage.ENFORCEMENT) == []
