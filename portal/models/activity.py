"""The case timeline: everything that happened to a case, who did it and how it went."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.append_only import AppendOnly
from portal.models.user import User
from tenants.models import enum_column
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.case import Case


class ActivityKind(enum.StrEnum):
    PLACEMENT = "placement"
    CALL = "call"
    LETTER = "letter"
    EMAIL = "email"
    NOTE = "note"
    STAGE_CHANGE = "stage_change"
    PAYMENT = "payment"
    PROMISE = "promise"
    DISPUTE = "dispute"
    DOCUMENT = "document"


class Activity(AppendOnly, TenantOwned, Base):
    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_case_time", "case_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[ActivityKind] = mapped_column(enum_column(ActivityKind))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    summary: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    visible_to_creditor: Mapped[bool] = mapped_column(Boolean, default=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="activities")
    actor: Mapped[User | None] = relationship()
