"""Keeping the dashboard's running totals (``portal.models.rollup``) equal to their sources.

Every write that moves a total calls one function here: placement, a stage move, a
ledger posting, a call logged, a promise, plan or legal request changing status. The
moves are noted on the session and written when it commits (or before it reads a total,
so it sees its own moves), added up per row, one
``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` per table: the database adds,
so two transactions moving the same row never lose each other's amounts. Rows are
written in key order and only while committing, so two workers (the dunning run, the
instalment charges) take the rows' locks in the same order and hold them for the
commit only, never across a batch's work. A savepoint rolled back takes the moves noted
inside it with it; a transaction rolled back, all of them. (A commit with a savepoint
still open is not supported: close it first.)

What a move adds is read when it is noted, from the rows the transaction has just
written and so holds locked (a case's stage and what it owes), so a concurrent posting
or stage move on the same case cannot slip between the figure read and the figure moved.
``flask ledger verify`` recomputes every total from its sources (``ledger_check``).
"""

from __future__ import annotations

import json
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    event,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from portal.models import (
    DAY,
    MONTH,
    NO_COLLECTOR,
    Activity,
    CallTotal,
    Case,
    CaseEventTotal,
    CaseStageTotal,
    DebtorTotal,
    EntryKind,
    LedgerEntry,
    LegalRequest,
    LegalRequestStatus,
    MoneyInTotal,
    PaymentPlan,
    PlacementTotal,
    PlanStatus,
    PromiseStatus,
    PromiseToPay,
    Stage,
)

PENDING = "rollups.pending"
SAVEPOINTS = "rollups.savepoints"
# Which events the dashboard shows, and so which the totals count.
PROMISE_STATUSES = (PromiseStatus.OPEN, PromiseStatus.KEPT, PromiseStatus.BROKEN)
PLAN_STATUSES = (PlanStatus.ACTIVE, PlanStatus.COMPLETED, PlanStatus.BROKEN)
ENDED_PLAN_STATUSES = (PlanStatus.COMPLETED, PlanStatus.BROKEN)

