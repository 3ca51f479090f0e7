"""Letters and e-mails to debtors: which text, in which language, filled with what.

Texts are Jinja2 templates per key (``KEYS``) and language (``LANGUAGES``). A tenant's
``LetterTemplate`` row wins over the agency's row (``tenant_id`` NULL), which wins over
the default shipped in ``templates/letters/<key>.<language>.txt`` (first line
``Subject: ...``, a blank line, then the body). Bodies are plain text: the same text is
the e-mail and the body of the PDF letter, whose letterhead, reference, breakdown table
and payment link come from the agency's layout, not from tenants.

The language is the debtor's stated one when it is German or English, else German for
debtors in Germany, Austria and Liechtenstein, English for everyone else. Amounts and
dates are formatted for that language and the debtor's country with Babel.

The rendering engine (a Jinja2 sandbox and WeasyPrint) is an adapter handed in with
``configure``, with the storage letters are kept in and the agency's settings; until
then ``configured()`` is None and the dunning run sends its plain texts.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.adapters.storage import Storage
from portal.config import Settings
from portal.models import (
    Case,
    Document,
    DocumentKind,
    LetterTemplate,
    PaymentPlan,
    PlanStatus,
    Settlement,
    SettlementStatus,
)
from portal.services import audit, documents, ledger, payment_links
from portal.services.ledger import Balance
from portal.services.money import format_money

log = logging.getLogger(__name__)

KEYS = (
    "reminder",
    "demand_letter",
    "final_notice",
    "settlement_confirmation",
    "payment_plan_confirmation",
    "instalment_failed",
    "receipt",
    "plan_approved",
    "plan_declined",
    "invoice_check",
)
LANGUAGES = ("en", "de")
GERMAN_COUNTRIES = frozenset({"DE", "AT", "LI"})
DEADLINE_DAYS = 14
MAX_SUBJECT = 300


class LetterTemplateError(ValueError):
    """A template that is refused; the message says which and why."""


class Renderer(Protocol):
    def default_source(self, name: str) -> str: ...

    def check(self, source: str) -> None: ...

    def render_text(self, source: str, context: dict[str, Any]) -> str: ...

    def render_html(self, name: str, context: dict[str, Any]) -> str: ...

    def pdf(self, html: str) -> bytes: ...


@dataclass(frozen=True)
class LetterSettings:
    renderer: Renderer
    storage: Storage
    agency_name: str
    agency_contact: str
    public_base_url: str
    max_document_bytes: int = 25 * 1024 * 1024


@dataclass(frozen=True)
class Letter:
    """A rendered text, with what its PDF needs."""

    key: str
    language: str
    subject: str
    body: str
    context: Mapping[str, Any]

    @property
    def paragraphs(self) -> list[str]:
        return [part.strip() for part in self.body.split("\n\n") if part.strip()]


_settings: LetterSettings | None = None


def configure(settings: LetterSettings | None) -> None:
    """Set (or with None, clear) the engine, storage and agency details letters use."""
    global _settings  # noqa: PLW0603 - one configuration per process, like the link secret
    _settings = settings


def configure_from(settings: Settings, storage: Storage, renderer: Renderer) -> None:
    configure(
        LetterSettings(
            renderer=renderer,
            storage=storage,
            agency_name=settings.agency_name,
            agency_contact=settings.agency_contact,
            public_base_url=settings.public_base_url,
            max_document_bytes=settings.max_document_bytes,
        )
    )


def configured() -> LetterSettings | None:
    return _settings


def _require() -> LetterSettings:
    if _settings is None:
        raise RuntimeError("letters need configure() first")
    return _settings


# -- language and formatting ----------------------------------------------------------


def language_for(language: str | None, country: str | None) -> str:
    stated = (language or "").strip().lower()[:2]
    if stated in LANGUAGES:
        return stated
    return "de" if (country or "").upper() in GERMAN_COUNTRIES else "en"


def locale_for(language: str, country: str | None) -> str:
    """``de_DE``, ``de_AT``, ``de_CH``; ``en_GB`` where the country has no English locale."""
    fallback = "de_DE" if language == "de" else "en_GB"
    candidate = f"{language}_{(country or '').upper()}"
    try:
        Locale.parse(candidate)
    except (UnknownLocaleError, ValueError):
        return fallback
    return candidate if language == "de" or candidate in {"en_IE", "en_US"} else fallback


@dataclass(frozen=True)
class _Format:
    locale: str
    currency: str

    def money(self, amount_minor: int) -> str:
        return format_money(amount_minor, self.currency, self.locale)

    def day(self, value: date) -> str:
        return str(format_date(value, format="long", locale=self.locale))


# -- context --------------------------------------------------------------------------


def payment_link(case: Case, base_url: str) -> str:
    token = payment_links.token_for(case)
    return f"{base_url.rstrip('/')}/pay/{token}" if token else ""


def build_context(
    case: Case,
    balance: Balance,
    *,
    today: date,
    language: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a letter may say, as plain values (no database objects reach templates)."""
    settings = _require()
    debtor = case.debtor
    language = language or language_for(debtor.language, debtor.country)
    fmt = _Format(locale_for(language, debtor.country), case.currency)
    return _assemble(
        fmt,
        language=language,
        today=today,
        agency={"name": settings.agency_name, "contact": settings.agency_contact},
        creditor={"name": case.tenant.display_name},
        debtor={"name": debtor.name, "address_lines": debtor.address_lines, "email": debtor.email},
        case={
            "reference": case.agency_reference,
            "creditor_reference": case.creditor_reference,
            "currency": case.currency,
        },
        invoices=[
            (invoice.number, invoice.issue_date, invoice.due_date, invoice.amount_minor)
            for invoice in case.invoices
        ],
        balance=balance,
        link=payment_link(case, settings.public_base_url),
        extra=extra or {},
    )


