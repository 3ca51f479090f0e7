"""The business or person who owes the money, and the people to contact there."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from tenants.models import enum_column
from tenants.scoping import TenantOwned


class DebtorKind(enum.StrEnum):
    BUSINESS = "business"
    PERSON = "person"


class Debtor(TenantOwned, Base):
    __tablename__ = "debtors"
    __table_args__ = (
        Index("ix_debtors_tenant_name", "tenant_id", "name"),
        # Repeated debtors: placements grouped by who the debtor is, read off the index.
        Index(
            "ix_debtors_identity", "tenant_id", "identity_key", postgresql_include=["id", "name"]
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DebtorKind] = mapped_column(enum_column(DebtorKind))
    name: Mapped[str] = mapped_column(String(200))
    registration_number: Mapped[str | None] = mapped_column(String(64))
    vat_number: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="DE")
    # "en" or "de" when stated; empty: by the country (letters.language_for).
    language: Mapped[str] = mapped_column(String(5), default="")
    # Contact guardrails: the debtor's time zone for quiet hours, per-channel opt-outs,
    # and a request to stop all contact.
    timezone: Mapped[str] = mapped_column(String(40), default="Europe/Berlin")
    no_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    no_emails: Mapped[bool] = mapped_column(Boolean, default=False)
    no_letters: Mapped[bool] = mapped_column(Boolean, default=False)
    cease_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the debtor's personal data was erased (names, contacts and address replaced;
    # the ledger's figures kept), after the tenant's retention period for closed cases.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who the debtor is across placements (``identity_key``), written at placement.
    identity_key: Mapped[str] = mapped_column(String(260), default="")

    contacts: Mapped[list[DebtorContact]] = relationship(
        back_populates="debtor", cascade="all, delete-orphan", order_by="DebtorContact.id"
    )

    @property
    def address_lines(self) -> list[str]:
        town = " ".join(part for part in (self.postal_code, self.city) if part)
        lines = (self.address_line1, self.address_line2, town, self.country)
        return [line for line in lines if line]


class DebtorContact(TenantOwned, Base):
    """A person to call or write to at a business debtor."""

    __tablename__ = "debtor_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))

    debtor: Mapped[Debtor] = relationship(back_populates="contacts")


def identity_key(
    kind: DebtorKind | str, name: str, registration_number: str | None, email: str | None
) -> str:
    """Who a debtor is across placements (each placement creates its own debtor row).

    A registration number names a business wherever it was given (compared without
    case, spaces or dashes, as payment links compare it); a person with an e-mail
    address is known by it (people's names are shared too often); otherwise the name,
    trimmed and in lower case, as placement compares names when it looks for invoices
    placed twice. The prefix says which was used. Migration 0009 fills the same key in
    SQL for debtors placed before it.
    """
    registration = (registration_number or "").replace(" ", "").replace("-", "").upper()
    if registration:
        return f"reg:{registration}"
    address = (email or "").strip(" ").lower()
    if kind == DebtorKind.PERSON and address:
        return f"email:{address}"
    return f"name:{(name or '').strip(' ').lower()}"
