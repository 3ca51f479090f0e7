"""What the portal tells a person: notices in the portal, by e-mail at once or in a digest."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from tenants.models import enum_column


class NotificationKind(enum.StrEnum):
    MESSAGE = "message"
    DECISION_WAITING = "decision_waiting"
    PAYMENT_RECEIVED = "payment_received"
    CASE_CLOSED = "case_closed"
    DISPUTE_RAISED = "dispute_raised"
    IMPORT_FINISHED = "import_finished"


class Delivery(enum.StrEnum):
    """How a person wants to hear of one kind of event (always listed in the portal)."""

    IMMEDIATE = "immediate"
    DIGEST = "digest"
    NONE = "none"


class NotificationPreference(Base):
    """A person's choice for one kind of event; a kind without a row uses the default."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind), primary_key=True)
    delivery: Mapped[Delivery] = mapped_column(enum_column(Delivery))


class Notification(Base):
    """One notice to one person. Owned by its recipient (``user_id``), who alone reads it;
    ``tenant_id`` and ``case_id`` say what it concerns."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The unread count in the header and the newest-first list.
        Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
        # The digest: a person's notices not yet sent in one.
        Index("ix_notifications_user_digest", "user_id", "digest_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # A path inside the portal (``/creditor/cases/12``), never an outside address.
    link: Mapped[str | None] = mapped_column(String(500))
    delivery: Mapped[Delivery] = mapped_column(enum_column(Delivery))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The day of the digest that carried it (digest delivery only).
    digest_day: Mapped[date | None] = mapped_column(Date)


class NotificationDigest(Base):
    """One daily digest sent to one person: the unique pair makes the job idempotent."""

    __tablename__ = "notification_digests"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    day: Mapped[date] = mapped_column(Date)
    notices: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
