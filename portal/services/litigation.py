"""Litigation: the court file, hearings, updates to the creditor, and the judgment.

The creditor's approval opens the ``LegalProceeding`` (see ``legal_requests``); from then
on the legal team keeps its court file here. The judgment decides what the debtor owes,
so recording it books the differences between the ledger and the judgment (principal,
interest, costs) once each: afterwards the claim on the ledger is the judgment's total.
Hearings are reminded by e-mail a few days before, by the daily run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.adapters.mail import Mail, Mailer
from portal.adapters.storage import Storage
from portal.db import utcnow
from portal.models import (
    Activity,
    ActivityKind,
    Case,
    DocumentKind,
    EntryKind,
    Hearing,
    Judgment,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
    Role,
    Stage,
    User,
)
from portal.services import audit, ledger, stages
from portal.services.documents import add_document
from portal.services.ledger import Balance
from portal.services.money import format_money
from portal.services.timeline import log_activity
from tenants.scoping import unscoped

MAX_TEXT = 2000
REMINDER_DAYS = 3
# The stages whose cases the legal team works (the legal queue).
QUEUE_STAGES = (Stage.LEGAL_REVIEW, Stage.LITIGATION, Stage.JUDGMENT, Stage.ENFORCEMENT)


class LitigationError(ValueError):
    """The step cannot be taken as asked; the message says why."""


@dataclass(frozen=True)
class UploadedFile:
    """A file as the browser sent it (the checks are ``documents.add_document``'s)."""

    filename: str
    stream: IO[bytes]


@dataclass(frozen=True)
class QueueRow:
    case: Case
    balance: Balance
    proceeding: LegalProceeding | None
    next_hearing: datetime | None
    request_status: LegalRequestStatus | None  # of the latest request for legal action


def _text(value: str | None, what: str, limit: int = MAX_TEXT, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise LitigationError(f"Give the {what}.")
    if len(text) > limit:
        raise LitigationError(f"The {what} is too long: at most {limit} characters.")
    return text


def _open(case: Case) -> None:
    if case.stage is Stage.CLOSED:
        raise LitigationError("This case is closed.")


def proceeding_of(session: Session, case: Case) -> LegalProceeding | None:
    statement = select(LegalProceeding).where(LegalProceeding.case_id == case.id)
    return session.scalars(statement).first()


def judgment_of(session: Session, case: Case) -> Judgment | None:
    return session.scalars(select(Judgment).where(Judgment.case_id == case.id)).first()


def update_court_file(
    session: Session,
    proceeding: LegalProceeding,
    *,
    court: str,
    case_number: str,
    filed_on: date | None,
    actor_id: int,
) -> None:
    """Where the claim is filed and under which number; the creditor sees the change."""
    case = proceeding.case
    _open(case)
    court_name = _text(court, "court", 200)
    number = _text(case_number, "court's case number", 100, required=False)
    if filed_on is not None and filed_on > utcnow().date():
        raise LitigationError("The filing date cannot be in the future.")
    proceeding.court, proceeding.court_case_number = court_name, number or None
    proceeding.filed_on = filed_on
    filed = f", filed {filed_on.isoformat()}" if filed_on else ""
    body = f"Case number {number or 'not yet known'}{filed}"
    log_activity(session, case, ActivityKind.NOTE, f"Court file: {court_name}", actor_id=actor_id,
                 body=body)  # fmt: skip
    audit.record(session, "legal.court_file_updated", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=proceeding, court=court_name, case_number=number or None,
                 filed_on=filed_on.isoformat() if filed_on else None)  # fmt: skip
    session.flush()


def add_hearing(
    session: Session,
    proceeding: LegalProceeding,
    *,
    held_at: datetime,
    place: str,
    note: str,
    actor_id: int,
) -> Hearing:
    """A hearing ahead; the daily run reminds the legal team and the lawyer of it."""
    case = proceeding.case
    _open(case)
    if held_at.tzinfo is None:
        raise LitigationError("Give the hearing's time with its time zone.")
    if held_at <= utcnow():
        raise LitigationError("The hearing is in the past: record hearings ahead of time.")
    hearing = Hearing(
        tenant_id=case.tenant_id, proceeding_id=proceeding.id, case_id=case.id, held_at=held_at,
        place=_text(place, "place", 200, required=False) or None,
        note=_text(note, "note", required=False) or None,
    )  # fmt: skip
    session.add(hearing)
    session.flush()
    session.expire(proceeding, ["hearings"])
    where = f" at {hearing.place}" if hearing.place else ""
    summary = f"Hearing on {held_at:%d %b %Y %H:%M} UTC{where}"
    log_activity(session, case, ActivityKind.NOTE, summary, actor_id=actor_id, body=hearing.note,
                 hearing_id=hearing.id)  # fmt: skip
    audit.record(session, "legal.hearing_added", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=hearing, held_at=held_at.isoformat())  # fmt: skip
    return hearing


def post_update(session: Session, case: Case, *, text: str, actor_id: int) -> Activity:
    """A word on how the legal action goes, written for the creditor (on their timeline)."""
    if not stages.is_legal(case):
        raise LitigationError("Legal updates are posted on cases in the legal stage.")
    body = _text(text, "update")
    summary = f"Legal update: {body.splitlines()[0][:120]}"
    return log_activity(session, case, ActivityKind.NOTE, summary, actor_id=actor_id, body=body,
                        visible_to_creditor=True)  # fmt: skip


def record_judgment(
    session: Session,
    case: Case,
    *,
    judgment_date: date,
    principal_minor: int,
    interest_minor: int,
    costs_minor: int,
    title: UploadedFile | None,
    storage: Storage,
    max_bytes: int,
    actor_id: int,
    role: Role,
) -> Judgment:
    """The court's judgment: the case moves to judgment and its ledger to the judgment's
    figures. ``StageError`` for a role that may not, ``DocumentRefused`` for a bad title."""
    _check_judgment(session, case, judgment_date, (principal_minor, interest_minor, costs_minor))
    stages.move(session, case, "record_judgment", actor_id=actor_id, role=role,
                why=f"Judgment of {judgment_date.isoformat()}")  # fmt: skip
    document_id = None
    if title is not None:
        document = add_document(
            session, storage, case, filename=title.filename, stream=title.stream,
            kind=DocumentKind.OTHER.value, shareable_with_debtor=False,
            uploaded_by_id=actor_id, max_bytes=max_bytes,
        )  # fmt: skip
        document_id = document.id
    judgment = Judgment(
        tenant_id=case.tenant_id, case_id=case.id, judgment_date=judgment_date,
        principal_minor=principal_minor, interest_minor=interest_minor, costs_minor=costs_minor,
        title_document_id=document_id, created_by_id=actor_id,
    )  # fmt: skip
    session.add(judgment)
    session.flush()
    _book_judgment(session, case, judgment, actor_id)
    total = format_money(judgment.total_minor, case.currency)
    log_activity(session, case, ActivityKind.NOTE, f"Judgment: {total} awarded",
                 actor_id=actor_id, outcome="Enforceable title" if document_id else None,
                 body=_judgment_parts(judgment, case.currency),
                 judgment_id=judgment.id)  # fmt: skip
    audit.record(session, "legal.judgment_recorded", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=judgment, total_minor=judgment.total_minor)  # fmt: skip
    return judgment


def _check_judgment(
    session: Session, case: Case, judgment_date: date, amounts: Sequence[int]
) -> None:
    if any(amount < 0 for amount in amounts):
        raise LitigationError("Amounts awarded cannot be negative.")
    if sum(amounts) == 0:
        raise LitigationError("Give the amounts the judgment awards.")
    if judgment_date > utcnow().date():
        raise LitigationError("The judgment date cannot be in the future.")
    if proceeding_of(session, case) is None:
        raise LitigationError("There is no court file on this case: legal action has not started.")
    if judgment_of(session, case) is not None:
        raise LitigationError("A judgment is already recorded on this case.")
    if case.stage is not Stage.LITIGATION:
        raise LitigationError(
            f"A judgment is recorded in litigation; the case is in {case.stage.label.lower()}."
        )


def _judgment_parts(judgment: Judgment, currency: str) -> str:
    return (
        f"Principal {format_money(judgment.principal_minor, currency)}, "
        f"interest {format_money(judgment.interest_minor, currency)}, "
        f"costs {format_money(judgment.costs_minor, currency)}."
    )


def _book_judgment(session: Session, case: Case, judgment: Judgment, actor_id: int) -> None:
    """Book what separates the ledger from the judgment, part by part, once each.

    Principal (with earlier adjustments) is corrected by an adjustment; interest by
    interest when the court awarded more, else by an adjustment; costs by a fee for
    what the court awarded beyond the fees already claimed, else by an adjustment.
    """
    ledger.lock_case(session, case)
    owed = ledger.balance(session, case)
    principal = judgment.principal_minor - owed.principal - owed.adjustments
    interest = judgment.interest_minor - owed.interest
    costs = judgment.costs_minor - owed.fees
    parts = (
        ("principal", EntryKind.ADJUSTMENT, principal),
        ("interest", EntryKind.INTEREST if interest > 0 else EntryKind.ADJUSTMENT, interest),
        ("costs", EntryKind.FEE if costs > 0 else EntryKind.ADJUSTMENT, costs),
    )  # fmt: skip
    for part, kind, amount in parts:
        if amount != 0:
            ledger.book(
                session, case, kind, amount, value_date=judgment.judgment_date,
                description=f"Judgment of {judgment.judgment_date.isoformat()}: {part}",
                event_key=f"judgment:{judgment.id}:{part}", created_by_id=actor_id,
            )  # fmt: skip


# --- hearing reminders (the daily run) ---------------------------------------------------


def due_hearing_reminders(
    session: Session, now: datetime, days: int = REMINDER_DAYS
) -> list[Hearing]:
    """Hearings within ``days`` from ``now`` whose reminder has not gone out."""
    statement = (
        select(Hearing)
        .where(
            Hearing.reminded_at.is_(None),
            Hearing.held_at > now,
            Hearing.held_at <= now + timedelta(days=days),
        )
        .order_by(Hearing.held_at, Hearing.id)
    )
    return list(session.scalars(statement))


def send_hearing_reminders(session: Session, mailer: Mailer, now: datetime) -> int:
    """E-mail each hearing due soon to the legal staff who work its tenant and to the
    lawyer, once (``reminded_at``); the caller commits. Returns the hearings reminded."""
    # The run is the agency's own job over every tenant's hearings.
    with unscoped(session):
        hearings = due_hearing_reminders(session, now)
        if not hearings:
            return 0
        staff = _legal_staff(session)
        proceedings = _proceedings(session, {hearing.proceeding_id for hearing in hearings})
        for hearing in hearings:
            proceeding = proceedings[hearing.proceeding_id]
            recipients = [u.email for u in staff if u.tenant_scope().allows(hearing.tenant_id)]
            for recipient in [*recipients, proceeding.lawyer.email]:
                mailer.send(session, _reminder(hearing, proceeding, recipient))
            hearing.reminded_at = now
            log_activity(session, proceeding.case, ActivityKind.NOTE, "Hearing reminder sent",
                         body=", ".join([*recipients, proceeding.lawyer.email]),
                         visible_to_creditor=False, hearing_id=hearing.id)  # fmt: skip
        session.flush()
    return len(hearings)


def _legal_staff(session: Session) -> list[User]:
    statement = select(User).where(User.role == Role.LEGAL, User.active.is_(True))
    return list(session.scalars(statement.order_by(User.id)))


def _proceedings(session: Session, ids: set[int]) -> dict[int, LegalProceeding]:
    statement = (
        select(LegalProceeding)
        .where(LegalProceeding.id.in_(ids))
        .options(joinedload(LegalProceeding.case).joinedload(Case.debtor))
        .options(joinedload(LegalProceeding.lawyer))
    )
    return {proceeding.id: proceeding for proceeding in session.scalars(statement)}


def _reminder(hearing: Hearing, proceeding: LegalProceeding, recipient: str) -> Mail:
    case = proceeding.case
    when = f"{hearing.held_at:%d %b %Y %H:%M} UTC"
    lines = [
        f"Hearing on {when}" + (f" at {hearing.place}" if hearing.place else ""),
        f"Court: {proceeding.court or 'not recorded'}, case number "
        f"{proceeding.court_case_number or 'not recorded'}",
        f"Claim: {case.debtor.name}, agency reference {case.agency_reference}",
        f"Lawyer: {proceeding.lawyer.label}",
    ]
    if hearing.note:
        lines.append(f"Note: {hearing.note}")
    return Mail(
        recipient=recipient,
        subject=f"Hearing on {when}: {case.agency_reference}",
        body_text="\n".join(lines) + "\n",
        tenant_id=case.tenant_id,
    )


# --- the legal queue ---------------------------------------------------------------------


def legal_queue(session: Session, now: datetime, *, stage: Stage | None = None) -> list[QueueRow]:
    """Cases in the legal stages, the next hearing first, in a fixed number of queries."""
    statement = (
        select(Case)
        .where(Case.stage.in_([stage] if stage in QUEUE_STAGES else QUEUE_STAGES))
        .options(joinedload(Case.debtor), joinedload(Case.tenant))
        .order_by(Case.id)
    )
    cases = list(session.scalars(statement))
    ids = [case.id for case in cases]
    proceedings = {
        p.case_id: p
        for p in session.scalars(select(LegalProceeding).where(LegalProceeding.case_id.in_(ids)))
    }
    hearings = _next_hearings(session, ids, now)
    statuses = _latest_request_statuses(session, ids)
    owed = ledger.balances(session, cases)
    rows = [
        QueueRow(case, owed[case.id], proceedings.get(case.id), hearings.get(case.id),
                 statuses.get(case.id))
        for case in cases
    ]  # fmt: skip
    return sorted(rows, key=lambda row: (row.next_hearing is None, row.next_hearing or now))


def _next_hearings(session: Session, case_ids: list[int], now: datetime) -> dict[int, datetime]:
    statement = (
        select(Hearing.case_id, func.min(Hearing.held_at))
        .where(Hearing.case_id.in_(case_ids), Hearing.held_at > now)
        .group_by(Hearing.case_id)
    )
    return dict(session.execute(statement).tuples().all())


def _latest_request_statuses(
    session: Session, case_ids: list[int]
) -> dict[int, LegalRequestStatus]:
    statement = select(LegalRequest.case_id, LegalRequest.status).where(
        LegalRequest.case_id.in_(case_ids)
    )
    # In id order, so the latest request of each case is the one that stays.
    return dict(session.execute(statement.order_by(LegalRequest.id)).tuples().all())
