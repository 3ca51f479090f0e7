"""Moving a case between stages: the only code that writes ``Case.stage``.

Every change writes an activity on the timeline and an audit entry, in the caller's
transaction, and a refused change raises ``StageError`` with a message for people.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import ActivityKind, Case, Closure, Stage
from portal.services import audit, ledger
from portal.services.timeline import log_activity

LEGAL_STAGES = frozenset({Stage.LEGAL_REVIEW, Stage.LITIGATION, Stage.JUDGMENT, Stage.ENFORCEMENT})


class StageError(ValueError):
    """The case cannot move as asked; the message says why."""


def _record(session: Session, case: Case, previous: Stage, actor_id: int | None, why: str) -> None:
    to = f"{case.stage.label}" + (f": {case.closure.value}" if case.closure else "")
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
    )


def close(
    session: Session, case: Case, closure: Closure, *, actor_id: int | None, why: str = ""
) -> None:
    if case.stage is Stage.CLOSED:
        raise StageError("This case is already closed.")
    if closure is Closure.PAID and ledger.balance(session, case).outstanding != 0:
        raise StageError("A case closes as paid only when nothing is outstanding.")
    previous = case.stage
    case.stage, case.closure, case.next_action_on = Stage.CLOSED, closure, None
    case.withdrawal_requested_at = None
    _record(session, case, previous, actor_id, why)


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
        log_activity(
            session,
            case,
            ActivityKind.NOTE,
            "Creditor asked to withdraw the case",
            actor_id=actor_id,
            body=reason,
        )
        audit.record(session, "case.withdrawal_requested", actor_id=actor_id,
                     tenant_id=case.tenant_id, subject=case)  # fmt: skip
        return False
    case.withdrawal_reason = reason[:500]
    close(session, case, Closure.WITHDRAWN, actor_id=actor_id, why=reason)
    return True


def approve_withdrawal(session: Session, case: Case, *, actor_id: int) -> None:
    if case.withdrawal_requested_at is None:
        raise StageError("There is no withdrawal request on this case.")
    close(session, case, Closure.WITHDRAWN, actor_id=actor_id,
          why=f"Withdrawal approved: {case.withdrawal_reason}")  # fmt: skip
