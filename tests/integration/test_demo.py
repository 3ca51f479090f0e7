"""The demo a new installation shows: believable, and consistent with its own ledger."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    Case,
    Closure,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
    Role,
    Stage,
    User,
)
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


def test_demo_legal_cases_have_their_requests_and_court_files(session: Session) -> None:
    with unscoped(session):
        demo.load(session)
        cases = session.scalars(select(Case)).all()
        requests = {r.case_id: r for r in session.scalars(select(LegalRequest))}
        files = {p.case_id: p for p in session.scalars(select(LegalProceeding))}
    for case in cases:
        if case.stage is Stage.LEGAL_REVIEW:
            assert requests[case.id].status is LegalRequestStatus.AWAITING_CREDITOR
        elif case.stage in {Stage.LITIGATION, Stage.JUDGMENT, Stage.ENFORCEMENT}:
            assert requests[case.id].status is LegalRequestStatus.APPROVED
            assert files[case.id].court and files[case.id].court_case_number
        else:
            assert case.id not in files
