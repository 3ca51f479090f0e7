"""Placing overdue accounts with the agency: checking them, scoring them, booking them.

One path for every channel: the web form, the CSV import and the API all build
``PlacementRequest`` values, ask ``check_placements`` what is wrong with them, and place
the good ones with ``place_many`` (batched inserts, so a 100 000-row import stays fast).
"""

from __future__ import annotations

import enum
import math
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    Activity,
    ActivityKind,
    AuditEntry,
    Case,
    CheckStatus,
    Debtor,
    DebtorContact,
    DebtorKind,
    EntryKind,
    Invoice,
    InvoiceCheck,
    LedgerEntry,
    Stage,
    Tenant,
)
from portal.models.debtor import identity_key
from portal.services import payment_links, rollups
from portal.services.money import MAX_MINOR_UNITS, format_money, is_currency, minor_units
from tenants.scoping import scoped_get

# Crockford's base32 without look-alikes: references are read out on the phone.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LOOKUP_CHUNK = 500
DEBTOR_KEY = ("kind", "name", "registration_number", "email", "postal_code", "address_line1")


class WarningSign(enum.StrEnum):
    """What creditors notice before a customer becomes a bad debtor."""

    NOT_RETURNING_CALLS = "not_returning_calls"
    COMPLAINTS_ABOUT_GOODS = "complaints_about_goods"
    REPORTS_FROM_SUPPLIERS = "reports_from_suppliers"
    FALLING_ORDERS = "falling_orders"
    CHANGING_BANK_ACCOUNTS = "changing_bank_accounts"
    REPEATED_DISPUTES = "repeated_disputes"
    KEY_STAFF_LEAVING = "key_staff_leaving"

    @property
    def label(self) -> str:
        return WARNING_SIGN_LABELS[self]


WARNING_SIGN_LABELS = {
    WarningSign.NOT_RETURNING_CALLS: "Not returning calls or e-mails",
    WarningSign.COMPLAINTS_ABOUT_GOODS: "Sudden complaints about the goods or service",
    WarningSign.REPORTS_FROM_SUPPLIERS: "Other suppliers report late payment",
    WarningSign.FALLING_ORDERS: "Falling order volume",
    WarningSign.CHANGING_BANK_ACCOUNTS: "Paying from changing bank accounts",
    WarningSign.REPEATED_DISPUTES: "Repeated disputes over invoices",
    WarningSign.KEY_STAFF_LEAVING: "Key staff leaving",
}


def warning_sign_label(value: str) -> str:
    """Words for a stored sign, including the one the dates add."""
    if value == "over_90_days_past_due":
        return "More than 90 days past due"
    try:
        return WARNING_SIGN_LABELS[WarningSign(value)]
    except ValueError:
        return value.replace("_", " ")


