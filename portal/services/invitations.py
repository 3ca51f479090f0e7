"""Invitations to join the portal: a single-use link, valid for a week, sent by e-mail.

Agency admins invite staff and a client's first admin; a client's admins invite their
colleagues. The link's token exists only in the e-mail: the table keeps its sha256, so
reading the table lets nobody accept an invitation. Accepting claims the invitation with
one conditional UPDATE, so two requests with the same link create one user at most.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import Session, joinedload

from portal.adapters.mail import Mail, Mailer
from portal.db import utcnow
from portal.models import CREDITOR_ROLES, Invitation, Role, Tenant, User
from portal.services import audit, tokens
from portal.services.users import (
    UserError,
    checked_tenant_limits,
    create_user,
    limit_to_tenants,
    normalise_email,
)
from tenants.scoping import unscoped

VALID_FOR = timedelta(days=7)
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254


class InvitationError(ValueError):
    """The invitation cannot be sent or accepted as asked; the message says why."""


class InvitationClosed(InvitationError):
    """The link was used, withdrawn or has expired."""


def invitation_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invitations/{token}"


def invite(
    session: Session,
    mailer: Mailer,
    *,
    email: str,
    name: str,
    role: Role,
    tenant: Tenant | None,
    limited_to_tenant_ids: Iterable[int],
    invited_by: User,
    base_url: str,
) -> Invitation:
    """Send a new invitation; an open one to the same address is withdrawn."""
    email, name = _checked_email(session, email), _checked_name(name)
    if (role in CREDITOR_ROLES) != (tenant is not None):
        raise InvitationError("A client's users are invited to that client, staff to none.")
    try:
        limits = checked_tenant_limits(session, role, limited_to_tenant_ids)
    except UserError as error:
        raise InvitationError(str(error)) from None
    now = utcnow()
    replaced = _withdraw_open(session, email, tenant.id if tenant else None, now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        email=email, name=name, role=role, tenant_id=tenant.id if tenant else None,
        limited_to_tenant_ids=limits, token_hash=tokens.digest(token), invited_by_id=invited_by.id,
        created_at=now, expires_at=now + VALID_FOR,
    )  # fmt: skip
    session.add(invitation)
    session.flush()
    mailer.send(session, _invitation_mail(invitation, tenant, invited_by, base_url, token))
    audit.record(
        session, "invitation.sent", actor_id=invited_by.id, tenant_id=invitation.tenant_id,
        subject=invitation, email=email, role=role.value, limited_to_tenant_ids=limits,
        replaced_invitation_ids=replaced,
    )  # fmt: skip
    return invitation


def _checked_email(session: Session, email: str) -> str:
    if len(email.strip()) > MAX_EMAIL_LENGTH:
        raise InvitationError(f"An e-mail address has at most {MAX_EMAIL_LENGTH} characters.")
    try:
        email = normalise_email(email)
    except UserError:
        raise InvitationError(f"{email.strip()!r} is not a valid e-mail address.") from None
    existing = session.scalar(select(User).where(func.lower(User.email) == email))
    if existing is not None and existing.active:
        raise InvitationError(f"{email} already has an account: they can sign in.")
    if existing is not None:
        raise InvitationError(f"{email} has a deactivated account: reactivate it instead.")
    return email


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvitationError("Give the name of the person you invite.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvitationError(f"A name has at most {MAX_NAME_LENGTH} characters.")
    return name


def _withdraw_open(session: Session, email: str, tenant_id: int | None, now: datetime) -> list[int]:
    """Withdraw the open invitations to this address from the same side (the new one
    replaces them). Another client's invitation is theirs to withdraw."""
    statement = select(Invitation).where(Invitation.email == email, _to(tenant_id), _is_open(now))
    replaced = list(session.scalars(statement))
    for invitation in replaced:
        invitation.revoked_at = now
    return [invitation.id for invitation in replaced]


def _to(tenant_id: int | None) -> ColumnElement[bool]:
    """Invitations to that tenant; None: to the agency's staff."""
    if tenant_id is None:
        return Invitation.tenant_id.is_(None)
    return Invitation.tenant_id == tenant_id


def _is_open(now: datetime) -> ColumnElement[bool]:
    return (
        Invitation.accepted_at.is_(None)
        & Invitation.revoked_at.is_(None)
        & (Invitation.expires_at > now)
    )


