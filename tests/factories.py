"""Test data built through the same services the portal uses (call inside ``unscoped``)."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy.orm import Session

from portal.models import Case, DebtorKind, Role, StaffTenantAccess, Tenant, User
from portal.services.placement import (
    DebtorDetails,
    InvoiceDetails,
    PlacementRequest,
    place_case,
)
from portal.services.users import create_user
from tenants.onboarding import create_tenant

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


def make_tenant(session: Session, slug: str | None = None, currency: str = "EUR") -> Tenant:
    slug = slug or f"tenant-{next(_numbers)}"
    return create_tenant(session, slug=slug, name=f"{slug.title()} Ltd", currency=currency)


def make_user(
    session: Session,
    role: Role,
    tenant: Tenant | None = None,
    *,
    limited_to: list[Tenant] | None = None,
    email: str | None = None,
) -> User:
    user = create_user(
        session,
        email=email or f"{role.value}-{next(_numbers)}@example.com",
        name=f"Test {role.label}",
        role=role,
        password=PASSWORD,
        tenant=tenant,
    )
    if limited_to is not None:
        user.limited_to_tenants = True
        user.allowed_tenants = [StaffTenantAccess(tenant_id=t.id) for t in limited_to]
    session.flush()
    return user


def make_case(
    session: Session,
    tenant: Tenant,
    *,
    debtor_name: str | None = None,
    reference: str | None = None,
    amounts: tuple[int, ...] = (125_000,),
) -> Case:
    return place_case(session, tenant, placement_request(debtor_name, reference, amounts))


def placement_request(
    debtor_name: str | None = None,
    reference: str | None = None,
    amounts: tuple[int, ...] = (125_000,),
    **fields: object,
) -> PlacementRequest:
    number = next(_numbers)
    values: dict[str, object] = {
        "debtor": DebtorDetails(
            kind=DebtorKind.BUSINESS,
            name=debtor_name or f"Debtor {number} GmbH",
            email=f"accounts{number}@debtor.example",
            postal_code="10115",
            language="en",  # stated: the tests read English; German is tested on purpose
        ),
        "invoices": tuple(
            InvoiceDetails(
                number=f"INV-{number}-{index}",
                issue_date=date(2026, 1, 10),
                due_date=date(2026, 2, 10),
                amount_minor=amount,
            )
            for index, amount in enumerate(amounts)
        ),
        "creditor_reference": reference or f"REF-{number}",
    }
    values.update(fields)
    return PlacementRequest(**values)  # type: ignore[arg-type]
