"""A placed account (a case) and the invoices it collects."""

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
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.debtor import Debtor
from portal.models.user import User
from tenants.models import Tenant, enum_column
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.activity import Activity
    from portal.models.document import Document
    from portal.models.ledger import LedgerEntry
    from portal.models.message import CaseMessage


class Stage(enum.StrEnum):
    """Where a case stands in the collection process (transitions live in services)."""

    PLACED = "placed"
    # Handed over early, for a check with the debtor rather than collection.
    CHECK = "early.check"
    REMINDER = "amicable.reminder"
    DEMAND = "amicable.demand"
    NEGOTIATION = "amicable.negotiation"
    LEGAL_REVIEW = "legal.review"
    LITIGATION = "legal.litigation"
    JUDGMENT = "legal.judgment"
    ENFORCEMENT = "enforcement"
    ON_HOLD = "on_hold"
    CLOSED = "closed"

    @property
    def family(self) -> str:
        """``amicable`` or ``legal``: which commission rate applies to what is collected."""
        if self.value.startswith("legal") or self is Stage.ENFORCEMENT:
            return "legal"
        return "amicable"

    @property
    def label(self) -> str:
        return STAGE_LABELS[self]


STAGE_LABELS = {
    Stage.PLACED: "Placed",
    Stage.CHECK: "Invoice check",
    Stage.REMINDER: "Reminder",
    Stage.DEMAND: "Demand letter",
    Stage.NEGOTIATION: "Negotiation",
    Stage.LEGAL_REVIEW: "Legal review",
    Stage.LITIGATION: "Litigation",
    Stage.JUDGMENT: "Judgment",
    Stage.ENFORCEMENT: "Enforcement",
    Stage.ON_HOLD: "On hold",
    Stage.CLOSED: "Closed",
}


class HoldReason(enum.StrEnum):
    DISPUTE = "dispute"
    INSOLVENCY = "insolvency"
    CEASE_CONTACT = "cease_contact"
    CREDITOR_REQUEST = "creditor_request"


class Closure(enum.StrEnum):
    PAID = "paid"
    SETTLED = "settled"
    WITHDRAWN = "withdrawn"
    UNCOLLECTIBLE = "uncollectible"


class Case(TenantOwned, Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "creditor_reference"),
        # The collector's queue: due cases by date and priority, per collector.
        Index("ix_cases_queue", "stage", "next_action_on", "priority"),
        Index("ix_cases_collector_queue", "assigned_collector_id", "next_action_on"),
        # The creditor's dashboard: cases by stage and by placement date.
        Index("ix_cases_tenant_stage", "tenant_id", "stage"),
        Index("ix_cases_tenant_placed", "tenant_id", "placed_at"),
        # Dashboards aggregate the money summaries below without reading the wide rows.
        Index(
            "ix_cases_portfolio",
            "tenant_id", "currency", "stage", "oldest_due_on",
            postgresql_include=["placed_at", "placed_minor", "claimed_minor", "collected_minor"],
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    creditor_reference: Mapped[str] = mapped_column(String(64))
    agency_reference: Mapped[str] = mapped_column(String(20), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage), default=Stage.PLACED)
    stage_before_hold: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    hold_reason: Mapped[HoldReason | None] = mapped_column(enum_column(HoldReason))
    closure: Mapped[Closure | None] = mapped_column(enum_column(Closure))
    assigned_collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    next_action_on: Mapped[date | None] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    mandate_ends_on: Mapped[date | None] = mapped_column(Date)
    # Contract terms and the pre-placement checklist the creditor fills in.
    payment_term_days: Mapped[int | None] = mapped_column(Integer)
    contract_interest_bp: Mapped[int | None] = mapped_column(Integer)
    last_reminder_on: Mapped[date | None] = mapped_column(Date)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    disputed_at_placement: Mapped[bool] = mapped_column(Boolean, default=False)
    contract_reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    warning_signs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Which step of the tenant's dunning cadence the case has reached, and the day up
    # to which late-payment interest is in the ledger (never posted twice).
    dunning_step: Mapped[int] = mapped_column(Integer, default=0)
    last_dunning_on: Mapped[date | None] = mapped_column(Date)
    interest_posted_until: Mapped[date | None] = mapped_column(Date)
    withdrawal_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    # The debtor's payment link: the token is derived from this nonce and the app's secret
    # (so it can be shown again), only its SHA-256 is looked up; a new nonce revokes it.
    payment_link_nonce: Mapped[str | None] = mapped_column(String(32))
    payment_link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    payment_link_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Summaries of the ledger kept up to date as entries are booked (``ledger.book`` and the
    # two bulk paths), so dashboards add up rows of cases instead of every entry;
    # ``flask ledger verify`` proves they equal the ledger. All in minor units.
    placed_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # principal
    claimed_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # all that was claimed
    collected_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # paid less given back
    # The due date of the oldest invoice: how long the claim has been past due.
    oldest_due_on: Mapped[date | None] = mapped_column(Date)
    # The debtor's ``identity_key``, copied at placement: repeated debtors are counted
    # from the cases' index alone, without reading a debtor per case.
    debtor_key: Mapped[str] = mapped_column(String(260), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    tenant: Mapped[Tenant] = relationship()
    debtor: Mapped[Debtor] = relationship()
    assigned_collector: Mapped[User | None] = relationship()
    invoices: Mapped[list[Invoice]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Invoice.due_date"
    )
    documents: Mapped[list[Document]] = relationship(
        back_populates="case", order_by="Document.uploaded_at"
    )
    activities: Mapped[list[Activity]] = relationship(
        back_populates="case", order_by="Activity.occurred_at.desc()"
    )
    ledger_entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="case", order_by="LedgerEntry.id"
    )
    messages: Mapped[list[CaseMessage]] = relationship(
        back_populates="case", order_by="CaseMessage.created_at"
    )

    @hybrid_property
    def outstanding_minor(self) -> int:
        """What is still owed: claimed less collected (in SQL too, for sums over cases)."""
        return self.claimed_minor - self.collected_minor


# The case lists' default order (next action, then priority), per tenant and over all of
# them, so a page of 50 is read off the index in that order rather than sorted.
Index(
    "ix_cases_tenant_next_action",
    Case.tenant_id, Case.next_action_on, Case.priority.desc(), Case.id,
)  # fmt: skip
Index("ix_cases_next_action", Case.next_action_on, Case.priority.desc(), Case.id)
# Why accounts go unpaid: a tenant's cases in one currency by who the debtor is (in the
# order repeated debtors are grouped), and by warning signs and delay before placement,
# with the summaries added up, all read off the index.
Index(
    "ix_cases_debtor_key",
    Case.tenant_id, Case.currency, Case.debtor_key,
    postgresql_include=["placed_at", "placed_minor", "claimed_minor", "collected_minor",
                        "oldest_due_on", "warning_signs"],
)  # fmt: skip
# A case's currency and placement by its id, without reading the case: disputes are
# matched to the cases a report counts one index entry each.
Index("ix_cases_id_currency", Case.id, postgresql_include=["tenant_id", "currency", "placed_at"])
# The collectors' queue, most urgent first (its default order).
Index("ix_cases_priority", Case.priority.desc(), Case.next_action_on, Case.id)


class Invoice(TenantOwned, Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)

    case: Mapped[Case] = relationship(back_populates="invoices")
