"""Creating users, signing them in, and administering them: role, clients, active."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    CREDITOR_ROLES,
    STAFF_ROLES,
    PasswordReset,
    Role,
    StaffTenantAccess,
    Tenant,
    TenantStatus,
    User,
)
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


def own_tenant(session: Session, user: User) -> Tenant | None:
    """A creditor user's tenant (None for staff), read once per session: every request
    asks both whether it is suspended and whether it requires a second factor."""
    if user.tenant_id is None:
        return None
    # Before sign-in there is no tenant scope yet; this reads only the user's own tenant.
    with unscoped(session):
        return session.get(Tenant, user.tenant_id)


def may_sign_in(session: Session, user: User) -> bool:
    """Active, and (for creditor users) their tenant is not suspended."""
    if not user.active:
        return False
    tenant = own_tenant(session, user)
    return tenant is None or tenant.status is TenantStatus.ACTIVE


def check_password(
    session: Session, email: str, password: str, ip_address: str | None = None
) -> User | None:
    """The user these credentials belong to, if they may sign in now; a failure is audited.

    Right credentials do not sign anyone in yet (a second factor may follow): the caller
    records the sign-in with ``record_sign_in`` when it happens."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is not None and password_ok and may_sign_in(session, user):
        return user
    audit.record(
        session, "auth.login_failed", ip_address=ip_address, email=email.strip().lower()[:254]
    )
    return None


def record_sign_in(
    session: Session, user: User, ip_address: str | None = None, **details: Any
) -> None:
    """Audit a completed sign-in (``details``: how the second factor was given, if any)."""
    user.last_login_at = utcnow()
    audit.record(
        session, "auth.login", actor_id=user.id, ip_address=ip_address, email=user.email,
        **details,
    )  # fmt: skip


# --- sessions: a signed-in session ends when its user signs out or changes the password ---

# What a signed-in session carries besides the user's id.
SESSION_VERSION = "session_version"
SECOND_FACTOR_GIVEN = "second_factor_given"


def stamp_session(store: MutableMapping[str, Any], user: User) -> None:
    """Sign the session for the user's current ``session_version``."""
    store[SESSION_VERSION] = user.session_version


def note_second_factor(store: MutableMapping[str, Any]) -> None:
    """The session's user gave their second factor (at sign-in, or by setting it up)."""
    store[SECOND_FACTOR_GIVEN] = True


def session_is_current(store: Mapping[str, Any], user: User, *, second_factor_needed: bool) -> bool:
    """The session was signed for the user's current version, with the second factor when
    the user needs one. A session carrying no version was started before sessions were
    versioned: it counts as version 0, so it ends with the user's next sign-out."""
    version = store.get(SESSION_VERSION, 0)
    if version != user.session_version:
        return False
    return bool(store.get(SECOND_FACTOR_GIVEN)) or not second_factor_needed


def sign_out(session: Session, user: User, ip_address: str | None = None) -> None:
    """End every session of the user: a copy of the session cookie signs nobody in."""
    user.session_version += 1
    audit.record(session, "auth.logout", actor_id=user.id, ip_address=ip_address)
    session.flush()


def set_password(session: Session, user: User, password: str, now: datetime) -> None:
    """A new password (``WeakPasswordError`` if it is too short): the user's sessions end
    and every open link to reset the password is used up."""
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def change_password(
    session: Session, user: User, current: str, new: str, *, ip_address: str | None = None
) -> None:
    """The signed-in user's own change; the current password must be right."""
    if not verify_password(user.password_hash, current):
        raise UserError("Your current password is not right.")
    set_password(session, user, new, utcnow())
    audit.record(
        session, "auth.password_changed", actor_id=user.id, tenant_id=user.tenant_id,
        subject=user, ip_address=ip_address,
    )  # fmt: skip


# --- administration: who is on the team, with which role and which clients ---------------

# Staff who may be limited to some clients (an agency admin works on every client).
LIMITABLE_ROLES = frozenset({Role.COLLECTOR, Role.LEGAL})


def _belonging_to(tenant_id: int | None) -> ColumnElement[bool]:
    """Users of that tenant; None: the agency's staff (who belong to no tenant)."""
    return User.tenant_id.is_(None) if tenant_id is None else User.tenant_id == tenant_id


def members(session: Session, tenant_id: int | None) -> list[User]:
    """A tenant's users, or the agency's staff when ``tenant_id`` is None; active first."""
    statement = (
        select(User)
        .where(_belonging_to(tenant_id))
        .order_by(User.active.desc(), User.name, User.id)
    )
    return list(session.scalars(statement))


