"""Enforcing a judgment: actions and their status, the costs the agency advances (on the
claim or recovered from the creditor, per the tenant's terms), and the proceeds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    AuditEntry,
    Case,
    CostBearer,
    EnforcementAction,
    EnforcementKind,
    EnforcementStatus,
    EntryKind,
    Lawyer,
    LedgerEntry,
    LegalCost,
    Role,
    Stage,
)
from portal.services import enforcement, ledger, legal_costs, legal_requests, litigation
from portal.services.enforcement import EnforcementError
from portal.services.legal_requests import Estimate
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant, make_user

TODAY = utcnow().date()
LIEN = EnforcementKind.LIEN


@pytest.fixture
def world(app: Flask, session: Session) -> dict:
    """A case with a judgment, reached the way cases reach it."""
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        tenant.commission_amicable_bp, tenant.commission_legal_bp = 1_000, 2_000
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        case.stage = Stage.NEGOTIATION  # arranged: the amicable stages are tested elsewhere
        lawyer = Lawyer(name="Dr. Anna Weber", firm="Weber & Partner", email="weber@law.example")
        session.add(lawyer)
        legal = make_user(session, Role.LEGAL)
        creditor = make_user(session, Role.CREDITOR_ADMIN, tenant)
        session.flush()
        to_judgment(app, session, case, lawyer, legal.id, creditor.id)
        session.commit()
    set_scope(session, TenantScope.only(tenant.id))
    return {"tenant": tenant, "case": case, "legal": legal}


def to_judgment(
    app: Flask, session: Session, case: Case, lawyer: Lawyer, legal_id: int, creditor_id: int
) -> None:
    request = legal_requests.propose(
        session, case, lawyer=lawyer, estimate=Estimate(30_000, 50_000, 0), note="",
        actor_id=legal_id, role=Role.LEGAL,
    )  # fmt: skip
    legal_requests.decide(session, request, approve=True, comment="", decline_outcome=None,
                          actor_id=creditor_id)  # fmt: skip
    litigation.record_judgment(
        session, case, judgment_date=TODAY, principal_minor=100_000, interest_minor=0,
        costs_minor=0, title=None, storage=app.extensions["portal.storage"], max_bytes=1_000,
        actor_id=legal_id, role=Role.LEGAL,
    )  # fmt: skip


def start(session: Session, world: dict, kind: EnforcementKind = LIEN) -> EnforcementAction:
    return enforcement.start_action(session, world["case"], kind, note="Land register entry",
                                    actor_id=world["legal"].id, role=Role.LEGAL)  # fmt: skip


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- actions -----------------------------------------------------------------------------


def test_the_first_action_starts_enforcement(session: Session, world) -> None:
    case = world["case"]
    assert case.stage is Stage.JUDGMENT
    lien = start(session, world)
    assert case.stage is Stage.ENFORCEMENT and lien.status is EnforcementStatus.PLANNED
    garnishment = start(session, world, EnforcementKind.GARNISHMENT)
    assert case.stage is Stage.ENFORCEMENT
    assert enforcement.actions_of(session, case) == [lien, garnishment]
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "enforcement.started"))


def test_only_legal_staff_enforce_and_only_after_a_judgment(session: Session, world) -> None:
    with pytest.raises(EnforcementError, match="Your role cannot"):
        enforcement.start_action(session, world["case"], LIEN, note="", actor_id=world["legal"].id,
                                 role=Role.COLLECTOR)  # fmt: skip
    with unscoped(session):
        amicable = make_case(session, world["tenant"])
    with pytest.raises(EnforcementError, match="record the judgment first"):
        enforcement.start_action(session, amicable, LIEN, note="", actor_id=world["legal"].id,
                                 role=Role.LEGAL)  # fmt: skip
    assert count(session, EnforcementAction) == 0 and world["case"].stage is Stage.JUDGMENT


def test_status_moves_until_the_action_ends(session: Session, world) -> None:
    lien = start(session, world)
    legal_id = world["legal"].id
    enforcement.update_status(session, lien, EnforcementStatus.FILED, note="", actor_id=legal_id)
    with pytest.raises(EnforcementError, match="already filed"):
        enforcement.update_status(session, lien, EnforcementStatus.FILED, note="",
                                  actor_id=legal_id)  # fmt: skip
    enforcement.update_status(session, lien, EnforcementStatus.SUCCESSFUL, note="Registered",
                              actor_id=legal_id)  # fmt: skip
    with pytest.raises(EnforcementError, match="has ended"):
        enforcement.update_status(session, lien, EnforcementStatus.WITHDRAWN, note="",
                                  actor_id=legal_id)  # fmt: skip
    assert lien.status is EnforcementStatus.SUCCESSFUL


# --- costs -------------------------------------------------------------------------------


def test_a_cost_the_debtor_bears_is_a_fee_on_the_claim(session: Session, world) -> None:
    lien = start(session, world)
    cost = enforcement.add_cost(session, world["case"], description="Land registry fee",
                                amount_minor=12_000, incurred_on=TODAY, enforcement=lien,
                                actor_id=world["legal"].id)  # fmt: skip
    assert cost.recoverable_from is CostBearer.DEBTOR and cost.enforcement_id == lien.id
    fee = session.get(LedgerEntry, cost.ledger_entry_id)
    assert fee is not None and (fee.kind, fee.amount_minor) == (EntryKind.FEE, 12_000)
    assert fee.event_key == f"legal_cost:{cost.id}"
    assert ledger.balance(session, world["case"]).fees == 12_000
    assert legal_costs.costs_of(session, world["case"]) == [cost]
    assert legal_costs.recoverable_from_creditor(session, world["tenant"].id, TODAY, TODAY) == []


def test_a_cost_the_creditor_bears_waits_for_the_statement(session: Session, world) -> None:
    world["tenant"].legal_costs_recoverable_from = "creditor"
    entries = count(session, LedgerEntry)
    day = TODAY - timedelta(days=3)
    cost = enforcement.add_cost(session, world["case"], description="Court fee advance",
                                amount_minor=30_000, incurred_on=day, enforcement=None,
                                actor_id=world["legal"].id)  # fmt: skip
    assert cost.recoverable_from is CostBearer.CREDITOR and cost.ledger_entry_id is None
    assert count(session, LedgerEntry) == entries
    tenant_id = world["tenant"].id
    assert legal_costs.recoverable_from_creditor(session, tenant_id, day, TODAY) == [cost]
    assert legal_costs.recoverable_from_creditor(session, tenant_id, TODAY, TODAY) == []
    assert legal_costs.recoverable_from_creditor(session, tenant_id + 1, day, TODAY) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount_minor": 0}, "more than zero"),
        ({"amount_minor": -100}, "more than zero"),
        ({"description": " "}, "Give the description"),
        ({"incurred_on": TODAY + timedelta(days=1)}, "in the future"),
    ],
)
def test_bad_costs_are_refused(session: Session, world, changes: dict, message: str) -> None:
    values = {"description": "Bailiff", "amount_minor": 5_000, "incurred_on": TODAY,
              "enforcement": None, "actor_id": world["legal"].id} | changes  # fmt: skip
    with pytest.raises(EnforcementError, match=message):
        enforcement.add_cost(session, world["case"], **values)
    assert count(session, LegalCost) == 0


def test_costs_belong_to_the_legal_stage_and_to_their_case(session: Session, world) -> None:
    with unscoped(session):
        amicable = make_case(session, world["tenant"])
    values = {"description": "Bailiff", "amount_minor": 5_000, "incurred_on": TODAY,
              "actor_id": world["legal"].id}  # fmt: skip
    with pytest.raises(EnforcementError, match="once legal action has started"):
        enforcement.add_cost(session, amicable, enforcement=None, **values)
    lien = start(session, world)
    amicable.stage = Stage.ENFORCEMENT
    with pytest.raises(EnforcementError, match="another case"):
        enforcement.add_cost(session, amicable, enforcement=lien, **values)
    assert count(session, LegalCost) == 0


# --- proceeds ----------------------------------------------------------------------------


def test_proceeds_are_payments_booked_once_with_the_legal_commission(
    session: Session, world
) -> None:
    garnishment = start(session, world, EnforcementKind.GARNISHMENT)
    values = {"amount_minor": 40_000, "received_on": TODAY, "reference": "PFÜB-7",
              "actor_id": world["legal"].id}  # fmt: skip
    first = enforcement.record_proceeds(session, garnishment, **values)
    assert first.new and first.entry.kind is EntryKind.PAYMENT
    assert first.entry.amount_minor == -40_000 and first.entry.event_key == (
        f"enforcement:{garnishment.id}:PFÜB-7"
    )
    assert (first.entry.commission_bp, first.entry.commission_minor) == (2_000, 8_000)
    again = enforcement.record_proceeds(session, garnishment, **values)
    assert not again.new and again.entry.id == first.entry.id
    second = enforcement.record_proceeds(session, garnishment, **values | {"reference": "PFÜB-8"})
    assert second.new
    assert ledger.balance(session, world["case"]).outstanding == 20_000
    by_action = enforcement.proceeds_by_action(session, world["case"])
    assert by_action == {garnishment.id: [first.entry, second.entry]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount_minor": 0}, "more than zero"),
        ({"reference": "  "}, "Give the reference"),
        ({"reference": "x" * 101}, "too long"),
        ({"received_on": TODAY + timedelta(days=1)}, "in the future"),
    ],
)
def test_bad_proceeds_are_refused(session: Session, world, changes: dict, message: str) -> None:
    action = start(session, world)
    entries = count(session, LedgerEntry)
    values = {"amount_minor": 1_000, "received_on": TODAY, "reference": "R-1",
              "actor_id": world["legal"].id} | changes  # fmt: skip
    with pytest.raises(EnforcementError, match=message):
        enforcement.record_proceeds(session, action, **values)
    assert count(session, LedgerEntry) == entries
