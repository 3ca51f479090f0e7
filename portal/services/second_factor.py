"""The second factor: a six-digit code from an authenticator app (TOTP), and ten
single-use recovery codes for when the phone is lost.

Who must give one: the agency's staff when the portal's setting says so, and a client's
users when that client requires it. Whoever has set one up gives it at every sign-in,
required or not.

A code is accepted once. The time step of each accepted code is kept in the audit entry
recording its use (the sign-in, or the set-up), and a code of that step or an earlier
one is refused while it would otherwise still be valid. Only sha256 hashes of the
recovery codes are stored: they are shown once, when made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import pyotp
import segno
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from portal.models import AuditEntry, RecoveryCode, Tenant, User
from portal.services import audit
from portal.services.users import own_tenant

RECOVERY_CODE_COUNT = 10
# Letters and digits that cannot be mistaken for one another; ten of them, in two halves.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_HALF = 5
# A code is valid for its own time step and one on either side (30 s each); entries older
# than this cannot name a step that is still valid.
REPLAY_WINDOW = timedelta(minutes=2)
# The audit entries that record an accepted code and its time step.
CODE_ACCEPTED = ("auth.login", "auth.second_factor_enrolled")


class SecondFactorError(ValueError):
    """The second factor cannot be changed as asked; the message says why."""


@dataclass(frozen=True)
class Accepted:
    """A code given at sign-in that was right: how, and (for the app's code) its time step."""

    method: str  # "authenticator" or "recovery_code"
    time_step: int | None = None

    def audit_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"second_factor": self.method}
        if self.time_step is not None:
            details["time_step"] = self.time_step
        return details


def new_secret() -> str:
    return pyotp.random_base32()


def qr_code(secret: str, account: str, issuer: str) -> str:
    """The secret as the QR code authenticator apps scan: an SVG ``data:`` URI."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def is_enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def is_required(session: Session, user: User, *, staff_required: bool) -> bool:
    """Whether the user must give a second factor: staff by the portal's setting, a
    client's users when their client requires it."""
    if user.is_staff:
        return staff_required
    tenant = own_tenant(session, user)
    return tenant is not None and tenant.require_second_factor


def is_needed(session: Session, user: User, *, staff_required: bool) -> bool:
    """Whether signing in takes a second factor: it is required, or the user has one."""
    return is_enabled(user) or is_required(session, user, staff_required=staff_required)


def recovery_codes_left(session: Session, user: User) -> int:
    statement = select(func.count()).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(statement) or 0)


def accept_sign_in_code(
    session: Session, user: User, code: str, *, now: datetime, ip_address: str | None = None
) -> Accepted | None:
    """Check the code given at sign-in: the app's code or a recovery code. None when it is
    wrong or was used already (audited)."""
    given = "".join(code.split())
    if given.isdigit():
        step = _unused_step(session, user, user.totp_secret or "", given, now)
        if step is not None:
            return Accepted("authenticator", step)
    elif _use_recovery_code(session, user, given, now):
        audit.record(
            session, "auth.recovery_code_used", actor_id=user.id, tenant_id=user.tenant_id,
            subject=user, ip_address=ip_address, left=recovery_codes_left(session, user),
        )  # fmt: skip
        return Accepted("recovery_code")
    audit.record(
        session, "auth.second_factor_failed", tenant_id=user.tenant_id, subject=user,
        ip_address=ip_address,
    )  # fmt: skip
    return None


def enrol(
    session: Session,
    user: User,
    secret: str,
    code: str,
    *,
    now: datetime,
    ip_address: str | None = None,
) -> tuple[list[str], Accepted]:
    """Confirm the secret with the first code the app shows, and make the recovery codes
    (returned: they are shown once). A wrong code raises and nothing is stored."""
    step = _unused_step(session, user, secret, "".join(code.split()), now)
    if step is None:
        raise SecondFactorError(
            "That code does not match. Check that the phone's clock is right and type the "
            "code the app shows now."
        )
    user.totp_secret, user.totp_enabled_at = secret, now
    codes = _replace_recovery_codes(session, user, now)
    audit.record(
        session, "auth.second_factor_enrolled", actor_id=user.id, tenant_id=user.tenant_id,
        subject=user, ip_address=ip_address, time_step=step,
    )  # fmt: skip
    session.flush()
    return codes, Accepted("authenticator", step)


