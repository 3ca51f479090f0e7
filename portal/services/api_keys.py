"""Tenant API keys: how a creditor's own system signs in to the JSON API.

A key is 32 random bytes, URL-safe, shown once when it is made. Only its SHA-256 is
kept, with its first characters for people to tell keys apart; looking a key up by its
hash means the lookup itself reveals nothing about keys that do not match. A key acts
for its tenant, not for a person, and stops working the moment it is revoked or its
tenant is suspended.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import ApiKey, Tenant, TenantStatus
from portal.services import audit, tokens
from tenants.scoping import unscoped

PREFIX_LENGTH = 8
MAX_NAME_LENGTH = 100
# Writing the last-used time on every request would make each read a write; a minute's
# precision is what people looking at the list need.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """The key cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``secret`` exists only here, to be shown once."""

    key: ApiKey
    secret: str


def create_key(session: Session, tenant: Tenant, name: str, *, created_by_id: int | None) -> NewKey:
    name = name.strip()
    if not name:
        raise ApiKeyError("Give the key a name, such as the system that will use it.")
    if len(name) > MAX_NAME_LENGTH:
        raise ApiKeyError(f"The name can have at most {MAX_NAME_LENGTH} characters.")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        tenant_id=tenant.id,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        key_hash=tokens.digest(secret),
        created_by_id=created_by_id,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    audit.record(session, "api_key.created", actor_id=created_by_id, tenant_id=tenant.id,
                 subject=key, name=name, prefix=key.prefix)  # fmt: skip
    return NewKey(key, secret)


def revoke(session: Session, key: ApiKey, *, actor_id: int | None) -> bool:
    """Revoke ``key``; False when it already was (nothing changes then)."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    audit.record(session, "api_key.revoked", actor_id=actor_id, tenant_id=key.tenant_id,
                 subject=key, prefix=key.prefix)  # fmt: skip
    session.flush()
    return True


def tenant_keys(session: Session) -> Sequence[ApiKey]:
    """The keys of the session's tenant, newest first (revoked ones too)."""
    return session.scalars(
        select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    ).all()


def authenticate(
    session: Session, secret: str | None, now: datetime | None = None
) -> ApiKey | None:
    """The active key ``secret`` is, its last-used time brought up to date; else None.

    Runs unscoped: until the key is found, the request has no tenant.
    """
    if not secret or len(secret) > 200:
        return None
    now = now or utcnow()
    with unscoped(session):
        found = (
            session.execute(
                select(ApiKey, Tenant.status)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.key_hash == tokens.digest(secret))
            )
            .tuples()
            .first()
        )
        if found is None:
            return None
        key, status = found
        if key.revoked_at is not None or status is not TenantStatus.ACTIVE:
            return None
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
            key.last_used_at = now
            session.flush()
    return key
