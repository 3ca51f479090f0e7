"""A debtor's personal data: everything the portal holds about them, and its erasure.

``export`` gathers what the portal holds about one debtor (a copy for the debtor who
asks for it). ``erase_expired`` anonymises debtors whose cases are all closed, the
latest closing longer ago than their client's retention period: names, contact details
and the free text that may hold them are replaced, their documents' files deleted. Text
that only quotes the debtor (mail to the creditor about the case, a ledger entry's or a
legal cost's description, the rows of a CSV import) keeps its words with the debtor's
name, contacts, addresses and numbers replaced; the uploaded import files they came in
are deleted. What the ledger's figures and the stages say is kept, so every figure still
adds up. Issued remittance statements are kept as issued: they are the creditor's
accounting records, which the law makes them keep for years of their own.

Run it unscoped (it reads every tenant's debtors); the caller commits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Select, String, cast, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from portal.adapters.storage import Storage
from portal.db import utcnow
from portal.models import (
    Activity,
    ActivityKind,
    Case,
    CaseMessage,
    Debtor,
    Dispute,
    DisputeEvidence,
    Document,
    DocumentStatus,
    EnforcementAction,
    Hearing,
    ImportBatch,
    ImportRowError,
    ImportStatus,
    InvoiceCheck,
    LedgerEntry,
    LegalCost,
    LegalRequest,
    Notification,
    OutboxMessage,
    PaymentPlan,
    PromiseToPay,
    Settlement,
    Stage,
    Tenant,
)
from portal.models.append_only import erasing_personal_data
from portal.services import audit, rollups

ERASED = "[erased]"
# Shorter values (a two-letter name part) would erase words that only happen to hold them.
MIN_NEEDLE = 3
# Imports whose uploaded file has served its purpose.
FINISHED_IMPORTS = (ImportStatus.PLACED, ImportStatus.FAILED)
# Timeline entries whose summary quotes free text (a note's first line, an e-mail's
# subject, a document's file name); the others say what happened in the portal's words.
FREE_TEXT_SUMMARIES = frozenset(
    {ActivityKind.NOTE, ActivityKind.EMAIL, ActivityKind.LETTER, ActivityKind.DOCUMENT}
)
# Free text people type about a case, per model: replaced wherever it is set.
FREE_TEXT: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (CaseMessage, ("body",)),
    (Dispute, ("reason", "outcome")),
    (Settlement, ("note", "decision_comment")),
    (PaymentPlan, ("decision_comment",)),
    (LegalRequest, ("note", "decision_comment")),
    (Hearing, ("note",)),
    (EnforcementAction, ("note",)),
    (InvoiceCheck, ("dispute_reason",)),
)


@dataclass
class ErasureReport:
    debtor_ids: list[int] = field(default_factory=list)
    cases: int = 0
    documents: int = 0


# --- export --------------------------------------------------------------------------------


def _value(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _fields(row: object, names: Iterable[str]) -> dict[str, object]:
    return {name: _value(getattr(row, name)) for name in names}


def _by_case(session: Session, model: type[Any], case_ids: Sequence[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {case_id: [] for case_id in case_ids}
    for row in session.scalars(select(model).where(model.case_id.in_(case_ids)).order_by(model.id)):
        found[row.case_id].append(row)
    return found


DEBTOR_FIELDS = (
    "id", "kind", "name", "registration_number", "vat_number", "email", "phone",
    "address_line1", "address_line2", "postal_code", "city", "country", "language",
    "timezone", "no_calls", "no_emails", "no_letters", "cease_contact", "created_at",
    "erased_at",
)  # fmt: skip
CASE_FIELDS = (
    "agency_reference", "creditor_reference", "currency", "stage", "closure", "hold_reason",
    "placed_at", "placed_minor", "claimed_minor", "collected_minor", "withdrawal_reason",
)  # fmt: skip


def _case_export(case: Case, related: dict[str, list[Any]]) -> dict[str, object]:
    return {
        **_fields(case, CASE_FIELDS),
        "invoices": [
            _fields(i, ("number", "issue_date", "due_date", "amount_minor")) for i in case.invoices
        ],
        "ledger": [
            _fields(e, ("kind", "amount_minor", "currency", "value_date", "description"))
            for e in related["ledger"]
        ],
        "activities": [
            _fields(a, ("occurred_at", "kind", "summary", "outcome", "body"))
            for a in related["activities"]
        ],
        "promises": [
            _fields(p, ("amount_minor", "due_on", "status", "created_at", "resolved_at"))
            for p in related["promises"]
        ],
        "disputes": [
            _fields(d, ("raised_by", "reason", "status", "outcome", "created_at", "resolved_at"))
            | {"evidence": [_fields(e, ("party", "statement", "created_at")) for e in d.evidence]}
            for d in related["disputes"]
        ],
        "plans": [
            _fields(p, ("status", "frequency", "total_minor", "instalment_count", "start_on"))
            | {
                "instalments": [
                    _fields(i, ("number", "due_on", "amount_minor", "status"))
                    for i in p.instalments
                ]
            }
            for p in related["plans"]
        ],
        "documents": [
            _fields(d, ("filename", "kind", "content_type", "size_bytes", "uploaded_at"))
            for d in related["documents"]
        ],
        "messages": [_fields(m, ("created_at", "body")) for m in related["messages"]],
    }


def export(session: Session, debtor: Debtor) -> dict[str, object]:
    """Everything the portal holds about ``debtor``, JSON-serialisable (no file contents)."""
    cases = list(session.scalars(select(Case).where(Case.debtor_id == debtor.id).order_by(Case.id)))
    case_ids = [case.id for case in cases]
    related = {
        "ledger": _by_case(session, LedgerEntry, case_ids),
        "activities": _by_case(session, Activity, case_ids),
        "promises": _by_case(session, PromiseToPay, case_ids),
        "disputes": _by_case(session, Dispute, case_ids),
        "plans": _by_case(session, PaymentPlan, case_ids),
        "documents": _by_case(session, Document, case_ids),
        "messages": _by_case(session, CaseMessage, case_ids),
    }
    return {
        "exported_at": utcnow().isoformat(),
        "debtor": _fields(debtor, DEBTOR_FIELDS),
        "contacts": [
            _fields(contact, ("name", "position", "email", "phone")) for contact in debtor.contacts
        ],
        "cases": [
            _case_export(case, {name: rows[case.id] for name, rows in related.items()})
            for case in cases
        ],
    }


# --- erasure -------------------------------------------------------------------------------


def _closed_before(tenant_id: int, cutoff: datetime) -> Select[tuple[int]]:
    """The client's debtors not yet erased whose every case was closed before ``cutoff``.

    A closed case's last stage change is its closing (the case updated time stands in
    for a case closed without one on its timeline).
    """
    other_case = aliased(Case)
    open_case = exists().where(other_case.debtor_id == Debtor.id, other_case.stage != Stage.CLOSED)
    last_change = (
        select(Activity.case_id, func.max(Activity.occurred_at).label("at"))
        .where(Activity.tenant_id == tenant_id, Activity.kind == ActivityKind.STAGE_CHANGE)
        .group_by(Activity.case_id)
        .subquery()
    )
    return (
        select(Debtor.id)
        .join(Case, Case.debtor_id == Debtor.id)
        .outerjoin(last_change, last_change.c.case_id == Case.id)
        .where(Debtor.tenant_id == tenant_id, Debtor.erased_at.is_(None), ~open_case)
        .group_by(Debtor.id)
        .having(func.max(func.coalesce(last_change.c.at, Case.updated_at)) < cutoff)
    )


def due_for_erasure(session: Session, today: date) -> list[Debtor]:
    """Debtors to erase on ``today``: every case closed longer ago than the retention
    months of their client, and not erased yet. One query per client, its cut-off in SQL:
    the debtors still kept are never loaded."""
    due: list[Debtor] = []
    for tenant_id, months in session.execute(select(Tenant.id, Tenant.retention_months)):
        cutoff = datetime.combine(today - relativedelta(months=months), time.min, UTC)
        due.extend(
            session.scalars(select(Debtor).where(Debtor.id.in_(_closed_before(tenant_id, cutoff))))
        )
    return sorted(due, key=lambda debtor: debtor.id)


def _erase_identity(debtor: Debtor, cases: Sequence[Case], now: datetime) -> None:
    debtor.name = f"Erased debtor {debtor.id}"
    debtor.registration_number = debtor.vat_number = debtor.email = debtor.phone = None
    debtor.address_line1 = debtor.address_line2 = debtor.postal_code = debtor.city = None
    debtor.identity_key = f"erased:{debtor.id}"
    debtor.contacts.clear()
    debtor.erased_at = now
    for case in cases:
        previous, case.debtor_key = case.debtor_key, debtor.identity_key
        rollups.debtor_key_changed(case, previous)
        case.withdrawal_reason = ERASED if case.withdrawal_reason else None
        case.payment_link_nonce = case.payment_link_hash = case.payment_link_expires_at = None


def _erase_free_text(session: Session, case_ids: Sequence[int]) -> None:
    for model, columns in FREE_TEXT:
        for row in session.scalars(select(model).where(model.case_id.in_(case_ids))):
            for column in columns:
                if getattr(row, column):
                    setattr(row, column, ERASED)
    evidence = select(DisputeEvidence).join(Dispute).where(Dispute.case_id.in_(case_ids))
    for item in session.scalars(evidence):
        item.statement = ERASED
    notices = select(Notification).where(Notification.case_id.in_(case_ids))
    for notice in session.scalars(notices):
        notice.title, notice.body = ERASED, ERASED


def _erase_timeline(session: Session, case_ids: Sequence[int]) -> None:
    with erasing_personal_data(session):
        for activity in session.scalars(select(Activity).where(Activity.case_id.in_(case_ids))):
            if activity.kind in FREE_TEXT_SUMMARIES:
                activity.summary = f"{activity.kind.value.replace('_', ' ').capitalize()}: {ERASED}"
            if activity.outcome:
                activity.outcome = ERASED
            if activity.body:
                activity.body = ERASED
            if "recipient" in activity.details:
                activity.details = {k: v for k, v in activity.details.items() if k != "recipient"}
        session.flush()


def _needles(debtor: Debtor) -> list[str]:
    """What names the debtor in text: their name, contacts, e-mail addresses, phone and
    registration numbers (longest first, so a name is replaced before a part of it)."""
    values = {
        debtor.name, debtor.email, debtor.phone, debtor.registration_number, debtor.vat_number,
        *(value for c in debtor.contacts for value in (c.name, c.email, c.phone)),
    }  # fmt: skip
    found = {value.strip() for value in values if value and len(value.strip()) >= MIN_NEEDLE}
    return sorted(found, key=lambda needle: (-len(needle), needle))


def _redact(text: str, needles: Sequence[str]) -> str:
    for needle in needles:
        text = re.sub(re.escape(needle), ERASED, text, flags=re.IGNORECASE)
    return text


def _mentioning(column: Any, needles: Sequence[str]) -> Any:
    """SQL: ``column`` holds one of ``needles`` (in any case)."""
    lowered = func.lower(column)
    return or_(*(lowered.contains(needle.lower(), autoescape=True) for needle in needles))


def _as_json(needles: Sequence[str]) -> list[str]:
    """The needles as they read inside a stored JSON document too (non-ASCII escaped)."""
    return sorted({*needles, *(json.dumps(needle)[1:-1] for needle in needles)})


def _erase_mail(session: Session, debtor: Debtor, needles: Sequence[str]) -> None:
    """Mail sent to the debtor or their contacts (kept as sent, so it names them) is
    erased; mail to the creditor that names them keeps its words without the names."""
    addresses = {debtor.email, *(contact.email for contact in debtor.contacts)} - {None, ""}
    mail = select(OutboxMessage).where(
        OutboxMessage.tenant_id == debtor.tenant_id,
        or_(
            OutboxMessage.recipient.in_(addresses),
            _mentioning(OutboxMessage.subject, needles),
            _mentioning(OutboxMessage.body_text, needles),
        ),
    )
    for message in session.scalars(mail):
        if message.recipient in addresses:
            message.recipient, message.subject, message.body_text = ERASED, ERASED, ERASED
        else:
            message.subject = _redact(message.subject, needles)
            message.body_text = _redact(message.body_text, needles)


def _erase_descriptions(session: Session, case_ids: Sequence[int], needles: Sequence[str]) -> None:
    """Descriptions typed about money (a dispute upheld, a legal cost) that name the debtor."""
    costs = select(LegalCost).where(
        LegalCost.case_id.in_(case_ids), _mentioning(LegalCost.description, needles)
    )
    for cost in session.scalars(costs):
        cost.description = _redact(cost.description, needles)
    entries = select(LedgerEntry).where(
        LedgerEntry.case_id.in_(case_ids), _mentioning(LedgerEntry.description, needles)
    )
    with erasing_personal_data(session):
        for entry in session.scalars(entries):
            entry.description = _redact(entry.description, needles)[:300]
        session.flush()


def _erase_imports(
    session: Session, storage: Storage, debtor: Debtor, case_ids: Sequence[int],
    needles: Sequence[str],
) -> None:  # fmt: skip
    """The client's CSV imports: rows naming the debtor in previews and refusals, and the
    uploaded files the debtor's cases were placed from (no longer needed once placed)."""
    rejected = select(ImportRowError).where(
        ImportRowError.tenant_id == debtor.tenant_id,
        or_(_mentioning(ImportRowError.reason, needles),
            _mentioning(cast(ImportRowError.raw, String), _as_json(needles))),
    )  # fmt: skip
    for row in session.scalars(rejected):
        row.reason = _redact(row.reason, needles)
        row.raw = [_redact(str(cell), needles) for cell in row.raw]
    previews = select(ImportBatch).where(
        ImportBatch.tenant_id == debtor.tenant_id,
        _mentioning(cast(ImportBatch.summary, String), _as_json(needles)),
    )
    for batch in session.scalars(previews):
        preview = batch.summary.get("preview") or []
        redacted = [[_redact(str(cell), needles) for cell in row] for row in preview]
        if redacted != preview:
            batch.summary = {**batch.summary, "preview": redacted}
    placed_from = select(ImportBatch).where(
        ImportBatch.id.in_(select(Case.import_batch_id).where(Case.id.in_(case_ids))),
        ImportBatch.status.in_(FINISHED_IMPORTS),
    )
    for batch in session.scalars(placed_from):
        storage.delete(batch.storage_key)


