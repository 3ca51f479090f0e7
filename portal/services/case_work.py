"""What a collector logs on a case: calls, e-mails, letters and notes.

Calls, e-mails and letters go through the contact guardrails first
(``contact_rules.require_contact``); notes are internal and never contact the debtor.
Each lands on the timeline with who did it and when.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.models import Activity, ActivityKind, Case
from portal.services import rollups
from portal.services.contact_rules import Channel, require_contact
from portal.services.timeline import log_activity

MAX_TEXT = 10_000
MAX_SUBJECT = 200


class CaseWorkError(ValueError):
    """What was entered cannot be logged; the message says why."""


class CallOutcome(enum.StrEnum):
    NO_ANSWER = "no_answer"
    LEFT_MESSAGE = "left_message"
    SPOKE = "spoke"
    WRONG_NUMBER = "wrong_number"

    @property
    def label(self) -> str:
        return CALL_OUTCOME_LABELS[self]


CALL_OUTCOME_LABELS = {
    CallOutcome.NO_ANSWER: "No answer",
    CallOutcome.LEFT_MESSAGE: "Left a message",
    CallOutcome.SPOKE: "Spoke with the debtor",
    CallOutcome.WRONG_NUMBER: "Wrong number",
}


def _text(value: str | None, what: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if required and not text:
        raise CaseWorkError(f"Write the {what} first.")
    if len(text) > limit:
        raise CaseWorkError(f"The {what} is too long: at most {limit} characters.")
    return text


def log_call(
    session: Session,
    case: Case,
    *,
    outcome: CallOutcome,
    notes: str,
    actor_id: int | None,
    now: datetime,
    visible_to_creditor: bool = True,
) -> Activity:
    """Log a call attempt; ``ContactRefused`` when the guardrails do not allow a call now."""
    text = _text(notes, "notes", required=False)
    require_contact(session, case, Channel.CALL, now)
    activity = log_activity(
        session, case, ActivityKind.CALL, f"Call: {outcome.label.lower()}",
        actor_id=actor_id, outcome=outcome.label, body=text or None,
        visible_to_creditor=visible_to_creditor, occurred_at=now, call_outcome=outcome.value,
    )  # fmt: skip
    rollups.call_logged(session, activity, reached=outcome is CallOutcome.SPOKE)
    return activity


def send_email(
    session: Session,
    mailer: Mailer,
    case: Case,
    *,
    subject: str,
    body: str,
    actor_id: int | None,
    now: datetime,
    visible_to_creditor: bool = True,
) -> Activity:
    """Send an e-mail to the debtor through ``mailer`` and log it."""
    subject = _text(subject, "subject", limit=MAX_SUBJECT)
    text = _text(body, "e-mail")
    require_contact(session, case, Channel.EMAIL, now)
    recipient = case.debtor.email or ""
    mail = Mail(recipient=recipient, subject=subject, body_text=text, tenant_id=case.tenant_id)
    sent = mailer.send(session, mail)
    return log_activity(
        session, case, ActivityKind.EMAIL, f"E-mail to the debtor: {subject}",
        actor_id=actor_id, outcome="Sent", body=text, visible_to_creditor=visible_to_creditor,
        occurred_at=now, recipient=recipient, outbox_id=sent.id,
    )  # fmt: skip


def record_letter(
    session: Session,
    case: Case,
    *,
    text: str,
    actor_id: int | None,
    now: datetime,
    visible_to_creditor: bool = True,
) -> Activity:
    """Record that a letter went out, with its text."""
    body = _text(text, "letter")
    require_contact(session, case, Channel.LETTER, now)
    first_line = body.splitlines()[0][:120]
    return log_activity(
        session, case, ActivityKind.LETTER, f"Letter sent: {first_line}",
        actor_id=actor_id, outcome="Sent", body=body, visible_to_creditor=visible_to_creditor,
        occurred_at=now,
    )  # fmt: skip


def add_note(
    session: Session,
    case: Case,
    *,
    text: str,
    actor_id: int | None,
    now: datetime,
    visible_to_creditor: bool = False,
) -> Activity:
    """An internal note (shown to the creditor only when asked)."""
    body = _text(text, "note")
    first_line = body.splitlines()[0][:120]
    return log_activity(
        session, case, ActivityKind.NOTE, f"Note: {first_line}",
        actor_id=actor_id, body=body, visible_to_creditor=visible_to_creditor, occurred_at=now,
    )  # fmt: skip
