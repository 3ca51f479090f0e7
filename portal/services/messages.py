"""Messages between the creditor and the agency about one case.

The agency asks for information or evidence; the creditor answers. Each message goes on
the timeline and the other side is told (``notices``): the creditor's people, or the
case's collector (the agency admins and the agency's inbox when nobody works the case).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.adapters.storage import Storage
from portal.models import ActivityKind, Case, CaseMessage, DocumentKind, NotificationKind, User
from portal.services import notices
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
    if author.is_staff:
        _tell_creditor(session, mailer, case, message, summary=summary, author=author)
    else:
        _tell_agency(session, mailer, case, message, author=author, inbox=agency_inbox)
    session.flush()
    return message


def _tell_creditor(
    session: Session,
    mailer: Mailer,
    case: Case,
    message: CaseMessage,
    *,
    summary: str,
    author: User,
) -> None:
    """The creditor's people; a request for information waits for their answer."""
    notices.notify(
        session, mailer,
        kind=NotificationKind.DECISION_WAITING if message.requests_information
        else NotificationKind.MESSAGE,
        recipients=notices.recipients_for_tenant(session, case.tenant_id),
        title=f"{summary}: {case.debtor.name}, {case.agency_reference}",
        body=f"{author.name} wrote about case {case.agency_reference}:\n\n{message.body}",
        link=notices.creditor_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip


def _tell_agency(
    session: Session,
    mailer: Mailer,
    case: Case,
    message: CaseMessage,
    *,
    author: User,
    inbox: str,
) -> None:
    """The case's collector; a case nobody works on: the agency admins, and the agency's
    shared inbox by e-mail."""
    title = f"Message: {case.debtor.name}, {case.agency_reference}"
    text = f"{author.name} wrote about case {case.agency_reference}:\n\n{message.body}"
    notices.notify(
        session, mailer, kind=NotificationKind.MESSAGE,
        recipients=notices.case_staff(session, case), title=title, body=text,
        link=notices.agency_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip
    collector = case.assigned_collector
    if collector is None or not collector.active:
        mailer.send(
            session, Mail(recipient=inbox, subject=title, body_text=f"{text}\n",
                          tenant_id=case.tenant_id),
        )  # fmt: skip


def open_requests(case: Case) -> list[CaseMessage]:
    """Requests for information the creditor has not answered yet (no later creditor message)."""
    pending: list[CaseMessage] = []
    for message in case.messages:
        if message.requests_information:
            pending.append(message)
        elif not message.author.is_staff:
            pending.clear()
    return pending