def _assemble(
    fmt: _Format,
    *,
    language: str,
    today: date,
    agency: dict[str, str],
    creditor: dict[str, str],
    debtor: dict[str, Any],
    case: dict[str, str],
    invoices: Sequence[tuple[str, date, date, int]],
    balance: Balance,
    link: str,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    settlement = extra.get("settlement")
    plan = extra.get("plan")
    payment = extra.get("payment")
    instalment = extra.get("instalment")
    return {
        "language": language,
        "today": fmt.day(today),
        "deadline": fmt.day(extra.get("deadline") or today + timedelta(days=DEADLINE_DAYS)),
        "agency": agency,
        "creditor": creditor,
        "debtor": debtor,
        "case": case,
        "invoices": [
            {
                "number": number,
                "issue_date": fmt.day(issued),
                "due_date": fmt.day(due),
                "amount": fmt.money(amount),
            }
            for number, issued, due, amount in invoices
        ],
        "amounts": {
            "principal": fmt.money(balance.principal),
            "interest": fmt.money(balance.interest),
            "fees": fmt.money(balance.fees),
            "adjustments": fmt.money(balance.adjustments),
            "paid": fmt.money(balance.paid),
            "total": fmt.money(balance.total_claimed),
            "outstanding": fmt.money(balance.outstanding),
            "has_interest": balance.interest != 0,
            "has_fees": balance.fees != 0,
            "has_adjustments": balance.adjustments != 0,
            "has_paid": balance.paid != 0,
        },
        "payment_link": link,
        "settlement": (
            {
                "amount": fmt.money(int(settlement["amount_minor"])),
                "pay_by": fmt.day(settlement["pay_by"]),
            }
            if settlement
            else None
        ),
        "plan": (
            {
                "instalments": [
                    {"due": fmt.day(due), "amount": fmt.money(int(amount))}
                    for due, amount in plan["instalments"]
                ],
                "count": len(plan["instalments"]),
            }
            if plan
            else None
        ),
        "comment": str(extra.get("comment") or ""),
        "payment": (
            {
                "amount": fmt.money(int(payment["amount_minor"])),
                "paid_on": fmt.day(payment["paid_on"]),
            }
            if payment
            else None
        ),
        "instalment": (
            {
                "number": int(instalment["number"]),
                "amount": fmt.money(int(instalment["amount_minor"])),
                "retry_on": fmt.day(instalment["retry_on"]) if instalment["retry_on"] else None,
            }
            if instalment
            else None
        ),
    }


def sample_context(language: str, creditor_name: str = "Sample Creditor Ltd") -> dict[str, Any]:
    """A full context with made-up values for a sample case of ``creditor_name``: what a
    template is tried against when saved, and what its preview shows."""
    fmt = _Format("de_DE" if language == "de" else "en_GB", "EUR")
    day = date(2026, 3, 1)
    agency = (
        {"name": _settings.agency_name, "contact": _settings.agency_contact}
        if _settings is not None
        else {"name": "The agency", "contact": "contact details"}
    )
    return _assemble(
        fmt,
        language=language,
        today=day,
        agency=agency,
        creditor={"name": creditor_name},
        debtor={
            "name": "Keller Bau GmbH",
            "address_lines": ["Hauptstraße 5", "70173 Stuttgart"],
            "email": "buchhaltung@keller-bau.example",
        },
        case={"reference": "26-SMPL-0001", "creditor_reference": "INV-SAMPLE", "currency": "EUR"},
        invoices=[("INV-1", day, day, 123_456)],
        balance=Balance("EUR", principal=123_456, interest=1_000, fees=4_000, paid=500),
        link="https://portal.example/pay/token",
        extra={
            "settlement": {"amount_minor": 100_000, "pay_by": day},
            "plan": {"instalments": [(day, 50_000), (day, 50_000)]},
            "payment": {"amount_minor": 50_000, "paid_on": day},
            "instalment": {"number": 2, "amount_minor": 50_000, "retry_on": day},
            "comment": "A comment",
        },
    )


def placeholders(language: str) -> list[str]:
    """The values a template may name (``debtor.name``, ``amounts.outstanding``, ...); a
    list such as ``invoices`` is named by itself, to loop over."""
    names: list[str] = []
    for name, value in sample_context(language).items():
        if isinstance(value, dict):
            names.extend(f"{name}.{part}" for part in value)
        else:
            names.append(name)
    return names


# -- templates ------------------------------------------------------------------------


def _parse_default(source: str) -> tuple[str, str]:
    head, _, body = source.partition("\n\n")
    if not head.startswith("Subject:"):
        raise ValueError("a default letter template starts with a 'Subject:' line")
    return head.removeprefix("Subject:").strip(), body.strip() + "\n"


TemplateSource = tuple[str, str, LetterTemplate | None]
# Where a session keeps the sources it looked up: the dunning run writes thousands of
# letters with a handful of templates. ``save_template`` clears it.
SOURCE_CACHE = "letters.template_sources"


def template_source(
    session: Session, tenant_id: int | None, key: str, language: str
) -> TemplateSource:
    """Subject and body source of ``key``: the tenant's, the agency's, or the shipped one."""
    cache: dict[tuple[int | None, str, str], TemplateSource] = session.info.setdefault(
        SOURCE_CACHE, {}
    )
    found = cache.get((tenant_id, key, language))
    if found is None:
        found = cache[(tenant_id, key, language)] = _load_source(session, tenant_id, key, language)
    return found


def _load_source(
    session: Session, tenant_id: int | None, key: str, language: str
) -> TemplateSource:
    with session.no_autoflush:
        rows = session.scalars(
            select(LetterTemplate).where(
                LetterTemplate.key == key,
                LetterTemplate.language == language,
                (LetterTemplate.tenant_id == tenant_id) | LetterTemplate.tenant_id.is_(None),
            )
        ).all()
    for row in sorted(rows, key=lambda row: row.tenant_id is None):
        return row.subject, row.body, row
    subject, body = _parse_default(_require().renderer.default_source(f"{key}.{language}.txt"))
    return subject, body, None


def _render(subject: str, body: str, context: dict[str, Any]) -> tuple[str, str]:
    renderer = _require().renderer
    rendered_subject = " ".join(renderer.render_text(subject, context).split())
    return rendered_subject[:MAX_SUBJECT], renderer.render_text(body, context).strip() + "\n"


def compose(
    session: Session,
    case: Case,
    key: str,
    balance: Balance,
    *,
    today: date,
    extra: Mapping[str, Any] | None = None,
) -> Letter:
    """The letter ``key`` for ``case``, in the debtor's language, from the template that
    applies. A stored template that no longer renders is logged and the shipped one used,
    so one bad text never stops a run."""
    if key not in KEYS:
        raise LetterTemplateError(f"There is no letter called {key!r}.")
    context = build_context(case, balance, today=today, extra=extra)
    language = context["language"]
    subject, body, row = template_source(session, case.tenant_id, key, language)
    try:
        rendered = _render(subject, body, context)
    except ValueError as problem:
        if row is None:
            raise
        log.warning("letter template %s failed, using the default: %s", row.id, problem)
        default = _parse_default(_require().renderer.default_source(f"{key}.{language}.txt"))
        rendered = _render(*default, context)
    return Letter(key, language, rendered[0], rendered[1], context)


def preview_template(
    key: str, language: str, subject: str, body: str, creditor_name: str = "Sample Creditor Ltd"
) -> tuple[str, str]:
    """The subject and text rendered against the sample letter (``sample_context``).

    A template that does not parse, that reaches for what the sandbox forbids, or that
    names a value letters do not have is refused with ``LetterTemplateError``.
    """
    if key not in KEYS:
        raise LetterTemplateError(f"There is no letter called {key!r}: choose {', '.join(KEYS)}.")
    if language not in LANGUAGES:
        raise LetterTemplateError(f"Letters are written in {' or '.join(LANGUAGES)}.")
    if not subject.strip() or not body.strip():
        raise LetterTemplateError("A letter needs a subject and a text.")
    renderer = _require().renderer
    context = sample_context(language, creditor_name)
    for part, source in (("subject", subject), ("text", body)):
        try:
            renderer.check(source)
            renderer.render_text(source, context)
        except ValueError as problem:
            raise LetterTemplateError(f"The {part} of “{key}” is refused: {problem}") from None
    return _render(subject, body, context)


def save_template(
    session: Session,
    *,
    tenant_id: int | None,
    key: str,
    language: str,
    subject: str,
    body: str,
    actor_id: int | None = None,
) -> LetterTemplate:
    """Store a tenant's (or with ``tenant_id`` None the agency's) text for ``key``.

    It is tried first against a full sample letter (``preview_template``); a refused
    template raises ``LetterTemplateError`` and nothing is stored. Audited.
    """
    preview_template(key, language, subject, body)
    row = _stored_row(session, tenant_id, key, language)
    if row is None:
        row = LetterTemplate(tenant_id=tenant_id, key=key, language=language)
        session.add(row)
    row.subject, row.body = subject.strip()[:MAX_SUBJECT], body
    session.flush()
    session.info.pop(SOURCE_CACHE, None)
    audit.record(
        session,
        "letter_template.saved",
        actor_id=actor_id,
        tenant_id=tenant_id,
        subject=row,
        key=key,
        language=language,
    )
    return row


def reset_template(
    session: Session, *, tenant_id: int, key: str, language: str, actor_id: int
) -> bool:
    """Drop the tenant's own text for ``key``, so the agency's applies again; False when
    it had none. Audited."""
    row = _stored_row(session, tenant_id, key, language)
    if row is None:
        return False
    audit.record(
        session,
        "letter_template.reset",
        actor_id=actor_id,
        tenant_id=tenant_id,
        subject=row,
        key=key,
        language=language,
    )
    session.delete(row)
    session.flush()
    session.info.pop(SOURCE_CACHE, None)
    return True


def customised(session: Session, tenant_id: int) -> set[tuple[str, str]]:
    """The (key, language) pairs the tenant has its own text for."""
    statement = select(LetterTemplate.key, LetterTemplate.language).where(
        LetterTemplate.tenant_id == tenant_id
    )
    return {(key, language) for key, language in session.execute(statement)}


def _stored_row(
    session: Session, tenant_id: int | None, key: str, language: str
) -> LetterTemplate | None:
    return session.scalar(
        select(LetterTemplate).where(
            LetterTemplate.key == key,
            LetterTemplate.language == language,
            LetterTemplate.tenant_id.is_(None)
            if tenant_id is None
            else LetterTemplate.tenant_id == tenant_id,
        )
    )


# -- PDF ------------------------------------------------------------------------------


def email(
    session: Session,
    mailer: Mailer,
    case: Case,
    key: str,
    *,
    today: date,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Send the ``key`` letter to the debtor by e-mail; False when they have no address or
    asked for no e-mails (nothing is sent)."""
    debtor = case.debtor
    if not debtor.email or debtor.no_emails or debtor.cease_contact:
        return False
    letter = compose(session, case, key, ledger.balance(session, case), today=today, extra=extra)
    mailer.send(session, Mail(debtor.email, letter.subject, letter.body, tenant_id=case.tenant_id))
    return True


def render_pdf(letter: Letter) -> bytes:
    renderer = _require().renderer
    html = renderer.render_html(
        "letter.html",
        {**letter.context, "subject": letter.subject, "paragraphs": letter.paragraphs},
    )
    return renderer.pdf(html)


def store_pdf(
    session: Session,
    case: Case,
    letter: Letter,
    *,
    today: date,
    filename: str | None = None,
    shareable_with_debtor: bool = False,
) -> Document:
    """Render ``letter`` to PDF and keep it on the case as correspondence (by default
    named by its key and day, and not shown to the debtor)."""
    settings = _require()
    data = render_pdf(letter)
    return documents.add_document(
        session,
        settings.storage,
        case,
        filename=filename or _pdf_name(letter.key, case, today),
        stream=io.BytesIO(data),
        kind=DocumentKind.CORRESPONDENCE.value,
        shareable_with_debtor=shareable_with_debtor,
        uploaded_by_id=None,
        max_bytes=settings.max_document_bytes,
    )


def file_letter(session: Session, case: Case, key: str, day: date) -> Document | None:
    """Keep the ``key`` letter of ``day`` on the case as a PDF, once (repeats do nothing)."""
    filename = _pdf_name(key, case, day)
    if any(document.filename == filename for document in case.documents):
        return None
    balance = ledger.balance(session, case)
    extra = _extra_for(session, case, key, day)
    letter = compose(session, case, key, balance, today=day, extra=extra)
    return store_pdf(session, case, letter, today=day)


SETTLEMENT_PAY_DAYS = 14


def _extra_for(session: Session, case: Case, key: str, day: date) -> dict[str, Any]:
    """What a letter says beyond the case itself: the settlement or the plan it confirms."""
    if key == "payment_plan_confirmation":
        return _plan_extra(session, case)
    if key != "settlement_confirmation":
        return {}
    latest = session.scalar(
        select(Settlement)
        .where(
            Settlement.case_id == case.id,
            Settlement.status.in_((SettlementStatus.PROPOSED, SettlementStatus.ACCEPTED)),
        )
        .order_by(Settlement.id.desc())
    )
    if latest is None:
        return {}
    pay_by = day + timedelta(days=SETTLEMENT_PAY_DAYS)
    return {"settlement": {"amount_minor": latest.amount_minor, "pay_by": pay_by}}


def _plan_extra(session: Session, case: Case) -> dict[str, Any]:
    plan = session.scalar(
        select(PaymentPlan)
        .where(PaymentPlan.case_id == case.id, PaymentPlan.status == PlanStatus.ACTIVE)
        .order_by(PaymentPlan.id.desc())
    )
    if plan is None:
        return {}
    return {"plan": {"instalments": [(i.due_on, i.amount_minor) for i in plan.instalments]}}


def _pdf_name(key: str, case: Case, day: date) -> str:
    return f"{key}-{case.agency_reference}-{day.isoformat()}.pdf"


def key_for_step(sends: str, stage: str) -> str:
    """The letter a cadence step sends: by its ``sends`` name, else by its stage."""
    name = sends.removesuffix("_letter").removesuffix("_email")
    if name in KEYS:
        return name
    if name in {"demand", "demand_letter"} or stage.endswith("demand"):
        return "demand_letter"
    if name in {"final", "final_notice"} or stage.startswith("legal"):
        return "final_notice"
    return "reminder"
