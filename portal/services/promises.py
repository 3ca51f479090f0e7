"""Promises to pay: made with the debtor, kept by payments, broken when the date passes.

A promise remembers what the ledger had received when it was made
(``paid_before_minor``); it is kept once the payments since then reach the amount
promised. The dunning run calls ``mark_broken_promises`` once a day.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import ActivityKind, Case, PromiseStatus, PromiseToPay, Stage
from portal.services import ledger, rollups
from portal.services.money import format_money
from portal.services.timeline import log_activity

# A broken promise makes the case more urgent in the queue by this much (capped at 100):
# a debtor who broke their word needs a call sooner than one never reached.
BROKEN_PROMISE_PRIORITY = 20
MAX_PRIORITY = 100


class PromiseError(ValueError):
    pass


def open_promises(session: Session, case: Case) -> list[PromiseToPay]:
    statement = (
        select(PromiseToPay)
        .where(PromiseToPay.case_id == case.id, PromiseToPay.status == PromiseStatus.OPEN)
        .order_by(PromiseToPay.due_on, PromiseToPay.id)
    )
    return list(session.scalars(statement))


def promises_of(session: Session, case: Case) -> list[PromiseToPay]:
    statement = (
        select(PromiseToPay)
        .where(PromiseToPay.case_id == case.id)
        .order_by(PromiseToPay.created_at.desc(), PromiseToPay.id.desc())
    )
    return list(session.scalars(statement))


def make_promise(
    session: Session,
    case: Case,
    *,
    amount_minor: int,
    due_on: date,
    actor_id: int | None,
    today: date,
) -> PromiseToPay:
    """Record the debtor's promise to pay ``amount_minor`` by ``due_on``."""
    if case.stage is Stage.CLOSED:
        raise PromiseError("The case is closed.")
    if amount_minor <= 0:
        raise PromiseError("The amount must be more than zero.")
    owed = ledger.balance(session, case)
    if amount_minor > owed.outstanding:
        raise PromiseError(
            f"More than the {format_money(owed.outstanding, case.currency)} outstanding."
        )
    if due_on < today:
        raise PromiseError("The date cannot be in the past.")
    promise = PromiseToPay(
        tenant_id=case.tenant_id,
        case_id=case.id,
        amount_minor=amount_minor,
        due_on=due_on,
        status=PromiseStatus.OPEN,
        paid_before_minor=owed.paid,
        created_by_id=actor_id,
    )
    session.add(promise)
    session.flush()
    rollups.promise_moved(session, promise, case, None)
    log_activity(
        session, case, ActivityKind.PROMISE,
        f"Promise to pay {format_money(amount_minor, case.currency)} by {due_on.isoformat()}",
        actor_id=actor_id, outcome="Open", promise_id=promise.id,
    )  # fmt: skip
    return promise


def settle_promises(session: Session, case: Case, today: date) -> list[PromiseToPay]:
    """Mark open promises the payments since each one cover as KEPT; returns them."""
    kept: list[PromiseToPay] = []
    promises = open_promises(session, case)
    if not promises:
        return kept
    paid = ledger.balance(session, case).paid
    for promise in promises:
        if paid - promise.paid_before_minor >= promise.amount_minor:
            promise.status, promise.resolved_at = PromiseStatus.KEPT, utcnow()
            rollups.promise_moved(session, promise, case, PromiseStatus.OPEN)
            log_activity(
                session, case, ActivityKind.PROMISE,
                f"Promise to pay {format_money(promise.amount_minor, case.currency)} kept",
                outcome="Kept", promise_id=promise.id, on=today.isoformat(),
            )  # fmt: skip
            kept.append(promise)
    return kept


def mark_broken_promises(session: Session, today: date) -> list[PromiseToPay]:
    """Open promises whose date has passed unpaid become BROKEN (once: idempotent).

    A promise due on ``today`` still has the day to be paid; one a payment covers is
    marked kept instead. Each broken promise logs an activity and raises the case's
    priority by ``BROKEN_PROMISE_PRIORITY`` (at most ``MAX_PRIORITY``). Reads every
    tenant the session's scope allows: the dunning run calls it unscoped.
    """
    statement = (
        select(PromiseToPay)
        .where(PromiseToPay.status == PromiseStatus.OPEN, PromiseToPay.due_on < today)
        .order_by(PromiseToPay.case_id, PromiseToPay.due_on, PromiseToPay.id)
    )
    broken: list[PromiseToPay] = []
    for promise in list(session.scalars(statement)):
        case = promise.case
        if promise in settle_promises(session, case, today) or promise.status != PromiseStatus.OPEN:
            continue
        promise.status, promise.resolved_at = PromiseStatus.BROKEN, utcnow()
        rollups.promise_moved(session, promise, case, PromiseStatus.OPEN)
        case.priority = min(MAX_PRIORITY, case.priority + BROKEN_PROMISE_PRIORITY)
        log_activity(
            session, case, ActivityKind.PROMISE,
            f"Promise to pay {format_money(promise.amount_minor, case.currency)} by "
            f"{promise.due_on.isoformat()} broken",
            outcome="Broken", promise_id=promise.id,
        )  # fmt: skip
        broken.append(promise)
    session.flush()
    return broken
