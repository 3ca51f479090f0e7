"""Choosing a new password by a link sent by e-mail: single use, valid for an hour.

Asking for a link answers the same whether or not the address has an account, so the
page tells nobody who has one. The link's token exists only in the e-mail: the table
keeps its sha256. Using a link claims it with one conditional UPDATE (two requests with
one link change the password once), uses up the user's other open links and ends the
user's sessions.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.models import PasswordReset, User
from portal.services import audit, tokens
from portal.services.users import may_sign_in, set_password

VALID_FOR = timedelta(minutes=60)


class ResetClosed(ValueError):
    """The link was used or has expired."""


def reset_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/password/reset/{token}"


def request_reset(
    session: Session,
    mailer: Mailer,
    email: str,
    *,
    base_url: str,
    now: datetime,
    ip_address: str | None = None,
) -> PasswordReset | None:
    """E-mail a link to the account with this address, if there is one that may sign in;
    None otherwise (nothing is sent). Audited either way."""
    address = email.strip().lower()
    user = session.scalar(select(User).where(func.lower(User.email) == address))
    if user is None or not may_sign_in(session, user):
        audit.record(
            session, "auth.password_reset_requested", ip_address=ip_address,
            email=address[:254], sent=False,
        )  # fmt: skip
        return None
    token = secrets.token_urlsafe(32)
    reset = PasswordReset(
        user_id=user.id, token_hash=tokens.digest(token), created_at=now,
        expires_at=now + VALID_FOR, ip_address=ip_address,
    )  # fmt: skip
    session.add(reset)
    session.flush()
    mailer.send(session, _reset_mail(user, reset, reset_link(base_url, token)))
    audit.record(
        session, "auth.password_reset_requested", tenant_id=user.tenant_id, subject=reset,
        ip_address=ip_address, email=user.email, sent=True,
    )  # fmt: skip
    return reset


def _reset_mail(user: User, reset: PasswordReset, link: str) -> Mail:
    minutes = int(VALID_FOR.total_seconds() // 60)
    body = (
        f"Hello {user.name},\n\n"
        "Someone (we hope you) asked to choose a new password for your account on our "
        "collections portal.\n\n"
        f"Open this link to choose it:\n{link}\n\n"
        f"The link works once, for {minutes} minutes (until {reset.expires_at:%d %b %Y %H:%M} "
        "UTC). If you did not ask for it, ignore this e-mail: your password stays as it is.\n"
    )
    return Mail(
        recipient=user.email,
        subject="Choose a new password",
        body_text=body,
        tenant_id=user.tenant_id,
    )


def by_token(session: Session, token: str) -> PasswordReset | None:
    """The link this token names, open or not."""
    return session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == tokens.digest(token))
    )


def closed_because(reset: PasswordReset, now: datetime) -> str | None:
    """Why the link no longer works ("used" or "expired"); None while open."""
    if reset.used_at is not None:
        return "used"
    if now >= reset.expires_at:
        return "expired"
    return None


def reset_password(
    session: Session, token: str, password: str, *, now: datetime, ip_address: str | None = None
) -> User:
    """Set the new password; ``ResetClosed`` for a link that no longer works. A password
    too short raises ``WeakPasswordError``: the caller rolls back, and the link stays open."""
    reset = by_token(session, token)
    if reset is None or closed_because(reset, now) or not _claim(session, reset, now):
        raise ResetClosed("This link no longer works.")
    user = session.get_one(User, reset.user_id)
    set_password(session, user, password, now)
    audit.record(
        session, "auth.password_reset", actor_id=user.id, tenant_id=user.tenant_id,
        subject=user, ip_address=ip_address, reset_id=reset.id,
    )  # fmt: skip
    session.flush()
    return user


def _claim(session: Session, reset: PasswordReset, now: datetime) -> bool:
    statement = (
        update(PasswordReset)
        .where(
            PasswordReset.id == reset.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1
