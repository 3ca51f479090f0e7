"""The stage machine: the only code that writes ``Case.stage``.

Each transition is declared once with the stages it leaves from, where it goes, who
may take it and what it needs; ``move`` checks all of that, changes the stage, and
writes an activity on the timeline and an audit entry in the caller's transaction.
A refused move raises ``StageError`` with a message for people.

    placed ─► reminder ─► demand ─► negotiation ─► legal.review
          ─► litigation ─► judgment ─► enforcement
    any open stage ─► on_hold (with a reason) ─► back to the stage it left
    any open stage ─► closed (paid | settled | withdrawn | uncollectible); reopen: admin only
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    CREDITOR_ROLES,
    STAFF_ROLES,
    Activity,
    ActivityKind,
    Case,
    Closure,
    HoldReason,
    LegalRequest,
    LegalRequestStatus,
    NotificationKind,
    Role,
    Stage,
)
from portal.services import audit, ledger, notices, rollups
from portal.services.timeline import log_activity

AMICABLE = frozenset({Stage.PLACED, Stage.REMINDER, Stage.DEMAND, Stage.NEGOTIATION})
LEGAL_STAGES = frozenset({Stage.LEGAL_REVIEW, Stage.LITIGATION, Stage.JUDGMENT, Stage.ENFORCEMENT})
# An invoice under an early-intervention check is open but not worked by the dunning run.
OPEN_STAGES = AMICABLE | LEGAL_STAGES | {Stage.ON_HOLD, Stage.CHECK}
WORKING_STAGES = AMICABLE | LEGAL_STAGES
SYSTEM = None  # the actor of moves the dunning run makes


class StageError(ValueError):
    """The case cannot move as asked; the message says why."""


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    sources: frozenset[Stage]
    target: Stage | None  # None: worked out from the case (resume, reopen)
    roles: frozenset[Role] = STAFF_ROLES
    needs_reason: bool = False
    closure: Closure | None = None


TRANSITIONS = {
    t.name: t
    for t in (
        Transition("send_reminder", "Send the reminder", frozenset({Stage.PLACED}), Stage.REMINDER),
        Transition("convert", "Convert to a collection case", frozenset({Stage.CHECK}),
                   Stage.PLACED, needs_reason=True),
        Transition("send_demand", "Send the demand letter", frozenset({Stage.REMINDER}),
                   Stage.DEMAND),
        Transition("negotiate", "Start negotiating", frozenset({Stage.REMINDER, Stage.DEMAND}),
                   Stage.NEGOTIATION),
        Transition("propose_legal", "Propose legal action",
                   frozenset({Stage.DEMAND, Stage.NEGOTIATION}), Stage.LEGAL_REVIEW,
                   needs_reason=True),
        Transition("back_to_amicable", "Back to negotiation", frozenset({Stage.LEGAL_REVIEW}),
                   Stage.NEGOTIATION, roles=STAFF_ROLES | CREDITOR_ROLES, needs_reason=True),
        Transition("start_litigation", "File the claim", frozenset({Stage.LEGAL_REVIEW}),
                   Stage.LITIGATION, roles=frozenset({Role.LEGAL, Role.AGENCY_ADMIN})),
        Transition("record_judgment", "Record the judgment", frozenset({Stage.LITIGATION}),
                   Stage.JUDGMENT, roles=frozenset({Role.LEGAL, Role.AGENCY_ADMIN})),
        Transition("enforce", "Start enforcement", frozenset({Stage.JUDGMENT}), Stage.ENFORCEMENT,
                   roles=frozenset({Role.LEGAL, Role.AGENCY_ADMIN})),
        Transition("hold", "Put on hold", WORKING_STAGES | {Stage.CHECK}, Stage.ON_HOLD,
                   needs_reason=True),
        Transition("resume", "Resume", frozenset({Stage.ON_HOLD}), None),
        Transition("close_paid", "Close as paid", OPEN_STAGES, Stage.CLOSED, closure=Closure.PAID),
        Transition("close_settled", "Close as settled", OPEN_STAGES, Stage.CLOSED,
                   closure=Closure.SETTLED),
        Transition("close_uncollectible", "Close as uncollectible", OPEN_STAGES, Stage.CLOSED,
                   needs_reason=True, closure=Closure.UNCOLLECTIBLE),
        Transition("withdraw", "Withdraw", OPEN_STAGES, Stage.CLOSED,
                   roles=STAFF_ROLES | CREDITOR_ROLES, needs_reason=True,
                   closure=Closure.WITHDRAWN),
        Transition("reopen", "Reopen", frozenset({Stage.CLOSED}), None,
                   roles=frozenset({Role.AGENCY_ADMIN}), needs_reason=True),
    )
}  # fmt: skip


CLOSING_STEPS = {t.closure: t.name for t in TRANSITIONS.values() if t.closure is not None}


# Steps that carry more than a reason: a lawyer and an estimate, the creditor's approval,
# the judgment's figures, an enforcement action, the end of an invoice check. Their own
# forms take them (legal_requests, litigation, enforcement, invoice_checks), never a bare
# move.
GUIDED_STEPS = frozenset(
    {"propose_legal", "start_litigation", "record_judgment", "enforce", "convert"}
)


def available(case: Case, role: Role | None) -> list[Transition]:
    """The bare moves this role may offer on this case now (guards are checked on ``move``)."""
    return [
        t for t in TRANSITIONS.values()
        if case.stage in t.sources and (role is None or role in t.roles)
        and t.name not in GUIDED_STEPS
    ]  # fmt: skip


def move(
    session: Session,
    case: Case,
    name: str,
    *,
    actor_id: int | None,
    role: Role | None,
    why: str = "",
    hold_reason: HoldReason | None = None,
) -> None:
    """Take transition ``name``; ``role`` None is the system (dunning run, payments)."""
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise StageError(f"There is no step called {name!r}.")
    why = why.strip()
    _check(session, case, transition=transition, role=role, why=why, hold_reason=hold_reason)
    previous = case.stage
    target = transition.target or _return_stage(session, case, transition)
    if target is Stage.ON_HOLD:
        case.stage_before_hold, case.hold_reason = previous, hold_reason
    elif previous is Stage.ON_HOLD:
        case.stage_before_hold = case.hold_reason = None
    case.stage = target
    case.closure = transition.closure if target is Stage.CLOSED else None
    if target is Stage.CLOSED:
        case.next_action_on, case.withdrawal_requested_at = None, None
    elif previous is Stage.CLOSED:
        case.next_action_on = utcnow().date()
    rollups.stage_moved(session, case, previous)
    _record(session, case, previous, actor_id, why)
    if target is Stage.CLOSED:
        _tell_creditor_closed(session, case, actor_id, why)


def _check(
    session: Session,
    case: Case,
    *,
    transition: Transition,
    role: Role | None,
    why: str,
    hold_reason: HoldReason | None,
) -> None:
    if case.stage not in transition.sources:
        raise StageError(f"A case in {case.stage.label.lower()} cannot {transition.label.lower()}.")
    if role is not None and role not in transition.roles:
        raise StageError(f"Your role cannot {transition.label.lower()}.")
    if transition.needs_reason and not why:
        raise StageError(f"Say why: {transition.label.lower()} needs a reason.")
    if transition.target is Stage.ON_HOLD and hold_reason is None:
        raise StageError("Choose why the case goes on hold.")
    if transition.closure is Closure.PAID and ledger.balance(session, case).outstanding != 0:
        raise StageError("A case closes as paid only when nothing is outstanding.")
    if transition.name == "start_litigation" and not _creditor_approved_legal_action(session, case):
        raise StageError("Legal action starts only once the creditor has approved it.")


def _creditor_approved_legal_action(session: Session, case: Case) -> bool:
    statement = select(LegalRequest.id).where(
        LegalRequest.case_id == case.id, LegalRequest.status == LegalRequestStatus.APPROVED
    )
    return session.scalars(statement).first() is not None


def _return_stage(session: Session, case: Case, transition: Transition) -> Stage:
    if transition.name == "resume":
        return case.stage_before_hold or Stage.REMINDER
    # Reopen: back to where the case was when it closed, as its timeline says.
    statement = (
        select(Activity.details)
        .where(Activity.case_id == case.id, Activity.kind == ActivityKind.STAGE_CHANGE)
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
    )
    for details in session.scalars(statement):
        if details.get("stage") == Stage.CLOSED.value and details.get("previous"):
            previous = Stage(details["previous"])
            return case.stage_before_hold or previous if previous is Stage.ON_HOLD else previous
    return Stage.NEGOTIATION


def _record(session: Session, case: Case, previous: Stage, actor_id: int | None, why: str) -> None:
    to = case.stage.label + (f": {case.closure.value}" if case.closure else "")
    if case.hold_reason:
        to += f" ({case.hold_reason.value.replace('_', ' ')})"
    log_activity(
        session,
        case,
        ActivityKind.STAGE_CHANGE,
        f"{previous.label} → {to}",
        actor_id=actor_id,
        body=why or None,
        previous=previous.value,
        stage=case.stage.value,
    )
    audit.record(
        session,
        "case.stage_changed",
        actor_id=actor_id,
        tenant_id=case.tenant_id,
        subject=case,
        previous=previous.value,
        stage=case.stage.value,
        closure=case.closure.value if case.closure else None,
        why=why or None,
    )


def _tell_creditor_closed(session: Session, case: Case, actor_id: int | None, why: str) -> None:
    """The creditor's people (not the one who closed it) hear of it. No mailer here: a
    notice wanted at once comes with the digest (see ``notices``)."""
    closure = case.closure.value if case.closure else "closed"
    notices.notify(
        session, None, kind=NotificationKind.CASE_CLOSED,
        recipients=notices.recipients_for_tenant(session, case.tenant_id, except_id=actor_id),
        title=f"Case closed ({closure}): {case.debtor.name}, {case.creditor_reference}",
        body=(
            f"The case of {case.debtor.name} (your reference {case.creditor_reference}, "
            f"agency reference {case.agency_reference}) is closed as {closure}."
            + (f" {why}" if why else "")
        ),
        link=notices.creditor_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip


# --- the steps other services and views take ---------------------------------------------


def close(
    session: Session, case: Case, closure: Closure, *, actor_id: int | None, why: str = ""
) -> None:
    """Close the case (as the agency or the system would)."""
    name = CLOSING_STEPS[closure]
    if case.stage is Stage.CLOSED:
        raise StageError("This case is already closed.")
    move(session, case, name, actor_id=actor_id, role=None, why=why or closure.value)


def is_legal(case: Case) -> bool:
    return case.stage in LEGAL_STAGES


def withdraw(session: Session, case: Case, *, actor_id: int | None, reason: str) -> bool:
    """The creditor takes the case back. Returns True when it is closed now.

    Once legal action has started the agency has costs and commitments in the case, so
    the creditor's withdrawal becomes a request that an agency admin approves.
    """
    reason = reason.strip()
    if not reason:
        raise StageError("Say why you withdraw the case.")
    if case.stage is Stage.CLOSED:
        raise StageError("This case is already closed.")
    if is_legal(case):
        if case.withdrawal_requested_at is not None:
            raise StageError("Withdrawal was already requested; the agency is deciding.")
        case.withdrawal_requested_at, case.withdrawal_reason = utcnow(), reason[:500]
        log_activity(session, case, ActivityKind.NOTE, "Creditor asked to withdraw the case",
                     actor_id=actor_id, body=reason)  # fmt: skip
        audit.record(session, "case.withdrawal_requested", actor_id=actor_id,
                     tenant_id=case.tenant_id, subject=case)  # fmt: skip
        return False
    case.withdrawal_reason = reason[:500]
    move(session, case, "withdraw", actor_id=actor_id, role=None, why=reason)
    return True


def approve_withdrawal(session: Session, case: Case, *, actor_id: int) -> None:
    if case.withdrawal_requested_at is None:
        raise StageError("There is no withdrawal request on this case.")
    move(session, case, "withdraw", actor_id=actor_id, role=Role.AGENCY_ADMIN,
         why=f"Withdrawal approved: {case.withdrawal_reason}")  # fmt: skip