def _erase_documents(session: Session, storage: Storage, case_ids: Sequence[int]) -> int:
    documents = session.scalars(select(Document).where(Document.case_id.in_(case_ids))).all()
    for document in documents:
        storage.delete(document.storage_key)
        document.status = DocumentStatus.ERASED
        document.filename = ERASED
        document.shareable_with_debtor = False
    return len(documents)


def erase(
    session: Session, storage: Storage, debtor: Debtor, *, actor_id: int | None
) -> tuple[int, int]:
    """Anonymise one debtor (see the module's docstring): how many cases it concerned,
    and how many documents were deleted."""
    cases = session.scalars(select(Case).where(Case.debtor_id == debtor.id)).all()
    case_ids = [case.id for case in cases]
    needles = _needles(debtor)
    _erase_mail(session, debtor, needles)
    _erase_descriptions(session, case_ids, needles)
    _erase_imports(session, storage, debtor, case_ids, needles)
    _erase_identity(debtor, cases, utcnow())
    _erase_free_text(session, case_ids)
    _erase_timeline(session, case_ids)
    deleted = _erase_documents(session, storage, case_ids)
    audit.record(
        session, "debtor.erased", actor_id=actor_id, tenant_id=debtor.tenant_id, subject=debtor,
        cases=case_ids, documents=deleted,
    )  # fmt: skip
    session.flush()
    return len(case_ids), deleted


def erase_expired(
    session: Session, storage: Storage, today: date, *, actor_id: int | None = None
) -> ErasureReport:
    """Erase every debtor due on ``today``; running it again erases nobody twice."""
    report = ErasureReport()
    for debtor in due_for_erasure(session, today):
        cases, documents = erase(session, storage, debtor, actor_id=actor_id)
        report.debtor_ids.append(debtor.id)
        report.cases += cases
        report.documents += documents
    return report
