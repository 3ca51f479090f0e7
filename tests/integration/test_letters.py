"""Letters and e-mails: templates per tenant and language, the sandbox, PDFs, the run."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import jobs
from portal.adapters.letter_rendering import JinjaLetterRenderer
from portal.adapters.mail import OutboxMailer, mailer_from_url
from portal.models import (
    Case,
    DebtorKind,
    Document,
    DocumentKind,
    LetterTemplate,
    OutboxMessage,
    Tenant,
)
from portal.services import dunning, letters, payment_links
from portal.services.ledger import Balance
from portal.services.placement import DebtorDetails, place_case
from tenants.scoping import unscoped
from tests.factories import make_tenant, placement_request

TODAY = date(2026, 3, 1)
BASE = "https://portal.agency.example"


def pdf_support() -> None:
    """WeasyPrint needs pango: required in CI, elsewhere the PDF tests are skipped."""
    try:
        import weasyprint  # noqa: F401, PLC0415
    except OSError as error:
        message = f"WeasyPrint cannot load pango (make pango installs it): {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)", pytrace=False)
        pytest.skip(message)


@pytest.fixture
def configured(app: Flask) -> Iterator[None]:
    previous = letters.configured()  # the app's own, put back for the tests that follow
    letters.configure(
        letters.LetterSettings(
            renderer=JinjaLetterRenderer(),
            storage=app.extensions["portal.storage"],
            agency_name="Northgate Collections",
            agency_contact="+49 30 1234 5678 · help@agency.example",
            public_base_url=BASE,
        )
    )
    yield
    letters.configure(previous)


@pytest.fixture
def acme(session: Session) -> Tenant:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        session.commit()
    return tenant


def place(session: Session, tenant: Tenant, *, language: str = "en", country: str = "DE",
          amounts: tuple[int, ...] = (123_456,)) -> Case:  # fmt: skip
    with unscoped(session):
        debtor = DebtorDetails(
            kind=DebtorKind.BUSINESS,
            name="Muster Bau GmbH",
            email="accounts@muster.example",
            address_line1="Hauptstraße 1",
            postal_code="10115",
            city="Berlin",
            country=country,
            language=language,
        )
        when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
        case = place_case(
            session,
            tenant,
            placement_request(amounts=amounts, debtor=debtor),
            today=TODAY,
            placed_at=when,
        )
        session.commit()
        return case


def balance_of(case: Case) -> Balance:
    return Balance(case.currency, principal=sum(i.amount_minor for i in case.invoices))


@pytest.mark.parametrize("key", letters.KEYS)
@pytest.mark.parametrize(
    ("language", "amount", "day"),
    [("de", "1.234,56\xa0€", "15. März 2026"), ("en", "€1,234.56", "15 March 2026")],
)
def test_each_template_renders_in_both_languages(
    session: Session, acme: Tenant, configured: None, key: str, language: str, amount: str,
    day: str,
) -> None:  # fmt: skip
    case = place(session, acme, language=language)
    with unscoped(session):
        letter = letters.compose(
            session,
            case,
            key,
            balance_of(case),
            today=TODAY,
            extra={
                "settlement": {"amount_minor": 100_000, "pay_by": date(2026, 3, 15)},
                "plan": {"instalments": [(date(2026, 3, 15), 61_728), (date(2026, 4, 15), 61_728)]},
                "payment": {"amount_minor": 123_456, "paid_on": date(2026, 3, 15)},
                "instalment": {
                    "number": 2,
                    "amount_minor": 123_456,
                    "retry_on": date(2026, 3, 15),
                },
            },
        )
    link = f"{BASE}/pay/{payment_links.token_for(case)}"
    assert letter.language == language
    assert case.agency_reference in letter.subject
    assert amount in letter.body
    assert link in letter.body
    if key in {"reminder", "demand_letter", "final_notice"}:
        assert day in letter.body  # the deadline, 14 days on
    elif key not in {"plan_approved", "plan_declined", "invoice_check"}:
        assert day in letter.body  # the date of the settlement, instalment or payment
    assert "{{" not in letter.body and "{%" not in letter.body


@pytest.mark.parametrize(
    ("language", "country", "expected"),
    [("de", "GB", "de"), ("en", "DE", "en"), ("fr", "AT", "de"), ("fr", "CH", "en"),
     ("de-CH", "CH", "de"), ("it", "IT", "en")],
)  # fmt: skip
def test_the_language_follows_the_debtor(language: str, country: str, expected: str) -> None:
    assert letters.language_for(language, country) == expected


def test_swiss_german_amounts_are_swiss(session: Session, acme: Tenant, configured: None) -> None:
    case = place(session, acme, language="de", country="CH")
    with unscoped(session):
        letter = letters.compose(session, case, "reminder", balance_of(case), today=TODAY)
    assert "1\u2019234.56" in letter.body


def test_a_tenant_template_wins(session: Session, acme: Tenant, configured: None) -> None:
    case = place(session, acme, language="de")
    with unscoped(session):
        other_tenant = make_tenant(session, "other")
    other = place(session, other_tenant, language="de")
    with unscoped(session):
        agency = "Agentur {{ case.reference }}"
        letters.save_template(session, tenant_id=None, key="reminder", language="de",
                              subject=agency, body="Agentur-Text")  # fmt: skip
        letters.save_template(
            session,
            tenant_id=acme.id,
            key="reminder",
            language="de",
            subject="Erinnerung {{ case.reference }}",
            body="Bitte zahlen Sie {{ amounts.outstanding }}: {{ payment_link }}",
        )
        session.commit()
        mine = letters.compose(session, case, "reminder", balance_of(case), today=TODAY)
        theirs = letters.compose(session, other, "reminder", balance_of(other), today=TODAY)
        english = place(session, acme, language="en")
        shipped = letters.compose(session, english, "reminder", balance_of(english), today=TODAY)
    assert mine.subject == f"Erinnerung {case.agency_reference}"
    assert mine.body.startswith("Bitte zahlen Sie 1.234,56\xa0€: https://")
    assert theirs.body.strip() == "Agentur-Text"  # the agency's row beats the shipped file
    assert shipped.subject.startswith("Payment reminder")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("Dear {{ debtor.name ", "line 1"),
        ("{% for x in invoices %}no end", "line 1"),
        ("{{ debtor.__class__.__mro__ }}", "may not use"),
        ("{{ ''.__class__.__subclasses__() }}", "may not use"),
        ("{{ lipsum.__globals__ }}", "may not use"),
        ("{{ debtor.password }}", "do not have"),
    ],
)
def test_a_broken_tenant_template_is_refused_and_changes_nothing(
    session: Session, acme: Tenant, configured: None, body: str, why: str
) -> None:
    with unscoped(session):
        before = session.scalar(select(func.count()).select_from(LetterTemplate))
        with pytest.raises(letters.LetterTemplateError, match=why) as refused:
            letters.save_template(session, tenant_id=acme.id, key="reminder", language="en",
                                  subject="Reminder", body=body)  # fmt: skip
        assert "“reminder” is refused" in str(refused.value)
        assert session.scalar(select(func.count()).select_from(LetterTemplate)) == before


def test_unknown_keys_and_languages_are_refused(
    session: Session, acme: Tenant, configured: None
) -> None:
    with unscoped(session), pytest.raises(letters.LetterTemplateError, match="no letter"):
        letters.save_template(session, tenant_id=acme.id, key="threat", language="en",
                              subject="x", body="x")  # fmt: skip
    with unscoped(session), pytest.raises(letters.LetterTemplateError, match="en or de"):
        letters.save_template(session, tenant_id=acme.id, key="reminder", language="fr",
                              subject="x", body="x")  # fmt: skip


def test_a_stored_template_that_breaks_falls_back_to_the_default(
    session: Session, acme: Tenant, configured: None
) -> None:
    case = place(session, acme)
    with unscoped(session):
        session.add(LetterTemplate(tenant_id=acme.id, key="reminder", language="en",
                                   subject="x", body="{{ ''.__class__ }}"))  # fmt: skip
        session.flush()
        letter = letters.compose(session, case, "reminder", balance_of(case), today=TODAY)
    assert letter.subject.startswith("Payment reminder")


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader  # noqa: PLC0415

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def test_the_letter_is_a_real_pdf(session: Session, acme: Tenant, configured: None) -> None:
    pdf_support()
    case = place(session, acme, language="de")
    with unscoped(session):
        letter = letters.compose(session, case, "reminder", balance_of(case), today=TODAY)
    data = letters.render_pdf(letter)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    flat = "".join(text.split())
    assert case.agency_reference in text
    assert f"{BASE}/pay/{payment_links.token_for(case)}" in flat  # printed in full
    assert "Northgate Collections" in text and "Acme Ltd" in text
    assert "1.234,56" in text


def run(session: Session, day: date, mailer: object | None = None) -> dunning.RunReport:
    now = datetime.combine(day, time(10), tzinfo=UTC)
    return dunning.run_due(
        session,
        today=day,
        mailer=mailer or OutboxMailer(),  # type: ignore[arg-type]
        file_letter=jobs.file_letter,  # filed at once, as the inline job queue would
        now=now,
    )


def correspondence(session: Session, case_id: int) -> list[Document]:
    with unscoped(session):
        return list(
            session.scalars(
                select(Document).where(
                    Document.case_id == case_id, Document.kind == DocumentKind.CORRESPONDENCE
                )
            )
        )


def test_the_run_stores_one_letter_per_step(
    session: Session, acme: Tenant, configured: None, app: Flask
) -> None:
    pdf_support()
    case_id = place(session, acme, language="de").id
    assert run(session, TODAY).letters == 1
    stored = correspondence(session, case_id)
    assert len(stored) == 1
    document = stored[0]
    assert document.content_type == "application/pdf" and not document.shareable_with_debtor
    assert document.filename.startswith("reminder-")
    data = app.extensions["portal.storage"].get(document.storage_key)
    assert data.startswith(b"%PDF")
    assert "Zahlungserinnerung" in pdf_text(data)

    assert run(session, TODAY).advanced == 0  # the same day again: nothing more
    assert len(correspondence(session, case_id)) == 1

    run(session, date(2026, 3, 15))  # the demand letter
    stored = correspondence(session, case_id)
    assert sorted(d.filename.split("-")[0] for d in stored) == ["demand_letter", "reminder"]


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.received: list = []

    def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
        self.received.append(message)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


def test_an_email_step_goes_to_a_real_smtp_server(
    session: Session, acme: Tenant, configured: None, smtp_server: tuple[Controller, Inbox]
) -> None:
    pdf_support()
    controller, inbox = smtp_server
    with unscoped(session):
        tenant = session.get(Tenant, acme.id)
        assert tenant is not None
        tenant.dunning_cadence = [
            {"stage": "amicable.reminder", "days": 0, "sends": "reminder_email"}
        ]
        session.commit()
    case = place(session, acme, language="de")
    link = f"{BASE}/pay/{payment_links.token_for(case)}"
    mailer = mailer_from_url(f"smtp://127.0.0.1:{controller.port}", "collections@agency.example")
    report = run(session, TODAY, mailer)
    assert report.emails == 1
    assert len(inbox.received) == 1
    message = inbox.received[0]
    assert message["To"] == "accounts@muster.example"
    assert case.agency_reference in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert link in body and "1.234,56" in body
    with unscoped(session):
        assert session.scalars(select(OutboxMessage.transport)).all() == ["smtp"]
    assert len(correspondence(session, case.id)) == 1  # the copy kept on the case