def renew_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    """New recovery codes (returned: they are shown once); the old ones stop working."""
    if not is_enabled(user):
        raise SecondFactorError("Set up the second factor first.")
    codes = _replace_recovery_codes(session, user, now)
    audit.record(
        session, "auth.recovery_codes_renewed", actor_id=user.id, tenant_id=user.tenant_id,
        subject=user,
    )  # fmt: skip
    session.flush()
    return codes


def turn_off(session: Session, user: User, *, staff_required: bool) -> None:
    """Remove the user's second factor, unless they are required to have one."""
    if is_required(session, user, staff_required=staff_required):
        raise SecondFactorError("You are required to sign in with a second factor.")
    if not is_enabled(user):
        return
    user.totp_secret, user.totp_enabled_at = None, None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(
        session, "auth.second_factor_disabled", actor_id=user.id, tenant_id=user.tenant_id,
        subject=user,
    )  # fmt: skip
    session.flush()


def require_for_tenant(session: Session, tenant: Tenant, required: bool, *, actor: User) -> bool:
    """A client's admin requires (or stops requiring) a second factor of everyone at the
    client. The admin sets up their own first: their session would end otherwise.
    False when nothing changed."""
    if required and not is_enabled(actor):
        raise SecondFactorError(
            "Set up your own second factor first (Account security): otherwise you would "
            "be signed out too."
        )
    if tenant.require_second_factor == required:
        return False
    tenant.require_second_factor = required
    audit.record(
        session, "tenant.second_factor_required", actor_id=actor.id, tenant_id=tenant.id,
        subject=tenant, before=not required, after=required,
    )  # fmt: skip
    session.flush()
    return True


def _unused_step(session: Session, user: User, secret: str, code: str, now: datetime) -> int | None:
    """The time step of a right code not used before; None otherwise.

    The user's row is locked first, so two requests with one code cannot both pass."""
    if not secret or len(code) != pyotp.TOTP(secret).digits:
        return None
    totp = pyotp.TOTP(secret)
    if not totp.verify(code, for_time=now, valid_window=1):
        return None
    current = totp.timecode(now)
    step = next(
        step
        for step in (current, current - 1, current + 1)
        if hmac.compare_digest(totp.generate_otp(step), code)
    )
    session.scalar(select(User.id).where(User.id == user.id).with_for_update())
    last = _last_accepted_step(session, user, now)
    return None if last is not None and step <= last else step


def _last_accepted_step(session: Session, user: User, now: datetime) -> int | None:
    statement = select(AuditEntry.details).where(
        AuditEntry.actor_id == user.id,
        AuditEntry.action.in_(CODE_ACCEPTED),
        AuditEntry.at >= now - REPLAY_WINDOW,
    )
    steps = [details.get("time_step") for details in session.scalars(statement)]
    return max((step for step in steps if isinstance(step, int)), default=None)


def _hash(code: str) -> str:
    normalised = "".join(character for character in code.lower() if character.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


def _new_recovery_code() -> str:
    half = RECOVERY_HALF
    characters = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(2 * half))
    return f"{characters[:half]}-{characters[half:]}"


def _replace_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_hash(code), created_at=now) for code in codes
    )
    return codes


def _use_recovery_code(session: Session, user: User, code: str, now: datetime) -> bool:
    """Use the code up if it is one of the user's unused ones: one conditional UPDATE, so
    two requests with the same code cannot both succeed."""
    statement = (
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1
