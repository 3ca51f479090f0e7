"""The agency's clients (tenants): their figures at a glance, signing one up, its profile,
and the two switches that stop it: suspension (its users cannot sign in) and paused
collection (the dunning run and instalment charges leave its cases alone).

Every change is audited. ``tenant_overview`` sends three queries whatever the number of
clients and cases: the tenants, their cases' money summaries grouped by tenant and
currency, and their active users grouped by tenant.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Case, Tenant, TenantStatus, User
from portal.services import audit, branding
from portal.services.case_lists import OPEN_STAGES
from portal.services.portfolio import CurrencyTotals
from tenants.onboarding import OnboardingError, create_tenant
from tenants.scoping import unscoped

COLOUR = re.compile(r"^#[0-9a-f]{6}$")
MAX_NAME = 200


class TenantAdminError(ValueError):
    """The change is refused; the message says why, for the admin who asked."""


@dataclass(frozen=True)
class TenantRow:
    """A client with its figures: cases still being worked, active users, and per
    currency the principal placed and the money collected (minor units)."""

    tenant: Tenant
    open_cases: int = 0
    active_users: int = 0
    money: list[CurrencyTotals] = field(default_factory=list)


def tenant_overview(session: Session) -> list[TenantRow]:
    """Every tenant the session may see, by name, with its figures (three queries)."""
    tenants = session.scalars(select(Tenant).order_by(Tenant.name, Tenant.id)).all()
    open_cases, money = _case_figures(session)
    users = _active_users(session)
    return [
        TenantRow(
            tenant=tenant,
            open_cases=open_cases.get(tenant.id, 0),
            active_users=users.get(tenant.id, 0),
            money=money.get(tenant.id, []),
        )
        for tenant in tenants
    ]


def _case_figures(
    session: Session,
) -> tuple[dict[int, int], dict[int, list[CurrencyTotals]]]:
    is_open = sql_case((Case.stage.in_(OPEN_STAGES), 1), else_=0)
    statement = (
        select(
            Case.tenant_id,
            Case.currency,
            func.sum(is_open),
            func.sum(Case.placed_minor),
            func.sum(Case.collected_minor),
            func.sum(Case.outstanding_minor),
        )
        .group_by(Case.tenant_id, Case.currency)
        .order_by(Case.tenant_id, Case.currency)
    )
    open_cases: dict[int, int] = defaultdict(int)
    money: dict[int, list[CurrencyTotals]] = defaultdict(list)
    for tenant_id, currency, opened, placed, collected, outstanding in session.execute(statement):
        open_cases[tenant_id] += int(opened)
        money[tenant_id].append(
            CurrencyTotals(currency, int(placed), int(collected), int(outstanding))
        )
    return open_cases, money


def _active_users(session: Session) -> dict[int, int]:
    # Users are not tenant-owned rows: only the tenants this session sees are shown anyway.
    statement = (
        select(User.tenant_id, func.count())
        .where(User.tenant_id.is_not(None), User.active.is_(True))
        .group_by(User.tenant_id)
    )
    return {int(tenant_id): int(count) for tenant_id, count in session.execute(statement)}


def create(session: Session, *, slug: str, name: str, currency: str, actor_id: int) -> Tenant:
    """A new client on the agency's standard terms; ``TenantAdminError`` when refused."""
    if len(name.strip()) > MAX_NAME:
        raise TenantAdminError(f"A client's name is at most {MAX_NAME} characters.")
    # A new tenant is outside every existing scope.
    with unscoped(session):
        try:
            tenant = create_tenant(session, slug=slug, name=name, currency=currency)
        except OnboardingError as error:
            message = str(error)
            raise TenantAdminError(message[:1].upper() + message[1:] + ".") from None
    audit.record(
        session,
        "tenant.created",
        actor_id=actor_id,
        tenant_id=tenant.id,
        subject=tenant,
        slug=tenant.slug,
        name=tenant.name,
        currency=tenant.currency,
    )
    return tenant


def _cleaned_profile(name: str, brand_name: str, brand_colour: str) -> dict[str, Any]:
    """The profile's columns as they are stored, or ``TenantAdminError`` saying what is wrong."""
    name, brand_name = name.strip(), brand_name.strip()
    colour = brand_colour.strip().lower()
    if not name:
        raise TenantAdminError("A client needs a name.")
    if len(name) > MAX_NAME or len(brand_name) > MAX_NAME:
        raise TenantAdminError(f"Names are at most {MAX_NAME} characters.")
    if not COLOUR.match(colour):
        raise TenantAdminError(
            f"{brand_colour.strip()!r} is not a colour: write it as # and six hex digits, "
            "like #1d4ed8."
        )
    if (contrast := branding.contrast_with_white(colour)) < branding.MIN_CONTRAST:
        raise TenantAdminError(
            f"{colour} is too light to read on white (contrast {contrast:.1f} to 1, at least "
            f"{branding.MIN_CONTRAST} needed): choose a darker shade."
        )
    return {"name": name, "brand_name": brand_name or None, "brand_colour": colour}


def update_profile(
    session: Session, tenant: Tenant, *, name: str, brand_name: str, brand_colour: str,
    actor_id: int,
) -> dict[str, Any]:  # fmt: skip
    """Rename or re-brand a client; returns what changed (audited with before and after)."""
    wanted = _cleaned_profile(name, brand_name, brand_colour)
    changes = {
        column: {"before": getattr(tenant, column), "after": value}
        for column, value in wanted.items()
        if getattr(tenant, column) != value
    }
    for column, change in changes.items():
        setattr(tenant, column, change["after"])
    if changes:
        audit.record(
            session,
            "tenant.profile_changed",
            actor_id=actor_id,
            tenant_id=tenant.id,
            subject=tenant,
            changes=changes,
        )
    session.flush()
    return changes


def suspend(session: Session, tenant: Tenant, *, actor_id: int) -> None:
    """Its users cannot sign in, and those signed in are signed out on their next request."""
    if tenant.status is TenantStatus.SUSPENDED:
        raise TenantAdminError(f"{tenant.name} is already suspended.")
    _switch(session, tenant, "tenant.suspended", actor_id=actor_id, status=TenantStatus.SUSPENDED)


def reactivate(session: Session, tenant: Tenant, *, actor_id: int) -> None:
    if tenant.status is TenantStatus.ACTIVE:
        raise TenantAdminError(f"{tenant.name} is already active.")
    _switch(session, tenant, "tenant.reactivated", actor_id=actor_id, status=TenantStatus.ACTIVE)


def pause_collection(session: Session, tenant: Tenant, *, actor_id: int) -> None:
    """No more letters, stage moves or instalment charges for its cases until resumed."""
    if tenant.collection_paused:
        raise TenantAdminError(f"Collection for {tenant.name} is already paused.")
    _switch(session, tenant, "tenant.collection_paused", actor_id=actor_id, collection_paused=True)


def resume_collection(session: Session, tenant: Tenant, *, actor_id: int) -> None:
    if not tenant.collection_paused:
        raise TenantAdminError(f"Collection for {tenant.name} is not paused.")
    _switch(
        session, tenant, "tenant.collection_resumed", actor_id=actor_id, collection_paused=False
    )


def _switch(
    session: Session, tenant: Tenant, action: str, *, actor_id: int, **columns: object
) -> None:
    for column, value in columns.items():
        setattr(tenant, column, value)
    audit.record(session, action, actor_id=actor_id, tenant_id=tenant.id, subject=tenant)
    session.flush()
