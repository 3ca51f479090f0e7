"""Mail goes to the outbox or a real SMTP server; jobs run in-process."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.errors import ServiceUnavailable
from portal.adapters.jobs import InProcessJobs
from portal.adapters.mail import Mail, OutboxMailer, SmtpMailer, mailer_from_url
from portal.models import OutboxMessage


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.received: list = []

    def handle_message(self, message) -> None:
        self.received.append(message)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port: aiosmtpd's readiness check needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


def test_outbox_keeps_the_message(session: Session) -> None:
    sent = OutboxMailer().send(session, Mail("debtor@example.com", "Reminder", "Please pay"))
    stored = session.scalars(select(OutboxMessage)).one()
    assert stored.id == sent.id
    assert (stored.recipient, stored.subject, stored.transport) == (
        "debtor@example.com",
        "Reminder",
        "outbox",
    )


def test_smtp_delivers_to_a_real_server_and_records_it(session: Session, smtp_server) -> None:
    controller, inbox = smtp_server
    mailer = mailer_from_url(f"smtp://127.0.0.1:{controller.port}", "collections@agency.example")
    assert isinstance(mailer, SmtpMailer)
    mailer.send(
        session, Mail("debtor@example.com", "Demand for payment", "Invoice INV-1 is overdue.")
    )
    assert len(inbox.received) == 1
    message = inbox.received[0]
    assert message["From"] == "collections@agency.example"
    assert message["To"] == "debtor@example.com"
    assert "Invoice INV-1 is overdue." in message.get_payload()
    assert session.scalars(select(OutboxMessage.transport)).all() == ["smtp"]


def test_smtp_failure_records_nothing(session: Session) -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=1, sender="a@agency.example", timeout=2)
    with pytest.raises(ServiceUnavailable, match="the mail server"):
        mailer.send(session, Mail("debtor@example.com", "Reminder", "x"))
    assert session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize("url", ["http://mail.example", "smtps://mail.example"])
def test_unknown_mail_transport_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not supported"):
        mailer_from_url(url, "a@agency.example")


def test_smtp_url_carries_credentials_and_starttls() -> None:
    mailer = mailer_from_url("smtp+starttls://user%40x:p%2Fw@mail.example:587", "a@agency.example")
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.username, mailer.password, mailer.starttls) == (
        "mail.example",
        587,
        "user@x",
        "p/w",
        True,
    )


def test_in_process_jobs_run_inside_the_wrapper() -> None:
    seen: list[tuple[str, int, str]] = []
    context = threading.local()

    def wrap(job):
        def run(*args):
            context.inside = "wrapped"
            return job(*args)

        return run

    def job(name: str, number: int) -> None:
        time.sleep(0.01)
        seen.append((name, number, getattr(context, "inside", "bare")))

    jobs = InProcessJobs(wrap)
    for number in range(5):
        jobs.enqueue(job, "letter", number)
    jobs.wait_idle()
    assert sorted(seen) == [("letter", n, "wrapped") for n in range(5)]


def test_a_failing_job_is_logged_and_does_not_stop_others(caplog) -> None:
    done: list[int] = []

    def fails() -> None:
        raise RuntimeError("printer on fire")

    jobs = InProcessJobs(lambda job: job)
    jobs.enqueue(fails)
    jobs.enqueue(done.append, 1)
    jobs.wait_idle()
    assert done == [1]
    assert "background job failed" in caplog.text
