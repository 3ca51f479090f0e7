"""The demo a new installation shows: believable, and consistent with its own ledger."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Closure, Role, Stage, User
from portal.services import demo, ledger
from tenants.scoping import unscoped


def test_demo_covers_every_stage_with_consistent_money(session: Session) -> None:
    with unscoped(session):
        demo.load(session)
        cases = session.scalars(select(Case)).all()
        sums = ledger.balances(session, cases)
        users = session.scalars(select(User).order_by(User.id)).all()
    assert len(cases) == 50
    assert {case.stage for case in cases} == set(Stage)
    assert {case.tenant_id for case in cases} and len({case.tenant_id for case in cases}) == 2
    for case in cases:
        if case.closure in {Closure.PAID, Closure.SETTLED}:
            assert sums[case.id].outstanding == 0, case.agency_reference
        else:
            assert sums[case.id].outstanding > 0
        if case.stage is Stage.ON_HOLD:
            assert case.stage_before_hold and case.hold_reason
    roles = sorted(user.role.value for user in users)
    assert roles.count(Role.COLLECTOR.value) == 2
    assert roles.count(Role.CREDITOR_ADMIN.value) == roles.count(Role.CREDITOR_USER.value) == 2
    assert [login.email for login in demo.logins()] == [u.email for u in users]
