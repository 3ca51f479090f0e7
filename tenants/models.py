"""A tenant is one of the agency's creditor clients, with the terms agreed with it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


def enum_column(enum_class: type[enum.Enum]) -> Enum:
    """Store an enum's values (not its names) as portable VARCHAR."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


DEFAULT_DUNNING_CADENCE: list[dict[str, Any]] = [
    {"stage": "amicable.reminder", "days": 0, "sends": "reminder_letter"},
    {"stage": "amicable.demand", "days": 14, "sends": "demand_letter"},
    {"stage": "amicable.negotiation", "days": 28, "sends": "negotiation_call"},
]


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[TenantStatus] = mapped_column(
        enum_column(TenantStatus), default=TenantStatus.ACTIVE
    )
    currency: Mapped[str] = mapped_column(String(3))
    # Contingency commission in basis points (1500 = 15.00 %) per stage family.
    commission_amicable_bp: Mapped[int] = mapped_column(Integer, default=1500)
    commission_legal_bp: Mapped[int] = mapped_column(Integer, default=2500)
    # Instalment policy offered to debtors on the payment page.
    plan_min_down_payment_bp: Mapped[int] = mapped_column(Integer, default=1000)
    plan_max_instalments: Mapped[int] = mapped_column(Integer, default=12)
    plan_min_instalment_minor: Mapped[int] = mapped_column(Integer, default=2500)
    plan_frequencies: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["weekly", "fortnightly", "monthly"]
    )
    # After this many missed instalments in a row the plan is broken.
    plan_max_misses: Mapped[int] = mapped_column(Integer, default=2)
    # A failed instalment is charged again this many days after its due date.
    plan_retry_days: Mapped[list[int]] = mapped_column(JSON, default=lambda: [3, 7])
    # The order in which a payment pays off the parts of a claim.
    allocation_order: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["fees", "interest", "principal"]
    )
    dunning_cadence: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=lambda: [dict(step) for step in DEFAULT_DUNNING_CADENCE]
    )
    # Overrides of the two rates above by claim size and age of the oldest invoice:
    # [{"family": "amicable", "min_amount_minor": 1000000, "min_age_days": 0, "rate_bp": 1200}]
    commission_grid: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    commission_minimum_fee_minor: Mapped[int] = mapped_column(Integer, default=0)
    # How long the agency holds a placed claim before it goes back to the creditor.
    mandate_months: Mapped[int] = mapped_column(Integer, default=12)
    # How dates are written in this creditor's CSV exports ("dmy", "mdy" or "iso"), and the
    # column mapping remembered from their last upload ({their header: our field}).
    csv_date_format: Mapped[str] = mapped_column(String(3), default="dmy")
    csv_column_mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Contact guardrails: at most this many calls per case in a rolling window, only
    # between these hours in the debtor's time zone.
    contact_max_calls: Mapped[int] = mapped_column(Integer, default=7)
    contact_window_days: Mapped[int] = mapped_column(Integer, default=7)
    contact_hours_start: Mapped[int] = mapped_column(Integer, default=8)
    contact_hours_end: Mapped[int] = mapped_column(Integer, default=20)
    # A collector may settle down to this share of the outstanding balance (basis points)
    # without asking the creditor.
    settlement_authority_bp: Mapped[int] = mapped_column(Integer, default=8000)
    # How long a debtor has to support a dispute before it is decided.
    dispute_days: Mapped[int] = mapped_column(Integer, default=14)
    # Who bears the costs the agency advances in the legal stage when the debtor does not
    # pay them: "debtor" (added to the claim) or "creditor" (on the remittance statement).
    legal_costs_recoverable_from: Mapped[str] = mapped_column(String(10), default="debtor")
    # Early intervention: the fee for an invoice paid after the check, and how many days
    # after its due date an unpaid checked invoice becomes a full placement.
    early_intervention_fee_minor: Mapped[int] = mapped_column(Integer, default=1500)
    early_intervention_convert_days: Mapped[int] = mapped_column(Integer, default=14)
    # How long a debtor's payment link works after it is issued.
    payment_link_valid_days: Mapped[int] = mapped_column(Integer, default=90)
    # Whether the dunning run adds statutory late-payment interest and, for business
    # debtors, the fixed compensation per invoice (rates from ``late_payment_rules``).
    charge_statutory_interest: Mapped[bool] = mapped_column(Boolean, default=True)
    charge_compensation: Mapped[bool] = mapped_column(Boolean, default=True)
    # A debtor's personal data on a case closed this many months ago may be erased.
    retention_months: Mapped[int] = mapped_column(Integer, default=72)
    # While set, the dunning run and instalment charges leave this tenant's cases alone
    # (the agency stopped the work, typically alongside a suspension).
    collection_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # The creditor admin asks every user of this tenant to sign in with a second factor.
    require_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    brand_name: Mapped[str | None] = mapped_column(String(200))
    brand_colour: Mapped[str] = mapped_column(String(7), default="#1d4ed8")
    # The logo's key in the storage adapter (documents' storage), when one was uploaded.
    logo_key: Mapped[str | None] = mapped_column(String(300))
    # Company details the creditor admin keeps: who they are, who approves legal costs
    # and settlements, and where remittances are paid.
    legal_address: Mapped[str | None] = mapped_column(Text)
    registration_number: Mapped[str | None] = mapped_column(String(50))
    vat_number: Mapped[str | None] = mapped_column(String(50))
    approver_name: Mapped[str | None] = mapped_column(String(200))
    approver_email: Mapped[str | None] = mapped_column(String(254))
    remittance_account_holder: Mapped[str | None] = mapped_column(String(200))
    remittance_iban: Mapped[str | None] = mapped_column(String(34))
    remittance_bic: Mapped[str | None] = mapped_column(String(11))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def display_name(self) -> str:
        return self.brand_name or self.name

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"