def member(session: Session, tenant_id: int | None, user_id: int) -> User | None:
    """The user with this id if they belong to that tenant (None: to the agency's staff)."""
    return session.scalar(select(User).where(_belonging_to(tenant_id), User.id == user_id))


def tenants_by_name(session: Session) -> list[Tenant]:
    """The clients staff can be limited to (those the session may see)."""
    return list(session.scalars(select(Tenant).order_by(Tenant.name, Tenant.id)))


def checked_tenant_limits(session: Session, role: Role, tenant_ids: Iterable[int]) -> list[int]:
    """The clients a staff member of this role is to be limited to, sorted; none: every client."""
    wanted = sorted(set(tenant_ids))
    if not wanted:
        return []
    if role not in LIMITABLE_ROLES:
        raise UserError(
            f"A {role.label.lower()} is not limited to clients: leave the clients unticked."
        )
    known = set(session.scalars(select(Tenant.id).where(Tenant.id.in_(wanted))))
    if unknown := [tenant_id for tenant_id in wanted if tenant_id not in known]:
        raise UserError(f"No such client: {', '.join(map(str, unknown))}.")
    return wanted


def limit_to_tenants(
    session: Session, user: User, tenant_ids: Iterable[int], *, actor_id: int | None
) -> None:
    """Limit a collector or legal staff member to these clients (none: every client)."""
    wanted = checked_tenant_limits(session, user.role, tenant_ids)
    before = _tenant_limits(user)
    if wanted == before:
        return
    user.limited_to_tenants = bool(wanted)
    kept = [access for access in user.allowed_tenants if access.tenant_id in wanted]
    have = {access.tenant_id for access in kept}
    added = [
        StaffTenantAccess(tenant_id=tenant_id) for tenant_id in wanted if tenant_id not in have
    ]
    user.allowed_tenants = kept + added
    audit.record(
        session,
        "user.tenants_limited",
        actor_id=actor_id,
        subject=user,
        before=before,
        after=wanted,
    )
    session.flush()


def _tenant_limits(user: User) -> list[int]:
    if not user.limited_to_tenants:
        return []
    return sorted(access.tenant_id for access in user.allowed_tenants)


def change_role(session: Session, user: User, role: Role, *, actor: User) -> None:
    """Staff change among staff roles, a tenant's users among creditor roles."""
    family = STAFF_ROLES if user.is_staff else CREDITOR_ROLES
    if role not in family:
        choices = ", ".join(sorted(choice.label.lower() for choice in family))
        raise UserError(f"{user.name} can only have one of these roles: {choices}.")
    if role is user.role:
        return
    if user.id == actor.id:
        raise UserError("You cannot change your own role: ask another admin.")
    _keep_an_admin(session, user, "change the role of")
    before, user.role = user.role, role
    if role not in LIMITABLE_ROLES and user.limited_to_tenants:
        user.limited_to_tenants = False
        user.allowed_tenants = []
    audit.record(
        session, "user.role_changed", actor_id=actor.id, tenant_id=user.tenant_id, subject=user,
        before=before.value, after=role.value,
    )  # fmt: skip
    session.flush()


def deactivate(session: Session, user: User, *, actor: User) -> None:
    """The user can no longer sign in, and a session they have ends on its next request."""
    if not user.active:
        return
    if user.id == actor.id:
        raise UserError("You cannot deactivate your own account: ask another admin.")
    _keep_an_admin(session, user, "deactivate")
    user.active = False
    audit.record(
        session, "user.deactivated", actor_id=actor.id, tenant_id=user.tenant_id, subject=user
    )
    session.flush()


def reactivate(session: Session, user: User, *, actor: User) -> None:
    if user.active:
        return
    user.active = True
    audit.record(
        session, "user.reactivated", actor_id=actor.id, tenant_id=user.tenant_id, subject=user
    )
    session.flush()


def _keep_an_admin(session: Session, user: User, doing: str) -> None:
    """Refuse to remove the last active admin of the agency or of a tenant.

    The active admins' rows are locked first, so two admins removing each other at the
    same moment cannot both succeed.
    """
    admin_role = Role.AGENCY_ADMIN if user.is_staff else Role.CREDITOR_ADMIN
    if user.role is not admin_role or not user.active:
        return
    statement = select(User.id).where(
        User.role == admin_role, User.active.is_(True), _belonging_to(user.tenant_id)
    )
    admins = set(session.scalars(statement.with_for_update()))
    if admins <= {user.id}:
        raise UserError(
            f"You cannot {doing} {user.name}: they are the last active admin. "
            "Make someone else an admin first."
        )
