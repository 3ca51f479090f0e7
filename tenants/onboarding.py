"""Signing up a creditor client as a tenant."""

from __future__ import annotations

import re

from babel.numbers import list_currencies
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.models import Tenant

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


class OnboardingError(ValueError):
    """The tenant cannot be created as asked; the message says why."""


def create_tenant(session: Session, *, slug: str, name: str, currency: str) -> Tenant:
    """Create a tenant with the agency's standard terms (edited later by an admin).

    Call inside ``unscoped(session)``: a new tenant is outside every existing scope.
    """
    slug = slug.strip().lower()
    currency = currency.strip().upper()
    if not SLUG_PATTERN.match(slug):
        raise OnboardingError(
            f"slug {slug!r} must be 1-40 lowercase letters, digits or inner hyphens"
        )
    if not name.strip():
        raise OnboardingError("a tenant needs a name")
    if currency not in list_currencies():
        raise OnboardingError(f"{currency!r} is not an ISO 4217 currency code")
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise OnboardingError(f"a tenant with slug {slug!r} already exists")
    tenant = Tenant(slug=slug, name=name.strip(), currency=currency)
    session.add(tenant)
    session.flush()
    return tenant


def tenant_by_slug(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug.strip().lower()))
    if tenant is None:
        raise OnboardingError(f"no tenant with slug {slug!r}")
    return tenant