Key = tuple[tuple[str, Any], ...]
Move = tuple[str, Key, dict[str, int]]  # table name, key columns, amounts to add
MODELS = (CaseStageTotal, CallTotal, CaseEventTotal, MoneyInTotal, PlacementTotal, DebtorTotal)
TABLES: dict[str, Table] = {model.__tablename__: cast(Table, model.__table__) for model in MODELS}
# How long accounts had been past due when they were placed, in days (both included).
DELAY_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 30),
    (31, 90),
    (91, 180),
    (181, 365),
    (366, None),
)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def month_of(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return month_of(month_of(day) + timedelta(days=31))


def in_period(span: Any, day: Any, first: date, last: date) -> ColumnElement[bool]:
    """SQL: the rows of a totals table (its ``span`` and ``day`` columns) that add up
    the days ``first`` to ``last`` (both included), each day once: the month rows of the
    months the period holds whole, the day rows of the days before and after them."""
    head = first if first.day == 1 else _next_month(first)  # the first whole month
    tail = month_of(last + timedelta(days=1))  # the day after the last whole month
    if head >= tail:
        return and_(span == DAY, day.between(first, last))
    return or_(
        and_(span == MONTH, day >= head, day < tail),
        and_(span == DAY, or_(and_(day >= first, day < head), and_(day >= tail, day <= last))),
    )


def collector_key(user_id: int | None) -> int:
    return NO_COLLECTOR if user_id is None else user_id


# -- Noting moves ---------------------------------------------------------------------------


def _note(session: Session, table: str, key: dict[str, Any], **amounts: int) -> None:
    pending: list[Move] = session.info.setdefault(PENDING, [])
    pending.append((table, tuple(sorted(key.items())), amounts))


def _note_day(session: Session, table: str, key: dict[str, Any], day: date, **amounts: int) -> None:
    """A move on ``day``: in its day's row and in its month's."""
    for span, dated in ((DAY, day), (MONTH, month_of(day))):
        _note(session, table, {**key, "span": span, "day": dated}, **amounts)


def _stage_move(session: Session, case: Case, stage: Stage, cases: int, outstanding: int) -> None:
    key = {"tenant_id": case.tenant_id, "currency": case.currency, "stage": stage.value}
    _note(session, "case_stage_totals", key, cases=cases, outstanding_minor=outstanding)


def cases_placed(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """New cases, as placement inserts them (``tenant_id``, ``currency``, ``stage``,
    ``placed_at``, ``warning_signs``, ``oldest_due_on``, ``debtor_key`` and the money
    summaries): each counts in its stage with all it claims, on its placement day with
    its signs and delay, and against its debtor."""
    for row in rows:
        key = {"tenant_id": row["tenant_id"], "currency": row["currency"], "stage": row["stage"]}
        _note(session, "case_stage_totals", key, cases=1, outstanding_minor=row["claimed_minor"])
        money = {"placed_minor": row["placed_minor"], "claimed_minor": row["claimed_minor"]}
        _placement_moved(session, _Placed(**{name: row[name] for name in _Placed._fields}),
                         cases=1, **money)  # fmt: skip


class _Placed(NamedTuple):
    """What a case's placement and debtor totals are keyed by."""

    tenant_id: int
    currency: str
    placed_at: datetime
    warning_signs: list[str] | None
    oldest_due_on: date | None
    debtor_key: str


def _placement_moved(session: Session, case: _Placed, **amounts: int) -> None:
    placed_on = utc_day(case.placed_at)
    key = {
        "tenant_id": case.tenant_id, "currency": case.currency,
        "signs": json.dumps(case.warning_signs or []),
        "delay_bucket": delay_bucket_of(placed_on, case.oldest_due_on),
    }  # fmt: skip
    _note_day(session, "placement_totals", key, placed_on, **amounts)
    debtor = {"tenant_id": case.tenant_id, "currency": case.currency, "debtor_key": case.debtor_key}
    _note(session, "debtor_totals", debtor, **amounts)


def debtor_key_changed(case: Case, previous: str) -> None:
    """The case now counts against another debtor (``Case.debtor_key``: erasing a
    debtor's personal data replaces the key), with all its money."""
    session = Session.object_session(case)
    if session is None or previous == case.debtor_key:
        return
    money = select(Case.placed_minor, Case.claimed_minor, Case.collected_minor)
    placed, claimed, collected = session.execute(money.where(Case.id == case.id)).one()
    for key, sign in ((previous, -1), (case.debtor_key, 1)):
        debtor = {"tenant_id": case.tenant_id, "currency": case.currency, "debtor_key": key}
        _note(session, "debtor_totals", debtor, cases=sign, placed_minor=sign * placed,
              claimed_minor=sign * claimed, collected_minor=sign * collected)  # fmt: skip


def delay_bucket_of(placed_on: date, oldest_due_on: date | None) -> int:
    """The index in ``DELAY_BUCKETS`` of a case placed on ``placed_on`` (a case placed
    before its due date, or without one, counts in the first)."""
    if oldest_due_on is None:
        return 0
    delay = (placed_on - oldest_due_on).days
    for index, (_first, last) in enumerate(DELAY_BUCKETS):
        if last is not None and delay <= last:
            return index
    return len(DELAY_BUCKETS) - 1


def stage_moved(session: Session, case: Case, previous: Stage) -> None:
    """The case left ``previous`` for ``case.stage``, taking what it owes with it."""
    if previous is case.stage:
        return
    owed = _owed(session, case.id)
    _stage_move(session, case, previous, -1, -owed)
    _stage_move(session, case, case.stage, 1, owed)


def _owed(session: Session, case_id: int) -> int:
    """What the case owes, as the database has it now (the query flushes the caller's
    changes first, so the case's row is this transaction's to read)."""
    statement = select(Case.claimed_minor - Case.collected_minor).where(Case.id == case_id)
    return int(session.execute(statement).scalar_one())


def money_moved(session: Session, moved_by_case: Mapping[int, Mapping[str, int]]) -> None:
    """Ledger entries were booked: each case's money summaries moved by so much (``Case``'s
    ``placed_minor``, ``claimed_minor``, ``collected_minor``), and with them what it owes in
    its stage and its plans' and legal requests' totals, and its placement and debtor
    totals. Two queries whatever the number of cases."""
    moved = {
        case_id: dict(money) for case_id, money in moved_by_case.items() if any(money.values())
    }
    if not moved:
        return
    cases = select(
        Case.id, Case.stage, *(getattr(Case, name) for name in _Placed._fields)
    ).where(Case.id.in_(moved))  # fmt: skip
    currencies: dict[int, str] = {}
    for case_id, stage, *placed in session.execute(cases):
        case, money = _Placed(*placed), moved[case_id]
        owed = money.get("claimed_minor", 0) - money.get("collected_minor", 0)
        currencies[case_id] = case.currency
        key = {"tenant_id": case.tenant_id, "currency": case.currency, "stage": Stage(stage).value}
        _note(session, "case_stage_totals", key, outstanding_minor=owed)
        _placement_moved(session, case, **money)
        money["outstanding_minor"] = owed
    for case_id, tenant_id, source, status, made, ended in session.execute(_events_of(moved)):
        day = _day_of(source, status, made, ended)
        key = _event_key(tenant_id, currencies[case_id], source, status, collector=None)
        _note_day(session, "case_event_totals", key, day,
                  outstanding_minor=moved[case_id]["outstanding_minor"])  # fmt: skip


def _events_of(case_ids: Iterable[int]) -> Any:
    """The cases' counted plans and legal requests: case, tenant, kind, status, when
    made, when ended or decided."""
    plans: Select[Any] = select(
        PaymentPlan.case_id, PaymentPlan.tenant_id, literal_column("'plan'"),
        type_coerce(PaymentPlan.status, String), PaymentPlan.created_at, PaymentPlan.ended_at,
    ).where(PaymentPlan.case_id.in_(case_ids), PaymentPlan.status.in_(PLAN_STATUSES))  # fmt: skip
    requests: Select[Any] = select(
        LegalRequest.case_id, LegalRequest.tenant_id, literal_column("'legal'"),
        type_coerce(LegalRequest.status, String), LegalRequest.created_at,
        LegalRequest.decided_at,
    ).where(LegalRequest.case_id.in_(case_ids))  # fmt: skip
    return union_all(plans, requests)


def _day_of(source: str, status: str, made: datetime, ended: datetime | None) -> date:
    """The day an event counts on: when it ended or was decided, else when it was made."""
    return utc_day(ended if ended is not None and _is_ended(source, status) else made)


def _is_ended(source: str, status: str) -> bool:
    if source == "plan":
        return status in ENDED_PLAN_STATUSES
    return status != LegalRequestStatus.AWAITING_CREDITOR


def _event_key(
    tenant_id: int, currency: str, source: str, status: str, *, collector: int | None
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id, "currency": currency, "source": source, "status": str(status),
        "collector_key": collector_key(collector),
    }  # fmt: skip


def call_logged(session: Session, activity: Activity, *, reached: bool) -> None:
    """A call (or an answered invoice check) on the timeline; ``reached``: the debtor
    was spoken to, a right party contact."""
    key = {"tenant_id": activity.tenant_id, "collector_key": collector_key(activity.actor_id)}
    day = utc_day(activity.occurred_at)
    _note_day(session, "call_totals", key, day, calls=1, right_party=int(reached))


def entry_booked(session: Session, entry: LedgerEntry, moved: Mapping[str, int]) -> None:
    """One entry booked on its case (``ledger.book``), moving its money summaries so much
    (see ``money_moved``); a payment or reversal counts as money in on its value date."""
    money_moved(session, {entry.case_id: moved})
    if entry.kind not in (EntryKind.PAYMENT, EntryKind.REVERSAL):
        return
    key = {"tenant_id": entry.tenant_id, "currency": entry.currency,
           "collector_key": collector_key(entry.collector_id)}  # fmt: skip
    _note_day(session, "money_in_totals", key, entry.value_date,
              payments=int(entry.kind is EntryKind.PAYMENT), collected_minor=-entry.amount_minor,
              commission_minor=entry.commission_minor or 0)  # fmt: skip


def promise_moved(
    session: Session, promise: PromiseToPay, case: Case, previous: PromiseStatus | None
) -> None:
    """A promise was made (``previous`` None) or changed status."""
    for status, sign in ((previous, -1), (promise.status, 1)):
        if status in PROMISE_STATUSES:
            key = _event_key(case.tenant_id, case.currency, "promise", str(status),
                             collector=promise.created_by_id)  # fmt: skip
            _note_day(session, "case_event_totals", key, promise.due_on, events=sign,
                      amount_minor=sign * promise.amount_minor)  # fmt: skip


def plan_moved(session: Session, plan: PaymentPlan, previous: PlanStatus | None) -> None:
    """A plan changed status (counted: running, completed, broken)."""
    made = plan.created_at
    before = (previous, _day_of("plan", str(previous), made, None)) if previous else None
    after = (plan.status, _day_of("plan", str(plan.status), made, plan.ended_at))
    _event_moved(
        session, plan.case, ("plan", plan.total_minor), before, after, counted=PLAN_STATUSES
    )


def legal_request_moved(
    session: Session, request: LegalRequest, previous: LegalRequestStatus | None
) -> None:
    """A request for legal action was made (``previous`` None) or decided."""
    session.flush()  # the request's creation time is set when it is written
    made = request.created_at
    before = (previous, utc_day(made)) if previous else None
    after = (request.status, _day_of("legal", str(request.status), made, request.decided_at))
    estimate = request.court_fees_minor + request.lawyer_fees_minor
    statuses = tuple(LegalRequestStatus)
    _event_moved(session, request.case, ("legal", estimate), before, after, counted=statuses)


def _event_moved(
    session: Session,
    case: Case,
    what: tuple[str, int],  # the kind of event, its amount
    before: tuple[Any, date] | None,
    after: tuple[Any, date],
    *,
    counted: tuple[Any, ...],
) -> None:
    moves = [(position, sign) for position, sign in ((before, -1), (after, 1))
             if position is not None and position[0] in counted]  # fmt: skip
    if not moves:
        return
    (source, amount), owed = what, _owed(session, case.id)
    for (status, day), sign in moves:
        key = _event_key(case.tenant_id, case.currency, source, str(status), collector=None)
        _note_day(session, "case_event_totals", key, day, events=sign,
                  amount_minor=sign * amount, outstanding_minor=sign * owed)  # fmt: skip


# -- Writing them when the session commits ----------------------------------------------------


def _added_up(pending: list[Move]) -> dict[str, dict[Key, Counter[str]]]:
    totals: dict[str, dict[Key, Counter[str]]] = {}
    for table, key, amounts in pending:
        totals.setdefault(table, {}).setdefault(key, Counter()).update(amounts)
    return totals


def write_pending(session: Session) -> None:
    """Add every move noted so far to its row (inserted when missing), table by table in
    a fixed order and each table's rows in key order."""
    pending: list[Move] = session.info.pop(PENDING, [])
    for name, rows in sorted(_added_up(pending).items()):
        table = TABLES[name]
        amounts = sorted({column for moved in rows.values() for column in moved})
        values = [
            {**dict(key), **{column: moved[column] for column in amounts}}
            for key, moved in sorted(rows.items(), key=lambda item: _sortable(item[0]))
            if any(moved.values())
        ]
        if values:
            session.execute(_upsert(session, table, [name for name, _ in next(iter(rows))],
                                    amounts), values)  # fmt: skip


def _sortable(key: Key) -> tuple[str, ...]:
    return tuple(str(value) for _, value in key)


def _upsert(session: Session, table: Table, key: list[str], amounts: list[str]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=key,
        set_={column: table.c[column] + statement.excluded[column] for column in amounts},
    )


@event.listens_for(Session, "do_orm_execute")
def _write_before_reading(state: ORMExecuteState) -> None:
    """A transaction reading totals sees its own moves: they are written first (as the
    ORM flushes its changes before a query)."""
    if (
        state.is_select
        and state.session.info.get(PENDING)
        and any(mapper.class_ in MODELS for mapper in state.all_mappers)
    ):
        write_pending(state.session)


@event.listens_for(Session, "before_commit")
def _write_on_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        write_pending(session)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(SAVEPOINTS, weakref.WeakKeyDictionary())
        marks[transaction] = len(session.info.get(PENDING, []))


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    pending: list[Move] = session.info.get(PENDING, [])
    mark = session.info.get(SAVEPOINTS, {}).get(transaction)
    if transaction.nested and mark is not None:
        del pending[mark:]
    elif transaction.parent is None:
        pending.clear()


@event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING, None)
