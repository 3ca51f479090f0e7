"""Outgoing mail: kept in the outbox table by default, sent over SMTP when MAIL_URL says so.

Either way the message is recorded in the outbox, so the portal shows what was sent.

An SMTP server that is stopped, unreachable, slow or refusing for now (a 4xx reply)
raises ``ServiceUnavailable`` within ``SMTP_TIMEOUT`` seconds per exchange, so a request
that sends mail answers "try again" with nothing saved. A refusal for good (an address
the server will never take) stays smtplib's own error.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlparse

from sqlalchemy.orm import Session

from portal.adapters.errors import MAIL_SERVER, ServiceUnavailable
from portal.models import OutboxMessage

# Seconds smtplib waits to connect and for each reply: a silent server fails a request
# well inside the web server's 30 s request timeout.
SMTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Mail:
    recipient: str
    subject: str
    body_text: str
    tenant_id: int | None = None


class Mailer(Protocol):
    def send(self, session: Session, mail: Mail) -> OutboxMessage: ...


def _record(session: Session, mail: Mail, transport: str) -> OutboxMessage:
    message = OutboxMessage(
        tenant_id=mail.tenant_id,
        recipient=mail.recipient,
        subject=mail.subject,
        body_text=mail.body_text,
        transport=transport,
    )
    session.add(message)
    session.flush()
    return message


class OutboxMailer:
    """Keeps mail in the outbox table only (the embedded default)."""

    def send(self, session: Session, mail: Mail) -> OutboxMessage:
        return _record(session, mail, "outbox")


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = SMTP_TIMEOUT

    def send(self, session: Session, mail: Mail) -> OutboxMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message.set_content(mail.body_text)
        try:
            self._deliver(message)
        except OSError as error:  # smtplib's errors are OSErrors too
            if _is_temporary(error):
                raise ServiceUnavailable(MAIL_SERVER, type(error).__name__) from error
            raise
        return _record(session, mail, "smtp")

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def _is_temporary(error: OSError) -> bool:
    """No connection, a timeout, a dropped connection or a 4xx reply: worth trying later."""
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _reply in error.recipients.values())
    return not isinstance(error, smtplib.SMTPException) or isinstance(
        error, smtplib.SMTPServerDisconnected
    )


def mailer_from_url(url: str, sender: str) -> Mailer:
    """``outbox:`` or ``smtp://user:password@host:port`` (``smtp+starttls://`` for STARTTLS)."""
    parsed = urlparse(url)
    if parsed.scheme == "outbox":
        return OutboxMailer()
    if parsed.scheme in {"smtp", "smtp+starttls"}:
        return SmtpMailer(
            host=parsed.hostname or "localhost",
            port=parsed.port or 25,
            sender=sender,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            starttls=parsed.scheme == "smtp+starttls",
        )
    raise ValueError(f"MAIL_URL scheme {parsed.scheme!r} is not supported")
