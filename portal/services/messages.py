"""Messages between the creditor and the agency about one case.

The agency asks for information or evidence; the creditor answers. Each message goes on
the timeline and the other side is told by mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.adapters.storage import Storage
from portal.models import CREDITOR_ROLES, ActivityKind, Case, CaseMessage, DocumentKind, User
from portal.services.documents import add_document
from portal.services.timeline import log_activity

MAX_MESSAGE_LENGTH = 5_000


class MessageError(ValueError):
    pass


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message, kept as a case document through the usual checks."""

    filename: str
    stream: IO[bytes]
    storage: Storage
    max_bytes: int


def post(
    session: Session,
    mailer: Mailer,
    case: Case,
    *,
    author: User,
    body: str,
    requests_information: bool = False,
    agency_inbox: str,
    attachment: Attachment | None = None,
) -> CaseMessage:
    """Post a message (and its file); raises ``MessageError`` or ``DocumentRefused``."""
    body = body.strip()
    if not body:
        raise MessageError("Write a message first.")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise MessageError(f"At most {MAX_MESSAGE_LENGTH} characters.")
    if requests_information and not author.is_staff:
        raise MessageError("Only the agency requests information.")
    message = CaseMessage(
        tenant_id=case.tenant_id,
        case_id=case.id,
        author_id=author.id,
        body=body,
        requests_information=requests_information,
    )
    session.add(message)
    session.flush()
    if attachment is not None:
        add_document(
            session,
            attachment.storage,
            case,
            filename=attachment.filename,
            stream=attachment.stream,
            kind=DocumentKind.CORRESPONDENCE.value,
            shareable_with_debtor=False,
            uploaded_by_id=author.id,
            max_bytes=attachment.max_bytes,
            message_id=message.id,
        )
    summary = "Agency requested information" if requests_information else "Message"
    side = "agency" if author.is_staff else "creditor"
    log_activity(session, case, ActivityKind.NOTE, f"{summary} ({side})", actor_id=author.id,
                 body=body)  # fmt: skip
    for recipient in _recipients(session, case, author, agency_inbox):
        mailer.send(
            session,
            Mail(
                recipient=recipient,
                subject=f"{summary}: {case.debtor.name}, {case.agency_reference}",
                body_text=f"{author.name} wrote about case {case.agency_reference}:\n\n{body}\n",
                tenant_id=case.tenant_id,
            ),
        )
    session.flush()
    return message


def _recipients(session: Session, case: Case, author: User, agency_inbox: str) -> list[str]:
    if not author.is_staff:
        collector = case.assigned_collector
        return [collector.email if collector is not None else agency_inbox]
    creditors = select(User.email).where(
        User.tenant_id == case.tenant_id, User.role.in_(CREDITOR_ROLES), User.active.is_(True)
    )
    return list(session.scalars(creditors.order_by(User.id)))


def open_requests(case: Case) -> list[CaseMessage]:
    """Requests for information the creditor has not answered yet (no later creditor message)."""
    pending: list[CaseMessage] = []
    for message in case.messages:
        if message.requests_information:
            pending.append(message)
        elif not message.author.is_staff:
            pending.clear()
    return pending
