"""Giving cases to collectors, and how much each collector carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import (
    STAFF_ROLES,
    Case,
    LedgerEntry,
    Role,
    Stage,
    User,
)
from portal.services import audit

MAX_ASSIGNED_AT_ONCE = 500


class AssignmentError(ValueError):
    """The cases cannot be assigned as asked; the message says why."""


def assign_cases(
    session: Session, case_ids: Sequence[int], collector_id: int | None, *, actor_id: int
) -> int:
    """Give every case in ``case_ids`` to the collector (``None``: nobody); all or none.

    Cases are read through the session's tenant scope, so a case the acting user cannot
    see is reported as not existing. A collector limited to some tenants only gets cases
    of those tenants. Returns how many cases changed hands; each change is audited.
    """
    wanted = sorted(set(case_ids))
    if not wanted:
        raise AssignmentError("Select at least one case to assign.")
    if len(wanted) > MAX_ASSIGNED_AT_ONCE:
        raise AssignmentError(f"Assign at most {MAX_ASSIGNED_AT_ONCE} cases at a time.")
    collector = _collector(session, collector_id) if collector_id is not None else None
    cases = list(session.scalars(select(Case).where(Case.id.in_(wanted)).order_by(Case.id)))
    if missing := sorted(set(wanted) - {case.id for case in cases}):
        listed = ", ".join(str(case_id) for case_id in missing[:10])
        raise AssignmentError(f"No case with the id {listed} exists; nothing was assigned.")
    if collector is not None:
        scope = collector.tenant_scope()
        if refused := [case for case in cases if not scope.allows(case.tenant_id)]:
            listed = ", ".join(case.agency_reference for case in refused[:10])
            raise AssignmentError(
                f"{collector.name} only works cases of the clients they are limited to, "
                f"not {listed}; nothing was assigned."
            )
    changed = 0
    for case in cases:
        previous = case.assigned_collector_id
        if previous == collector_id:
            continue
        case.assigned_collector_id = collector_id
        audit.record(
            session,
            "case.assigned",
            actor_id=actor_id,
            tenant_id=case.tenant_id,
            subject=case,
            collector_id=collector_id,
            previous_collector_id=previous,
        )
        changed += 1
    return changed


def _collector(session: Session, collector_id: int) -> User:
    user = session.get(User, collector_id)
    if user is None or not user.active or user.role not in STAFF_ROLES:
        raise AssignmentError("There is no such collector; nothing was assigned.")
    return user


def assignable_collectors(session: Session) -> list[User]:
    """Active agency staff who can be given cases, by name."""
    statement = (
        select(User)
        .where(User.role.in_(sorted(STAFF_ROLES)), User.active.is_(True))
        .order_by(func.lower(User.name), User.id)
    )
    return list(session.scalars(statement))


@dataclass(frozen=True)
class CollectorLoad:
    """How much one collector (``None``: nobody yet) has on their plate."""

    collector: User | None
    open_cases: int = 0
    due_today: int = 0
    outstanding: dict[str, int] | None = None  # currency: minor units


def collector_loads(session: Session, today: date) -> list[CollectorLoad]:
    """Open cases, cases due by ``today`` and the outstanding total per currency, per
    collector: the collectors with role collector plus anyone else with open cases, and
    the unassigned cases last. Three queries whatever the number of cases."""
    open_case = Case.stage != Stage.CLOSED
    due = sql_case((Case.next_action_on <= today, 1), else_=0)
    counts = {
        collector_id: (int(total), int(due_count or 0))
        for collector_id, total, due_count in session.execute(
            select(Case.assigned_collector_id, func.count(), func.sum(due))
            .where(open_case)
            .group_by(Case.assigned_collector_id)
        )
    }
    owed: dict[int | None, dict[str, int]] = {}
    for collector_id, currency, amount in session.execute(
        select(Case.assigned_collector_id, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .join(Case, Case.id == LedgerEntry.case_id)
        .where(open_case)
        .group_by(Case.assigned_collector_id, LedgerEntry.currency)
        .order_by(LedgerEntry.currency)
    ):
        owed.setdefault(collector_id, {})[currency] = int(amount or 0)
    people = [
        user
        for user in assignable_collectors(session)
        if user.role is Role.COLLECTOR or user.id in counts
    ]
    loads = [
        CollectorLoad(user, *counts.get(user.id, (0, 0)), owed.get(user.id, {})) for user in people
    ]
    known = {user.id for user in people}
    # Someone no longer active (or not staff) may still hold cases: they show too.
    for collector_id in sorted(key for key in counts if key is not None and key not in known):
        loads.append(
            CollectorLoad(
                session.get(User, collector_id), *counts[collector_id], owed.get(collector_id, {})
            )
        )
    loads.append(CollectorLoad(None, *counts.get(None, (0, 0)), owed.get(None, {})))
    return loads
