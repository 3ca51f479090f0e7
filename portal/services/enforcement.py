"""Enforcement of a judgment: garnishment, lien, asset seizure, instalment order.

The first action moves the case from judgment to enforcement (the stage machine's
``enforce``); each action then has its status, its costs and its proceeds. Costs the
agency advances are ``LegalCost`` rows borne as the tenant's terms say: by the debtor (a
fee on the claim, booked once) or by the creditor (recovered on the remittance
statement, see ``legal_costs``). Proceeds are payments like any other, booked once per
action and reference, and earn the legal commission because the case is in enforcement.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    CostBearer,
    EnforcementAction,
    EnforcementKind,
    EnforcementStatus,
    EntryKind,
    LedgerEntry,
    LegalCost,
    Role,
    Stage,
)
from portal.services import audit, ledger, payments, stages
from portal.services.money import format_money
from portal.services.timeline import log_activity

MAX_TEXT = 2000
MAX_REFERENCE = 100
# Once an action has ended its status no longer changes.
FINAL_STATUSES = frozenset(
    {EnforcementStatus.SUCCESSFUL, EnforcementStatus.UNSUCCESSFUL, EnforcementStatus.WITHDRAWN}
)
# Legal costs are advanced once the creditor has approved legal action.
COST_STAGES = frozenset({Stage.LITIGATION, Stage.JUDGMENT, Stage.ENFORCEMENT})
PROCEEDS_PREFIX = "enforcement:"


class EnforcementError(ValueError):
    """The step cannot be taken as asked; the message says why."""


def label(value: EnforcementKind | EnforcementStatus) -> str:
    return value.value.replace("_", " ")


def _text(value: str | None, what: str, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise EnforcementError(f"Give the {what}.")
    if len(text) > limit:
        raise EnforcementError(f"The {what} is too long: at most {limit} characters.")
    return text


def _not_future(day: date, what: str) -> None:
    if day > utcnow().date():
        raise EnforcementError(f"The {what} cannot be in the future.")


def actions_of(session: Session, case: Case) -> list[EnforcementAction]:
    statement = select(EnforcementAction).where(EnforcementAction.case_id == case.id)
    return list(session.scalars(statement.order_by(EnforcementAction.id)))


def start_action(
    session: Session,
    case: Case,
    kind: EnforcementKind,
    *,
    note: str,
    actor_id: int,
    role: Role,
) -> EnforcementAction:
    """Start enforcing the judgment; the first action takes the case to enforcement."""
    text = _text(note, "note", MAX_TEXT, required=False)
    if role not in stages.TRANSITIONS["enforce"].roles:
        raise EnforcementError("Your role cannot start enforcement.")
    if case.stage is Stage.JUDGMENT:
        stages.move(session, case, "enforce", actor_id=actor_id, role=role,
                    why=f"{label(kind).capitalize()} started")  # fmt: skip
    elif case.stage is not Stage.ENFORCEMENT:
        raise EnforcementError("Enforcement follows a judgment: record the judgment first.")
    action = EnforcementAction(tenant_id=case.tenant_id, case_id=case.id, kind=kind,
                               note=text or None, created_by_id=actor_id)  # fmt: skip
    session.add(action)
    session.flush()
    log_activity(session, case, ActivityKind.NOTE, f"Enforcement: {label(kind)} started",
                 actor_id=actor_id, outcome=label(action.status), body=action.note,
                 enforcement_id=action.id)  # fmt: skip
    audit.record(session, "enforcement.started", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=action, kind=kind.value)  # fmt: skip
    return action


def update_status(
    session: Session,
    action: EnforcementAction,
    status: EnforcementStatus,
    *,
    note: str,
    actor_id: int,
) -> None:
    """Record how an action goes; the creditor sees each step on the timeline."""
    text = _text(note, "note", MAX_TEXT, required=False)
    if action.status in FINAL_STATUSES:
        raise EnforcementError(f"This {label(action.kind)} has ended ({label(action.status)}).")
    if status is action.status:
        raise EnforcementError(f"The {label(action.kind)} is already {label(status)}.")
    previous, action.status = action.status, status
    case = session.get_one(Case, action.case_id)
    log_activity(session, case, ActivityKind.NOTE,
                 f"Enforcement: {label(action.kind)} {label(status)}", actor_id=actor_id,
                 outcome=label(status), body=text or None, enforcement_id=action.id)  # fmt: skip
    audit.record(session, "enforcement.status_changed", actor_id=actor_id,
                 tenant_id=action.tenant_id, subject=action, previous=previous.value,
                 status=status.value)  # fmt: skip
    session.flush()


def add_cost(
    session: Session,
    case: Case,
    *,
    description: str,
    amount_minor: int,
    incurred_on: date,
    enforcement: EnforcementAction | None,
    actor_id: int,
) -> LegalCost:
    """Money the agency advanced: on the claim as a fee when the tenant's terms put it on
    the debtor, otherwise kept to recover from the creditor."""
    text = _text(description, "description", 300, required=True)
    if amount_minor <= 0:
        raise EnforcementError("A cost must be more than zero.")
    _not_future(incurred_on, "date of the cost")
    if case.stage not in COST_STAGES:
        raise EnforcementError("Legal costs are recorded once legal action has started.")
    if enforcement is not None and enforcement.case_id != case.id:
        raise EnforcementError("That enforcement action belongs to another case.")
    cost = LegalCost(
        tenant_id=case.tenant_id, case_id=case.id, description=text, amount_minor=amount_minor,
        currency=case.currency, incurred_on=incurred_on, created_by_id=actor_id,
        enforcement_id=enforcement.id if enforcement else None,
        recoverable_from=CostBearer(case.tenant.legal_costs_recoverable_from),
    )  # fmt: skip
    session.add(cost)
    session.flush()
    if cost.recoverable_from is CostBearer.DEBTOR:
        cost.ledger_entry_id = ledger.book(
            session, case, EntryKind.FEE, amount_minor, value_date=incurred_on,
            description=f"Legal cost: {text}"[:300], event_key=f"legal_cost:{cost.id}",
            created_by_id=actor_id,
        ).id  # fmt: skip
    money = format_money(amount_minor, case.currency)
    log_activity(session, case, ActivityKind.NOTE, f"Legal cost advanced: {money}",
                 actor_id=actor_id, outcome=f"Borne by the {cost.recoverable_from.value}",
                 body=text, legal_cost_id=cost.id)  # fmt: skip
    audit.record(session, "legal_cost.added", actor_id=actor_id, tenant_id=case.tenant_id,
                 subject=cost, amount_minor=amount_minor,
                 recoverable_from=cost.recoverable_from.value)  # fmt: skip
    session.flush()
    return cost


def record_proceeds(
    session: Session,
    action: EnforcementAction,
    *,
    amount_minor: int,
    received_on: date,
    reference: str,
    actor_id: int,
) -> payments.RecordedPayment:
    """What an action brought in, booked as a payment once per action and reference."""
    ref = _text(reference, "reference of the payment", MAX_REFERENCE, required=True)
    if amount_minor <= 0:
        raise EnforcementError("Proceeds must be more than zero.")
    _not_future(received_on, "day the money came in")
    case = session.get_one(Case, action.case_id)
    if case.stage is Stage.CLOSED:
        raise EnforcementError("This case is closed.")
    return payments.record_payment(
        session, case, amount_minor=amount_minor, paid_on=received_on, actor_id=actor_id,
        event_key=f"{PROCEEDS_PREFIX}{action.id}:{ref}",
        description=f"Enforcement proceeds ({label(action.kind)}), reference {ref}",
        summary=f"Enforcement proceeds: {format_money(amount_minor, case.currency)}",
    )  # fmt: skip


def proceeds_by_action(session: Session, case: Case) -> dict[int, list[LedgerEntry]]:
    """The payments each action of the case brought in (by the event key they were booked with)."""
    statement = select(LedgerEntry).where(
        LedgerEntry.case_id == case.id,
        LedgerEntry.kind == EntryKind.PAYMENT,
        LedgerEntry.event_key.startswith(PROCEEDS_PREFIX, autoescape=True),
    )
    found: dict[int, list[LedgerEntry]] = defaultdict(list)
    for entry in session.scalars(statement.order_by(LedgerEntry.id)):
        action_id = (entry.event_key or "").removeprefix(PROCEEDS_PREFIX).split(":", 1)[0]
        found[int(action_id)].append(entry)
    return dict(found)