def _invitation_mail(
    invitation: Invitation, tenant: Tenant | None, invited_by: User, base_url: str, token: str
) -> Mail:
    where = f"{tenant.name}'s client portal" if tenant else "the agency's workspace"
    body = (
        f"Hello {invitation.name},\n\n"
        f"{invited_by.name} invites you to {where} on our collections portal, "
        f"as {invitation.role.label.lower()}.\n\n"
        f"Open this link to choose your password and sign in:\n"
        f"{invitation_link(base_url, token)}\n\n"
        f"The link works once, until {invitation.expires_at:%d %b %Y %H:%M} UTC. "
        "If you did not expect this invitation, ignore this e-mail.\n"
    )
    return Mail(
        recipient=invitation.email,
        subject=f"You are invited to {where}",
        body_text=body,
        tenant_id=invitation.tenant_id,
    )


def by_token(session: Session, token: str) -> Invitation | None:
    """The invitation this link names, open or not, with its tenant and who sent it."""
    statement = (
        select(Invitation)
        .where(Invitation.token_hash == tokens.digest(token))
        .options(joinedload(Invitation.tenant), joinedload(Invitation.invited_by))
    )
    # The person opening the link is not signed in: no tenant scope yet. The
    # invitation names the one tenant it concerns.
    with unscoped(session):
        return session.scalar(statement)


def closed_because(invitation: Invitation, now: datetime) -> str | None:
    """Why the link no longer works ("used", "revoked" or "expired"); None while open."""
    if invitation.accepted_at is not None:
        return "used"
    if invitation.revoked_at is not None:
        return "revoked"
    if now >= invitation.expires_at:
        return "expired"
    return None


def open_invitation(session: Session, token: str, now: datetime) -> Invitation | None:
    """The invitation for a valid link that was neither used, withdrawn nor expired."""
    invitation = by_token(session, token)
    if invitation is None or closed_because(invitation, now) is not None:
        return None
    return invitation


def accept(session: Session, token: str, *, name: str, password: str, now: datetime) -> User:
    """Create the invited person's account, signed in from ``now``; raises
    ``InvitationClosed`` for a link that no longer works (also for the second of two
    requests racing with one link)."""
    name = _checked_name(name)
    invitation = open_invitation(session, token, now)
    if invitation is None or not _claim(session, invitation, now):
        raise InvitationClosed("This invitation link no longer works.")
    # The person accepting has no tenant scope yet: the invitation names their tenant.
    with unscoped(session):
        user = create_user(
            session, email=invitation.email, name=name, role=invitation.role,
            password=password, tenant=invitation.tenant,
        )  # fmt: skip
        # The clients the inviter chose, so recorded as the inviter's choice.
        limit_to_tenants(
            session, user, invitation.limited_to_tenant_ids, actor_id=invitation.invited_by_id
        )
    user.last_login_at = now
    invitation.accepted_user_id = user.id
    audit.record(
        session, "invitation.accepted", actor_id=user.id, tenant_id=invitation.tenant_id,
        subject=invitation, user_id=user.id,
    )  # fmt: skip
    session.flush()
    return user


def _claim(session: Session, invitation: Invitation, now: datetime) -> bool:
    """Mark the invitation used if it still is open in the database (a racing request
    waits on the row and then finds it used)."""
    statement = (
        update(Invitation)
        .where(Invitation.id == invitation.id, _is_open(now))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = cast(CursorResult[Any], session.execute(statement)).rowcount == 1
    session.refresh(invitation)
    return claimed


def revoke(session: Session, invitation: Invitation, *, actor_id: int, now: datetime) -> bool:
    """Withdraw an open invitation; False (and nothing changes) if it is no longer open."""
    if closed_because(invitation, now) is not None:
        return False
    invitation.revoked_at = now
    audit.record(
        session, "invitation.revoked", actor_id=actor_id, tenant_id=invitation.tenant_id,
        subject=invitation, email=invitation.email,
    )  # fmt: skip
    session.flush()
    return True


def open_invitations(session: Session, tenant_id: int | None, now: datetime) -> list[Invitation]:
    """A tenant's open invitations, or the agency's (to staff) when ``tenant_id`` is None."""
    statement = (
        select(Invitation)
        .where(_to(tenant_id), _is_open(now))
        .options(joinedload(Invitation.invited_by))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )
    return list(session.scalars(statement))


def invitation_for(session: Session, tenant_id: int, invitation_id: int) -> Invitation | None:
    """The invitation with this id if it is to that tenant."""
    return session.scalar(select(Invitation).where(Invitation.id == invitation_id, _to(tenant_id)))
