"""What collectors agree and record with debtors: promises to pay, disputes, settlements."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from tenants.models import enum_column
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.case import Case


class PromiseStatus(enum.StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PromiseToPay(TenantOwned, Base):
    """The debtor promised to pay this much by this date: kept by a payment, or broken."""

    __tablename__ = "promises_to_pay"
    __table_args__ = (Index("ix_promises_due", "status", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[PromiseStatus] = mapped_column(
        enum_column(PromiseStatus), default=PromiseStatus.OPEN
    )
    # What the ledger had received when the promise was made: a payment kept it once
    # the payments since then reach the amount promised.
    paid_before_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship()


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"
    REJECTED = "rejected"


class Party(enum.StrEnum):
    DEBTOR = "debtor"
    CREDITOR = "creditor"
    AGENCY = "agency"


class Dispute(TenantOwned, Base):
    """The debtor contests the claim: the case waits on hold until it is resolved."""

    __tablename__ = "disputes"
    # The open disputes waiting longest, per tenant (what waits for the creditor).
    __table_args__ = (Index("ix_disputes_waiting", "tenant_id", "status", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    raised_by: Mapped[Party] = mapped_column(enum_column(Party))
    reason: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[DisputeStatus] = mapped_column(
        enum_column(DisputeStatus), default=DisputeStatus.OPEN
    )
    outcome: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship()
    evidence: Mapped[list[DisputeEvidence]] = relationship(
        back_populates="dispute", order_by="DisputeEvidence.created_at"
    )


class DisputeEvidence(TenantOwned, Base):
    """What one party puts forward in a dispute: a statement, perhaps a document."""

    __tablename__ = "dispute_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    party: Mapped[Party] = mapped_column(enum_column(Party))
    statement: Mapped[str] = mapped_column(Text)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dispute: Mapped[Dispute] = relationship(back_populates="evidence")


class SettlementStatus(enum.StrEnum):
    PROPOSED = "proposed"  # within the agency's authority: the debtor may pay it
    AWAITING_CREDITOR = "awaiting_creditor"  # below the authority limit
    ACCEPTED = "accepted"
    DECLINED = "declined"
    PAID = "paid"


class Settlement(TenantOwned, Base):
    """A reduced amount that settles the claim in full once paid."""

    __tablename__ = "settlements"
    # The settlements waiting longest for the creditor's decision, per tenant.
    __table_args__ = (Index("ix_settlements_waiting", "tenant_id", "status", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[SettlementStatus] = mapped_column(enum_column(SettlementStatus))
    note: Mapped[str | None] = mapped_column(Text)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship()


class LetterTemplate(Base):
    """A letter or e-mail text (Jinja2), per tenant or the agency's default (tenant NULL)."""

    __tablename__ = "letter_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
