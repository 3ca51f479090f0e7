"""Every (stage, transition) pair: the allowed ones move with their effects, the rest refuse."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    ActivityKind,
    AuditEntry,
    Case,
    Closure,
    EntryKind,
    HoldReason,
    Lawyer,
    LegalRequest,
    LegalRequestStatus,
    Role,
    Stage,
)
from portal.services import ledger, stages
from portal.services.stages import TRANSITIONS, StageError
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant

PAIRS = [(stage, name) for stage in Stage for name in TRANSITIONS]


@pytest.fixture
def case(session: Session) -> Case:
    with unscoped(session):
        tenant = make_tenant(session)
        placed = make_case(session, tenant, amounts=(10_000,))
    set_scope(session, TenantScope.only(tenant.id))
    return placed


def arrange(session: Session, case: Case, stage: Stage) -> None:
    """Put the case in ``stage`` as if earlier moves had happened (test set-up only)."""
    case.stage = stage
    if stage is Stage.ON_HOLD:
        case.stage_before_hold, case.hold_reason = Stage.DEMAND, HoldReason.DISPUTE
    if stage is Stage.CLOSED:
        case.closure = Closure.UNCOLLECTIBLE
        stages._record(session, case, Stage.NEGOTIATION, None, "arranged")  # the closing step
    session.flush()


@pytest.mark.parametrize(("stage", "name"), PAIRS, ids=[f"{s.value}-{n}" for s, n in PAIRS])
def test_every_stage_and_transition(session: Session, case: Case, stage: Stage, name: str) -> None:
    transition = TRANSITIONS[name]
    arrange(session, case, stage)
    if name == "start_litigation":  # the creditor approved legal action
        lawyer = Lawyer(name="Dr. Weber", firm="Weber & Partner", email="weber@law.example")
        session.add(lawyer)
        session.flush()
        approved = LegalRequestStatus.APPROVED
        request = LegalRequest(
            tenant_id=case.tenant_id, case_id=case.id, lawyer_id=lawyer.id, status=approved
        )
        session.add(request)
        session.flush()
    if name == "close_paid":
        ledger.book(
            session,
            case,
            EntryKind.PAYMENT,
            -10_000,
            value_date=date(2026, 11, 1),
            description="Paid in full",
        )
    role = next(iter(sorted(transition.roles)))
    before = len(
        session.scalars(select(AuditEntry).where(AuditEntry.action == "case.stage_changed")).all()
    )
    attempt = lambda: stages.move(  # noqa: E731
        session, case, name, actor_id=None, role=role, why="because", hold_reason=HoldReason.DISPUTE
    )
    if stage not in transition.sources:
        with pytest.raises(StageError, match="cannot"):
            attempt()
        assert case.stage is stage
        return
    attempt()
    session.flush()
    expected = transition.target or {"resume": Stage.DEMAND, "reopen": Stage.NEGOTIATION}[name]
    assert case.stage is expected
    assert case.closure is (transition.closure if expected is Stage.CLOSED else None)
    session.expire(case, ["activities"])
    last = case.activities[0]
    assert last.kind is ActivityKind.STAGE_CHANGE and last.details["stage"] == expected.value
    after = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.stage_changed")
    ).all()
    assert len(after) == before + 1
    if expected is Stage.ON_HOLD:
        assert (case.stage_before_hold, case.hold_reason) == (stage, HoldReason.DISPUTE)


def test_roles_are_checked(session: Session, case: Case) -> None:
    arrange(session, case, Stage.LEGAL_REVIEW)
    with pytest.raises(StageError, match="Your role cannot"):
        stages.move(session, case, "start_litigation", actor_id=None, role=Role.COLLECTOR)
    arrange(session, case, Stage.CLOSED)
    with pytest.raises(StageError, match="Your role cannot"):
        stages.move(session, case, "reopen", actor_id=None, role=Role.COLLECTOR, why="x")
    assert case.stage is Stage.CLOSED


def test_reasons_and_guards(session: Session, case: Case) -> None:
    arrange(session, case, Stage.DEMAND)
    with pytest.raises(StageError, match="needs a reason"):
        stages.move(session, case, "close_uncollectible", actor_id=None, role=Role.COLLECTOR)
    with pytest.raises(StageError, match="Choose why"):
        stages.move(session, case, "hold", actor_id=None, role=Role.COLLECTOR, why="dispute")
    with pytest.raises(StageError, match="nothing is outstanding"):
        stages.move(session, case, "close_paid", actor_id=None, role=Role.COLLECTOR)
    with pytest.raises(StageError, match="no step called"):
        stages.move(session, case, "teleport", actor_id=None, role=Role.AGENCY_ADMIN)
    assert case.stage is Stage.DEMAND


def test_hold_returns_to_the_stage_it_left(session: Session, case: Case) -> None:
    arrange(session, case, Stage.NEGOTIATION)
    stages.move(
        session,
        case,
        "hold",
        actor_id=None,
        role=Role.COLLECTOR,
        why="insolvency filed",
        hold_reason=HoldReason.INSOLVENCY,
    )
    stages.move(session, case, "resume", actor_id=None, role=Role.COLLECTOR)
    assert (case.stage, case.stage_before_hold, case.hold_reason) == (Stage.NEGOTIATION, None, None)


def test_available_lists_what_a_role_may_do(case: Case) -> None:
    names = {t.name for t in stages.available(case, Role.COLLECTOR)}
    assert "send_reminder" in names and "start_litigation" not in names and "reopen" not in names


def test_litigation_needs_the_creditors_approval(session: Session, case: Case) -> None:
    arrange(session, case, Stage.LEGAL_REVIEW)
    with pytest.raises(StageError, match="creditor has approved"):
        stages.move(session, case, "start_litigation", actor_id=None, role=Role.LEGAL)
    assert case.stage is Stage.LEGAL_REVIEW


def test_legal_steps_are_not_offered_as_bare_moves(session: Session, case: Case) -> None:
    """Proposing legal action, litigation, judgment and enforcement each need their own form."""
    for stage in (Stage.NEGOTIATION, Stage.LEGAL_REVIEW, Stage.LITIGATION, Stage.JUDGMENT):
        arrange(session, case, stage)
        offered = {t.name for t in stages.available(case, Role.AGENCY_ADMIN)}
        assert not offered & stages.GUIDED_STEPS, stage
