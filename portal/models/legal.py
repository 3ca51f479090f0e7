"""The legal stage: the agency's lawyers, the creditor's approval, the proceedings.

A collector proposes legal action with a ``Lawyer`` and a cost estimate
(``LegalRequest``); only the creditor's approval lets the case into litigation. The
``LegalProceeding`` holds the court file (court, case number, hearings); a ``Judgment``
fixes what the debtor owes; ``EnforcementAction`` rows follow it. ``LegalCost`` is money
the agency advanced (court and lawyer fees, enforcement costs): owed by the debtor (a fee
on the ledger) or recoverable from the creditor (on the remittance statement).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from tenants.models import enum_column
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.case import Case


class Lawyer(Base):
    """A lawyer in the agency's network (the agency's own list, shared by all tenants)."""

    __tablename__ = "lawyers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    firm: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # ISO country codes of the courts they appear before, and the languages they work in.
    jurisdictions: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    fee_terms: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.name}, {self.firm}"


class LegalRequestStatus(enum.StrEnum):
    AWAITING_CREDITOR = "awaiting_creditor"
    APPROVED = "approved"
    DECLINED = "declined"


class DeclineOutcome(enum.StrEnum):
    """What the creditor wants when they decline legal action."""

    BACK_TO_AMICABLE = "back_to_amicable"
    CLOSE_UNCOLLECTIBLE = "close_uncollectible"


class LegalRequest(TenantOwned, Base):
    __tablename__ = "legal_requests"
    # The proposals waiting longest for the creditor's decision, per tenant.
    __table_args__ = (
        Index("ix_legal_requests_waiting", "tenant_id", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    lawyer_id: Mapped[int] = mapped_column(ForeignKey("lawyers.id"))
    status: Mapped[LegalRequestStatus] = mapped_column(
        enum_column(LegalRequestStatus), default=LegalRequestStatus.AWAITING_CREDITOR
    )
    court_fees_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    lawyer_fees_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    advance_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # asked of the creditor
    note: Mapped[str | None] = mapped_column(Text)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_comment: Mapped[str | None] = mapped_column(Text)
    decline_outcome: Mapped[DeclineOutcome | None] = mapped_column(enum_column(DeclineOutcome))

    case: Mapped[Case] = relationship()
    lawyer: Mapped[Lawyer] = relationship()

    @property
    def estimate_minor(self) -> int:
        return self.court_fees_minor + self.lawyer_fees_minor


class LegalProceeding(TenantOwned, Base):
    """The court file of a case in litigation."""

    __tablename__ = "legal_proceedings"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("legal_requests.id"))
    lawyer_id: Mapped[int] = mapped_column(ForeignKey("lawyers.id"))
    court: Mapped[str | None] = mapped_column(String(200))
    court_case_number: Mapped[str | None] = mapped_column(String(100))
    filed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship()
    lawyer: Mapped[Lawyer] = relationship()
    hearings: Mapped[list[Hearing]] = relationship(order_by="Hearing.held_at")


class Hearing(TenantOwned, Base):
    __tablename__ = "hearings"

    id: Mapped[int] = mapped_column(primary_key=True)
    proceeding_id: Mapped[int] = mapped_column(ForeignKey("legal_proceedings.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    held_at: Mapped[datetime] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    # When the reminder went out (the daily run sends one a few days before).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Judgment(TenantOwned, Base):
    __tablename__ = "judgments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    judgment_date: Mapped[date] = mapped_column(Date)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    costs_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # The enforceable title (a case document).
    title_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def total_minor(self) -> int:
        return self.principal_minor + self.interest_minor + self.costs_minor


class EnforcementKind(enum.StrEnum):
    GARNISHMENT = "garnishment"
    LIEN = "lien"
    ASSET_SEIZURE = "asset_seizure"
    INSTALMENT_ORDER = "instalment_order"


class EnforcementStatus(enum.StrEnum):
    PLANNED = "planned"
    FILED = "filed"
    IN_PROGRESS = "in_progress"
    SUCCESSFUL = "successful"
    UNSUCCESSFUL = "unsuccessful"
    WITHDRAWN = "withdrawn"


class EnforcementAction(TenantOwned, Base):
    __tablename__ = "enforcement_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[EnforcementKind] = mapped_column(enum_column(EnforcementKind))
    status: Mapped[EnforcementStatus] = mapped_column(
        enum_column(EnforcementStatus), default=EnforcementStatus.PLANNED
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CostBearer(enum.StrEnum):
    DEBTOR = "debtor"  # added to the claim as a fee
    CREDITOR = "creditor"  # recovered from the creditor on the remittance statement


class LegalCost(TenantOwned, Base):
    """Money the agency advanced in the legal stage."""

    __tablename__ = "legal_costs"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    enforcement_id: Mapped[int | None] = mapped_column(ForeignKey("enforcement_actions.id"))
    description: Mapped[str] = mapped_column(String(300))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    recoverable_from: Mapped[CostBearer] = mapped_column(enum_column(CostBearer))
    incurred_on: Mapped[date] = mapped_column(Date)
    # The fee booked on the claim when the debtor bears it.
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
