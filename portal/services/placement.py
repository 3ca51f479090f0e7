"""Placing an overdue account with the agency: debtor, case, invoices, opening ledger."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    Debtor,
    DebtorContact,
    DebtorKind,
    EntryKind,
    Invoice,
    Tenant,
)
from portal.services import audit, ledger
from portal.services.money import format_money
from portal.services.timeline import log_activity

# Crockford's base32 without look-alikes: references are read out on the phone.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class PlacementError(ValueError):
    pass


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
    language: str = "en"
    contacts: tuple[ContactDetails, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class InvoiceDetails:
    number: str
    issue_date: date
    due_date: date
    amount_minor: int


def new_agency_reference(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
        reference = f"{utcnow():%y}-{code[:4]}-{code[4:]}"
        if not session.scalar(select(Case.id).where(Case.agency_reference == reference)):
            return reference


def place_case(
    session: Session,
    tenant: Tenant,
    *,
    debtor: DebtorDetails,
    invoices: list[InvoiceDetails],
    creditor_reference: str,
    currency: str | None = None,
    placed_by_id: int | None = None,
    placed_at: datetime | None = None,
) -> Case:
    if not invoices:
        raise PlacementError("a placement needs at least one invoice")
    if any(invoice.amount_minor <= 0 for invoice in invoices):
        raise PlacementError("every invoice needs a positive amount")
    debtor_row = Debtor(
        tenant_id=tenant.id,
        **{name: value for name, value in vars(debtor).items() if name != "contacts"},
        contacts=[DebtorContact(tenant_id=tenant.id, **vars(c)) for c in debtor.contacts],
    )
    case = Case(
        tenant_id=tenant.id,
        debtor=debtor_row,
        creditor_reference=creditor_reference,
        agency_reference=new_agency_reference(session),
        currency=currency or tenant.currency,
        placed_at=placed_at or utcnow(),
        next_action_on=utcnow().date(),
        invoices=[Invoice(tenant_id=tenant.id, **vars(invoice)) for invoice in invoices],
    )
    session.add(case)
    session.flush()
    for invoice in case.invoices:
        ledger.book(
            session,
            case,
            EntryKind.PRINCIPAL,
            invoice.amount_minor,
            value_date=invoice.due_date,
            description=f"Invoice {invoice.number}",
            invoice_id=invoice.id,
            created_by_id=placed_by_id,
        )
    total = sum(invoice.amount_minor for invoice in invoices)
    log_activity(
        session,
        case,
        ActivityKind.PLACEMENT,
        f"Placed with {len(invoices)} invoice(s), {format_money(total, case.currency)}",
        actor_id=placed_by_id,
        occurred_at=case.placed_at,
    )
    audit.record(session, "case.placed", actor_id=placed_by_id, tenant_id=tenant.id, subject=case)
    return case
