"""Late-payment interest and fixed compensation rules, as data rather than code.

One row per currency and start date: the statutory reference rate then in force, the
margin added to it (8 points under the EU Late Payment Directive and the UK Late
Payment Act), and the fixed compensation per invoice. Agency admins add a row when
the reference rate changes; old rows keep applying to the periods they cover.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


class LatePaymentRule(Base):
    __tablename__ = "late_payment_rules"
    __table_args__ = (UniqueConstraint("currency", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date] = mapped_column(Date)
    reference_rate_bp: Mapped[int] = mapped_column(Integer)
    margin_bp: Mapped[int] = mapped_column(Integer, default=800)
    compensation_minor: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(200))
