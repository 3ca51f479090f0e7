"""Creating users and signing them in."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import CREDITOR_ROLES, Role, Tenant, TenantStatus, User
from portal.services import audit
from portal.services.passwords import hash_password, verify_password
from tenants.scoping import unscoped


class UserError(ValueError):
    """The user cannot be created as asked; the message says why."""


def normalise_email(email: str) -> str:
    try:
        return str(validate_email(email.strip(), check_deliverability=False).normalized).lower()
    except EmailNotValidError as error:
        raise UserError(f"{email!r} is not a valid e-mail address: {error}") from error


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as error:
        known = ", ".join(role.value for role in Role)
        raise UserError(f"unknown role {value!r}; roles are {known}") from error


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
    tenant: Tenant | None = None,
) -> User:
    email = normalise_email(email)
    if role in CREDITOR_ROLES and tenant is None:
        raise UserError(f"a {role.value} belongs to a tenant: give one")
    if role not in CREDITOR_ROLES and tenant is not None:
        raise UserError(f"a {role.value} is agency staff and belongs to no tenant")
    if session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise UserError(f"a user with e-mail {email} already exists")
    user = User(
        email=email,
        name=name.strip() or email,
        role=role,
        tenant_id=tenant.id if tenant else None,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    audit.record(session, "user.created", tenant_id=user.tenant_id, subject=user, role=role.value)
    return user


def may_sign_in(session: Session, user: User) -> bool:
    """Active, and (for creditor users) their tenant is not suspended."""
    if not user.active:
        return False
    if user.tenant_id is None:
        return True
    # Before sign-in there is no tenant scope yet; this reads only the user's own tenant.
    with unscoped(session):
        status = session.scalar(select(Tenant.status).where(Tenant.id == user.tenant_id))
    return status is TenantStatus.ACTIVE


def authenticate(
    session: Session, email: str, password: str, ip_address: str | None = None
) -> User | None:
    """The user these credentials belong to, if they may sign in now; audited either way."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    password_ok = verify_password(user.password_hash if user else None, password)
    allowed = user is not None and password_ok and may_sign_in(session, user)
    audit.record(
        session,
        "auth.login" if allowed else "auth.login_failed",
        actor_id=user.id if user and allowed else None,
        ip_address=ip_address,
        email=email.strip().lower()[:254],
    )
    if not allowed or user is None:
        return None
    user.last_login_at = utcnow()
    return user
