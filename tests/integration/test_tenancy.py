"""The tenancy filter: every read of tenant data is limited to the session's scope."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from portal.models import Activity, Case, Debtor, Invoice, LedgerEntry, Role, Tenant, User
from portal.services.case_lists import CaseFilter, find_cases
from tenants.scoping import (
    TenantIsolationError,
    TenantScope,
    TenantScopeMissing,
    scoped_get,
    set_scope,
    unscoped,
)
from tests.factories import make_case, make_tenant, make_user


@pytest.fixture
def two_tenants(session: Session) -> tuple[Tenant, Tenant, Case, Case]:
    with unscoped(session):
        acme, zeta = make_tenant(session, "acme"), make_tenant(session, "zeta")
        acme_case = make_case(session, acme, debtor_name="Acme Debtor")
        zeta_case = make_case(session, zeta, debtor_name="Zeta Debtor")
        session.flush()
    return acme, zeta, acme_case, zeta_case


def names(session: Session) -> set[str]:
    return set(session.scalars(select(Debtor.name)))


def test_a_session_without_scope_refuses_tenant_data(session: Session, two_tenants) -> None:
    session.expunge_all()
    for model in (Case, Debtor, Invoice, LedgerEntry, Activity, Tenant):
        with pytest.raises(TenantScopeMissing):
            session.scalars(select(model)).all()


def test_a_session_without_scope_may_read_users(session: Session, two_tenants) -> None:
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_creditor_scope_sees_only_its_tenant(session: Session, two_tenants) -> None:
    acme, _zeta, acme_case, zeta_case = two_tenants
    set_scope(session, TenantScope.only(acme.id))
    assert names(session) == {"Acme Debtor"}
    assert session.scalars(select(Tenant.slug)).all() == ["acme"]
    assert {i.case_id for i in session.scalars(select(Invoice))} == {acme_case.id}
    assert scoped_get(session, Case, zeta_case.id) is None
    assert scoped_get(session, Case, acme_case.id) is acme_case


def test_scoped_get_ignores_the_identity_map(session: Session, two_tenants) -> None:
    """``session.get`` would hand back the object already loaded; ``scoped_get`` asks SQL."""
    _acme, zeta, _acme_case, zeta_case = two_tenants
    set_scope(session, TenantScope.only(zeta.id + 1000))
    assert session.get(Case, zeta_case.id) is zeta_case  # the gap the helper closes
    assert scoped_get(session, Case, zeta_case.id) is None


def test_joins_aliases_and_aggregates_are_filtered(session: Session, two_tenants) -> None:
    acme, *_ = two_tenants
    set_scope(session, TenantScope.only(acme.id))
    other = aliased(Debtor)
    joined = session.scalars(select(other.name).join(Case, Case.debtor_id == other.id)).all()
    assert joined == ["Acme Debtor"]
    assert session.scalar(select(func.count()).select_from(Case)) == 1
    assert session.scalar(select(func.sum(LedgerEntry.amount_minor))) == 125_000


def test_relationship_loads_are_filtered(session: Session, two_tenants) -> None:
    acme, _zeta, acme_case, _ = two_tenants
    session.expunge_all()
    set_scope(session, TenantScope.only(acme.id))
    case = scoped_get(session, Case, acme_case.id)
    assert case is not None
    assert [invoice.case_id for invoice in case.invoices] == [acme_case.id]
    assert case.tenant.slug == "acme"


def test_staff_scope_limited_to_some_tenants(session: Session, two_tenants) -> None:
    acme, _zeta, *_ = two_tenants
    with unscoped(session):
        third = make_tenant(session, "third")
        make_case(session, third, debtor_name="Third Debtor")
        limited = make_user(session, Role.COLLECTOR, limited_to=[acme, third])
        unlimited = make_user(session, Role.COLLECTOR)
    assert limited.tenant_scope() == TenantScope.only(acme.id, third.id)
    assert unlimited.tenant_scope() == TenantScope.every_tenant()
    set_scope(session, limited.tenant_scope())
    assert names(session) == {"Acme Debtor", "Third Debtor"}
    set_scope(session, unlimited.tenant_scope())
    assert names(session) == {"Acme Debtor", "Zeta Debtor", "Third Debtor"}


def test_creditor_user_scope_is_their_tenant(session: Session, two_tenants) -> None:
    acme, *_ = two_tenants
    with unscoped(session):
        user = make_user(session, Role.CREDITOR_USER, acme)
    assert user.tenant_scope() == TenantScope.only(acme.id)


def test_writes_outside_the_scope_are_refused(session: Session, two_tenants) -> None:
    acme, zeta, _acme_case, _zeta_case = two_tenants
    set_scope(session, TenantScope.only(acme.id))
    session.add(Debtor(tenant_id=zeta.id, kind="business", name="Planted"))
    with pytest.raises(TenantIsolationError):
        session.flush()
    session.rollback()


def test_moving_a_row_to_another_tenant_is_refused(session: Session, two_tenants) -> None:
    _acme, zeta, acme_case, _ = two_tenants
    set_scope(session, TenantScope.every_tenant())
    acme_case.tenant_id = zeta.id
    with pytest.raises(TenantIsolationError, match="cannot move"):
        session.flush()
    session.rollback()


def test_new_rows_take_the_single_tenant_of_the_scope(session: Session, two_tenants) -> None:
    acme, *_ = two_tenants
    set_scope(session, TenantScope.only(acme.id))
    debtor = Debtor(kind="person", name="Stamped")
    session.add(debtor)
    session.flush()
    assert debtor.tenant_id == acme.id


def test_writing_tenant_data_without_scope_is_refused(session: Session, two_tenants) -> None:
    acme, *_ = two_tenants
    session.add(Debtor(tenant_id=acme.id, kind="person", name="No scope"))
    with pytest.raises(TenantScopeMissing):
        session.flush()
    session.rollback()


def test_case_lists_follow_the_scope(session: Session, two_tenants) -> None:
    _acme, zeta, *_ = two_tenants
    set_scope(session, TenantScope.only(zeta.id))
    page = find_cases(session, CaseFilter())
    assert [row.case.debtor.name for row in page.rows] == ["Zeta Debtor"]
    assert page.total == 1
