"""Running totals the agency dashboard adds up instead of every case, call, event and
payment.

Each row is a sum over source rows that share its key; ``portal.services.rollups`` moves
it in the transaction that changes its sources, and ``flask ledger verify`` recomputes
every row from them. Keys never hold NULL (a unique key treats NULLs as distinct, so an
upsert could not find the row): ``NO_COLLECTOR`` stands for "no collector recorded".

Totals over a period are kept twice, per day and per calendar month (``span``; a month's
row is dated its first day): a period reads the months it covers whole from the month
rows and only its first and last month's days from the day rows, a few thousand rows for
a year whatever the number of calls or payments.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.case import Stage
from tenants.models import enum_column
from tenants.scoping import TenantOwned

NO_COLLECTOR = 0  # not a user id: ids start at 1
DAY, MONTH = "day", "month"  # the spans


class CaseStageTotal(TenantOwned, Base):
    """A tenant's cases in one currency and stage today, and what they owe."""

    __tablename__ = "case_stage_totals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "currency", "stage", name="uq_case_stage_totals_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage))
    cases: Mapped[int] = mapped_column(BigInteger, default=0)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # claimed - collected


class CallTotal(TenantOwned, Base):
    """Calls logged on a tenant's cases in one UTC day or month by one collector, and how
    many of them reached the debtor (right party contacts)."""

    __tablename__ = "call_totals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "span", "day", "collector_key", name="uq_call_totals_key"),
        # A period's calls per collector, read off the index alone.
        Index(
            "ix_call_totals_span_day",
            "span", "day",
            postgresql_include=["collector_key", "calls", "right_party"],
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    span: Mapped[str] = mapped_column(String(5))  # DAY or MONTH
    day: Mapped[date] = mapped_column(Date)  # the day, or the month's first
    collector_key: Mapped[int] = mapped_column(Integer)  # the user's id, or NO_COLLECTOR
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    right_party: Mapped[int] = mapped_column(BigInteger, default=0)


class MoneyInTotal(TenantOwned, Base):
    """Payments and reversals on a tenant's cases in one currency, valued in one day or
    month, credited to one collector: how many payments, the money collected less what
    was given back, and the agency's commission on it."""

    __tablename__ = "money_in_totals"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "currency", "span", "day", "collector_key", name="uq_money_in_totals_key"
        ),
        Index(
            "ix_money_in_totals_span_day",
            "currency", "span", "day",
            postgresql_include=["tenant_id", "collector_key", "payments", "collected_minor",
                                "commission_minor"],
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    span: Mapped[str] = mapped_column(String(5))
    day: Mapped[date] = mapped_column(Date)
    collector_key: Mapped[int] = mapped_column(Integer)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)  # reversals not counted
    collected_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class CaseEventTotal(TenantOwned, Base):
    """Promises to pay, instalment plans and requests for legal action on a tenant's cases
    in one currency, per kind (``source``), status, day or month, and collector.

    The day is the one the dashboard's period is matched against: a promise's due date;
    the day a plan ended (completed, broken) or, while it runs, was made; the day a legal
    request was decided or, while it waits, proposed. ``amount_minor`` is the promise's
    amount, the plan's agreed total or the request's estimated fees; ``outstanding_minor``
    what the plans' and requests' cases owe today (moved with their ledger; promises
    carry none). Only promises have a collector (who took them).
    """

    __tablename__ = "case_event_totals"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "currency", "source", "status", "span", "day", "collector_key",
            name="uq_case_event_totals_key",
        ),
        Index(
            "ix_case_event_totals_span_day",
            "currency", "span", "day",
            postgresql_include=["source", "status", "collector_key", "events", "amount_minor",
                                "outstanding_minor"],
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(10))  # promise, plan, legal
    status: Mapped[str] = mapped_column(String(32))
    span: Mapped[str] = mapped_column(String(5))
    day: Mapped[date] = mapped_column(Date)
    collector_key: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class PlacementTotal(TenantOwned, Base):
    """A tenant's cases in one currency placed on one UTC day or in one month, with the
    same warning signs and the same delay before placement: how many, and their placed
    principal, claim and money collected (moved with their ledger)."""

    __tablename__ = "placement_totals"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "currency", "span", "day", "signs", "delay_bucket",
            name="uq_placement_totals_key",
        ),
        Index("ix_placement_totals_span_day", "tenant_id", "currency", "span", "day"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    span: Mapped[str] = mapped_column(String(5))
    day: Mapped[date] = mapped_column(Date)  # placed on
    signs: Mapped[str] = mapped_column(String(500))  # the warning signs' JSON text
    delay_bucket: Mapped[int] = mapped_column(Integer)  # see rollups.DELAY_BUCKETS
    cases: Mapped[int] = mapped_column(BigInteger, default=0)
    placed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    claimed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    collected_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class DebtorTotal(TenantOwned, Base):
    """A tenant's cases in one currency against one debtor (``Case.debtor_key``): how
    many, and their placed principal, claim and money collected. The debtors placed most
    often are read off the index."""

    __tablename__ = "debtor_totals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "currency", "debtor_key", name="uq_debtor_totals_key"),
        Index(
            "ix_debtor_totals_most_cases",
            "tenant_id", "currency", "cases", "placed_minor",
            postgresql_include=["debtor_key", "claimed_minor", "collected_minor"],
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    debtor_key: Mapped[str] = mapped_column(String(260))
    cases: Mapped[int] = mapped_column(BigInteger, default=0)
    placed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    claimed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    collected_minor: Mapped[int] = mapped_column(BigInteger, default=0)
