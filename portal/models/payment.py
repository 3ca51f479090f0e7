"""Money taken from debtors: checkouts, instalment plans, provider events, allocations.

A ``Checkout`` is one attempt to take a payment through the provider (pay in full, a
settlement, a plan's first payment, one instalment, the rest of a plan); the provider's
events find it by ``provider_ref``. A ``PaymentPlan`` splits what is owed into
``Instalment`` rows; the first is paid in a checkout that saves the card, the others are
charged off-session on their due dates. ``ProviderEvent`` records every webhook event
applied, so each is applied once. ``PaymentAllocation`` says which part of the claim
(fees, interest, principal) each payment or reversal paid.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.append_only import AppendOnly
from tenants.models import enum_column
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.case import Case


class Frequency(enum.StrEnum):
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"


class PlanStatus(enum.StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"  # outside the tenant's policy: a collector decides
    DECLINED = "declined"
    AWAITING_FIRST_PAYMENT = "awaiting_first_payment"
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PaymentPlan(TenantOwned, Base):
    __tablename__ = "payment_plans"
    __table_args__ = (Index("ix_payment_plans_case", "case_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    status: Mapped[PlanStatus] = mapped_column(enum_column(PlanStatus))
    frequency: Mapped[Frequency] = mapped_column(enum_column(Frequency))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    down_payment_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    instalment_count: Mapped[int] = mapped_column(Integer)
    start_on: Mapped[date] = mapped_column(Date)
    # Why the plan needs a collector's approval, in words (empty when within policy).
    policy_exceptions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The provider's customer and saved card, known once the first payment is made.
    customer_ref: Mapped[str | None] = mapped_column(String(100))
    payment_method_ref: Mapped[str | None] = mapped_column(String(100))
    misses_in_row: Mapped[int] = mapped_column(Integer, default=0)
    moved_an_instalment: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship()
    instalments: Mapped[list[Instalment]] = relationship(
        back_populates="plan", order_by="Instalment.due_on, Instalment.number"
    )


class InstalmentStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    PROCESSING = "processing"  # a charge was sent; its result is not recorded yet
    FAILED = "failed"  # the last attempt failed; retried on ``next_attempt_on``
    PAID = "paid"
    MOVED = "moved"  # missed and moved to the end of the plan
    MISSED = "missed"
    CANCELLED = "cancelled"


class Instalment(TenantOwned, Base):
    __tablename__ = "instalments"
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        Index("ix_instalments_due", "status", "next_attempt_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plans.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    number: Mapped[int] = mapped_column(Integer)  # 1 is the first (or down) payment
    due_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[InstalmentStatus] = mapped_column(
        enum_column(InstalmentStatus), default=InstalmentStatus.SCHEDULED
    )
    # The day the charge job next tries it: the due date, then each retry day.
    next_attempt_on: Mapped[date | None] = mapped_column(Date)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[str | None] = mapped_column(String(300))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plan: Mapped[PaymentPlan] = relationship(back_populates="instalments")


class CheckoutPurpose(enum.StrEnum):
    FULL = "full"
    SETTLEMENT = "settlement"
    PLAN_FIRST = "plan_first"
    INSTALMENT = "instalment"
    REST = "rest"  # pay off the rest of a plan


class CheckoutStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"


class Checkout(TenantOwned, Base):
    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str] = mapped_column(String(100), unique=True)
    purpose: Mapped[CheckoutPurpose] = mapped_column(enum_column(CheckoutPurpose))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("payment_plans.id"))
    instalment_id: Mapped[int | None] = mapped_column(ForeignKey("instalments.id"))
    status: Mapped[CheckoutStatus] = mapped_column(
        enum_column(CheckoutStatus), default=CheckoutStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship()


class ProviderEvent(Base):
    """One provider event, claimed before it is applied (so it is applied once) and then
    given its outcome. The agency's own log: the tenant is known only from the event."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    outcome: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClaimPart(enum.StrEnum):
    FEES = "fees"
    INTEREST = "interest"
    PRINCIPAL = "principal"


class PaymentAllocation(AppendOnly, TenantOwned, Base):
    """The part of a claim a payment paid (negative on a reversal)."""

    __tablename__ = "payment_allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    part: Mapped[ClaimPart] = mapped_column(enum_column(ClaimPart))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
