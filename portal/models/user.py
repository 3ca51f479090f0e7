"""People who sign in: agency staff and the creditors' own users."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from tenants.models import Tenant, enum_column
from tenants.scoping import TenantScope


class Role(enum.StrEnum):
    AGENCY_ADMIN = "agency_admin"
    COLLECTOR = "collector"
    LEGAL = "legal"
    CREDITOR_ADMIN = "creditor_admin"
    CREDITOR_USER = "creditor_user"

    @property
    def is_staff(self) -> bool:
        return self in STAFF_ROLES

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


STAFF_ROLES = frozenset({Role.AGENCY_ADMIN, Role.COLLECTOR, Role.LEGAL})
CREDITOR_ROLES = frozenset({Role.CREDITOR_ADMIN, Role.CREDITOR_USER})


class StaffTenantAccess(Base):
    """A tenant that a staff member limited to some tenants may work on."""

    __tablename__ = "staff_tenant_access"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)


class User(Base):
    """A person who signs in.

    Creditor users belong to one tenant. Staff see every tenant unless
    ``limited_to_tenants`` is set, and then only those in ``staff_tenant_access``.
    Users are not tenant-owned rows: the tenancy filter does not apply to them, so
    queries listing a tenant's users filter on ``tenant_id`` themselves.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    limited_to_tenants: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The second factor: a TOTP secret (base32), confirmed when the first code matched.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Raised on sign-out and on a password change: a session cookie signed for an older
    # version no longer signs anyone in.
    session_version: Mapped[int] = mapped_column(Integer, default=0)

    tenant: Mapped[Tenant | None] = relationship()
    allowed_tenants: Mapped[list[StaffTenantAccess]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def tenant_scope(self) -> TenantScope:
        """The tenants whose data this user may see."""
        if self.role in CREDITOR_ROLES:
            if self.tenant_id is None:
                raise ValueError(f"creditor user {self.email} has no tenant")
            return TenantScope.only(self.tenant_id)
        if self.role is Role.AGENCY_ADMIN or not self.limited_to_tenants:
            return TenantScope.every_tenant()
        return TenantScope.only(*(access.tenant_id for access in self.allowed_tenants))

    # Flask-Login's user protocol, written out so models need no Flask import.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)