@dataclass(frozen=True)
class ContactDetails:
    name: str
    position: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class DebtorDetails:
    kind: DebtorKind
    name: str
    registration_number: str | None = None
    vat_number: str | None = None
    email: str | None = None
    phone: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str = "DE"
    language: str = ""  # unstated: chosen by the country (see letters.language_for)
    contacts: tuple[ContactDetails, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class InvoiceDetails:
    number: str
    issue_date: date
    due_date: date
    amount_minor: int


@dataclass(frozen=True)
class PlacementRequest:
    debtor: DebtorDetails
    creditor_reference: str
    invoices: tuple[InvoiceDetails, ...]
    currency: str | None = None
    payment_term_days: int | None = None
    contract_interest_bp: int | None = None
    last_reminder_on: date | None = None
    reminders_sent: int = 0
    disputed: bool = False
    contract_reviewed: bool = False
    warning_signs: frozenset[WarningSign] = frozenset()
    # Handed over for an early-intervention check, not (yet) for collection.
    early_intervention: bool = False

    @property
    def total_minor(self) -> int:
        return sum(invoice.amount_minor for invoice in self.invoices)

    def oldest_due_date(self) -> date | None:
        return min((invoice.due_date for invoice in self.invoices), default=None)


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field: ``field`` is a dotted path (``invoices.1.amount``)."""

    field: str
    message: str


# --- checking ----------------------------------------------------------------------------


def _check_text(value: str | None, name: str, limit: int, *, required: bool) -> list[Problem]:
    if not (value or "").strip():
        return [Problem(name, "Required.")] if required else []
    if len(value or "") > limit:
        return [Problem(name, f"At most {limit} characters.")]
    if any(ord(char) < 32 or ord(char) == 127 for char in value or ""):
        return [Problem(name, "Remove the control characters (tabs, line breaks, NUL).")]
    return []


def _check_debtor(debtor: DebtorDetails) -> list[Problem]:
    found = _check_text(debtor.name, "debtor.name", 200, required=True)
    for name, limit in (("registration_number", 64), ("vat_number", 32), ("phone", 32),
                        ("address_line1", 200), ("address_line2", 200), ("postal_code", 16),
                        ("city", 100)):  # fmt: skip
        found += _check_text(getattr(debtor, name), f"debtor.{name}", limit, required=False)
    found += _check_email(debtor.email, "debtor.email")
    if len(debtor.country) != 2 or not debtor.country.isalpha():
        found.append(Problem("debtor.country", "A two-letter country code, such as DE or GB."))
    for index, contact in enumerate(debtor.contacts):
        where = f"debtor.contacts.{index}"
        found += _check_text(contact.name, f"{where}.name", 200, required=True)
        found += _check_text(contact.position, f"{where}.position", 100, required=False)
        found += _check_text(contact.email, f"{where}.email", 254, required=False)
        found += _check_email(contact.email, f"{where}.email")
        found += _check_text(contact.phone, f"{where}.phone", 32, required=False)
    return found


def _check_email(value: str | None, name: str) -> list[Problem]:
    if not value:
        return []
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return [Problem(name, "Not a valid e-mail address.")]
    return []


def _check_invoices(request: PlacementRequest, today: date) -> list[Problem]:
    if not request.invoices:
        return [Problem("invoices", "Add at least one invoice.")]
    found: list[Problem] = []
    seen: set[str] = set()
    for index, invoice in enumerate(request.invoices):
        where = f"invoices.{index}"
        found += _check_text(invoice.number, f"{where}.number", 64, required=True)
        if invoice.number.strip().lower() in seen:
            found.append(Problem(f"{where}.number", "The same invoice number appears twice."))
        seen.add(invoice.number.strip().lower())
        if invoice.amount_minor <= 0:
            found.append(Problem(f"{where}.amount", "The amount must be more than zero."))
        elif invoice.amount_minor >= MAX_MINOR_UNITS:
            found.append(Problem(f"{where}.amount", "The amount is larger than any claim."))
        if invoice.due_date > today:
            found.append(
                Problem(f"{where}.due_date", "Not yet due: the due date is in the future.")
            )
        if invoice.issue_date > invoice.due_date:
            found.append(Problem(f"{where}.issue_date", "Issued after its due date."))
    return found


def _check_terms(request: PlacementRequest, today: date) -> list[Problem]:
    found = _check_text(request.creditor_reference, "creditor_reference", 64, required=True)
    if request.currency is not None and not is_currency(request.currency):
        found.append(Problem("currency", "Not an ISO 4217 currency code."))
    if request.payment_term_days is not None and not 0 <= request.payment_term_days <= 365:
        found.append(Problem("payment_term_days", "Between 0 and 365 days."))
    if request.contract_interest_bp is not None and not 0 <= request.contract_interest_bp <= 10_000:
        found.append(Problem("contract_interest", "Between 0 and 100 %."))
    if not 0 <= request.reminders_sent <= 99:
        found.append(Problem("reminders_sent", "Between 0 and 99."))
    if request.last_reminder_on is not None and request.last_reminder_on > today:
        found.append(Problem("last_reminder_on", "The last reminder cannot be in the future."))
    return found


def existing_references(session: Session, references: Iterable[str]) -> dict[str, str]:
    """Creditor references already placed in the session's tenant: {reference: agency ref}."""
    wanted = sorted({ref.strip() for ref in references if ref.strip() and "\x00" not in ref})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        statement = select(Case.creditor_reference, Case.agency_reference).where(
            Case.creditor_reference.in_(chunk)
        )
        found.update(dict(session.execute(statement).tuples().all()))
    return found


def existing_debtor_invoices(
    session: Session, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(debtor name, invoice number) pairs already placed: {pair: agency reference}."""
    # Text with NUL is refused by the checks anyway, and PostgreSQL cannot compare it.
    wanted = sorted(
        (name.strip().lower(), number.strip().lower())
        for name, number in set(pairs)
        if "\x00" not in name + number
    )
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        key = tuple_(func.lower(Debtor.name), func.lower(Invoice.number))
        statement = (
            select(func.lower(Debtor.name), func.lower(Invoice.number), Case.agency_reference)
            .join(Case, Case.id == Invoice.case_id)
            .join(Debtor, Debtor.id == Case.debtor_id)
            .where(key.in_(chunk))
        )
        found.update(
            {(name, number): agency for name, number, agency in session.execute(statement)}
        )
    return found


def check_placements(
    session: Session, requests: Sequence[PlacementRequest], today: date
) -> list[list[Problem]]:
    """The problems of each request, in order (an empty list: it can be placed).

    Duplicates are looked up in batches, against what is already placed in the tenant
    and against the other requests of the same batch.
    """
    placed_refs = existing_references(session, (r.creditor_reference for r in requests))
    placed_pairs = existing_debtor_invoices(
        session, ((r.debtor.name, i.number) for r in requests for i in r.invoices)
    )
    batch_refs: set[str] = set()
    results = []
    for request in requests:
        found = _check_terms(request, today) + _check_debtor(request.debtor)
        found += _check_invoices(request, today)
        reference = request.creditor_reference.strip()
        if reference in placed_refs:
            found.append(Problem("creditor_reference",
                                 f"Already placed as case {placed_refs[reference]}."))  # fmt: skip
        elif reference in batch_refs:
            found.append(Problem("creditor_reference", "The same reference appears twice."))
        batch_refs.add(reference)
        for index, invoice in enumerate(request.invoices):
            pair = (request.debtor.name.strip().lower(), invoice.number.strip().lower())
            if pair in placed_pairs:
                found.append(Problem(
                    f"invoices.{index}.number",
                    f"Invoice {invoice.number} of {request.debtor.name} is already placed "
                    f"as case {placed_pairs[pair]}.",
                ))  # fmt: skip
        results.append(found)
    return results


# --- scoring -----------------------------------------------------------------------------


def days_past_due(request: PlacementRequest, today: date) -> int:
    oldest = request.oldest_due_date()
    return max(0, (today - oldest).days) if oldest else 0


def effective_warning_signs(request: PlacementRequest, today: date) -> list[str]:
    """The signs the creditor ticked, plus what the dates show (over 90 days past due)."""
    signs = sorted(sign.value for sign in request.warning_signs)
    if days_past_due(request, today) > 90:
        signs.append("over_90_days_past_due")
    return signs


def priority_score(request: PlacementRequest, currency: str, today: date) -> int:
    """How urgently collectors should work a new case, 0 to 100.

    - age: up to 40 points, linear in days past due, full at 360 days;
    - size: up to 30 points, 6 per factor of ten above 100 in the currency's major unit
      (100 → 0, 1 000 → 6, 100 000 → 18, 10 000 000 → 30);
    - warning signs: 5 points for each sign the creditor reported, up to 30.
    """
    age_points = min(days_past_due(request, today), 360) / 360 * 40
    major = request.total_minor / 10 ** minor_units(currency)
    size_points = min(30.0, max(0.0, 6 * math.log10(major / 100))) if major > 0 else 0.0
    sign_points = min(30, 5 * len(request.warning_signs))
    return round(age_points + size_points + sign_points)


# --- placing -----------------------------------------------------------------------------


def _new_references(session: Session, count: int) -> list[str]:
    """``count`` fresh agency references, checked against the database in one query."""
    year = f"{utcnow():%y}"
    references: set[str] = set()
    while len(references) < count:
        while len(references) < count:
            code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
            references.add(f"{year}-{code[:4]}-{code[4:]}")
        # Agency references are unique across all tenants, so look across all of them
        # (the unique index answers it; only the references themselves are read).
        taken = set(session.scalars(
            select(Case.agency_reference).where(Case.agency_reference.in_(references)),
            execution_options={"unscoped": True},
        ))  # fmt: skip
        references -= taken
    return sorted(references)


def place_many(
    session: Session,
    tenant: Tenant,
    requests: Sequence[PlacementRequest],
    *,
    placed_by_id: int | None,
    today: date,
    import_batch_id: int | None = None,
    placed_at: datetime | None = None,
) -> list[int]:
    """Place already-checked requests for ``tenant``; returns the new case ids in order.

    Rows go in with one multi-row INSERT per table, so a large import costs a handful
    of statements per batch instead of several per case. Call it inside the caller's
    transaction: a failure leaves nothing placed.
    """
    if not requests:
        return []
    when = placed_at or utcnow()
    mandate_ends_on = today + relativedelta(months=tenant.mandate_months)
    debtor_ids = _insert_debtors(session, tenant, requests)
    references = _new_references(session, len(requests))
    case_rows: list[dict[str, object]] = [
        {
            "tenant_id": tenant.id,
            "debtor_id": debtor_id,
            "creditor_reference": request.creditor_reference.strip(),
            "agency_reference": reference,
            "currency": request.currency or tenant.currency,
            "stage": Stage.CHECK.value if request.early_intervention else Stage.PLACED.value,
            "priority": priority_score(request, request.currency or tenant.currency, today),
            "next_action_on": today,
            "placed_at": when,
            "updated_at": when,
            "mandate_ends_on": mandate_ends_on,
            "payment_term_days": request.payment_term_days,
            "contract_interest_bp": request.contract_interest_bp,
            "last_reminder_on": request.last_reminder_on,
            "reminders_sent": request.reminders_sent,
            "disputed_at_placement": request.disputed,
            "contract_reviewed": request.contract_reviewed,
            "warning_signs": effective_warning_signs(request, today),
            "import_batch_id": import_batch_id,
            # The ledger's principal entries below, summed (see Case.placed_minor).
            "placed_minor": request.total_minor,
            "claimed_minor": request.total_minor,
            "oldest_due_on": request.oldest_due_date(),
            "debtor_key": _identity_of(request.debtor),
            # The link is issued now, whenever the case counts as placed (imports of history).
            **payment_links.new_link(reference, tenant.payment_link_valid_days, utcnow()),
        }
        for request, debtor_id, reference in zip(requests, debtor_ids, references, strict=True)
    ]
    case_ids = _insert_returning_ids(session, Case, case_rows, ("agency_reference",))
    rollups.cases_placed(session, case_rows)
    batch = _NewCases(tenant, requests, case_rows, case_ids, placed_by_id, when)
    _insert_invoices_and_principal(session, batch)
    _insert_placement_records(session, batch)
    return case_ids


def _insert_returning_ids(
    session: Session, model: type, rows: list[dict[str, object]], key: tuple[str, ...]
) -> list[int]:
    """Insert ``rows`` in multi-row statements; their new ids, in the order of ``rows``.

    Rows come back from RETURNING in no promised order (and asking SQLAlchemy to sort
    them makes SQLite insert one row at a time), so each id is matched to its row by
    the ``key`` columns. Rows with equal keys are interchangeable, so any match is right.
    """
    columns = [getattr(model, name) for name in key]
    statement = insert(model).returning(model.id, *columns)  # type: ignore[attr-defined]
    waiting: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for new_id, *values in session.execute(statement, rows):
        waiting[tuple(values)].append(new_id)
    return [waiting[tuple(row[name] for name in key)].pop() for row in rows]


def _identity_of(debtor: DebtorDetails) -> str:
    """Who the debtor is across placements (``Debtor.identity_key``; a copy on the case)."""
    return identity_key(debtor.kind, debtor.name, debtor.registration_number, debtor.email)


def _insert_debtors(
    session: Session, tenant: Tenant, requests: Sequence[PlacementRequest]
) -> list[int]:
    rows = [
        {
            "tenant_id": tenant.id,
            "created_at": utcnow(),
            **{name: value for name, value in vars(r.debtor).items() if name != "contacts"},
            "identity_key": _identity_of(r.debtor),
        }
        for r in requests
    ]
    ids = _insert_returning_ids(session, Debtor, rows, DEBTOR_KEY)
    contacts = [
        {"tenant_id": tenant.id, "debtor_id": debtor_id, **vars(contact)}
        for request, debtor_id in zip(requests, ids, strict=True)
        for contact in request.debtor.contacts
    ]
    if contacts:
        session.execute(insert(DebtorContact), contacts)
    return ids


@dataclass(frozen=True)
class _NewCases:
    """The cases ``place_many`` is inserting, as the helpers below need them."""

    tenant: Tenant
    requests: Sequence[PlacementRequest]
    case_rows: list[dict[str, object]]
    case_ids: list[int]
    placed_by_id: int | None
    when: datetime

    def each(self) -> Iterable[tuple[PlacementRequest, dict[str, object], int]]:
        return zip(self.requests, self.case_rows, self.case_ids, strict=True)


def _insert_invoices_and_principal(session: Session, batch: _NewCases) -> None:
    tenant, placed_by_id = batch.tenant, batch.placed_by_id
    pairs = [
        (case_id, row["currency"], invoice)
        for request, row, case_id in batch.each()
        for invoice in request.invoices
    ]
    invoice_ids = _insert_returning_ids(session, Invoice, key=("case_id", "number"), rows=[
        {"tenant_id": tenant.id, "case_id": case_id, "number": invoice.number.strip(),
         "issue_date": invoice.issue_date, "due_date": invoice.due_date,
         "amount_minor": invoice.amount_minor}
        for case_id, _currency, invoice in pairs
    ])  # fmt: skip
    session.execute(insert(LedgerEntry), [
        {"tenant_id": tenant.id, "case_id": case_id, "invoice_id": invoice_id,
         "kind": EntryKind.PRINCIPAL, "amount_minor": invoice.amount_minor, "currency": currency,
         "value_date": invoice.due_date, "description": f"Invoice {invoice.number.strip()}",
         "created_by_id": placed_by_id, "created_at": utcnow()}
        for (case_id, currency, invoice), invoice_id in zip(pairs, invoice_ids, strict=True)
    ])  # fmt: skip


def _insert_placement_records(session: Session, batch: _NewCases) -> None:
    tenant, placed_by_id, when = batch.tenant, batch.placed_by_id, batch.when
    session.execute(insert(Activity), [
        {"tenant_id": tenant.id, "case_id": case_id, "kind": ActivityKind.PLACEMENT,
         "actor_id": placed_by_id, "occurred_at": when, "visible_to_creditor": True,
         "summary": f"Placed with {len(request.invoices)} invoice(s), "
                    f"{format_money(request.total_minor, str(row['currency']))}",
         "details": {}}
        for request, row, case_id in batch.each()
    ])  # fmt: skip
    session.execute(insert(AuditEntry), [
        {"action": "case.placed", "actor_id": placed_by_id, "tenant_id": tenant.id,
         "object_type": "Case", "object_id": str(case_id), "at": when, "details": {}}
        for case_id in batch.case_ids
    ])  # fmt: skip
    checks = [
        {"tenant_id": tenant.id, "case_id": case_id, "status": CheckStatus.OPEN,
         "created_at": when}
        for request, _row, case_id in batch.each() if request.early_intervention
    ]  # fmt: skip
    if checks:
        session.execute(insert(InvoiceCheck), checks)


def place_case(
    session: Session,
    tenant: Tenant,
    request: PlacementRequest,
    *,
    placed_by_id: int | None = None,
    today: date | None = None,
    placed_at: datetime | None = None,
) -> Case:
    """Check and place one account; raises ``PlacementRefused`` with every problem."""
    today = today or utcnow().date()
    problems = check_placements(session, [request], today)[0]
    if problems:
        raise PlacementRefused(problems)
    [case_id] = place_many(
        session, tenant, [request], placed_by_id=placed_by_id, today=today, placed_at=placed_at
    )
    case = scoped_get(session, Case, case_id)
    if case is None:  # the session's scope does not include ``tenant``
        raise PlacementRefused([Problem("tenant", "Not a tenant this session may place for.")])
    return case


class PlacementRefused(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems
