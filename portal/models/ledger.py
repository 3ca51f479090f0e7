"""The append-only ledger every balance is derived from.

Amounts are signed integers in the currency's minor units: what the debtor owes more
(principal, interest, fees) is positive, what reduces it (payments) is negative, and
adjustments are either, reversals (refunds, chargebacks) positive. Nothing is ever
updated; a mistake is reversed by a new entry.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.append_only import AppendOnly
from tenants.models import enum_column
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.case import Case
    from portal.models.payment import PaymentAllocation


class EntryKind(enum.StrEnum):
    PRINCIPAL = "principal"
    INTEREST = "interest"
    FEE = "fee"
    PAYMENT = "payment"
    ADJUSTMENT = "adjustment"
    # Money given back (a refund or a chargeback): positive, it undoes part of a payment.
    REVERSAL = "reversal"


class LedgerEntry(AppendOnly, TenantOwned, Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_case_kind", "case_id", "kind"),
        # Collections per month, per collector, per tenant: payments by date.
        Index(
            "ix_ledger_kind_value_date",
            "kind", "value_date",
            postgresql_include=["tenant_id", "currency", "amount_minor", "commission_minor",
                                "collector_id"],
        ),
        # Payments and refunds per tenant and currency, for what no statement carries yet
        # (summed from the index alone: it holds every column the sums read).
        Index(
            "ix_ledger_money_in",
            "tenant_id", "currency", "value_date",
            postgresql_include=["kind", "amount_minor", "commission_minor", "reverses_entry_id",
                                "event_key", "id"],
            postgresql_where=text("kind IN ('payment', 'reversal')"),
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(300))
    # A provider event id or idempotency key: the same money event is booked once.
    event_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # On payments and reversals: the collector the case was assigned to when the money
    # came in, so credit stays with who collected it after the case moves on.
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # On reversals: the payment it undoes.
    reverses_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    # On payments: the commission the agency earned on it, at the rate then in force.
    commission_bp: Mapped[int | None] = mapped_column(Integer)
    commission_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="ledger_entries")
    allocations: Mapped[list[PaymentAllocation]] = relationship(viewonly=True)
