"""Messages on a case between the creditor and the agency (requests for information, answers)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.user import User
from tenants.scoping import TenantOwned

if TYPE_CHECKING:
    from portal.models.case import Case
    from portal.models.document import Document


class CaseMessage(TenantOwned, Base):
    __tablename__ = "case_messages"
    __table_args__ = (Index("ix_case_messages_case_time", "case_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    # The agency asks the creditor for information or evidence; an answer clears it.
    requests_information: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="messages")
    author: Mapped[User] = relationship()
    documents: Mapped[list[Document]] = relationship()
