"""Early intervention: an invoice handed over before it is seriously overdue, for a check
with the debtor (did it arrive, is it disputed, when will it be paid) instead of
collection. One ``InvoiceCheck`` per case placed that way; the case converts to a full
placement when the invoice is still unpaid some days after its due date."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from tenants.models import enum_column
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.case import Case


class CheckStatus(enum.StrEnum):
    OPEN = "open"  # no answer from the debtor yet
    CONFIRMED = "confirmed"  # received and not disputed; the debtor said when they pay
    DISPUTED = "disputed"  # reported back to the creditor
    PAID = "paid"
    CONVERTED = "converted"  # unpaid too long: now a collection case


class InvoiceCheck(TenantOwned, Base):
    __tablename__ = "invoice_checks"
    __table_args__ = (Index("ix_invoice_checks_due", "status", "follow_up_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    status: Mapped[CheckStatus] = mapped_column(enum_column(CheckStatus), default=CheckStatus.OPEN)
    received: Mapped[bool | None] = mapped_column(Boolean)
    expected_payment_on: Mapped[date | None] = mapped_column(Date)
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    # When the collector takes it up again (the promised payment date, or a new try).
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    letter_sent_on: Mapped[date | None] = mapped_column(Date)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    converted_on: Mapped[date | None] = mapped_column(Date)
    # The tenant's early-intervention fee, earned when the invoice is paid after the check.
    fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    # The day the fee was earned (the invoice was paid): its remittance statement's period.
    fee_charged_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship()
