"""Remittance statements: what the agency collected for a tenant in a period, what it
kept, and what it pays over.

A statement and its lines are written once, when the statement is issued, and never
change. Every ledger entry, legal cost and early-intervention fee appears on at most one
statement (unique columns below), so whatever is booked after a statement was issued,
even with an earlier value date, lands on the next one: that is how corrections reach
the creditor.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.append_only import AppendOnly
from tenants.models import enum_column
from tenants.scoping import TenantOwned


class StatementLineKind(enum.StrEnum):
    PAYMENT = "payment"  # money collected from the debtor
    REVERSAL = "reversal"  # money given back (a refund, a chargeback): negative
    LEGAL_COST = "legal_cost"  # a legal cost the creditor bears under its terms
    CHECK_FEE = "check_fee"  # the early-intervention fee for an invoice paid after a check


class RemittanceStatement(AppendOnly, TenantOwned, Base):
    __tablename__ = "remittance_statements"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sequence"),
        UniqueConstraint("tenant_id", "currency", "period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Numbered per tenant without gaps: 1, 2, 3 ... (shown as ``number``).
    sequence: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    collected_minor: Mapped[int] = mapped_column(BigInteger)
    commission_minor: Mapped[int] = mapped_column(BigInteger)
    costs_minor: Mapped[int] = mapped_column(BigInteger)
    # collected - commission - costs: what the agency pays over (negative: the creditor owes).
    net_minor: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # None when the monthly run issued it.
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    lines: Mapped[list[StatementLine]] = relationship(
        back_populates="statement", order_by="StatementLine.id"
    )


class StatementLine(AppendOnly, TenantOwned, Base):
    __tablename__ = "statement_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("remittance_statements.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[StatementLineKind] = mapped_column(enum_column(StatementLineKind))
    value_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(300))
    # Exactly one of these says what the line is; each can be on one statement only.
    ledger_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_entries.id"), unique=True
    )
    legal_cost_id: Mapped[int | None] = mapped_column(ForeignKey("legal_costs.id"), unique=True)
    invoice_check_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice_checks.id"), unique=True
    )
    collected_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    costs_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    net_minor: Mapped[int] = mapped_column(BigInteger, default=0)

    statement: Mapped[RemittanceStatement] = relationship(back_populates="lines")
