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
    __table_args__ = (Index("ix_debtors_tenant_name", "tenant_id", "name"),)

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

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
