"""What the payment tests share: a case placed on a fixed day, its reload, checkout pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TypeVar

from sqlalchemy.orm import Session

from portal.models import Case
from portal.services import checkouts
from portal.services.placement import place_case
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_tenant, placement_request

T = TypeVar("T")
PLACED = date(2026, 3, 1)
TODAY = date(2026, 3, 2)  # the debtor chooses how to pay and pays
PAGES = checkouts.CheckoutPages("https://portal.example/paid", "https://portal.example/pay", "en")


def place(session: Session, amount: int = 120_000) -> Case:
    with unscoped(session):
        when = datetime.combine(PLACED, time(9, 30), tzinfo=UTC)
        request = placement_request(amounts=(amount,))
        found = place_case(session, make_tenant(session), request, today=PLACED, placed_at=when)
        session.commit()
    return found


def place_in_agency_view(session: Session) -> Case:
    """A placed case, with the session seeing every tenant, as the agency's own jobs do."""
    found = place(session)
    set_scope(session, TenantScope.every_tenant())
    return found


def reload(session: Session, model: type[T], row_id: int) -> T:
    session.flush()
    session.expire_all()
    return session.get_one(model, row_id)
